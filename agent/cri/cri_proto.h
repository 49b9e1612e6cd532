// The protobuf encoding of the CRI runtime.v1 messages kite's CriClient
// sends and receives, written by hand on rpc/protowire.h (no generated code,
// no protobuf runtime). Field numbers follow runtime.v1's api.proto
// (k8s.io/cri-api pkg/apis/runtime/v1); only the fields runtime.h carries are
// encoded, every other field of a response is skipped as unknown.
//
// Encoding rules (proto3, as Go's protobuf writes them, so containerd reads
// what it expects): default scalars are not written; nested messages are
// written when they carry something, except the ones containerd needs even
// when empty (CreateContainerRequest.sandbox_config, the linux configs, and
// wrapper messages such as Int64Value whose presence is the information);
// map<string,string> entries are written in key order with both key (1) and
// value (2); repeated scalars are packed. Decoders accept packed and unpacked
// repeated scalars and map entries missing key or value.
//
// The Decode* functions return InvalidArgument for malformed bytes.
//
// Thread safety: plain functions without state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cri/runtime.h"
#include "common/status.h"

namespace kite::cri {

// gRPC method paths.
inline constexpr std::string_view kRuntimeService =
    "/runtime.v1.RuntimeService/";
inline constexpr std::string_view kImageService = "/runtime.v1.ImageService/";

// The CRI API version kite speaks (VersionRequest.version), as kubelet sends.
inline constexpr std::string_view kCriApiVersion = "0.1.0";

// --- requests

std::string EncodeVersionRequest(std::string_view version);
// StatusRequest (the RuntimeService/Status call; runtime.h's RuntimeStatus).
std::string EncodeStatusRequest(bool verbose);
// A PodSandboxConfig message on its own (also embedded in CreateContainer).
std::string EncodePodSandboxConfig(const PodSandboxConfig& config);
std::string EncodeRunPodSandboxRequest(const PodSandboxConfig& config);
// Stop/RemovePodSandboxRequest: both are {pod_sandbox_id = 1}.
std::string EncodePodSandboxIdRequest(std::string_view pod_sandbox_id);
std::string EncodePodSandboxStatusRequest(std::string_view pod_sandbox_id,
                                          bool verbose);
std::string EncodeListPodSandboxRequest(const PodSandboxFilter& filter);
std::string EncodeContainerConfig(const ContainerConfig& config);
std::string EncodeCreateContainerRequest(
    std::string_view pod_sandbox_id, const ContainerConfig& config,
    const PodSandboxConfig& sandbox_config);
// Start/RemoveContainerRequest: both are {container_id = 1}.
std::string EncodeContainerIdRequest(std::string_view container_id);
std::string EncodeStopContainerRequest(std::string_view container_id,
                                       int64_t timeout_seconds);
std::string EncodeListContainersRequest(const ContainerFilter& filter);
std::string EncodeContainerStatusRequest(std::string_view container_id,
                                         bool verbose);
std::string EncodeExecSyncRequest(std::string_view container_id,
                                  const std::vector<std::string>& cmd,
                                  int64_t timeout_seconds);
std::string EncodeExecRequest(const ExecRequest& request);
std::string EncodeAttachRequest(const AttachRequest& request);
std::string EncodePortForwardRequest(std::string_view pod_sandbox_id,
                                     const std::vector<int32_t>& ports);
// ImageStatusRequest and RemoveImageRequest: both {image = 1: ImageSpec}.
std::string EncodeImageSpecRequest(std::string_view image);
// ListImagesRequest without a filter.
std::string EncodeListImagesRequest();

// --- responses

StatusOr<VersionInfo> DecodeVersionResponse(std::string_view data);
// StatusResponse: the conditions of its RuntimeStatus.
StatusOr<std::vector<RuntimeCondition>> DecodeStatusResponse(
    std::string_view data);
// RunPodSandboxResponse.pod_sandbox_id, CreateContainerResponse.container_id,
// Exec/Attach/PortForwardResponse.url: each the string in field 1.
StatusOr<std::string> DecodeStringField1(std::string_view data);
// PodSandboxStatusResponse: status plus the verbose info map.
StatusOr<PodSandboxStatus> DecodePodSandboxStatusResponse(
    std::string_view data);
StatusOr<std::vector<PodSandbox>> DecodeListPodSandboxResponse(
    std::string_view data);
StatusOr<std::vector<Container>> DecodeListContainersResponse(
    std::string_view data);
StatusOr<ContainerStatus> DecodeContainerStatusResponse(std::string_view data);
StatusOr<ExecSyncResult> DecodeExecSyncResponse(std::string_view data);
// ImageStatusResponse: nullopt when it holds no image (or an image without
// an id, which is how containerd answers for an absent one).
StatusOr<std::optional<Image>> DecodeImageStatusResponse(std::string_view data);
StatusOr<std::vector<Image>> DecodeListImagesResponse(std::string_view data);

}  // namespace kite::cri
