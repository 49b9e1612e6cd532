#include "agent/cri/cri_client.h"

#include <utility>

#include "agent/cri/cri_proto.h"

namespace kite::cri {
namespace {

using std::chrono::milliseconds;

// Keeps the code of `st`, says which call failed; a malformed response (the
// codec's InvalidArgument) is the runtime's fault: Internal.
Status Annotate(std::string_view method, const Status& st, bool decoding) {
  Code code = decoding ? Code::kInternal : st.code();
  return Status(code, "cri " + std::string(method) + ": " + st.message());
}

template <typename T>
StatusOr<T> Decoded(std::string_view method, StatusOr<T> decoded) {
  if (!decoded.ok()) return Annotate(method, decoded.status(), true);
  return decoded;
}

}  // namespace

StatusOr<std::string> CriSocketTarget(std::string_view endpoint) {
  std::string_view path = endpoint;
  if (path.starts_with("unix://")) {
    path.remove_prefix(7);
  } else if (path.starts_with("unix:")) {
    path.remove_prefix(5);
  }
  if (path.empty() || path.front() != '/') {
    return InvalidArgumentError(
        "cri: endpoint \"" + std::string(endpoint) +
        "\" is not a unix socket (want unix:///path or an absolute path)");
  }
  return "unix:" + std::string(path);
}

StatusOr<std::unique_ptr<CriClient>> CriClient::Create(
    CriClientOptions options) {
  KITE_ASSIGN_OR_RETURN(std::string target, CriSocketTarget(options.endpoint));
  rpc::ChannelOptions channel_options;
  channel_options.target = std::move(target);
  channel_options.connect_timeout = options.connect_timeout;
  auto channel = std::make_unique<rpc::GrpcChannel>(std::move(channel_options));
  return std::unique_ptr<CriClient>(
      new CriClient(std::move(options), std::move(channel)));
}

CriClient::CriClient(CriClientOptions options,
                     std::unique_ptr<rpc::GrpcChannel> channel)
    : options_(std::move(options)), channel_(std::move(channel)) {}

StatusOr<std::string> CriClient::Call(std::string_view service,
                                      std::string_view method,
                                      std::string_view request,
                                      milliseconds timeout) {
  std::string path(service);
  path += method;
  StatusOr<std::string> response = channel_->Call(path, request, timeout);
  if (!response.ok()) {
    const Status& st = response.status();
    // containerd answers a taken sandbox or container name (same metadata
    // as a live one) with UNKNOWN "failed to reserve sandbox name ...": it
    // is AlreadyExists, as FakeRuntime says.
    if (st.code() == Code::kInternal &&
        (st.message().find("failed to reserve sandbox name") !=
             std::string::npos ||
         st.message().find("failed to reserve container name") !=
             std::string::npos)) {
      return AlreadyExistsError("cri " + std::string(method) + ": " +
                                st.message());
    }
    return Annotate(method, st, false);
  }
  return response;
}

StatusOr<VersionInfo> CriClient::Version() {
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "Version", EncodeVersionRequest(kCriApiVersion),
           options_.status_timeout));
  return Decoded("Version", DecodeVersionResponse(response));
}

StatusOr<std::vector<RuntimeCondition>> CriClient::RuntimeStatus() {
  KITE_ASSIGN_OR_RETURN(std::string response, Call(kRuntimeService, "Status",
                                                   EncodeStatusRequest(false),
                                                   options_.status_timeout));
  return Decoded("Status", DecodeStatusResponse(response));
}

StatusOr<std::string> CriClient::RunPodSandbox(const PodSandboxConfig& config) {
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "RunPodSandbox", EncodeRunPodSandboxRequest(config),
           options_.lifecycle_timeout));
  return Decoded("RunPodSandbox", DecodeStringField1(response));
}

Status CriClient::StopPodSandbox(const std::string& id) {
  StatusOr<std::string> response =
      Call(kRuntimeService, "StopPodSandbox", EncodePodSandboxIdRequest(id),
           options_.lifecycle_timeout);
  if (!response.ok() && response.status().code() != Code::kNotFound) {
    return response.status();
  }
  return Status::Ok();
}

Status CriClient::RemovePodSandbox(const std::string& id) {
  StatusOr<std::string> response =
      Call(kRuntimeService, "RemovePodSandbox", EncodePodSandboxIdRequest(id),
           options_.lifecycle_timeout);
  if (!response.ok() && response.status().code() != Code::kNotFound) {
    return response.status();
  }
  return Status::Ok();
}

StatusOr<PodSandboxStatus> CriClient::GetPodSandboxStatus(const std::string& id,
                                                          bool verbose) {
  KITE_ASSIGN_OR_RETURN(std::string response,
                        Call(kRuntimeService, "PodSandboxStatus",
                             EncodePodSandboxStatusRequest(id, verbose),
                             options_.status_timeout));
  return Decoded("PodSandboxStatus", DecodePodSandboxStatusResponse(response));
}

StatusOr<std::vector<PodSandbox>> CriClient::ListPodSandbox(
    const PodSandboxFilter& filter) {
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "ListPodSandbox",
           EncodeListPodSandboxRequest(filter), options_.status_timeout));
  return Decoded("ListPodSandbox", DecodeListPodSandboxResponse(response));
}

