// kite-simnodes: runs N simulated nodes (SimNodes) against a kite (or any
// Kubernetes) API server over HTTPS, until SIGINT/SIGTERM or "quit".
//
//   kite-simnodes --kubeconfig ~/.kite/kite.yaml --nodes 3
//   kite-simnodes --data-dir /tmp/d --server https://127.0.0.1:6443 --nodes 100
//
// Credentials: --kubeconfig, or --server with --ca/--cert/--key (files).
// With --data-dir (the server's) every node gets its own client certificate
// system:node:<name> (O=system:nodes) signed by
// <data-dir>/server/tls/client-ca, as real agents hold; the server URL then
// comes from --server or the kubeconfig, and the pod watch uses the
// kubeconfig's identity when one is given, else a harness identity
// (kite-simnodes in system:masters: a watch of every node's pods is more
// than any one node may read).
//
// Commands, one per line on stdin or appended to --control-file:
//   stop-lease NAME     the node stops renewing its Lease (and its status)
//   resume-lease NAME   it renews again (and reports Ready)
//   add-node            registers one more node
//   quit                stops
// Prints "simnodes ready nodes=N" once every node is registered.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/https_client.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/log.h"
#include "tests/simnode/simnode.h"
#include "tls/pki.h"

namespace {

using kite::Status;
using kite::StatusOr;

struct Flags {
  std::string kubeconfig, server, cert, key, ca, data_dir, control_file;
  std::string prefix = "sim", cpu = "4", memory = "8Gi";
  int nodes = 3, pods = 110, ready_delay_ms = 0, run_duration_ms = 1000;
  int lease_period_ms = 10000, workers = 4;
};

const char kUsage[] =
    "usage: kite-simnodes [--kubeconfig PATH | --server URL --ca F --cert F "
    "--key F]\n"
    "  [--data-dir DIR] [--nodes N] [--prefix NAME] [--ready-delay MS]\n"
    "  [--run-duration MS] [--cpu Q] [--memory Q] [--pods N]\n"
    "  [--lease-period MS] [--workers N] [--control-file PATH]\n";

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (a == "--help" || a == "-h") return false;
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      std::cerr << "missing value for " << a << "\n";
      return false;
    }
    auto num = [&](int* dest) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) {
        std::cerr << "bad number for " << a << ": " << v << "\n";
        return false;
      }
      *dest = static_cast<int>(n);
      return true;
    };
    bool ok = true;
    if (a == "--kubeconfig")
      f->kubeconfig = v;
    else if (a == "--server")
      f->server = v;
    else if (a == "--cert")
      f->cert = v;
    else if (a == "--key")
      f->key = v;
    else if (a == "--ca")
      f->ca = v;
    else if (a == "--data-dir")
      f->data_dir = v;
    else if (a == "--control-file")
      f->control_file = v;
    else if (a == "--prefix")
      f->prefix = v;
    else if (a == "--cpu")
      f->cpu = v;
    else if (a == "--memory")
      f->memory = v;
    else if (a == "--nodes")
      ok = num(&f->nodes);
    else if (a == "--pods")
      ok = num(&f->pods);
    else if (a == "--ready-delay")
      ok = num(&f->ready_delay_ms);
    else if (a == "--run-duration")
      ok = num(&f->run_duration_ms);
    else if (a == "--lease-period")
      ok = num(&f->lease_period_ms);
    else if (a == "--workers")
      ok = num(&f->workers);
    else {
      std::cerr << "unknown flag " << a << "\n";
      return false;
    }
    if (!ok) return false;
  }
  return true;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  return kite::RealEnv().ReadFile(path);
}

// The shared client's configuration from the flags (no data dir needed).
StatusOr<kite::client::HttpsClientConfig> BaseConfig(const Flags& f) {
  kite::client::HttpsClientConfig c;
  if (!f.kubeconfig.empty()) {
    KITE_ASSIGN_OR_RETURN(c,
                          kite::client::ConfigFromKubeconfigFile(f.kubeconfig));
  }
  if (!f.server.empty()) c.server = f.server;
  if (!f.ca.empty()) {
    KITE_ASSIGN_OR_RETURN(c.ca_pem, ReadFile(f.ca));
  }
  if (!f.cert.empty()) {
    KITE_ASSIGN_OR_RETURN(c.cert_pem, ReadFile(f.cert));
  }
  if (!f.key.empty()) {
    KITE_ASSIGN_OR_RETURN(c.key_pem, ReadFile(f.key));
  }
  if (c.server.empty())
    return kite::InvalidArgumentError("give --kubeconfig or --server");
  c.user_agent = "kite-simnodes";
  c.max_connections = 16;
  return c;
}

class NodeIdentities {
 public:
  static StatusOr<std::unique_ptr<NodeIdentities>> Load(
      const std::string& data_dir, kite::client::HttpsClientConfig base) {
    auto ids = std::unique_ptr<NodeIdentities>(new NodeIdentities);
    std::string tls = data_dir + "/server/tls/";
    KITE_ASSIGN_OR_RETURN(ids->ca_.cert_pem, ReadFile(tls + "client-ca.crt"));
    KITE_ASSIGN_OR_RETURN(ids->ca_.key_pem, ReadFile(tls + "client-ca.key"));
    if (base.ca_pem.empty() && !base.insecure_skip_verify) {
      KITE_ASSIGN_OR_RETURN(base.ca_pem, ReadFile(tls + "server-ca.crt"));
    }
    KITE_ASSIGN_OR_RETURN(ids->random_, kite::tls::Random::Create());
    ids->base_ = std::move(base);
    return ids;
  }

