#include "agent/agent.h"

#include <thread>

#include "agent/cri/cri_client.h"
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

  // The container runtime.
  endpoint_ = config_.container_runtime_endpoint;
  if (endpoint_.empty()) {
    return FailedPreconditionError(
        "no container runtime: give --container-runtime-endpoint");
  }
  auto connect = hooks_.connect_runtime
                     ? hooks_.connect_runtime
                     : [](const std::string& e) { return cri::ConnectCri(e); };
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

  // The Node and its Lease.
  kubelet::HostInfo* host = hooks_.host;
  if (host == nullptr) {
    own_host_ = kubelet::NewRealHostInfo();
    host = own_host_.get();
  }
  kubelet::NodeStatusOptions ns;
  ns.node_name = config_.node_name;
  ns.node_ips = config_.node_ips;
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

void Agent::OnPodCidr(const std::string& cidr) {
  log::Info("agent", "node pod CIDR")("cidr", cidr);
}

void Agent::Stop() {
  if (node_status_) {
    node_status_->Stop();
    node_status_.reset();
  }
  runtime_.reset();
  own_host_.reset();
  own_api_.reset();
  api_ = nullptr;
}

}  // namespace kite::agent
