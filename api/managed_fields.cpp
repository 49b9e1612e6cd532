#include "api/managed_fields.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "api/patch.h"

namespace kite::api {
namespace {

using Json = nlohmann::json;
using Path = FieldSet::Path;

constexpr char kLastAppliedAnnotation[] =
    "kubectl.kubernetes.io/last-applied-configuration";
constexpr char kApply[] = "Apply";
constexpr char kUpdate[] = "Update";
constexpr std::size_t kMaxUpdateManagers = 10;

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// `j` with integral floats turned into integers, so 80 and 80.0 serialize
// alike (both are float64 80 to Kubernetes).
Json Canonical(const Json& j) {
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return static_cast<int64_t>(d);
    }
    return j;
  }
  if (j.is_object()) {
    Json out = Json::object();
    for (const auto& [k, v] : j.items()) out[k] = Canonical(v);
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const auto& v : j) out.push_back(Canonical(v));
    return out;
  }
  return j;
}
std::string CanonicalDump(const Json& j) { return Dump(Canonical(j)); }

std::string FieldElement(std::string_view name) {
  return "f:" + std::string(name);
}

Status TooDeep() {
  return InvalidArgumentError("object is nested deeper than " +
                              std::to_string(kMaxPatchDepth) + " levels");
}

}  // namespace

// ---------------------------------------------------------------- FieldSet

