// Server-side apply and metadata.managedFields.
//
// Every write records which field manager set which fields, in the
// Kubernetes FieldsV1 form:
//
//   metadata.managedFields: [{manager: "kubectl", operation: "Apply",
//     apiVersion: "apps/v1", time: "...", fieldsType: "FieldsV1",
//     fieldsV1: {"f:spec": {"f:replicas": {},
//       "f:template": {"f:spec": {"f:containers":
//         {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name":
//         {}}}}}}}}]
//
// `f:<name>` is a field, `k:<json>` a list element identified by its map keys,
// `v:<json>` an element of a set, `i:<n>` an element by position, and `.`
// marks a node that is owned itself and also has owned children.
//
// Apply() is the `application/apply-patch+yaml` PATCH: it merges the applied
// configuration into the live object, makes the manager own exactly the
// fields it applied, removes fields it applied before and no longer applies
// (unless another manager owns them), and refuses (Conflict) to change a
// field another manager owns unless `force`. UpdateManagedFields() is for
// every other write (create, update, patch): the writer takes ownership of the
// fields it changed, away from other managers. Both follow Kubernetes'
// structured-merge-diff rules for maps, keyed lists, sets, atomic lists and
// scalars; docs/patch.md lists what is approximated.
//
// Thread safety: free functions and value types; safe from any thread.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/strategic_merge.h"
#include "common/status.h"

namespace kite::api {

// A set of field paths, as a tree of serialized path elements ("f:spec",
// "k:{\"name\":\"web\"}", "v:\"x\"", "i:0").
class FieldSet {
 public:
  using Path = std::vector<std::string>;

  // Parses a `fieldsV1` value. InvalidArgument for an unknown element type,
  // a malformed key, or nesting deeper than kMaxPatchDepth. Keys and values
  // of `k:` and `v:` elements are re-serialized canonically.
  static StatusOr<FieldSet> FromFieldsV1(const nlohmann::json& fields);
  // The `fieldsV1` form of this set.
  nlohmann::json ToFieldsV1() const;

  bool empty() const { return !member_ && children_.empty(); }
  // Whether `path` itself is in the set.
  bool Has(const Path& path) const;
  void Insert(const Path& path);
  // Adds every member of `other`.
  void Add(const FieldSet& other);
  // Removes the members of `other` (not the descendants of those members).
  void Remove(const FieldSet& other);
  // Removes `path` and everything below it.
  void RemoveSubtree(const Path& path);
  // The members present in both sets.
  FieldSet Intersect(const FieldSet& other) const;
  // Every member, depth first, in element order.
  std::vector<Path> Members() const;

  // The node for path element `element`, or nullptr.
  const FieldSet* Child(const std::string& element) const;
  FieldSet& MutableChild(const std::string& element) {
    return children_[element];
  }
  bool member() const { return member_; }
  void set_member(bool member) { member_ = member; }
  const std::map<std::string, FieldSet>& children() const { return children_; }

  // A path as Kubernetes prints it in conflicts:
  // `.spec.template.spec.containers[name="web"].image`.
  static std::string PathString(const Path& path);

  // Drops nodes that hold no member.
  void Prune();

  bool operator==(const FieldSet& other) const = default;

 private:
  bool member_ = false;
  std::map<std::string, FieldSet> children_;
};

// Who is writing, and how.
struct FieldManagerOptions {
  // The fieldManager query parameter (for writes other than apply Kubernetes
  // falls back to the user agent's program name; the caller decides).
  // Required for Apply; empty reads as "unknown" elsewhere.
  std::string manager;
  // The group/version the request used, e.g. "apps/v1" or "v1".
  std::string api_version;
  // When set, Apply checks the applied object's kind ("invalid object type").
  std::string kind;
  // "" for the main resource, else "status", "scale", ...
  std::string subresource;
  // The time recorded on the entry, RFC 3339 ("2025-01-02T03:04:05Z").
  std::string now;
  // Dotted field paths this endpoint resets and does not track, with all
  // their children: {"status"} on a main resource with a status subresource.
  std::vector<std::string> ignored_fields;
};

// One cause of an apply conflict; the REST layer renders it as a StatusCause
// {reason: kFieldManagerConflictReason, message, field}.
struct ApplyConflict {
  std::string
      message;        // conflict with "kubectl-client-side-apply" using apps/v1
  std::string field;  // .spec.replicas
};
inline constexpr std::string_view kFieldManagerConflictReason =
    "FieldManagerConflict";

struct ApplyResult {
  // The applied object with metadata.managedFields updated. The caller still
  // defaults, validates and resets ignored fields (status) before storing.
  nlohmann::json object;
  // Whether anything but metadata.managedFields differs from the live object.
  bool changed = false;
};

// Server-side apply of `config` (the parsed apply-patch body) over `live`
// (nullptr when the object does not exist yet: the result is the object to
// create). Errors:
//  - Conflict when fields owned by other managers would change and !force;
//    the message is Kubernetes' ("Apply failed with 1 conflict: conflict
//    with \"kubectl-create\" using apps/v1: .spec.replicas") and `conflicts`,
//    when not null, receives the causes;
//  - InvalidArgument for an empty manager, a config that is not an object,
//    sets metadata.managedFields, has another apiVersion/kind than `options`
//    says, has duplicate or key-less elements in a keyed list, or nests too
//    deeply; also when live's managedFields cannot be decoded.
// The manager "kubectl" gets Kubernetes' client-side-apply upgrade rules: it
// may take over fields whose value still matches the last-applied
// annotation, and the annotation is rewritten when present.
StatusOr<ApplyResult> Apply(const nlohmann::json* live,
                            const nlohmann::json& config,
                            const FieldManagerOptions& options, bool force,
                            const PatchMeta& meta,
                            std::vector<ApplyConflict>* conflicts = nullptr);

// For create (old == nullptr), update and non-apply patch: returns `updated`
// with metadata.managedFields recording that `options.manager` (operation
// Update) now owns the fields that differ from `old`; other managers lose
// those fields and any removed ones. managedFields sent in `updated` replace
// the old ones (an empty list clears tracking), as in Kubernetes. An object
// that exists but has no managedFields stays untracked. At most 10 Update
// managers are kept; older ones merge into "ancient-changes". Fails only for
// input nested deeper than kMaxPatchDepth.
StatusOr<nlohmann::json> UpdateManagedFields(const nlohmann::json* old,
                                             const nlohmann::json& updated,
                                             const FieldManagerOptions& options,
                                             const PatchMeta& meta);

}  // namespace kite::api
