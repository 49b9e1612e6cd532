#include "api/patch.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kite::api {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList =
    "$deleteFromPrimitiveList/";

std::string Dump(const Json& j, std::size_t max = 200) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

// nlohmann's what() starts with "[json.exception.<type>.<id>] ".
std::string CleanWhat(const char* what) {
  std::string s = what;
  if (s.rfind("[json.exception.", 0) == 0) {
    auto end = s.find("] ");
    if (end != std::string::npos) s = s.substr(end + 2);
  }
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// JSON types as Go's encoding/json sees them: all numbers are one type.
enum class Kind { kNull, kObject, kArray, kString, kNumber, kBool, kOther };

Kind KindOf(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return Kind::kNull;
    case Json::value_t::object:
      return Kind::kObject;
    case Json::value_t::array:
      return Kind::kArray;
    case Json::value_t::string:
      return Kind::kString;
    case Json::value_t::boolean:
      return Kind::kBool;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return Kind::kNumber;
    default:
      return Kind::kOther;
  }
}

// A string that is equal for values that compare equal: 80 and 80.0 are the
// same number to Go's decoder (float64), so they must give the same key.
std::string KeyString(const Json& j) {
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return std::to_string(static_cast<long long>(d));
    }
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool HasDirective(const Json& j) {
  return j.is_object() && j.contains(kDirective);
}

Status BadPatchType(const Json& directive, const Json& map) {
  std::string d =
      directive.is_string() ? directive.get<std::string>() : Dump(directive);
  return InvalidArgumentError("unknown patch type: " + d +
                              " in map: " + Dump(map));
}
Status NoMergeKey(const Json& map, std::string_view key) {
  return InvalidArgumentError(
      "map: " + Dump(map) +
      " does not contain declared merge key: " + std::string(key));
}

// One strategic merge patch application. Recursion depth follows the patch,
// which CheckDepth bounded before.
class StrategicMerger {
 public:
  Status MergeMap(Json& original, Json& patch, const FieldSchema* schema,
                  int depth);

 private:
  Status MergeSlice(Json& original, Json& patch, const FieldSchema* schema,
                    bool delete_list, int depth);
  // Merges list field `patch` into `original` as the field's strategy says.
  Status MergeListField(Json& original, Json& patch, const FieldSchema* schema,
                        bool delete_list, int depth);
  Status ApplySetElementOrder(Json& original, Json& patch,
                              const FieldSchema* schema,
                              const std::string& directive_key, int depth);
  // A patch value for a key the original lacks: the value with its
  // directives applied to nothing and its nulls dropped. nullopt when the
  // value is itself a `$patch` directive (Kubernetes drops it).
  StatusOr<std::optional<Json>> NewValue(Json& patch, const FieldSchema* schema,
                                         int depth);
};

Status DepthError() {
  return InvalidArgumentError("patch is nested deeper than " +
                              std::to_string(kMaxPatchDepth) + " levels");
}

StatusOr<std::optional<Json>> StrategicMerger::NewValue(
    Json& patch, const FieldSchema* schema, int depth) {
  if (depth > kMaxPatchDepth + 1) return DepthError();
  if (patch.is_object()) {
    if (patch.contains(kDirective)) return std::optional<Json>();
    Json out = Json::object();
    KITE_RETURN_IF_ERROR(MergeMap(out, patch, schema, depth + 1));
    return std::optional<Json>(std::move(out));
  }
  if (patch.is_array()) {
    Json out = Json::array();
    for (Json& elem : patch) {
      KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                            NewValue(elem, schema, depth + 1));
      if (v) out.push_back(std::move(*v));
    }
    return std::optional<Json>(std::move(out));
  }
  return std::optional<Json>(std::move(patch));
}

