// NodeStatus: the kubelet's Node object and Lease (issue 6 item 3).
//
// What it keeps true in the API, through the node's own client:
//  - the Node <name> exists (registered on start, again when someone
//    deletes it), with the labels kubernetes.io/hostname, kubernetes.io/os,
//    kubernetes.io/arch (and their beta.* twins) plus the extra labels;
//  - status: capacity (cpu = online CPUs, memory = MemTotal of
//    /proc/meminfo, ephemeral-storage = statvfs of the data dir, pods =
//    max_pods) and allocatable (capacity minus the hard-eviction thresholds:
//    memory - 100Mi, ephemeral-storage - 10%); addresses (InternalIP per
//    node IP, Hostname); daemonEndpoints.kubeletEndpoint.Port; nodeInfo
//    (machineID, systemUUID, bootID, kernelVersion, osImage,
//    containerRuntimeVersion "containerd://<version>", kubeletVersion,
//    kubeProxyVersion, operatingSystem, architecture); images (the
//    runtime's, largest first, at most 50, as kubelet reports them);
//  - conditions, as kubelet words them: Ready (KubeletReady, or
//    KubeletNotReady with the runtime's RuntimeReady / NetworkReady reason),
//    MemoryPressure (memory.available < 100Mi), DiskPressure
//    (nodefs.available < 10% or nodefs.inodesFree < 5%) and PIDPressure
//    (pid.available < 5% of kernel.pid_max): the thresholds of kubelet's
//    hard eviction defaults, the PID one kite's choice (kubelet has none by
//    default). lastTransitionTime moves only when a status flips;
//  - the Lease kube-node-lease/<name> (holderIdentity = the node,
//    leaseDurationSeconds 40), renewed every lease_period (10 s).
// The status is computed every status_check_period (10 s; every
// fast_period while the node is not Ready or has no podCIDR, so a new node
// turns Ready promptly) and written only when something other than the
// heartbeat changed, or after status_report_period (5 min), as kubelet's
// nodeStatusReportFrequency: an idle node writes little to the datastore.
// When the server is unreachable every call fails, is logged once per
// outage, and is tried again at the next tick.
//
// The host is read through HostInfo (RealHostInfo: /proc, statvfs, uname,
// /etc/os-release; FakeHostInfo for unit tests), the runtime through
// cri::Runtime, the time through Clock.
//
// Threading: Start() runs a thread that calls Tick() on the periods above;
// Stop() ends it (idempotent; the destructor calls it). Register() and
// Tick() may be called directly (tests, with a FakeClock) when the thread
// is not running. The accessors may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/runtime.h"
#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::kubelet {

// What does not change while the agent runs.
struct HostFacts {
  std::string hostname;        // lower case
  std::string os_image;        // PRETTY_NAME of /etc/os-release
  std::string kernel_version;  // uname -r
  std::string architecture;    // as Go names it: amd64, arm64, arm
  std::string machine_id;      // /etc/machine-id
  std::string boot_id;         // /proc/sys/kernel/random/boot_id
  std::string system_uuid;     // /sys/class/dmi/id/product_uuid, if readable
  int64_t cpus = 0;            // online CPUs
  std::vector<std::string> ipv4_addresses;  // non-loopback, interface order
};

// What the pressure conditions and capacity are computed from.
struct HostUsage {
  int64_t memory_total_bytes = 0;      // MemTotal
  int64_t memory_available_bytes = 0;  // MemAvailable
  int64_t fs_capacity_bytes = 0;       // statvfs of the data dir
  int64_t fs_available_bytes = 0;
  int64_t fs_inodes = 0;
  int64_t fs_inodes_free = 0;
  int64_t pid_max = 0;  // kernel.pid_max
  int64_t pids = 0;     // tasks in use (the 4th field of /proc/loadavg)
};

class HostInfo {
 public:
  virtual ~HostInfo() = default;
  virtual HostFacts Facts() = 0;
  // The current usage; `fs_path` is the filesystem to measure.
  virtual StatusOr<HostUsage> Usage(const std::string& fs_path) = 0;
};