namespace {

Status ParseFields(const Json& j, FieldSet* out, int depth) {
  if (depth > kMaxPatchDepth) return TooDeep();
  if (!j.is_object())
    return InvalidArgumentError("fieldsV1 values must be objects, got " +
                                Dump(j));
  for (const auto& [key, value] : j.items()) {
    if (key == ".") {
      out->set_member(true);
      continue;
    }
    if (key.size() < 2 || key[1] != ':') {
      return InvalidArgumentError("unknown path element type in fieldsV1: " +
                                  key);
    }
    std::string body = key.substr(2);
    std::string element;
    switch (key[0]) {
      case 'f':
        element = key;
        break;
      case 'k':
      case 'v': {
        Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (parsed.is_discarded() || (key[0] == 'k' && !parsed.is_object())) {
          return InvalidArgumentError("malformed path element in fieldsV1: " +
                                      key);
        }
        element = std::string(1, key[0]) + ":" + CanonicalDump(parsed);
        break;
      }
      case 'i': {
        if (body.empty() || body.size() > 9 ||
            !std::all_of(body.begin(), body.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
          return InvalidArgumentError("malformed path element in fieldsV1: " +
                                      key);
        }
        element = "i:" + std::to_string(std::stol(body));
        break;
      }
      default:
        return InvalidArgumentError("unknown path element type in fieldsV1: " +
                                    key);
    }
    FieldSet& child = out->MutableChild(element);
    KITE_RETURN_IF_ERROR(ParseFields(value, &child, depth + 1));
    if (value.is_object() && value.empty()) child.set_member(true);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<FieldSet> FieldSet::FromFieldsV1(const Json& fields) {
  try {
    FieldSet out;
    KITE_RETURN_IF_ERROR(ParseFields(fields, &out, 0));
    out.member_ = false;  // the root is not a field
    out.Prune();
    return out;
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("malformed fieldsV1: ") + e.what());
  }
}

Json FieldSet::ToFieldsV1() const {
  Json out = Json::object();
  if (member_ && !children_.empty()) out["."] = Json::object();
  for (const auto& [element, child] : children_)
    out[element] = child.ToFieldsV1();
  return out;
}

bool FieldSet::Has(const Path& path) const {
  const FieldSet* n = this;
  for (const auto& e : path) {
    n = n->Child(e);
    if (!n) return false;
  }
  return n->member_;
}

void FieldSet::Insert(const Path& path) {
  FieldSet* n = this;
  for (const auto& e : path) n = &n->children_[e];
  n->member_ = true;
}

void FieldSet::Add(const FieldSet& other) {
  member_ = member_ || other.member_;
  for (const auto& [e, c] : other.children_) children_[e].Add(c);
}

void FieldSet::Remove(const FieldSet& other) {
  if (other.member_) member_ = false;
  for (const auto& [e, c] : other.children_) {
    auto it = children_.find(e);
    if (it == children_.end()) continue;
    it->second.Remove(c);
    if (it->second.empty()) children_.erase(it);
  }
}

void FieldSet::RemoveSubtree(const Path& path) {
  if (path.empty()) {
    *this = FieldSet();
    return;
  }
  FieldSet* n = this;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    auto it = n->children_.find(path[i]);
    if (it == n->children_.end()) return;
    n = &it->second;
  }
  n->children_.erase(path.back());
  Prune();
}

FieldSet FieldSet::Intersect(const FieldSet& other) const {
  FieldSet out;
  out.member_ = member_ && other.member_;
  for (const auto& [e, c] : children_) {
    const FieldSet* o = other.Child(e);
    if (!o) continue;
    FieldSet i = c.Intersect(*o);
    if (!i.empty()) out.children_.emplace(e, std::move(i));
  }
  return out;
}

std::vector<Path> FieldSet::Members() const {
  std::vector<Path> out;
  Path path;
  struct Walk {
    static void Run(const FieldSet& s, Path& path, std::vector<Path>& out) {
      if (s.member_) out.push_back(path);
      for (const auto& [e, c] : s.children_) {
        path.push_back(e);
        Run(c, path, out);
        path.pop_back();
      }
    }
  };
  Walk::Run(*this, path, out);
  return out;
}

const FieldSet* FieldSet::Child(const std::string& element) const {
  auto it = children_.find(element);
  return it == children_.end() ? nullptr : &it->second;
}

void FieldSet::Prune() {
  for (auto it = children_.begin(); it != children_.end();) {
    it->second.Prune();
    it = it->second.empty() ? children_.erase(it) : std::next(it);
  }
}

std::string FieldSet::PathString(const Path& path) {
  std::string out;
  for (const auto& e : path) {
    if (e.size() < 2) continue;
    std::string body = e.substr(2);
    switch (e[0]) {
      case 'f':
        out += "." + body;
        break;
      case 'k': {
        Json key = Json::parse(body, nullptr, false);
        if (!key.is_object()) {
          out += "[" + body + "]";
          break;
        }
        out += "[";
        bool first = true;
        for (const auto& [k, v] : key.items()) {
          if (!first) out += ",";
          first = false;
          out += k + "=" + Dump(v);
        }
        out += "]";
        break;
      }
      case 'v':
        out += "[=" + body + "]";
        break;
      default:
        out += "[" + body + "]";
        break;
    }
  }
  return out;
}

// ------------------------------------------------------------ object walks

namespace {

// `v` without null object members (Kubernetes drops them when it decodes).
Json DropNulls(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (const auto& [k, c] : v.items()) {
      if (!c.is_null()) out[k] = DropNulls(c);
    }
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& c : v) out.push_back(DropNulls(c));
    return out;
  }
  return v;
}

// The path element of element `index` of a list merged as `list` says
// (kSet or kMap). Lenient mode falls back to the position for an element
// that cannot be keyed; strict mode (applied configurations) refuses it.
StatusOr<std::string> ItemElement(const Json& item, const FieldSchema& list,
                                  std::size_t index, bool strict,
                                  const Path& path) {
  // (Null members are dropped when the value is stored, so they never count.)
  if (list.list_type == ListType::kSet)
    return "v:" + CanonicalDump(DropNulls(item));
  auto fail = [&](const std::string& why) -> StatusOr<std::string> {
    if (!strict) return "i:" + std::to_string(index);
    return InvalidArgumentError(FieldSet::PathString(path) + ": element " +
                                std::to_string(index) + ": " + why);
  };
  if (!item.is_object())
    return fail("expected an object in a keyed list, got " + Dump(item));
  Json key = Json::object();
  for (const auto& k : list.list_map_keys) {
    auto it = item.find(k);
    if (it != item.end() && !it->is_null()) {
      key[k] = *it;
      continue;
    }
    auto d = list.key_defaults.find(k);
    if (d == list.key_defaults.end()) {
      return fail(
          "associative list with keys has an element that omits key field \"" +
          k + "\" (and doesn't have default value)");
    }
    key[k] = d->second;
  }
  return "k:" + CanonicalDump(key);
}

bool Granular(const FieldSchema* s, const Json& v) {
  return v.is_array() && s && s->list_type != ListType::kAtomic;
}

// Every field of `v` (Kubernetes' ToFieldSet): scalars, null and empty
// objects, atomic lists and maps, and list elements are members; non-empty
// objects only hold their children.
Status CollectFields(const Json& v, const FieldSchema* s, FieldSet& node,
                     Path& path, bool strict, int depth) {
  if (depth > kMaxPatchDepth + 1) return TooDeep();
  if (v.is_object()) {
    if (s && s->atomic_map) {
      node.set_member(true);
      return Status::Ok();
    }
    for (const auto& [k, c] : v.items()) {
      std::string e = FieldElement(k);
      FieldSet& child = node.MutableChild(e);
      path.push_back(e);
      KITE_RETURN_IF_ERROR(CollectFields(c, s ? s->Child(k) : nullptr, child,
                                         path, strict, depth + 1));
      path.pop_back();
      if (c.is_null() || (c.is_object() && c.empty())) child.set_member(true);
    }
    return Status::Ok();
  }
  if (Granular(s, v)) {
    std::vector<std::string> elements;
    std::unordered_map<std::string, int> count;
    for (std::size_t i = 0; i < v.size(); ++i) {
      KITE_ASSIGN_OR_RETURN(std::string e,
                            ItemElement(v[i], *s, i, strict, path));
      if (++count[e] > 1 && strict) {
        return InvalidArgumentError(FieldSet::PathString(path) +
                                    ": duplicate entries for key " +
                                    FieldSet::PathString({e}));
      }
      elements.push_back(std::move(e));
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      FieldSet& child = node.MutableChild(elements[i]);
      child.set_member(true);
      if (count[elements[i]] > 1) continue;  // duplicates are owned whole
      path.push_back(elements[i]);
      KITE_RETURN_IF_ERROR(
          CollectFields(v[i], s, child, path, strict, depth + 1));
      path.pop_back();
    }
    return Status::Ok();
  }
  node.set_member(true);
  return Status::Ok();
}

StatusOr<FieldSet> FieldsOf(const Json& v, const FieldSchema* s, bool strict) {
  FieldSet out;
  Path path;
  KITE_RETURN_IF_ERROR(CollectFields(v, s, out, path, strict, 0));
  out.set_member(false);
  out.Prune();  // empty keyed lists leave empty nodes behind
  return out;
}

// Adds `sub` to `set` at `path`.
void Graft(FieldSet& set, const Path& path, const FieldSet& sub) {
  if (sub.empty()) return;
  FieldSet* n = &set;
  for (const auto& e : path) n = &n->MutableChild(e);
  n->Add(sub);
}

struct Comparison {
  FieldSet added;
  FieldSet modified;
  FieldSet removed;
};

// The subtree `v` at `path` as one side of a comparison.
Status GraftValue(FieldSet& set, const Path& path, const Json& v,
                  const FieldSchema* s, int depth) {
  FieldSet sub;
  Path inner = path;
  KITE_RETURN_IF_ERROR(CollectFields(v, s, sub, inner, false, depth));
  if (!path.empty() && path.back()[0] != 'f')
    sub.set_member(true);  // a list element
  Graft(set, path, sub);
  return Status::Ok();
}

Status CompareValues(const Json* l, const Json* r, const FieldSchema* s,
                     Path& path, Comparison& out, int depth) {
  if (depth > kMaxPatchDepth + 1) return TooDeep();
  if (!l && !r) return Status::Ok();
  if (!l) return GraftValue(out.added, path, *r, s, depth);
  if (!r) return GraftValue(out.removed, path, *l, s, depth);
  bool both_empty =
      l->is_structured() && r->is_structured() && l->empty() && r->empty();
  if (l->is_object() && r->is_object() && !(s && s->atomic_map) &&
      !both_empty) {
    for (const auto& [k, lv] : l->items()) {
      auto rv = r->find(k);
      path.push_back(FieldElement(k));
      KITE_RETURN_IF_ERROR(CompareValues(&lv, rv == r->end() ? nullptr : &*rv,
                                         s ? s->Child(k) : nullptr, path, out,
                                         depth + 1));
      path.pop_back();
    }
    for (const auto& [k, rv] : r->items()) {
      if (l->contains(k)) continue;
      path.push_back(FieldElement(k));
      KITE_RETURN_IF_ERROR(CompareValues(
          nullptr, &rv, s ? s->Child(k) : nullptr, path, out, depth + 1));
      path.pop_back();
    }
    return Status::Ok();
  }
  if (l->is_array() && r->is_array() && Granular(s, *l) && !both_empty) {
    struct Items {
      std::vector<std::string> order;
      std::unordered_map<std::string, std::vector<const Json*>> by;
    };
    auto index = [&](const Json& list, Items& items) -> Status {
      for (std::size_t i = 0; i < list.size(); ++i) {
        KITE_ASSIGN_OR_RETURN(std::string e,
                              ItemElement(list[i], *s, i, false, path));
        auto& slot = items.by[e];
        if (slot.empty()) items.order.push_back(e);
        slot.push_back(&list[i]);
      }
      return Status::Ok();
    };
    Items li, ri;
    KITE_RETURN_IF_ERROR(index(*l, li));
    KITE_RETURN_IF_ERROR(index(*r, ri));
    std::vector<std::string> all = li.order;
    for (const auto& e : ri.order) {
      if (!li.by.count(e)) all.push_back(e);
    }
    for (const auto& e : all) {
      auto lit = li.by.find(e);
      auto rit = ri.by.find(e);
      std::size_t ln = lit == li.by.end() ? 0 : lit->second.size();
      std::size_t rn = rit == ri.by.end() ? 0 : rit->second.size();
      path.push_back(e);
      if (ln <= 1 && rn <= 1) {
        KITE_RETURN_IF_ERROR(CompareValues(ln ? lit->second[0] : nullptr,
                                           rn ? rit->second[0] : nullptr, s,
                                           path, out, depth + 1));
      } else if (ln >= 2 && rn >= 2) {
        bool same = ln == rn;
        for (std::size_t i = 0; same && i < ln; ++i)
          same = *lit->second[i] == *rit->second[i];
        if (!same) out.modified.Insert(path);
      } else if (ln >= 2) {
        out.removed.Insert(path);
        if (rn)
          KITE_RETURN_IF_ERROR(
              GraftValue(out.added, path, *rit->second[0], s, depth + 1));
      } else {
        out.added.Insert(path);
        if (ln)
          KITE_RETURN_IF_ERROR(
              GraftValue(out.removed, path, *lit->second[0], s, depth + 1));
      }
      path.pop_back();
    }
    return Status::Ok();
  }
  if (*l != *r) out.modified.Insert(path);
  return Status::Ok();
}

StatusOr<Comparison> Compare(const Json& l, const Json& r,
                             const FieldSchema* s) {
  Comparison out;
  Path path;
  KITE_RETURN_IF_ERROR(CompareValues(&l, &r, s, path, out, 0));
  return out;
}

Json MergeApply(const Json& l, const Json& r, const FieldSchema* s);

// Merges keyed or set list `r` into `l`: elements of `l` that `r` lacks keep
// their place, shared elements follow `r`'s order, new ones come where `r`
// puts them.
Json MergeList(const Json& l, const Json& r, const FieldSchema& s) {
  std::vector<std::string> lpe, rpe;
  Path none;
  for (std::size_t i = 0; i < l.size(); ++i)
    lpe.push_back(*ItemElement(l[i], s, i, false, none));
  for (std::size_t i = 0; i < r.size(); ++i)
    rpe.push_back(*ItemElement(r[i], s, i, false, none));
  std::unordered_map<std::string, std::size_t> lfirst, rindex;
  for (std::size_t i = 0; i < lpe.size(); ++i) lfirst.emplace(lpe[i], i);
  for (std::size_t i = 0; i < rpe.size(); ++i) rindex.emplace(rpe[i], i);
  std::vector<std::string> shared;
  for (const auto& e : rpe) {
    if (lfirst.count(e)) shared.push_back(e);
  }
  std::size_t next_shared = 0;
  std::set<std::string> emitted;
  Json out = Json::array();
  auto emit_r = [&](std::size_t ri) {
    const std::string& e = rpe[ri];
    emitted.insert(e);
    auto lf = lfirst.find(e);
    out.push_back(lf == lfirst.end() ? DropNulls(r[ri])
                                     : MergeApply(l[lf->second], r[ri], &s));
    if (next_shared < shared.size() && shared[next_shared] == e) ++next_shared;
  };
  std::size_t li = 0, ri = 0;
  while (li < l.size() || ri < r.size()) {
    if (li < l.size() && ri < r.size()) {
      if (lpe[li] == rpe[ri]) {
        emit_r(ri);
        ++li;
        ++ri;
        continue;
      }
      if (rindex.count(lpe[li]) && next_shared < shared.size() &&
          shared[next_shared] != lpe[li]) {
        ++li;
        continue;
      }
    }
    if (li < l.size()) {
      if (!rindex.count(lpe[li])) {
        out.push_back(l[li]);
        ++li;
        continue;
      }
      if (emitted.count(lpe[li])) ++li;
    }
    if (ri < r.size()) {
      emit_r(ri);
      ++ri;
    }
  }
  return out;
}

// Server-side apply's merge: `r` (the applied configuration) wins; maps merge
// key by key unless atomic; keyed lists and sets merge by element.
Json MergeApply(const Json& l, const Json& r, const FieldSchema* s) {
  if (l.is_object() && r.is_object() && !(s && s->atomic_map)) {
    Json out = l;
    for (const auto& [k, rv] : r.items()) {
      if (rv.is_null()) {
        out.erase(k);
        continue;
      }
      auto it = out.find(k);
      if (it == out.end()) {
        out[k] = DropNulls(rv);
      } else {
        *it = MergeApply(*it, rv, s ? s->Child(k) : nullptr);
      }
    }
    return out;
  }
  if (l.is_array() && r.is_array() && Granular(s, r))
    return MergeList(l, r, *s);
  return DropNulls(r);
}

bool EmptyContainer(const Json& v) { return v.is_structured() && v.empty(); }

// Removes from `v` the members of `gone`, except those `keep` still owns
// something under. Maps and lists the removal empties are removed too.
void RemoveFields(Json& v, const FieldSet& gone, const FieldSet* keep,
                  const FieldSchema* s) {
  if (v.is_object()) {
    for (const auto& [e, g] : gone.children()) {
      if (e[0] != 'f') continue;
      const FieldSet* k = keep ? keep->Child(e) : nullptr;
      std::string name = e.substr(2);
      auto it = v.find(name);
      if (it == v.end()) continue;
      if (g.member() && (!k || k->empty())) {
        v.erase(it);
        continue;
      }
      bool had = !EmptyContainer(*it);
      RemoveFields(*it, g, k, s ? s->Child(name) : nullptr);
      if (had && EmptyContainer(*it)) v.erase(name);
    }
    return;
  }
  if (!v.is_array() || !s || s->list_type == ListType::kAtomic) return;
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < v.size(); ++i) {
    Path none;
    auto pe = ItemElement(v[i], *s, i, false, none);
    if (pe.ok()) index.emplace(*pe, i);
  }
  std::vector<std::size_t> doomed;
  for (const auto& [e, g] : gone.children()) {
    auto found = index.find(e);
    if (found == index.end()) continue;
    std::size_t i = found->second;
    const FieldSet* k = keep ? keep->Child(e) : nullptr;
    if (g.member() && (!k || k->empty())) {
      doomed.push_back(i);
      continue;
    }
    bool had = !EmptyContainer(v[i]);
    RemoveFields(v[i], g, k, s);
    if (had && EmptyContainer(v[i])) doomed.push_back(i);
  }
  std::sort(doomed.rbegin(), doomed.rend());
  for (std::size_t i : doomed) v.erase(i);
}

