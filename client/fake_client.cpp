#include "client/fake_client.h"

#include <algorithm>
#include <condition_variable>
#include <string_view>

#include "api/kinds.h"
#include "api/managed_fields.h"
#include "api/object.h"
#include "api/patch.h"
#include "api/selectors.h"
#include "api/strategic_merge.h"
#include "client/wire.h"
#include "client/yaml_json.h"

namespace kite::client {
namespace {

constexpr size_t kMaxHistory = 100000;

bool IsNamespaces(const ResourceRef& ref) {
  return ref.group.empty() && ref.resource == "namespaces";
}

std::string StringAt(const Json& obj, std::string_view a, std::string_view b) {
  return api::GetString(obj, {a, b});
}

bool NonEmptyArray(const Json* j) {
  return j != nullptr && j->is_array() && !j->empty();
}

bool Empty(const Json& j) { return j.is_null() || (j.is_array() && j.empty()); }

bool HasFinalizers(const Json& obj) {
  return NonEmptyArray(api::FieldPath(obj, {"metadata", "finalizers"}));
}

bool HasSpecFinalizers(const Json& obj) {
  return NonEmptyArray(api::FieldPath(obj, {"spec", "finalizers"}));
}

// The object without metadata and status: what metadata.generation tracks.
Json SpecPart(const Json& obj) {
  Json j = obj;
  if (j.is_object()) {
    j.erase("metadata");
    j.erase("status");
  }
  return j;
}

// The object without metadata.resourceVersion (an update that changes
// nothing else is a no-op).
Json WithoutRv(const Json& obj) {
  Json j = obj;
  if (j.is_object() && j.contains("metadata") && j["metadata"].is_object()) {
    j["metadata"].erase("resourceVersion");
  }
  return j;
}

// Copies member `key` of `from` into `to`, or erases it when absent.
void CopyMember(const Json& from, Json& to, const char* key) {
  auto it = from.find(key);
  if (it != from.end()) {
    to[key] = *it;
  } else {
    to.erase(key);
  }
}

// Selectors of one list, watch or delete-collection.
struct Filter {
  std::string ns;
  api::LabelSelector labels;
  api::FieldSelector fields;
  api::Kind kind;  // selectable_fields: every non-metadata field asked for

  static StatusOr<Filter> Make(const std::string& ns, const std::string& ls,
                               const std::string& fs) {
    Filter f;
    f.ns = ns;
    KITE_ASSIGN_OR_RETURN(f.labels, api::LabelSelector::Parse(ls));
    KITE_ASSIGN_OR_RETURN(f.fields, api::FieldSelector::Parse(fs));
    for (const api::FieldRequirement& r : f.fields.requirements()) {
      if (r.field == "metadata.name" || r.field == "metadata.namespace") {
        continue;
      }
      f.kind.selectable_fields.push_back({r.field, {r.field}, ""});
    }
    return f;
  }

  bool Matches(const Json& obj) const {
    if (!ns.empty() && api::Namespace(obj) != ns) return false;
    return labels.MatchesObject(obj) && fields.Matches(kind, obj);
  }
};

std::string Base36(uint64_t n, size_t width) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  while (n > 0 || s.size() < width) {
    s.insert(s.begin(), kDigits[n % 36]);
    n /= 36;
  }
  return s;
}

Json ExpiredStatus(const std::string& message) {
  Json s = StatusToApiStatus(CompactedError(message));
  s["reason"] = "Expired";
  s["code"] = 410;
  return s;
}

Json ScaleView(const Json& obj) {
  Json scale = {{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}};
  Json md = Json::object();
  for (const char* k :
       {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    const Json* v = api::FieldPath(obj, {"metadata", k});
    if (v != nullptr) md[k] = *v;
  }
  scale["metadata"] = md;
  scale["spec"] = {{"replicas", api::GetInt(obj, {"spec", "replicas"})}};
  Json status = {{"replicas", api::GetInt(obj, {"status", "replicas"})}};
  const Json* sel = api::FieldPath(obj, {"spec", "selector"});
  if (sel != nullptr) {
    auto ls = api::LabelSelector::FromJson(*sel);
    if (ls.ok()) status["selector"] = ls->String();
  }
  scale["status"] = status;
  return scale;
}

}  // namespace

// One watch: its selectors and the events waiting for Next().
struct FakeClient::WatchState {
  std::string collection;
  Filter filter;
  bool bookmarks = false;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<WatchEvent> queue;  // guarded by mu
  bool closed = false;           // guarded by mu
  bool cancelled = false;        // guarded by mu

