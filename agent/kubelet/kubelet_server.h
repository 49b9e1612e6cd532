// KubeletServer: the node agent's kubelet API (DESIGN.md §7), what the API
// server calls for pods/log, pods/exec, pods/attach and pods/portforward
// (docs/streaming.md).
//
// HTTPS (tls::TlsServer) with the node's kubelet serving certificate.
// Every request but GET /healthz needs a client certificate signed by the
// client CA whose common name is one of `allowed_users` (by default the API
// server's kube-apiserver-kubelet-client): no certificate or a bad one is
// 401, another identity 403, both as Kubernetes Status objects.
//
// Endpoints, named as the real kubelet names them:
//   GET /healthz                                  "ok"
//   GET /containerLogs/<ns>/<pod>/<container>     follow, tailLines,
//       timestamps, previous, sinceSeconds, sinceTime, limitBytes; chunked
//       text/plain read from the CRI log file (container_logs.h); follow
//       streams new lines until the container is no longer running or the
//       client goes away
//   GET|POST /exec/<ns>/<pod>/<container>         command (repeated),
//       stdin, stdout, stderr, tty
//   GET|POST /attach/<ns>/<pod>/<container>       stdin, stdout, stderr, tty
//   GET|POST /portForward/<ns>/<pod>              ports
// Pods and containers are found through cri::Runtime by their
// io.kubernetes.* labels. exec, attach and portForward ask the runtime for
// its one-use streaming URL and proxy the client's request (an HTTP upgrade:
// SPDY/3.1 or WebSocket) to the runtime's stream server byte for byte,
// answer included (containerd 1.6 speaks SPDY and WebSocket v4; kubectl
// 1.32 falls back to SPDY when its WebSocket v5 request is refused).
//
// Threading: a thread per connection (TlsServer); Start()/Stop() from one
// thread; the runtime and clock must outlive the server.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/cri/runtime.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::tls {
class TlsServer;
}

namespace kite::kubelet {

inline constexpr int kDefaultKubeletPort = 10250;

struct KubeletServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = kDefaultKubeletPort;  // 0: any free port (tests)
  std::string cert_pem;            // the kubelet serving certificate
  std::string key_pem;
  std::string client_ca_pem;  // CA of the API server's client certificate
  // Certificate common names allowed to call the API.
  std::vector<std::string> allowed_users = {"kube-apiserver-kubelet-client"};
  // How often a followed log checks whether its container still runs.
  std::chrono::milliseconds follow_check_interval{1000};
};

class KubeletServer {
 public:
  KubeletServer(KubeletServerOptions options, cri::Runtime& runtime,
                Clock& clock);
  ~KubeletServer();
  KubeletServer(const KubeletServer&) = delete;
  KubeletServer& operator=(const KubeletServer&) = delete;

  // Binds and serves. InvalidArgument for unusable certificates,
  // Unavailable when the address cannot be bound.
  Status Start();
  // Ends every connection (followed logs and streams too). Idempotent.
  void Stop();
  int port() const { return port_; }

  // New serving certificate or client CA (rotation), for new connections.
  Status UpdateCredentials(const std::string& cert_pem,
                           const std::string& key_pem,
                           const std::string& client_ca_pem);

 private:
  struct Impl;
  KubeletServerOptions options_;
  cri::Runtime& runtime_;
  Clock& clock_;
  std::unique_ptr<tls::TlsServer> server_;
  int port_ = 0;
};

}  // namespace kite::kubelet
