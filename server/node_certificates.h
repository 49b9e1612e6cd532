// Node certificates: what the CSR controller (controllers/csr_controller.h)
// may grant a node and how it is signed, and the server's own join token
// (docs/join.md).
//
// Policy of NodeCsrCallbacks:
//  - kubernetes.io/kube-apiserver-client-kubelet: subject CN
//    system:node:<name>, O exactly system:nodes, no subjectAltNames, usages
//    within {digital signature, key encipherment, client auth} and including
//    client auth; asked by a bootstrap token (system:bootstrappers) or by
//    that same node (renewal). Signed by client-ca: the API server then
//    authenticates the node as system:node:<name> in system:nodes.
//  - kubernetes.io/kubelet-serving: the same subject, asked by that node
//    itself, usages including server auth, at least one subjectAltName (the
//    node's names and addresses, as it states them). Signed by server-ca.
// Certificates last tls::kLeafValidity, or spec.expirationSeconds when
// shorter (at least 10 minutes).
//
// Thread safety: the callbacks may be called from any thread; `random` and
// `clock` must outlive them.
#pragma once

#include <string>

#include "client/interface.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "server/controllers/csr_controller.h"
#include "tls/cluster_pki.h"
#include "tls/join_token.h"
#include "tls/pki.h"

namespace kite::server {

controllers::CsrCallbacks NodeCsrCallbacks(const tls::ClusterPki& pki,
                                           tls::Random& random, Clock& clock);

// The server's join token at `path` (<data-dir>/server/token, mode 0600):
// read, or created with a fresh id and secret on first start; rewritten when
// the CA hash it carries is not `ca_hash`. Its Secret
// kube-system/bootstrap-token-<id> is created (or repaired) through
// `client`, without expiration: the token is valid until it is rotated.
StatusOr<tls::JoinToken> EnsureServerToken(Env& env, tls::Random& random,
                                           client::Interface& client,
                                           const std::string& path,
                                           const std::string& ca_hash);

}  // namespace kite::server
