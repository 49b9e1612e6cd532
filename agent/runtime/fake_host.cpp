#include "agent/runtime/fake_host.h"

#include <csignal>

namespace kite::runtime {

StatusOr<int> FakeHost::Spawn(const SpawnSpec& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!spawn_error_.ok()) return spawn_error_;
  int pid = next_pid_++;
  spawned_.push_back(spec);
  live_.insert(pid);
  cv_.notify_all();
  return pid;
}

StatusOr<int> FakeHost::Wait(int pid) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock,
           [&] { return exited_.count(pid) > 0 || (live_.count(pid) == 0); });
  auto it = exited_.find(pid);
  if (it == exited_.end())
    return NotFoundError("no child " + std::to_string(pid));
  int code = it->second;
  exited_.erase(it);
  return code;
}

Status FakeHost::Signal(int pid, int signal) {
  std::lock_guard<std::mutex> lock(mu_);
  signals_.emplace_back(pid, signal);
  if (live_.count(pid) == 0) return Status::Ok();
  if (signal == SIGKILL || (signal == SIGTERM && !ignore_sigterm_))
    EndLocked(pid, 128 + signal);
  return Status::Ok();
}

StatusOr<RunResult> FakeHost::Run(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds) {
  RunHandler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runs_.push_back(argv);
    handler = run_handler_;
  }
  if (handler) return handler(argv);
  return RunResult{};
}

StatusOr<std::vector<std::string>> FakeHost::ListDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string prefix = dir + "/";
  std::vector<std::string> names;
  for (const auto& [path, info] : files_) {
    if (path.compare(0, prefix.size(), prefix) == 0 &&
        path.find('/', prefix.size()) == std::string::npos) {
      names.push_back(path.substr(prefix.size()));
    }
  }
  return names;  // std::map keeps them sorted
}

StatusOr<FileInfo> FakeHost::Stat(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end())
    return NotFoundError("stat " + path + ": no such file");
  return it->second;
}

Status FakeHost::Remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  files_.erase(path);
  return Status::Ok();
}

StatusOr<int> FakeHost::FreeLoopbackPort() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_port_++;
}

void FakeHost::Exit(int pid, int exit_code) {
  std::lock_guard<std::mutex> lock(mu_);
  if (live_.count(pid) > 0) EndLocked(pid, exit_code);
}

void FakeHost::EndLocked(int pid, int exit_code) {
  live_.erase(pid);
  exited_[pid] = exit_code;
  cv_.notify_all();
}

void FakeHost::SetIgnoreSigterm(bool ignore) {
  std::lock_guard<std::mutex> lock(mu_);
  ignore_sigterm_ = ignore;
}

void FakeHost::SetSpawnError(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  spawn_error_ = std::move(status);
}

void FakeHost::SetRunHandler(RunHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  run_handler_ = std::move(handler);
}

void FakeHost::AddFile(const std::string& path, FileInfo info) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path] = info;
}

std::vector<SpawnSpec> FakeHost::spawned() {
  std::lock_guard<std::mutex> lock(mu_);
  return spawned_;
}

std::vector<std::pair<int, int>> FakeHost::signals() {
  std::lock_guard<std::mutex> lock(mu_);
  return signals_;
}

std::vector<std::vector<std::string>> FakeHost::runs() {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

std::set<int> FakeHost::live_pids() {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

bool FakeHost::WaitForSpawns(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return spawned_.size() >= n; });
}

}  // namespace kite::runtime