  void Push(WatchEvent ev) {
    std::lock_guard<std::mutex> l(mu);
    if (closed || cancelled) return;
    queue.push_back(std::move(ev));
    cv.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu);
    closed = true;
    cv.notify_all();
  }
  bool Open() {
    std::lock_guard<std::mutex> l(mu);
    return !closed && !cancelled;
  }
};

class FakeClient::Stream : public WatchStream {
 public:
  explicit Stream(std::shared_ptr<WatchState> state)
      : state_(std::move(state)) {}
  ~Stream() override { Cancel(); }

  StatusOr<WatchEvent> Next(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> l(state_->mu);
    auto ready = [&] {
      return state_->cancelled || !state_->queue.empty() || state_->closed;
    };
    if (timeout == std::chrono::milliseconds::max()) {
      state_->cv.wait(l, ready);
    } else if (!state_->cv.wait_for(l, timeout, ready)) {
      return DeadlineExceededError("no watch event in time");
    }
    if (state_->cancelled) return CancelledError("watch cancelled");
    if (!state_->queue.empty()) {
      WatchEvent ev = std::move(state_->queue.front());
      state_->queue.pop_front();
      return ev;
    }
    return UnavailableError("watch closed");
  }

  void Cancel() override {
    std::lock_guard<std::mutex> l(state_->mu);
    state_->cancelled = true;
    state_->queue.clear();
    state_->cv.notify_all();
  }

 private:
  std::shared_ptr<WatchState> state_;
};

FakeClient::FakeClient(Clock& clock) : clock_(clock) {}

FakeClient::~FakeClient() { CloseWatches(); }

std::string FakeClient::CollectionKey(const ResourceRef& ref) {
  return ref.group + "/" + ref.resource;
}

std::string FakeClient::NotFoundMessage(const ResourceRef& ref,
                                        const std::string& name) const {
  return ref.GroupResource() + " \"" + name + "\" not found";
}

Status FakeClient::CheckInjected(const std::string& verb,
                                 const ResourceRef& ref) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = injected_.begin(); it != injected_.end(); ++it) {
    if ((it->verb.empty() || it->verb == verb) &&
        (it->resource.empty() || it->resource == ref.resource)) {
      Status s = it->status;
      if (--it->times <= 0) injected_.erase(it);
      return s;
    }
  }
  return Status::Ok();
}

void FakeClient::Record(Action action) {
  std::lock_guard<std::mutex> l(mu_);
  actions_.push_back(std::move(action));
}

Json* FakeClient::FindLocked(const ResourceRef& ref, const std::string& ns,
                             const std::string& name) {
  auto c = collections_.find(CollectionKey(ref));
  if (c == collections_.end()) return nullptr;
  auto o = c->second.objects.find({ns, name});
  return o == c->second.objects.end() ? nullptr : &o->second;
}

Json FakeClient::CommitLocked(const std::string& coll, EventType type, Json obj,
                              const Json* old) {
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  auto key = std::make_pair(api::Namespace(obj), api::Name(obj));
  Collection& c = collections_[coll];
  if (type == EventType::kDeleted) {
    c.objects.erase(key);
  } else {
    c.objects[key] = obj;
  }
  HistoryEvent ev{rv_, coll, type, obj, old != nullptr ? *old : Json()};
  BroadcastLocked(ev);
  history_.push_back(std::move(ev));
  while (history_.size() > kMaxHistory) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }
  return obj;
}

