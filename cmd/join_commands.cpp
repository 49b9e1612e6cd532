#include "cmd/join_commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>

#include "agent/agent.h"
#include "agent/join.h"
#include "agent/proxy/proxy_model.h"
#include "api/object.h"
#include "client/https_client.h"
#include "cmd/flags.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"
#include "server/apiserver/bootstrap_token.h"
#include "server/server.h"
#include "tls/join_token.h"
#include "tls/pki.h"

namespace kite::cmd {
namespace {

constexpr char kDefaultConfig[] = "/etc/kite/config.yaml";

int Fail(const Status& st) {
  std::fprintf(stderr, "kite: %s\n", st.message().c_str());
  return st.code() == Code::kInvalidArgument ? 2 : 1;
}

// Parses flags with the shared config file (keys of other commands skipped).
Status ParseWithConfig(FlagSet& flags, const std::vector<std::string>& args,
                       std::string* config_file, std::string* log_level) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--config=", 0) == 0) *config_file = args[i].substr(9);
    if (args[i] == "--config" && i + 1 < args.size()) *config_file = args[i + 1];
  }
  flags.IgnoreUnknownConfigKeys();
  KITE_RETURN_IF_ERROR(flags.Parse(args, RealEnv(), *config_file,
                                   *config_file != kDefaultConfig));
  log::Level level;
  if (!log::ParseLevel(*log_level, &level)) {
    return InvalidArgumentError(
        "--log-level wants debug, info, warn or error, got \"" + *log_level +
        "\"");
  }
  log::SetLevel(level);
  return Status::Ok();
}

std::string LowerHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  std::string s = buf;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const client::ResourceRef kSecrets{"", "v1", "secrets",
                                   apiserver::kBootstrapTokenNamespace};

// A client of the running server from the admin kubeconfig, and the hash
// of the CA it trusts.
StatusOr<std::unique_ptr<client::HttpsClient>> AdminClient(
    const std::string& kubeconfig, std::string* ca_hash) {
  auto cfg = client::ConfigFromKubeconfigFile(kubeconfig);
  if (!cfg.ok()) {
    return Status(cfg.status().code(), "admin kubeconfig " + kubeconfig + ": " +
                                           cfg.status().message());
  }
  if (ca_hash != nullptr) {
    auto hash = tls::CertSha256(cfg->ca_pem);
    if (!hash.ok()) {
      return InvalidArgumentError("admin kubeconfig " + kubeconfig +
                                  " has no usable certificate-authority-data");
    }
    *ca_hash = *hash;
  }
  return client::HttpsClient::Create(*cfg);
}

// "unreachable server" errors get a hint.
Status Explain(const Status& st, const std::string& kubeconfig) {
  if (st.code() == Code::kUnavailable) {
    return Status(st.code(), st.message() + " (is kite server running? " +
                                 "the server named in " + kubeconfig +
                                 " is used)");
  }
  return st;
}

}  // namespace

bool ParseDuration(const std::string& text, long long* seconds) {
  if (text == "0") {
    *seconds = 0;
    return true;
  }
  long long total = 0;
  size_t i = 0;
  if (text.empty()) return false;
  while (i < text.size()) {
    size_t start = i;
    long long n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 1000000000LL) return false;
      ++i;
    }
    if (i == start || i == text.size()) return false;
    switch (text[i]) {
      case 'd': total += n * 86400; break;
      case 'h': total += n * 3600; break;
      case 'm': total += n * 60; break;
      case 's': total += n; break;
      default: return false;
    }
    ++i;
  }
  *seconds = total;
  return true;
}

