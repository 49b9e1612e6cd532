// The kinds registry: everything kite knows about each API resource, in one
// table entry per kind (DESIGN.md §5).
//
// A Kind says where a resource lives (group, version, plural, scope), how
// kubectl names it (kind, singular, short names, categories), what it serves
// (verbs, subresources such as status and scale), how the server prints it
// (table columns and a row printer), which fields selectors may use, and how
// it is defaulted and validated. The REST layer is generic: it looks the kind
// up by URL (group, version, resource) and asks the entry; it never switches
// on kind names itself.
//
// Built-in kinds are fixed at construction. CustomResourceDefinitions add and
// remove kinds at run time (ApplyCustomResourceDefinition / Remove...). Kinds
// are handed out as shared_ptr<const Kind>: an entry a request holds stays
// valid after its CRD is deleted.
//
// Thread safety: Registry is safe for concurrent use (a shared_mutex guards
// the tables; lookups take it shared). Kind values are immutable.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "api/object.h"
#include "common/status.h"

namespace kite::api {

enum class Scope { kNamespaced, kCluster };

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
  // "apps/v1", or "v1" for the core group.
  std::string ApiVersion() const {
    return group.empty() ? version : group + "/" + version;
  }
  bool operator==(const GroupVersionKind&) const = default;
};

struct Subresource {
  std::string name;                // "status", "scale", "log", "exec", ...
  GroupVersionKind response_kind;  // autoscaling/v1 Scale for scale
  std::vector<std::string> verbs;  // {"get","patch","update"}
};

// One column of a server-side Table (meta.k8s.io/v1 TableColumnDefinition).
struct ColumnDefinition {
  std::string name;    // "Name", "Ready", ...
  std::string type;    // "string", "integer", "date", "boolean", "number"
  std::string format;  // "name" on the Name column, else ""
  std::string description;
  int priority = 0;  // 1: shown only with -o wide
};

// A field usable in field selectors besides metadata.name/namespace. The
// value is the first non-empty of `paths` (dotted JSON paths), else
// `default_value`.
struct SelectableField {
  std::string label;               // "status.phase"
  std::vector<std::string> paths;  // {"status.phase"}
  std::string default_value;
};

// How metadata.name is validated.
enum class NameRule {
  kDNSSubdomain,  // most kinds
  kDNSLabel,      // namespaces
  kDNS1035Label,  // services
  kPathSegment,   // RBAC objects, priority classes... anything without '/' '%'
  kCRDName,       // <plural>.<group>
};

struct Kind;
// Renders the cells of one table row for `obj`, in the order of
// Kind::columns (all columns, wide ones included). `now` is the instant ages
// are measured against.
using RowPrinter = std::function<nlohmann::json(
    const Kind& kind, const nlohmann::json& obj, Time now)>;
// Fills in defaults in place. A non-OK Status means the object cannot be
// decoded at all (e.g. a malformed quantity): 400 BadRequest in REST.
using Defaulter = std::function<Status(nlohmann::json& obj)>;
// Validates `obj` (and, on update, against `old`, else nullptr). Called after
// defaulting; kind-specific checks only (metadata checks are generic).
using Validator = std::function<void(
    const nlohmann::json& obj, const nlohmann::json* old, FieldErrors* errs)>;

// Strategy hooks, the kind-specific halves of the API server's
// PrepareForCreate / PrepareForUpdate (see validation.h for the generic half).
// OnCreate runs after metadata.name/namespace/uid/creationTimestamp are set;
// OnUpdate gets the stored object as `old`.
using CreateHook = std::function<void(nlohmann::json& obj)>;
using UpdateHook =
    std::function<void(nlohmann::json& obj, const nlohmann::json& old)>;

// Scale subresource of a custom resource (CRD .subresources.scale).
struct ScalePaths {
  std::string spec_replicas;    // ".spec.replicas"
  std::string status_replicas;  // ".status.replicas"
  std::string label_selector;   // ".status.selector" or ""
};

struct Kind {
  // Identity.
  std::string group;      // "" for core
  std::string version;    // "v1"
  std::string kind;       // "Deployment"
  std::string list_kind;  // "DeploymentList"
  std::string resource;   // plural, "deployments"
  std::string singular;   // "deployment"
  Scope scope = Scope::kNamespaced;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> verbs;
  std::vector<Subresource> subresources;

  // Storage. false for virtual kinds (reviews, bindings): create only,
  // answered by REST without storing anything.
  bool stored = true;
  // Resource name used in the storage key /registry/<storage_resource>/...;
  // the same for events in core/v1 and events.k8s.io/v1.
  std::string storage_resource;
  NameRule name_rule = NameRule::kDNSSubdomain;

  // Printing: columns (Name first) and the row printer. When `printer` is
  // empty the table is Name + "Created At", or, for custom resources, the
  // JSONPath columns in `column_paths` (one per column after Name).
  std::vector<ColumnDefinition> columns;
  RowPrinter printer;
  std::vector<std::string> column_paths;

  std::vector<SelectableField> selectable_fields;

