// PodSyncer: the heart of the kubelet. It watches the pods bound to this
// node and makes the container runtime match them, then reports what runs
// back to the API as pod status. docs/kubelet.md has the rules in full.
//
// Per pod, in this order: volumes (VolumeSetup), the sandbox (hostname,
// DNS, cgroup parent, host ports), images (checked, never pulled), init
// containers one after another, then the containers (env from EnvBuilder,
// mounts, resources, securityContext), restarts per restartPolicy with
// kubelet's back-off (immediate, then 10 s doubling to 5 min, reset after
// 10 min running) and CrashLoopBackOff, probes (startup gates liveness and
// readiness; liveness restarts; readiness sets Ready), postStart/preStop
// hooks, and graceful termination (preStop, StopContainer with the grace
// period, then the API delete with grace 0). Status goes out as a merge
// patch of pods/status only when it changed. Runtime objects carry the
// labels of runtime.h, so a restarted PodSyncer adopts what runs (no
// restart) and removes what belongs to pods that are gone (containers,
// sandboxes, volumes, cgroup directories), also those of a previous run.
//
// Offline: the pods known last stay known while the API server is away
// (the informer keeps its cache, and a checkpoint of every pod under
// <data-dir>/agent/checkpoints/ carries them across an agent restart);
// crashed containers keep restarting; status catches up when the server
// returns. Nothing is removed for a pod the API has not confirmed gone
// (only a synced informer's list or watch says so).
//
// Threading: one informer thread; one housekeeping thread that relists the
// runtime every relist_period (two CRI calls), wakes the workers of pods
// whose containers changed state and cleans up orphans; one worker thread
// per pod, which alone touches that pod's runtime objects and state. A
// worker sleeps until its pod changes, the housekeeper wakes it, or a
// deadline of its own comes (probe period, back-off, retry, resync: on the
// Clock, so tests drive them with FakeClock::Advance and then Wake()).
// Termination stops a pod's containers in parallel (one short-lived thread
// each, joined). Start()/Stop()/Wake() from the owner; the accessors from
// any thread. Stop() leaves every container running (an agent restart
// adopts them) and joins every thread; it is idempotent and runs in the
// destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/runtime.h"
#include "agent/kubelet/backoff.h"
#include "agent/kubelet/events.h"
#include "agent/kubelet/pod_deps.h"
#include "agent/kubelet/pod_spec.h"
#include "agent/kubelet/prober.h"
#include "client/informer.h"
#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::kubelet {

struct PodSyncerOptions {
  std::string node_name;
  std::string data_dir;  // <data-dir>: logs and checkpoints under agent/
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  // The node's address for status.hostIP (and the pod IP of hostNetwork
  // pods); "" = the Node object's InternalIP, read when first needed.
  std::string node_ip;
  // The host's resolv.conf, for hostNetwork and dnsPolicy Default pods.
  std::string resolv_conf = "/etc/resolv.conf";
  // Where cgroup hierarchies are mounted; "" = never touch cgroups (tests).
  std::string cgroup_root = "/sys/fs/cgroup";
  int64_t node_memory_bytes = 0;  // for Burstable oom_score_adj
  std::chrono::milliseconds relist_period{1000};
  // A pod with nothing due is synced again after this long anyway.
  std::chrono::seconds resync_period{60};
  std::chrono::seconds backoff_initial{10};
  std::chrono::seconds backoff_max{300};
  // Retries of failed API writes (status, delete), volume setup and sandbox
  // creation: doubling from min to max.
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{30000};
};

class PodSyncer {
 public:
  // Every reference must outlive the syncer. `prober` = nullptr: a NetProber
  // of its own.
  PodSyncer(client::Interface& client, cri::Runtime& runtime, Clock& clock,
            PodSyncerOptions options, VolumeSetup& volumes, EnvBuilder& env,
            Prober* prober = nullptr);
  ~PodSyncer();
  PodSyncer(const PodSyncer&) = delete;
  PodSyncer& operator=(const PodSyncer&) = delete;