int RunAgent(const std::vector<std::string>& args) {
  std::string config_file = kDefaultConfig, log_level = "info";
  std::string server, token, token_file, node_name = LowerHostname();
  std::string data_dir, runtime_endpoint;
  std::vector<std::string> node_ips;
  int timeout_seconds = 60;
  bool join_only = false;
  std::vector<std::string> disable;
  FlagSet flags("agent");
  flags.String("config", &config_file, "config file whose keys are long flag names");
  flags.String("server", &server, "the API server to join: https://HOST:6443");
  flags.String("token", &token, "join token K10<ca hash>::<id>.<secret> (the server's <data-dir>/server/token)");
  flags.String("token-file", &token_file, "file holding the join token");
  flags.String("node-name", &node_name, "this node's name");
  flags.StringList("node-ip", &node_ips, "this node's address for the kubelet serving certificate (repeatable; default: all IPv4 addresses)");
  flags.String("data-dir", &data_dir, "state directory (default /var/lib/kite as root, ~/.kite otherwise)");
  flags.Int("sign-timeout", &timeout_seconds, "seconds to wait for the server to sign a certificate");
  flags.String("container-runtime-endpoint", &runtime_endpoint,
               "a running CRI runtime's socket, e.g. unix:///run/containerd/containerd.sock (default: the agent "
               "runs its own containerd)");
  flags.Bool("join-only", &join_only, "join (get the node certificates) and exit without running the agent");
  flags.String("log-level", &log_level, "debug, info, warn or error");
  flags.StringList("disable", &disable,
                   "do not run the built-in part NAME: coredns (the cluster DNS), kube-proxy (the service proxy)");
  std::string proxy_mode = "auto";
  bool proxy_cleanup = false;
  flags.String("proxy-mode", &proxy_mode,
               "the service proxy: auto (nftables, else iptables, else userspace), nftables, iptables or userspace");
  flags.Bool("proxy-cleanup", &proxy_cleanup,
             "remove the service proxy's rules and addresses when the agent stops (default: keep them, so "
             "Services work across a restart)");
  if (Status st = ParseWithConfig(flags, args, &config_file, &log_level); !st.ok()) return Fail(st);
  if (flags.help()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!flags.positional().empty()) {
    return Fail(InvalidArgumentError("kite agent takes no arguments, got \"" + flags.positional()[0] + "\""));
  }
  for (const std::string& d : disable) {
    if (d != "coredns" && d != "kube-proxy")
      return Fail(InvalidArgumentError("kite agent --disable: unknown part \"" + d + "\" (coredns, kube-proxy)"));
  }
  if (auto mode = proxy::ParseProxyMode(proxy_mode); !mode.ok()) {
    return Fail(InvalidArgumentError("--proxy-mode: " + mode.status().message()));
  }
  if (server.empty()) return Fail(InvalidArgumentError("kite agent needs --server https://HOST:PORT"));
  if (token.empty() && !token_file.empty()) {
    auto text = RealEnv().ReadFile(token_file);
    if (!text.ok()) return Fail(text.status());
    token = *text;
  }
  if (token.empty()) return Fail(InvalidArgumentError("kite agent needs --token or --token-file"));
  if (data_dir.empty()) data_dir = server::DefaultDataDir();
  std::vector<std::string> given_ips = node_ips;
  if (node_ips.empty()) node_ips = agent::HostIpv4Addresses();
  // SIGINT/SIGTERM are taken by sigwait below, in no other thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto random = tls::Random::Create();
  if (!random.ok()) return Fail(random.status());
  agent::JoinOptions o;
  o.server = server;
  o.token = token;
  o.node_name = node_name;
  o.data_dir = data_dir;
  o.node_ips = node_ips;
  o.sign_timeout = std::chrono::seconds(timeout_seconds);
  auto joined = agent::Join(RealEnv(), RealClock(), **random, o);
  if (!joined.ok()) return Fail(joined.status());
  std::printf("node %s joined %s\n", node_name.c_str(), server.c_str());
  std::printf("  client certificate  %s/client-kubelet.crt (%s)\n", joined->tls_dir.c_str(),
              joined->client_cert_reused ? "kept" : "issued");
  std::printf("  serving certificate %s/serving-kubelet.crt (%s)\n", joined->tls_dir.c_str(),
              joined->serving_cert_reused ? "kept" : "issued");
  std::printf("  kubeconfig          %s\n", joined->kubeconfig_path.c_str());
  std::printf("  the server accepts the node certificate (GET nodes/%s: %d)\n", node_name.c_str(),
              joined->node_get_status);
  std::fflush(stdout);
  if (join_only) return 0;

  agent::AgentConfig ac;
  ac.data_dir = data_dir;
  ac.node_name = node_name;
  ac.node_ips = given_ips;
  ac.container_runtime_endpoint = runtime_endpoint;
  ac.disable_dns = std::find(disable.begin(), disable.end(), "coredns") != disable.end();
  ac.disable_proxy = std::find(disable.begin(), disable.end(), "kube-proxy") != disable.end();
  ac.proxy_mode = proxy_mode;
  ac.proxy_cleanup = proxy_cleanup;
  agent::Agent node_agent(ac);
  if (Status st = node_agent.Start(); !st.ok()) return Fail(st);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::Info("agent", "stopping")("signal", sig);
  node_agent.Stop();
  return 0;
}

