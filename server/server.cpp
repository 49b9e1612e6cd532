#include "server/server.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"
#include "datastore/open.h"
#include "manifests/manifests.h"
#include "server/apiserver/bootstrap.h"
#include "server/apiserver/node_authorizer.h"
#include "server/agent_credentials.h"
#include "server/apiserver/service_account.h"
#include "server/controllers/resources.h"
#include "server/node_certificates.h"
#include "tls/cluster_pki.h"
#include "tls/pki.h"

namespace kite::server {

namespace {

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    if (const passwd* pw = ::getpwuid(::geteuid())) home = pw->pw_dir;
  }
  return home != nullptr ? home : ".";
}

// Non-loopback IPv4 addresses of this host, in interface order.
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

bool IsWildcard(const std::string& address) {
  return address.empty() || address == "0.0.0.0" || address == "::" ||
         address == "[::]";
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

Status ParsePortRange(const std::string& text, int* lo, int* hi) {
  size_t dash = text.find('-');
  try {
    if (dash == std::string::npos) throw std::invalid_argument("no dash");
    size_t used = 0;
    *lo = std::stoi(text.substr(0, dash), &used);
    if (used != dash) throw std::invalid_argument("trailing");
    std::string rest = text.substr(dash + 1);
    *hi = std::stoi(rest, &used);
    if (used != rest.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    return InvalidArgumentError(
        "--service-node-port-range wants FIRST-LAST, got \"" + text + "\"");
  }
  return Status::Ok();
}

// The first address of an IPv4 CIDR ("10.43.0.0/16" -> "10.43.0.1").
StatusOr<std::string> FirstIpOf(const std::string& cidr) {
  in_addr a{};
  std::string base = cidr.substr(0, cidr.find('/'));
  if (inet_pton(AF_INET, base.c_str(), &a) != 1) {
    return InvalidArgumentError("--service-cidr: bad IPv4 range \"" + cidr +
                                "\"");
  }
  a.s_addr = htonl(ntohl(a.s_addr) + 1);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return std::string(buf);
}

}  // namespace

StatusOr<std::vector<std::string>> RotateCertificates(Config config) {
  if (config.data_dir.empty()) config.data_dir = DefaultDataDir();
  KITE_ASSIGN_OR_RETURN(auto random, tls::Random::Create());
  tls::ClusterPkiOptions o;
  o.dir = config.data_dir + "/server/tls";
  if (!RealEnv().Exists(o.dir + "/server-ca.crt")) {
    return FailedPreconditionError("no server certificates in " + o.dir +
                                   " (has kite server run with this data dir?)");
  }
  o.hostname = Hostname();
  o.node_ips = HostIpv4Addresses();
  if (!IsWildcard(config.bind_address) &&
      std::find(o.node_ips.begin(), o.node_ips.end(), config.bind_address) ==
          o.node_ips.end()) {
    o.node_ips.push_back(config.bind_address);
  }
  o.extra_sans = config.tls_sans;
  KITE_ASSIGN_OR_RETURN(o.service_ip, FirstIpOf(config.service_cidr));
  o.rotate = true;
  auto pki = tls::ClusterPki::Load(RealEnv(), RealClock(), *random, o);
  if (!pki.ok()) {
    return Status(pki.status().code(),
                  "certificates in " + o.dir + ": " + pki.status().message());
  }
  return pki->changes();
}

std::string DefaultDataDir() {
  if (::geteuid() == 0) return "/var/lib/kite";
  return HomeDir() + "/.kite";
}

std::string DefaultKubeconfigPath() {
  if (::geteuid() == 0) return "/etc/kite/kite.yaml";
  return HomeDir() + "/.kite/kite.yaml";
}

std::string DatastoreEndpoint(const Config& config) {
  if (!config.datastore_endpoint.empty()) return config.datastore_endpoint;
  return "sqlite://" + config.data_dir + "/server/db/state.db";
}

std::string AdvertiseAddress(const std::string& bind_address) {
  in_addr a{};
  if (!IsWildcard(bind_address) &&
      inet_pton(AF_INET, bind_address.c_str(), &a) == 1)
    return bind_address;
  std::vector<std::string> ips = HostIpv4Addresses();
  return ips.empty() ? "127.0.0.1" : ips[0];
}

Server::Server(Config config) : config_(std::move(config)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (config_.data_dir.empty()) config_.data_dir = DefaultDataDir();
  if (config_.write_kubeconfig.empty())
    config_.write_kubeconfig = DefaultKubeconfigPath();
  KITE_RETURN_IF_ERROR(RealEnv().MakeDirs(config_.data_dir + "/server", 0700));
  if (config_.disable_agent)
    log::Info("server", "agent disabled (--disable-agent)");

  std::string endpoint = DatastoreEndpoint(config_);
  auto store = datastore::Open(endpoint);
  if (!store.ok())
    return Status(store.status().code(),
                  "datastore " + endpoint + ": " + store.status().message());
  store_ = std::move(store).value();
  log::Info("server", "datastore open")("endpoint", endpoint)(
      "revision", store_->CurrentRevision());

  auto random = tls::Random::Create();
  if (!random.ok()) return random.status();
  random_ = std::move(random).value();
  std::string key_path = config_.data_dir + "/server/cred/encryption-key";
  auto key = apiserver::LoadEncryptionKey(RealEnv(), *random_, key_path,
                                          config_.secrets_encryption);
  if (key.ok()) {
    encrypted_ = std::make_unique<apiserver::EncryptingBackend>(
        *store_, *random_, *key, config_.secrets_encryption);
    log::Info("server", config_.secrets_encryption
                            ? "secrets encrypted at rest"
                            : "secrets stored in plain text; encrypted ones "
                              "stay readable")("key", key_path);
  } else if (key.status().code() != Code::kNotFound) {
    Stop();
    return Status(key.status().code(), "secrets encryption key: " +
                                           key.status().message());
  }

  if (Status st = StartApi(); !st.ok()) {
    Stop();
    return st;
  }
  if (Status st = StartAgent(); !st.ok()) {
    // The control plane is useful without a node (a host without
    // containerd, a non-root run): say so and go on serving.
    agent_.reset();
    log::Error("server", "the in-process agent did not start; serving "
                         "without a node (--disable-agent silences this)")(
        "error", st.ToString());
  }
  log::Info("server", "ready")("data-dir", config_.data_dir)(
      "kubeconfig", config_.write_kubeconfig);
  return Status::Ok();
}

Status Server::StartApi() {
  tls::ClusterPkiOptions pki_opts;
  pki_opts.dir = config_.data_dir + "/server/tls";
  pki_opts.hostname = Hostname();
  pki_opts.node_ips = HostIpv4Addresses();
  if (!IsWildcard(config_.bind_address) &&
      std::find(pki_opts.node_ips.begin(), pki_opts.node_ips.end(),
                config_.bind_address) == pki_opts.node_ips.end()) {
    pki_opts.node_ips.push_back(config_.bind_address);
  }
  pki_opts.extra_sans = config_.tls_sans;

  apiserver::HandlerConfig handler_config;
  handler_config.services.service_cidr = config_.service_cidr;
  KITE_RETURN_IF_ERROR(ParsePortRange(config_.service_node_port_range,
                                      &handler_config.services.node_port_min,
                                      &handler_config.services.node_port_max));
  std::string advertise = AdvertiseAddress(config_.bind_address);

  // What the request path stores through: Secrets encrypted when asked.
  datastore::Backend& backend =
      encrypted_ ? static_cast<datastore::Backend&>(*encrypted_) : *store_;
  // Authentication: client certificates, then static tokens.
  authenticator_.Add(std::make_unique<apiserver::CertificateAuthenticator>());
  if (!config_.token_file.empty()) {
    auto csv = RealEnv().ReadFile(config_.token_file);
    if (!csv.ok())
      return Status(csv.status().code(), "--token-file " + config_.token_file +
                                             ": " + csv.status().message());
    auto tokens = apiserver::TokenFileAuthenticator::Parse(*csv);
    if (!tokens.ok())
      return Status(tokens.status().code(), "--token-file " +
                                                config_.token_file + ": " +
                                                tokens.status().message());
    authenticator_.Add(std::move(tokens).value());
  }
  // ServiceAccount tokens, signed with the server's own key.
  KITE_RETURN_IF_ERROR(RealEnv().MakeDirs(pki_opts.dir, 0700));
  auto sa_key = apiserver::LoadOrCreateServiceAccountKey(
      pki_opts.dir + "/service-account.key");
  if (!sa_key.ok())
    return Status(sa_key.status().code(), "the ServiceAccount signing key: " +
                                              sa_key.status().message());
  auto sa_tokens =
      apiserver::ServiceAccountTokens::Create(*sa_key, backend, RealClock());
  if (!sa_tokens.ok()) return sa_tokens.status();
  apiserver::ServiceAccountTokens* sa_tokens_ptr = sa_tokens->get();
  authenticator_.Add(std::move(sa_tokens).value());
  // Join (bootstrap) tokens, from their Secrets through the loopback client
  // (decrypted when Secrets are encrypted at rest).
  authenticator_.Add(std::make_unique<apiserver::BootstrapTokenAuthenticator>(
      [this](const std::string& name) {
        return loopback_->Get({"", "v1", "secrets",
                               apiserver::kBootstrapTokenNamespace},
                              name, {});
      },
      RealClock()));
  // Authorization: system:masters, the node authorizer, then RBAC, each
  // from watch-fed indexes.
  auto rbac = apiserver::RbacAuthorizer::Create(backend);
  if (!rbac.ok()) return rbac.status();
  apiserver::RbacAuthorizer* rbac_ptr = rbac->get();
  auto nodes = apiserver::NodeAuthorizer::Create(backend);
  if (!nodes.ok()) return nodes.status();
  auto authorizer = std::make_unique<apiserver::ChainAuthorizer>();
  authorizer->Add(std::move(nodes).value());
  authorizer->Add(std::move(rbac).value());

  auto handler = apiserver::Handler::Create(
      backend, RealClock(), handler_config, std::move(authorizer));
  if (!handler.ok()) return handler.status();
  handler_ = std::move(handler).value();
  handler_->SetTokenIssuer(sa_tokens_ptr);
  handler_->SetAuthenticator(&authenticator_);
  pki_opts.service_ip = handler_->service_allocator().FirstIp();
  auto pki = tls::ClusterPki::Load(RealEnv(), RealClock(), *random_, pki_opts);
  if (!pki.ok())
    return Status(pki.status().code(), "certificates in " + pki_opts.dir +
                                           ": " + pki.status().message());
  for (const std::string& change : pki->changes())
    log::Info("server", "tls")("change", change);
  root_ca_pem_ = pki->server_ca().cert_pem;
  KITE_RETURN_IF_ERROR(handler_->Init());
  // The bootstrap RBAC policy, before anyone is served by it.
  std::vector<std::string_view> policy;
  for (const manifests::Manifest& f : manifests::Rbac())
    policy.push_back(f.content);
  KITE_RETURN_IF_ERROR(apiserver::ReconcileRbacPolicy(
      *handler_, apiserver::SystemUser(), policy));
  if (!rbac_ptr->WaitForRevision(store_->CurrentRevision(),
                                 std::chrono::seconds(30)))
    return DeadlineExceededError("the RBAC index did not catch up");
  loopback_ = std::make_unique<apiserver::LoopbackClient>(
      *handler_, apiserver::ControllerManagerUser());

  apiserver::ServingConfig serving;
  serving.bind_address = config_.bind_address;
  serving.port = config_.https_listen_port;
  // Serving certificate + CA: `kite agent` pins the CA from the chain.
  serving.cert_pem = pki->serving().cert_pem;
  if (!serving.cert_pem.empty() && serving.cert_pem.back() != '\n')
    serving.cert_pem += '\n';
  serving.cert_pem += pki->server_ca().cert_pem;
  serving.key_pem = pki->serving().key_pem;
  serving.client_ca_pem = pki->client_ca().cert_pem;
  // GET /cacerts, for authenticated clients only: server-ca, then
  // client-ca (a joined agent's kubelet API verifies the API server's
  // kubelet-client certificate with it; agent/join.h stores it apart).
  serving.cacerts_pem =
      pki->server_ca().cert_pem + pki->client_ca().cert_pem;
  // Kubelets serve with certificates from server-ca (kubelet-serving CSRs).
  serving.kubelet_client.ca_pem = pki->server_ca().cert_pem;
  serving.kubelet_client.cert_pem = pki->kubelet_client().cert_pem;
  serving.kubelet_client.key_pem = pki->kubelet_client().key_pem;
  api_ = std::make_unique<apiserver::ApiServer>(serving, *handler_,
                                                authenticator_);
  KITE_RETURN_IF_ERROR(api_->Start());

  // The address in the kubeconfig: loopback unless bound to one address.
  std::string host =
      IsWildcard(config_.bind_address) ? "127.0.0.1" : config_.bind_address;
  if (host.find(':') != std::string::npos && host.front() != '[')
    host = "[" + host + "]";
  apiserver::BootstrapConfig boot{.advertise_address = advertise,
                                  .port = api_->port()};
  KITE_RETURN_IF_ERROR(apiserver::Bootstrap(*handler_, boot));
  std::string url = "https://" + host + ":" + std::to_string(api_->port());
  if (Status st = tls::WriteAdminKubeconfig(RealEnv(), config_.write_kubeconfig,
                                            url, *pki);
      !st.ok()) {
    return Status(st.code(), "writing the admin kubeconfig " +
                                 config_.write_kubeconfig + ": " +
                                 st.message());
  }

  if (!config_.disable_agent)
    KITE_RETURN_IF_ERROR(WriteAgentCredentials(*pki, url));

  std::string token_path = config_.data_dir + "/server/token";
  auto token = EnsureServerToken(RealEnv(), *random_, *loopback_, token_path,
                                 pki->server_ca_hash());
  if (!token.ok()) {
    return Status(token.status().code(),
                  "join token " + token_path + ": " + token.status().message());
  }
  log::Info("server", "join token")("file", token_path)("id", token->id);
  csr_callbacks_ = NodeCsrCallbacks(*pki, *random_, RealClock());

  KITE_RETURN_IF_ERROR(StartDeployer());
  client::LeaderElectionOptions election;
  election.lease_name = "kite-controller-manager";
  election.identity = Hostname().empty() ? "kite-server" : Hostname();
  elector_ = std::make_unique<client::LeaderElector>(
      *loopback_, election, [this] { StartControlLoops(); },
      [this] { StopControlLoops(); });
  return elector_->Start();
}

Status Server::WriteAgentCredentials(const tls::ClusterPki& pki,
                                     const std::string& url) {
  if (config_.node_name.empty()) {
    config_.node_name = Hostname();
    for (char& c : config_.node_name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (config_.node_ips.empty())
    config_.node_ips = {AdvertiseAddress(config_.bind_address)};
  AgentCredentialsOptions o;
  o.data_dir = config_.data_dir;
  o.node_name = config_.node_name;
  o.node_ips = config_.node_ips;
  o.server_url = url;
  auto written =
      server::WriteAgentCredentials(RealEnv(), RealClock(), *random_, pki, o);
  if (!written.ok())
    return Status(written.status().code(), "the agent's credentials: " +
                                               written.status().message());
  return Status::Ok();
}

// The in-process agent, a node like any other: it reaches the API server
// over HTTPS with the node certificate WriteAgentCredentials signed.
Status Server::StartAgent() {
  if (config_.disable_agent) return Status::Ok();
  agent::AgentConfig a;
  a.data_dir = config_.data_dir;
  a.node_name = config_.node_name;
  a.node_ips = config_.node_ips;
  a.container_runtime_endpoint = config_.container_runtime_endpoint;
  a.kubelet_port = config_.kubelet_port;
  a.cluster_cidr = config_.cluster_cidr;
  // `--disable coredns` (k3s's name) or `--disable kube-dns`: no cluster DNS.
  for (const std::string& d : config_.disable)
    if (d == "coredns" || d == "kube-dns") a.disable_dns = true;
  // `--disable kube-proxy` (k3s's name): no service proxy.
  for (const std::string& d : config_.disable)
    if (d == "kube-proxy") a.disable_proxy = true;
  a.proxy_mode = config_.proxy_mode;
  a.proxy_cleanup = config_.proxy_cleanup;
  a.service_cidr = config_.service_cidr;
  // As k3s labels its servers.
  a.node_labels = {{"node-role.kubernetes.io/control-plane", "true"},
                   {"node-role.kubernetes.io/master", "true"}};
  agent_ = std::make_unique<agent::Agent>(a);
  return agent_->Start();
}

// The manifest deployer (DESIGN.md §8): the compiled-in defaults are
// written to <data_dir>/server/manifests, then everything there is applied
// and kept applied, as a user in system:masters (manifests hold RBAC,
// CRDs, anything).
Status Server::StartDeployer() {
  std::string dir = config_.data_dir + "/server/manifests";
  std::vector<controllers::ManifestFile> defaults;
  for (const manifests::Manifest& m : manifests::Defaults())
    defaults.push_back({std::string(m.name), std::string(m.content)});
  if (Status st = controllers::WriteDefaultManifests(RealEnv(), dir, defaults,
                                                     config_.disable);
      !st.ok()) {
    return Status(st.code(),
                  "default manifests in " + dir + ": " + st.message());
  }
  auto source = controllers::OpenManifestDirectory(dir);
  if (!source.ok()) return source.status();
  manifest_source_ = std::move(source).value();
  apiserver::UserInfo user;
  user.name = "system:kite-deployer";
  user.groups = {"system:masters", "system:authenticated"};
  user.authenticated = true;
  deployer_client_ =
      std::make_unique<apiserver::LoopbackClient>(*handler_, user);
  controllers::ManifestDeployerOptions opts;
  opts.disabled = config_.disable;
  deployer_ = std::make_unique<controllers::ManifestDeployer>(
      *deployer_client_, handler_->registry(), *manifest_source_, opts);
  return deployer_->Start();
}

void Server::StartControlLoops() {
  controllers::ManagerOptions manager_opts;
  manager_opts.csr = csr_callbacks_;
  api::Registry& registry = handler_->registry();
  manager_opts.namespaced_resources = [&registry] {
    return controllers::NamespacedResourcesOf(registry);
  };
  manager_opts.gc_resources = [&registry] {
    return controllers::GarbageCollectedResourcesOf(registry);
  };
  manager_opts.cluster_cidr = config_.cluster_cidr;
  manager_opts.root_ca_pem = root_ca_pem_;
  manager_opts.storage_dir = config_.data_dir + "/storage";
  // `--disable servicelb` (k3s's name): LoadBalancer Services stay pending.
  for (const std::string& d : config_.disable)
    if (d == "servicelb") manager_opts.servicelb = false;
  controllers_ = std::make_unique<controllers::ControllerManager>(*loopback_,
                                                                  manager_opts);
  scheduler_ = std::make_unique<scheduler::Scheduler>(
      *loopback_, controllers_->informers());
  Status st = controllers_->Start();
  if (st.ok()) st = scheduler_->Start();
  if (!st.ok())
    log::Error("server", "control loops did not start")("error", st.ToString());
}

void Server::StopControlLoops() {
  if (scheduler_) scheduler_->Stop();
  if (controllers_) controllers_->Stop();
  scheduler_.reset();
  controllers_.reset();
}

void Server::Stop() {
  if (agent_) {
    agent_->Stop();
    agent_.reset();
  }
  if (deployer_) {
    deployer_->Stop();
    deployer_.reset();
  }
  manifest_source_.reset();
  deployer_client_.reset();
  if (elector_) {
    elector_->Stop();  // stops the control loops while leading
    elector_.reset();
  }
  StopControlLoops();
  if (api_) {
    api_->Stop();
    api_.reset();
  }
  loopback_.reset();
  handler_.reset();
  encrypted_.reset();
  store_.reset();  // closing the backend flushes and releases its lock
}

int Server::port() const { return api_ ? api_->port() : 0; }

}  // namespace kite::server
