#include "server/controllers/node_ipam_controller.h"

#include <arpa/inet.h>

#include <set>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kNodes{"", "v1", "nodes", ""};

std::optional<uint32_t> ParseIp(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string FormatCidr(uint32_t ip, int prefix) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(prefix);
}

}  // namespace

NodeIpamController::NodeIpamController(client::Interface& client,
                                       client::SharedInformerFactory& informers,
                                       NodeIpamControllerOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      nodes_(informers.For(kNodes)),
      queue_(std::make_unique<client::WorkQueue>("node-ipam", clock_)) {
  client::EventHandlers h;
  auto maybe = [this](const Json& n) {
    if (api::GetString(n, {"spec", "podCIDR"}).empty()) {
      queue_->Add(api::Name(n));
    }
  };
  h.on_add = maybe;
  h.on_update = [maybe](const Json&, const Json& n) { maybe(n); };
  h.on_delete = [this](const Json& n) {
    std::lock_guard<std::mutex> lock(mu_);
    assigned_.erase(api::Name(n));
  };
  nodes_.AddEventHandler(std::move(h));
}

NodeIpamController::~NodeIpamController() { Stop(); }

Status NodeIpamController::Parse() {
  const std::string& c = options_.cluster_cidr;
  size_t slash = c.find('/');
  std::optional<uint32_t> ip =
      slash == std::string::npos ? std::nullopt : ParseIp(c.substr(0, slash));
  int prefix = -1;
  if (ip && slash + 1 < c.size() && c.size() - slash <= 3) {
    prefix = std::atoi(c.c_str() + slash + 1);
  }
  if (!ip || prefix < 0 || prefix > 32 || options_.node_mask_size <= prefix ||
      options_.node_mask_size > 30 || options_.node_mask_size - prefix > 20) {
    return InvalidArgumentError("cluster CIDR " + c + " with node mask /" +
                                std::to_string(options_.node_mask_size) +
                                ": not a usable IPv4 range");
  }
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  base_ = *ip & mask;
  prefix_ = prefix;
  parsed_ = true;
  return Status::Ok();
}

Status NodeIpamController::Start() {
  if (started_) return FailedPreconditionError("node IPAM controller started");
  KITE_RETURN_IF_ERROR(Parse());
  started_ = true;
  worker_ = std::thread([this] { Worker(); });
  return Status::Ok();
}

void NodeIpamController::Stop() {
  queue_->ShutDown();
  if (worker_.joinable()) worker_.join();
}

void NodeIpamController::Worker() {
  // Every node's block must be known before one is handed out.
  while (!queue_->ShuttingDown() &&
         !nodes_.WaitForSync(std::chrono::milliseconds(100))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn("node-ipam-controller", "allocation failed")("node", *key)(
          "error", s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status NodeIpamController::Sync(const std::string& name) {
  if (!parsed_) KITE_RETURN_IF_ERROR(Parse());
  std::shared_ptr<const Json> node = nodes_.Get(name);
  if (node == nullptr) return Status::Ok();
  if (!api::GetString(*node, {"spec", "podCIDR"}).empty()) return Status::Ok();

  std::set<std::string> taken;
  for (const auto& n : nodes_.List()) {
    if (api::Name(*n) == name) continue;
    std::string c = api::GetString(*n, {"spec", "podCIDR"});
    if (!c.empty()) taken.insert(c);
    if (const Json* cs = api::FieldPath(*n, {"spec", "podCIDRs"});
        cs != nullptr && cs->is_array()) {
      for (const Json& x : *cs) {
        if (x.is_string()) taken.insert(x.get<std::string>());
      }
    }
  }
  std::string cidr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, c] : assigned_) {
      if (n != name) taken.insert(c);
    }
    if (auto it = assigned_.find(name);
        it != assigned_.end() && !taken.count(it->second)) {
      cidr = it->second;  // handed out before; the write did not show yet
    }
    const int mask = options_.node_mask_size;
    const uint32_t count = uint32_t{1} << (mask - prefix_);
    for (uint32_t i = 0; cidr.empty() && i < count; ++i) {
      std::string c = FormatCidr(base_ + (i << (32 - mask)), mask);
      if (!taken.count(c)) cidr = c;
    }
    if (!cidr.empty()) assigned_[name] = cidr;
  }
  if (cidr.empty()) {
    Json ev = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"generateName", name + "."}, {"namespace", "default"}}},
        {"involvedObject",
         {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"name", name},
          {"uid", api::GetString(*node, {"metadata", "uid"})}}},
        {"reason", "CIDRNotAvailable"},
        {"message", "Node " + name + " status is now: CIDRNotAvailable"},
        {"type", "Warning"},
        {"source", {{"component", "cidrAllocator"}}},
        {"firstTimestamp", api::FormatTime(clock_.Now())},
        {"lastTimestamp", api::FormatTime(clock_.Now())},
        {"count", 1}};
    (void)client_.Create({"", "v1", "events", "default"}, ev, {});
    return ResourceExhaustedError("no pod CIDR left in " +
                                  options_.cluster_cidr + " for node " + name);
  }
  Json patch = {{"spec", {{"podCIDR", cidr}, {"podCIDRs", {cidr}}}}};
  auto r =
      client_.Patch(kNodes, name, client::PatchType::kMerge, patch.dump(), {});
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound) {
      std::lock_guard<std::mutex> lock(mu_);
      assigned_.erase(name);
      return Status::Ok();
    }
    return r.status();
  }
  log::Info("node-ipam-controller", "pod CIDR assigned")("node", name)("cidr",
                                                                       cidr);
  return Status::Ok();
}

}  // namespace kite::controllers