void FakeClient::BroadcastLocked(const HistoryEvent& ev) {
  std::erase_if(watches_, [](const std::shared_ptr<WatchState>& w) {
    return !w->Open();
  });
  for (const auto& w : watches_) {
    if (w->collection != ev.collection) continue;
    bool now = w->filter.Matches(ev.object);
    if (ev.type == EventType::kModified) {
      bool before =
          !ev.old_object.is_null() && w->filter.Matches(ev.old_object);
      if (now && before) {
        w->Push({EventType::kModified, ev.object});
      } else if (now) {
        w->Push({EventType::kAdded, ev.object});
      } else if (before) {
        w->Push({EventType::kDeleted, ev.object});
      }
    } else if (now) {
      w->Push({ev.type, ev.object});
    }
  }
}

StatusOr<Json> FakeClient::Get(const ResourceRef& ref, const std::string& name,
                               const GetOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("get", ref));
  Record({"get", ref, name, opts.subresource});
  std::lock_guard<std::mutex> l(mu_);
  const Json* obj = FindLocked(ref, ref.ns, name);
  if (obj == nullptr) return NotFoundError(NotFoundMessage(ref, name));
  if (opts.subresource.empty() || opts.subresource == "status") return *obj;
  if (opts.subresource == "scale") return ScaleView(*obj);
  return InvalidArgumentError("the fake client does not serve subresource \"" +
                              opts.subresource + "\"");
}

StatusOr<Json> FakeClient::List(const ResourceRef& ref,
                                const ListOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("list", ref));
  Record({"list", ref, "", ""});
  KITE_ASSIGN_OR_RETURN(Filter filter, Filter::Make(ref.ns, opts.label_selector,
                                                    opts.field_selector));
  std::lock_guard<std::mutex> l(mu_);
  int64_t list_rv = rv_;
  std::pair<std::string, std::string> after;
  bool has_after = false;
  if (!opts.continue_token.empty()) {
    const std::string& t = opts.continue_token;
    size_t a = t.find('/');
    size_t b = a == std::string::npos ? a : t.find('/', a + 1);
    if (b == std::string::npos) {
      return InvalidArgumentError("invalid continue token");
    }
    list_rv = std::strtoll(t.substr(0, a).c_str(), nullptr, 10);
    after = {t.substr(a + 1, b - a - 1), t.substr(b + 1)};
    has_after = true;
    if (list_rv < compacted_rv_) {
      return CompactedError(
          "The provided continue parameter is too old to display a consistent "
          "list result. You can start a new list without the continue "
          "parameter.");
    }
  }
  Json items = Json::array();
  std::string cont;
  std::string kind;
  auto c = collections_.find(CollectionKey(ref));
  if (c != collections_.end()) {
    kind = c->second.kind;
    auto it = has_after ? c->second.objects.upper_bound(after)
                        : c->second.objects.begin();
    for (; it != c->second.objects.end(); ++it) {
      if (!filter.Matches(it->second)) continue;
      if (opts.limit > 0 && static_cast<int64_t>(items.size()) >= opts.limit) {
        const Json& last = items.back();
        cont = std::to_string(list_rv) + "/" + api::Namespace(last) + "/" +
               api::Name(last);
        break;
      }
      items.push_back(it->second);
    }
  }
  Json list = {{"kind", kind.empty() ? "List" : kind + "List"},
               {"apiVersion", ref.ApiVersion()},
               {"metadata", {{"resourceVersion", std::to_string(list_rv)}}},
               {"items", std::move(items)}};
  if (!cont.empty()) list["metadata"]["continue"] = cont;
  return list;
}

StatusOr<std::unique_ptr<WatchStream>> FakeClient::Watch(
    const ResourceRef& ref, const WatchOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("watch", ref));
  Record({"watch", ref, "", ""});
  auto state = std::make_shared<WatchState>();
  state->collection = CollectionKey(ref);
  state->bookmarks = opts.allow_bookmarks;
  KITE_ASSIGN_OR_RETURN(state->filter, Filter::Make(ref.ns, opts.label_selector,
                                                    opts.field_selector));
  int64_t from = -1;
  if (!opts.resource_version.empty() && opts.resource_version != "0") {
    char* end = nullptr;
    from = std::strtoll(opts.resource_version.c_str(), &end, 10);
    if (*end != '\0' || from < 0) {
      return InvalidArgumentError("invalid resourceVersion \"" +
                                  opts.resource_version + "\"");
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  if (from < 0) {
    auto c = collections_.find(state->collection);
    if (c != collections_.end()) {
      for (const auto& [key, obj] : c->second.objects) {
        if (state->filter.Matches(obj)) {
          state->queue.push_back({EventType::kAdded, obj});
        }
      }
    }
  } else if (from < compacted_rv_) {
    state->queue.push_back(
        {EventType::kError,
         ExpiredStatus("too old resource version: " + std::to_string(from) +
                       " (" + std::to_string(compacted_rv_) + ")")});
    state->closed = true;
  } else {
    for (const HistoryEvent& ev : history_) {
      if (ev.rv <= from || ev.collection != state->collection) continue;
      bool now = state->filter.Matches(ev.object);
      if (ev.type == EventType::kModified) {
        bool before =
            !ev.old_object.is_null() && state->filter.Matches(ev.old_object);
        if (now && before) {
          state->queue.push_back({EventType::kModified, ev.object});
        } else if (now) {
          state->queue.push_back({EventType::kAdded, ev.object});
        } else if (before) {
          state->queue.push_back({EventType::kDeleted, ev.object});
        }
      } else if (now) {
        state->queue.push_back({ev.type, ev.object});
      }
    }
  }
  watches_.push_back(state);
  return std::unique_ptr<WatchStream>(new Stream(state));
}

StatusOr<Json> FakeClient::Create(const ResourceRef& ref, const Json& obj,
                                  const CreateOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("create", ref));
  Record({"create", ref, api::Name(obj), opts.subresource});
  std::lock_guard<std::mutex> l(mu_);
  return CreateLocked(ref, obj, opts);
}

StatusOr<Json> FakeClient::CreateLocked(const ResourceRef& ref, Json obj,
                                        const CreateOptions& opts) {
  if (!obj.is_object()) {
    return InvalidArgumentError("the object to create is not a JSON object");
  }
  std::string ns = EffectiveNamespace(ref, obj);
  std::string obj_ns = api::Namespace(obj);
  if (!ref.ns.empty() && !obj_ns.empty() && obj_ns != ref.ns) {
    return InvalidArgumentError(
        "the namespace of the provided object does not match the namespace "
        "sent on the request");
  }
  if (!opts.subresource.empty()) {
    // POST to a subresource of an existing object.
    std::string name = api::Name(obj);
    Json* target = FindLocked(ref, ns, name);
    if (target == nullptr) return NotFoundError(NotFoundMessage(ref, name));
    if (ref.resource == "pods" && opts.subresource == "binding") {
      std::string node = api::GetString(obj, {"target", "name"});
      if (node.empty()) {
        return InvalidArgumentError("Binding.target.name: Required value");
      }
      std::string bound = api::GetString(*target, {"spec", "nodeName"});
      if (!bound.empty()) {
        return ConflictError("pod " + name + " is already assigned to node \"" +
                             bound + "\"");
      }
      if (opts.dry_run) return StatusToApiStatus(Status::Ok());
      Json old = *target;
      Json next = old;
      next["spec"]["nodeName"] = node;
      CommitLocked(CollectionKey(ref), EventType::kModified, std::move(next),
                   &old);
      return StatusToApiStatus(Status::Ok());
    }
    if (ref.resource == "pods" && opts.subresource == "eviction") {
      if (opts.dry_run) return StatusToApiStatus(Status::Ok());
      KITE_ASSIGN_OR_RETURN(Json gone,
                            DeleteLocked(ref, ns, name, DeleteOptions{}));
      (void)gone;
      return StatusToApiStatus(Status::Ok());
    }
    return InvalidArgumentError("the fake client does not serve POST to " +
                                ref.resource + "/" + opts.subresource);
  }

  Json& md = api::Ensure(obj, "metadata");
  std::string name = api::Name(obj);
  if (name.empty()) {
    std::string gen = api::GetString(obj, {"metadata", "generateName"});
    if (gen.empty()) {
      return InvalidArgumentError(
          "metadata.name: Required value: name or generateName is required");
    }
    do {
      name = gen + Base36(++name_counter_ * 2654435761u % 60466176u, 5);
    } while (FindLocked(ref, ns, name) != nullptr);
    md["name"] = name;
  }
  if (!ns.empty()) md["namespace"] = ns;
  if (FindLocked(ref, ns, name) != nullptr) {
    return AlreadyExistsError(ref.GroupResource() + " \"" + name +
                              "\" already exists");
  }
  Collection& coll = collections_[CollectionKey(ref)];
  std::string kind = api::GetString(obj, {"kind"});
  if (coll.kind.empty() && !kind.empty()) coll.kind = kind;
  if (kind.empty() && !coll.kind.empty()) obj["kind"] = coll.kind;
  if (api::GetString(obj, {"apiVersion"}).empty()) {
    obj["apiVersion"] = ref.ApiVersion();
  }
  char uid[40];
  ++uid_counter_;
  std::snprintf(uid, sizeof(uid), "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(uid_counter_));
  md["uid"] = uid;
  md["creationTimestamp"] = api::FormatTime(clock_.Now());
  md["generation"] = 1;
  md.erase("deletionTimestamp");
  md.erase("deletionGracePeriodSeconds");
  md.erase("resourceVersion");
  if (IsNamespaces(ref)) {
    // As Kubernetes: the "kubernetes" finalizer is always there.
    Json& spec = api::Ensure(obj, "spec");
    if (!spec.contains("finalizers") || !spec["finalizers"].is_array()) {
      spec["finalizers"] = Json::array();
    }
    Json& fins = spec["finalizers"];
    if (std::find(fins.begin(), fins.end(), Json("kubernetes")) == fins.end()) {
      fins.push_back("kubernetes");
    }
    obj["status"] = {{"phase", "Active"}};
  }
  if (opts.dry_run) return obj;
  return CommitLocked(CollectionKey(ref), EventType::kAdded, std::move(obj),
                      nullptr);
}

StatusOr<Json> FakeClient::Update(const ResourceRef& ref, const Json& obj,
                                  const UpdateOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("update", ref));
  Record({"update", ref, api::Name(obj), opts.subresource});
  std::lock_guard<std::mutex> l(mu_);
  return UpdateLocked(ref, obj, opts.subresource, opts.dry_run);
}

StatusOr<Json> FakeClient::UpdateLocked(const ResourceRef& ref, const Json& obj,
                                        const std::string& subresource,
                                        bool dry_run) {
  if (!obj.is_object()) {
    return InvalidArgumentError("the object to update is not a JSON object");
  }
  std::string name = api::Name(obj);
  if (name.empty()) {
    return InvalidArgumentError(
        "metadata.name: Required value: name is required");
  }
  std::string ns = EffectiveNamespace(ref, obj);
  Json* stored = FindLocked(ref, ns, name);
  if (stored == nullptr) return NotFoundError(NotFoundMessage(ref, name));
  const Json cur = *stored;
  std::string want_rv = StringAt(obj, "metadata", "resourceVersion");
  if (!want_rv.empty() &&
      want_rv != StringAt(cur, "metadata", "resourceVersion")) {
    return ConflictError("Operation cannot be fulfilled on " +
                         ref.GroupResource() + " \"" + name +
                         "\": the object has been modified; please apply your "
                         "changes to the latest version and try again");
  }
  std::string want_uid = StringAt(obj, "metadata", "uid");
  std::string cur_uid = StringAt(cur, "metadata", "uid");
  if (!want_uid.empty() && want_uid != cur_uid) {
    return ConflictError(
        "Operation cannot be fulfilled on " + ref.GroupResource() + " \"" +
        name + "\": Precondition failed: UID in precondition: " + want_uid +
        ", UID in object meta: " + cur_uid);
  }
  const bool is_ns = IsNamespaces(ref);
  Json next;
  if (subresource.empty()) {
    next = obj;
    Json& md = next["metadata"];
    const Json& cur_md = cur["metadata"];
    for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      CopyMember(cur_md, md, k);
    }
    if (!ns.empty()) md["namespace"] = ns;
    CopyMember(cur, next, "status");
    CopyMember(cur, next, "kind");
    CopyMember(cur, next, "apiVersion");
    if (is_ns) {
      Json& spec = api::Ensure(next, "spec");
      const Json* fin = api::FieldPath(cur, {"spec", "finalizers"});
      if (fin != nullptr) {
        spec["finalizers"] = *fin;
      } else {
        spec.erase("finalizers");
      }
    }
    if (cur_md.contains("deletionTimestamp")) {
      // No new finalizers on an object that is being deleted.
      const Json* old_f = api::Field(cur_md, "finalizers");
      const Json* new_f = api::Field(md, "finalizers");
      if (new_f != nullptr && new_f->is_array()) {
        for (const Json& f : *new_f) {
          bool known =
              old_f != nullptr && old_f->is_array() &&
              std::find(old_f->begin(), old_f->end(), f) != old_f->end();
          if (!known) {
            return InvalidArgumentError(
                "metadata.finalizers: Forbidden: no new finalizers can be "
                "added if the object is being deleted");
          }
        }
      }
    }
    if (SpecPart(next) != SpecPart(cur)) {
      md["generation"] = api::GetInt(cur, {"metadata", "generation"}, 0) + 1;
    }
  } else if (subresource == "status" || subresource == "approval") {
    next = cur;
    CopyMember(obj, next, "status");
  } else if (subresource == "finalize" && is_ns) {
    next = cur;
    Json& spec = api::Ensure(next, "spec");
    const Json* fin = api::FieldPath(obj, {"spec", "finalizers"});
    if (fin != nullptr) {
      spec["finalizers"] = *fin;
    } else {
      spec.erase("finalizers");
    }
  } else if (subresource == "scale") {
    next = cur;
    next["spec"]["replicas"] = api::GetInt(obj, {"spec", "replicas"});
    if (SpecPart(next) != SpecPart(cur)) {
      next["metadata"]["generation"] =
          api::GetInt(cur, {"metadata", "generation"}, 0) + 1;
    }
  } else {
    return InvalidArgumentError(
        "the fake client does not serve subresource \"" + subresource +
        "\" of " + ref.resource);
  }
  // Empty finalizer lists are omitted, as Kubernetes' omitempty does.
  if (next["metadata"].contains("finalizers") &&
      Empty(next["metadata"]["finalizers"])) {
    next["metadata"].erase("finalizers");
  }
  if (is_ns && next.contains("spec") && next["spec"].is_object() &&
      next["spec"].contains("finalizers") &&
      Empty(next["spec"]["finalizers"])) {
    next["spec"].erase("finalizers");
  }
  const bool scale = subresource == "scale";
  if (WithoutRv(next) == WithoutRv(cur)) return scale ? ScaleView(cur) : cur;
  if (dry_run) return scale ? ScaleView(next) : next;
  const std::string coll = CollectionKey(ref);
  if (!is_ns && api::Has(next, {"metadata", "deletionTimestamp"}) &&
      !HasFinalizers(next)) {
    return CommitLocked(coll, EventType::kDeleted, std::move(next), &cur);
  }
  Json stored_next =
      CommitLocked(coll, EventType::kModified, std::move(next), &cur);
  return scale ? ScaleView(stored_next) : stored_next;
}

