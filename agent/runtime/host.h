// Host: the processes, directories and ports the runtime host (agent/runtime)
// touches, behind an interface so the containerd supervisor, the image
// importer and their tests never fork or stat by themselves. RealHost() is
// the machine; FakeHost (fake_host.h) is an in-memory stand-in for unit
// tests. Files are read and written through kite::Env.
//
// Thread safety: every method of RealHost() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace kite::runtime {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the program's path
  // stdout and stderr are appended to this file (created 0640 if missing);
  // stdin is /dev/null.
  std::string log_path;
};

struct RunResult {
  int exit_code = 0;   // 128 + signal number when killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

struct FileInfo {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

class Host {
 public:
  virtual ~Host() = default;

  // Starts a long-running child in a session of its own, with the default
  // signal mask and dispositions, no inherited descriptors but 0-2, and
  // SIGKILL as its parent-death signal: it dies when the thread that spawned
  // it ends (so a supervisor spawns from its own thread), and when the agent
  // dies. Returns its PID.
  virtual StatusOr<int> Spawn(const SpawnSpec& spec) = 0;
  // Blocks until the child `pid` (from Spawn) exits; returns its wait status
  // as RunResult::exit_code does. Only one thread may wait for a given pid.
  virtual StatusOr<int> Wait(int pid) = 0;
  // Sends `signal` to `pid`. OK if the process is already gone.
  virtual Status Signal(int pid, int signal) = 0;
  // Runs argv to completion and collects its output. If it has not ended
  // after `timeout`, it is killed and DeadlineExceeded returned; a missing
  // program is NotFound.
  virtual StatusOr<RunResult> Run(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) = 0;

  // Names (not paths) of the entries of `dir`, sorted. NotFound if it does
  // not exist.
  virtual StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;
  virtual StatusOr<FileInfo> Stat(const std::string& path) = 0;
  // Removes a file or an empty directory; OK if it did not exist.
  virtual Status Remove(const std::string& path) = 0;
  // A TCP port on 127.0.0.1 that was free a moment ago.
  virtual StatusOr<int> FreeLoopbackPort() = 0;
};

// The process-wide real host. Never null; owned by the process.
Host& RealHost();

}  // namespace kite::runtime
