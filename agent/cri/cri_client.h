// CriClient: cri::Runtime over gRPC to a CRI runtime's unix socket
// (containerd's CRI plugin), each method one unary call of
// runtime.v1.RuntimeService or runtime.v1.ImageService, messages encoded by
// cri_proto.h, carried by rpc::GrpcChannel (h2c on the socket).
//
// Deadlines per call: status and list calls `status_timeout`; sandbox and
// container lifecycle calls `lifecycle_timeout` (StopContainer adds its
// grace period); ExecSync its own timeout plus `exec_slack`. Errors as
// runtime.h says: the runtime's gRPC status mapped by rpc::StatusFromGrpc
// (NOT_FOUND -> NotFound, ...), connection failures Unavailable, a passed
// deadline DeadlineExceeded, a malformed response Internal. StopPodSandbox
// and RemovePodSandbox of an unknown id succeed. RunPodSandbox and
// CreateContainer with the metadata of a live sandbox or container are
// AlreadyExists (containerd says UNKNOWN "failed to reserve ... name").
//
// Thread safety: all methods may be called concurrently (calls share the
// channel's one HTTP/2 connection).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "agent/cri/runtime.h"
#include "common/status.h"
#include "rpc/grpc_client.h"

namespace kite::cri {

struct CriClientOptions {
  // "unix:///run/containerd/containerd.sock", "unix:/path" or "/path".
  std::string endpoint;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds status_timeout{10000};
  std::chrono::milliseconds lifecycle_timeout{std::chrono::minutes(4)};
  std::chrono::milliseconds exec_slack{30000};
};

// The rpc::ChannelOptions target ("unix:/path") for a CRI endpoint, or
// InvalidArgument for anything but a unix socket.
StatusOr<std::string> CriSocketTarget(std::string_view endpoint);

class CriClient : public Runtime {
 public:
  // Fails only for a malformed endpoint; nothing connects until a call.
  static StatusOr<std::unique_ptr<CriClient>> Create(CriClientOptions options);

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

 private:
  CriClient(CriClientOptions options,
            std::unique_ptr<rpc::GrpcChannel> channel);

  // One unary call of `service` + `method`; errors name the method.
  StatusOr<std::string> Call(std::string_view service, std::string_view method,
                             std::string_view request,
                             std::chrono::milliseconds timeout);

  const CriClientOptions options_;
  const std::unique_ptr<rpc::GrpcChannel> channel_;
};

// Connects to the CRI runtime at `endpoint` ("unix:///path" or a plain
// path) and checks it answers Version. Unavailable when nothing answers.
StatusOr<std::unique_ptr<Runtime>> ConnectCri(const std::string& endpoint);

}  // namespace kite::cri
