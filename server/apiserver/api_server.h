// ApiServer: kite's HTTPS front door (DESIGN.md §5).
//
// It serves the request path (handler.h) over TLS with the cluster's
// serving certificate (tls::TlsServer: a thread per connection, so long
// watches never starve other requests). Each request is authenticated
// first: a client certificate signed by the client CA names the user;
// anything else is 401 Unauthorized, except for /healthz, /livez, /readyz
// and /version, which anyone may read. /cacerts answers any authenticated
// client (outside RBAC, like the health paths). Bodies above 3 MiB are 413.
// Watches are written as chunked JSON lines, each flushed at once; the
// connection's thread waits on the datastore watcher (no polling) and wakes
// about every kWatchWakeInterval to notice a client that went away.
//
// Threading: Start() binds and serves on the TlsServer's threads; Stop()
// ends every watch, interrupts every connection and joins all threads. The
// Handler and Authenticator must outlive the ApiServer.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/apiserver/auth.h"
#include "server/apiserver/handler.h"
#include "server/apiserver/kubelet_proxy.h"

namespace kite::tls {
class TlsServer;
}

namespace kite::apiserver {

inline constexpr std::chrono::seconds kWatchWakeInterval{10};

struct ServingConfig {
  std::string bind_address = "0.0.0.0";
  int port = 6443;  // 0 picks a free port (tests); port() tells which
  // The serving certificate and its chain, sent in every handshake. kite
  // sends its CA too: a joining agent takes it from there (unverified) and
  // checks it against its token's hash, so nothing has to be served to
  // anonymous clients for it.
  std::string cert_pem;
  std::string key_pem;        // its key
  std::string client_ca_pem;  // CA of client certificates
  // Served at GET /cacerts to authenticated clients (401 otherwise): the CA
  // bundle a joined agent needs beyond the CA it pinned. Empty: no
  // /cacerts.
  std::string cacerts_pem;
  // How pods/log, exec, attach, portforward and nodes/proxy reach kubelets
  // (kubelet_proxy.h). Without a certificate they answer 503.
  KubeletClientConfig kubelet_client;
};

class ApiServer {
 public:
  ApiServer(ServingConfig config, Handler& handler,
            const Authenticator& authenticator);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving. InvalidArgument for unusable certificates;
  // FailedPrecondition when the address cannot be bound.
  Status Start();
  // Stops serving. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  ServingConfig config_;
  Handler& handler_;
  const Authenticator& authenticator_;
  std::unique_ptr<tls::TlsServer> server_;
  int port_ = 0;
};

}  // namespace kite::apiserver
