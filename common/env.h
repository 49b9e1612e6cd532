// Env: kite's access to the filesystem.
//
// Logic that reads or writes files takes an Env& instead of calling open()
// itself, so tests run against FakeEnv, in memory. (SQLite opens its own
// files; that is the datastore's one exception, and its tests use temp dirs.)
//
// Thread safety: every method of both implementations may be called from any
// thread.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "common/status.h"

namespace kite {

class Env {
 public:
  virtual ~Env() = default;
  // The whole file. NotFound if it does not exist.
  virtual StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Replaces `path` with `data` durably: written to a temporary file beside
  // it, fsynced, renamed over it, and the directory fsynced. A reader sees
  // the old or the new content, never a mix.
  virtual Status WriteFileAtomic(const std::string& path, const std::string& data,
                                 int mode = 0644) = 0;
  // Creates `path` and its missing parents; OK if it exists as a directory.
  virtual Status MakeDirs(const std::string& path, int mode = 0755) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Removes a file; OK if it did not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
};

// The process-wide real filesystem. Never null; owned by the process.
Env& RealEnv();

// An in-memory filesystem for tests. Directories exist implicitly.
class FakeEnv : public Env {
 public:
  StatusOr<std::string> ReadFile(const std::string& path) override;
  Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) override;
  Status MakeDirs(const std::string& path, int mode) override;
  bool Exists(const std::string& path) override;
  Status RemoveFile(const std::string& path) override;

 private:
  std::mutex mu_;
  std::map<std::string, std::string> files_;
};

}  // namespace kite