StatusOr<Json> FakeClient::Patch(const ResourceRef& ref,
                                 const std::string& name, PatchType type,
                                 const std::string& body,
                                 const PatchOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("patch", ref));
  Record({"patch", ref, name, opts.subresource});
  Json patch = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) {
    if (type != PatchType::kApply) {
      return InvalidArgumentError("the patch body is not valid JSON");
    }
    KITE_ASSIGN_OR_RETURN(patch, YamlToJson(body));
  }
  std::lock_guard<std::mutex> l(mu_);
  if (patch_meta_ == nullptr) {
    patch_meta_ = std::make_unique<api::PatchMetaTable>();
  }
  Json* stored = FindLocked(ref, ref.ns, name);
  std::string kind;
  {
    auto c = collections_.find(CollectionKey(ref));
    if (c != collections_.end()) kind = c->second.kind;
  }
  if (stored == nullptr) {
    if (type != PatchType::kApply)
      return NotFoundError(NotFoundMessage(ref, name));
    api::FieldManagerOptions fm;
    fm.manager = opts.field_manager;
    fm.api_version = ref.ApiVersion();
    fm.now = api::FormatTime(clock_.Now());
    KITE_ASSIGN_OR_RETURN(
        api::ApplyResult applied,
        api::Apply(nullptr, patch, fm, opts.force,
                   patch_meta_->Find(ref.group,
                                     api::GetString(patch, {"kind"}, kind))));
    applied.object["metadata"]["name"] = name;
    CreateOptions co;
    co.field_manager = opts.field_manager;
    co.dry_run = opts.dry_run;
    return CreateLocked(ref, std::move(applied.object), co);
  }
  const Json cur = *stored;
  if (kind.empty()) kind = api::GetString(cur, {"kind"});
  const api::PatchMeta& meta = patch_meta_->Find(ref.group, kind);
  if (opts.subresource == "scale") {
    // A patch of the Scale view: only spec.replicas carries over.
    Json view = ScaleView(cur);
    Json patched_view;
    if (type == PatchType::kJson) {
      KITE_ASSIGN_OR_RETURN(patched_view, api::ApplyJsonPatch(view, patch));
    } else {
      KITE_ASSIGN_OR_RETURN(patched_view, api::ApplyMergePatch(view, patch));
    }
    Json next = cur;
    next["spec"]["replicas"] = api::GetInt(patched_view, {"spec", "replicas"});
    return UpdateLocked(ref.In(api::Namespace(cur)), next, "scale",
                        opts.dry_run);
  }
  Json next;
  switch (type) {
    case PatchType::kJson: {
      KITE_ASSIGN_OR_RETURN(next, api::ApplyJsonPatch(cur, patch));
      break;
    }
    case PatchType::kMerge: {
      KITE_ASSIGN_OR_RETURN(next, api::ApplyMergePatch(cur, patch));
      break;
    }
    case PatchType::kStrategicMerge: {
      KITE_ASSIGN_OR_RETURN(next,
                            api::ApplyStrategicMergePatch(cur, patch, meta));
      break;
    }
    case PatchType::kApply: {
      api::FieldManagerOptions fm;
      fm.manager = opts.field_manager;
      fm.api_version = ref.ApiVersion();
      fm.kind = kind;
      fm.subresource = opts.subresource;
      fm.now = api::FormatTime(clock_.Now());
      KITE_ASSIGN_OR_RETURN(api::ApplyResult applied,
                            api::Apply(&cur, patch, fm, opts.force, meta));
      next = std::move(applied.object);
      break;
    }
  }
  return UpdateLocked(ref.In(api::Namespace(cur)), next, opts.subresource,
                      opts.dry_run);
}