int RunToken(const std::vector<std::string>& args) {
  std::string config_file = kDefaultConfig, log_level = "warn";
  std::string kubeconfig = server::DefaultKubeconfigPath();
  std::string ttl = "24h", description;
  FlagSet flags("token");
  flags.String("config", &config_file, "config file whose keys are long flag names");
  flags.String("kubeconfig", &kubeconfig, "admin kubeconfig of the running server");
  flags.String("ttl", &ttl, "create: lifetime of the token (e.g. 24h, 30m, 7d; 0 = never expires)");
  flags.String("description", &description, "create: what the token is for");
  flags.String("log-level", &log_level, "debug, info, warn or error");
  if (Status st = ParseWithConfig(flags, args, &config_file, &log_level); !st.ok()) return Fail(st);
  const auto& pos = flags.positional();
  if (flags.help() || pos.empty()) {
    std::cout << "usage: kite token create [--ttl 24h] [--description TEXT] | list | delete ID...\n\n"
              << flags.Usage();
    return flags.help() ? 0 : 2;
  }
  const std::string& verb = pos[0];
  if (verb == "create") {
    if (pos.size() != 1) return Fail(InvalidArgumentError("kite token create takes no arguments"));
    long long seconds = 0;
    if (!ParseDuration(ttl, &seconds)) {
      return Fail(InvalidArgumentError("--ttl wants a duration like 24h, 90m or 0, got \"" + ttl + "\""));
    }
    std::string ca_hash;
    auto c = AdminClient(kubeconfig, &ca_hash);
    if (!c.ok()) return Fail(c.status());
    auto random = tls::Random::Create();
    if (!random.ok()) return Fail(random.status());
    auto token = tls::GenerateJoinToken(**random, ca_hash);
    if (!token.ok()) return Fail(token.status());
    std::optional<Clock::WallTime> expires;
    if (seconds > 0) expires = RealClock().Now() + std::chrono::seconds(seconds);
    client::Json secret =
        apiserver::BootstrapTokenSecret(token->id, token->secret, description, expires);
    auto created = (*c)->Create(kSecrets, secret, {});
    if (!created.ok()) return Fail(Explain(created.status(), kubeconfig));
    std::printf("%s\n", token->ToString().c_str());
    return 0;
  }
  if (verb == "list") {
    if (pos.size() != 1) return Fail(InvalidArgumentError("kite token list takes no arguments"));
    std::string ca_hash;
    auto c = AdminClient(kubeconfig, &ca_hash);
    if (!c.ok()) return Fail(c.status());
    auto list = (*c)->List(kSecrets, {});
    if (!list.ok()) return Fail(Explain(list.status(), kubeconfig));
    std::printf("%-8s %-22s %-98s %s\n", "ID", "EXPIRES", "TOKEN", "DESCRIPTION");
    const client::Json* items = api::Field(*list, "items");
    for (const client::Json& item : items ? *items : client::Json::array()) {
      auto info = apiserver::ReadBootstrapTokenSecret(item);
      if (!info.ok()) continue;
      tls::JoinToken t{ca_hash, info->id, info->secret};
      std::printf("%-8s %-22s %-98s %s\n", info->id.c_str(),
                  info->expiration.empty() ? "<never>" : info->expiration.c_str(),
                  t.ToString().c_str(), info->description.c_str());
    }
    return 0;
  }
  if (verb == "delete") {
    if (pos.size() < 2) return Fail(InvalidArgumentError("kite token delete needs the ID of a token"));
    auto c = AdminClient(kubeconfig, nullptr);
    if (!c.ok()) return Fail(c.status());
    int failed = 0;
    for (size_t i = 1; i < pos.size(); ++i) {
      std::string id = pos[i];
      if (auto parsed = tls::ParseJoinToken(id); parsed.ok()) id = parsed->id;
      if (tls::IsBootstrapToken(id)) id = id.substr(0, 6);
      if (!tls::IsBootstrapTokenId(id)) {
        std::fprintf(stderr, "kite: \"%s\" is not a token ID (6 characters of a-z, 0-9)\n", pos[i].c_str());
        ++failed;
        continue;
      }
      auto del = (*c)->Delete(kSecrets, apiserver::kBootstrapTokenSecretPrefix + id, {});
      if (!del.ok()) {
        Status st = del.status().code() == Code::kNotFound
                        ? NotFoundError("no token with ID " + id)
                        : Explain(del.status(), kubeconfig);
        std::fprintf(stderr, "kite: %s\n", st.message().c_str());
        ++failed;
        continue;
      }
      std::printf("token %s deleted\n", id.c_str());
    }
    return failed == 0 ? 0 : 1;
  }
  return Fail(InvalidArgumentError("unknown token command \"" + verb + "\" (create, list, delete ID)"));
}

int RunCertificate(const std::vector<std::string>& args) {
  std::string config_file = kDefaultConfig, log_level = "warn";
  server::Config config;
  FlagSet flags("certificate");
  flags.String("config", &config_file, "config file whose keys are long flag names");
  flags.String("data-dir", &config.data_dir, "state directory (default /var/lib/kite as root, ~/.kite otherwise)");
  flags.String("bind-address", &config.bind_address, "the server's --bind-address (a SAN when specific)");
  flags.StringList("tls-san", &config.tls_sans, "the server's extra SANs (repeatable)");
  flags.String("service-cidr", &config.service_cidr, "the server's --service-cidr (its first IP is a SAN)");
  flags.String("log-level", &log_level, "debug, info, warn or error");
  if (Status st = ParseWithConfig(flags, args, &config_file, &log_level); !st.ok()) return Fail(st);
  const auto& pos = flags.positional();
  if (flags.help() || pos.empty()) {
    std::cout << "usage: kite certificate rotate [flags]\n\n" << flags.Usage();
    return flags.help() ? 0 : 2;
  }
  if (pos[0] != "rotate" || pos.size() != 1) {
    return Fail(InvalidArgumentError("unknown certificate command \"" + pos[0] + "\" (rotate)"));
  }
  if (config.data_dir.empty()) config.data_dir = server::DefaultDataDir();
  auto changes = server::RotateCertificates(config);
  if (!changes.ok()) return Fail(changes.status());
  for (const std::string& c : *changes) std::printf("%s\n", c.c_str());
  std::printf("certificates in %s/server/tls renewed; restart kite server if it is running "
              "(it serves the old ones until then)\n",
              config.data_dir.c_str());
  return 0;
}

}  // namespace kite::cmd