// Checks that every (non-deleting) element of the patch list appears in the
// `$setElementOrder` list, in the same relative order.
Status ValidateSetOrder(const Json& patch_list, const Json& order,
                        const std::string& merge_key) {
  if (order.empty() || patch_list.empty()) return Status::Ok();
  std::vector<const Json*> items;
  for (const Json& e : patch_list) {
    if (!merge_key.empty()) {
      if (!e.is_object())
        return InvalidArgumentError("expected a map, but received " + Dump(e));
      auto d = e.find(kDirective);
      if (d != e.end() && *d == "delete") continue;
    }
    items.push_back(&e);
  }
  std::size_t pi = 0, si = 0;
  while (pi < items.size() && si < order.size()) {
    if (HasDirective(*items[pi])) {
      ++pi;
      continue;
    }
    bool equal;
    if (merge_key.empty()) {
      equal = *items[pi] == order[si];
    } else {
      const Json& l = *items[pi];
      const Json& r = order[si];
      if (!r.is_object())
        return InvalidArgumentError("expected a map, but received " + Dump(r));
      auto lk = l.find(merge_key);
      if (lk == l.end()) return NoMergeKey(l, merge_key);
      auto rk = r.find(merge_key);
      if (rk == r.end()) return NoMergeKey(r, merge_key);
      equal = KeyString(*lk) == KeyString(*rk);
    }
    if (equal) ++pi;
    ++si;
  }
  if (pi < items.size() && si >= order.size()) {
    return InvalidArgumentError(
        "The order in patch list:\n" + Dump(patch_list) +
        "\n doesn't match $setElementOrder list:\n" + Dump(order));
  }
  return Status::Ok();
}

// The identity of a list element: its merge key's value, or itself.
StatusOr<std::string> ElementKey(const Json& item,
                                 const std::string& merge_key) {
  if (merge_key.empty()) return KeyString(item);
  if (!item.is_object())
    return InvalidArgumentError("expected a map, but received " + Dump(item));
  auto it = item.find(merge_key);
  if (it == item.end()) return NoMergeKey(item, merge_key);
  return KeyString(*it);
}

// First index of each element key in `list`.
std::unordered_map<std::string, std::size_t> IndexOf(
    const std::vector<std::string>& keys) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < keys.size(); ++i) index.emplace(keys[i], i);
  return index;
}

// Puts `patch_items` in the order of `patch_order` and `server_only` in the
// order of `server_order`, then interleaves them: a server-only element goes
// before a patch element when the live list had it earlier.
StatusOr<Json> NormalizeElementOrder(std::vector<Json> patch_items,
                                     std::vector<Json> server_only,
                                     const Json& patch_order,
                                     const Json& server_order,
                                     const std::string& merge_key) {
  auto keys_of = [&](const Json& list) -> StatusOr<std::vector<std::string>> {
    std::vector<std::string> keys;
    for (const Json& e : list) {
      if (!merge_key.empty() && !e.is_object()) {
        keys.emplace_back();  // never matches an element key
        continue;
      }
      if (!merge_key.empty() && !e.contains(merge_key)) {
        keys.push_back("null");  // Go: a missing key reads as nil
        continue;
      }
      KITE_ASSIGN_OR_RETURN(std::string k, ElementKey(e, merge_key));
      keys.push_back(std::move(k));
    }
    return keys;
  };
  KITE_ASSIGN_OR_RETURN(std::vector<std::string> patch_keys,
                        keys_of(patch_order));
  KITE_ASSIGN_OR_RETURN(std::vector<std::string> server_keys,
                        keys_of(server_order));
  auto patch_index = IndexOf(patch_keys);
  auto server_index = IndexOf(server_keys);

  struct Entry {
    Json value;
    long order;   // position in the list it is sorted by
    long server;  // position in the live list, -1 when absent
  };
  auto entries = [&](std::vector<Json>& items,
                     const std::unordered_map<std::string, std::size_t>& by)
      -> StatusOr<std::vector<Entry>> {
    std::vector<Entry> out;
    out.reserve(items.size());
    for (Json& v : items) {
      KITE_ASSIGN_OR_RETURN(std::string k, ElementKey(v, merge_key));
      auto o = by.find(k);
      auto s = server_index.find(k);
      out.push_back(
          {std::move(v), o == by.end() ? -1 : static_cast<long>(o->second),
           s == server_index.end() ? -1 : static_cast<long>(s->second)});
    }
    // Elements missing from the order list keep their place after the others.
    auto rank = [](const Entry& e) { return e.order < 0 ? LONG_MAX : e.order; };
    std::stable_sort(
        out.begin(), out.end(),
        [&](const Entry& a, const Entry& b) { return rank(a) < rank(b); });
    return out;
  };
  KITE_ASSIGN_OR_RETURN(std::vector<Entry> right,
                        entries(patch_items, patch_index));
  KITE_ASSIGN_OR_RETURN(std::vector<Entry> left,
                        entries(server_only, server_index));

  Json out = Json::array();
  std::size_t i = 0, j = 0;
  while (i < left.size() || j < right.size()) {
    bool take_left;
    if (i >= left.size()) {
      take_left = false;
    } else if (j >= right.size()) {
      take_left = true;
    } else {
      take_left = left[i].server >= 0 && right[j].server >= 0 &&
                  left[i].server < right[j].server;
    }
    if (take_left) {
      out.push_back(std::move(left[i++].value));
    } else {
      out.push_back(std::move(right[j++].value));
    }
  }
  return out;
}

