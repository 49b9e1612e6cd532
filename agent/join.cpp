#include "agent/join.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <thread>

#include "api/object.h"
#include "client/https_client.h"
#include "common/log.h"
#include "tls/cluster_pki.h"
#include "tls/join_token.h"
#include "tls/tls_client.h"

namespace kite::agent {
namespace {

using client::Json;

const client::ResourceRef kCsrs{"certificates.k8s.io", "v1",
                                "certificatesigningrequests", ""};
const client::ResourceRef kNodes{"", "v1", "nodes", ""};
constexpr char kClientSigner[] = "kubernetes.io/kube-apiserver-client-kubelet";
constexpr char kServingSigner[] = "kubernetes.io/kubelet-serving";

// host and port of "https://host[:port][/]".
Status SplitServer(const std::string& url, std::string* host, int* port) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    return InvalidArgumentError("--server wants https://HOST:PORT, got \"" +
                                url + "\"");
  }
  std::string rest = url.substr(scheme.size());
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    rest = rest.substr(0, slash);
  }
  *port = 443;
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      return InvalidArgumentError("--server: unterminated [ in \"" + url +
                                  "\"");
    }
    *host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') {
      port_text = rest.substr(close + 2);
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    *host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  } else {
    *host = rest;
  }
  if (!port_text.empty()) {
    try {
      size_t used = 0;
      *port = std::stoi(port_text, &used);
      if (used != port_text.size() || *port <= 0 || *port > 65535) {
        throw std::invalid_argument("port");
      }
    } catch (const std::exception&) {
      return InvalidArgumentError("--server: bad port in \"" + url + "\"");
    }
  }
  if (host->empty())
    return InvalidArgumentError("--server: no host in \"" + url + "\"");
  return Status::Ok();
}

// The cluster CA, taken from the certificate chain the server presents in
// an unverified handshake and kept only if its SHA-256 is the token's hash.
// Nothing is sent on that connection: it is closed after the handshake.
StatusOr<std::string> FetchVerifiedCa(const std::string& server,
                                      const tls::JoinToken& token) {
  std::string host;
  int port = 0;
  KITE_RETURN_IF_ERROR(SplitServer(server, &host, &port));
  tls::TlsClientOptions o;
  o.host = host;
  o.port = port;
  o.insecure_skip_verify = true;  // checked below against the token's hash
  KITE_ASSIGN_OR_RETURN(auto c, tls::TlsClient::Create(o));
  if (Status st = c->Connect(); !st.ok()) {
    return Status(st.code(),
                  "cannot reach the server " + server + ": " + st.message());
  }
  auto chain = c->PeerCertificates();
  c->Close();
  if (!chain.ok()) return chain.status();
  // The server sends its serving certificate, then the CA that signed it.
  std::string presented;  // the CA hashes seen, for the message
  for (const std::string& pem : *chain) {
    auto hash = tls::CertSha256(pem);
    if (!hash.ok()) continue;
    if (*hash == token.ca_hash) return pem;
    auto info = tls::ParseCert(pem);
    if (info.ok() && info->is_ca)
      presented += (presented.empty() ? "" : ", ") + *hash;
  }
  if (presented.empty()) {
    return FailedPreconditionError(
        "the server's CA does not match the token's hash (server " + server +
        " presented no CA certificate in its TLS chain, the token expects " +
        token.ca_hash + "): is this a kite server? Nothing was sent");
  }
  return FailedPreconditionError(
      "the server's CA does not match the token's hash (server " + server +
      " has CA sha256 " + presented + ", the token expects " + token.ca_hash +
      "): this token belongs to another cluster, or something between "
      "here and the server is impersonating it; nothing was sent");
}

