// CsrController: approves and signs the CertificateSigningRequests of
// joining and renewing nodes (certificates.k8s.io/v1), as Kubernetes'
// csrapproving and csrsigning controllers do for kubelets.
//
// For each CSR without a certificate, without Denied or Failed:
//  - approving: a request for signer
//  kubernetes.io/kube-apiserver-client-kubelet
//    from a bootstrap token (group system:bootstrappers) or from a node
//    renewing itself (system:nodes), or for kubernetes.io/kubelet-serving from
//    a node (system:nodes), is checked by `check` (subject and names, see
//    CsrPolicy) and then gets condition Approved (reason AutoApproved) through
//    the approval subresource, or Denied with check's message when that is
//    InvalidArgument. Other requests wait for a human (`kubectl certificate
//    approve`).
//  - signing: an Approved CSR for one of those two signers gets
//    status.certificate from `sign`; InvalidArgument from it is recorded as
//    condition Failed.
// The x509 work (parsing the request, the CA's key) lives behind the two
// callbacks, so this loop needs only client::Interface (DESIGN.md §2).
//
// Level-triggered: a shared informer enqueues names; workers reconcile from
// a live GET, so a restart carries on where it stopped.
//
// Threading: the informer's thread only enqueues; `workers` threads
// reconcile. Stop() joins them (idempotent; the destructor calls it).
#pragma once

#include <functional>
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

inline constexpr char kKubeletClientSigner[] =
    "kubernetes.io/kube-apiserver-client-kubelet";
inline constexpr char kKubeletServingSigner[] = "kubernetes.io/kubelet-serving";

// A CSR as the callbacks see it.
struct CsrRequest {
  std::string name;
  std::string signer_name;
  std::string request;   // spec.request as stored: base64 of the PEM
  std::string username;  // spec.username (set by the API server)
  std::vector<std::string> groups;
  std::vector<std::string> usages;
  int64_t expiration_seconds = 0;  // spec.expirationSeconds, 0 when unset
};

struct CsrCallbacks {
  // OK when the request asks for what its requester may have;
  // InvalidArgument (the CSR is denied with the message) when not; other
  // errors are retried.
  std::function<Status(const CsrRequest&)> check;
  // status.certificate for an approved request (base64 of the PEM chain);
  // InvalidArgument marks the CSR Failed; other errors are retried.
  std::function<StatusOr<std::string>(const CsrRequest&)> sign;
};

struct CsrControllerOptions {
  int workers = 1;
  Clock* clock = nullptr;  // null: RealClock()
};

class CsrController : public Controller {
 public:
  // `client` and `informers` must outlive the controller.
  CsrController(client::Interface& client,
                client::SharedInformerFactory& informers,
                CsrCallbacks callbacks, CsrControllerOptions options = {});
  ~CsrController() override;
  CsrController(const CsrController&) = delete;
  CsrController& operator=(const CsrController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles CSR `name` once (tests call it directly).
  Status Sync(const std::string& name);

 private:
  void Worker();
  Status SetCondition(client::Json csr, const std::string& type,
                      const std::string& reason, const std::string& message,
                      const std::string& subresource);

  client::Interface& client_;
  client::Informer& informer_;
  CsrCallbacks callbacks_;
  CsrControllerOptions options_;
  Clock& clock_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers
