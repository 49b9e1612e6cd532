// PodNetwork: the agent's part of the multi-node pod network (DESIGN.md §7,
// docs/network.md). It watches Nodes and keeps, through HostGw, a route to
// every other node's podCIDR via that node's address; a route goes when its
// node goes or changes its address or CIDR. At Start() it enables IP
// forwarding and masquerades traffic leaving the cluster CIDR (pod-to-pod
// traffic keeps its source address).
//
// Routes are only synced once the Node informer has listed (an empty cache
// would delete every route), after every Node event, and every
// resync_period to repair what someone else changed. The masquerade rules
// are installed again when the set of pod networks (cluster CIDR and every
// node's podCIDR) changes. Routes stay when the
// agent stops: the pods keep running and keep needing them.
//
// Threading: Start()/Stop() from the owner. One worker thread runs the
// commands; the informer's handlers only mark the state dirty.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/podnet/host_gw.h"
#include "agent/runtime/host.h"
#include "client/informer.h"
#include "client/interface.h"
#include "common/status.h"

namespace kite::podnet {

struct PodNetworkOptions {
  std::string node_name;
  // The cluster CIDR(s): traffic from them to anywhere else is
  // masqueraded. Every node's podCIDR counts as well (a joined agent may
  // not know the server's --cluster-cidr), see PodNetworks().
  std::vector<std::string> cluster_cidrs = {"10.42.0.0/16"};
  HostGwOptions host_gw;
  std::chrono::milliseconds resync_period{30000};
};

class PodNetwork {
 public:
  // `api` and `host` must outlive the PodNetwork.
  PodNetwork(client::Interface& api, runtime::Host& host,
             PodNetworkOptions options);
  ~PodNetwork();
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;

  // Forwarding and masquerade (failures logged: a single-node cluster runs
  // without them), then the Node watch and the worker.
  Status Start();
  // Idempotent; the routes stay.
  void Stop();

  // Completed route syncs so far (for tests).
  int syncs() const;

 private:
  void Run();

  client::Interface& api_;
  PodNetworkOptions options_;
  HostGw host_gw_;
  std::unique_ptr<client::Informer> nodes_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  int syncs_ = 0;          // guarded by mu_
  // The pod networks the masquerade rules were last installed for (worker
  // thread only).
  std::vector<std::string> masquerade_for_;
  std::thread worker_;
};

}  // namespace kite::podnet