// ------------------------------------------------------------ managedFields

struct Entry {
  std::string manager;
  std::string operation;
  std::string api_version;
  std::string subresource;
  std::string time;  // empty: none recorded
  FieldSet fields;
};

bool SameManager(const Entry& e, const std::string& manager,
                 const std::string& operation, const std::string& api_version,
                 const std::string& subresource) {
  if (e.manager != manager || e.operation != operation ||
      e.subresource != subresource) {
    return false;
  }
  return operation == kApply ||
         e.api_version == api_version;  // Apply ignores the version
}

std::string StringField(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>()
                                            : std::string();
}

StatusOr<std::vector<Entry>> DecodeManagedFields(const Json& mf) {
  std::vector<Entry> out;
  if (mf.is_null()) return out;
  if (!mf.is_array())
    return InvalidArgumentError("metadata.managedFields must be a list");
  for (std::size_t i = 0; i < mf.size(); ++i) {
    const Json& j = mf[i];
    std::string where = "managed fields entry " + std::to_string(i);
    if (!j.is_object())
      return InvalidArgumentError(where + " is not an object");
    Entry e;
    e.manager = StringField(j, "manager");
    e.operation = StringField(j, "operation");
    e.api_version = StringField(j, "apiVersion");
    e.subresource = StringField(j, "subresource");
    e.time = StringField(j, "time");
    if (e.operation != kApply && e.operation != kUpdate) {
      return InvalidArgumentError(where +
                                  ": operation must be `Apply` or `Update`");
    }
    if (e.api_version.empty())
      return InvalidArgumentError(where + ": apiVersion must not be empty");
    std::string type = StringField(j, "fieldsType");
    if (type.empty())
      return InvalidArgumentError("missing fieldsType in " + where);
    if (type != "FieldsV1") {
      return InvalidArgumentError("invalid fieldsType \"" + type + "\" in " +
                                  where);
    }
    if (auto f = j.find("fieldsV1"); f != j.end() && !f->is_null()) {
      auto parsed = FieldSet::FromFieldsV1(*f);
      if (!parsed.ok())
        return InvalidArgumentError(where + ": " + parsed.status().message());
      e.fields = std::move(*parsed);
    }
    auto same = std::find_if(out.begin(), out.end(), [&](const Entry& o) {
      return SameManager(o, e.manager, e.operation, e.api_version,
                         e.subresource);
    });
    if (same != out.end()) {
      *same = std::move(e);
    } else {
      out.push_back(std::move(e));
    }
  }
  return out;
}

