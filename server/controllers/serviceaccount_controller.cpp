#include "server/controllers/serviceaccount_controller.h"

#include <algorithm>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kNamespaces{"", "v1", "namespaces", ""};
const client::ResourceRef kAccounts{"", "v1", "serviceaccounts", ""};
const client::ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
constexpr char kDescription[] =
    "Contains a CA bundle that can be used to verify the kube-apiserver when "
    "using internal endpoints such as the internal service IP or "
    "kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters.";

bool Terminating(const Json& ns) {
  return api::Has(ns, {"metadata", "deletionTimestamp"}) ||
         api::GetString(ns, {"status", "phase"}) == "Terminating";
}

}  // namespace

ServiceAccountController::ServiceAccountController(
    client::Interface& client, client::SharedInformerFactory& informers,
    ServiceAccountControllerOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      namespaces_(informers.For(kNamespaces)),
      accounts_(informers.For(kAccounts)),
      queue_(std::make_unique<client::WorkQueue>("serviceaccount", clock_)) {
  client::EventHandlers nh;
  nh.on_add = [this](const Json& n) { queue_->Add(api::Name(n)); };
  nh.on_update = [this](const Json&, const Json& n) {
    queue_->Add(api::Name(n));
  };
  namespaces_.AddEventHandler(std::move(nh));
  client::EventHandlers ah;
  ah.on_delete = [this](const Json& sa) {
    if (api::Name(sa) == "default") queue_->Add(api::Namespace(sa));
  };
  accounts_.AddEventHandler(std::move(ah));
  if (!options_.root_ca_pem.empty()) {
    configmaps_ = &informers.For(
        kConfigMaps, "", std::string("metadata.name=") + kRootCaConfigMap);
    client::EventHandlers ch;
    ch.on_update = [this](const Json&, const Json& cm) {
      queue_->Add(api::Namespace(cm));
    };
    ch.on_delete = [this](const Json& cm) { queue_->Add(api::Namespace(cm)); };
    configmaps_->AddEventHandler(std::move(ch));
  }
}

ServiceAccountController::~ServiceAccountController() { Stop(); }

Status ServiceAccountController::Start() {
  if (started_) {
    return FailedPreconditionError("serviceaccount controller started");
  }
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void ServiceAccountController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void ServiceAccountController::Worker() {
  auto synced = [this] {
    return namespaces_.WaitForSync(std::chrono::milliseconds(100)) &&
           accounts_.WaitForSync(std::chrono::milliseconds(100)) &&
           (configmaps_ == nullptr ||
            configmaps_->WaitForSync(std::chrono::milliseconds(100)));
  };
  while (!queue_->ShuttingDown() && !synced()) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn("serviceaccount-controller", "sync failed")("namespace", *key)(
          "error", s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status ServiceAccountController::Sync(const std::string& ns) {
  std::shared_ptr<const Json> n = namespaces_.Get(ns);
  if (n == nullptr || Terminating(*n)) return Status::Ok();
  auto ignorable = [](const Status& s) {
    // Already there, or the namespace started terminating meanwhile.
    return s.code() == Code::kAlreadyExists ||
           s.code() == Code::kPermissionDenied || s.code() == Code::kNotFound;
  };
  if (accounts_.Get(ns, "default") == nullptr) {
    Json sa = {{"apiVersion", "v1"},
               {"kind", "ServiceAccount"},
               {"metadata", {{"name", "default"}, {"namespace", ns}}}};
    auto r = client_.Create(kAccounts.In(ns), sa, {});
    if (!r.ok() && !ignorable(r.status())) return r.status();
  }
  if (configmaps_ == nullptr) return Status::Ok();
  std::shared_ptr<const Json> cm = configmaps_->Get(ns, kRootCaConfigMap);
  if (cm == nullptr) {
    Json obj = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata",
         {{"name", kRootCaConfigMap},
          {"namespace", ns},
          {"annotations", {{"kubernetes.io/description", kDescription}}}}},
        {"data", {{"ca.crt", options_.root_ca_pem}}}};
    auto r = client_.Create(kConfigMaps.In(ns), obj, {});
    if (!r.ok() && !ignorable(r.status())) return r.status();
    return Status::Ok();
  }
  const Json* data = api::Field(*cm, "data");
  if (data != nullptr && data->is_object() && data->size() == 1 &&
      api::GetString(*data, {"ca.crt"}) == options_.root_ca_pem) {
    return Status::Ok();
  }
  Json fixed = *cm;
  fixed["data"] = {{"ca.crt", options_.root_ca_pem}};
  auto r = client_.Update(kConfigMaps.In(ns), fixed, {});
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
  return Status::Ok();
}

}  // namespace kite::controllers
