#include "agent/agent.h"

#include <unistd.h>

#include <thread>

#include "agent/cri/cri_client.h"
#include "agent/kubelet/local_storage.h"
#include "agent/runtime/cni.h"
#include "agent/runtime/host.h"
#include "agent/runtime/image_import.h"
#include "client/https_client.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"

namespace kite::agent {
namespace {

constexpr std::chrono::seconds kVolumeRefreshPeriod{30};
constexpr std::chrono::seconds kStorageCleanupPeriod{60};

}  // namespace

Agent::Agent(AgentConfig config, AgentHooks hooks)
    : config_(std::move(config)), hooks_(std::move(hooks)) {}

Agent::~Agent() { Stop(); }

int Agent::kubelet_port() const {
  return kubelet_server_ ? kubelet_server_->port() : 0;
}

Status Agent::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  Status st = StartParts();
  if (!st.ok()) Stop();
  return st;
}

Status Agent::StartParts() {
  if (config_.node_name.empty())
    return InvalidArgumentError("the agent needs a node name");
  // Credentials: the node's client certificate.
  if (hooks_.api != nullptr) {
    api_ = hooks_.api;
  } else {
    std::string path = config_.data_dir + "/agent/kubelet.kubeconfig";
    auto cfg = client::ConfigFromKubeconfigFile(path);
    if (!cfg.ok())
      return Status(cfg.status().code(), "the node's credentials " + path +
                                             ": " + cfg.status().message());
    cfg->user_agent = "kite-agent/" + config_.node_name;
    KITE_ASSIGN_OR_RETURN(own_api_, client::HttpsClient::Create(*cfg));
    api_ = own_api_.get();
  }

  KITE_RETURN_IF_ERROR(StartRuntime());

  // The Node and its Lease.
  kubelet::HostInfo* host = hooks_.host;
  if (host == nullptr) {
    own_host_ = kubelet::NewRealHostInfo();
    host = own_host_.get();
  }
  std::vector<std::string> node_ips = config_.node_ips;
  if (node_ips.empty()) {
    std::vector<std::string> host_ips = host->Facts().ipv4_addresses;
    if (!host_ips.empty()) node_ips.push_back(host_ips.front());
  }
  StartDns(node_ips);

  kubelet::NodeStatusOptions ns;
  ns.node_name = config_.node_name;
  ns.node_ips = node_ips;
  ns.data_dir = config_.data_dir;
  ns.kubelet_port = config_.kubelet_port;
  ns.labels = config_.node_labels;
  ns.on_pod_cidr = [this](const std::string& cidr) { OnPodCidr(cidr); };
  node_status_ = std::make_unique<kubelet::NodeStatus>(*api_, *runtime_, *host,
                                                       RealClock(), ns);
  KITE_RETURN_IF_ERROR(node_status_->Start());
  if (containerd_) {
    podnet::PodNetworkOptions pn;
    pn.node_name = config_.node_name;
    pn.cluster_cidrs.clear();
    for (size_t b = 0, e; b <= config_.cluster_cidr.size(); b = e + 1) {
      e = config_.cluster_cidr.find(',', b);
      if (e == std::string::npos) e = config_.cluster_cidr.size();
      if (e > b)
        pn.cluster_cidrs.push_back(config_.cluster_cidr.substr(b, e - b));
    }
    pn.host_gw.state_dir = config_.data_dir + "/agent/podnet";
    pod_network_ =
        std::make_unique<podnet::PodNetwork>(*api_, runtime::RealHost(), pn);
    KITE_RETURN_IF_ERROR(pod_network_->Start());
  }

  // Pods: Services (for their environment), volumes, environment, syncer.
  client::InformerOptions so;
  so.ref = {"", "v1", "services", ""};
  services_ = std::make_unique<client::Informer>(*api_, so);
  KITE_RETURN_IF_ERROR(services_->Start());
  KITE_RETURN_IF_ERROR(StartProxy(node_ips));
  kubelet::NodeStatus* status = node_status_.get();
  auto allocatable = [status] { return status->allocatable(); };
  kubelet::VolumeOptions vo;
  vo.data_dir = config_.data_dir;
  vo.host_ips = node_ips;
  vo.node_allocatable = allocatable;
  vo.mount_tmpfs = ::geteuid() == 0;
  volumes_ = std::make_unique<kubelet::Volumes>(*api_, vo);
  kubelet::EnvOptions eo;
  eo.host_ips = node_ips;
  eo.node_allocatable = allocatable;
  eo.services = services_.get();
  env_ = std::make_unique<kubelet::Env>(*api_, eo);
  kubelet::PodSyncerOptions po;
  po.node_name = config_.node_name;
  po.data_dir = config_.data_dir;
  po.cluster_dns = config_.cluster_dns;
  po.cluster_domain = config_.cluster_domain;
  po.node_ip = node_ips.empty() ? "" : node_ips.front();
  po.cgroup_root = hooks_.cgroup_root;
  if (auto usage = host->Usage(config_.data_dir); usage.ok())
    po.node_memory_bytes = usage->memory_total_bytes;
  pod_syncer_ = std::make_unique<kubelet::PodSyncer>(
      *api_, *runtime_, RealClock(), po, *volumes_, *env_);
  KITE_RETURN_IF_ERROR(pod_syncer_->Start());

  KITE_RETURN_IF_ERROR(StartKubeletServer());
  housekeeping_ = std::thread([this] { Housekeeping(); });
  log::Info("agent", "started")("node", config_.node_name)(
      "endpoint", endpoint_)("kubelet-port", kubelet_port());
  return Status::Ok();
}

