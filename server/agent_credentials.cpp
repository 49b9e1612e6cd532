#include "server/agent_credentials.h"

#include <algorithm>

namespace kite::server {
namespace {

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The stored certificate at `base`.crt/.key when it still fits `spec` and
// chains to `ca`.
bool Keep(Env& env, Clock& clock, const std::string& base,
          const tls::CertAndKey& ca, const tls::CertSpec& spec,
          tls::Usage usage) {
  auto cert = env.ReadFile(base + ".crt");
  auto key = env.ReadFile(base + ".key");
  if (!cert.ok() || !key.ok() || !tls::KeyMatchesCert(*cert, *key))
    return false;
  if (!tls::VerifyCert(*cert, ca.cert_pem, clock.Now(), usage).ok())
    return false;
  auto info = tls::ParseCert(*cert);
  if (!info.ok() || info->common_name != spec.common_name ||
      info->organizations != spec.organizations)
    return false;
  if (info->not_after - clock.Now() < tls::kLeafRenewBefore) return false;
  return Sorted(info->dns_names) == Sorted(spec.dns_names) &&
         Sorted(info->ip_addresses) == Sorted(spec.ip_addresses);
}

StatusOr<tls::CertAndKey> Ensure(Env& env, Clock& clock, tls::Random& random,
                                 const std::string& base,
                                 const tls::CertAndKey& ca, tls::CertSpec spec,
                                 tls::Usage usage) {
  if (Keep(env, clock, base, ca, spec, usage)) {
    tls::CertAndKey kept;
    KITE_ASSIGN_OR_RETURN(kept.cert_pem, env.ReadFile(base + ".crt"));
    KITE_ASSIGN_OR_RETURN(kept.key_pem, env.ReadFile(base + ".key"));
    return kept;
  }
  spec.not_before = clock.Now() - tls::kBackdate;
  spec.not_after = clock.Now() + tls::kLeafValidity;
  KITE_ASSIGN_OR_RETURN(tls::CertAndKey issued,
                        tls::IssueCert(random, ca, spec));
  KITE_RETURN_IF_ERROR(
      env.WriteFileAtomic(base + ".key", issued.key_pem, 0600));
  KITE_RETURN_IF_ERROR(
      env.WriteFileAtomic(base + ".crt", issued.cert_pem, 0600));
  return issued;
}

}  // namespace

StatusOr<std::string> WriteAgentCredentials(Env& env, Clock& clock,
                                            tls::Random& random,
                                            const tls::ClusterPki& pki,
                                            const AgentCredentialsOptions& o) {
  const std::string dir = o.data_dir + "/agent/tls";
  KITE_RETURN_IF_ERROR(env.MakeDirs(dir, 0700));
  const std::string cn = "system:node:" + o.node_name;

  tls::CertSpec client;
  client.common_name = cn;
  client.organizations = {"system:nodes"};
  client.client_auth = true;
  KITE_ASSIGN_OR_RETURN(
      tls::CertAndKey node,
      Ensure(env, clock, random, dir + "/client-kubelet", pki.client_ca(),
             client, tls::Usage::kClientAuth));

  tls::CertSpec serving;
  serving.common_name = cn;
  serving.organizations = {"system:nodes"};
  serving.server_auth = true;
  serving.dns_names = {o.node_name};
  serving.ip_addresses = o.node_ips;
  if (std::find(serving.ip_addresses.begin(), serving.ip_addresses.end(),
                "127.0.0.1") == serving.ip_addresses.end())
    serving.ip_addresses.push_back("127.0.0.1");
  KITE_RETURN_IF_ERROR(Ensure(env, clock, random, dir + "/serving-kubelet",
                              pki.server_ca(), serving, tls::Usage::kServerAuth)
                           .status());

  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(dir + "/server-ca.crt",
                                           pki.server_ca().cert_pem, 0600));
  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(dir + "/client-ca.crt",
                                           pki.client_ca().cert_pem, 0600));
  std::string kubeconfig = o.data_dir + "/agent/kubelet.kubeconfig";
  KITE_RETURN_IF_ERROR(tls::WriteKubeconfig(env, kubeconfig, o.server_url,
                                            pki.server_ca().cert_pem, node));
  return kubeconfig;
}

}  // namespace kite::server