// GET /cacerts (server-ca, then client-ca; authenticated clients only) over
// a connection that verifies the server against `ca_pem`, as the node:
// client-ca, after checking that the bundle starts with `ca_pem`.
StatusOr<std::string> FetchClientCa(const std::string& server,
                                    const std::string& ca_pem,
                                    const tls::CertAndKey& node) {
  std::string host;
  int port = 0;
  KITE_RETURN_IF_ERROR(SplitServer(server, &host, &port));
  tls::TlsClientOptions o;
  o.host = host;
  o.port = port;
  o.ca_pem = ca_pem;
  o.cert_pem = node.cert_pem;
  o.key_pem = node.key_pem;
  KITE_ASSIGN_OR_RETURN(auto c, tls::TlsClient::Create(o));
  auto res = c->Request("GET", "/cacerts");
  if (!res.ok()) {
    return Status(res.status().code(),
                  "fetching the client CA from " + server +
                      "/cacerts: " + res.status().message());
  }
  if (res->status != 200) {
    return Status(
        res->status == 401 ? Code::kUnauthenticated : Code::kUnavailable,
        server + "/cacerts answered HTTP " + std::to_string(res->status) +
            " to the node");
  }
  const std::string end_marker = "-----END CERTIFICATE-----";
  size_t end = res->body.find(end_marker);
  if (end == std::string::npos)
    return UnavailableError(server + "/cacerts sent no certificate");
  end += end_marker.size();
  if (end < res->body.size() && res->body[end] == '\n') ++end;
  auto first = tls::CertSha256(res->body.substr(0, end));
  auto pinned = tls::CertSha256(ca_pem);
  std::string client_ca = res->body.substr(end);
  if (!first.ok() || !pinned.ok() || *first != *pinned ||
      !tls::CertSha256(client_ca).ok()) {
    return UnavailableError(server +
                            "/cacerts is not the server CA followed by the "
                            "client CA");
  }
  return client_ca;
}

StatusOr<std::unique_ptr<client::HttpsClient>> ClientFor(
    const std::string& server, const std::string& ca_pem,
    const std::string& bearer, const tls::CertAndKey* cert) {
  client::HttpsClientConfig cfg;
  cfg.server = server;
  cfg.ca_pem = ca_pem;
  cfg.bearer_token = bearer;
  if (cert != nullptr) {
    cfg.cert_pem = cert->cert_pem;
    cfg.key_pem = cert->key_pem;
  }
  cfg.user_agent = "kite-agent";
  cfg.max_connections = 1;
  return client::HttpsClient::Create(cfg);
}

