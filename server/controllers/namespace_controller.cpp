#include "server/controllers/namespace_controller.h"

#include <algorithm>
#include <map>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kNamespaces{"", "v1", "namespaces", ""};

bool Contains(const Json* list, std::string_view value) {
  if (list == nullptr || !list->is_array()) return false;
  for (const Json& v : *list) {
    if (v.is_string() && v.get_ref<const std::string&>() == value) return true;
  }
  return false;
}

bool Empty(const Json* list) {
  return list == nullptr || !list->is_array() || list->empty();
}

bool Finalized(const Json& ns) {
  return Empty(api::FieldPath(ns, {"spec", "finalizers"})) &&
         Empty(api::FieldPath(ns, {"metadata", "finalizers"}));
}

bool Terminating(const Json& ns) {
  return api::Has(ns, {"metadata", "deletionTimestamp"});
}

std::string Join(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) {
    if (!s.empty()) s += ", ";
    s += p;
  }
  return s;
}

struct Condition {
  const char* type;
  bool on;
  std::string reason;
  std::string message;
};

}  // namespace

struct NamespaceController::Content {
  std::vector<std::string> failures;      // "<resource.group>: <message>"
  std::map<std::string, int> remaining;   // "pods." -> objects left
  std::map<std::string, int> finalizers;  // finalizer -> objects holding it
  int total = 0;
};