Json EncodeManagedFields(std::vector<Entry> entries) {
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [](const Entry& e) { return e.fields.empty(); }),
                entries.end());
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.operation, a.time, a.manager, a.api_version,
                    a.subresource) < std::tie(b.operation, b.time, b.manager,
                                              b.api_version, b.subresource);
  });
  Json out = Json::array();
  for (const Entry& e : entries) {
    Json j = {{"manager", e.manager},
              {"operation", e.operation},
              {"apiVersion", e.api_version},
              {"fieldsType", "FieldsV1"},
              {"fieldsV1", e.fields.ToFieldsV1()}};
    if (!e.time.empty()) j["time"] = e.time;
    if (!e.subresource.empty()) j["subresource"] = e.subresource;
    out.push_back(std::move(j));
  }
  return out;
}

// Removes metadata.managedFields from `obj` and returns it (null if absent).
Json TakeManagedFields(Json& obj) {
  if (!obj.is_object()) return nullptr;
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return nullptr;
  auto it = md->find("managedFields");
  if (it == md->end()) return nullptr;
  Json mf = std::move(*it);
  md->erase(it);
  return mf;
}

void PutManagedFields(Json& obj, const std::vector<Entry>& entries) {
  Json mf = EncodeManagedFields(entries);
  if (mf.empty() || !obj.is_object()) return;
  auto md = obj.find("metadata");
  if (md != obj.end() && !md->is_object() && !md->is_null())
    return;  // malformed; left as is
  if (md == obj.end() || md->is_null()) obj["metadata"] = Json::object();
  obj["metadata"]["managedFields"] = std::move(mf);
}

