#include "server/controllers/garbage_collector.h"

#include <algorithm>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

constexpr char kScanKey[] = "scan";
constexpr int kMaxAttempts = 5;

bool HasFinalizer(const Json& obj, std::string_view f) {
  const Json* fins = api::FieldPath(obj, {"metadata", "finalizers"});
  if (fins == nullptr || !fins->is_array()) return false;
  for (const Json& v : *fins) {
    if (v.is_string() && v.get_ref<const std::string&>() == f) return true;
  }
  return false;
}

std::string Uid(const Json& obj) {
  return api::GetString(obj, {"metadata", "uid"});
}

bool Deleting(const Json& obj) {
  return api::Has(obj, {"metadata", "deletionTimestamp"});
}

std::string GroupOf(const std::string& api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

bool SameResource(const client::ResourceRef& a, const client::ResourceRef& b) {
  return a.group == b.group && a.resource == b.resource;
}

}  // namespace

std::vector<client::ResourceRef> GarbageCollectorOptions::DefaultWatched() {
  return {
      {"", "v1", "pods", ""},
      {"", "v1", "services", ""},
      {"", "v1", "endpoints", ""},
      {"", "v1", "nodes", ""},
      {"apps", "v1", "deployments", ""},
      {"apps", "v1", "replicasets", ""},
      {"apps", "v1", "statefulsets", ""},
      {"apps", "v1", "daemonsets", ""},
      {"apps", "v1", "controllerrevisions", ""},
      {"batch", "v1", "jobs", ""},
      {"batch", "v1", "cronjobs", ""},
      {"discovery.k8s.io", "v1", "endpointslices", ""},
      {"coordination.k8s.io", "v1", "leases", ""},
  };
}

GarbageCollector::GarbageCollector(client::Interface& client,
                                   client::SharedInformerFactory& informers,
                                   GarbageCollectorOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      queue_(std::make_unique<client::WorkQueue>(
          "garbage-collector", clock_,
          client::ControllerRateLimiter(clock_, std::chrono::milliseconds(5),
                                        std::chrono::seconds(30)))) {
  for (const client::ResourceRef& ref : options_.watched) {
    client::Informer& inf = informers.For(ref);
    informers_.push_back(&inf);
    client::EventHandlers h;
    h.on_add = [this, ref](const Json& obj) { OnUpsert(ref, obj, false); };
    h.on_update = [this, ref](const Json&, const Json& obj) {
      OnUpsert(ref, obj, false);
    };
    h.on_delete = [this](const Json& obj) { OnRemove(Uid(obj)); };
    inf.AddEventHandler(std::move(h));
  }
}

GarbageCollector::~GarbageCollector() { Stop(); }

Status GarbageCollector::Start() {
  if (started_) return FailedPreconditionError("garbage collector started");
  started_ = true;
  queue_->Add(kScanKey);
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void GarbageCollector::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

bool GarbageCollector::Watched(const client::ResourceRef& ref) const {
  for (const client::ResourceRef& w : options_.watched) {
    if (SameResource(w, ref)) return true;
  }
  return false;
}

// --- the graph ---

void GarbageCollector::PutLocked(const std::string& uid, Node node) {
  EraseLocked(uid);
  for (const OwnerRef& o : node.owners) dependents_[o.uid].insert(uid);
  nodes_[uid] = std::move(node);
}

void GarbageCollector::EraseLocked(const std::string& uid) {
  auto it = nodes_.find(uid);
  if (it == nodes_.end()) return;
  for (const OwnerRef& o : it->second.owners) {
    auto d = dependents_.find(o.uid);
    if (d == dependents_.end()) continue;
    d->second.erase(uid);
    // Keep the entry while the owner itself is known (it may get more).
    if (d->second.empty() && nodes_.count(o.uid) == 0) dependents_.erase(d);
  }
  nodes_.erase(it);
}

void GarbageCollector::OnUpsert(const client::ResourceRef& ref, const Json& obj,
                                bool scanned) {
  std::string uid = Uid(obj);
  if (uid.empty()) return;
  Node n;
  n.uid = uid;
  n.ref = ref.In(api::Namespace(obj));
  n.name = api::Name(obj);
  n.deleting = Deleting(obj);
  n.scanned = scanned;
  if (const Json* refs = api::FieldPath(obj, {"metadata", "ownerReferences"});
      refs != nullptr && refs->is_array()) {
    for (const Json& r : *refs) {
      OwnerRef o;
      o.api_version = api::GetString(r, {"apiVersion"});
      o.kind = api::GetString(r, {"kind"});
      o.name = api::GetString(r, {"name"});
      o.uid = api::GetString(r, {"uid"});
      o.block = api::GetBool(r, {"blockOwnerDeletion"});
      if (!o.uid.empty()) n.owners.push_back(std::move(o));
    }
  }
  bool check = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const OwnerRef& o : n.owners) {
      auto it = nodes_.find(o.uid);
      if (it == nodes_.end() || it->second.deleting) check = true;
    }
    PutLocked(uid, std::move(n));
  }
  if (check) queue_->Add("d:" + uid);
  if (Deleting(obj)) {
    if (HasFinalizer(obj, kForegroundFinalizer)) queue_->Add("f:" + uid);
    if (HasFinalizer(obj, kOrphanFinalizer)) queue_->Add("o:" + uid);
  }
}

void GarbageCollector::OnRemove(const std::string& uid) {
  if (uid.empty()) return;
  std::vector<std::string> deps, deleting_owners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(uid);
    if (it == nodes_.end()) return;
    for (const OwnerRef& o : it->second.owners) {
      auto owner = nodes_.find(o.uid);
      if (owner != nodes_.end() && owner->second.deleting) {
        deleting_owners.push_back(o.uid);
      }
    }
    EraseLocked(uid);
    if (auto d = dependents_.find(uid); d != dependents_.end()) {
      deps.assign(d->second.begin(), d->second.end());
      if (d->second.empty()) dependents_.erase(d);
    }
  }
  // Its dependents may be orphans now; a foreground owner may be unblocked.
  for (const std::string& d : deps) queue_->Add("d:" + d);
  for (const std::string& o : deleting_owners) queue_->Add("f:" + o);
}

Status GarbageCollector::Scan() {
  std::vector<ApiResource> all = options_.resources();
  {
    std::lock_guard<std::mutex> lock(mu_);
    resources_ = all;
  }
  std::vector<client::ResourceRef> scanned;
  Status result = Status::Ok();
  for (const ApiResource& r : all) {
    if (Watched(r.ref)) continue;
    std::set<std::string> seen;
    client::ListOptions lo;
    lo.limit = 500;
    bool complete = true;
    do {
      StatusOr<Json> list = client_.List(r.ref, lo);
      if (!list.ok()) {
        complete = false;
        if (list.status().code() != Code::kNotFound) result = list.status();
        break;
      }
      if (const Json* items = api::Field(*list, "items");
          items != nullptr && items->is_array()) {
        for (const Json& item : *items) {
          OnUpsert(r.ref, item, true);
          seen.insert(Uid(item));
        }
      }
      lo.continue_token = api::GetString(*list, {"metadata", "continue"});
    } while (!lo.continue_token.empty());
    scanned.push_back(r.ref);
    if (!complete) continue;
    // What this resource held at the last scan and holds no more is gone.
    std::vector<std::string> gone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [uid, n] : nodes_) {
        if (n.scanned && SameResource(n.ref, r.ref) && !seen.count(uid)) {
          gone.push_back(uid);
        }
      }
    }
    for (const std::string& uid : gone) OnRemove(uid);
  }
  // Resources that went away (a deleted CRD) took their objects along.
  std::vector<std::string> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [uid, n] : nodes_) {
      if (!n.scanned) continue;
      bool listed = std::any_of(
          scanned.begin(), scanned.end(),
          [&](const client::ResourceRef& s) { return SameResource(s, n.ref); });
      if (!listed) gone.push_back(uid);
    }
  }
  for (const std::string& uid : gone) OnRemove(uid);
  return result;
}

// --- the work ---

