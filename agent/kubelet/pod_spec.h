// From a v1 Pod (JSON, as the API server sends it) to the CRI configs the
// kubelet runs it with: the sandbox (hostname, DNS, labels, log directory,
// cgroup parent, host ports, namespaces) and each container (command and
// args with $(VAR) expansion, env, mounts, resources as cgroup limits,
// securityContext, tty/stdin, labels, log path).
//
// The rules, as kubelet applies them on a cgroupfs node:
// - cgroup parent: /kubepods/pod<uid> (Guaranteed), /kubepods/burstable/
//   pod<uid>, /kubepods/besteffort/pod<uid>;
// - DNS by spec.dnsPolicy: ClusterFirst (the default; for hostNetwork pods
//   it falls back to the host's resolv.conf, as Default does),
//   ClusterFirstWithHostNet, Default, None; spec.dnsConfig is merged in;
//   cluster DNS means nameserver <cluster_dns>, searches
//   <ns>.svc.<domain> svc.<domain> <domain> (then the host's), ndots:5;
// - CPU: shares = request in millicores * 1024 / 1000 (at least 2), quota =
//   limit * 100 ms period / 1000 (at least 1 ms); memory limit in bytes;
//   oom_score_adj -997 Guaranteed, 1000 BestEffort, else from the memory
//   request against the node's memory (2..999).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/cri/runtime.h"
#include "common/status.h"

namespace kite::kubelet {

using Json = nlohmann::json;

// Label keys on sandboxes and containers (runtime.h conventions).
inline constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
inline constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
inline constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
inline constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";
// Container annotation: the spec's image the container was made from (a
// changed image in the pod replaces the container).
inline constexpr char kImageAnnotation[] = "kite.io/container-image";

// What the configs depend on besides the pod.
struct NodeSettings {
  std::string node_name;
  std::string data_dir;  // <data-dir>; logs under <data-dir>/agent/pods
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  cri::DnsConfig host_dns;        // the host's resolv.conf (ParseResolvConf)
  int64_t node_memory_bytes = 0;  // 0: unknown (Burstable oom_score_adj 999)
};

// nameserver/search/options lines of a resolv.conf.
cri::DnsConfig ParseResolvConf(const std::string& text);

// The three io.kubernetes.pod.* labels of `pod`.
cri::Labels PodIdentityLabels(const Json& pod);
// <data-dir>/agent/pods/<ns>_<name>_<uid>
std::string PodLogDirectory(const NodeSettings& node, const Json& pod);
// status.qosClass, or computed from the spec when absent.
std::string PodQosClass(const Json& pod);
std::string PodCgroupParent(const Json& pod);
cri::DnsConfig PodDnsConfig(const NodeSettings& node, const Json& pod);
bool IsHostNetwork(const Json& pod);

cri::PodSandboxConfig BuildSandboxConfig(const NodeSettings& node,
                                         const Json& pod, uint32_t attempt);

cri::LinuxContainerResources ContainerResources(const NodeSettings& node,
                                                const Json& pod,
                                                const Json& container);

// `container` is an element of spec.containers or spec.initContainers.
// `env` from the EnvBuilder, `mounts` from the VolumeSetup.
cri::ContainerConfig BuildContainerConfig(const NodeSettings& node,
                                          const Json& pod,
                                          const Json& container,
                                          uint32_t attempt,
                                          std::vector<cri::KeyValue> env,
                                          std::vector<cri::Mount> mounts);

}  // namespace kite::kubelet
