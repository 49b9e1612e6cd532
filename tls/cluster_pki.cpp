#include "tls/cluster_pki.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>

namespace kite::tls {
namespace {

constexpr int kFileMode = 0600;
constexpr int kDirMode = 0700;

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// The canonical text of an IP address ("::0001" -> "::1"), as ParseCert
// reports it, so SAN sets compare equal.
std::string CanonicalIp(const std::string& s) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1 &&
      inet_ntop(AF_INET, buf, out, sizeof(out))) {
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1 &&
      inet_ntop(AF_INET6, buf, out, sizeof(out))) {
    return out;
  }
  return s;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (!s.empty() && std::find(v->begin(), v->end(), s) == v->end())
    v->push_back(s);
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string UnixSeconds(Clock::WallTime t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())
          .count());
}

class Loader {
 public:
  Loader(Env& env, Clock& clock, Random& random,
         const ClusterPkiOptions& options, std::vector<std::string>* changes)
      : env_(env),
        random_(random),
        options_(options),
        now_(clock.Now()),
        changes_(changes) {}

  std::string Path(const std::string& name) const {
    return options_.dir + "/" + name;
  }

  // The CA called `name` (files name.crt, name.key): loaded, or created when
  // its certificate does not exist.
  StatusOr<CertAndKey> LoadCa(const std::string& name) {
    const std::string crt_path = Path(name + ".crt");
    const std::string key_path = Path(name + ".key");
    if (!env_.Exists(crt_path)) {
      KITE_ASSIGN_OR_RETURN(
          CertAndKey ca,
          CreateCa(random_, "kite-" + name + "@" + UnixSeconds(now_), now_));
      // Key first: a crash between the two leaves no certificate, and a
      // missing certificate means "create".
      KITE_RETURN_IF_ERROR(
          env_.WriteFileAtomic(key_path, ca.key_pem, kFileMode));
      KITE_RETURN_IF_ERROR(
          env_.WriteFileAtomic(crt_path, ca.cert_pem, kFileMode));
      changes_->push_back("created " + name);
      return ca;
    }
    CertAndKey ca;
    KITE_ASSIGN_OR_RETURN(ca.cert_pem, env_.ReadFile(crt_path));
    auto key = env_.ReadFile(key_path);
    if (!key.ok()) {
      return FailedPreconditionError(
          crt_path + " exists but its key " + key_path + " cannot be read (" +
          key.status().ToString() +
          "); restore it, or remove the certificate to start a new "
          "CA (every node must then join again)");
    }
    ca.key_pem = *key;
    auto info = ParseCert(ca.cert_pem);
    if (!info.ok() || !info->is_ca) {
      return FailedPreconditionError(
          crt_path + " is not a usable CA certificate" +
          (info.ok() ? "" : ": " + info.status().message()));
    }
    if (!KeyMatchesCert(ca.cert_pem, ca.key_pem)) {
      return FailedPreconditionError(key_path + " is not the key of " +
                                     crt_path);
    }
    if (now_ > info->not_after) {
      return FailedPreconditionError(
          crt_path +
          " has expired; remove it to start a new CA "
          "(every node must then join again)");
    }
    return ca;
  }

  // Why the leaf `name` must be reissued, or "" when it can stay.
  template <typename Check>
  std::string LeafProblem(const std::string& name, const std::string& ca_pem,
                          Usage usage, const Check& check, CertAndKey* out) {
    auto crt = env_.ReadFile(Path(name + ".crt"));
    auto key = env_.ReadFile(Path(name + ".key"));
    if (!crt.ok() || !key.ok()) return "missing";
    out->cert_pem = *crt;
    out->key_pem = *key;
    auto info = ParseCert(out->cert_pem);
    if (!info.ok()) return "unreadable";
    if (!KeyMatchesCert(out->cert_pem, out->key_pem))
      return "key does not match";
    if (!VerifyCert(out->cert_pem, ca_pem, now_, usage).ok())
      return "not valid under the CA";
    if (info->not_after - now_ < kLeafRenewBefore)
      return "expires within 90 days";
    std::string why = check(*info);
    if (!why.empty()) return why;
    if (options_.rotate) return "rotation requested";
    return "";
  }

