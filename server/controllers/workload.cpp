#include "server/controllers/workload.h"

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "common/log.h"

namespace kite::controllers {
namespace {

constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
constexpr int kAlphabetSize = sizeof(kAlphabet) - 1;

}  // namespace

std::string RandomSuffix(int n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pick(0, kAlphabetSize - 1);
  std::string s;
  for (int i = 0; i < n; ++i) s += kAlphabet[pick(rng)];
  return s;
}

bool IsPodReady(const Json& pod) {
  const Json* c = FindCondition(pod, "Ready");
  return c != nullptr && api::GetString(*c, {"status"}) == "True";
}

std::optional<api::Time> PodReadySince(const Json& pod) {
  const Json* c = FindCondition(pod, "Ready");
  if (c == nullptr || api::GetString(*c, {"status"}) != "True") {
    return std::nullopt;
  }
  auto t = api::ParseTime(api::GetString(*c, {"lastTransitionTime"}));
  if (!t) return api::Time{};
  return t;
}

bool IsPodAvailable(const Json& pod, int64_t min_ready_seconds, api::Time now) {
  std::optional<api::Time> since = PodReadySince(pod);
  if (!since) return false;
  if (min_ready_seconds <= 0) return true;
  return *since + std::chrono::seconds(min_ready_seconds) <= now;
}

bool IsPodTerminating(const Json& pod) {
  return api::Has(pod, {"metadata", "deletionTimestamp"});
}

bool IsPodActive(const Json& pod) {
  std::string phase = api::GetString(pod, {"status", "phase"});
  return phase != "Succeeded" && phase != "Failed" && !IsPodTerminating(pod);
}

const Json* ControllerRef(const Json& obj) {
  const Json* refs = api::FieldPath(obj, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->is_array()) return nullptr;
  for (const Json& r : *refs) {
    if (api::GetBool(r, {"controller"})) return &r;
  }
  return nullptr;
}

Json MakeControllerRef(const Json& owner, const std::string& api_version,
                       const std::string& kind) {
  return {{"apiVersion", api_version},
          {"kind", kind},
          {"name", api::Name(owner)},
          {"uid", api::GetString(owner, {"metadata", "uid"})},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

Json PodFromTemplate(const Json& tmpl, const std::string& ns,
                     const Json& controller_ref, const std::string& name,
                     const std::string& generate_name) {
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  Json& md = pod["metadata"];
  md = Json::object();
  if (!name.empty()) {
    md["name"] = name;
  } else {
    md["generateName"] = generate_name;
  }
  md["namespace"] = ns;
  if (const Json* l = api::FieldPath(tmpl, {"metadata", "labels"});
      l != nullptr && l->is_object()) {
    md["labels"] = *l;
  }
  if (const Json* a = api::FieldPath(tmpl, {"metadata", "annotations"});
      a != nullptr && a->is_object()) {
    md["annotations"] = *a;
  }
  if (const Json* f = api::FieldPath(tmpl, {"metadata", "finalizers"});
      f != nullptr && f->is_array()) {
    md["finalizers"] = *f;
  }
  md["ownerReferences"] = Json::array({controller_ref});
  const Json* spec = api::Field(tmpl, "spec");
  pod["spec"] = spec != nullptr ? *spec : Json::object();
  return pod;
}

std::string ShortHash(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  // Render the hash in the suffix alphabet so it never spells words and is
  // a valid label value.
  std::string out;
  uint64_t v = h;
  do {
    out += kAlphabet[v % kAlphabetSize];
    v /= kAlphabetSize;
  } while (v != 0);
  return out;
}

void RecordEvent(client::Interface& client, Clock& clock, const Json& obj,
                 const std::string& component, const std::string& type,
                 const std::string& reason, const std::string& message) {
  api::Time now = clock.Now();
  std::string ns = api::Namespace(obj);
  if (ns.empty()) ns = "default";
  int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      now.time_since_epoch())
                      .count();
  char hex[32];
  snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(nanos));
  std::string when = api::FormatTime(now);
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata",
              {{"name", api::Name(obj) + "." + hex + RandomSuffix(5)},
               {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", api::GetString(obj, {"apiVersion"})},
               {"kind", api::GetString(obj, {"kind"})},
               {"name", api::Name(obj)},
               {"namespace", api::Namespace(obj)},
               {"uid", api::GetString(obj, {"metadata", "uid"})},
               {"resourceVersion",
                api::GetString(obj, {"metadata", "resourceVersion"})}}},
             {"reason", reason},
             {"message", message},
             {"type", type},
             {"source", {{"component", component}}},
             {"firstTimestamp", when},
             {"lastTimestamp", when},
             {"count", 1},
             {"reportingComponent", component},
             {"reportingInstance", "kite-server"}};
  auto r = client.Create(kEventsRef.In(ns), ev, {});
  if (!r.ok()) {
    log::Debug(component, "event not recorded")("reason", reason)(
        "error", r.status().ToString());
  }
}

