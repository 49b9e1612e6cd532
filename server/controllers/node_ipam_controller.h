// NodeIpamController: gives every Node a pod CIDR (spec.podCIDR and
// spec.podCIDRs) from the cluster CIDR, one /node_mask_size block each
// (10.42.0.0/16 in /24s by default: 10.42.0.0/24, 10.42.1.0/24, ...), the
// lowest free block first, never one another node holds. What is taken is
// read from the nodes themselves, so a restart allocates on from where it
// was; blocks handed out but not yet seen in the informer's cache are
// remembered in memory. A full range gets a Warning CIDRNotAvailable event
// on the node and a retry.
//
// Threading: the informer thread enqueues node names; one worker allocates
// (allocation is serial). Start()/Stop() from the owner; Stop() is
// idempotent.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace kite::controllers {

struct NodeIpamControllerOptions {
  std::string cluster_cidr = "10.42.0.0/16";
  int node_mask_size = 24;
  Clock* clock = nullptr;  // null: RealClock()
};

class NodeIpamController : public Controller {
 public:
  // Fails (kInvalidArgument) from Start() when the CIDR does not parse or
  // the mask is not longer than its prefix.
  NodeIpamController(client::Interface& client,
                     client::SharedInformerFactory& informers,
                     NodeIpamControllerOptions options = {});
  ~NodeIpamController() override;
  NodeIpamController(const NodeIpamController&) = delete;
  NodeIpamController& operator=(const NodeIpamController&) = delete;

  Status Start() override;
  void Stop() override;

  // Allocates for node `name` once (tests call it directly).
  Status Sync(const std::string& name);
  client::WorkQueue& queue() { return *queue_; }

 private:
  void Worker();
  Status Parse();

  client::Interface& client_;
  NodeIpamControllerOptions options_;
  Clock& clock_;
  client::Informer& nodes_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::thread worker_;
  bool started_ = false;
  uint32_t base_ = 0;
  int prefix_ = 0;
  bool parsed_ = false;
  std::mutex mu_;
  std::map<std::string, std::string> assigned_;  // node -> CIDR, by us
};

}  // namespace kite::controllers
