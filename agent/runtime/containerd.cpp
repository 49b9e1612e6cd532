#include "agent/runtime/containerd.h"

#include <algorithm>
#include <csignal>
#include <sstream>

#include "agent/cri/cri_client.h"
#include "common/log.h"
#include "images/images.h"

namespace kite::runtime {
namespace {

constexpr char kComponent[] = "containerd";
using Ms = std::chrono::milliseconds;

// A TOML basic string.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string RenderContainerdConfig(const ContainerdConfig& c) {
  const std::string cri = "[plugins.\"io.containerd.grpc.v1.cri\"";
  std::ostringstream o;
  o << "# Written by kite at every start of its containerd: edits are lost.\n"
    << "version = 2\n"
    << "root = " << Quote(c.root) << "\n"
    << "state = " << Quote(c.state) << "\n"
    << "disabled_plugins = [\"io.containerd.snapshotter.v1.aufs\", "
       "\"io.containerd.snapshotter.v1.btrfs\", "
       "\"io.containerd.snapshotter.v1.devmapper\", "
       "\"io.containerd.snapshotter.v1.zfs\"]\n"
    << "\n[grpc]\n  address = " << Quote(c.socket) << "\n"
    << "\n[ttrpc]\n  address = " << Quote(c.socket + ".ttrpc") << "\n"
    << "\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = "
    << Quote(c.root + "/opt") << "\n"
    << "\n"
    << cri << "]\n"
    << "  sandbox_image = " << Quote(c.sandbox_image) << "\n"
    << "  stream_server_address = \"127.0.0.1\"\n"
    << "  stream_server_port = " << Quote(std::to_string(c.stream_port)) << "\n"
    << "  enable_selinux = false\n"
    << "  disable_apparmor = true\n"
    << "  restrict_oom_score_adj = true\n"
    << "\n"
    << cri << ".containerd]\n"
    << "  snapshotter = \"overlayfs\"\n"
    << "  default_runtime_name = \"runc\"\n"
    << "\n"
    << cri << ".containerd.runtimes.runc]\n"
    << "  runtime_type = \"io.containerd.runc.v2\"\n"
    << "\n"
    << cri << ".containerd.runtimes.runc.options]\n"
    << "  BinaryName = " << Quote(c.runc_path) << "\n"
    << "  SystemdCgroup = false\n"
    << "  Root = " << Quote(c.runc_root) << "\n"
    << "\n"
    << cri << ".cni]\n"
    << "  bin_dir = " << Quote(c.cni_bin_dir) << "\n"
    << "  conf_dir = " << Quote(c.cni_conf_dir) << "\n"
    << "  max_conf_num = 1\n";
  return o.str();
}

Backoff::Backoff(Ms initial, Ms max, Ms reset_after)
    : initial_(initial), max_(max), reset_after_(reset_after) {}

Ms Backoff::Next(Clock::MonoTime started, Clock::MonoTime ended) {
  if (last_.count() == 0 || ended - started >= reset_after_) {
    last_ = initial_;
  } else {
    last_ = std::min(last_ * 2, max_);
  }
  return last_;
}

Containerd::Containerd(ContainerdOptions options, Host& host, Env& env,
                       Clock& clock)
    : options_(std::move(options)),
      host_(host),
      env_(env),
      clock_(clock),
      dir_(options_.data_dir + "/agent/containerd"),
      socket_(dir_ + "/containerd.sock"),
      config_path_(dir_ + "/config.toml"),
      log_path_(dir_ + "/containerd.log"),
      cni_conf_dir_(options_.cni_conf_dir.empty()
                        ? options_.data_dir + "/agent/etc/cni/net.d"
                        : options_.cni_conf_dir) {}

Containerd::~Containerd() { Stop(); }

std::string Containerd::endpoint() const { return "unix://" + socket_; }

bool Containerd::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

int Containerd::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exited_ ? 0 : pid_;
}

int Containerd::restarts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return restarts_;
}

std::string Containerd::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

int Containerd::stream_port() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stream_port_;
}