// Splits `merged` into the elements present in `by` and the others.
Status Partition(Json& merged, const Json& by, const std::string& merge_key,
                 std::vector<Json>* present, std::vector<Json>* absent) {
  std::unordered_set<std::string> keys;
  for (const Json& e : by) {
    if (!merge_key.empty()) {
      if (!e.is_object()) continue;
      auto it = e.find(merge_key);
      if (it == e.end()) continue;
      keys.insert(KeyString(*it));
    } else {
      keys.insert(KeyString(e));
    }
  }
  for (Json& e : merged) {
    KITE_ASSIGN_OR_RETURN(std::string k, ElementKey(e, merge_key));
    (keys.count(k) ? present : absent)->push_back(std::move(e));
  }
  return Status::Ok();
}

// The common element kind of lists `a` and `b`; InvalidArgument for lists of
// lists or mixed kinds. kNull when both are empty.
StatusOr<Kind> ElementKind(const Json& a, const Json& b) {
  std::optional<Kind> kind;
  for (const Json* list : {&a, &b}) {
    for (const Json& e : *list) {
      Kind k = KindOf(e);
      if (!kind) {
        if (k == Kind::kArray)
          return InvalidArgumentError("lists of lists are not supported");
        kind = k;
      } else if (*kind != k) {
        return InvalidArgumentError(
            "list element types are not identical: " + Dump(a) + " " + Dump(b));
      }
    }
  }
  return kind.value_or(Kind::kNull);
}