  // A client authenticating as system:node:<name>.
  StatusOr<std::unique_ptr<kite::client::Interface>> For(
      const std::string& name, int max_connections) {
    return As("system:node:" + name, {"system:nodes"}, max_connections);
  }

  // A client authenticating as user `cn` in groups `orgs`.
  StatusOr<std::unique_ptr<kite::client::Interface>> As(
      const std::string& cn, std::vector<std::string> orgs,
      int max_connections) {
    kite::tls::CertSpec spec;
    spec.common_name = cn;
    spec.organizations = std::move(orgs);
    spec.client_auth = true;
    auto now = kite::RealClock().Now();
    spec.not_before = now - kite::tls::kBackdate;
    spec.not_after = now + kite::tls::kLeafValidity;
    KITE_ASSIGN_OR_RETURN(kite::tls::CertAndKey ck,
                          kite::tls::IssueCert(*random_, ca_, spec));
    kite::client::HttpsClientConfig c = base_;
    c.cert_pem = ck.cert_pem;
    c.key_pem = ck.key_pem;
    c.bearer_token.clear();
    c.max_connections = max_connections;
    KITE_ASSIGN_OR_RETURN(auto client,
                          kite::client::HttpsClient::Create(std::move(c)));
    return std::unique_ptr<kite::client::Interface>(std::move(client));
  }

 private:
  NodeIdentities() = default;
  kite::tls::CertAndKey ca_;
  std::unique_ptr<kite::tls::Random> random_;
  kite::client::HttpsClientConfig base_;
};

void Command(kite::simnode::SimNodes& nodes, const std::string& line) {
  std::istringstream in(line);
  std::string cmd, arg;
  in >> cmd >> arg;
  if (cmd.empty()) return;
  Status st;
  if (cmd == "stop-lease" || cmd == "resume-lease") {
    st = nodes.SetLeaseRenewal(arg, cmd == "resume-lease");
  } else if (cmd == "add-node") {
    auto name = nodes.AddNode();
    st = name.status();
    if (name.ok()) arg = *name;
  } else if (cmd == "quit") {
    kill(getpid(), SIGTERM);
    return;
  } else {
    st = kite::InvalidArgumentError("unknown command " + cmd);
  }
  std::cout << (st.ok() ? "ok " : "error ") << cmd << " " << arg
            << (st.ok() ? "" : ": " + st.ToString()) << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, &f)) {
    std::cerr << kUsage;
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto base = BaseConfig(f);
  if (!base.ok()) {
    std::cerr << "kite-simnodes: " << base.status().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<NodeIdentities> ids;
  if (!f.data_dir.empty()) {
    auto loaded = NodeIdentities::Load(f.data_dir, *base);
    if (!loaded.ok()) {
      std::cerr << "kite-simnodes: " << loaded.status().ToString() << "\n";
      return 1;
    }
    ids = std::move(*loaded);
  }
  std::unique_ptr<kite::client::Interface> shared;
  if (ids && base->cert_pem.empty() && base->bearer_token.empty()) {
    // The shared pod watch serves every simulated node, which no node
    // identity may do (the node authorizer wants fieldSelector
    // spec.nodeName=<that node>): it is the harness's own, an admin. Each
    // node's writes still use its own identity.
    auto c = ids->As("kite-simnodes", {"system:masters"}, 8);
    if (!c.ok()) {
      std::cerr << "kite-simnodes: " << c.status().ToString() << "\n";
      return 1;
    }
    shared = std::move(*c);
  } else {
    auto c = kite::client::HttpsClient::Create(*base);
    if (!c.ok()) {
      std::cerr << "kite-simnodes: " << c.status().ToString() << "\n";
      return 1;
    }
    shared = std::move(*c);
  }

  kite::simnode::SimNodesOptions o;
  o.nodes = f.nodes;
  o.prefix = f.prefix;
  o.ready_delay = std::chrono::milliseconds(f.ready_delay_ms);
  o.run_duration = std::chrono::milliseconds(f.run_duration_ms);
  o.cpu = f.cpu;
  o.memory = f.memory;
  o.pods = f.pods;
  o.lease_period = std::chrono::milliseconds(f.lease_period_ms);
  o.workers = f.workers;
  kite::simnode::NodeClientFactory factory;
  if (ids) {
    factory = [&ids](const std::string& name) { return ids->For(name, 2); };
  }
  kite::simnode::SimNodes nodes(*shared, o, factory);
  if (Status st = nodes.Start(); !st.ok()) {
    std::cerr << "kite-simnodes: " << st.ToString() << "\n";
    nodes.Stop();
    return 1;
  }
  std::cout << "simnodes ready nodes=" << f.nodes << std::endl;

  std::thread([&nodes] {
    std::string line;
    while (std::getline(std::cin, line)) Command(nodes, line);
  }).detach();
  if (!f.control_file.empty()) {
    std::thread([&nodes, path = f.control_file] {
      size_t done = 0;
      for (;;) {
        std::ifstream in(path);
        std::string line;
        size_t n = 0;
        while (std::getline(in, line)) {
          if (n++ >= done) Command(nodes, line);
        }
        done = std::max(done, n);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }).detach();
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  nodes.Stop();
  std::cout << "simnodes stopped started=" << nodes.PodsStarted()
            << " deleted=" << nodes.PodsDeleted() << std::endl;
  std::_Exit(0);
}
