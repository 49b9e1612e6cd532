#include "client/leader_election.h"

#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::client {
namespace {

const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", ""};

}  // namespace

LeaderElector::LeaderElector(Interface& client, LeaderElectionOptions options,
                             std::function<void()> on_started_leading,
                             std::function<void()> on_stopped_leading)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : RealClock()),
      on_started_(std::move(on_started_leading)),
      on_stopped_(std::move(on_stopped_leading)) {}

LeaderElector::~LeaderElector() { Stop(); }

StatusOr<bool> LeaderElector::TryAcquireOrRenew() {
  const ResourceRef ref = kLeases.In(options_.lease_namespace);
  const std::string now = api::FormatMicroTime(clock_.Now());
  auto current = client_.Get(ref, options_.lease_name, {});
  if (!current.ok()) {
    if (current.status().code() != Code::kNotFound) return current.status();
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata",
                   {{"name", options_.lease_name},
                    {"namespace", options_.lease_namespace}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", options_.lease_duration.count()},
                    {"acquireTime", now},
                    {"renewTime", now},
                    {"leaseTransitions", 0}}}};
    auto created = client_.Create(ref, lease, {});
    if (!created.ok()) {
      if (created.status().code() == Code::kAlreadyExists) return false;
      return created.status();
    }
    observed_record_ = created->value("spec", Json()).dump();
    observed_at_ = clock_.Monotonic();
    return true;
  }
  Json lease = std::move(*current);
  Json& spec = api::Ensure(lease, "spec");
  const std::string holder = api::GetString(spec, {"holderIdentity"});
  const std::string record = spec.dump();
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = clock_.Monotonic();
  }
  int64_t duration = api::GetInt(spec, {"leaseDurationSeconds"},
                                 options_.lease_duration.count());
  bool expired =
      clock_.Monotonic() >= observed_at_ + std::chrono::seconds(duration);
  if (!holder.empty() && holder != options_.identity && !expired) return false;

  if (holder != options_.identity) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = api::GetInt(spec, {"leaseTransitions"}) + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = options_.lease_duration.count();
  spec["renewTime"] = now;
  auto updated = client_.Update(ref, lease, {});  // CAS on resourceVersion
  if (!updated.ok()) {
    if (updated.status().code() == Code::kConflict) return false;
    return updated.status();
  }
  observed_record_ = updated->value("spec", Json()).dump();
  observed_at_ = clock_.Monotonic();
  return true;
}

Status LeaderElector::Start() {
  if (options_.lease_name.empty() || options_.identity.empty())
    return InvalidArgumentError(
        "leader election needs a lease name and an identity");
  std::lock_guard<std::mutex> lock(mu_);
  if (started_)
    return FailedPreconditionError("leader elector already started");
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

bool LeaderElector::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void LeaderElector::Run() {
  const auto retry = std::chrono::duration_cast<std::chrono::milliseconds>(
      options_.retry_period);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    auto won = TryAcquireOrRenew();
    if (won.ok() && *won) {
      last_renew_ = clock_.Monotonic();
      if (!leading_.exchange(true)) {
        log::Info("leader", "started leading")(
            "lease", options_.lease_namespace + "/" + options_.lease_name)(
            "identity", options_.identity);
        if (on_started_) on_started_();
      }
    } else {
      if (!won.ok())
        log::Warn("leader", "lease not renewed")("lease", options_.lease_name)(
            "error", won.status().ToString());
      if (leading_.load() &&
          (won.ok() ||
           clock_.Monotonic() >= last_renew_ + options_.renew_deadline)) {
        // Someone else holds it now, or we could not renew in time.
        leading_ = false;
        log::Warn("leader", "stopped leading")("lease", options_.lease_name);
        if (on_stopped_) on_stopped_();
      }
    }
    // While leading and failing, retry sooner than the period.
    auto wait = leading_.load() && !(won.ok() && *won)
                    ? std::chrono::milliseconds(500)
                    : retry;
    if (!Sleep(wait)) return;
  }
}

void LeaderElector::Release() {
  const ResourceRef ref = kLeases.In(options_.lease_namespace);
  auto current = client_.Get(ref, options_.lease_name, {});
  if (!current.ok()) return;
  Json lease = std::move(*current);
  Json& spec = api::Ensure(lease, "spec");
  if (api::GetString(spec, {"holderIdentity"}) != options_.identity) return;
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = api::FormatMicroTime(clock_.Now());
  client_.Update(ref, lease, {}).status().IgnoreError();
}

void LeaderElector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || !started_) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (leading_.exchange(false)) {
    if (on_stopped_) on_stopped_();
    Release();
  }
}

}  // namespace kite::client