Status StrategicMerger::MergeSlice(Json& original, Json& patch,
                                   const FieldSchema* schema, bool delete_list,
                                   int depth) {
  if (depth > kMaxPatchDepth + 1) return DepthError();
  if (original.empty() && patch.empty()) return Status::Ok();
  KITE_ASSIGN_OR_RETURN(Kind kind, ElementKind(original, patch));
  const std::string merge_key = schema ? schema->patch_merge_key : "";

  if (kind != Kind::kObject) {
    if (delete_list) {
      std::unordered_set<std::string> gone;
      for (const Json& e : patch) gone.insert(KeyString(e));
      Json kept = Json::array();
      for (Json& e : original) {
        if (!gone.count(KeyString(e))) kept.push_back(std::move(e));
      }
      original = std::move(kept);
      return Status::Ok();
    }
    Json server_order = original;
    Json merged = Json::array();
    std::unordered_set<std::string> seen;
    for (const Json* list : {&original, &patch}) {
      for (const Json& e : *list) {
        if (seen.insert(KeyString(e)).second) merged.push_back(e);
      }
    }
    std::vector<Json> present, absent;
    KITE_RETURN_IF_ERROR(Partition(merged, patch, "", &present, &absent));
    KITE_ASSIGN_OR_RETURN(
        original, NormalizeElementOrder(std::move(present), std::move(absent),
                                        patch, server_order, ""));
    return Status::Ok();
  }

  if (merge_key.empty()) {
    return InvalidArgumentError("cannot merge lists without merge key");
  }
  // Elements carrying `$patch` first.
  Json regular = Json::array();
  bool replace = false;
  for (Json& e : patch) {
    auto d = e.find(kDirective);
    if (d == e.end()) {
      regular.push_back(std::move(e));
      continue;
    }
    if (*d == "delete") {
      auto k = e.find(merge_key);
      if (k == e.end()) return NoMergeKey(e, merge_key);
      std::string key = KeyString(*k);
      Json kept = Json::array();
      for (Json& o : original) {
        auto ok = o.find(merge_key);
        if (ok != o.end() && KeyString(*ok) == key) continue;
        kept.push_back(std::move(o));
      }
      original = std::move(kept);
    } else if (*d == "replace") {
      replace = true;
    } else if (*d == "merge") {
      return InvalidArgumentError(
          "merging lists cannot yet be specified in the patch");
    } else {
      return BadPatchType(*d, e);
    }
  }
  if (replace) {
    Json out = Json::array();
    for (Json& e : regular) {
      KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                            NewValue(e, schema, depth + 1));
      if (v) out.push_back(std::move(*v));
    }
    original = std::move(out);
    return Status::Ok();
  }

  Json server_order = original;
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < original.size(); ++i) {
    auto k = original[i].find(merge_key);
    if (k != original[i].end()) index.emplace(KeyString(*k), i);
  }
  Json order = regular;  // the patch order, before elements are consumed
  for (Json& e : regular) {
    auto k = e.find(merge_key);
    if (k == e.end()) return NoMergeKey(e, merge_key);
    std::string key = KeyString(*k);
    auto found = index.find(key);
    if (found != index.end()) {
      KITE_RETURN_IF_ERROR(
          MergeMap(original[found->second], e, schema, depth + 1));
    } else {
      KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                            NewValue(e, schema, depth + 1));
      if (!v) continue;
      index.emplace(key, original.size());
      original.push_back(std::move(*v));
    }
  }
  std::vector<Json> present, absent;
  KITE_RETURN_IF_ERROR(
      Partition(original, order, merge_key, &present, &absent));
  KITE_ASSIGN_OR_RETURN(
      original, NormalizeElementOrder(std::move(present), std::move(absent),
                                      order, server_order, merge_key));
  return Status::Ok();
}

Status StrategicMerger::MergeListField(Json& original, Json& patch,
                                       const FieldSchema* schema,
                                       bool delete_list, int depth) {
  if (!original.is_array() || !patch.is_array()) {
    return InvalidArgumentError("expected a list, but received " +
                                Dump(original.is_array() ? patch : original));
  }
  if ((schema && schema->patch_merge) || delete_list) {
    return MergeSlice(original, patch, schema, delete_list, depth);
  }
  KITE_ASSIGN_OR_RETURN(std::optional<Json> v, NewValue(patch, schema, depth));
  original = v ? std::move(*v) : Json::array();
  return Status::Ok();
}

Status StrategicMerger::ApplySetElementOrder(Json& original, Json& patch,
                                             const FieldSchema* schema,
                                             const std::string& directive_key,
                                             int depth) {
  Json order = std::move(patch[directive_key]);
  patch.erase(directive_key);
  std::string key = directive_key.substr(kSetElementOrder.size());
  if (!order.is_array() || key.empty()) {
    return InvalidArgumentError("invalid patch format of setElementOrder list");
  }
  const FieldSchema* child = schema ? schema->Child(key) : nullptr;
  const std::string merge_key = child ? child->patch_merge_key : "";
  auto orig_it = original.find(key);
  auto patch_it = patch.find(key);
  bool found_orig = orig_it != original.end();
  bool found_patch = patch_it != patch.end();
  if (found_orig && !orig_it->is_array()) {
    return InvalidArgumentError("expected a list, but received " +
                                Dump(*orig_it));
  }
  if (found_patch && !patch_it->is_array()) {
    return InvalidArgumentError("expected a list, but received " +
                                Dump(*patch_it));
  }
  KITE_RETURN_IF_ERROR(ValidateSetOrder(found_patch ? *patch_it : Json::array(),
                                        order, merge_key));
  if (!found_orig && !found_patch) return Status::Ok();

  Json server_order = found_orig ? *orig_it : Json::array();
  Json merged;
  if (found_orig && found_patch) {
    merged = std::move(*orig_it);
    KITE_RETURN_IF_ERROR(
        MergeListField(merged, *patch_it, child, false, depth + 1));
  } else if (found_orig) {
    merged = std::move(*orig_it);
  } else {
    KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                          NewValue(*patch_it, child, depth + 1));
    merged = v ? std::move(*v) : Json::array();
  }
  if (!merged.is_array()) merged = Json::array();
  std::vector<Json> present, absent;
  KITE_RETURN_IF_ERROR(Partition(merged, order, merge_key, &present, &absent));
  KITE_ASSIGN_OR_RETURN(
      original[key],
      NormalizeElementOrder(std::move(present), std::move(absent), order,
                            server_order, merge_key));
  patch.erase(key);
  return Status::Ok();
}

Status StrategicMerger::MergeMap(Json& original, Json& patch,
                                 const FieldSchema* schema, int depth) {
  if (depth > kMaxPatchDepth + 1) return DepthError();
  if (!patch.is_object())
    return InvalidArgumentError("expected a map, but received " + Dump(patch));
  if (!original.is_object()) original = Json::object();

  if (auto d = patch.find(kDirective); d != patch.end()) {
    if (*d == "replace") {
      patch.erase(std::string(kDirective));
      KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                            NewValue(patch, schema, depth));
      original = v ? std::move(*v) : Json::object();
      return Status::Ok();
    }
    if (*d == "delete") {
      original = Json::object();
      return Status::Ok();
    }
    return BadPatchType(*d, patch);
  }

  if (auto rk = patch.find(kRetainKeys); rk != patch.end()) {
    Json retain = std::move(*rk);
    patch.erase(rk);
    if (!retain.is_array())
      return InvalidArgumentError("invalid patch format of retainKeys");
    std::unordered_set<std::string> keep;
    for (const Json& k : retain) {
      if (k.is_string()) keep.insert(k.get<std::string>());
    }
    for (const auto& [k, v] : patch.items()) {
      if (v.is_null() || StartsWith(k, kDeleteFromPrimitiveList) ||
          StartsWith(k, kSetElementOrder)) {
        continue;
      }
      if (!keep.count(k))
        return InvalidArgumentError("invalid patch format of retainKeys");
    }
    for (auto it = original.begin(); it != original.end();) {
      it = keep.count(it.key()) ? std::next(it) : original.erase(it);
    }
  }

  std::vector<std::string> order_keys;
  for (const auto& [k, v] : patch.items()) {
    if (StartsWith(k, kSetElementOrder)) order_keys.push_back(k);
  }
  for (const std::string& k : order_keys) {
    KITE_RETURN_IF_ERROR(
        ApplySetElementOrder(original, patch, schema, k, depth));
  }

  for (auto& [patch_key, value] : patch.items()) {
    std::string key = patch_key;
    bool delete_list = false;
    if (StartsWith(key, kDeleteFromPrimitiveList)) {
      key = key.substr(kDeleteFromPrimitiveList.size());
      if (key.empty())
        return InvalidArgumentError("invalid patch format of primitive list");
      delete_list = true;
    }
    if (value.is_null()) {
      original.erase(key);
      continue;
    }
    const FieldSchema* child = schema ? schema->Child(key) : nullptr;
    auto it = original.find(key);
    if (it == original.end() || KindOf(*it) != KindOf(value)) {
      if (delete_list) continue;
      KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                            NewValue(value, child, depth));
      if (v) {
        original[key] = std::move(*v);
      } else {
        original.erase(key);
      }
      continue;
    }
    switch (KindOf(value)) {
      case Kind::kObject:
        if (child && child->patch_replace) {
          KITE_ASSIGN_OR_RETURN(std::optional<Json> v,
                                NewValue(value, child, depth));
          *it = v ? std::move(*v) : Json::object();
        } else {
          KITE_RETURN_IF_ERROR(MergeMap(*it, value, child, depth + 1));
        }
        break;
      case Kind::kArray:
        KITE_RETURN_IF_ERROR(
            MergeListField(*it, value, child, delete_list, depth + 1));
        break;
      default:
        if (!delete_list) *it = std::move(value);
        break;
    }
  }
  return Status::Ok();
}

