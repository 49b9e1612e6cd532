// SimNodes: N simulated Kubernetes nodes in one process, for tests and
// benchmarks of the control plane before real containers exist (issue 5).
//
// Each simulated node behaves, as seen through the API, like a kubelet:
// - registers its Node (capacity = allocatable from the options, the Ready
//   condition, InternalIP 127.0.0.x and Hostname addresses, nodeInfo,
//   kubernetes.io/hostname, os and arch labels) and re-posts its status
//   every `status_period` while it renews its Lease;
// - renews its Lease kube-node-lease/<node> (holderIdentity = the node,
//   leaseDurationSeconds 40) every `lease_period`, unless told to stop
//   (SetLeaseRenewal; what the node-lifecycle tests need);
// - reports every pod bound to it (spec.nodeName) as Running after
//   `ready_delay`: phase Running, conditions PodScheduled, Initialized,
//   ContainersReady, Ready and PodReadyToStartContainers True, hostIP,
//   podIP from the node's spec.podCIDR (10.42.<node index>.<n> while it has
//   none), containerStatuses ready and started with a
//   running state; pods whose restartPolicy is not Always "exit" after
//   `run_duration` with the exit code of the annotation
//   simnode.kite.io/exit-code (default 0: Succeeded, else Failed);
// - honours deletion: a pod of its with metadata.deletionTimestamp has its
//   containers "stopped" and is deleted with grace period 0 (uid
//   precondition), as a kubelet does once the containers are gone.
//
// Scale: one shared pod informer (one watch connection, field selector
// spec.nodeName!=) serves every node; a few worker threads handle the pods;
// one thread renews all leases. The API calls of a node go through the
// client `node_client(name)` returns when one was given (a node identity,
// system:node:<name>), else through the shared client.
//
// Threading: Start()/Stop() from the owner; SetLeaseRenewal, AddNode and
// the read accessors from any thread. Stop() joins every thread and is
// idempotent (the destructor calls it).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/status.h"

namespace kite::simnode {

struct SimNodesOptions {
  int nodes = 3;
  std::string prefix = "sim";  // node names: <prefix>-0, <prefix>-1, ...
  std::chrono::milliseconds ready_delay{0};      // bound -> Running
  std::chrono::milliseconds run_duration{1000};  // non-Always pods: -> exit
  std::string cpu = "4";
  std::string memory = "8Gi";
  int pods = 110;
  std::chrono::milliseconds lease_period{10000};
  int lease_duration_seconds = 40;
  std::chrono::milliseconds status_period{60000};
  int workers = 4;
  // Labels every node carries besides the standard ones.
  std::map<std::string, std::string> labels;
};

// The client a node's own calls go through (its identity), or null.
using NodeClientFactory =
    std::function<StatusOr<std::unique_ptr<client::Interface>>(
        const std::string& node_name)>;

class SimNodes {
 public:
  // `shared` (lists and watches pods; every call when `node_client` is
  // empty) must outlive this object.
  SimNodes(client::Interface& shared, SimNodesOptions options,
           NodeClientFactory node_client = nullptr);
  ~SimNodes();
  SimNodes(const SimNodes&) = delete;
  SimNodes& operator=(const SimNodes&) = delete;

  // Registers the nodes (Node and Lease) and starts the threads. The error
  // of the first registration that fails.
  Status Start();
  void Stop();

  // Registers one more node (<prefix>-<next index>) and returns its name.
  StatusOr<std::string> AddNode();
  // Stops (false) or resumes (true) the Lease renewals and status posts of
  // `node`. NotFound for a node that is not ours.
  Status SetLeaseRenewal(const std::string& node, bool renew);

  std::vector<std::string> NodeNames() const;
  // Pods reported Running / deleted by the nodes so far.
  int64_t PodsStarted() const { return started_.load(); }
  int64_t PodsDeleted() const { return deleted_.load(); }

 private:
  struct Node {
    std::string name;
    int index = 0;
    std::unique_ptr<client::Interface> own;  // null: the shared client
    client::Interface* api = nullptr;
    bool renew = true;  // guarded by mu_
    bool was_renewing = true;
    int next_ip = 2;          // guarded by mu_
    std::string cidr_prefix;  // "10.42.3." once spec.podCIDR is known; mu_
  };
  struct PodState {
    std::chrono::steady_clock::time_point seen;
    std::chrono::steady_clock::time_point running_since;
    bool running = false;
  };

  Status Register(Node& node);
  Status PostStatus(Node& node);
  Status RenewLease(Node& node);
  void LeaseLoop();
  void Worker();
  // Handles one pod key; returns the delay after which to look again (0:
  // done).
  std::chrono::milliseconds Sync(const std::string& key);
  Node* FindNode(const std::string& name);
  std::string NodeIp(int index) const;

  client::Interface& shared_;
  const SimNodesOptions options_;
  NodeClientFactory node_client_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_flag_ = false;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, Node*> by_name_;
  std::map<std::string, PodState> pods_;  // by key

  std::unique_ptr<client::Informer> informer_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> threads_;
  std::atomic<int64_t> started_{0};
  std::atomic<int64_t> deleted_{0};
};

}  // namespace kite::simnode