// Fields the server sets itself; never owned (Kubernetes' stripMeta).
void StripServerFields(FieldSet& set) {
  FieldSet strip;
  strip.Insert({"f:apiVersion"});
  strip.Insert({"f:kind"});
  strip.Insert({"f:metadata"});
  for (const char* f :
       {"name", "namespace", "creationTimestamp", "selfLink", "uid",
        "clusterName", "generation", "managedFields", "resourceVersion"}) {
    strip.Insert({"f:metadata", FieldElement(f)});
  }
  set.Remove(strip);
}

void RemoveIgnored(FieldSet& set, const FieldManagerOptions& options) {
  for (const auto& dotted : options.ignored_fields) {
    Path path;
    std::size_t start = 0;
    while (start <= dotted.size()) {
      std::size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      if (dot > start)
        path.push_back(FieldElement(dotted.substr(start, dot - start)));
      start = dot + 1;
    }
    if (!path.empty()) set.RemoveSubtree(path);
  }
}

void RemoveIgnored(Comparison& c, const FieldManagerOptions& options) {
  RemoveIgnored(c.added, options);
  RemoveIgnored(c.modified, options);
  RemoveIgnored(c.removed, options);
}

// How Kubernetes names a manager in conflict messages.
std::string PrintManager(const Entry& e) {
  std::string out = Dump(Json(e.manager));
  if (!e.subresource.empty())
    out += " with subresource " + Dump(Json(e.subresource));
  if (e.operation == kUpdate) out += " using " + e.api_version;
  return out;
}

