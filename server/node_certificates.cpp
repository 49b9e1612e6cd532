#include "server/node_certificates.h"

#include <algorithm>

#include "api/object.h"
#include "client/https_client.h"
#include "server/apiserver/bootstrap_token.h"

namespace kite::server {
namespace {

constexpr char kNodePrefix[] = "system:node:";

bool Has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The parsed request when `r` may be granted; InvalidArgument saying why not.
StatusOr<tls::CsrInfo> Check(const controllers::CsrRequest& r) {
  auto pem = client::Base64Decode(r.request);
  if (!pem.ok()) return InvalidArgumentError("spec.request is not base64");
  KITE_ASSIGN_OR_RETURN(tls::CsrInfo info, tls::ParseCsr(*pem));
  const std::string& cn = info.common_name;
  if (cn.rfind(kNodePrefix, 0) != 0 || cn.size() == sizeof(kNodePrefix) - 1) {
    return InvalidArgumentError(
        "the subject's CN must be system:node:<name>, not \"" + cn + "\"");
  }
  if (info.organizations != std::vector<std::string>{"system:nodes"}) {
    return InvalidArgumentError("the subject's O must be exactly system:nodes");
  }
  bool by_itself = r.username == cn;
  if (r.signer_name == controllers::kKubeletClientSigner) {
    if (!by_itself && !Has(r.groups, "system:bootstrappers")) {
      return InvalidArgumentError(
          r.username + " may not ask for a client certificate of " + cn);
    }
    if (!info.dns_names.empty() || !info.ip_addresses.empty()) {
      return InvalidArgumentError(
          "a kubelet client certificate carries no subjectAltNames");
    }
    for (const std::string& u : r.usages) {
      if (u != "digital signature" && u != "key encipherment" &&
          u != "client auth") {
        return InvalidArgumentError("usage \"" + u +
                                    "\" is not for a kubelet client");
      }
    }
    if (!Has(r.usages, "client auth")) {
      return InvalidArgumentError("usages must include \"client auth\"");
    }
  } else if (r.signer_name == controllers::kKubeletServingSigner) {
    if (!by_itself) {
      return InvalidArgumentError(
          r.username + " may not ask for the serving certificate of " + cn);
    }
    if (info.dns_names.empty() && info.ip_addresses.empty()) {
      return InvalidArgumentError(
          "a kubelet serving certificate needs subjectAltNames");
    }
    for (const std::string& u : r.usages) {
      if (u != "digital signature" && u != "key encipherment" &&
          u != "server auth") {
        return InvalidArgumentError("usage \"" + u +
                                    "\" is not for a kubelet server");
      }
    }
    if (!Has(r.usages, "server auth")) {
      return InvalidArgumentError("usages must include \"server auth\"");
    }
  } else {
    return InvalidArgumentError("kite does not sign for " + r.signer_name);
  }
  return info;
}

}  // namespace

controllers::CsrCallbacks NodeCsrCallbacks(const tls::ClusterPki& pki,
                                           tls::Random& random, Clock& clock) {
  controllers::CsrCallbacks cb;
  cb.check = [](const controllers::CsrRequest& r) { return Check(r).status(); };
  tls::CertAndKey client_ca = pki.client_ca();
  tls::CertAndKey server_ca = pki.server_ca();
  cb.sign = [client_ca, server_ca, &random, &clock](
                const controllers::CsrRequest& r) -> StatusOr<std::string> {
    KITE_ASSIGN_OR_RETURN(tls::CsrInfo info, Check(r));
    bool serving = r.signer_name == controllers::kKubeletServingSigner;
    tls::CertSpec spec;
    spec.common_name = info.common_name;
    spec.organizations = info.organizations;
    if (serving) {
      spec.dns_names = info.dns_names;
      spec.ip_addresses = info.ip_addresses;
      spec.server_auth = true;
    } else {
      spec.client_auth = true;
    }
    Clock::WallTime now = clock.Now();
    std::chrono::seconds validity = tls::kLeafValidity;
    if (r.expiration_seconds > 0) {
      validity = std::min(validity, std::chrono::seconds(std::max<int64_t>(
                                        r.expiration_seconds, 600)));
    }
    spec.not_before = now - tls::kBackdate;
    spec.not_after = now + validity;
    auto pem = client::Base64Decode(r.request);
    if (!pem.ok()) return InvalidArgumentError("spec.request is not base64");
    KITE_ASSIGN_OR_RETURN(
        std::string cert,
        tls::SignCsr(random, serving ? server_ca : client_ca, *pem, spec));
    return tls::Base64Encode(cert);
  };
  return cb;
}

StatusOr<tls::JoinToken> EnsureServerToken(Env& env, tls::Random& random,
                                           client::Interface& client,
                                           const std::string& path,
                                           const std::string& ca_hash) {
  tls::JoinToken token;
  bool write = true;
  if (env.Exists(path)) {
    KITE_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path));
    auto parsed = tls::ParseJoinToken(text);
    if (!parsed.ok()) {
      return FailedPreconditionError(path + ": " + parsed.status().message() +
                                     " (remove the file for a new token)");
    }
    token = *parsed;
    write = token.ca_hash != ca_hash;
    token.ca_hash = ca_hash;
  } else {
    KITE_ASSIGN_OR_RETURN(token, tls::GenerateJoinToken(random, ca_hash));
  }
  if (write) {
    KITE_RETURN_IF_ERROR(
        env.WriteFileAtomic(path, token.ToString() + "\n", 0600));
  }
  const client::ResourceRef secrets{"", "v1", "secrets",
                                    apiserver::kBootstrapTokenNamespace};
  client::Json want = apiserver::BootstrapTokenSecret(
      token.id, token.secret, "the join token of kite server (" + path + ")");
  std::string name = api::Name(want);
  auto got = client.Get(secrets, name, {});
  if (got.ok()) {
    auto info = apiserver::ReadBootstrapTokenSecret(*got);
    if (info.ok() && info->secret == token.secret && info->authentication &&
        info->expiration.empty()) {
      return token;
    }
    want["metadata"]["resourceVersion"] =
        api::GetString(*got, {"metadata", "resourceVersion"});
    auto updated = client.Update(secrets, want, {});
    if (!updated.ok()) return updated.status();
    return token;
  }
  if (got.status().code() != Code::kNotFound) return got.status();
  auto created = client.Create(secrets, want, {});
  if (!created.ok() && created.status().code() != Code::kAlreadyExists) {
    return created.status();
  }
  return token;
}

}  // namespace kite::server