// containerd (the endpoint given, or our own), the images of the images
// folder, and the CRI client.
Status Agent::StartRuntime() {
  auto connect = hooks_.connect_runtime
                     ? hooks_.connect_runtime
                     : [](const std::string& e) { return cri::ConnectCri(e); };
  endpoint_ = config_.container_runtime_endpoint;
  if (endpoint_.empty()) {
    runtime::ContainerdOptions co;
    co.data_dir = config_.data_dir;
    co.command_prefix = hooks_.containerd_command_prefix;
    co.connect = connect;
    containerd_ = std::make_unique<runtime::Containerd>(co, runtime::RealHost(),
                                                        RealEnv(), RealClock());
    Status st = containerd_->Start();
    if (!st.ok()) {
      containerd_.reset();
      return Status(st.code(), "containerd: " + st.message());
    }
    endpoint_ = containerd_->endpoint();
  }
  auto runtime = connect(endpoint_);
  if (!runtime.ok())
    return Status(
        runtime.status().code(),
        "container runtime " + endpoint_ + ": " + runtime.status().message());
  runtime_ = std::move(runtime).value();
  if (auto v = runtime_->Version(); v.ok()) {
    log::Info("agent", "container runtime")("endpoint", endpoint_)(
        "runtime", v->runtime_name + " " + v->runtime_version);
  }
  if (containerd_) {
    // The air-gap path: every tarball in <data-dir>/agent/images (kite's
    // pause image is written there first). A bad tarball is reported and
    // the others go on.
    runtime::ImportOptions io;
    io.images_dir = config_.data_dir + "/agent/images";
    io.stamp_path = containerd_->dir() + "/imported-images.json";
    io.address = containerd_->socket_path();
    auto report = runtime::ImportImages(io, runtime::RealHost(), RealEnv(),
                                        runtime_.get());
    if (!report.ok())
      return Status(report.status().code(), "importing images from " +
                                                io.images_dir + ": " +
                                                report.status().message());
    for (const auto& [file, why] : report->failed)
      log::Error("agent", "image tarball not imported")("file", file)("error",
                                                                      why);
    log::Info("agent", "images")("imported", report->imported.size())(
        "already", report->skipped.size())("failed", report->failed.size());
  }
  return Status::Ok();
}