// Fields the last-applied annotation set that still hold the value it set:
// the manager "kubectl" may take these over from client-side apply.
FieldSet AllowedFromLastApplied(const Json& live,
                                const FieldManagerOptions& options,
                                const FieldSchema* schema) {
  const Json* md = live.is_object() && live.contains("metadata")
                       ? &live["metadata"]
                       : nullptr;
  if (!md || !md->is_object() || !md->contains("annotations")) return {};
  const Json& ann = (*md)["annotations"];
  if (!ann.is_object()) return {};
  auto it = ann.find(kLastAppliedAnnotation);
  if (it == ann.end() || !it->is_string() || it->get<std::string>().empty())
    return {};
  Json last = Json::parse(it->get<std::string>(), nullptr, false);
  if (last.is_discarded() || !last.is_object() || !CheckDepth(last).ok())
    return {};
  if (!options.api_version.empty() &&
      StringField(last, "apiVersion") != options.api_version) {
    return {};
  }
  auto set = FieldsOf(last, schema, false);
  auto cmp = Compare(last, live, schema);
  if (!set.ok() || !cmp.ok()) return {};
  set->Remove(cmp->modified);
  set->Remove(cmp->added);
  set->Remove(cmp->removed);
  return std::move(*set);
}

// Keeps at most kMaxUpdateManagers Update entries: the oldest ones merge,
// per API version, into "ancient-changes".
void CapUpdateManagers(std::vector<Entry>& entries) {
  std::vector<std::size_t> updaters;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].operation == kUpdate) updaters.push_back(i);
  }
  if (updaters.size() <= kMaxUpdateManagers) return;
  std::sort(updaters.begin(), updaters.end(),
            [&](std::size_t a, std::size_t b) {
              return std::tie(entries[a].time, entries[a].manager) <
                     std::tie(entries[b].time, entries[b].manager);
            });
  const std::string bucket_name = "ancient-changes";
  std::map<std::string, std::size_t> first_of_version;
  std::vector<bool> dropped(entries.size(), false);
  std::size_t count = updaters.size();
  for (std::size_t idx : updaters) {
    if (count <= kMaxUpdateManagers) break;
    const std::string version = entries[idx].api_version;
    auto first = first_of_version.find(version);
    if (first == first_of_version.end()) {
      first_of_version.emplace(version, idx);
      continue;
    }
    std::size_t bucket = entries.size();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (!dropped[i] &&
          SameManager(entries[i], bucket_name, kUpdate, version, ""))
        bucket = i;
    }
    if (bucket ==
        entries
            .size()) {  // the first manager of this version becomes the bucket
      bucket = first->second;
      entries[bucket].manager = bucket_name;
      entries[bucket].subresource.clear();
    }
    entries[bucket].fields.Add(entries[idx].fields);
    entries[bucket].time = entries[idx].time;
    dropped[idx] = true;
    --count;
  }
  std::vector<Entry> kept;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!dropped[i]) kept.push_back(std::move(entries[i]));
  }
  entries = std::move(kept);
}

