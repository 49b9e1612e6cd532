// Agent: the wiring of kite's node agent (DESIGN.md §7, §11.7), run by
// `kite agent` after it joined, and in-process by `kite server` unless
// --disable-agent. It owns every agent-side part, starts them in
// dependency order and stops them in reverse:
//   credentials (<data_dir>/agent/kubelet.kubeconfig: the node's client
//   certificate; a join or the server wrote it) -> the node's HTTPS client
//   -> container runtime (the endpoint given, or containerd supervised by
//   the agent) -> image import (<data_dir>/agent/images) -> CRI client ->
//   cluster DNS (agent/dns; not fatal when it cannot bind) ->
//   Node status and Lease (the CNI configuration is written once the Node
//   has a podCIDR) -> the pod network (agent/podnet: forwarding, masquerade
//   and host-gw routes to the other nodes' podCIDRs; only with the
//   supervised containerd, whose CNI configuration kite writes) -> a Service
//   informer (for the environment and the proxy) -> the service proxy
//   (agent/proxy, docs/proxy.md) -> volumes and environment -> PodSyncer (the
//   pods bound to the node) -> the kubelet API (KubeletServer: logs, exec,
//   attach, port-forward) -> housekeeping (volume refresh every 30 s,
//   local-path storage cleanup every minute)
// The agent always talks to the API server over HTTPS with the node's
// identity (system:node:<name>), never through the loopback client, so an
// in-process agent is held to the same rules as a joined one.
//
// Threading: Start() and Stop() from one thread (main or the server's
// wiring). Each part runs its own threads; Stop() returns after all of them
// ended. Containers keep running after Stop() (containerd's shims hold
// them), so a restarted agent adopts them.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/runtime.h"
#include "agent/dns/cluster_dns.h"
#include "agent/dns/dns_server.h"
#include "agent/kubelet/env.h"
#include "agent/kubelet/kubelet_server.h"
#include "agent/kubelet/node_status.h"
#include "agent/kubelet/pod_syncer.h"
#include "agent/kubelet/volumes.h"
#include "agent/podnet/pod_network.h"
#include "agent/proxy/proxy_model.h"
#include "agent/proxy/service_proxy.h"
#include "agent/runtime/containerd.h"
#include "client/informer.h"
#include "client/interface.h"
#include "common/status.h"

namespace kite::agent {

struct AgentConfig {
  std::string data_dir;  // the agent's files are under <data_dir>/agent
  std::string node_name;
  // The node's addresses (--node-ip); empty: the host's first IPv4 address.
  std::vector<std::string> node_ips;
  // A running CRI runtime ("unix:///run/containerd/containerd.sock"); empty:
  // the agent starts and supervises its own containerd.
  std::string container_runtime_endpoint;
  // The kubelet API (logs, exec, port-forward).
  std::string kubelet_bind_address = "0.0.0.0";
  int kubelet_port = 10250;
  // Labels of the Node besides the standard ones.
  std::map<std::string, std::string> node_labels;
  std::string cluster_cidr = "10.42.0.0/16";
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  // Cluster DNS (agent/dns, docs/dns.md), served on
  // dns_bind_address:dns_port (empty: the node's first address) until the
  // proxy routes cluster_dns there. A failure to bind is logged, not fatal.
  // `--disable coredns` turns it off.
  bool disable_dns = false;
  std::string dns_bind_address;
  int dns_port = 53;  // 0: any free port (tests)
  // Resolvers for other names; empty: the host's /etc/resolv.conf.
  std::vector<std::string> dns_upstreams;
  // The service proxy (docs/proxy.md): "auto" (nftables, else iptables,
  // else userspace), "nftables", "iptables" or "userspace" (--proxy-mode).
  // proxy_cleanup: remove its rules when the agent stops (default: they
  // stay, so Services keep working across an agent restart).
  // disable_proxy (`--disable kube-proxy`): no proxy at all.
  std::string proxy_mode = "auto";
  bool proxy_cleanup = false;
  bool disable_proxy = false;
  std::string service_cidr = "10.43.0.0/16";
};

// Replaceable parts, for tests. Empty members get the real ones.
struct AgentHooks {
  // The node's API client; null: from <data_dir>/agent/kubelet.kubeconfig.
  client::Interface* api = nullptr;
  // Connects to the runtime at an endpoint; empty: cri::ConnectCri.
  std::function<StatusOr<std::unique_ptr<cri::Runtime>>(const std::string&)>
      connect_runtime;
  // The host; null: kubelet::NewRealHostInfo().
  kubelet::HostInfo* host = nullptr;
  // Prefix of the supervised containerd's command line (tests: nsenter).
  std::vector<std::string> containerd_command_prefix;
  // Where PodSyncer finds cgroup hierarchies; "" = never touch cgroups.
  std::string cgroup_root = "/sys/fs/cgroup";
  // Makes the service proxy's backend; empty: proxy::NewBackend.
  std::function<StatusOr<std::unique_ptr<proxy::Backend>>(
      proxy::ProxyMode, const proxy::BackendOptions&)>
      new_proxy_backend;
};

class Agent {
 public:
  explicit Agent(AgentConfig config, AgentHooks hooks = {});
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts every part. On failure what started is stopped again and the
  // error names the part. The API server need not be reachable: the Node
  // is registered as soon as it is.
  Status Start();
  // Stops in reverse start order. Idempotent.
  void Stop();

  // The CRI endpoint in use ("" before Start).
  const std::string& runtime_endpoint() const { return endpoint_; }
  // Null before Start.
  kubelet::NodeStatus* node_status() { return node_status_.get(); }
  kubelet::PodSyncer* pod_syncer() { return pod_syncer_.get(); }
  // The kubelet API's port (0 before Start, or when it is off).
  int kubelet_port() const;
  // The cluster DNS server's port; 0 when it is not serving.
  int dns_port() const { return dns_server_ ? dns_server_->port() : 0; }
  // Null before Start and with disable_proxy.
  proxy::ServiceProxy* service_proxy() { return proxy_.get(); }

 private:
  Status StartParts();
  Status StartRuntime();
  Status StartKubeletServer();
  void OnPodCidr(const std::string& cidr);
  void Housekeeping();
  void StartDns(const std::vector<std::string>& node_ips);
  Status StartProxy(const std::vector<std::string>& node_ips);

  AgentConfig config_;
  AgentHooks hooks_;
  std::string endpoint_;
  std::unique_ptr<client::Interface> own_api_;
  client::Interface* api_ = nullptr;
  std::unique_ptr<kubelet::HostInfo> own_host_;
  std::unique_ptr<runtime::Containerd> containerd_;  // null: not supervised
  std::unique_ptr<cri::Runtime> runtime_;
  std::unique_ptr<kubelet::NodeStatus> node_status_;
  std::unique_ptr<client::Informer> services_;
  std::unique_ptr<proxy::ServiceProxy> proxy_;
  std::unique_ptr<kubelet::Volumes> volumes_;
  std::unique_ptr<kubelet::Env> env_;
  std::unique_ptr<kubelet::PodSyncer> pod_syncer_;
  std::unique_ptr<kubelet::KubeletServer> kubelet_server_;
  std::unique_ptr<podnet::PodNetwork> pod_network_;  // with our containerd

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread housekeeping_;
  std::unique_ptr<dns::ClusterDns> dns_;
  std::unique_ptr<dns::DnsServer> dns_server_;
  std::string dns_address_;  // where dns_server_ listens
};

}  // namespace kite::agent