  Defaulter defaulter;   // may be empty
  Validator validator;   // may be empty
  CreateHook on_create;  // may be empty
  UpdateHook on_update;  // may be empty
  // metadata.generation starts at 1 and grows when anything but metadata
  // and status changes (workloads, custom resources...).
  bool tracks_generation = false;
  // Clients may set .status on create although a status subresource exists
  // (nodes).
  bool status_on_create = false;

  // Custom resources only.
  std::string crd_name;         // "widgets.example.com"; empty for built-ins
  bool storage_version = true;  // the CRD version objects are stored in
  nlohmann::json schema;        // openAPIV3Schema of this version (or null)
  ScalePaths scale;             // when HasSubresource("scale") on a CR

  // Derived helpers.
  GroupVersionKind Gvk() const { return {group, version, kind}; }
  std::string ApiVersion() const {
    return group.empty() ? version : group + "/" + version;
  }
  // "deployments.apps", or "pods" for the core group (error messages).
  std::string GroupResource() const {
    return group.empty() ? resource : resource + "." + group;
  }
  // "Deployment.apps", or "Pod".
  std::string GroupKind() const {
    return group.empty() ? kind : kind + "." + group;
  }
  bool Namespaced() const { return scope == Scope::kNamespaced; }
  bool HasVerb(std::string_view verb) const;
  const Subresource* FindSubresource(std::string_view name) const;
  bool HasSubresource(std::string_view name) const {
    return FindSubresource(name) != nullptr;
  }
  // True when main-resource writes must ignore .status (status subresource).
  bool HasStatus() const { return HasSubresource("status"); }
  bool IsCustom() const { return !crd_name.empty(); }
  // metadata.name, metadata.namespace, or one of selectable_fields.
  bool SupportsField(std::string_view field) const;
};

// The standard verb sets.
extern const std::vector<std::string>
    kAllVerbs;  // create delete deletecollection get list patch update watch
extern const std::vector<std::string> kCreateOnlyVerbs;  // create

struct GroupVersion {
  std::string group;
  std::string version;
  std::string String() const {
    return group.empty() ? version : group + "/" + version;
  }
  bool operator==(const GroupVersion&) const = default;
};

// A served API group and its versions, preferred version first.
struct ApiGroup {
  std::string name;  // "" for core
  std::vector<std::string> versions;
};

class Registry {
 public:
  // A registry holding the built-in kinds of Kubernetes 1.32 that kite serves.
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The kind served at /apis/<group>/<version>/<resource> (or /api/v1/...);
  // nullptr when none.
  std::shared_ptr<const Kind> Lookup(std::string_view group,
                                     std::string_view version,
                                     std::string_view resource) const;
  // By group, version and Kind name (for request bodies); nullptr when none.
  std::shared_ptr<const Kind> LookupKind(std::string_view group,
                                         std::string_view version,
                                         std::string_view kind) const;
  // Every kind, in discovery order (groups in Kubernetes' order, custom
  // groups after; resources sorted by name within a version).
  std::vector<std::shared_ptr<const Kind>> All() const;
  // The served groups in discovery order with their versions (preferred
  // first). The core group is listed first with name "".
  std::vector<ApiGroup> Groups() const;
  // The kinds of one group-version, sorted by resource.
  std::vector<std::shared_ptr<const Kind>> KindsOf(
      std::string_view group, std::string_view version) const;

  // Adds or replaces the kinds a CustomResourceDefinition defines (one per
  // served version). Fails, changing nothing, when the CRD is malformed or
  // its names collide with another kind in the same group.
  Status ApplyCustomResourceDefinition(const nlohmann::json& crd);
  // Removes the kinds of the CRD named `crd_name` ("widgets.example.com").
  // Returns false when it defined none.
  bool RemoveCustomResourceDefinition(std::string_view crd_name);

  // Increases on every change of the set of kinds (discovery and OpenAPI
  // caches key on it).
  uint64_t Generation() const;

 private:
  void RebuildIndexLocked();

  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const Kind>> kinds_;  // discovery order
  // "group/version/resource" -> kind; "group/version/Kind" -> kind.
  std::map<std::string, std::shared_ptr<const Kind>, std::less<>> by_resource_;
  std::map<std::string, std::shared_ptr<const Kind>, std::less<>> by_kind_;
  std::vector<std::string> group_order_;
  uint64_t generation_ = 1;
};

// The built-in kinds, in discovery order (what Registry() starts with).
std::vector<Kind> BuiltinKinds();

// Turns a CustomResourceDefinition (apiextensions.k8s.io/v1 JSON) into the
// kinds it serves, one per served version, preferred (Kubernetes
// version-priority order) first. Printer columns come from
// additionalPrinterColumns (default: Age on .metadata.creationTimestamp),
// subresources from .subresources.status/.scale.
StatusOr<std::vector<Kind>> KindsFromCustomResourceDefinition(
    const nlohmann::json& crd);

// Kubernetes version priority ("v2" > "v1" > "v1beta2" > "v1beta1" >
// "v1alpha1" > "foo"): true when `a` has the higher priority (sorts first).
bool VersionSortsBefore(std::string_view a, std::string_view b);

}  // namespace kite::api