std::size_t FindOrAdd(std::vector<Entry>& entries, const std::string& manager,
                      const std::string& operation,
                      const FieldManagerOptions& options) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (SameManager(entries[i], manager, operation, options.api_version,
                    options.subresource)) {
      return i;
    }
  }
  entries.push_back(
      {manager, operation, options.api_version, options.subresource, "", {}});
  return entries.size() - 1;
}

StatusOr<ApplyResult> ApplyImpl(const Json* live, const Json& config,
                                const FieldManagerOptions& options, bool force,
                                const PatchMeta& meta,
                                std::vector<ApplyConflict>* conflicts) {
  if (options.manager.empty()) {
    return InvalidArgumentError(
        "fieldManager: Required value: is required for apply patch");
  }
  if (!config.is_object())
    return InvalidArgumentError("the applied configuration must be an object");
  KITE_RETURN_IF_ERROR(CheckDepth(config));
  if (live) KITE_RETURN_IF_ERROR(CheckDepth(*live));
  if (auto md = config.find("metadata");
      md != config.end() && !md->is_object()) {
    return InvalidArgumentError("metadata must be an object");
  } else if (md != config.end()) {
    auto mf = md->find("managedFields");
    if (mf != md->end() && !mf->is_null()) {
      return InvalidArgumentError("metadata.managedFields must be nil");
    }
  }
  const std::string api_version = StringField(config, "apiVersion");
  if (!options.api_version.empty() && api_version != options.api_version) {
    return InvalidArgumentError(
        "Incorrect version specified in apply patch. Specified patch "
        "version: " +
        api_version + ", expected: " + options.api_version);
  }
  if (!options.kind.empty() && StringField(config, "kind") != options.kind) {
    return InvalidArgumentError("invalid object type: " + api_version +
                                ", Kind=" + StringField(config, "kind"));
  }
  const FieldSchema* schema = meta.root();

  Json live_body = live ? *live : Json::object();
  if (!live_body.is_object())
    return InvalidArgumentError("the live object is not an object");
  auto decoded = DecodeManagedFields(TakeManagedFields(live_body));
  if (!decoded.ok()) {
    return InvalidArgumentError("failed to decode managed fields: " +
                                decoded.status().message());
  }
  std::vector<Entry> managers = std::move(*decoded);
  if (live && managers.empty()) {
    // An object nobody tracked yet: its fields belong to "before-first-apply".
    KITE_ASSIGN_OR_RETURN(FieldSet all, FieldsOf(live_body, schema, false));
    RemoveIgnored(all, options);
    StripServerFields(all);
    if (!all.empty()) {
      managers.push_back({"before-first-apply", kUpdate, options.api_version,
                          options.subresource, options.now, std::move(all)});
    }
  }

  KITE_ASSIGN_OR_RETURN(FieldSet applied, FieldsOf(config, schema, true));
  RemoveIgnored(applied, options);
  const std::size_t self =
      FindOrAdd(managers, options.manager, kApply, options);
  const FieldSet last = managers[self].fields;

  Json merged = MergeApply(live_body, config, schema);
  FieldSet owned = applied;
  for (std::size_t i = 0; i < managers.size(); ++i) {
    if (i != self) owned.Add(managers[i].fields);
  }
  if (!last.empty()) {
    FieldSet gone = last;
    gone.Remove(owned);
    if (!gone.empty()) RemoveFields(merged, gone, &owned, schema);
  }
  KITE_ASSIGN_OR_RETURN(Comparison cmp, Compare(live_body, merged, schema));
  RemoveIgnored(cmp, options);
  FieldSet changes = cmp.added;
  changes.Add(cmp.modified);

  std::vector<FieldSet> clashes(managers.size());
  bool any = false;
  for (std::size_t i = 0; i < managers.size(); ++i) {
    if (i == self) continue;
    clashes[i] = managers[i].fields.Intersect(changes);
    any = any || !clashes[i].empty();
  }
  if (any && !force) {
    std::vector<FieldSet> remaining = clashes;
    if (options.manager == "kubectl") {
      FieldSet allowed = AllowedFromLastApplied(live_body, options, schema);
      for (auto& c : remaining) c.Remove(allowed);
    }
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < managers.size(); ++i) {
      if (!remaining[i].empty()) order.push_back(i);
    }
    if (order.empty()) {
      force = true;  // every conflict was with fields last applied by
                     // client-side apply
    } else {
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return std::tie(managers[a].manager, managers[a].operation,
                        managers[a].api_version) <
               std::tie(managers[b].manager, managers[b].operation,
                        managers[b].api_version);
      });
      std::vector<ApplyConflict> causes;
      std::string details;
      for (std::size_t i : order) {
        std::string who = PrintManager(managers[i]);
        details += (details.empty() ? "" : "\n") +
                   std::string("conflicts with ") + who + ":";
        for (const Path& p : remaining[i].Members()) {
          std::string field = FieldSet::PathString(p);
          causes.push_back({"conflict with " + who, field});
          details += "\n- " + field;
        }
      }
      std::string message;
      if (causes.size() == 1) {
        message = "Apply failed with 1 conflict: " + causes[0].message + ": " +
                  causes[0].field;
      } else {
        message = "Apply failed with " + std::to_string(causes.size()) +
                  " conflicts: " + details;
      }
      if (conflicts) *conflicts = std::move(causes);
      return ConflictError(message);
    }
  }

  for (std::size_t i = 0; i < managers.size(); ++i) {
    if (i == self) continue;
    if (force) managers[i].fields.Remove(clashes[i]);
    managers[i].fields.Remove(cmp.removed);
  }
  if (options.manager == "kubectl") {
    // Kubernetes keeps the client-side-apply annotation in step (after the
    // conflict check: the annotation is not the applier's field).
    Json* ann = nullptr;
    if (merged.contains("metadata") && merged["metadata"].is_object() &&
        merged["metadata"].contains("annotations") &&
        merged["metadata"]["annotations"].is_object()) {
      ann = &merged["metadata"]["annotations"];
    }
    if (ann && ann->contains(kLastAppliedAnnotation) &&
        (*ann)[kLastAppliedAnnotation].is_string() &&
        !(*ann)[kLastAppliedAnnotation].get<std::string>().empty()) {
      Json value = config;
      if (value.contains("metadata") && value["metadata"].is_object() &&
          value["metadata"].contains("annotations") &&
          value["metadata"]["annotations"].is_object()) {
        value["metadata"]["annotations"].erase(kLastAppliedAnnotation);
      }
      (*ann)[kLastAppliedAnnotation] = Dump(value) + "\n";
    }
  }

  StripServerFields(applied);
  managers[self].fields = std::move(applied);
  managers[self].api_version =
      options.api_version.empty() ? api_version : options.api_version;
  ApplyResult result;
  result.changed = merged != live_body;
  if (result.changed) managers[self].time = options.now;
  result.object = std::move(merged);
  PutManagedFields(result.object, managers);
  return result;
}