StatusOr<Json> FakeClient::Delete(const ResourceRef& ref,
                                  const std::string& name,
                                  const DeleteOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("delete", ref));
  Record({"delete", ref, name, "", opts.propagation_policy});
  std::lock_guard<std::mutex> l(mu_);
  return DeleteLocked(ref, ref.ns, name, opts);
}

StatusOr<Json> FakeClient::DeleteLocked(const ResourceRef& ref,
                                        const std::string& ns,
                                        const std::string& name,
                                        const DeleteOptions& opts) {
  Json* stored = FindLocked(ref, ns, name);
  if (stored == nullptr) return NotFoundError(NotFoundMessage(ref, name));
  const Json cur = *stored;
  std::string cur_uid = StringAt(cur, "metadata", "uid");
  std::string cur_rv = StringAt(cur, "metadata", "resourceVersion");
  std::string prefix = "Operation cannot be fulfilled on " +
                       ref.GroupResource() + " \"" + name +
                       "\": Precondition failed: ";
  if (!opts.precondition_uid.empty() && opts.precondition_uid != cur_uid) {
    return ConflictError(prefix +
                         "UID in precondition: " + opts.precondition_uid +
                         ", UID in object meta: " + cur_uid);
  }
  if (!opts.precondition_resource_version.empty() &&
      opts.precondition_resource_version != cur_rv) {
    return ConflictError(prefix + "ResourceVersion in precondition: " +
                         opts.precondition_resource_version +
                         ", ResourceVersion in object meta: " + cur_rv);
  }
  const bool is_ns = IsNamespaces(ref);
  const bool keep = HasFinalizers(cur) || (is_ns && HasSpecFinalizers(cur));
  const std::string coll = CollectionKey(ref);
  if (!keep) {
    if (opts.dry_run) return cur;
    return CommitLocked(coll, EventType::kDeleted, cur, nullptr);
  }
  if (api::Has(cur, {"metadata", "deletionTimestamp"})) return cur;
  Json next = cur;
  next["metadata"]["deletionTimestamp"] = api::FormatTime(clock_.Now());
  if (is_ns) {
    api::Ensure(next, "status")["phase"] = "Terminating";
  } else {
    next["metadata"]["deletionGracePeriodSeconds"] = 0;
  }
  if (opts.dry_run) return next;
  return CommitLocked(coll, EventType::kModified, std::move(next), &cur);
}

