// FakeRuntime: an in-memory cri::Runtime for unit tests of the kubelet, its
// streaming server and the agent.
//
// It keeps sandboxes and containers with ids, states, timestamps (from a
// Clock) and exit codes, and behaves like containerd where a kubelet can
// tell:
// - RunPodSandbox needs a unique metadata (name, namespace, uid, attempt)
//   among live sandboxes (AlreadyExists otherwise, containerd's "failed to
//   reserve sandbox name"); a sandbox on the pod network gets the next IP
//   of 10.88.0.0/16 (host network: no IP);
// - CreateContainer needs a ready sandbox (FailedPrecondition otherwise),
//   a present image (NotFound otherwise: nothing is pulled) and a unique
//   (name, attempt) in the sandbox (AlreadyExists); the container's log path
//   is the sandbox's log_directory joined with config.log_path;
// - StartContainer turns a created container running (FailedPrecondition
//   for any other state), or exits it at once when the test asked so
//   (SetExitOnStart);
// - StopContainer ends a running container with exit code 143 (SIGTERM) or,
//   for a container marked with SetIgnoreSigterm, 137 (SIGKILL after the
//   timeout); the timeout is recorded in the call log;
// - StopPodSandbox stops the sandbox's containers and marks it NotReady;
//   RemovePodSandbox removes it and its containers; stopping or removing
//   what does not exist is OK, as in the CRI;
// - RemoveContainer removes a container in any state;
// - List* honour id, state, sandbox id and label selectors;
// - ExecSync answers with the test's exec handler (default: exit 0, no
//   output); Exec/Attach/PortForward answer with URLs under the streaming
//   base (SetStreamingBase) and record the request.
//
// Test hooks: images present, containers exiting on demand, injectable
// errors per method, a log of every call, the configs sandboxes and
// containers were created with, writing CRI-format log lines, and a "down"
// switch (every call Unavailable, as when containerd is not running).
//
// Thread safety: every method may be called from any thread; one mutex
// guards the state. The exec handler runs without the lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/cri/runtime.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::cri {

class FakeRuntime : public Runtime {
 public:
  // One call as the fake saw it. `id` is the sandbox or container id (or the
  // image for image calls, the metadata name for Run/Create); `detail` adds
  // what a test may check ("timeout=30" for StopContainer, the command for
  // ExecSync, joined by spaces).
  struct Call {
    std::string method;  // "RunPodSandbox", "StartContainer", ...
    std::string id;
    std::string detail;
  };
  using ExecHandler = std::function<StatusOr<ExecSyncResult>(
      const std::string& container_id, const std::vector<std::string>& cmd)>;

  // `clock` stamps creation, start and finish times; it must outlive the
  // fake.
  explicit FakeRuntime(Clock& clock = RealClock());
  ~FakeRuntime() override;
  FakeRuntime(const FakeRuntime&) = delete;
  FakeRuntime& operator=(const FakeRuntime&) = delete;

  // --- Runtime ---
  StatusOr<VersionInfo> Version() override;
  StatusOr<std::vector<RuntimeCondition>> RuntimeStatus() override;
  StatusOr<std::string> RunPodSandbox(const PodSandboxConfig& config) override;
  Status StopPodSandbox(const std::string& id) override;
  Status RemovePodSandbox(const std::string& id) override;
  StatusOr<PodSandboxStatus> GetPodSandboxStatus(const std::string& id,
                                                 bool verbose) override;
  StatusOr<std::vector<PodSandbox>> ListPodSandbox(
      const PodSandboxFilter& filter) override;
  StatusOr<std::string> CreateContainer(
      const std::string& pod_sandbox_id, const ContainerConfig& config,
      const PodSandboxConfig& sandbox_config) override;
  Status StartContainer(const std::string& id) override;
  Status StopContainer(const std::string& id, int64_t timeout_seconds) override;
  Status RemoveContainer(const std::string& id) override;
  StatusOr<std::vector<Container>> ListContainers(
      const ContainerFilter& filter) override;
  StatusOr<ContainerStatus> GetContainerStatus(const std::string& id) override;
  StatusOr<ExecSyncResult> ExecSync(const std::string& container_id,
                                    const std::vector<std::string>& cmd,
                                    std::chrono::seconds timeout) override;
  StatusOr<std::string> Exec(const ExecRequest& request) override;
  StatusOr<std::string> Attach(const AttachRequest& request) override;
  StatusOr<std::string> PortForward(const std::string& pod_sandbox_id,
                                    const std::vector<int32_t>& ports) override;
  StatusOr<std::optional<Image>> ImageStatus(const std::string& image) override;
  StatusOr<std::vector<Image>> ListImages() override;
  Status RemoveImage(const std::string& image) override;

