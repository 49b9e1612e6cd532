#include "server/controllers/ttl_after_finished_controller.h"

#include <optional>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kJobs{"batch", "v1", "jobs", ""};

// When the Job finished; nullopt while it runs.
std::optional<api::Time> FinishTime(const Json& job) {
  const Json* conds = api::FieldPath(job, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return std::nullopt;
  for (const Json& c : *conds) {
    std::string type = api::GetString(c, {"type"});
    if ((type != "Complete" && type != "Failed") ||
        api::GetString(c, {"status"}) != "True") {
      continue;
    }
    if (auto t =
            api::ParseTime(api::GetString(job, {"status", "completionTime"})))
      return t;
    if (auto t = api::ParseTime(api::GetString(c, {"lastTransitionTime"})))
      return t;
    return api::Time{};
  }
  return std::nullopt;
}

}  // namespace

TtlAfterFinishedController::TtlAfterFinishedController(
    client::Interface& client, client::SharedInformerFactory& informers,
    TtlAfterFinishedControllerOptions options)
    : client_(client),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      jobs_(informers.For(kJobs)),
      queue_(
          std::make_unique<client::WorkQueue>("ttl-after-finished", clock_)) {
  auto maybe = [this](const Json& j) {
    if (api::Has(j, {"spec", "ttlSecondsAfterFinished"}) &&
        !api::Has(j, {"metadata", "deletionTimestamp"}) && FinishTime(j)) {
      queue_->Add(client::KeyOf(j));
    }
  };
  client::EventHandlers h;
  h.on_add = maybe;
  h.on_update = [maybe](const Json&, const Json& j) { maybe(j); };
  jobs_.AddEventHandler(std::move(h));
}

TtlAfterFinishedController::~TtlAfterFinishedController() { Stop(); }

Status TtlAfterFinishedController::Start() {
  if (started_) return FailedPreconditionError("TTL controller started");
  started_ = true;
  worker_ = std::thread([this] { Worker(); });
  return Status::Ok();
}

void TtlAfterFinishedController::Stop() {
  queue_->ShutDown();
  if (worker_.joinable()) worker_.join();
}

void TtlAfterFinishedController::Worker() {
  while (!queue_->ShuttingDown() &&
         !jobs_.WaitForSync(std::chrono::milliseconds(100))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn("ttl-after-finished", "sync failed")("job", *key)("error",
                                                                  s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status TtlAfterFinishedController::Sync(const std::string& key) {
  std::shared_ptr<const Json> job = jobs_.Get(key);
  if (job == nullptr) return Status::Ok();
  const Json* ttl = api::FieldPath(*job, {"spec", "ttlSecondsAfterFinished"});
  std::optional<api::Time> finished = FinishTime(*job);
  if (ttl == nullptr || !ttl->is_number_integer() || !finished ||
      api::Has(*job, {"metadata", "deletionTimestamp"})) {
    return Status::Ok();
  }
  api::Time expire = *finished + std::chrono::seconds(ttl->get<int64_t>());
  api::Time now = clock_.Now();
  if (now < expire) {
    queue_->AddAfter(key, expire - now);
    return Status::Ok();
  }
  auto [ns, name] = client::SplitKey(key);
  client::DeleteOptions d;
  d.propagation_policy = client::PropagationPolicy::kForeground;
  d.precondition_uid = api::GetString(*job, {"metadata", "uid"});
  auto r = client_.Delete(kJobs.In(ns), name, d);
  if (r.ok()) {
    log::Info("ttl-after-finished", "finished job expired, deleted")("job",
                                                                     key);
    return Status::Ok();
  }
  Code c = r.status().code();
  if (c == Code::kNotFound || c == Code::kConflict) return Status::Ok();
  return r.status();
}

}  // namespace kite::controllers