// The kubelet API, with the serving certificate a join (or the server)
// stored, trusting client-ca for the API server's kubelet-client identity.
Status Agent::StartKubeletServer() {
  const std::string tls = config_.data_dir + "/agent/tls";
  Env& env = RealEnv();
  auto cert = env.ReadFile(tls + "/serving-kubelet.crt");
  auto key = env.ReadFile(tls + "/serving-kubelet.key");
  auto client_ca = env.ReadFile(tls + "/client-ca.crt");
  if (!cert.ok() || !key.ok() || !client_ca.ok()) {
    // Without them the pods still run; only logs, exec, attach and
    // port-forward through the API server are unavailable.
    log::Error("agent",
               "no kubelet serving certificate or client CA: the kubelet "
               "API (logs, exec, port-forward) is off; join again to get them")(
        "dir", tls);
    return Status::Ok();
  }
  kubelet::KubeletServerOptions ko;
  ko.bind_address = config_.kubelet_bind_address;
  ko.port = config_.kubelet_port;
  ko.cert_pem = *cert;
  ko.key_pem = *key;
  ko.client_ca_pem = *client_ca;
  kubelet_server_ =
      std::make_unique<kubelet::KubeletServer>(ko, *runtime_, RealClock());
  Status st = kubelet_server_->Start();
  if (!st.ok()) {
    kubelet_server_.reset();
    return Status(st.code(), "the kubelet API on port " +
                                 std::to_string(config_.kubelet_port) + ": " +
                                 st.message());
  }
  return Status::Ok();
}

// The pod network follows the Node's podCIDR (node IPAM controller): the
// CNI configuration of our own containerd is written for it; containerd
// picks it up and reports NetworkReady, and the Node turns Ready. A runtime
// given by --container-runtime-endpoint brings its own CNI configuration.
void Agent::OnPodCidr(const std::string& cidr) {
  if (!containerd_) {
    log::Info("agent", "node pod CIDR")("cidr", cidr);
    return;
  }
  runtime::CniOptions o;
  // host-local's leases stay with this agent's data (not the host-wide
  // /var/lib/cni), so agents and tests sharing a host never mix them.
  o.ipam_data_dir = config_.data_dir + "/agent/cni/networks";
  auto wrote = runtime::WriteCniConfig(RealEnv(), containerd_->cni_conf_dir(),
                                       {cidr}, o);
  if (!wrote.ok()) {
    log::Error("agent", "CNI configuration not written")("cidr", cidr)(
        "error", wrote.status().ToString());
    return;
  }
  log::Info("agent", "pod network")("cidr", cidr)(
      "conf", containerd_->cni_conf_dir())("written", *wrote);
}

void Agent::Housekeeping() {
  auto next_refresh = std::chrono::steady_clock::now() + kVolumeRefreshPeriod;
  auto next_cleanup = std::chrono::steady_clock::now() + kStorageCleanupPeriod;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_until(lock, std::min(next_refresh, next_cleanup),
                   [this] { return stopping_; });
    if (stopping_) break;
    auto now = std::chrono::steady_clock::now();
    lock.unlock();
    if (now >= next_refresh) {
      volumes_->Refresh();
      next_refresh = now + kVolumeRefreshPeriod;
    }
    if (now >= next_cleanup) {
      auto removed = kubelet::CleanupLocalStorage(
          *api_, config_.data_dir + "/storage", config_.node_name);
      if (removed.ok() && *removed > 0)
        log::Info("agent", "removed local-path storage of deleted volumes")(
            "count", *removed);
      next_cleanup = now + kStorageCleanupPeriod;
    }
    lock.lock();
  }
}

// The cluster DNS: answers from the Service and EndpointSlice caches, the
// rest forwarded to the host's resolvers. Not being able to bind (port 53
// taken, no privilege) leaves the node without cluster DNS but running.
void Agent::StartDns(const std::vector<std::string>& node_ips) {
  if (config_.disable_dns) return;
  std::string address = config_.dns_bind_address;
  if (address.empty() && !node_ips.empty()) address = node_ips.front();
  if (address.empty()) address = "0.0.0.0";
  dns::ClusterDnsOptions o;
  o.domain = config_.cluster_domain;
  o.upstreams = config_.dns_upstreams;
  o.exclude_upstreams = {config_.cluster_dns, address};
  dns_ = std::make_unique<dns::ClusterDns>(*api_, o);
  Status st = dns_->Start();
  if (st.ok()) {
    dns_server_ = std::make_unique<dns::DnsServer>(
        *dns_, dns::DnsServerOptions{address, config_.dns_port});
    st = dns_server_->Start();
    dns_address_ = address;
  }
  if (!st.ok()) {
    log::Warn("agent", "cluster DNS not served")("error", st.ToString());
    dns_server_.reset();
    dns_.reset();
  }
}

// The service proxy: ClusterIPs, NodePorts, LoadBalancer and external IPs
// of every Service on this node, and the cluster DNS address routed to the
// DNS server above. Shares the Service informer of the pods' environment.
Status Agent::StartProxy(const std::vector<std::string>& node_ips) {
  if (config_.disable_proxy) {
    log::Info("agent", "service proxy disabled (--disable kube-proxy)");
    return Status::Ok();
  }
  KITE_ASSIGN_OR_RETURN(proxy::ProxyMode mode,
                        proxy::ParseProxyMode(config_.proxy_mode));
  proxy::BackendOptions bo;
  bo.node_name = config_.node_name;
  bo.node_ips = node_ips;
  bo.cluster_cidr = config_.cluster_cidr;
  bo.service_cidr = config_.service_cidr;
  auto backend = hooks_.new_proxy_backend ? hooks_.new_proxy_backend(mode, bo)
                                          : proxy::NewBackend(mode, bo);
  if (!backend.ok())
    return Status(backend.status().code(),
                  "service proxy: " + backend.status().message());
  if (!hooks_.new_proxy_backend) {
    // A mode switch: the previous mode's rules must not catch traffic.
    auto kept = proxy::ParseProxyMode((*backend)->name());
    Status st = kept.ok() ? proxy::CleanupOtherModes(*kept, bo) : kept.status();
    if (!st.ok())
      log::Warn("agent", "service proxy: other modes not cleaned up")(
          "error", st.ToString());
  }
  proxy::ServiceProxyOptions po;
  po.snapshot.node_name = config_.node_name;
  po.snapshot.cluster_dns = config_.cluster_dns;
  if (dns_server_ && dns_address_ != "0.0.0.0") {
    po.snapshot.local_dns_address = dns_address_;
    po.snapshot.local_dns_port = dns_server_->port();
  }
  po.cleanup_on_stop = config_.proxy_cleanup;
  proxy_ = std::make_unique<proxy::ServiceProxy>(*api_, std::move(*backend), po,
                                                 services_.get());
  KITE_RETURN_IF_ERROR(proxy_->Start());
  log::Info("agent", "service proxy started")("mode", proxy_->backend_name())(
      "cluster-dns-to", po.snapshot.local_dns_address);
  return Status::Ok();
}

void Agent::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
  if (kubelet_server_) {
    kubelet_server_->Stop();
    kubelet_server_.reset();
  }
  if (pod_syncer_) {
    pod_syncer_->Stop();  // the containers keep running
    pod_syncer_.reset();
  }
  env_.reset();
  volumes_.reset();
  if (proxy_) {
    proxy_->Stop();  // before the Service informer it reads
    proxy_.reset();
  }
  if (services_) {
    services_->Stop();
    services_.reset();
  }
  if (pod_network_) {
    pod_network_->Stop();  // the routes stay for the running pods
    pod_network_.reset();
  }
  if (node_status_) {
    node_status_->Stop();
    node_status_.reset();
  }
  if (dns_server_) dns_server_->Stop();
  dns_server_.reset();
  dns_.reset();
  runtime_.reset();
  if (containerd_) {
    containerd_->Stop();  // the shims keep the containers running
    containerd_.reset();
  }
  own_host_.reset();
  own_api_.reset();
  api_ = nullptr;
}

}  // namespace kite::agent
