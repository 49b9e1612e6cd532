// KubeletProxy: the API server's side of pods/log, pods/exec, pods/attach,
// pods/portforward and nodes/proxy (docs/streaming.md). The request path
// (Handler) decides where a request goes (a KubeletTarget: the node's
// address and the kubelet path); this relays it there over HTTPS, verifying
// the kubelet's serving certificate against the cluster's server CA and
// presenting the API server's kubelet-client certificate.
//
// The kubelet's answer goes back as it came: after a 101 both connections
// are taken over and bytes copied both ways until either side closes
// (SPDY/3.1 or WebSocket, whatever the two ends agreed); a body (logs,
// followed logs, errors) is relayed as it arrives, so `kubectl logs -f`
// sees every line when the kubelet writes it. A kubelet that cannot be
// reached gets a 503 Status, one whose certificate does not verify a 502.
//
// Thread safety: ProxyToKubelet runs on the connection's thread and blocks
// until the exchange ends; the config is read only.
#pragma once

#include <chrono>
#include <string>

#include "server/apiserver/request.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace kite::apiserver {

struct KubeletClientConfig {
  std::string ca_pem;    // CA the kubelets' serving certificates chain to
  std::string cert_pem;  // the API server's kubelet-client certificate
  std::string key_pem;
  std::chrono::milliseconds connect_timeout{10000};
};

// Relays `req` to the kubelet at `target` and its answer back into `res`
// (or onto the hijacked connection).
void ProxyToKubelet(const httplib::Request& req, httplib::Response& res,
                    const KubeletTarget& target,
                    const KubeletClientConfig& config);

}  // namespace kite::apiserver