StatusOr<Json> FakeClient::DeleteCollection(const ResourceRef& ref,
                                            const ListOptions& list_opts,
                                            const DeleteOptions& opts) {
  KITE_RETURN_IF_ERROR(CheckInjected("deletecollection", ref));
  Record({"deletecollection", ref, "", "", opts.propagation_policy});
  KITE_ASSIGN_OR_RETURN(
      Filter filter,
      Filter::Make(ref.ns, list_opts.label_selector, list_opts.field_selector));
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::pair<std::string, std::string>> keys;
  std::string kind;
  auto c = collections_.find(CollectionKey(ref));
  if (c != collections_.end()) {
    kind = c->second.kind;
    for (const auto& [key, obj] : c->second.objects) {
      if (filter.Matches(obj)) keys.push_back(key);
    }
  }
  Json items = Json::array();
  for (const auto& [ns, name] : keys) {
    StatusOr<Json> r = DeleteLocked(ref, ns, name, opts);
    if (r.ok()) {
      items.push_back(std::move(r).value());
    } else if (r.status().code() != Code::kNotFound) {
      return r.status();
    }
  }
  return Json{{"kind", kind.empty() ? "List" : kind + "List"},
              {"apiVersion", ref.ApiVersion()},
              {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
              {"items", std::move(items)}};
}

StatusOr<RawResponse> FakeClient::Do(const RawRequest& req) {
  std::function<RawResponse(const RawRequest&)> handler;
  {
    std::lock_guard<std::mutex> l(mu_);
    actions_.push_back({"do", ResourceRef{}, req.path, ""});
    handler = raw_handler_;
  }
  if (handler) return handler(req);
  RawResponse res;
  res.code = 404;
  res.content_type = "application/json";
  res.body = StatusToApiStatus(NotFoundError("the server could not find the "
                                             "requested resource"))
                 .dump();
  return res;
}

void FakeClient::InjectError(std::string verb, std::string resource,
                             Status status, int times) {
  std::lock_guard<std::mutex> l(mu_);
  injected_.push_back(
      {std::move(verb), std::move(resource), std::move(status), times});
}

void FakeClient::ClearInjectedErrors() {
  std::lock_guard<std::mutex> l(mu_);
  injected_.clear();
}

std::vector<FakeClient::Action> FakeClient::Actions() const {
  std::lock_guard<std::mutex> l(mu_);
  return actions_;
}

void FakeClient::ClearActions() {
  std::lock_guard<std::mutex> l(mu_);
  actions_.clear();
}

int64_t FakeClient::ResourceVersion() const {
  std::lock_guard<std::mutex> l(mu_);
  return rv_;
}

void FakeClient::Compact() {
  std::lock_guard<std::mutex> l(mu_);
  compacted_rv_ = rv_;
  history_.clear();
}

void FakeClient::CloseWatches() {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& w : watches_) w->Close();
  watches_.clear();
}

void FakeClient::SendBookmarks() {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& w : watches_) {
    if (!w->bookmarks) continue;
    Json obj = {{"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
    w->Push({EventType::kBookmark, std::move(obj)});
  }
}

int FakeClient::OpenWatches() const {
  std::lock_guard<std::mutex> l(mu_);
  int n = 0;
  for (const auto& w : watches_) n += w->Open() ? 1 : 0;
  return n;
}

void FakeClient::SetRawHandler(
    std::function<RawResponse(const RawRequest&)> handler) {
  std::lock_guard<std::mutex> l(mu_);
  raw_handler_ = std::move(handler);
}

}  // namespace kite::client