void GarbageCollector::Worker() {
  // Decisions need the graph: wait until the informers have listed.
  for (client::Informer* inf : informers_) {
    while (!queue_->ShuttingDown() &&
           !inf->WaitForSync(std::chrono::milliseconds(100))) {
    }
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Process(*key);
    if (*key == kScanKey) {
      if (!s.ok()) {
        log::Warn("garbage-collector", "scan failed")("error", s.ToString());
      }
      queue_->AddAfter(kScanKey, options_.scan_period);
    } else if (s.ok()) {
      queue_->Forget(*key);
    } else {
      if (s.code() == Code::kUnavailable) {
        log::Debug("garbage-collector", "waiting")("item", *key)("reason",
                                                                 s.message());
      } else {
        log::Warn("garbage-collector", "sync failed")("item", *key)(
            "error", s.ToString());
      }
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status GarbageCollector::Process(const std::string& key) {
  if (key == kScanKey) return Scan();
  if (key.size() < 3 || key[1] != ':') return Status::Ok();
  std::string uid = key.substr(2);
  switch (key[0]) {
    case 'd':
      return AttemptToDelete(uid);
    case 'f':
      return ProcessForeground(uid);
    case 'o':
      return ProcessOrphan(uid);
    default:
      return Status::Ok();
  }
}

std::optional<ApiResource> GarbageCollector::Resolve(
    const std::string& api_version, const std::string& kind) {
  std::string group = GroupOf(api_version);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<ApiResource> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pass == 1 || resources_.empty()) resources_ = options_.resources();
      all = resources_;
    }
    for (const ApiResource& r : all) {
      if (r.ref.group == group && r.kind == kind) return r;
    }
  }
  return std::nullopt;
}

StatusOr<GarbageCollector::OwnerState> GarbageCollector::CheckOwner(
    const std::string& ns, const OwnerRef& o) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(o.uid);
    if (it != nodes_.end() && !it->second.deleting) return OwnerState::kSolid;
    // Confirmed gone before: uids are never reused, so it stays gone (saves
    // a GET per dependent when a big owner goes).
    if (gone_.count(o.uid)) return OwnerState::kDangling;
  }
  auto gone = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_.size() >= 100000) gone_.clear();
    gone_.insert(o.uid);
    return OwnerState::kDangling;
  };
  std::optional<ApiResource> res = Resolve(o.api_version, o.kind);
  if (!res) {
    // An unknown kind is never taken for absent (a CRD may come back).
    log::Debug("garbage-collector", "owner of unknown kind")(
        "apiVersion", o.api_version)("kind", o.kind);
    return OwnerState::kSolid;
  }
  if (res->namespaced && ns.empty()) return OwnerState::kDangling;
  StatusOr<Json> owner =
      client_.Get(res->ref.In(res->namespaced ? ns : ""), o.name, {});
  if (!owner.ok()) {
    if (owner.status().code() == Code::kNotFound) return gone();
    return owner.status();
  }
  if (Uid(*owner) != o.uid) return gone();
  if (Deleting(*owner) && HasFinalizer(*owner, kForegroundFinalizer)) {
    return OwnerState::kWaiting;
  }
  return OwnerState::kSolid;
}

