// NodeAuthorizer: what a node's credentials (user system:node:<name> in
// group system:nodes) may do, limited to what belongs to that node, as
// upstream's node authorizer plus NodeRestriction admission (DESIGN.md §5):
//
//   - its own Node: get, update, patch, delete, status; create only itself
//     (checked on the body by AdmitNodeWrite); get/list/watch of Nodes;
//   - its own Lease in kube-node-lease (get, create, update, patch, delete);
//   - Pods: get of pods bound to it; list and watch only with the field
//     selector spec.nodeName=<name>; status updates and evictions of pods
//     bound to it; create (mirror pods bound to it) and delete of its pods;
//   - Secrets, ConfigMaps and PersistentVolumeClaims that pods bound to it
//     reference (volumes, projected volumes, env, envFrom, image pull
//     secrets; a generic ephemeral volume's claim <pod>-<volume>): get only;
//     PersistentVolumes whose spec.claimRef is such a claim: get only;
//     tokens (serviceaccounts/token) for the ServiceAccounts of its pods;
//   - Events; reads of Services, Endpoints, EndpointSlices, RuntimeClasses,
//     CSIDrivers, CSINodes; its certificate signing requests; token and
//     subject access reviews.
// Everything else is refused (and left to RBAC, which binds system:node to
// no one). Other users get no opinion (PermissionDenied with no reason).
//
// Which pods are bound where, and which claim each PersistentVolume is bound
// to, come from watches of the datastore (StoreCache), so no decision reads
// the datastore.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "datastore/backend.h"
#include "server/apiserver/auth.h"
#include "server/apiserver/store_cache.h"

namespace kite::apiserver {

// The node name of a node identity; "" when `user` is not one.
std::string NodeNameOf(const UserInfo& user);

class NodeAuthorizer : public Authorizer {
 public:
  static StatusOr<std::unique_ptr<NodeAuthorizer>> Create(
      datastore::Backend& backend);
  ~NodeAuthorizer() override;

  Status Authorize(const Attributes& attributes) const override;
  nlohmann::json RulesFor(const UserInfo& user,
                          std::string_view namespace_) const override;
  bool WaitForRevision(int64_t revision, std::chrono::milliseconds timeout);
  void Stop();

 private:
  class Graph;
  NodeAuthorizer();
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<StoreCache> cache_;
};

// NodeRestriction for writes whose target is in the body: a node may create
// only its own Node, its own Lease and pods bound to itself. OK for other
// users and requests; PermissionDenied with the reason otherwise.
Status AdmitNodeWrite(const UserInfo& user, const std::string& resource,
                      const std::string& verb, const nlohmann::json& body);

}  // namespace kite::apiserver