  template <typename Check>
  StatusOr<CertAndKey> LoadLeaf(const std::string& name, const CertAndKey& ca,
                                const CertSpec& spec, const Check& check) {
    CertAndKey leaf;
    Usage usage = spec.server_auth ? Usage::kServerAuth : Usage::kClientAuth;
    std::string why = LeafProblem(name, ca.cert_pem, usage, check, &leaf);
    if (why.empty()) return leaf;
    KITE_ASSIGN_OR_RETURN(leaf, IssueCert(random_, ca, spec));
    KITE_RETURN_IF_ERROR(
        env_.WriteFileAtomic(Path(name + ".key"), leaf.key_pem, kFileMode));
    KITE_RETURN_IF_ERROR(
        env_.WriteFileAtomic(Path(name + ".crt"), leaf.cert_pem, kFileMode));
    changes_->push_back("issued " + name + ": " + why);
    return leaf;
  }

  CertSpec LeafSpec() const {
    CertSpec s;
    s.not_before = now_ - kBackdate;
    s.not_after = now_ + kLeafValidity;
    return s;
  }

 private:
  Env& env_;
  Random& random_;
  const ClusterPkiOptions& options_;
  Clock::WallTime now_;
  std::vector<std::string>* changes_;
};

// Characters allowed in the server URL of a kubeconfig: enough for
// https://host:port/path with IPv6 brackets, nothing YAML would read specially.
bool PlainUrl(const std::string& url) {
  if (url.rfind("https://", 0) != 0 || url.size() <= 8 || url.size() > 2048)
    return false;
  for (char c : url) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == ':' || c == '/' || c == '.' ||
              c == '-' || c == '_' || c == '[' || c == ']' || c == '%';
    if (!ok) return false;
  }
  return true;
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status ClusterPki::ServingSans(const ClusterPkiOptions& options,
                               std::vector<std::string>* dns,
                               std::vector<std::string>* ips) {
  dns->clear();
  ips->clear();
  AddUnique(dns, "localhost");
  if (!options.hostname.empty()) {
    if (IsIp(options.hostname)) {
      return InvalidArgumentError("hostname must be a name, not an address: " +
                                  options.hostname);
    }
    AddUnique(dns, options.hostname);
  }
  for (const char* n :
       {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local"}) {
    AddUnique(dns, n);
  }
  AddUnique(ips, "127.0.0.1");
  AddUnique(ips, "::1");
  if (!IsIp(options.service_ip)) {
    return InvalidArgumentError("service IP is not an IP address: " +
                                options.service_ip);
  }
  AddUnique(ips, CanonicalIp(options.service_ip));
  for (const auto& ip : options.node_ips) {
    if (!IsIp(ip))
      return InvalidArgumentError("node IP is not an IP address: " + ip);
    AddUnique(ips, CanonicalIp(ip));
  }
  for (const auto& san : options.extra_sans) {
    if (IsIp(san)) {
      AddUnique(ips, CanonicalIp(san));
    } else {
      AddUnique(dns, san);
    }
  }
  return Status::Ok();
}

StatusOr<ClusterPki> ClusterPki::Load(Env& env, Clock& clock, Random& random,
                                      const ClusterPkiOptions& options) {
  if (options.dir.empty())
    return InvalidArgumentError("ClusterPki: no directory");
  std::vector<std::string> dns, ips;
  KITE_RETURN_IF_ERROR(ServingSans(options, &dns, &ips));
  KITE_RETURN_IF_ERROR(env.MakeDirs(options.dir, kDirMode));

  ClusterPki pki;
  Loader loader(env, clock, random, options, &pki.changes_);
  KITE_ASSIGN_OR_RETURN(pki.server_ca_, loader.LoadCa("server-ca"));
  KITE_ASSIGN_OR_RETURN(pki.client_ca_, loader.LoadCa("client-ca"));

  CertSpec serving = loader.LeafSpec();
  serving.common_name = "kube-apiserver";
  serving.dns_names = dns;
  serving.ip_addresses = ips;
  serving.server_auth = true;
  auto same_sans = [&](const CertInfo& info) -> std::string {
    if (Sorted(info.dns_names) != Sorted(dns) ||
        Sorted(info.ip_addresses) != Sorted(ips)) {
      return "SANs changed";
    }
    return "";
  };
  KITE_ASSIGN_OR_RETURN(
      pki.serving_, loader.LoadLeaf("serving-kube-apiserver", pki.server_ca_,
                                    serving, same_sans));

  CertSpec admin = loader.LeafSpec();
  admin.common_name = "system:admin";
  admin.organizations = {"system:masters"};
  admin.client_auth = true;
  auto same_subject = [&](const CertInfo& info) -> std::string {
    if (info.common_name != admin.common_name ||
        info.organizations != admin.organizations) {
      return "subject changed";
    }
    return "";
  };
  KITE_ASSIGN_OR_RETURN(
      pki.admin_,
      loader.LoadLeaf("client-admin", pki.client_ca_, admin, same_subject));

  // The API server's identity towards kubelets (logs, exec, port-forward).
  CertSpec kubelet_client = loader.LeafSpec();
  kubelet_client.common_name = kKubeletClientCommonName;
  kubelet_client.organizations = {"system:masters"};
  kubelet_client.client_auth = true;
  auto same_kubelet_subject = [&](const CertInfo& info) -> std::string {
    if (info.common_name != kubelet_client.common_name ||
        info.organizations != kubelet_client.organizations) {
      return "subject changed";
    }
    return "";
  };
  KITE_ASSIGN_OR_RETURN(
      pki.kubelet_client_,
      loader.LoadLeaf("client-kube-apiserver-kubelet", pki.client_ca_,
                      kubelet_client, same_kubelet_subject));

  KITE_ASSIGN_OR_RETURN(pki.server_ca_hash_,
                        CertSha256(pki.server_ca_.cert_pem));
  return pki;
}

StatusOr<std::string> KubeconfigYaml(const std::string& server_url,
                                     const std::string& ca_pem,
                                     const CertAndKey& client) {
  if (!PlainUrl(server_url)) {
    return InvalidArgumentError("kubeconfig server must be an https:// URL: " +
                                server_url);
  }
  if (ca_pem.empty() || client.cert_pem.empty() || client.key_pem.empty()) {
    return InvalidArgumentError(
        "kubeconfig needs a CA, a client certificate and its key");
  }
  std::string y;
  y += "apiVersion: v1\n";
  y += "kind: Config\n";
  y += "clusters:\n";
  y += "- cluster:\n";
  y += "    certificate-authority-data: " + Base64Encode(ca_pem) + "\n";
  y += "    server: " + server_url + "\n";
  y += "  name: default\n";
  y += "contexts:\n";
  y += "- context:\n";
  y += "    cluster: default\n";
  y += "    user: default\n";
  y += "  name: default\n";
  y += "current-context: default\n";
  y += "preferences: {}\n";
  y += "users:\n";
  y += "- name: default\n";
  y += "  user:\n";
  y += "    client-certificate-data: " + Base64Encode(client.cert_pem) + "\n";
  y += "    client-key-data: " + Base64Encode(client.key_pem) + "\n";
  return y;
}

Status WriteKubeconfig(Env& env, const std::string& path,
                       const std::string& server_url, const std::string& ca_pem,
                       const CertAndKey& client) {
  if (path.empty()) return InvalidArgumentError("kubeconfig path is empty");
  KITE_ASSIGN_OR_RETURN(std::string yaml,
                        KubeconfigYaml(server_url, ca_pem, client));
  std::string dir = ParentDir(path);
  if (!dir.empty()) KITE_RETURN_IF_ERROR(env.MakeDirs(dir, 0755));
  return env.WriteFileAtomic(path, yaml, 0600);
}

Status WriteAdminKubeconfig(Env& env, const std::string& path,
                            const std::string& server_url,
                            const ClusterPki& pki) {
  return WriteKubeconfig(env, path, server_url, pki.server_ca().cert_pem,
                         pki.admin());
}

}  // namespace kite::tls
