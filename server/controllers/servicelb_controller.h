// ServiceLbController: LoadBalancer Services on the nodes' own addresses,
// as k3s's servicelb does, but with nothing deployed: the service proxy of
// every agent serves status.loadBalancer.ingress IPs on the Service port
// (agent/proxy/proxy_model.h, ServicePort::load_balancer_ips), so all this
// controller does is write those addresses (docs/servicelb.md).
//
// For every Service of type LoadBalancer without spec.loadBalancerClass
// (a Service with a class belongs to another implementation and is left
// alone), status.loadBalancer.ingress becomes the addresses of the nodes
// that serve it, sorted, each {ip, ipMode: VIP}:
// - nodes whose Ready condition is True (cordoned ones too);
// - not labelled node.kubernetes.io/exclude-from-external-load-balancers;
// - when any node is labelled svccontroller.k3s.cattle.io/enablelb=true,
//   only the nodes so labelled;
// - a node's ExternalIP addresses if it has any, else its InternalIPs;
// - only those of the Service's spec.ipFamilies (all when it names none).
// Each port+protocol can be served by one Service only: the oldest
// (creationTimestamp, then namespace/name) LoadBalancer Service asking for
// it gets it; a younger one that asks for a port already held stays
// pending (no ingress, so `kubectl get svc` shows <pending>) with a Warning
// event PortInUse naming the Service that holds the port, and gets its
// ingress once the port is free. A pending Service holds none of its
// ports. Services that stop being LoadBalancer get status.loadBalancer
// cleared. Writes go to the status subresource, only when something
// changes.
//
// One reconcile covers every Service (the port assignment is global); the
// work queue collapses a burst of Service and Node events into one pass.
// Node updates that change nothing it reads (heartbeats) are ignored.
//
// Threading: informer threads enqueue; one worker reconciles. Start()/Stop()
// from the owner; Stop() is idempotent.
#pragma once

#include <map>
#include <memory>
#include <mutex>
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

struct ServiceLbControllerOptions {
  Clock* clock = nullptr;  // null: RealClock()
};

class ServiceLbController : public Controller {
 public:
  static constexpr char kExcludeLabel[] =
      "node.kubernetes.io/exclude-from-external-load-balancers";
  static constexpr char kEnableLbLabel[] =
      "svccontroller.k3s.cattle.io/enablelb";
  static constexpr char kComponent[] = "service-lb-controller";

  ServiceLbController(client::Interface& client,
                      client::SharedInformerFactory& informers,
                      ServiceLbControllerOptions options = {});
  ~ServiceLbController() override;
  ServiceLbController(const ServiceLbController&) = delete;
  ServiceLbController& operator=(const ServiceLbController&) = delete;

  Status Start() override;
  void Stop() override;

  // One pass over every Service (tests call it directly). Fails with the
  // first failed status write; the others are still attempted.
  Status Sync();
  client::WorkQueue& queue() { return *queue_; }

  // The ingress addresses `nodes` offer (the rules above), sorted, unique.
  static std::vector<std::string> NodeAddresses(
      const std::vector<std::shared_ptr<const client::Json>>& nodes);

 private:
  void Worker();
  void Enqueue();

  client::Interface& client_;
  ServiceLbControllerOptions options_;
  Clock& clock_;
  client::Informer& services_;
  client::Informer& nodes_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::thread worker_;
  bool started_ = false;
  // Pending Service "ns/name" -> what its last PortInUse event said, so one
  // conflict is reported once, not on every pass. Worker thread only.
  std::map<std::string, std::string> reported_;
};

}  // namespace kite::controllers
