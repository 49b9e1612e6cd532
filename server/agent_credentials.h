// The in-process agent's credentials: what `kite server` hands the agent it
// runs itself, instead of a join (which `kite agent` does over the network).
// The server holds the cluster CAs, so it signs the node's certificates
// directly, with the same subjects a join would get:
//   <data_dir>/agent/tls/client-kubelet.crt/.key   client-ca, CN
//       system:node:<name>, O system:nodes, clientAuth
//   <data_dir>/agent/tls/serving-kubelet.crt/.key  server-ca, CN
//       system:node:<name>, serverAuth, SANs: the node name, its IPs and
//       127.0.0.1
//   <data_dir>/agent/tls/server-ca.crt             the CA the API server
//       serves with (what the agent trusts)
//   <data_dir>/agent/tls/client-ca.crt             the CA of the API
//       server's kubelet-client certificate (what the kubelet API trusts)
//   <data_dir>/agent/kubelet.kubeconfig            `server_url` + the node
//       client certificate
// Certificates are kept while they chain to the current CAs, name this node
// (and these IPs), and have more than tls::kLeafRenewBefore left; else they
// are reissued. All files mode 0600.
//
// Thread safety: reentrant; call once before the agent starts.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "tls/cluster_pki.h"
#include "tls/pki.h"

namespace kite::server {

struct AgentCredentialsOptions {
  std::string data_dir;
  std::string node_name;
  std::vector<std::string> node_ips;
  std::string server_url;  // https://127.0.0.1:<port>
};

// Returns the kubeconfig path. Errors of `env` and of signing pass through.
StatusOr<std::string> WriteAgentCredentials(Env& env, Clock& clock,
                                            tls::Random& random,
                                            const tls::ClusterPki& pki,
                                            const AgentCredentialsOptions& o);

}  // namespace kite::server
