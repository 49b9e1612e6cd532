// Containerd: the agent's own containerd, configured under the data dir,
// started, watched and restarted (issue 6 item 1; docs/agent.md "Runtime
// host").
//
//   Containerd ctd(options, RealHost(), RealEnv(), RealClock());
//   KITE_RETURN_IF_ERROR(ctd.Start());   // config written, ready for CRI calls
//   ... cri::ConnectCri(ctd.endpoint()) ...
//   ctd.Stop();                          // SIGTERM, SIGKILL after a timeout
//
// Files, all under <data_dir>/agent/containerd/: config.toml (written at every
// start), containerd.sock (+ .ttrpc), containerd.log (containerd's stdout and
// stderr, appended), root/, state/, runc/. The CNI configuration is read from
// <data_dir>/agent/etc/cni/net.d (WriteCniConfig writes it) and the plugins
// from /usr/lib/cni.
//
// Start() returns once containerd answers a CRI Version call (through
// `connect`), or fails after `ready_timeout` (or at once when containerd
// exits during start-up), with the last lines of its log in the message; it
// leaves no process behind when it fails. Afterwards a supervisor thread
// restarts containerd whenever it exits, after an exponential back-off
// (`backoff_initial` doubling up to `backoff_max`; back to the start after it
// ran `backoff_reset`). containerd leaves running containers to their shims
// when it exits, and a new containerd adopts them, so a restart (of
// containerd or of the agent) does not disturb pods.
//
// The supervisor thread spawns containerd, so containerd's parent-death
// signal (SIGKILL, see Host::Spawn) fires when the agent dies, never while the
// Containerd object lives.
//
// Thread safety: Start() and Stop() from one owner thread; the accessors from
// any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/runtime.h"
#include "agent/runtime/host.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"

namespace kite::runtime {

using RuntimeConnector = std::function<StatusOr<std::unique_ptr<cri::Runtime>>(
    const std::string& endpoint)>;

struct ContainerdOptions {
  std::string data_dir;  // kite's --data-dir; required
  std::string containerd_path = "/usr/bin/containerd";
  std::string runc_path = "/usr/sbin/runc";
  std::string cni_bin_dir = "/usr/lib/cni";
  std::string cni_conf_dir;   // default <data_dir>/agent/etc/cni/net.d
  std::string sandbox_image;  // default images::kPauseImage
  // containerd's streaming server (exec, attach, port-forward URLs) listens
  // on 127.0.0.1:stream_port; 0 picks a free port at each start.
  int stream_port = 0;
  // Put before containerd's argv, e.g. {"/usr/bin/nsenter",
  // "--net=/run/netns/x"} (tests run containerd in a network namespace).
  std::vector<std::string> command_prefix;
  std::chrono::milliseconds ready_timeout{30000};
  std::chrono::milliseconds ready_poll{50};
  std::chrono::milliseconds stop_timeout{10000};
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
  std::chrono::milliseconds backoff_reset{120000};
  // Connects to the CRI endpoint and checks Version; default cri::ConnectCri.
  RuntimeConnector connect;
};

// What config.toml is made of.
struct ContainerdConfig {
  std::string root;
  std::string state;
  std::string socket;
  std::string runc_path;
  std::string runc_root;
  std::string cni_bin_dir;
  std::string cni_conf_dir;
  std::string sandbox_image;
  int stream_port = 0;
};

// The text of containerd's config.toml (version 2) for `config`: the CRI
// plugin with runc (cgroupfs, not systemd), overlayfs, CNI with one conflist,
// restrict_oom_score_adj (the agent may lack CAP_SYS_RESOURCE), and the
// snapshotters kite never uses turned off.
std::string RenderContainerdConfig(const ContainerdConfig& config);

// Exponential back-off between restarts of a process.
// Thread safety: none; the supervisor thread owns it.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
          std::chrono::milliseconds reset_after);
  // A run that began at `started` ended at `ended`: the delay before the
  // next start. `initial` first and after a run of at least `reset_after`,
  // else twice the last delay, at most `max`.
  std::chrono::milliseconds Next(Clock::MonoTime started,
                                 Clock::MonoTime ended);

 private:
  std::chrono::milliseconds initial_, max_, reset_after_, last_{0};
};

class Containerd {
 public:
  // `host`, `env` and `clock` must outlive this object.
  Containerd(ContainerdOptions options, Host& host, Env& env, Clock& clock);
  ~Containerd();  // Stop()
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;

  // See the file comment. FailedPrecondition when already started.
  Status Start();
  // Ends containerd (SIGTERM; SIGKILL after stop_timeout) and the
  // supervisor. Idempotent; running containers stay with their shims.
  void Stop();

  // "unix://<data_dir>/agent/containerd/containerd.sock", for
  // cri::ConnectCri and --container-runtime-endpoint.
  std::string endpoint() const;
  const std::string& dir() const { return dir_; }
  const std::string& socket_path() const { return socket_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& cni_conf_dir() const { return cni_conf_dir_; }

  // Whether the current containerd answered Version and has not exited.
  bool ready() const;
  // The PID of the running containerd; 0 when none.
  int pid() const;
  // How often containerd was started again after it exited.
  int restarts() const;
  // containerd's version as the CRI reported it ("1.6.20~ds1"), once ready.
  std::string version() const;
  // The streaming server's port of the current (or last) containerd.
  int stream_port() const;

 private:
  enum class Exit { kStopped, kDied };
  void Supervise();
  // One life of containerd: spawn, wait ready, wait for exit or stop. Sets
  // `start_error` when it never became ready.
  Exit RunOnce(Status* start_error);
  Status WriteConfig(int port);
  Status WaitReady(int pid);
  // Ends the current process (pid_): TERM, then KILL after stop_timeout.
  void Terminate(std::unique_lock<std::mutex>& lock, int pid);
  std::string LogTail() const;

  const ContainerdOptions options_;
  Host& host_;
  Env& env_;
  Clock& clock_;
  const std::string dir_, socket_, config_path_, log_path_, cni_conf_dir_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool started_ = false;
  bool stopping_ = false;
  bool start_done_ = false;  // the first RunOnce reported ready or failure
  Status start_status_;
  int pid_ = 0;
  bool exited_ = false;  // pid_ has exited (set by the reaper)
  bool ready_ = false;
  int restarts_ = 0;
  int stream_port_ = 0;
  std::string version_;
};

}  // namespace kite::runtime