StatusOr<std::string> CriClient::CreateContainer(
    const std::string& pod_sandbox_id, const ContainerConfig& config,
    const PodSandboxConfig& sandbox_config) {
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "CreateContainer",
           EncodeCreateContainerRequest(pod_sandbox_id, config, sandbox_config),
           options_.lifecycle_timeout));
  return Decoded("CreateContainer", DecodeStringField1(response));
}

Status CriClient::StartContainer(const std::string& id) {
  return Call(kRuntimeService, "StartContainer", EncodeContainerIdRequest(id),
              options_.lifecycle_timeout)
      .status();
}

Status CriClient::StopContainer(const std::string& id,
                                int64_t timeout_seconds) {
  milliseconds timeout = options_.lifecycle_timeout;
  if (timeout_seconds > 0) timeout += std::chrono::seconds(timeout_seconds);
  return Call(kRuntimeService, "StopContainer",
              EncodeStopContainerRequest(id, timeout_seconds), timeout)
      .status();
}

Status CriClient::RemoveContainer(const std::string& id) {
  return Call(kRuntimeService, "RemoveContainer", EncodeContainerIdRequest(id),
              options_.lifecycle_timeout)
      .status();
}

StatusOr<std::vector<Container>> CriClient::ListContainers(
    const ContainerFilter& filter) {
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "ListContainers",
           EncodeListContainersRequest(filter), options_.status_timeout));
  return Decoded("ListContainers", DecodeListContainersResponse(response));
}

StatusOr<ContainerStatus> CriClient::GetContainerStatus(const std::string& id) {
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "ContainerStatus",
           EncodeContainerStatusRequest(id, false), options_.status_timeout));
  return Decoded("ContainerStatus", DecodeContainerStatusResponse(response));
}

StatusOr<ExecSyncResult> CriClient::ExecSync(
    const std::string& container_id, const std::vector<std::string>& cmd,
    std::chrono::seconds timeout) {
  // No limit asked: the call still needs a deadline; a day stands for none.
  milliseconds deadline = timeout.count() > 0
                              ? milliseconds(timeout) + options_.exec_slack
                              : milliseconds(std::chrono::hours(24));
  KITE_ASSIGN_OR_RETURN(
      std::string response,
      Call(kRuntimeService, "ExecSync",
           EncodeExecSyncRequest(container_id, cmd, timeout.count()),
           deadline));
  return Decoded("ExecSync", DecodeExecSyncResponse(response));
}

StatusOr<std::string> CriClient::Exec(const ExecRequest& request) {
  KITE_ASSIGN_OR_RETURN(std::string response, Call(kRuntimeService, "Exec",
                                                   EncodeExecRequest(request),
                                                   options_.status_timeout));
  return Decoded("Exec", DecodeStringField1(response));
}

StatusOr<std::string> CriClient::Attach(const AttachRequest& request) {
  KITE_ASSIGN_OR_RETURN(std::string response, Call(kRuntimeService, "Attach",
                                                   EncodeAttachRequest(request),
                                                   options_.status_timeout));
  return Decoded("Attach", DecodeStringField1(response));
}

StatusOr<std::string> CriClient::PortForward(
    const std::string& pod_sandbox_id, const std::vector<int32_t>& ports) {
  KITE_ASSIGN_OR_RETURN(std::string response,
                        Call(kRuntimeService, "PortForward",
                             EncodePortForwardRequest(pod_sandbox_id, ports),
                             options_.status_timeout));
  return Decoded("PortForward", DecodeStringField1(response));
}

StatusOr<std::optional<Image>> CriClient::ImageStatus(
    const std::string& image) {
  StatusOr<std::string> response =
      Call(kImageService, "ImageStatus", EncodeImageSpecRequest(image),
           options_.status_timeout);
  // containerd answers an empty response for an absent image; other
  // runtimes NOT_FOUND.
  if (!response.ok() && response.status().code() == Code::kNotFound) {
    return std::optional<Image>();
  }
  if (!response.ok()) return response.status();
  return Decoded("ImageStatus", DecodeImageStatusResponse(*response));
}

StatusOr<std::vector<Image>> CriClient::ListImages() {
  KITE_ASSIGN_OR_RETURN(std::string response, Call(kImageService, "ListImages",
                                                   EncodeListImagesRequest(),
                                                   options_.status_timeout));
  return Decoded("ListImages", DecodeListImagesResponse(response));
}

Status CriClient::RemoveImage(const std::string& image) {
  return Call(kImageService, "RemoveImage", EncodeImageSpecRequest(image),
              options_.lifecycle_timeout)
      .status();
}

StatusOr<std::unique_ptr<Runtime>> ConnectCri(const std::string& endpoint) {
  CriClientOptions options;
  options.endpoint = endpoint;
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<CriClient> client,
                        CriClient::Create(std::move(options)));
  StatusOr<VersionInfo> version = client->Version();
  if (!version.ok()) {
    // A socket that answers something that is not a CRI runtime (e.g.
    // Unimplemented), or too slowly, is as unusable as none.
    return UnavailableError("cri: no CRI runtime at " + endpoint + ": " +
                            version.status().message());
  }
  if (version->runtime_api_version != "v1") {
    return FailedPreconditionError("cri: runtime at " + endpoint + " (" +
                                   version->runtime_name + " " +
                                   version->runtime_version + ") speaks CRI " +
                                   version->runtime_api_version + ", not v1");
  }
  return std::unique_ptr<Runtime>(std::move(client));
}

}  // namespace kite::cri
