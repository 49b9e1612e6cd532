// Scheduler: kite's kube-scheduler (DESIGN.md §6). It places every pod
// whose spec.nodeName is empty and whose schedulerName is its own
// ("default-scheduler") on a node, through the client::Interface only.
//
// How it works:
// - shared informers on pods and nodes feed a cache of nodes with the pods
//   bound to them (requests summed), and a queue of pods waiting;
// - one scheduling thread takes a pod, filters and scores every node
//   (plugins.h), "assumes" the pod onto the best node in the cache at once
//   (so the next pod sees its requests even before the informer reports the
//   binding), and hands the binding (POST pods/<name>/binding) and the
//   Scheduled event to a pool of binder threads; a binding that fails
//   forgets the assumption and the pod is retried with back-off;
// - a pod that fits nowhere gets PodScheduled=False, reason Unschedulable,
//   with kube-scheduler's message ("0/3 nodes are available: 3 Insufficient
//   cpu. preemption: ..."), and a FailedScheduling Warning Event (counted
//   up on repeats); it waits among the unschedulable until a node is added
//   or changes in a way scheduling reads, or a pod goes away, and at the
//   latest `unschedulable_retry` later;
// - volumes (VolumeBinding): PersistentVolumeClaims must exist; a bound
//   claim's PV nodeAffinity must admit the node; an unbound claim of a
//   WaitForFirstConsumer class needs a provisioner or an Available PV
//   admitting the node, and before the binding the claim is annotated
//   volume.kubernetes.io/selected-node=<node> (the PV controller then
//   provisions or binds there); an unbound claim that already has the
//   annotation keeps its pods on that node. Claim, PV and StorageClass
//   changes retry unschedulable pods.
//
// Threading: Start()/Stop() from the owner (Stop() joins everything and is
// idempotent; the destructor calls it). Informer handlers run on the
// informers' threads and only touch the cache and the queue, under mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/scheduler/plugins.h"

namespace kite::scheduler {

struct SchedulerOptions {
  std::string scheduler_name = "default-scheduler";
  int binders = 8;
  // Unschedulable pods are tried again at least this often.
  std::chrono::milliseconds unschedulable_retry{30000};
  Clock* clock = nullptr;  // null: RealClock()
};

// The result of one scheduling decision (for tests).
struct Decision {
  std::string node;     // empty: unschedulable
  std::string message;  // the FitError message when unschedulable
};

class Scheduler {
 public:
  // `client` and `informers` must outlive the scheduler. Registers its
  // informers (pods, nodes) with the factory; the owner starts the factory.
  Scheduler(client::Interface& client, client::SharedInformerFactory& informers,
            SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Status Start();
  void Stop();

  // Decides for `pod` against the cache, without assuming or binding.
  Decision Evaluate(const Json& pod);

  // Counters (for tests and benchmarks).
  int64_t Bound() const { return bound_.load(); }
  int64_t Attempts() const { return attempts_.load(); }
  int64_t Unschedulable() const { return failed_.load(); }

 private:
  struct CachedPod {
    std::shared_ptr<const PodInfo> info;
    bool assumed = false;
  };

  // Informer handlers.
  void OnPod(const Json& pod);
  void OnPodDelete(const Json& pod);
  void OnNode(const Json* old_node, const Json& node);
  void OnNodeDelete(const Json& node);

  // Cache edits; mu_ held.
  void AddPodLocked(std::shared_ptr<const PodInfo> info, bool assumed);
  void RemovePodLocked(const std::string& key);
  void MoveAllToActiveLocked();

  void ScheduleLoop();
  void ScheduleOne(const std::string& key);
  Decision DecideLocked(const PodInfo& pod,
                        const VolumeBindingInfo* volumes = nullptr);
  // What the VolumeBinding filter needs of `pod` (from the caches).
  VolumeBindingInfo VolumesOf(const Json& pod);
  void Bind(std::shared_ptr<const PodInfo> pod, std::string node,
            std::vector<std::string> select_claims);
  void RecordFailure(const Json& pod, const std::string& message);
  void RecordEvent(const Json& pod, const std::string& type,
                   const std::string& reason, const std::string& message);
  // Bindings go first; failure records are coalesced per pod (only the
  // latest message of a pod waiting to be recorded is written).
  void Submit(std::function<void()> task);
  void SubmitFailure(std::shared_ptr<const Json> pod, std::string message);
  void BinderLoop();
  bool Ours(const Json& pod) const;

  client::Interface& client_;
  client::Informer& pods_;
  client::Informer& nodes_informer_;
  client::Informer& claims_;
  client::Informer& volumes_;
  client::Informer& classes_;
  const SchedulerOptions options_;
  Clock& clock_;

  std::mutex mu_;  // the cache and the unschedulable set
  NodeMap nodes_;
  std::map<std::string, std::string> node_keys_;  // NodeSchedulingKey
  std::map<std::string, CachedPod> pods_by_key_;  // bound or assumed
  std::set<std::string> unschedulable_;
  // Per-pod back-off after failed attempts (1 s doubling to 10 s, as
  // kube-scheduler): a cluster change re-queues a pod only once it is due.
  struct Backoff {
    int attempts = 0;
    Clock::MonoTime last{};
  };
  std::map<std::string, Backoff> backoff_;
  uint64_t move_epoch_ = 0;  // bumped by MoveAllToActiveLocked
  std::mt19937 rng_{12345};

  client::WorkQueue queue_;

  std::mutex tasks_mu_;
  std::condition_variable tasks_cv_;
  std::deque<std::function<void()>> tasks_;
  std::deque<std::string> failure_order_;
  std::map<std::string, std::pair<std::shared_ptr<const Json>, std::string>>
      pending_failures_;
  bool stopping_ = false;

  std::mutex events_mu_;
  // pod key -> {event name, count, message}
  struct EventRecord {
    std::string name;
    int count = 0;
    std::string message;
  };
  std::map<std::string, EventRecord> failure_events_;

  std::vector<std::thread> threads_;
  bool started_ = false;
  std::atomic<int64_t> bound_{0};
  std::atomic<int64_t> attempts_{0};
  std::atomic<int64_t> failed_{0};
};

}  // namespace kite::scheduler
