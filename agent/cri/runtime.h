// The container runtime as the kubelet sees it: the subset of the CRI
// runtime.v1 API (RuntimeService and ImageService) that kite's agent uses,
// as plain C++ values. Two implementations: CriClient (cri_client.h, gRPC on
// containerd's unix socket) and FakeRuntime (fake_runtime.h, in memory, for
// unit tests of the kubelet).
//
// Naming follows runtime.v1 so the proto definitions can be read alongside;
// only the fields kite sets or reads are here. Times are nanoseconds since
// the Unix epoch, as the CRI sends them.
//
// Conventions the agent relies on (set by the kubelet, read by the kubelet's
// streaming server and by a restarted agent that adopts running pods):
//  - sandbox labels: io.kubernetes.pod.name, io.kubernetes.pod.namespace,
//    io.kubernetes.pod.uid (and the pod's own labels);
//  - container labels: io.kubernetes.container.name plus the three pod labels;
//  - sandbox log_directory: <data-dir>/agent/pods/<ns>_<name>_<uid>, and a
//    container's log_path: <container-name>/<restart-count>.log (relative to
//    it), lines in the CRI format "<RFC3339Nano> stdout|stderr F|P <text>".
//
// Errors: every call returns a Status; NotFound when the id (or image) is
// unknown, Unavailable when the runtime cannot be reached, DeadlineExceeded
// when the call's timeout passed, anything else as the runtime reported it.
//
// Thread safety: implementations may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kite::cri {

using Labels = std::map<std::string, std::string>;

// runtime.v1 enums, with the proto's numbers.
enum class NamespaceMode { kPod = 0, kContainer = 1, kNode = 2, kTarget = 3 };
enum class SandboxState { kReady = 0, kNotReady = 1 };
enum class ContainerState {
  kCreated = 0,
  kRunning = 1,
  kExited = 2,
  kUnknown = 3
};
enum class Protocol { kTcp = 0, kUdp = 1, kSctp = 2 };

struct NamespaceOptions {
  NamespaceMode network = NamespaceMode::kPod;
  NamespaceMode pid = NamespaceMode::kContainer;
  NamespaceMode ipc = NamespaceMode::kPod;
};

struct PodSandboxMetadata {
  std::string name;
  std::string uid;
  std::string namespace_;
  uint32_t attempt = 0;
};

struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

struct PortMapping {
  Protocol protocol = Protocol::kTcp;
  int32_t container_port = 0;
  int32_t host_port = 0;
  std::string host_ip;
};

struct PodSandboxConfig {
  PodSandboxMetadata metadata;
  std::string hostname;
  std::string log_directory;
  DnsConfig dns_config;
  std::vector<PortMapping> port_mappings;
  Labels labels;
  Labels annotations;
  // linux (LinuxPodSandboxConfig)
  std::string cgroup_parent;  // e.g. /kubepods/burstable/pod<uid>
  NamespaceOptions namespace_options;
  bool privileged = false;
  std::optional<int64_t> run_as_user;
  std::map<std::string, std::string> sysctls;
};

struct PodSandbox {
  std::string id;
  PodSandboxMetadata metadata;
  SandboxState state = SandboxState::kNotReady;
  int64_t created_at = 0;
  Labels labels;
  Labels annotations;
};

struct PodSandboxStatus {
  std::string id;
  PodSandboxMetadata metadata;
  SandboxState state = SandboxState::kNotReady;
  int64_t created_at = 0;
  std::string ip;  // the pod's primary IP; empty for host network
  std::vector<std::string> additional_ips;
  NamespaceOptions namespace_options;
  Labels labels;
  Labels annotations;
  // Verbose info (containerd puts a JSON document under "info", holding the
  // sandbox "pid" and its runtime spec with the network namespace path).
  std::map<std::string, std::string> info;
};

struct PodSandboxFilter {
  std::string id;
  std::optional<SandboxState> state;
  Labels label_selector;  // all must match
};

struct KeyValue {
  std::string key;
  std::string value;
};

enum class MountPropagation { kPrivate = 0, kHostToContainer = 1, kBidirectional = 2 };

struct Mount {
  std::string container_path;
  std::string host_path;
  bool readonly = false;
  MountPropagation propagation = MountPropagation::kPrivate;
};

struct LinuxContainerResources {
  int64_t cpu_period = 0;  // 0 = unset
  int64_t cpu_quota = 0;
  int64_t cpu_shares = 0;
  int64_t memory_limit_in_bytes = 0;
  int64_t oom_score_adj = 0;
};

struct ContainerSecurityContext {
  std::vector<std::string> add_capabilities;   // "NET_ADMIN", "ALL"
  std::vector<std::string> drop_capabilities;
  bool privileged = false;
  NamespaceOptions namespace_options;
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  bool readonly_rootfs = false;
  std::vector<int64_t> supplemental_groups;
  bool no_new_privs = false;
};

