// ControllerManager: every control loop of `kite server` (DESIGN.md §6) with
// the shared informers they read, started and stopped as one.
//
// The server wiring builds it with the loopback client::Interface and calls
// Start() once the API server serves, Stop() before the API server stops.
// It holds its controllers as a list of Controller (controller.h): adding
// one is one line in the constructor, without touching the wiring.
//
//   controllers::ManagerOptions o;
//   o.namespaced_resources = [&registry] {
//     return controllers::NamespacedResourcesOf(registry);
//   };
//   manager = std::make_unique<controllers::ControllerManager>(loopback, o);
//   KITE_RETURN_IF_ERROR(manager->Start());
//   ...
//   manager->Stop();
//
// Threading: Start()/Stop() from the owner; Stop() is idempotent and runs
// in the destructor; it stops the controllers first (in reverse order of
// addition), then the informers.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"
#include "server/controllers/cronjob_controller.h"
#include "server/controllers/csr_controller.h"
#include "server/controllers/daemonset_controller.h"
#include "server/controllers/deployment_controller.h"
#include "server/controllers/endpoints_controller.h"
#include "server/controllers/garbage_collector.h"
#include "server/controllers/job_controller.h"
#include "server/controllers/namespace_controller.h"
#include "server/controllers/node_ipam_controller.h"
#include "server/controllers/node_lifecycle_controller.h"
#include "server/controllers/persistent_volume_controller.h"
#include "server/controllers/pod_gc_controller.h"
#include "server/controllers/replicaset_controller.h"
#include "server/controllers/serviceaccount_controller.h"
#include "server/controllers/servicelb_controller.h"
#include "server/controllers/statefulset_controller.h"
#include "server/controllers/ttl_after_finished_controller.h"

namespace kite::controllers {

struct ManagerOptions {
  // The namespaced resources a deleted namespace is emptied of (required).
  ResourceLister namespaced_resources;
  Clock* clock = nullptr;  // null: RealClock()
  int namespace_workers = 2;
  // Every resource the garbage collector covers (see
  // GarbageCollectedResourcesOf); empty: no garbage collector.
  std::function<std::vector<ApiResource>()> gc_resources;
  // Pod CIDRs for nodes (node IPAM), one /24 each.
  std::string cluster_cidr = "10.42.0.0/16";
  // The cluster CA (PEM) for the kube-root-ca.crt ConfigMaps; empty: none.
  std::string root_ca_pem;
  // Node CSR approving and signing (csr_controller.h); off unless both
  // callbacks are set.
  CsrCallbacks csr;
  // Where the local-path provisioner puts volumes on the nodes
  // (<data-dir>/storage; persistent_volume_controller.h).
  std::string storage_dir;
  // LoadBalancer Services on the node addresses (servicelb_controller.h);
  // `kite server --disable servicelb` turns it off.
  bool servicelb = true;
};

class ControllerManager {
 public:
  // `client` must outlive the manager.
  ControllerManager(client::Interface& client, ManagerOptions options);
  ~ControllerManager();
  ControllerManager(const ControllerManager&) = delete;
  ControllerManager& operator=(const ControllerManager&) = delete;

  Status Start();
  void Stop();

  client::SharedInformerFactory& informers() { return *informers_; }
  // The controllers, in start order.
  const std::vector<std::unique_ptr<Controller>>& controllers() const {
    return controllers_;
  }

 private:
  // Builds a C from `args` and appends it to the list.
  template <typename C, typename... Args>
  void Add(Args&&... args) {
    controllers_.push_back(std::make_unique<C>(std::forward<Args>(args)...));
  }

  std::unique_ptr<client::SharedInformerFactory> informers_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  bool started_ = false;
};

}  // namespace kite::controllers
