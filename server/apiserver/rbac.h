// RBAC: the Kubernetes role-based access control authorizer (DESIGN.md §5),
// and the reconciliation of the bootstrap policy the binary ships
// (manifests/rbac/*.yaml).
//
// Roles, ClusterRoles, RoleBindings and ClusterRoleBindings are watched
// through the datastore (StoreCache) and indexed by subject, so a decision
// never reads the datastore: the union of the rules bound to the user, its
// groups (and for ServiceAccounts the user name system:serviceaccount:NS:SA)
// cluster-wide, plus those bound in the request's namespace. ClusterRoles
// with an aggregationRule hold the rules of every ClusterRole their
// selectors match (computed when the index is rebuilt, to a fixed point, so
// view -> edit -> admin aggregate as upstream); the stored object itself is
// not rewritten.
//
// Rule matching follows upstream: verbs, apiGroups and resources match
// exactly or by "*"; a subresource request matches "pods/log", "*/log" or
// "*"; resourceNames, when set, must name the object; nonResourceURLs match
// exactly, or by a prefix that ends in "*".
//
// Thread safety: Authorize and RulesFor may be called from any thread; the
// index is swapped atomically after every batch of changes.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "datastore/backend.h"
#include "server/apiserver/auth.h"
#include "server/apiserver/store_cache.h"

namespace kite::apiserver {

class Handler;

struct PolicyRule {
  std::vector<std::string> verbs, api_groups, resources, resource_names,
      non_resource_urls;

  static PolicyRule FromJson(const nlohmann::json& rule);
  nlohmann::json ToJson() const;
  // Whether this rule allows the request `a` describes.
  bool Allows(const Attributes& a) const;
};

class RbacAuthorizer : public Authorizer {
 public:
  // Reads the RBAC objects (before it returns) and watches them.
  static StatusOr<std::unique_ptr<RbacAuthorizer>> Create(
      datastore::Backend& backend);
  ~RbacAuthorizer() override;

  Status Authorize(const Attributes& attributes) const override;
  nlohmann::json RulesFor(const UserInfo& user,
                          std::string_view namespace_) const override;

  // Waits until the index reflects every write up to `revision` (the
  // server's start-up waits for its own bootstrap writes).
  bool WaitForRevision(int64_t revision, std::chrono::milliseconds timeout);
  void Stop();

 private:
  struct Index;
  class Objects;
  explicit RbacAuthorizer(datastore::Backend& backend);
  std::shared_ptr<const Index> index() const;
  // The rule sets bound to `user` cluster-wide and in `namespace_`.
  std::vector<const std::vector<PolicyRule>*> RuleSets(
      const Index& index, const UserInfo& user,
      std::string_view namespace_) const;

  std::unique_ptr<Objects> objects_;
  std::unique_ptr<StoreCache> cache_;
};

// Applies the bootstrap policy: every object of `yaml_files` (multi-document
// YAML of Roles, ClusterRoles and their bindings) is created when missing;
// an existing one not annotated rbac.authorization.kubernetes.io/
// autoupdate: "false" gets the rules (roles) or subjects (bindings) it lacks
// and the shipped labels, annotations and aggregationRule, keeping what
// users added. Namespaces the objects live in are created when missing.
// Writes go through the request path as `user`.
Status ReconcileRbacPolicy(Handler& handler, const UserInfo& user,
                           std::span<const std::string_view> yaml_files);

}  // namespace kite::apiserver
