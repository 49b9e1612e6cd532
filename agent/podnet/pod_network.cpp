#include "agent/podnet/pod_network.h"

#include "api/object.h"
#include "common/log.h"

namespace kite::podnet {
namespace {

constexpr char kTag[] = "podnet";

}  // namespace

PodNetwork::PodNetwork(client::Interface& api, runtime::Host& host,
                       PodNetworkOptions options)
    : api_(api),
      options_(std::move(options)),
      host_gw_(host, options_.host_gw) {}

PodNetwork::~PodNetwork() { Stop(); }

int PodNetwork::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

Status PodNetwork::Start() {
  bool v6 = false;
  for (const auto& c : options_.cluster_cidrs)
    if (c.find(':') != std::string::npos) v6 = true;
  if (Status st = host_gw_.EnableForwarding(v6); !st.ok())
    log::Warn(kTag, "IP forwarding not enabled")("error", st.ToString());
  masquerade_for_ = PodNetworks(options_.cluster_cidrs, {});
  if (Status st = host_gw_.EnsureMasquerade(masquerade_for_); !st.ok()) {
    log::Warn(kTag, "no masquerade for traffic leaving the cluster")(
        "error", st.ToString());
    masquerade_for_.clear();  // tried again after the Node list
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
    dirty_ = true;
  }
  client::InformerOptions io;
  io.ref = {"", "v1", "nodes", ""};
  nodes_ = std::make_unique<client::Informer>(api_, io);
  auto mark = [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dirty_ = true;
    }
    cv_.notify_all();
  };
  client::EventHandlers h;
  h.on_add = [mark](const client::Json&) { mark(); };
  h.on_update = [mark](const client::Json& a, const client::Json& b) {
    // Heartbeats change only status.conditions and the resourceVersion.
    auto addresses = [](const client::Json& n) {
      const client::Json* list = api::FieldPath(n, {"status", "addresses"});
      return list ? *list : client::Json();
    };
    if (a.value("spec", client::Json()) != b.value("spec", client::Json()) ||
        addresses(a) != addresses(b))
      mark();
  };
  h.on_delete = [mark](const client::Json&) { mark(); };
  nodes_->AddEventHandler(h);
  KITE_RETURN_IF_ERROR(nodes_->Start());
  worker_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void PodNetwork::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (nodes_) nodes_->Stop();
  if (worker_.joinable()) worker_.join();
  nodes_.reset();
}

void PodNetwork::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.resync_period,
                 [this] { return stopping_ || dirty_; });
    if (stopping_) break;
    dirty_ = false;
    lock.unlock();
    if (nodes_->HasSynced()) {
      std::vector<client::Json> nodes;
      for (const auto& n : nodes_->List()) nodes.push_back(*n);
      Status st = host_gw_.Sync(RoutesFromNodes(nodes, options_.node_name));
      if (!st.ok())
        log::Warn(kTag, "routes not in sync")("error", st.ToString());
      std::vector<std::string> networks =
          PodNetworks(options_.cluster_cidrs, nodes);
      if (networks != masquerade_for_) {
        Status ms = host_gw_.EnsureMasquerade(networks);
        if (ms.ok()) {
          masquerade_for_ = networks;
        } else {
          log::Warn(kTag, "masquerade rules not updated")("error",
                                                          ms.ToString());
        }
      }
      lock.lock();
      ++syncs_;
    } else {
      // Not listed yet: look again shortly.
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [this] { return stopping_; });
      dirty_ = true;
    }
  }
}

}  // namespace kite::podnet