const Json* FindCondition(const Json& obj, const std::string& type) {
  const Json* conds = api::FieldPath(obj, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return nullptr;
  for (const Json& c : *conds) {
    if (api::GetString(c, {"type"}) == type) return &c;
  }
  return nullptr;
}

bool SetCondition(Json& status, Json cond) {
  if (!status.is_object()) status = Json::object();
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  std::string type = api::GetString(cond, {"type"});
  for (Json& c : conds) {
    if (api::GetString(c, {"type"}) != type) continue;
    bool same_status =
        api::GetString(c, {"status"}) == api::GetString(cond, {"status"});
    if (same_status &&
        api::GetString(c, {"reason"}) == api::GetString(cond, {"reason"}) &&
        api::GetString(c, {"message"}) == api::GetString(cond, {"message"})) {
      return false;
    }
    if (same_status && c.contains("lastTransitionTime")) {
      cond["lastTransitionTime"] = c["lastTransitionTime"];
    }
    c = std::move(cond);
    return true;
  }
  conds.push_back(std::move(cond));
  return true;
}

bool RemoveCondition(Json& status, const std::string& type) {
  if (!status.is_object() || !status.contains("conditions")) return false;
  Json& conds = status["conditions"];
  if (!conds.is_array()) return false;
  for (auto it = conds.begin(); it != conds.end(); ++it) {
    if (api::GetString(*it, {"type"}) == type) {
      conds.erase(it);
      return true;
    }
  }
  return false;
}

StatusOr<std::string> EnsureControllerRevision(
    client::Interface& client, client::Informer& revisions, const Json& owner,
    const std::string& kind, const Json& tmpl, const std::string& hash) {
  const std::string ns = api::Namespace(owner);
  const std::string name = api::Name(owner) + "-" + hash;
  const std::string uid = api::GetString(owner, {"metadata", "uid"});
  int64_t max = 0;
  std::shared_ptr<const Json> existing;
  for (const auto& r : revisions.ListNamespace(ns)) {
    const Json* ref = ControllerRef(*r);
    if (ref == nullptr || api::GetString(*ref, {"uid"}) != uid) continue;
    int64_t n = api::GetInt(*r, {"revision"});
    if (api::Name(*r) == name) {
      existing = r;
    } else {
      max = std::max(max, n);
    }
  }
  if (existing != nullptr) {
    if (api::GetInt(*existing, {"revision"}) > max) return name;
    // An old template back in use: it becomes the newest revision.
    Json patch = {{"revision", max + 1}};
    auto p = client.Patch(kControllerRevisionsRef.In(ns), name,
                          client::PatchType::kMerge, patch.dump(), {});
    if (!p.ok() && p.status().code() != Code::kNotFound) return p.status();
    return name;
  }
  Json labels = Json::object();
  if (const Json* ml =
          api::FieldPath(owner, {"spec", "selector", "matchLabels"});
      ml != nullptr && ml->is_object()) {
    labels = *ml;
  }
  labels["controller-revision-hash"] = hash;
  Json data_tmpl = tmpl;
  data_tmpl["$patch"] = "replace";
  Json cr = {{"apiVersion", "apps/v1"},
             {"kind", "ControllerRevision"},
             {"metadata",
              {{"name", name},
               {"namespace", ns},
               {"labels", labels},
               {"ownerReferences",
                Json::array({MakeControllerRef(owner, "apps/v1", kind)})}}},
             {"data", {{"spec", {{"template", data_tmpl}}}}},
             {"revision", max + 1}};
  auto c = client.Create(kControllerRevisionsRef.In(ns), cr, {});
  if (!c.ok() && c.status().code() != Code::kAlreadyExists) return c.status();
  return name;
}

Status CleanupControllerRevisions(client::Interface& client,
                                  client::Informer& revisions,
                                  const Json& owner,
                                  const std::set<std::string>& keep) {
  int64_t limit = api::GetInt(owner, {"spec", "revisionHistoryLimit"}, 10);
  std::string uid = api::GetString(owner, {"metadata", "uid"});
  std::vector<std::shared_ptr<const Json>> old;
  for (auto& r : revisions.ListNamespace(api::Namespace(owner))) {
    const Json* ref = ControllerRef(*r);
    if (ref != nullptr && api::GetString(*ref, {"uid"}) == uid &&
        !keep.count(api::Name(*r))) {
      old.push_back(r);
    }
  }
  if (static_cast<int64_t>(old.size()) <= limit) return Status::Ok();
  std::sort(old.begin(), old.end(), [](const auto& a, const auto& b) {
    return api::GetInt(*a, {"revision"}) < api::GetInt(*b, {"revision"});
  });
  for (size_t i = 0; i + static_cast<size_t>(limit) < old.size(); ++i) {
    auto d = client.Delete(kControllerRevisionsRef.In(api::Namespace(owner)),
                           api::Name(*old[i]), {});
    if (!d.ok() && d.status().code() != Code::kNotFound) return d.status();
  }
  return Status::Ok();
}

std::optional<Json> TemplateOfRevision(const Json& revision) {
  const Json* t = api::FieldPath(revision, {"data", "spec", "template"});
  if (t == nullptr || !t->is_object()) return std::nullopt;
  Json out = *t;
  out.erase("$patch");
  return out;
}

Expectations::Expectations(Clock& clock, std::chrono::seconds ttl)
    : clock_(clock), ttl_(ttl) {}

bool Expectations::Satisfied(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return true;
  if (it->second.adds <= 0 && it->second.deletes.empty()) return true;
  if (clock_.Monotonic() - it->second.since > ttl_) {
    entries_.erase(it);
    return true;
  }
  return false;
}

void Expectations::ExpectCreations(const std::string& key, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[key];
  e.adds += n;
  e.since = clock_.Monotonic();
}

void Expectations::ExpectDeletion(const std::string& key,
                                  const std::string& pod_key) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[key];
  e.deletes.insert(pod_key);
  e.since = clock_.Monotonic();
}

void Expectations::CreationObserved(const std::string& key, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.adds > 0) {
    it->second.adds = std::max(0, it->second.adds - n);
  }
}

void Expectations::DeletionObserved(const std::string& key,
                                    const std::string& pod_key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.deletes.erase(pod_key);
}

void Expectations::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(key);
}

}  // namespace kite::controllers
