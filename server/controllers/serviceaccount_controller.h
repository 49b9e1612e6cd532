// ServiceAccountController: every active namespace has the ServiceAccount
// "default" and, when the cluster CA is known, the ConfigMap
// "kube-root-ca.crt" (data ca.crt = the CA that signed the API server's
// serving certificate), as the serviceaccounts and root-ca-cert-publisher
// controllers of Kubernetes keep them. Both are recreated when deleted and
// the ConfigMap is put back when edited. Terminating namespaces are left
// alone.
//
// Level-triggered over shared informers of namespaces, serviceaccounts and
// the kube-root-ca.crt ConfigMaps (a field-selected informer).
//
// Threading: informer threads enqueue namespace names; `workers` threads
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

struct ServiceAccountControllerOptions {
  // PEM of the cluster CA; empty: no kube-root-ca.crt ConfigMaps.
  std::string root_ca_pem;
  int workers = 1;
  Clock* clock = nullptr;  // null: RealClock()
};

class ServiceAccountController : public Controller {
 public:
  static constexpr char kRootCaConfigMap[] = "kube-root-ca.crt";

  ServiceAccountController(client::Interface& client,
                           client::SharedInformerFactory& informers,
                           ServiceAccountControllerOptions options = {});
  ~ServiceAccountController() override;
  ServiceAccountController(const ServiceAccountController&) = delete;
  ServiceAccountController& operator=(const ServiceAccountController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles namespace `ns` once (tests call it directly).
  Status Sync(const std::string& ns);
  client::WorkQueue& queue() { return *queue_; }

 private:
  void Worker();

  client::Interface& client_;
  ServiceAccountControllerOptions options_;
  Clock& clock_;
  client::Informer& namespaces_;
  client::Informer& accounts_;
  client::Informer* configmaps_ = nullptr;  // when root_ca_pem is set
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers
