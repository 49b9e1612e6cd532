#include "cmd/commands.h"

#include <signal.h>

#include <cstdio>
#include <iostream>

#include "agent/proxy/proxy_model.h"
#include "cmd/flags.h"
#include "cmd/join_commands.h"
#include "common/env.h"
#include "common/log.h"
#include "common/version.h"
#include "server/datastore_admin.h"
#include "server/server.h"

namespace kite::cmd {
namespace {

constexpr char kDefaultConfig[] = "/etc/kite/config.yaml";

constexpr char kUsage[] =
    "kite: a lightweight Kubernetes distribution\n"
    "\n"
    "usage: kite <command> [flags]\n"
    "\n"
    "commands:\n"
    "  server                         run the control plane (datastore, HTTPS API server) and a node agent\n"
    "  agent --server URL --token T   join this node and run its agent (kubelet on containerd)\n"
    "  token create|list|delete       join tokens of the running server (admin kubeconfig)\n"
    "  certificate rotate             reissue the server's leaf certificates (restart to use)\n"
    "  datastore snapshot FILE        write an online snapshot of the SQLite datastore\n"
    "  datastore restore FILE         replace the datastore with a snapshot (server stopped)\n"
    "  datastore compact              drop all history and shrink the file (server stopped)\n"
    "  version                        print the version (also --version)\n"
    "\n"
    "Flags may also come from /etc/kite/config.yaml (--config FILE), whose keys are\n"
    "the long flag names. `kite <command> --help` lists a command's flags.\n";

int Fail(const Status& st) {
  std::fprintf(stderr, "kite: %s\n", st.message().c_str());
  return st.code() == Code::kInvalidArgument ? 2 : 1;
}

void PrintVersion() {
  std::printf("kite %s (commit %s, %s)\nkubernetes %s\n", KiteVersion(), GitCommit(), Platform(),
              KubeGitVersion().c_str());
}

// Waits for SIGINT or SIGTERM. The signals must already be blocked in every
// thread (BlockStopSignals before any thread starts).
int WaitForStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

void BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Flags shared by the commands that find the datastore.
struct StoreFlags {
  server::Config config;
  std::string config_file = kDefaultConfig;
  std::string log_level = "info";

  void Register(FlagSet& flags) {
    flags.String("config", &config_file, "config file whose keys are long flag names");
    flags.String("data-dir", &config.data_dir, "state directory (default /var/lib/kite as root, ~/.kite otherwise)");
    flags.String("datastore-endpoint", &config.datastore_endpoint,
                 "datastore: sqlite:///path/state.db (default: SQLite file under the data dir)");
    flags.String("log-level", &log_level, "debug, info, warn or error");
  }

  // Parses args; the config file named by --config is read after the command
  // line was scanned for --config itself.
  Status Parse(FlagSet& flags, const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].rfind("--config=", 0) == 0) config_file = args[i].substr(9);
      if (args[i] == "--config" && i + 1 < args.size()) config_file = args[i + 1];
    }
    bool explicit_config = config_file != kDefaultConfig;
    KITE_RETURN_IF_ERROR(flags.Parse(args, RealEnv(), config_file, explicit_config));
    log::Level level;
    if (!log::ParseLevel(log_level, &level)) {
      return InvalidArgumentError("--log-level wants debug, info, warn or error, got \"" + log_level + "\"");
    }
    log::SetLevel(level);
    if (config.data_dir.empty()) config.data_dir = server::DefaultDataDir();
    return Status::Ok();
  }
};

}  // namespace

int RunServer(const std::vector<std::string>& args) {
  StoreFlags store;
  FlagSet flags("server");
  store.Register(flags);
  flags.String("bind-address", &store.config.bind_address, "address the API server listens on (default 0.0.0.0)");
  flags.Int("https-listen-port", &store.config.https_listen_port, "port the API server listens on (HTTPS)");
  flags.String("write-kubeconfig", &store.config.write_kubeconfig,
               "where to write the admin kubeconfig (default /etc/kite/kite.yaml as root, ~/.kite/kite.yaml otherwise)");
  flags.StringList("tls-san", &store.config.tls_sans,
                   "extra DNS name or IP address for the serving certificate (repeatable)");
  flags.String("service-cidr", &store.config.service_cidr, "IPv4 range of Service ClusterIPs");
  flags.String("cluster-cidr", &store.config.cluster_cidr, "IPv4 range of pod IPs (a /24 per node)");
  flags.String("service-node-port-range", &store.config.service_node_port_range, "port range of NodePorts");
  flags.String("token-file", &store.config.token_file,
               "static bearer tokens, CSV lines token,user,uid[,\"group1,group2\"]");
  flags.Bool("secrets-encryption", &store.config.secrets_encryption,
             "store Secret values encrypted (AES-256-GCM, key in <data-dir>/server/cred/encryption-key)");
  flags.Bool("disable-agent", &store.config.disable_agent, "do not run a node agent in this process");
  flags.String("node-name", &store.config.node_name, "the in-process agent's node name (default: the host name)");
  flags.StringList("node-ip", &store.config.node_ips,
                   "the in-process agent's node address (repeatable; default: the advertised address)");
  flags.String("container-runtime-endpoint", &store.config.container_runtime_endpoint,
               "a running CRI runtime's socket, e.g. unix:///run/containerd/containerd.sock (default: the agent "
               "runs its own containerd)");
  flags.StringList("disable", &store.config.disable,
                   "do not deploy the default manifest NAME (e.g. local-storage, kube-dns) and delete its objects, "
                   "or do not run the built-in servicelb (LoadBalancer Services on the node addresses) or "
                   "kube-proxy (the service proxy) (repeatable)");
  flags.String("proxy-mode", &store.config.proxy_mode,
               "the in-process agent's service proxy: auto (nftables, else iptables, else userspace), nftables, "
               "iptables or userspace");
  flags.Bool("proxy-cleanup", &store.config.proxy_cleanup,
             "remove the service proxy's rules and addresses when the agent stops (default: keep them, so "
             "Services work across a restart)");
  if (Status st = store.Parse(flags, args); !st.ok()) return Fail(st);
  if (flags.help()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!flags.positional().empty()) {
    return Fail(InvalidArgumentError("kite server takes no arguments, got \"" + flags.positional()[0] + "\""));
  }
  if (auto mode = proxy::ParseProxyMode(store.config.proxy_mode); !mode.ok()) {
    return Fail(InvalidArgumentError("--proxy-mode: " + mode.status().message()));
  }

  BlockStopSignals();
  server::Server server(store.config);
  if (Status st = server.Start(); !st.ok()) return Fail(st);
  int sig = WaitForStopSignal();
  log::Info("server", "stopping")("signal", sig);
  server.Stop();
  return 0;
}

int RunDatastore(const std::vector<std::string>& args) {
  StoreFlags store;
  FlagSet flags("datastore");
  flags.IgnoreUnknownConfigKeys();  // it shares the server's config file
  store.Register(flags);
  if (Status st = store.Parse(flags, args); !st.ok()) return Fail(st);
  const auto& pos = flags.positional();
  if (flags.help() || pos.empty()) {
    std::cout << "usage: kite datastore snapshot FILE | restore FILE | compact [flags]\n\n" << flags.Usage();
    return flags.help() ? 0 : 2;
  }
  auto db = server::SqlitePath(store.config);
  if (!db.ok()) return Fail(db.status());

  const std::string& verb = pos[0];
  if ((verb == "snapshot" || verb == "restore") && pos.size() != 2) {
    return Fail(InvalidArgumentError("kite datastore " + verb + " needs exactly one FILE"));
  }
  if (verb == "snapshot") {
    if (Status st = server::SnapshotDatastore(store.config, pos[1]); !st.ok()) return Fail(st);
    std::printf("snapshot of %s written to %s\n", db->c_str(), pos[1].c_str());
    return 0;
  }
  if (verb == "restore") {
    if (Status st = server::RestoreDatastore(store.config, pos[1]); !st.ok()) return Fail(st);
    std::printf("%s restored from %s\n", db->c_str(), pos[1].c_str());
    return 0;
  }
  if (verb == "compact" && pos.size() == 1) {
    if (Status st = server::CompactDatastore(store.config); !st.ok()) return Fail(st);
    std::printf("%s compacted\n", db->c_str());
    return 0;
  }
  return Fail(InvalidArgumentError("unknown datastore command \"" + verb + "\" (snapshot FILE, restore FILE, compact)"));
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "--version" || command == "version") {
    PrintVersion();
    return 0;
  }
  if (command == "server") return RunServer(args);
  if (command == "datastore") return RunDatastore(args);
  if (command == "agent") return RunAgent(args);
  if (command == "token") return RunToken(args);
  if (command == "certificate") return RunCertificate(args);
  std::fprintf(stderr, "kite: unknown command \"%s\"\n\n%s", command.c_str(), kUsage);
  return 2;
}

}  // namespace kite::cmd
