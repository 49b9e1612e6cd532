// Server: the wiring of `kite server`. It owns every server-side component,
// starts them in dependency order and stops them in reverse:
//   datastore -> PKI -> request path (CRDs, allocators) -> HTTPS API server
//   -> bootstrap objects -> admin kubeconfig -> manifest deployer
//   (<data_dir>/server/manifests, on every server) -> leader election ->
//   controllers and scheduler (on the loopback client) -> the in-process
//   agent (agent/agent.h; unless disable_agent), with node credentials the
//   server signs itself (agent_credentials.h), over HTTPS like any node
// The controllers and the scheduler run while this server holds the
// kube-system/kite-controller-manager Lease (client/leader_election.h).
//
// Threading: Start() and Stop() are called from one thread (main). Each
// component runs its own threads; Stop() returns after all of them ended.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "client/leader_election.h"
#include "common/status.h"
#include "datastore/backend.h"
#include "server/apiserver/api_server.h"
#include "server/apiserver/auth.h"
#include "server/apiserver/bootstrap_token.h"
#include "server/apiserver/handler.h"
#include "server/apiserver/loopback_client.h"
#include "server/apiserver/rbac.h"
#include "server/apiserver/secrets_encryption.h"
#include "server/controllers/controller_manager.h"
#include "server/controllers/manifest_deployer.h"
#include "server/scheduler/scheduler.h"
#include "tls/cluster_pki.h"
#include "tls/pki.h"

namespace kite::server {

struct Config {
  // Where the server keeps its state (DESIGN.md §8).
  std::string data_dir;
  // Empty: sqlite://<data_dir>/server/db/state.db.
  std::string datastore_endpoint;
  std::string bind_address = "0.0.0.0";
  int https_listen_port = 6443;
  // Where the admin kubeconfig goes; empty: DefaultKubeconfigPath().
  std::string write_kubeconfig;
  // Extra subjectAltNames of the serving certificate (DNS names or IPs).
  std::vector<std::string> tls_sans;
  std::string service_cidr = "10.43.0.0/16";
  // IPv4 range the pod CIDRs of nodes are taken from (a /24 each).
  std::string cluster_cidr = "10.42.0.0/16";
  std::string service_node_port_range = "30000-32767";
  // Default manifests not to deploy (base names: "local-storage"); their
  // files are removed from <data_dir>/server/manifests and their objects
  // deleted. "servicelb" turns the LoadBalancer controller off.
  std::vector<std::string> disable;
  // Static bearer tokens (kube-apiserver's --token-file format); empty: none.
  std::string token_file;
  // No in-process agent.
  bool disable_agent = false;
  // The in-process agent's node: its name (empty: the host name, lower
  // case), addresses (empty: AdvertiseAddress), and a running CRI runtime
  // to use (empty: the agent supervises its own containerd).
  std::string node_name;
  std::vector<std::string> node_ips;
  std::string container_runtime_endpoint;
  int kubelet_port = 10250;
  // The in-process agent's service proxy (docs/proxy.md): its mode (auto,
  // nftables, iptables, userspace) and whether it removes its rules when
  // the agent stops. `--disable kube-proxy` turns it off.
  std::string proxy_mode = "auto";
  bool proxy_cleanup = false;
  // Store Secrets encrypted with AES-256-GCM under
  // <data_dir>/server/cred/encryption-key (secrets_encryption.h).
  bool secrets_encryption = false;
};

// /var/lib/kite for root, ~/.kite for everyone else.
std::string DefaultDataDir();
// /etc/kite/kite.yaml for root, ~/.kite/kite.yaml for everyone else.
std::string DefaultKubeconfigPath();
// The datastore endpoint the config names, or the SQLite default under the
// data dir.
std::string DatastoreEndpoint(const Config& config);
// The IPv4 address clients and pods reach this server at: the bind address
// when it is a specific one, else the first non-loopback IPv4 address of the
// host, else 127.0.0.1.
std::string AdvertiseAddress(const std::string& bind_address);

// `kite certificate rotate`: reissues every leaf certificate of the server
// PKI in <data_dir>/server/tls (not the CAs), with the SANs the server would
// give them. Returns what was written. A running server keeps serving the
// old certificates until it restarts.
StatusOr<std::vector<std::string>> RotateCertificates(Config config);

class Server {
 public:
  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the datastore, loads the PKI and starts serving. On failure
  // everything already started is stopped again and the error says what
  // failed.
  Status Start();
  // Stops in reverse start order. Idempotent.
  void Stop();

  // The API server's port (useful with port 0 in tests).
  int port() const;
  // The admin kubeconfig written by Start().
  const std::string& kubeconfig_path() const {
    return config_.write_kubeconfig;
  }

 private:
  Status StartApi();
  // Called by the leader elector: the controllers and the scheduler run
  // only while this server holds the kube-system/kite-controller-manager
  // Lease (docs/scheduler.md).
  void StartControlLoops();
  void StopControlLoops();
  Status StartDeployer();
  // Signs the in-process agent's credentials with `pki` (agent_credentials.h).
  Status WriteAgentCredentials(const tls::ClusterPki& pki,
                               const std::string& url);
  Status StartAgent();

  Config config_;
  // The cluster CA the controllers publish (kube-root-ca.crt).
  std::string root_ca_pem_;
  // How the CSR controller checks and signs node certificates.
  controllers::CsrCallbacks csr_callbacks_;
  std::unique_ptr<datastore::Backend> store_;
  // Wraps store_ for the request path when a Secrets key exists.
  std::unique_ptr<apiserver::EncryptingBackend> encrypted_;
  std::unique_ptr<apiserver::Handler> handler_;
  apiserver::ChainAuthenticator authenticator_;
  std::unique_ptr<tls::Random> random_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<apiserver::LoopbackClient> loopback_;
  std::unique_ptr<controllers::ControllerManager> controllers_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<client::LeaderElector> elector_;
  std::unique_ptr<apiserver::LoopbackClient> deployer_client_;
  std::unique_ptr<controllers::ManifestSource> manifest_source_;
  std::unique_ptr<controllers::ManifestDeployer> deployer_;
  std::unique_ptr<agent::Agent> agent_;
};

}  // namespace kite::server
