// ClusterPki: the API server's certificates on disk, under
// <data-dir>/server/tls/.
//
// Two CAs, as k3s has (docs/tls.md): server-ca signs serving certificates
// (what clients pin; its SHA-256 goes into join tokens), client-ca signs
// client certificates (what the API server trusts for x509 authentication).
// Files, all mode 0600 in a 0700 directory:
//   server-ca.crt/.key               CN kite-server-ca@<unix time>, 10 years
//   client-ca.crt/.key               CN kite-client-ca@<unix time>, 10 years
//   serving-kube-apiserver.crt/.key  serverAuth, SANs below, 1 year
//   client-admin.crt/.key            clientAuth, CN=system:admin,
//                                    O=system:masters, 1 year
//   client-kube-apiserver-kubelet.crt/.key
//                                    clientAuth, CN=kube-apiserver-kubelet-
//                                    client, O=system:masters, 1 year: the
//                                    API server's identity when it calls a
//                                    kubelet (logs, exec, port-forward)
// Load creates what is missing and otherwise reuses what is there: a CA is
// never regenerated while its certificate exists (a broken or expired CA is
// an error the operator must resolve, because every node trusts it); a leaf
// is reissued when missing, unreadable, not signed by the current CA, within
// kLeafRenewBefore of its end, when its SANs or subject no longer match, or
// when rotation is asked for.
//
// Serving SANs: DNS localhost, the hostname, kubernetes, kubernetes.default,
// kubernetes.default.svc, kubernetes.default.svc.cluster.local, the extra
// names; IP 127.0.0.1, ::1, the service IP (10.43.0.1), the node IPs, the
// extra IPs.
//
// Thread safety: a loaded ClusterPki is an immutable value.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "tls/pki.h"

namespace kite::tls {

// The common name of the API server's client certificate towards kubelets;
// a kubelet serves its API to this identity only.
inline constexpr char kKubeletClientCommonName[] =
    "kube-apiserver-kubelet-client";

struct ClusterPkiOptions {
  std::string dir;                      // e.g. /var/lib/kite/server/tls
  std::string hostname;                 // this machine's name; skipped if empty
  std::vector<std::string> node_ips;    // this node's addresses
  std::vector<std::string> extra_sans;  // --tls-san: DNS names or IP addresses
  std::string service_ip = "10.43.0.1";  // the `kubernetes` Service's ClusterIP
  bool rotate = false;  // reissue every leaf (kite certificate rotate)
};

class ClusterPki {
 public:
  // Loads, creates or renews the PKI in options.dir (see the file comment).
  // FailedPrecondition when a CA on disk is unusable (the message names the
  // file); InvalidArgument for bad options; errors of `env` pass through.
  static StatusOr<ClusterPki> Load(Env& env, Clock& clock, Random& random,
                                   const ClusterPkiOptions& options);

  const CertAndKey& server_ca() const { return server_ca_; }
  const CertAndKey& client_ca() const { return client_ca_; }
  const CertAndKey& serving() const { return serving_; }
  const CertAndKey& admin() const { return admin_; }
  // Signed by client-ca, CN kKubeletClientCommonName.
  const CertAndKey& kubelet_client() const { return kubelet_client_; }
  // CertSha256 of server-ca.crt.
  const std::string& server_ca_hash() const { return server_ca_hash_; }
  // What Load did, one line per file it wrote, e.g.
  // "issued serving-kube-apiserver: SANs changed". Empty when all was reused.
  const std::vector<std::string>& changes() const { return changes_; }

  // The serving certificate's SANs for `options` (deduplicated, in the
  // order of the file comment).
  static Status ServingSans(const ClusterPkiOptions& options,
                            std::vector<std::string>* dns,
                            std::vector<std::string>* ips);

 private:
  CertAndKey server_ca_, client_ca_, serving_, admin_, kubelet_client_;
  std::string server_ca_hash_;
  std::vector<std::string> changes_;
};

// The text of a kubeconfig with one cluster, user and context, all named
// "default", carrying the CA, client certificate and key inline (base64).
// InvalidArgument if `server_url` is not an https:// URL of plain characters.
StatusOr<std::string> KubeconfigYaml(const std::string& server_url,
                                     const std::string& ca_pem,
                                     const CertAndKey& client);

// Writes KubeconfigYaml to `path` with mode 0600 (creating its directory).
Status WriteKubeconfig(Env& env, const std::string& path,
                       const std::string& server_url, const std::string& ca_pem,
                       const CertAndKey& client);

// The admin kubeconfig: server-ca and the system:admin certificate of `pki`.
Status WriteAdminKubeconfig(Env& env, const std::string& path,
                            const std::string& server_url,
                            const ClusterPki& pki);

}  // namespace kite::tls
