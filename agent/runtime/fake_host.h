// FakeHost: an in-memory Host for unit tests. Spawned "processes" are
// records with PIDs from 1000 up; they run until the test calls Exit() or
// they get SIGKILL (or SIGTERM, unless SetIgnoreSigterm). Run() answers
// through a handler the test sets. Directory listings and file stats come
// from AddFile(); file contents live in a kite::FakeEnv the test owns.
//
// Thread safety: every method may be called from any thread; Wait() blocks
// until the process ends, so a supervisor's thread can wait while the test
// drives exits from its own.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/runtime/host.h"

namespace kite::runtime {

class FakeHost : public Host {
 public:
  using RunHandler =
      std::function<StatusOr<RunResult>(const std::vector<std::string>& argv)>;

  StatusOr<int> Spawn(const SpawnSpec& spec) override;
  StatusOr<int> Wait(int pid) override;
  Status Signal(int pid, int signal) override;
  StatusOr<RunResult> Run(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) override;
  StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  StatusOr<FileInfo> Stat(const std::string& path) override;
  Status Remove(const std::string& path) override;
  StatusOr<int> FreeLoopbackPort() override;

  // Ends process `pid` with `exit_code` (wakes its Wait()).
  void Exit(int pid, int exit_code);
  void SetIgnoreSigterm(bool ignore);
  // The next Spawn() calls fail with `status` (OK: they succeed again).
  void SetSpawnError(Status status);
  // Run() calls `handler`; without one, every command exits 0 silently.
  void SetRunHandler(RunHandler handler);
  void AddFile(const std::string& path, FileInfo info);

  std::vector<SpawnSpec> spawned();
  std::vector<std::pair<int, int>> signals();  // (pid, signal)
  std::vector<std::vector<std::string>> runs();
  std::set<int> live_pids();
  // Blocks until at least `n` processes were spawned or `timeout` passed;
  // returns whether they were.
  bool WaitForSpawns(size_t n, std::chrono::milliseconds timeout);

 private:
  void EndLocked(int pid, int exit_code);

  std::mutex mu_;
  std::condition_variable cv_;
  int next_pid_ = 1000;
  int next_port_ = 40000;
  bool ignore_sigterm_ = false;
  Status spawn_error_;
  RunHandler run_handler_;
  std::vector<SpawnSpec> spawned_;
  std::vector<std::pair<int, int>> signals_;
  std::vector<std::vector<std::string>> runs_;
  std::set<int> live_;
  std::map<int, int> exited_;  // pid -> exit code, until waited for
  std::map<std::string, FileInfo> files_;
};

}  // namespace kite::runtime