Status GarbageCollector::AttemptToDelete(const std::string& uid) {
  Node node;
  bool has_dependents = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(uid);
    if (it == nodes_.end()) return Status::Ok();
    node = it->second;
    auto d = dependents_.find(uid);
    has_dependents = d != dependents_.end() && !d->second.empty();
  }
  StatusOr<Json> live = client_.Get(node.ref, node.name, {});
  if (!live.ok()) {
    return live.status().code() == Code::kNotFound ? Status::Ok()
                                                   : live.status();
  }
  if (Uid(*live) != uid || Deleting(*live)) return Status::Ok();
  // Decide on the live references, not the cached ones.
  OnUpsert(node.ref, *live, node.scanned);
  {
    std::lock_guard<std::mutex> lock(mu_);
    node = nodes_[uid];
  }
  if (node.owners.empty()) return Status::Ok();

  std::set<std::string> dangling, waiting;
  bool solid = false;
  for (const OwnerRef& o : node.owners) {
    KITE_ASSIGN_OR_RETURN(OwnerState st, CheckOwner(node.ref.ns, o));
    if (st == OwnerState::kSolid) solid = true;
    if (st == OwnerState::kDangling) dangling.insert(o.uid);
    if (st == OwnerState::kWaiting) waiting.insert(o.uid);
  }
  if (solid) {
    if (dangling.empty() && waiting.empty()) return Status::Ok();
    // It keeps a live owner: only the references to the others go.
    std::set<std::string> drop = dangling;
    drop.insert(waiting.begin(), waiting.end());
    return RemoveOwnerRefs(node, drop);
  }
  client::DeleteOptions d;
  d.precondition_uid = uid;
  // What was decided on must still hold: no reference removed meanwhile
  // (an orphaning owner strips them concurrently).
  d.precondition_resource_version =
      api::GetString(*live, {"metadata", "resourceVersion"});
  if (!waiting.empty() && has_dependents) {
    d.propagation_policy = client::PropagationPolicy::kForeground;
  } else if (HasFinalizer(*live, kOrphanFinalizer)) {
    d.propagation_policy = client::PropagationPolicy::kOrphan;
  } else if (HasFinalizer(*live, kForegroundFinalizer)) {
    d.propagation_policy = client::PropagationPolicy::kForeground;
  } else {
    d.propagation_policy = client::PropagationPolicy::kBackground;
  }
  log::Info("garbage-collector", "deleting dependent")(
      "resource", node.ref.GroupResource())("namespace", node.ref.ns)(
      "name", node.name)("owners", waiting.empty() ? "gone" : "deleting");
  StatusOr<Json> r = client_.Delete(node.ref, node.name, d);
  if (r.ok()) return Status::Ok();
  Code c = r.status().code();
  if (c == Code::kNotFound) return Status::Ok();
  if (c == Code::kConflict) {
    // Changed since it was read (or replaced): decide again.
    return UnavailableError("dependent changed while being collected");
  }
  return r.status();
}

std::vector<GarbageCollector::Node> GarbageCollector::Dependents(
    const Json& owner) {
  std::string uid = Uid(owner);
  std::string ns = api::Namespace(owner);
  std::vector<ApiResource> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all = resources_.empty() ? options_.resources() : resources_;
  }
  // The unwatched kinds are listed live so nothing recent is missed.
  for (const ApiResource& r : all) {
    if (Watched(r.ref)) continue;
    if (!ns.empty() && !r.namespaced) continue;
    client::ListOptions lo;
    StatusOr<Json> list = client_.List(r.ref.In(ns), lo);
    if (!list.ok()) continue;
    const Json* items = api::Field(*list, "items");
    if (items == nullptr || !items->is_array()) continue;
    for (const Json& item : *items) {
      const Json* refs = api::FieldPath(item, {"metadata", "ownerReferences"});
      if (refs == nullptr || !refs->is_array()) continue;
      for (const Json& o : *refs) {
        if (api::GetString(o, {"uid"}) == uid) {
          OnUpsert(r.ref, item, true);
          break;
        }
      }
    }
  }
  std::vector<Node> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto d = dependents_.find(uid); d != dependents_.end()) {
    for (const std::string& dep : d->second) {
      if (auto n = nodes_.find(dep); n != nodes_.end()) {
        out.push_back(n->second);
      }
    }
  }
  return out;
}

Status GarbageCollector::ProcessForeground(const std::string& uid) {
  Node node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(uid);
    if (it == nodes_.end()) return Status::Ok();
    node = it->second;
  }
  StatusOr<Json> live = client_.Get(node.ref, node.name, {});
  if (!live.ok()) {
    return live.status().code() == Code::kNotFound ? Status::Ok()
                                                   : live.status();
  }
  if (Uid(*live) != uid || !Deleting(*live) ||
      !HasFinalizer(*live, kForegroundFinalizer)) {
    return Status::Ok();
  }
  int blocking = 0;
  for (const Node& dep : Dependents(*live)) {
    queue_->Add("d:" + dep.uid);
    for (const OwnerRef& o : dep.owners) {
      if (o.uid == uid && o.block) ++blocking;
    }
  }
  if (blocking > 0) {
    return UnavailableError("waiting for " + std::to_string(blocking) +
                            " dependents of " + node.ref.GroupResource() + " " +
                            node.name + " to be deleted");
  }
  log::Info("garbage-collector", "dependents deleted, removing finalizer")(
      "resource", node.ref.GroupResource())("namespace", node.ref.ns)(
      "name", node.name)("finalizer", kForegroundFinalizer);
  return RemoveFinalizer(node.ref, node.name, uid, kForegroundFinalizer);
}