NamespaceController::NamespaceController(
    client::Interface& client, client::SharedInformerFactory& informers,
    ResourceLister resources, NamespaceControllerOptions options)
    : client_(client),
      informer_(informers.For(kNamespaces)),
      resources_(std::move(resources)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      queue_(std::make_unique<client::WorkQueue>(
          "namespace", clock_,
          client::ControllerRateLimiter(clock_, options.min_retry,
                                        options.max_retry))) {
  client::EventHandlers h;
  h.on_add = [this](const Json& obj) { Enqueue(obj); };
  h.on_update = [this](const Json&, const Json& obj) { Enqueue(obj); };
  informer_.AddEventHandler(std::move(h));
}

NamespaceController::~NamespaceController() { Stop(); }

Status NamespaceController::Start() {
  if (started_) return FailedPreconditionError("namespace controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void NamespaceController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void NamespaceController::Enqueue(const Json& ns) {
  if (Terminating(ns)) queue_->Add(api::Name(ns));
}

void NamespaceController::Worker() {
  while (std::optional<std::string> name = queue_->Get()) {
    Status s = Sync(*name);
    if (s.ok()) {
      queue_->Forget(*name);
    } else {
      if (s.code() == Code::kUnavailable) {
        log::Debug("namespace-controller", "waiting")("namespace", *name)(
            "reason", s.message());
      } else {
        log::Warn("namespace-controller", "sync failed")("namespace", *name)(
            "error", s.ToString());
      }
      queue_->AddRateLimited(*name);
    }
    queue_->Done(*name);
  }
}

Status NamespaceController::Sync(const std::string& name) {
  StatusOr<Json> got = client_.Get(kNamespaces, name, {});
  if (!got.ok()) {
    return got.status().code() == Code::kNotFound ? Status::Ok() : got.status();
  }
  Json ns = std::move(got).value();
  if (!Terminating(ns)) return Status::Ok();
  if (!Contains(api::FieldPath(ns, {"spec", "finalizers"}), kFinalizer)) {
    // Our part is done; delete it if nobody else holds it.
    return Finalized(ns) ? DeleteNamespace(ns) : Status::Ok();
  }

  Content content = DeleteContent(name);
  StatusOr<Json> updated = UpdateConditions(std::move(ns), content);
  if (!updated.ok()) {
    return updated.status().code() == Code::kNotFound ? Status::Ok()
                                                      : updated.status();
  }
  if (!content.failures.empty()) {
    return UnavailableError("content deletion failed in namespace " + name +
                            ": " + Join(content.failures));
  }
  if (content.total > 0) {
    return UnavailableError("content remaining in namespace " + name + ": " +
                            std::to_string(content.total) + " objects");
  }
  StatusOr<Json> finalized = Finalize(std::move(updated).value());
  if (!finalized.ok()) {
    return finalized.status().code() == Code::kNotFound ? Status::Ok()
                                                        : finalized.status();
  }
  log::Info("namespace-controller", "namespace emptied and finalized")(
      "namespace", name);
  if (Finalized(*finalized)) return DeleteNamespace(*finalized);
  return Status::Ok();
}

NamespaceController::Content NamespaceController::DeleteContent(
    const std::string& ns) {
  Content c;
  client::DeleteOptions background;
  background.propagation_policy = client::PropagationPolicy::kBackground;
  for (const client::ResourceRef& base : resources_()) {
    client::ResourceRef ref = base.In(ns);
    std::string gr = ref.resource + "." + ref.group;  // Kubernetes' wording
    bool one_by_one = false;
    StatusOr<Json> del = client_.DeleteCollection(ref, {}, background);
    if (!del.ok()) {
      Code code = del.status().code();
      if (code == Code::kNotFound) continue;  // the resource went away (CRD)
      if (code == Code::kFailedPrecondition) {
        one_by_one = true;  // 405: no deletecollection for this resource
      } else {
        c.failures.push_back(gr + ": " + del.status().message());
      }
    }
    StatusOr<Json> list = client_.List(ref, {});
    if (!list.ok()) {
      if (list.status().code() != Code::kNotFound) {
        c.failures.push_back(gr + ": " + list.status().message());
      }
      continue;
    }
    const Json* items = api::Field(*list, "items");
    if (Empty(items)) continue;
    for (const Json& item : *items) {
      ++c.total;
      ++c.remaining[gr];
      const Json* fins = api::FieldPath(item, {"metadata", "finalizers"});
      if (fins != nullptr && fins->is_array()) {
        for (const Json& f : *fins) {
          if (f.is_string()) ++c.finalizers[f.get<std::string>()];
        }
      }
      if (one_by_one && !api::Has(item, {"metadata", "deletionTimestamp"})) {
        StatusOr<Json> r = client_.Delete(ref, api::Name(item), background);
        if (!r.ok() && r.status().code() != Code::kNotFound) {
          c.failures.push_back(gr + ": " + r.status().message());
        }
      }
    }
  }
  return c;
}

StatusOr<Json> NamespaceController::UpdateConditions(Json ns,
                                                     const Content& content) {
  std::vector<std::string> remaining, finalizers;
  for (const auto& [gr, n] : content.remaining) {
    remaining.push_back(gr + " has " + std::to_string(n) +
                        " resource instances");
  }
  for (const auto& [f, n] : content.finalizers) {
    finalizers.push_back(f + " in " + std::to_string(n) +
                         " resource instances");
  }
  const Condition conds[] = {
      {"NamespaceDeletionDiscoveryFailure", false, "ResourcesDiscovered",
       "All resources successfully discovered"},
      {"NamespaceDeletionGroupVersionParsingFailure", false,
       "ParsedGroupVersions", "All legacy kube types successfully parsed"},
      content.failures.empty()
          ? Condition{"NamespaceDeletionContentFailure", false,
                      "ContentDeleted",
                      "All content successfully deleted, may be waiting on "
                      "finalization"}
          : Condition{"NamespaceDeletionContentFailure", true,
                      "ContentDeletionFailed",
                      "Failed to delete all resource types, " +
                          std::to_string(content.failures.size()) +
                          " remaining: " + Join(content.failures)},
      remaining.empty()
          ? Condition{"NamespaceContentRemaining", false, "ContentRemoved",
                      "All content successfully removed"}
          : Condition{"NamespaceContentRemaining", true, "SomeResourcesRemain",
                      "Some resources are remaining: " + Join(remaining)},
      finalizers.empty()
          ? Condition{"NamespaceFinalizersRemaining", false,
                      "ContentHasNoFinalizers",
                      "All content-preserving finalizers finished"}
          : Condition{"NamespaceFinalizersRemaining", true,
                      "SomeFinalizersRemain",
                      "Some content in the namespace has finalizers "
                      "remaining: " +
                          Join(finalizers)},
  };
  Json& status = api::Ensure(ns, "status");
  const Json* old = api::Field(status, "conditions");
  std::string now = api::FormatTime(clock_.Now());
  Json next = Json::array();
  for (const Condition& c : conds) {
    std::string st = c.on ? "True" : "False";
    std::string since = now;
    if (old != nullptr && old->is_array()) {
      for (const Json& o : *old) {
        if (api::GetString(o, {"type"}) == c.type &&
            api::GetString(o, {"status"}) == st) {
          since = api::GetString(o, {"lastTransitionTime"}, now);
        }
      }
    }
    next.push_back({{"type", c.type},
                    {"status", st},
                    {"lastTransitionTime", since},
                    {"reason", c.reason},
                    {"message", c.message}});
  }
  bool same = old != nullptr && *old == next &&
              api::GetString(status, {"phase"}) == "Terminating";
  if (same) return ns;
  status["phase"] = "Terminating";
  status["conditions"] = std::move(next);
  client::UpdateOptions uo;
  uo.subresource = "status";
  return client_.Update(kNamespaces, ns, uo);
}

StatusOr<Json> NamespaceController::Finalize(Json ns) {
  for (int attempt = 0;; ++attempt) {
    Json& spec = api::Ensure(ns, "spec");
    Json kept = Json::array();
    if (spec.contains("finalizers") && spec["finalizers"].is_array()) {
      for (const Json& f : spec["finalizers"]) {
        if (!(f.is_string() && f.get_ref<const std::string&>() == kFinalizer)) {
          kept.push_back(f);
        }
      }
    }
    spec["finalizers"] = std::move(kept);
    client::UpdateOptions uo;
    uo.subresource = "finalize";
    StatusOr<Json> r = client_.Update(kNamespaces, ns, uo);
    if (r.ok() || r.status().code() != Code::kConflict || attempt >= 4) {
      return r;
    }
    KITE_ASSIGN_OR_RETURN(ns, client_.Get(kNamespaces, api::Name(ns), {}));
  }
}

Status NamespaceController::DeleteNamespace(const Json& ns) {
  client::DeleteOptions d;
  d.precondition_uid = api::GetString(ns, {"metadata", "uid"});
  StatusOr<Json> r = client_.Delete(kNamespaces, api::Name(ns), d);
  if (r.ok()) return Status::Ok();
  // Gone already, or a new namespace of the same name (uid precondition).
  Code c = r.status().code();
  if (c == Code::kNotFound || c == Code::kConflict) return Status::Ok();
  return r.status();
}

}  // namespace kite::controllers
