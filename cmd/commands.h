// The subcommands of the kite binary. Each takes its arguments (after the
// subcommand name) and returns the process exit code; errors are printed to
// stderr as one clear line.
#pragma once

#include <string>
#include <vector>

namespace kite::cmd {

// Dispatches argv to a subcommand: server, datastore, version, help.
int Main(int argc, char** argv);

int RunServer(const std::vector<std::string>& args);
int RunDatastore(const std::vector<std::string>& args);

}  // namespace kite::cmd
