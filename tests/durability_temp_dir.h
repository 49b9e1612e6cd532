// DurabilityTempDir: a private temporary directory for the durability tests
// (crash, disk bound, idle CPU), removed with its contents on destruction.
//
// Thread safety: not thread safe; one owner.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace kite::tests {

class DurabilityTempDir {
 public:
  // Creates $TMPDIR/<stem>-XXXXXX (TMPDIR defaults to /tmp); path() is empty
  // when that failed.
  explicit DurabilityTempDir(const std::string& stem) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base ? base : "/tmp") + "/" + stem + "-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~DurabilityTempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  DurabilityTempDir(const DurabilityTempDir&) = delete;
  DurabilityTempDir& operator=(const DurabilityTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace kite::tests
