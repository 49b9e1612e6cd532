// The ordinary (gcc) build's driver for a fuzz target: feeds every file
// named on the command line, or found under a directory named there, to
// LLVMFuzzerTestOneInput once, in sorted order. A crash or a failed
// FUZZ_CHECK aborts the process, so ctest reports the failing test; the
// file being run is printed first so the culprit is obvious. Fails when it
// finds no input at all (a mistyped corpus path must not pass).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path p(argv[i]);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "corpus_runner: %s: no such file or directory\n",
                   argv[i]);
      return 2;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "corpus_runner: no inputs\n");
    return 2;
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    std::fprintf(stderr, "running %s (%zu bytes)\n", f.c_str(), data.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()),
                           data.size());
  }
  std::printf("corpus_runner: %zu inputs ran\n", files.size());
  return 0;
}
