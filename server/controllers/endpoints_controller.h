// EndpointsController: the Endpoints and EndpointSlices of every Service
// with a selector (the endpoints and endpointslice controllers of
// Kubernetes in one loop, keyed by Service).
//
// For a Service it takes the pods of its namespace whose labels match
// .spec.selector and that have a status.podIP and are not Succeeded/Failed,
// and resolves each service port against each pod (targetPort by number,
// or by name against the pod's container ports; a pod without the named
// port is left out of that port's set). Then:
// - Endpoints <service>: subsets grouped by identical port sets; Ready pods
//   in addresses, others in notReadyAddresses (all in addresses with
//   publishNotReadyAddresses); terminating pods left out. Each address
//   carries ip, nodeName, targetRef (the Pod) and hostname (when the pod's
//   spec.hostname is set and spec.subdomain is the Service's name). The
//   Service's labels are copied, plus service.kubernetes.io/headless for
//   headless Services;
// - EndpointSlices (addressType IPv4, at most 100 endpoints each, one set
//   per port set, generateName <service>-): endpoints with conditions
//   ready/serving/terminating (terminating pods included), nodeName,
//   targetRef, hostname; labels kubernetes.io/service-name and
//   endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io;
//   a controller ownerReference to the Service (the garbage collector
//   removes them with it). A Service without endpoints keeps one empty
//   slice, as in Kubernetes.
// Services without a selector are left alone (their Endpoints are the
// user's), and so is default/kubernetes (the API server's bootstrap writes
// its Endpoints). When a Service goes, its Endpoints are deleted.
//
// Level-triggered over shared informers of services, pods and
// endpointslices; writes only when something changed.
//
// Threading: informer threads enqueue "<ns>/<service>"; `workers` threads
// reconcile. Start()/Stop() from the owner; Stop() is idempotent.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace kite::controllers {

struct EndpointsControllerOptions {
  int workers = 2;
  Clock* clock = nullptr;  // null: RealClock()
  int max_endpoints_per_slice = 100;
};

class EndpointsController : public Controller {
 public:
  static constexpr char kManagedBy[] = "endpointslice-controller.k8s.io";

  EndpointsController(client::Interface& client,
                      client::SharedInformerFactory& informers,
                      EndpointsControllerOptions options = {});
  ~EndpointsController() override;
  EndpointsController(const EndpointsController&) = delete;
  EndpointsController& operator=(const EndpointsController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles the Service "<ns>/<name>" once (tests call it directly).
  Status Sync(const std::string& key);
  client::WorkQueue& queue() { return *queue_; }

 private:
  void EnqueueServicesOf(const client::Json& pod);
  void Worker();
  Status SyncEndpoints(const client::Json& svc, const client::Json& subsets);
  Status SyncSlices(const client::Json& svc,
                    const std::vector<client::Json>& slices);

  client::Interface& client_;
  EndpointsControllerOptions options_;
  Clock& clock_;
  client::Informer& services_;
  client::Informer& pods_;
  client::Informer& slices_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers
