#include "server/controllers/csr_controller.h"

#include <algorithm>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kCsrs{"certificates.k8s.io", "v1",
                                "certificatesigningrequests", ""};

std::vector<std::string> Strings(const Json* list) {
  std::vector<std::string> out;
  if (list == nullptr || !list->is_array()) return out;
  for (const Json& v : *list) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool HasCondition(const Json& csr, std::string_view type) {
  const Json* conds = api::FieldPath(csr, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return false;
  for (const Json& c : *conds) {
    if (api::GetString(c, {"type"}) == type &&
        api::GetString(c, {"status"}, "True") == "True") {
      return true;
    }
  }
  return false;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Whether this controller may approve `r` on its own (before `check`).
bool AutoApprovable(const CsrRequest& r) {
  if (r.signer_name == kKubeletClientSigner) {
    return Contains(r.groups, "system:bootstrappers") ||
           Contains(r.groups, "system:nodes");
  }
  if (r.signer_name == kKubeletServingSigner) {
    return Contains(r.groups, "system:nodes");
  }
  return false;
}

CsrRequest RequestOf(const Json& csr) {
  CsrRequest r;
  r.name = api::Name(csr);
  r.signer_name = api::GetString(csr, {"spec", "signerName"});
  r.request = api::GetString(csr, {"spec", "request"});
  r.username = api::GetString(csr, {"spec", "username"});
  r.groups = Strings(api::FieldPath(csr, {"spec", "groups"}));
  r.usages = Strings(api::FieldPath(csr, {"spec", "usages"}));
  if (const Json* e = api::FieldPath(csr, {"spec", "expirationSeconds"});
      e != nullptr && e->is_number_integer()) {
    r.expiration_seconds = e->get<int64_t>();
  }
  return r;
}

}  // namespace

CsrController::CsrController(client::Interface& client,
                             client::SharedInformerFactory& informers,
                             CsrCallbacks callbacks,
                             CsrControllerOptions options)
    : client_(client),
      informer_(informers.For(kCsrs)),
      callbacks_(std::move(callbacks)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      queue_(std::make_unique<client::WorkQueue>(
          "csr", clock_,
          client::ControllerRateLimiter(clock_, std::chrono::milliseconds(5),
                                        std::chrono::milliseconds(60000)))) {
  client::EventHandlers h;
  h.on_add = [this](const Json& obj) { queue_->Add(api::Name(obj)); };
  h.on_update = [this](const Json&, const Json& obj) {
    queue_->Add(api::Name(obj));
  };
  informer_.AddEventHandler(std::move(h));
}

CsrController::~CsrController() { Stop(); }

Status CsrController::Start() {
  if (started_) return FailedPreconditionError("csr controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void CsrController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void CsrController::Worker() {
  while (std::optional<std::string> name = queue_->Get()) {
    Status s = Sync(*name);
    if (s.ok()) {
      queue_->Forget(*name);
    } else {
      log::Warn("csr-controller", "sync failed")("csr", *name)("error",
                                                               s.ToString());
      queue_->AddRateLimited(*name);
    }
    queue_->Done(*name);
  }
}

Status CsrController::SetCondition(Json csr, const std::string& type,
                                   const std::string& reason,
                                   const std::string& message,
                                   const std::string& subresource) {
  std::string now = api::FormatTime(clock_.Now());
  Json& status = api::Ensure(csr, "status");
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  conds.push_back({{"type", type},
                   {"status", "True"},
                   {"reason", reason},
                   {"message", message},
                   {"lastUpdateTime", now},
                   {"lastTransitionTime", now}});
  client::UpdateOptions opts;
  opts.subresource = subresource;
  StatusOr<Json> r = client_.Update(kCsrs, csr, opts);
  return r.ok() ? Status::Ok() : r.status();
}

Status CsrController::Sync(const std::string& name) {
  StatusOr<Json> got = client_.Get(kCsrs, name, {});
  if (!got.ok()) {
    return got.status().code() == Code::kNotFound ? Status::Ok() : got.status();
  }
  Json csr = std::move(got).value();
  if (!api::GetString(csr, {"status", "certificate"}).empty() ||
      HasCondition(csr, "Denied") || HasCondition(csr, "Failed")) {
    return Status::Ok();
  }
  CsrRequest req = RequestOf(csr);
  if (req.signer_name != kKubeletClientSigner &&
      req.signer_name != kKubeletServingSigner) {
    return Status::Ok();  // someone else's signer
  }
  if (!HasCondition(csr, "Approved")) {
    if (!AutoApprovable(req)) return Status::Ok();  // waits for a human
    Status checked = callbacks_.check(req);
    if (checked.code() == Code::kInvalidArgument) {
      log::Info("csr-controller", "denied")("csr", name)(
          "requester", req.username)("reason", checked.message());
      return SetCondition(std::move(csr), "Denied", "AutoDenied",
                          checked.message(), "approval");
    }
    KITE_RETURN_IF_ERROR(checked);
    log::Info("csr-controller", "approved")("csr", name)(
        "requester", req.username)("signer", req.signer_name);
    // The update's watch event brings it back for signing.
    return SetCondition(
        std::move(csr), "Approved", "AutoApproved",
        "kite approved this " + req.signer_name + " request of " + req.username,
        "approval");
  }
  StatusOr<std::string> cert = callbacks_.sign(req);
  if (!cert.ok()) {
    if (cert.status().code() != Code::kInvalidArgument) return cert.status();
    return SetCondition(std::move(csr), "Failed", "SignerValidationFailure",
                        cert.status().message(), "status");
  }
  api::Ensure(csr, "status")["certificate"] = *cert;
  client::UpdateOptions opts;
  opts.subresource = "status";
  StatusOr<Json> r = client_.Update(kCsrs, csr, opts);
  if (!r.ok()) return r.status();
  log::Info("csr-controller", "issued")("csr", name)("signer", req.signer_name);
  return Status::Ok();
}

}  // namespace kite::controllers