bool HasCondition(const Json& csr, std::string_view type,
                  std::string* message) {
  const Json* conds = api::FieldPath(csr, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return false;
  for (const Json& c : *conds) {
    if (api::GetString(c, {"type"}) == type) {
      *message = api::GetString(c, {"message"});
      return true;
    }
  }
  return false;
}

// Creates a CSR for `key_pem` and waits for its certificate.
StatusOr<std::string> RequestCertificate(
    client::Interface& c, Clock& clock, tls::Random& random,
    const std::string& key_pem, const tls::CsrInfo& subject,
    const std::string& signer, const std::vector<std::string>& usages,
    std::chrono::milliseconds timeout, const std::string& credential) {
  KITE_ASSIGN_OR_RETURN(std::string csr_pem,
                        tls::CreateCsr(random, key_pem, subject));
  Json obj = {{"apiVersion", "certificates.k8s.io/v1"},
              {"kind", "CertificateSigningRequest"},
              {"metadata", {{"generateName", "csr-"}}},
              {"spec",
               {{"request", tls::Base64Encode(csr_pem)},
                {"signerName", signer},
                {"usages", usages}}}};
  auto created = c.Create(kCsrs, obj, {});
  if (!created.ok()) {
    Code code = created.status().code();
    if (code == Code::kUnauthenticated) {
      return Status(code, "the server refused the " + credential +
                              " (401 Unauthorized): check the token's id "
                              "and secret, and that it was not deleted or "
                              "has not expired (`kite token list` on the "
                              "server)");
    }
    if (code == Code::kPermissionDenied) {
      return Status(code, "the " + credential +
                              " may not create CertificateSigningRequests "
                              "(403): " +
                              created.status().message());
    }
    return Status(code, "creating a CertificateSigningRequest: " +
                            created.status().message());
  }
  std::string name = api::Name(*created);
  log::Info("agent", "certificate requested")("csr", name)("signer", signer);
  Clock::MonoTime deadline = clock.Monotonic() + timeout;
  for (;;) {
    auto got = c.Get(kCsrs, name, {});
    if (!got.ok()) {
      return Status(got.status().code(), "reading CertificateSigningRequest " +
                                             name + ": " +
                                             got.status().message());
    }
    std::string cert_b64 = api::GetString(*got, {"status", "certificate"});
    if (!cert_b64.empty()) {
      auto cert = client::Base64Decode(cert_b64);
      if (!cert.ok()) return InternalError("CSR " + name + ": bad certificate");
      return *cert;
    }
    std::string why;
    if (HasCondition(*got, "Denied", &why)) {
      return Status(Code::kPermissionDenied, "CertificateSigningRequest " +
                                                 name + " was denied: " + why);
    }
    if (HasCondition(*got, "Failed", &why)) {
      return Status(Code::kPermissionDenied,
                    "CertificateSigningRequest " + name + " failed: " + why);
    }
    if (clock.Monotonic() >= deadline) {
      return DeadlineExceededError(
          "CertificateSigningRequest " + name + " (" + signer +
          ") was not signed in time: approve it with `kubectl certificate "
          "approve " +
          name + "`");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// A stored certificate and key that still serve `cn` (and, if non-empty,
// exactly `ips` + `dns`) for more than kLeafRenewBefore.
bool Reusable(Env& env, Clock& clock, const std::string& cert_path,
              const std::string& key_path, const std::string& cn,
              const std::vector<std::string>* dns,
              const std::vector<std::string>* ips, tls::CertAndKey* out) {
  if (!env.Exists(cert_path) || !env.Exists(key_path)) return false;
  auto cert = env.ReadFile(cert_path);
  auto key = env.ReadFile(key_path);
  if (!cert.ok() || !key.ok() || !tls::KeyMatchesCert(*cert, *key)) {
    return false;
  }
  auto info = tls::ParseCert(*cert);
  if (!info.ok() || info->common_name != cn) return false;
  if (info->not_after - clock.Now() < tls::kLeafRenewBefore) return false;
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  if (dns != nullptr && sorted(info->dns_names) != sorted(*dns)) return false;
  if (ips != nullptr && sorted(info->ip_addresses) != sorted(*ips)) {
    return false;
  }
  out->cert_pem = *cert;
  out->key_pem = *key;
  return true;
}

bool ValidNodeName(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return n.front() != '-' && n.back() != '-' && n.front() != '.' &&
         n.back() != '.';
}

}  // namespace

std::vector<std::string> HostIpv4Addresses() {
  std::vector<std::string> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    if (std::find(out.begin(), out.end(), buf) == out.end()) out.push_back(buf);
  }
  freeifaddrs(ifs);
  return out;
}

StatusOr<JoinResult> Join(Env& env, Clock& clock, tls::Random& random,
                          const JoinOptions& o) {
  KITE_ASSIGN_OR_RETURN(tls::JoinToken token, tls::ParseJoinToken(o.token));
  if (!ValidNodeName(o.node_name)) {
    return InvalidArgumentError(
        "the node name must be a lower-case DNS name, got \"" + o.node_name +
        "\" (--node-name)");
  }
  KITE_ASSIGN_OR_RETURN(std::string ca_pem, FetchVerifiedCa(o.server, token));
  log::Info("agent", "server CA matches the token")("server", o.server)(
      "sha256", token.ca_hash);

  JoinResult result;
  result.tls_dir = o.data_dir + "/agent/tls";
  result.kubeconfig_path = o.data_dir + "/agent/kubelet.kubeconfig";
  KITE_RETURN_IF_ERROR(env.MakeDirs(result.tls_dir, 0700));
  KITE_RETURN_IF_ERROR(
      env.WriteFileAtomic(result.tls_dir + "/server-ca.crt", ca_pem, 0600));
  const std::string cn = "system:node:" + o.node_name;

  // The node's client certificate: from the token, or kept.
  const std::string client_crt = result.tls_dir + "/client-kubelet.crt";
  const std::string client_key = result.tls_dir + "/client-kubelet.key";
  tls::CertAndKey node;
  result.client_cert_reused =
      Reusable(env, clock, client_crt, client_key, cn, nullptr, nullptr, &node);
  if (!result.client_cert_reused) {
    KITE_ASSIGN_OR_RETURN(node.key_pem, tls::GenerateKey(random));
    KITE_ASSIGN_OR_RETURN(
        auto bootstrap,
        ClientFor(o.server, ca_pem, token.BearerToken(), nullptr));
    KITE_ASSIGN_OR_RETURN(
        node.cert_pem,
        RequestCertificate(
            *bootstrap, clock, random, node.key_pem,
            tls::CsrInfo{cn, {"system:nodes"}, {}, {}}, kClientSigner,
            {"digital signature", "key encipherment", "client auth"},
            o.sign_timeout, "join token " + token.id));
    KITE_RETURN_IF_ERROR(env.WriteFileAtomic(client_key, node.key_pem, 0600));
    KITE_RETURN_IF_ERROR(env.WriteFileAtomic(client_crt, node.cert_pem, 0600));
  }
  KITE_RETURN_IF_ERROR(tls::WriteKubeconfig(env, result.kubeconfig_path,
                                            o.server, ca_pem, node));
  // client-ca, which the kubelet API checks the API server's client
  // certificate against, over a verified connection as the node.
  KITE_ASSIGN_OR_RETURN(std::string client_ca_pem,
                        FetchClientCa(o.server, ca_pem, node));
  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(result.tls_dir + "/client-ca.crt",
                                           client_ca_pem, 0600));

  // The kubelet's serving certificate, asked for as the node itself.
  KITE_ASSIGN_OR_RETURN(auto as_node, ClientFor(o.server, ca_pem, "", &node));
  std::vector<std::string> dns = {o.node_name};
  std::vector<std::string> ips = o.node_ips;
  if (std::find(ips.begin(), ips.end(), "127.0.0.1") == ips.end()) {
    ips.push_back("127.0.0.1");
  }
  const std::string serving_crt = result.tls_dir + "/serving-kubelet.crt";
  const std::string serving_key = result.tls_dir + "/serving-kubelet.key";
  tls::CertAndKey serving;
  result.serving_cert_reused =
      Reusable(env, clock, serving_crt, serving_key, cn, &dns, &ips, &serving);
  if (!result.serving_cert_reused) {
    KITE_ASSIGN_OR_RETURN(serving.key_pem, tls::GenerateKey(random));
    KITE_ASSIGN_OR_RETURN(
        serving.cert_pem,
        RequestCertificate(
            *as_node, clock, random, serving.key_pem,
            tls::CsrInfo{cn, {"system:nodes"}, dns, ips}, kServingSigner,
            {"digital signature", "key encipherment", "server auth"},
            o.sign_timeout, "node certificate of " + cn));
    KITE_RETURN_IF_ERROR(
        env.WriteFileAtomic(serving_key, serving.key_pem, 0600));
    KITE_RETURN_IF_ERROR(
        env.WriteFileAtomic(serving_crt, serving.cert_pem, 0600));
  }

  // The proof: the server knows this node by its new certificate.
  auto got = as_node->Get(kNodes, o.node_name, {});
  if (got.ok()) {
    result.node_get_status = 200;
  } else if (got.status().code() == Code::kNotFound) {
    result.node_get_status = 404;
  } else {
    return Status(got.status().code(),
                  "the server does not accept the new node certificate: " +
                      got.status().message());
  }
  return result;
}

}  // namespace kite::agent