Status GarbageCollector::ProcessOrphan(const std::string& uid) {
  Node node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(uid);
    if (it == nodes_.end()) return Status::Ok();
    node = it->second;
  }
  StatusOr<Json> live = client_.Get(node.ref, node.name, {});
  if (!live.ok()) {
    return live.status().code() == Code::kNotFound ? Status::Ok()
                                                   : live.status();
  }
  if (Uid(*live) != uid || !Deleting(*live) ||
      !HasFinalizer(*live, kOrphanFinalizer)) {
    return Status::Ok();
  }
  for (const Node& dep : Dependents(*live)) {
    KITE_RETURN_IF_ERROR(RemoveOwnerRefs(dep, {uid}));
  }
  log::Info("garbage-collector", "dependents orphaned, removing finalizer")(
      "resource", node.ref.GroupResource())("namespace", node.ref.ns)(
      "name", node.name)("finalizer", kOrphanFinalizer);
  return RemoveFinalizer(node.ref, node.name, uid, kOrphanFinalizer);
}

Status GarbageCollector::RemoveOwnerRefs(const Node& dep,
                                         const std::set<std::string>& uids) {
  for (int attempt = 0;; ++attempt) {
    StatusOr<Json> live = client_.Get(dep.ref, dep.name, {});
    if (!live.ok()) {
      return live.status().code() == Code::kNotFound ? Status::Ok()
                                                     : live.status();
    }
    if (Uid(*live) != dep.uid) return Status::Ok();
    Json obj = std::move(live).value();
    Json& md = obj["metadata"];
    if (!md.contains("ownerReferences") || !md["ownerReferences"].is_array()) {
      return Status::Ok();
    }
    Json kept = Json::array();
    for (const Json& o : md["ownerReferences"]) {
      if (!uids.count(api::GetString(o, {"uid"}))) kept.push_back(o);
    }
    if (kept.size() == md["ownerReferences"].size()) return Status::Ok();
    if (kept.empty()) {
      md.erase("ownerReferences");
    } else {
      md["ownerReferences"] = std::move(kept);
    }
    StatusOr<Json> r = client_.Update(dep.ref, obj, {});
    if (r.ok()) {
      OnUpsert(dep.ref, *r, dep.scanned);
      return Status::Ok();
    }
    Code c = r.status().code();
    if (c == Code::kNotFound) return Status::Ok();
    if (c != Code::kConflict || attempt + 1 >= kMaxAttempts) return r.status();
  }
}

Status GarbageCollector::RemoveFinalizer(const client::ResourceRef& ref,
                                         const std::string& name,
                                         const std::string& uid,
                                         const std::string& finalizer) {
  for (int attempt = 0;; ++attempt) {
    StatusOr<Json> live = client_.Get(ref, name, {});
    if (!live.ok()) {
      return live.status().code() == Code::kNotFound ? Status::Ok()
                                                     : live.status();
    }
    if (Uid(*live) != uid || !HasFinalizer(*live, finalizer)) {
      return Status::Ok();
    }
    Json obj = std::move(live).value();
    Json& md = obj["metadata"];
    Json kept = Json::array();
    for (const Json& f : md["finalizers"]) {
      if (!(f.is_string() && f.get_ref<const std::string&>() == finalizer)) {
        kept.push_back(f);
      }
    }
    md["finalizers"] = std::move(kept);
    StatusOr<Json> r = client_.Update(ref, obj, {});
    if (r.ok()) return Status::Ok();
    Code c = r.status().code();
    if (c == Code::kNotFound) return Status::Ok();
    if (c != Code::kConflict || attempt + 1 >= kMaxAttempts) return r.status();
  }
}

}  // namespace kite::controllers