struct ContainerConfig {
  std::string name;      // metadata.name
  uint32_t attempt = 0;  // metadata.attempt
  std::string image;     // image.image
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string working_dir;
  std::vector<KeyValue> envs;
  std::vector<Mount> mounts;
  Labels labels;
  Labels annotations;
  std::string log_path;  // relative to the sandbox's log_directory
  bool stdin_open = false;  // ContainerConfig.stdin
  bool stdin_once = false;
  bool tty = false;
  LinuxContainerResources resources;
  ContainerSecurityContext security_context;
};

struct Container {
  std::string id;
  std::string pod_sandbox_id;
  std::string name;  // metadata.name
  uint32_t attempt = 0;
  std::string image;
  std::string image_ref;
  ContainerState state = ContainerState::kUnknown;
  int64_t created_at = 0;
  Labels labels;
  Labels annotations;
};

struct ContainerStatus {
  std::string id;
  std::string name;
  uint32_t attempt = 0;
  ContainerState state = ContainerState::kUnknown;
  int64_t created_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  int32_t exit_code = 0;
  std::string image;
  std::string image_ref;
  std::string reason;   // e.g. "Completed", "Error", "OOMKilled"
  std::string message;
  Labels labels;
  Labels annotations;
  std::string log_path;  // absolute
};

struct ContainerFilter {
  std::string id;
  std::optional<ContainerState> state;
  std::string pod_sandbox_id;
  Labels label_selector;
};

struct ExecSyncResult {
  std::string stdout_bytes;
  std::string stderr_bytes;
  int32_t exit_code = 0;
};

struct ExecRequest {
  std::string container_id;
  std::vector<std::string> cmd;
  bool tty = false;
  bool use_stdin = false;
  bool use_stdout = true;
  bool use_stderr = true;
};

struct AttachRequest {
  std::string container_id;
  bool use_stdin = false;
  bool tty = false;
  bool use_stdout = true;
  bool use_stderr = true;
};

struct VersionInfo {
  std::string version;  // the CRI API version, "0.1.0"
  std::string runtime_name;     // "containerd"
  std::string runtime_version;  // "1.6.20~ds1"
  std::string runtime_api_version;  // "v1"
};

struct RuntimeCondition {
  std::string type;  // "RuntimeReady", "NetworkReady"
  bool status = false;
  std::string reason;
  std::string message;
};

struct Image {
  std::string id;
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
  uint64_t size = 0;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // RuntimeService
  virtual StatusOr<VersionInfo> Version() = 0;
  virtual StatusOr<std::vector<RuntimeCondition>> RuntimeStatus() = 0;

  // Returns the new sandbox's id.
  virtual StatusOr<std::string> RunPodSandbox(const PodSandboxConfig& config) = 0;
  // Stopping or removing an unknown sandbox is not an error (as in the CRI).
  virtual Status StopPodSandbox(const std::string& id) = 0;
  virtual Status RemovePodSandbox(const std::string& id) = 0;
  virtual StatusOr<PodSandboxStatus> GetPodSandboxStatus(const std::string& id,
                                                         bool verbose) = 0;
  virtual StatusOr<std::vector<PodSandbox>> ListPodSandbox(
      const PodSandboxFilter& filter) = 0;

  // Returns the new container's id. `sandbox_config` must be the config the
  // sandbox was run with (containerd needs it; see notes/containerd.md).
  virtual StatusOr<std::string> CreateContainer(
      const std::string& pod_sandbox_id, const ContainerConfig& config,
      const PodSandboxConfig& sandbox_config) = 0;
  virtual Status StartContainer(const std::string& id) = 0;
  // Sends SIGTERM (or the image's stop signal), then SIGKILL after
  // `timeout_seconds`; 0 kills at once.
  virtual Status StopContainer(const std::string& id,
                                     int64_t timeout_seconds) = 0;
  virtual Status RemoveContainer(const std::string& id) = 0;
  virtual StatusOr<std::vector<Container>> ListContainers(
      const ContainerFilter& filter) = 0;
  virtual StatusOr<ContainerStatus> GetContainerStatus(const std::string& id) = 0;

  // Runs `cmd` in the container and waits at most `timeout` (0 = no limit).
  virtual StatusOr<ExecSyncResult> ExecSync(const std::string& container_id,
                                            const std::vector<std::string>& cmd,
                                            std::chrono::seconds timeout) = 0;
  // Streaming calls: each returns a one-use URL on the runtime's streaming
  // server (containerd's speaks the Kubernetes remotecommand/portforward
  // protocols there).
  virtual StatusOr<std::string> Exec(const ExecRequest& request) = 0;
  virtual StatusOr<std::string> Attach(const AttachRequest& request) = 0;
  virtual StatusOr<std::string> PortForward(const std::string& pod_sandbox_id,
                                            const std::vector<int32_t>& ports) = 0;

  // ImageService. ImageStatus answers nullopt (not an error) for an absent
  // image. There is no pull: kite never pulls (images are imported).
  virtual StatusOr<std::optional<Image>> ImageStatus(const std::string& image) = 0;
  virtual StatusOr<std::vector<Image>> ListImages() = 0;
  virtual Status RemoveImage(const std::string& image) = 0;
};

}  // namespace kite::cri