// An array index of a JSON pointer: "0" or digits without a leading zero.
StatusOr<std::size_t> ArrayIndex(const std::string& token) {
  bool digits = !token.empty() && token.size() <= 15 &&
                std::all_of(token.begin(), token.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (token.size() > 1 && token[0] == '0')) {
    return InvalidArgumentError("invalid array index '" + token + "'");
  }
  return static_cast<std::size_t>(std::stoull(token));
}

// The container holding `ptr`'s target; InvalidArgument when it is missing
// or not an object or a list.
StatusOr<Json*> Parent(Json& doc, const Json::json_pointer& ptr) {
  Json& parent = doc.at(ptr.parent_pointer());  // throws when missing
  if (!parent.is_object() && !parent.is_array()) {
    return InvalidArgumentError("the parent of " + ptr.to_string() +
                                " is not an object or a list");
  }
  return &parent;
}

// RFC 6902 "add" of `value` at `ptr`.
Status AddAt(Json& doc, const Json::json_pointer& ptr, Json value) {
  if (ptr.empty()) {
    doc = std::move(value);
    return Status::Ok();
  }
  KITE_ASSIGN_OR_RETURN(Json * parent, Parent(doc, ptr));
  const std::string& last = ptr.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return Status::Ok();
  }
  if (last == "-") {
    parent->push_back(std::move(value));
    return Status::Ok();
  }
  KITE_ASSIGN_OR_RETURN(std::size_t index, ArrayIndex(last));
  if (index > parent->size()) {
    return InvalidArgumentError("array index " + last + " is out of range");
  }
  parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(index),
                 std::move(value));
  return Status::Ok();
}

// RFC 6902 "remove" of `ptr`'s target, which must exist.
Status RemoveAt(Json& doc, const Json::json_pointer& ptr) {
  if (ptr.empty())
    return InvalidArgumentError("cannot remove the whole document");
  KITE_ASSIGN_OR_RETURN(Json * parent, Parent(doc, ptr));
  const std::string& last = ptr.back();
  if (parent->is_object()) {
    if (parent->erase(last) == 0)
      return InvalidArgumentError("key '" + last + "' not found");
    return Status::Ok();
  }
  KITE_ASSIGN_OR_RETURN(std::size_t index, ArrayIndex(last));
  if (index >= parent->size()) {
    return InvalidArgumentError("array index " + last + " is out of range");
  }
  parent->erase(index);
  return Status::Ok();
}

// Counts the values of `v` (stopping past `limit`) and measures its depth
// (as CheckDepth does: a scalar is 0).
std::size_t CountValues(const Json& v, std::size_t limit, int* depth) {
  std::size_t n = 0;
  *depth = 0;
  std::vector<std::pair<const Json*, int>> stack{{&v, 0}};
  while (!stack.empty() && n <= limit) {
    auto [j, d] = stack.back();
    stack.pop_back();
    ++n;
    if (j->is_structured()) {
      *depth = std::max(*depth, d + 1);
      for (const Json& c : *j) stack.emplace_back(&c, d + 1);
    }
  }
  return n;
}