  // --- test hooks ---

  // Makes `ref` present (ImageStatus finds it). `id` defaults to
  // "sha256:<hex of a hash of ref>"; the repo digest is "<repo>@<id>".
  void AddImage(const std::string& ref, std::string id = "");

  // Ends a running (or created) container now with `exit_code`; `reason`
  // defaults to "Completed" for 0, else "Error". NotFound for an unknown id,
  // FailedPrecondition when it has exited already.
  Status ExitContainer(const std::string& id, int32_t exit_code,
                       std::string reason = "");
  // Containers named `name` (metadata.name), created from now on, exit with
  // `exit_code` as soon as they are started; nullopt clears it.
  void SetExitOnStart(const std::string& name,
                      std::optional<int32_t> exit_code);
  // Containers named `name` ignore SIGTERM: StopContainer ends them with 137.
  void SetIgnoreSigterm(const std::string& name, bool ignore);
  // Answers ExecSync (nullptr: the default, exit 0 and no output).
  void SetExecHandler(ExecHandler handler);
  // Base of the URLs Exec/Attach/PortForward answer:
  // <base>/exec/<token>, <base>/attach/<token>, <base>/portforward/<token>.
  // Default "http://127.0.0.1:0".
  void SetStreamingBase(std::string base);
  // The requests behind the streaming URLs handed out, by token.
  std::optional<ExecRequest> ExecRequestFor(const std::string& token) const;
  std::optional<AttachRequest> AttachRequestFor(const std::string& token) const;

  // The next `times` calls of `method` ("RunPodSandbox", ...; "" = any)
  // fail with `status` before doing anything.
  void InjectError(std::string method, Status status, int times = 1);
  void ClearInjectedErrors();
  // Every call fails with Unavailable while down (as an unreachable
  // containerd); state is kept.
  void SetDown(bool down);

  std::vector<Call> Calls() const;
  // The calls of one method, in order.
  std::vector<Call> CallsOf(const std::string& method) const;
  void ClearCalls();

  // What a sandbox / container was created with. NotFound when unknown
  // (or removed).
  StatusOr<PodSandboxConfig> SandboxConfigOf(const std::string& id) const;
  StatusOr<ContainerConfig> ContainerConfigOf(const std::string& id) const;
  // Every container id (any state) of the sandbox, in creation order.
  std::vector<std::string> ContainerIds(const std::string& sandbox_id) const;
  // Live sandbox / container counts, for leak checks.
  size_t SandboxCount() const;
  size_t ContainerCount() const;

  // Appends `text` (one line, no newline) to the container's log file in
  // the CRI format "<RFC3339Nano> <stream> F <text>" (stream "stdout" or
  // "stderr"), creating directories as needed. NotFound for an unknown id,
  // Internal when the file cannot be written, FailedPrecondition when the
  // container has no log path.
  Status AppendLog(const std::string& container_id, const std::string& stream,
                   const std::string& text);

 private:
  struct SandboxRec {
    PodSandboxConfig config;
    PodSandboxStatus status;
  };
  struct ContainerRec {
    ContainerConfig config;
    ContainerStatus status;
    std::string sandbox_id;
    bool ignore_sigterm = false;
    std::optional<int32_t> exit_on_start;
  };

  // Records the call and answers an injected error or Unavailable when
  // down. Needs mu_.
  Status BeginLocked(const std::string& method, const std::string& id,
                     const std::string& detail = "");
  int64_t NowNanos();
  void FinishLocked(ContainerRec& c, int32_t exit_code, std::string reason);
  static Container ToContainer(const ContainerRec& c);

  Clock& clock_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  uint32_t next_ip_ = 2;
  bool down_ = false;
  std::map<std::string, SandboxRec> sandboxes_;
  std::map<std::string, ContainerRec> containers_;
  std::vector<std::string> container_order_;
  std::map<std::string, Image> images_;  // by ref as added
  std::map<std::string, int32_t> exit_on_start_;
  std::map<std::string, bool> ignore_sigterm_;
  ExecHandler exec_handler_;
  std::string streaming_base_ = "http://127.0.0.1:0";
  std::map<std::string, ExecRequest> exec_requests_;
  std::map<std::string, AttachRequest> attach_requests_;
  struct Injected {
    std::string method;
    Status status;
    int times;
  };
  std::vector<Injected> injected_;
  std::vector<Call> calls_;
};

}  // namespace kite::cri
