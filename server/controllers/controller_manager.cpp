#include "server/controllers/controller_manager.h"

#include <utility>

namespace kite::controllers {

ControllerManager::ControllerManager(client::Interface& client,
                                     ManagerOptions options)
    : informers_(std::make_unique<client::SharedInformerFactory>(client)) {
  NamespaceControllerOptions ns;
  ns.workers = options.namespace_workers;
  ns.clock = options.clock;
  // One line per controller (controller.h); they start in this order.
  Add<NamespaceController>(client, *informers_,
                           std::move(options.namespaced_resources), ns);
  Add<ReplicaSetController>(
      client, *informers_, ReplicaSetControllerOptions{.clock = options.clock});
  Add<DeploymentController>(
      client, *informers_, DeploymentControllerOptions{.clock = options.clock});
  Add<DaemonSetController>(client, *informers_,
                           DaemonSetControllerOptions{.clock = options.clock});
  Add<StatefulSetController>(
      client, *informers_,
      StatefulSetControllerOptions{.clock = options.clock});
  if (options.gc_resources) {
    GarbageCollectorOptions gc;
    gc.resources = std::move(options.gc_resources);
    gc.clock = options.clock;
    Add<GarbageCollector>(client, *informers_, std::move(gc));
  }
  Add<EndpointsController>(client, *informers_,
                           EndpointsControllerOptions{.clock = options.clock});
  Add<ServiceAccountController>(
      client, *informers_,
      ServiceAccountControllerOptions{.root_ca_pem = options.root_ca_pem,
                                      .clock = options.clock});
  Add<NodeIpamController>(
      client, *informers_,
      NodeIpamControllerOptions{.cluster_cidr = options.cluster_cidr,
                                .clock = options.clock});
  Add<NodeLifecycleController>(
      client, *informers_,
      NodeLifecycleControllerOptions{.clock = options.clock});
  Add<PodGcController>(client, *informers_,
                       PodGcControllerOptions{.clock = options.clock});
  Add<JobController>(client, *informers_,
                     JobControllerOptions{.clock = options.clock});
  Add<CronJobController>(client, *informers_,
                         CronJobControllerOptions{.clock = options.clock});
  Add<TtlAfterFinishedController>(
      client, *informers_,
      TtlAfterFinishedControllerOptions{.clock = options.clock});
  Add<PersistentVolumeController>(
      client, *informers_,
      PersistentVolumeControllerOptions{.storage_dir = options.storage_dir,
                                        .clock = options.clock});
  if (options.servicelb) {
    Add<ServiceLbController>(
        client, *informers_,
        ServiceLbControllerOptions{.clock = options.clock});
  }
  if (options.csr.check && options.csr.sign) {
    Add<CsrController>(client, *informers_, std::move(options.csr),
                       CsrControllerOptions{.clock = options.clock});
  }
}

ControllerManager::~ControllerManager() { Stop(); }

Status ControllerManager::Start() {
  if (started_) return FailedPreconditionError("controllers already started");
  started_ = true;
  KITE_RETURN_IF_ERROR(informers_->Start());
  for (const std::unique_ptr<Controller>& c : controllers_) {
    KITE_RETURN_IF_ERROR(c->Start());
  }
  return Status::Ok();
}

void ControllerManager::Stop() {
  // Reverse start order: the loops first, then the caches they read.
  for (auto it = controllers_.rbegin(); it != controllers_.rend(); ++it) {
    (*it)->Stop();
  }
  informers_->Stop();
}

}  // namespace kite::controllers
