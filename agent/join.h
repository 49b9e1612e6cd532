// Join: how `kite agent --server URL --token TOKEN` makes a node a member of
// the cluster (docs/join.md).
//
//  1. Take the server's CA from the certificate chain it presents in a TLS
//     handshake that does not verify it (the server sends its serving
//     certificate and the CA), and keep it only if its SHA-256 is the hash
//     in the token. A mismatch stops here, before anything is sent; every
//     later connection verifies the server against that CA.
//  2. With the token as bearer (a bootstrap token, user
//     system:bootstrap:<id>), create a CertificateSigningRequest for signer
//     kubernetes.io/kube-apiserver-client-kubelet, subject
//     CN=system:node:<name>, O=system:nodes, and wait until the server
//     approves and signs it.
//  3. With that node certificate, ask for a kubelet serving certificate
//     (kubernetes.io/kubelet-serving, SANs: the node name and its IPs).
//  4. Store everything under <data-dir>/agent/tls/ (0600: server-ca.crt,
//     client-ca.crt, fetched from /cacerts as the node over a verified
//     connection, the client and serving certificates and keys) and write
//     <data-dir>/agent/kubelet.kubeconfig; check that a request with the new
//     certificate is authenticated (GET its own Node: 200 or 404 is fine).
// A later join reuses the stored certificates while they verify, name this
// node, and have more than tls::kLeafRenewBefore left.
//
// Thread safety: Join is reentrant; it blocks until done.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "tls/pki.h"

namespace kite::agent {

struct JoinOptions {
  std::string server;     // https://host:port of the API server
  std::string token;      // K10<ca hash>::<id>.<secret>
  std::string node_name;  // required (the command line defaults it)
  std::string data_dir;   // credentials go to <data_dir>/agent/
  // The serving certificate's IP SANs (the node's addresses).
  std::vector<std::string> node_ips;
  // How long to wait for the server to sign a request.
  std::chrono::milliseconds sign_timeout{60000};
};

struct JoinResult {
  std::string kubeconfig_path;  // <data_dir>/agent/kubelet.kubeconfig
  std::string tls_dir;          // <data_dir>/agent/tls
  bool client_cert_reused = false;
  bool serving_cert_reused = false;
  int node_get_status = 0;  // what GET /api/v1/nodes/<name> answered
};

// Errors: InvalidArgument for a malformed token, server URL or node name;
// FailedPrecondition "the server's CA does not match the token's hash ..."
// when the server is not the one the token belongs to; Unauthenticated when
// the server refuses the token or the new certificate; PermissionDenied when
// a request is denied; DeadlineExceeded when nobody signs in time;
// Unavailable when the server cannot be reached.
StatusOr<JoinResult> Join(Env& env, Clock& clock, tls::Random& random,
                          const JoinOptions& options);

// This host's non-loopback IPv4 addresses.
std::vector<std::string> HostIpv4Addresses();

}  // namespace kite::agent
