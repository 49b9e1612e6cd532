#include "agent/agent.h"

#include <unistd.h>

#include <thread>

#include "agent/cri/cri_client.h"
#include "agent/runtime/cni.h"
#include "agent/runtime/host.h"
#include "agent/runtime/image_import.h"
#include "client/https_client.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"

namespace kite::agent {

Agent::Agent(AgentConfig config, AgentHooks hooks)
    : config_(std::move(config)), hooks_(std::move(hooks)) {}

Agent::~Agent() { Stop(); }

Status Agent::Start() {
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

  log::Info("agent", "started")("node", config_.node_name)("endpoint",
                                                          endpoint_);
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

void Agent::Stop() {
  if (node_status_) {
    node_status_->Stop();
    node_status_.reset();
  }
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
