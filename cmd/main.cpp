#include "cmd/commands.h"

int main(int argc, char** argv) { return kite::cmd::Main(argc, argv); }