// The real host. Never fails to construct; fields it cannot read stay
// empty or zero.
std::unique_ptr<HostInfo> NewRealHostInfo();

// A host whose answers the test sets. Thread safe.
class FakeHostInfo : public HostInfo {
 public:
  HostFacts Facts() override;
  StatusOr<HostUsage> Usage(const std::string& fs_path) override;
  void SetFacts(HostFacts facts);
  void SetUsage(HostUsage usage);
  void SetUsageError(Status error);

 private:
  std::mutex mu_;
  HostFacts facts_;
  HostUsage usage_;
  Status error_ = Status::Ok();
};

struct NodeStatusOptions {
  std::string node_name;  // required
  // The node's InternalIPs; empty: the host's first IPv4 address.
  std::vector<std::string> node_ips;
  std::string data_dir;  // ephemeral-storage is measured here
  int kubelet_port = 10250;
  int max_pods = 110;
  // Labels besides the standard ones (e.g. node-role.kubernetes.io/...).
  std::map<std::string, std::string> labels;
  // "" = KubeGitVersion() (the server's version: same build).
  std::string kubelet_version;
  std::chrono::milliseconds lease_period{10000};
  int lease_duration_seconds = 40;
  std::chrono::milliseconds status_check_period{10000};
  std::chrono::milliseconds status_report_period{300000};
  std::chrono::milliseconds fast_period{500};
  // Called (from the status thread) the first time the Node is seen with a
  // spec.podCIDR, and again if it changes.
  std::function<void(const std::string& pod_cidr)> on_pod_cidr;
};

class NodeStatus {
 public:
  // `api`, `runtime`, `host` and `clock` must outlive this object.
  NodeStatus(client::Interface& api, cri::Runtime& runtime, HostInfo& host,
             Clock& clock, NodeStatusOptions options);
  ~NodeStatus();
  NodeStatus(const NodeStatus&) = delete;
  NodeStatus& operator=(const NodeStatus&) = delete;

  // Starts the thread. It registers the Node (retrying while the server is
  // unreachable, so an agent can start offline) and then ticks.
  Status Start();
  void Stop();

  // Creates the Node (or finds it), posts its status and creates or renews
  // the Lease. The first error.
  Status Register();
  // One round: renews the Lease when due, computes the status and posts it
  // when changed or due, looks for the podCIDR. Registers first when not
  // registered (or the Node was deleted). Returns how long to wait before
  // the next round.
  std::chrono::milliseconds Tick();

  // The Node status as it would be posted now (for tests and logs).
  nlohmann::json ComputeStatus();

  bool registered() const { return registered_.load(); }
  bool ready() const { return ready_.load(); }
  std::string pod_cidr() const;
  // status.allocatable as last computed (null before the first round).
  nlohmann::json allocatable() const;
  // Status writes and Lease renewals so far (for tests).
  int64_t status_posts() const { return status_posts_.load(); }
  int64_t lease_renewals() const { return lease_renewals_.load(); }

 private:
  nlohmann::json NodeObject();
  Status PostStatus(const nlohmann::json& status);
  Status RenewLease();
  void NotePodCidr(const nlohmann::json& node);
  void Report(const std::string& what, const Status& st);
  void Loop();

  client::Interface& api_;
  cri::Runtime& runtime_;
  HostInfo& host_;
  Clock& clock_;
  const NodeStatusOptions options_;
  const HostFacts facts_;
  std::vector<std::string> node_ips_;

  // Touched by Tick() only (one thread at a time).
  std::string node_uid_;
  nlohmann::json last_posted_;  // status without heartbeat times
  std::map<std::string, std::string> transitions_;  // type -> time
  std::map<std::string, std::string> last_condition_status_;
  Clock::MonoTime last_post_{};
  Clock::MonoTime last_lease_{};
  bool lease_ok_ = false;
  std::map<std::string, bool> failing_;  // what -> currently failing

  std::atomic<bool> registered_{false};
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> status_posts_{0};
  std::atomic<int64_t> lease_renewals_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string pod_cidr_;        // guarded by mu_
  nlohmann::json allocatable_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kite::kubelet
