// Per-kind merge metadata: how lists and maps of a kind's fields merge.
//
// Two Kubernetes mechanisms need to know the shape of an object beyond its
// JSON: strategic merge patch (the Go struct tags `patchStrategy` and
// `patchMergeKey`) and server-side apply (the OpenAPI extensions
// `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
// `x-kubernetes-map-type`). They mostly agree but not always: container ports
// merge by `containerPort` in a strategic merge patch and by (containerPort,
// protocol) in server-side apply; Job conditions merge by type in a patch
// but are atomic for apply. A FieldSchema records both, per field, with the
// facts taken from the Kubernetes v1.32 API types.
//
// A field that has no FieldSchema behaves as Kubernetes' default for an
// untagged field: maps merge key by key, lists are replaced whole (atomic).
//
// PatchMetaTable holds the metadata of every built-in kind; build one at
// start-up and share it. Kinds it does not know (custom resources) get a
// PatchMeta that refuses strategic merge patch, as Kubernetes does;
// PatchMetaFromOpenAPISchema turns a CRD's structural schema into the
// server-side apply half.
//
// Thread safety: FieldSchema, PatchMeta and PatchMetaTable are immutable once
// built and safe to share between threads.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::api {

// How a list merges in server-side apply (x-kubernetes-list-type).
enum class ListType {
  kAtomic,  // replaced whole (the default for lists)
  kSet,     // primitives merged as a set
  kMap,     // objects merged by the list's map keys
};

// What is known about one field (and, for a list, about each element).
struct FieldSchema {
  // --- strategic merge patch (patchStrategy / patchMergeKey tags)
  // Lists: merged by patch_merge_key (objects) or as a set (primitives);
  // otherwise replaced.
  bool patch_merge = false;
  // patchStrategy "retainKeys": the `$retainKeys` directive applies.
  bool patch_retain_keys = false;
  // patchStrategy "replace" on a map: the patch value replaces the map.
  bool patch_replace = false;
  // patchMergeKey; empty for primitive lists.
  std::string patch_merge_key;

  // --- server-side apply (x-kubernetes-* extensions)
  ListType list_type = ListType::kAtomic;
  std::vector<std::string> list_map_keys;  // kMap: sorted by name
  // Defaults for map keys an element may omit (ports: protocol "TCP").
  std::map<std::string, nlohmann::json, std::less<>> key_defaults;
  // structType/mapType "atomic": the map is owned and replaced as a whole.
  bool atomic_map = false;

  // Fields of this object, or of each element when this field is a list.
  std::map<std::string, std::shared_ptr<const FieldSchema>, std::less<>> fields;
  // For maps with arbitrary keys (additionalProperties): the schema of every
  // member not named in `fields`.
  std::shared_ptr<const FieldSchema> map_values;

  // The schema of child field `name`, or nullptr when nothing is known.
  const FieldSchema* Child(std::string_view name) const;
};

// The merge metadata of one kind.
class PatchMeta {
 public:
  // Nothing known (a custom resource): strategic merge patch is refused,
  // server-side apply merges maps key by key and treats lists as atomic.
  PatchMeta() = default;
  PatchMeta(std::shared_ptr<const FieldSchema> root,
            bool supports_strategic_merge)
      : root_(std::move(root)), strategic_(supports_strategic_merge) {}

  // Whether `application/strategic-merge-patch+json` may be applied.
  bool supports_strategic_merge() const { return strategic_; }
  // The schema of the whole object; nullptr when nothing is known.
  const FieldSchema* root() const { return root_.get(); }

 private:
  std::shared_ptr<const FieldSchema> root_;
  bool strategic_ = false;
};

// The patch metadata of Kubernetes' built-in kinds (core, apps, batch, rbac,
// networking, policy, ...), keyed by API group ("" for core) and kind.
class PatchMetaTable {
 public:
  PatchMetaTable();

  // The metadata of group/kind; for a kind this table does not know, a
  // PatchMeta that refuses strategic merge patch (never fails).
  const PatchMeta& Find(std::string_view group, std::string_view kind) const;
  // Whether group/kind is a built-in kind known to this table.
  bool Knows(std::string_view group, std::string_view kind) const;

 private:
  std::map<std::string, PatchMeta, std::less<>> kinds_;  // "group/Kind"
  PatchMeta unknown_;
};

// Builds the server-side apply metadata of a custom resource from its CRD's
// structural schema (`spec.versions[].schema.openAPIV3Schema`): properties,
// items, additionalProperties and the x-kubernetes-list-type /
// list-map-keys / map-type extensions. The result refuses strategic merge
// patch, like Kubernetes. InvalidArgument when the schema is deeper than
// kMaxPatchDepth.
StatusOr<PatchMeta> PatchMetaFromOpenAPISchema(const nlohmann::json& schema);

}  // namespace kite::api