Status Containerd::Start() {
  if (options_.data_dir.empty())
    return InvalidArgumentError("containerd: no data dir");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return FailedPreconditionError("containerd: already started");
  }
  KITE_RETURN_IF_ERROR(env_.MakeDirs(dir_, 0700));
  KITE_RETURN_IF_ERROR(env_.MakeDirs(cni_conf_dir_, 0755));
  std::unique_lock<std::mutex> lock(mu_);
  started_ = true;
  stopping_ = false;
  start_done_ = false;
  start_status_ = Status::Ok();
  thread_ = std::thread([this] { Supervise(); });
  cv_.wait(lock, [&] { return start_done_; });
  if (start_status_.ok()) return Status::Ok();
  Status st = start_status_;
  lock.unlock();
  thread_.join();  // Supervise returns after a failed first start
  lock.lock();
  started_ = false;
  return st;
}

void Containerd::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  started_ = false;
  log::Info(kComponent, "stopped")("restarts", restarts_);
}

void Containerd::Supervise() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max,
                  options_.backoff_reset);
  for (;;) {
    Status start_error;
    Clock::MonoTime began = clock_.Monotonic();
    Exit exit = RunOnce(&start_error);
    std::unique_lock<std::mutex> lock(mu_);
    if (!start_done_) {
      // The first start failed (a ready one reports from RunOnce).
      start_done_ = true;
      start_status_ = start_error.ok()
                          ? CancelledError("containerd: stopped during start")
                          : start_error;
      cv_.notify_all();
      return;
    }
    if (exit == Exit::kStopped || stopping_) return;
    Ms delay = backoff.Next(began, clock_.Monotonic());
    if (start_error.ok()) {
      log::Warn(kComponent, "restarting")("in_ms", delay.count());
    } else {
      log::Warn(kComponent, "restarting")("in_ms", delay.count())(
          "error", start_error.message());
    }
    cv_.wait_for(lock, delay, [&] { return stopping_; });
    if (stopping_) return;
    ++restarts_;
  }
}

Status Containerd::WriteConfig(int port) {
  ContainerdConfig c;
  c.root = dir_ + "/root";
  c.state = dir_ + "/state";
  c.socket = socket_;
  c.runc_path = options_.runc_path;
  c.runc_root = dir_ + "/runc";
  c.cni_bin_dir = options_.cni_bin_dir;
  c.cni_conf_dir = cni_conf_dir_;
  c.sandbox_image = options_.sandbox_image.empty()
                        ? std::string(images::kPauseImage)
                        : options_.sandbox_image;
  c.stream_port = port;
  std::string text = RenderContainerdConfig(c);
  StatusOr<std::string> old = env_.ReadFile(config_path_);
  if (old.ok() && *old == text) return Status::Ok();
  return env_.WriteFileAtomic(config_path_, text, 0600);
}