// The number of reference tokens of `ptr`: the depth its target sits at.
int Tokens(const Json::json_pointer& ptr) {
  std::string s = ptr.to_string();
  return static_cast<int>(std::count(s.begin(), s.end(), '/'));
}

// Keeps the document within kMaxPatchDepth as values are added: `value`
// (of depth `depth`) going to `ptr`.
Status CheckFits(const Json::json_pointer& ptr, int depth) {
  if (Tokens(ptr) + depth > kMaxPatchDepth) {
    return InvalidArgumentError("the result would be nested deeper than " +
                                std::to_string(kMaxPatchDepth) + " levels");
  }
  return Status::Ok();
}

int DepthOf(const Json& v) {
  int depth = 0;
  CountValues(v, SIZE_MAX - 1, &depth);
  return depth;
}

Status ApplyOperation(Json& doc, const Json& op, std::size_t* copied) {
  const std::string name = op["op"].get<std::string>();
  const Json::json_pointer ptr(op["path"].get<std::string>());
  auto value = op.find("value");
  if ((name == "add" || name == "replace" || name == "test") &&
      value == op.end()) {
    return InvalidArgumentError("missing \"value\"");
  }
  if (name == "add" || name == "replace")
    KITE_RETURN_IF_ERROR(CheckFits(ptr, DepthOf(*value)));
  if (name == "add") return AddAt(doc, ptr, *value);
  if (name == "remove") return RemoveAt(doc, ptr);
  if (name == "replace") {
    doc.at(ptr) = *value;  // the target must exist
    return Status::Ok();
  }
  if (name == "test") {
    if (!doc.contains(ptr) || doc.at(ptr) != *value) {
      return InvalidArgumentError("testing value " + ptr.to_string() +
                                  " failed: test failed");
    }
    return Status::Ok();
  }
  if (name != "move" && name != "copy")
    return InvalidArgumentError("unknown operation");
  auto from_it = op.find("from");
  if (from_it == op.end() || !from_it->is_string()) {
    return InvalidArgumentError("missing \"from\"");
  }
  const Json::json_pointer from(from_it->get<std::string>());
  if (name == "copy") {
    const Json& source = doc.at(from);
    int depth = 0;
    *copied += CountValues(source, kMaxJsonPatchCopiedValues, &depth);
    if (*copied > kMaxJsonPatchCopiedValues) {
      return ResourceExhaustedError("the patch copies more than " +
                                    std::to_string(kMaxJsonPatchCopiedValues) +
                                    " values");
    }
    KITE_RETURN_IF_ERROR(CheckFits(ptr, depth));
    Json v = source;
    return AddAt(doc, ptr, std::move(v));
  }
  if (from == ptr) {
    doc.at(from);  // must exist
    return Status::Ok();
  }
  if (from.empty() || (ptr.to_string().rfind(from.to_string() + "/", 0) == 0)) {
    return InvalidArgumentError("cannot move " + from.to_string() +
                                " into itself");
  }
  // The document is within the depth limit, so only a move deeper can break it.
  if (Tokens(ptr) > Tokens(from))
    KITE_RETURN_IF_ERROR(CheckFits(ptr, DepthOf(doc.at(from))));
  Json v = std::move(doc.at(from));
  KITE_RETURN_IF_ERROR(RemoveAt(doc, from));
  return AddAt(doc, ptr, std::move(v));
}