  // Loads the checkpoints, starts the informer, the housekeeper and a
  // worker per known pod. FailedPrecondition when started twice.
  Status Start();
  void Stop();

  // Makes every worker and the housekeeper look at the clock again now
  // (after FakeClock::Advance in tests; harmless otherwise).
  void Wake();

  // Pods with a worker (known, being run or being torn down).
  size_t PodCount() const;
  // True once the informer delivered its first list.
  bool HasSynced() const;
  // Completed syncs so far, for tests that wait for progress.
  uint64_t SyncCount() const { return syncs_.load(); }

 private:
  struct Worker;
  struct PodState;
  struct Observed;

  void OnPod(const Json& pod);
  void OnPodGone(const Json& pod);
  // Starts a worker for `uid` if none; needs mu_.
  void EnsureWorkerLocked(const std::string& uid);
  void RunWorker(Worker* w);
  // One pass over a pod; returns when it wants to run again (a time far
  // ahead when only a change should wake it) and sets `finished` once the
  // pod is gone and cleaned up.
  Clock::MonoTime SyncPod(Worker& w, const Json& pod, bool in_api,
                          bool* finished);
  Clock::MonoTime SyncRunning(Worker& w, const Json& pod);
  Clock::MonoTime SyncTerminating(Worker& w, const Json& pod, bool in_api,
                                  bool* finished);
  // Runs an exec, httpGet or tcpSocket handler (probe or hook).
  ProbeResult RunHandler(const Json& handler, const std::string& container_id,
                         const Json& container, const std::string& pod_ip,
                         std::chrono::seconds timeout);
  void Housekeep();
  void RunHousekeeper();

  // Pieces of a sync (pod_syncer.cpp).
  StatusOr<Observed> Observe(const std::string& uid);
  void RemovePodLeftovers(const std::string& uid);
  // rmdir of every pod<uid> cgroup directory; true when none is left.
  bool RemoveCgroups(const std::string& uid);
  std::set<std::string> CgroupPodUids();
  // <data-dir>/agent/termination/<uid>/<container>.<attempt>, mounted at
  // the container's terminationMessagePath.
  std::string TerminationMessageFile(const std::string& uid,
                                     const std::string& container,
                                     uint32_t attempt) const;
  // What terminated.message says for an exited container.
  std::string TerminationMessage(const Json& pod, const std::string& uid,
                                 const cri::ContainerStatus& c) const;
  void WriteCheckpoint(const Json& pod);
  void RemoveCheckpoint(const std::string& uid);
  std::vector<Json> LoadCheckpoints();
  std::string NodeIp();
  void Event(const Json& pod, const std::string& type,
             const std::string& reason, const std::string& message,
             const std::string& field_path = "");

  client::Interface& client_;
  cri::Runtime& runtime_;
  Clock& clock_;
  const PodSyncerOptions options_;
  NodeSettings node_;
  VolumeSetup& volumes_;
  EnvBuilder& env_;
  std::unique_ptr<Prober> own_prober_;
  Prober& prober_;
  Backoff restart_backoff_;
  Backoff image_backoff_;
  std::string runtime_prefix_ = "containerd://";

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  uint64_t wake_generation_ = 0;
  std::map<std::string, std::unique_ptr<Worker>> workers_;  // by pod uid
  std::string node_ip_;                                     // guarded by mu_

  EventRecorder events_;

  // The housekeeper's own.
  bool checkpoints_reconciled_ = false;
  std::map<std::string, std::string> signatures_;  // uid -> states; mu_
  Clock::MonoTime next_cgroup_scan_{};

  std::unique_ptr<client::Informer> informer_;
  std::thread housekeeper_;
  std::atomic<uint64_t> syncs_{0};
};

}  // namespace kite::kubelet