Containerd::Exit Containerd::RunOnce(Status* start_error) {
  int port = options_.stream_port;
  if (port == 0) {
    StatusOr<int> free_port = host_.FreeLoopbackPort();
    if (!free_port.ok()) {
      *start_error = free_port.status();
      return Exit::kDied;
    }
    port = *free_port;
  }
  if (Status st = WriteConfig(port); !st.ok()) {
    *start_error = st;
    return Exit::kDied;
  }
  // A containerd killed with the agent leaves its sockets behind.
  host_.Remove(socket_).IgnoreError();
  host_.Remove(socket_ + ".ttrpc").IgnoreError();
  SpawnSpec spec;
  spec.argv = options_.command_prefix;
  spec.argv.insert(spec.argv.end(),
                   {options_.containerd_path, "--config", config_path_});
  spec.log_path = log_path_;
  StatusOr<int> spawned = host_.Spawn(spec);
  if (!spawned.ok()) {
    *start_error =
        Status(spawned.status().code(), "containerd: cannot start " +
                                            options_.containerd_path + ": " +
                                            spawned.status().message());
    return Exit::kDied;
  }
  const int pid = *spawned;
  int exit_code = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pid_ = pid;
    exited_ = false;
    stream_port_ = port;
  }
  std::thread reaper([this, pid, &exit_code] {
    StatusOr<int> code = host_.Wait(pid);
    std::lock_guard<std::mutex> lock(mu_);
    exit_code = code.ok() ? *code : -1;
    exited_ = true;
    cv_.notify_all();
  });
  const Clock::MonoTime spawned_at = clock_.Monotonic();
  Status ready = WaitReady(pid);
  std::unique_lock<std::mutex> lock(mu_);
  Exit result = Exit::kDied;
  if (ready.ok()) {
    ready_ = true;
    auto took = std::chrono::duration_cast<Ms>(clock_.Monotonic() - spawned_at);
    log::Info(kComponent, "ready")("pid", pid)("version", version_)(
        "endpoint", endpoint())("stream_port", port)("after_ms", took.count());
    if (!start_done_) {
      start_done_ = true;
      start_status_ = Status::Ok();
      cv_.notify_all();
    }
    cv_.wait(lock, [&] { return exited_ || stopping_; });
    ready_ = false;
  } else {
    *start_error = ready;
  }
  if (!exited_) {
    Terminate(lock, pid);
    result = stopping_ ? Exit::kStopped : Exit::kDied;
  } else if (stopping_) {
    result = Exit::kStopped;
  } else if (ready.ok()) {
    log::Warn(kComponent, "exited")("pid", pid)("code", exit_code)("log",
                                                                   log_path_);
  }
  lock.unlock();
  reaper.join();
  lock.lock();
  pid_ = 0;
  return result;
}

Status Containerd::WaitReady(int pid) {
  RuntimeConnector connect = options_.connect;
  if (!connect) connect = cri::ConnectCri;
  const Clock::MonoTime deadline = clock_.Monotonic() + options_.ready_timeout;
  Status last = UnavailableError("not tried");
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return CancelledError("containerd: stopped during start");
      if (exited_) {
        return UnavailableError("containerd (pid " + std::to_string(pid) +
                                ") exited during start-up; " + LogTail());
      }
    }
    StatusOr<std::unique_ptr<cri::Runtime>> runtime = connect(endpoint());
    if (runtime.ok()) {
      StatusOr<cri::VersionInfo> v = (*runtime)->Version();
      if (v.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        version_ = v->runtime_version;
        return Status::Ok();
      }
      last = v.status();
    } else {
      last = runtime.status();
    }
    if (clock_.Monotonic() >= deadline) {
      return DeadlineExceededError(
          "containerd did not answer on " + endpoint() + " within " +
          std::to_string(options_.ready_timeout.count()) +
          " ms (last error: " + last.message() + "); " + LogTail());
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.ready_poll,
                 [&] { return stopping_ || exited_; });
  }
}

void Containerd::Terminate(std::unique_lock<std::mutex>& lock, int pid) {
  host_.Signal(pid, SIGTERM).IgnoreError();
  if (!cv_.wait_for(lock, options_.stop_timeout, [&] { return exited_; })) {
    log::Warn(kComponent, "did not stop in time; killing")("pid", pid)(
        "timeout_ms", options_.stop_timeout.count());
    host_.Signal(pid, SIGKILL).IgnoreError();
    cv_.wait(lock, [&] { return exited_; });
  }
}

std::string Containerd::LogTail() const {
  StatusOr<std::string> text = env_.ReadFile(log_path_);
  if (!text.ok() || text->empty()) return "its log " + log_path_ + " is empty";
  // The last 5 lines.
  size_t pos = text->size();
  if ((*text)[pos - 1] == '\n') --pos;
  for (int lines = 0; lines < 5 && pos > 0; ++lines) {
    size_t nl = text->rfind('\n', pos - 1);
    pos = nl == std::string::npos ? 0 : nl;
    if (pos == 0) break;
  }
  std::string tail = text->substr(pos == 0 ? 0 : pos + 1);
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return "last lines of " + log_path_ + ":\n" + tail;
}

}  // namespace kite::runtime