StatusOr<Json> JsonPatch(const Json& doc, const Json& patch) {
  if (!patch.is_array()) {
    return InvalidArgumentError(
        "json patch must be a list of operations, got " + Dump(patch, 80));
  }
  if (patch.size() > kMaxJsonPatchOperations) {
    return ResourceExhaustedError(
        "The allowed maximum operations in a JSON patch is " +
        std::to_string(kMaxJsonPatchOperations) + ", got " +
        std::to_string(patch.size()));
  }
  KITE_RETURN_IF_ERROR(CheckDepth(doc));
  KITE_RETURN_IF_ERROR(CheckDepth(patch));
  Json result = doc;
  std::size_t copied = 0;
  for (std::size_t i = 0; i < patch.size(); ++i) {
    const Json& op = patch[i];
    std::string where = "json patch operation " + std::to_string(i);
    if (!op.is_object())
      return InvalidArgumentError(where + " is not an object");
    auto name_it = op.find("op");
    auto path_it = op.find("path");
    if (name_it == op.end() || !name_it->is_string()) {
      return InvalidArgumentError(where + " has no \"op\"");
    }
    where += " (" + name_it->get<std::string>();
    if (path_it == op.end() || !path_it->is_string()) {
      return InvalidArgumentError(where + ") has no \"path\"");
    }
    where += " " + path_it->get<std::string>() + ")";
    Status status;
    try {
      status = ApplyOperation(result, op, &copied);
    } catch (const std::exception& e) {
      status = InvalidArgumentError(CleanWhat(e.what()));
    }
    if (!status.ok()) {
      if (StartsWith(status.message(), "testing value ")) return status;
      return Status(status.code(), where + ": " + status.message());
    }
  }
  KITE_RETURN_IF_ERROR(CheckDepth(result));
  return result;
}

}  // namespace

Status CheckDepth(const Json& value, int max_depth) {
  std::vector<std::pair<const Json*, int>> stack{{&value, 0}};
  while (!stack.empty()) {
    auto [j, depth] = stack.back();
    stack.pop_back();
    if (!j->is_structured()) continue;
    if (depth + 1 > max_depth) {
      return InvalidArgumentError("document is nested deeper than " +
                                  std::to_string(max_depth) + " levels");
    }
    for (const Json& c : *j) {
      if (c.is_structured()) stack.emplace_back(&c, depth + 1);
    }
  }
  return Status::Ok();
}

StatusOr<Json> ApplyJsonPatch(const Json& doc, const Json& patch) {
  try {
    return JsonPatch(doc, patch);
  } catch (const std::exception& e) {
    return InvalidArgumentError("json patch: " + CleanWhat(e.what()));
  }
}

StatusOr<Json> ApplyMergePatch(const Json& doc, const Json& patch) {
  if (!patch.is_object()) {
    return InvalidArgumentError("merge patch must be a JSON object, got " +
                                Dump(patch, 80));
  }
  KITE_RETURN_IF_ERROR(CheckDepth(doc));
  KITE_RETURN_IF_ERROR(CheckDepth(patch));
  try {
    Json result = doc;
    result.merge_patch(patch);
    return result;
  } catch (const std::exception& e) {
    return InvalidArgumentError("merge patch: " + CleanWhat(e.what()));
  }
}

StatusOr<Json> ApplyStrategicMergePatch(const Json& doc, const Json& patch,
                                        const PatchMeta& meta) {
  if (!meta.supports_strategic_merge()) {
    return FailedPreconditionError(
        std::string(kStrategicMergeUnsupportedMessage));
  }
  if (!patch.is_object()) {
    return InvalidArgumentError(
        "invalid JSON document: a strategic merge patch must be a JSON "
        "object, got " +
        Dump(patch, 80));
  }
  if (!doc.is_object())
    return InvalidArgumentError("invalid JSON document: not an object");
  KITE_RETURN_IF_ERROR(CheckDepth(doc));
  KITE_RETURN_IF_ERROR(CheckDepth(patch));
  try {
    Json result = doc;
    Json p = patch;
    StrategicMerger merger;
    KITE_RETURN_IF_ERROR(merger.MergeMap(result, p, meta.root(), 1));
    return result;
  } catch (const std::exception& e) {
    return InvalidArgumentError("strategic merge patch: " +
                                CleanWhat(e.what()));
  }
}

}  // namespace kite::api