StatusOr<Json> UpdateImpl(const Json* old, const Json& updated,
                          const FieldManagerOptions& options,
                          const PatchMeta& meta) {
  if (!updated.is_object())
    return InvalidArgumentError("the object must be a JSON object");
  KITE_RETURN_IF_ERROR(CheckDepth(updated));
  if (old) KITE_RETURN_IF_ERROR(CheckDepth(*old));
  Json body = updated;
  Json sent = TakeManagedFields(body);
  Json old_body = old && old->is_object() ? *old : Json::object();
  Json old_mf = TakeManagedFields(old_body);

  std::vector<Entry> managers;
  bool from_request = false;
  if (options.subresource.empty() && sent.is_array()) {
    if (sent.empty() ||
        (sent.size() == 1 && sent[0].is_object() && sent[0].empty())) {
      from_request = true;  // the client reset tracking
    } else if (auto d = DecodeManagedFields(sent); d.ok() && !d->empty()) {
      managers = std::move(*d);
      from_request = true;
    }
  }
  if (!from_request) {
    if (auto d = DecodeManagedFields(old_mf); d.ok()) managers = std::move(*d);
  }
  if (managers.empty() && old) {
    // An object that exists without managed fields stays untracked.
    auto md = old_body.find("metadata");
    if (md != old_body.end() && md->is_object() &&
        !StringField(*md, "uid").empty())
      return body;
  }

  const FieldSchema* schema = meta.root();
  KITE_ASSIGN_OR_RETURN(Comparison cmp, Compare(old_body, body, schema));
  RemoveIgnored(cmp, options);
  FieldSet changes = cmp.added;
  changes.Add(cmp.modified);
  for (Entry& m : managers) {
    m.fields.Remove(changes);
    m.fields.Remove(cmp.removed);
  }
  StripServerFields(changes);
  if (!changes.empty()) {
    std::size_t self = FindOrAdd(
        managers, options.manager.empty() ? "unknown" : options.manager,
        kUpdate, options);
    managers[self].fields.Add(changes);
    managers[self].time = options.now;
  }
  managers.erase(
      std::remove_if(managers.begin(), managers.end(),
                     [](const Entry& e) { return e.fields.empty(); }),
      managers.end());
  CapUpdateManagers(managers);
  PutManagedFields(body, managers);
  return body;
}

}  // namespace

StatusOr<ApplyResult> Apply(const Json* live, const Json& config,
                            const FieldManagerOptions& options, bool force,
                            const PatchMeta& meta,
                            std::vector<ApplyConflict>* conflicts) {
  try {
    return ApplyImpl(live, config, options, force, meta, conflicts);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("server-side apply: ") + e.what());
  }
}

StatusOr<Json> UpdateManagedFields(const Json* old, const Json& updated,
                                   const FieldManagerOptions& options,
                                   const PatchMeta& meta) {
  try {
    return UpdateImpl(old, updated, options, meta);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("managed fields: ") + e.what());
  }
}

}  // namespace kite::api
