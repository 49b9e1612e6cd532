#include "agent/kubelet/node_status.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <utility>

#include "api/object.h"
#include "common/log.h"
#include "common/version.h"

namespace kite::kubelet {
namespace {

using client::Json;

const client::ResourceRef kNodes{"", "v1", "nodes", ""};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases",
                                  "kube-node-lease"};

constexpr int64_t kMi = 1024 * 1024;
// Hard eviction thresholds (kubelet's defaults; PID: kite's).
constexpr int64_t kMemoryAvailableMin = 100 * kMi;
constexpr double kNodefsAvailableMin = 0.10;
constexpr double kNodefsInodesFreeMin = 0.05;
constexpr double kPidAvailableMin = 0.05;
constexpr size_t kMaxImages = 50;

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
    line.pop_back();
  return line;
}

// PRETTY_NAME="Debian GNU/Linux 12 (bookworm)" -> the value.
std::string OsImage() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') &&
        v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    return v;
  }
  return "Linux";
}

std::string Lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> Ipv4Addresses() {
  std::vector<std::string> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    if (std::find(out.begin(), out.end(), buf) == out.end()) out.push_back(buf);
  }
  freeifaddrs(ifs);
  return out;
}

class RealHostInfo : public HostInfo {
 public:
  HostFacts Facts() override {
    HostFacts f;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) f.hostname = Lower(host);
    f.os_image = OsImage();
    utsname u{};
    if (uname(&u) == 0) f.kernel_version = u.release;
    std::string platform = Platform();  // "linux/amd64"
    f.architecture = platform.substr(platform.find('/') + 1);
    f.machine_id = ReadFirstLine("/etc/machine-id");
    f.boot_id = ReadFirstLine("/proc/sys/kernel/random/boot_id");
    f.system_uuid = ReadFirstLine("/sys/class/dmi/id/product_uuid");
    f.cpus = std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN));
    f.ipv4_addresses = Ipv4Addresses();
    return f;
  }

  StatusOr<HostUsage> Usage(const std::string& fs_path) override {
    HostUsage u;
    std::ifstream mem("/proc/meminfo");
    if (!mem) return UnavailableError("cannot read /proc/meminfo");
    std::string key;
    int64_t value = 0;
    std::string unit;
    while (mem >> key >> value) {
      std::getline(mem, unit);
      if (key == "MemTotal:") u.memory_total_bytes = value * 1024;
      if (key == "MemAvailable:") u.memory_available_bytes = value * 1024;
    }
    struct statvfs fs {};
    if (statvfs(fs_path.empty() ? "/" : fs_path.c_str(), &fs) != 0)
      return UnavailableError("statvfs " + fs_path + " failed");
    u.fs_capacity_bytes = static_cast<int64_t>(fs.f_blocks) * fs.f_frsize;
    u.fs_available_bytes = static_cast<int64_t>(fs.f_bavail) * fs.f_frsize;
    u.fs_inodes = static_cast<int64_t>(fs.f_files);
    u.fs_inodes_free = static_cast<int64_t>(fs.f_ffree);
    std::string pid_max = ReadFirstLine("/proc/sys/kernel/pid_max");
    u.pid_max = pid_max.empty() ? 0 : std::stoll(pid_max);
    // /proc/loadavg: "0.00 0.01 0.05 2/345 6789": 345 tasks exist.
    std::string load = ReadFirstLine("/proc/loadavg");
    size_t slash = load.find('/');
    if (slash != std::string::npos) {
      try {
        u.pids = std::stoll(load.substr(slash + 1));
      } catch (const std::exception&) {
      }
    }
    return u;
  }
};

Json Condition(const std::string& type, bool status, const std::string& reason,
               const std::string& message) {
  return Json{{"type", type},
              {"status", status ? "True" : "False"},
              {"reason", reason},
              {"message", message}};
}

std::string Ki(int64_t bytes) { return std::to_string(bytes / 1024) + "Ki"; }

// The status without heartbeat and transition times (what "changed" means).
Json WithoutTimes(Json status) {
  if (Json* conds = &status["conditions"]; conds->is_array()) {
    for (Json& c : *conds) {
      c.erase("lastHeartbeatTime");
      c.erase("lastTransitionTime");
    }
  }
  return status;
}

}  // namespace

std::unique_ptr<HostInfo> NewRealHostInfo() {
  return std::make_unique<RealHostInfo>();
}

HostFacts FakeHostInfo::Facts() {
  std::lock_guard<std::mutex> lock(mu_);
  return facts_;
}

StatusOr<HostUsage> FakeHostInfo::Usage(const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  return usage_;
}

void FakeHostInfo::SetFacts(HostFacts facts) {
  std::lock_guard<std::mutex> lock(mu_);
  facts_ = std::move(facts);
}

void FakeHostInfo::SetUsage(HostUsage usage) {
  std::lock_guard<std::mutex> lock(mu_);
  usage_ = usage;
}

void FakeHostInfo::SetUsageError(Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  error_ = std::move(error);
}

NodeStatus::NodeStatus(client::Interface& api, cri::Runtime& runtime,
                       HostInfo& host, Clock& clock, NodeStatusOptions options)
    : api_(api),
      runtime_(runtime),
      host_(host),
      clock_(clock),
      options_(std::move(options)),
      facts_(host.Facts()),
      node_ips_(options_.node_ips) {
  if (node_ips_.empty() && !facts_.ipv4_addresses.empty())
    node_ips_.push_back(facts_.ipv4_addresses.front());
}

NodeStatus::~NodeStatus() { Stop(); }

std::string NodeStatus::pod_cidr() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pod_cidr_;
}

nlohmann::json NodeStatus::allocatable() const {
  std::lock_guard<std::mutex> lock(mu_);
  return allocatable_;
}

void NodeStatus::Report(const std::string& what, const Status& st) {
  bool& failing = failing_[what];
  if (!st.ok() && !failing) {
    log::Warn("node-status", what + " failed")("node", options_.node_name)(
        "error", st.ToString());
  } else if (st.ok() && failing) {
    log::Info("node-status", what + " works again")("node", options_.node_name);
  }
  failing = !st.ok();
}

Json NodeStatus::NodeObject() {
  Json labels = {{"kubernetes.io/hostname", options_.node_name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", facts_.architecture},
                 {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", facts_.architecture}};
  for (const auto& [k, v] : options_.labels) labels[k] = v;
  return Json{{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata", {{"name", options_.node_name}, {"labels", labels}}},
              {"spec", Json::object()}};
}

void NodeStatus::NotePodCidr(const Json& node) {
  std::string cidr = api::GetString(node, {"spec", "podCIDR"});
  if (cidr.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cidr == pod_cidr_) return;
    pod_cidr_ = cidr;
  }
  log::Info("node-status", "pod CIDR")("node", options_.node_name)("cidr",
                                                                   cidr);
  if (options_.on_pod_cidr) options_.on_pod_cidr(cidr);
}

Json NodeStatus::ComputeStatus() {
  auto usage = host_.Usage(options_.data_dir);
  HostUsage u = usage.ok() ? *usage : HostUsage{};
  std::string now = api::FormatTime(clock_.Now());

  Json capacity = {{"cpu", std::to_string(facts_.cpus)},
                   {"memory", Ki(u.memory_total_bytes)},
                   {"ephemeral-storage", Ki(u.fs_capacity_bytes)},
                   {"pods", std::to_string(options_.max_pods)}};
  int64_t mem_alloc =
      std::max<int64_t>(0, u.memory_total_bytes - kMemoryAvailableMin);
  int64_t fs_alloc = std::max<int64_t>(
      0, u.fs_capacity_bytes -
             static_cast<int64_t>(u.fs_capacity_bytes * kNodefsAvailableMin));
  Json allocatable = {{"cpu", std::to_string(facts_.cpus)},
                      {"memory", Ki(mem_alloc)},
                      {"ephemeral-storage", std::to_string(fs_alloc)},
                      {"pods", std::to_string(options_.max_pods)}};

  {
    std::lock_guard<std::mutex> lock(mu_);
    allocatable_ = allocatable;
  }
  Json addresses = Json::array();
  for (const std::string& ip : node_ips_)
    addresses.push_back({{"type", "InternalIP"}, {"address", ip}});
  addresses.push_back({{"type", "Hostname"}, {"address", options_.node_name}});

  // The runtime: version and conditions.
  std::string runtime_version = "containerd://unknown";
  if (auto v = runtime_.Version(); v.ok()) {
    runtime_version =
        (v->runtime_name.empty() ? "containerd" : v->runtime_name) + "://" +
        v->runtime_version;
  }
  bool ready = false;
  std::string not_ready_message;
  auto conds = runtime_.RuntimeStatus();
  if (!conds.ok()) {
    not_ready_message =
        "container runtime is down: " + conds.status().message();
  } else {
    bool runtime_ready = false, network_ready = false;
    std::string runtime_why, network_why;
    for (const cri::RuntimeCondition& c : *conds) {
      std::string why =
          c.type + "=false reason:" + c.reason + " message:" + c.message;
      if (c.type == "RuntimeReady") {
        runtime_ready = c.status;
        runtime_why = why;
      } else if (c.type == "NetworkReady") {
        network_ready = c.status;
        network_why = why;
      }
    }
    if (!runtime_ready) {
      not_ready_message =
          "container runtime not ready: " +
          (runtime_why.empty() ? "RuntimeReady missing" : runtime_why);
    } else if (!network_ready) {
      not_ready_message =
          "container runtime network not ready: " +
          (network_why.empty() ? "NetworkReady missing" : network_why);
    } else {
      ready = true;
    }
  }
  if (!usage.ok()) {
    ready = false;
    not_ready_message =
        "cannot read the host's usage: " + usage.status().message();
  }

  bool memory_pressure = u.memory_total_bytes > 0 &&
                         u.memory_available_bytes < kMemoryAvailableMin;
  bool disk_pressure =
      u.fs_capacity_bytes > 0 &&
      (u.fs_available_bytes < u.fs_capacity_bytes * kNodefsAvailableMin ||
       (u.fs_inodes > 0 &&
        u.fs_inodes_free < u.fs_inodes * kNodefsInodesFreeMin));
  bool pid_pressure =
      u.pid_max > 0 && (u.pid_max - u.pids) < u.pid_max * kPidAvailableMin;

  Json conditions = Json::array(
      {memory_pressure
           ? Condition("MemoryPressure", true, "KubeletHasInsufficientMemory",
                       "kubelet has insufficient memory available")
           : Condition("MemoryPressure", false, "KubeletHasSufficientMemory",
                       "kubelet has sufficient memory available"),
       disk_pressure
           ? Condition("DiskPressure", true, "KubeletHasDiskPressure",
                       "kubelet has disk pressure")
           : Condition("DiskPressure", false, "KubeletHasNoDiskPressure",
                       "kubelet has no disk pressure"),
       pid_pressure
           ? Condition("PIDPressure", true, "KubeletHasInsufficientPID",
                       "kubelet has insufficient PID available")
           : Condition("PIDPressure", false, "KubeletHasSufficientPID",
                       "kubelet has sufficient PID available"),
       ready
           ? Condition("Ready", true, "KubeletReady",
                       "kubelet is posting ready status")
           : Condition("Ready", false, "KubeletNotReady", not_ready_message)});
  for (Json& c : conditions) {
    std::string type = c["type"];
    std::string status = c["status"];
    auto [it, inserted] = transitions_.try_emplace(type, now);
    if (!inserted && last_condition_status_[type] != status) it->second = now;
    last_condition_status_[type] = status;
    c["lastHeartbeatTime"] = now;
    c["lastTransitionTime"] = it->second;
  }
  ready_ = ready;

  Json images = Json::array();
  if (auto list = runtime_.ListImages(); list.ok()) {
    std::vector<cri::Image> sorted = *list;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const cri::Image& a, const cri::Image& b) {
                       return a.size > b.size;
                     });
    for (const cri::Image& im : sorted) {
      if (images.size() >= kMaxImages) break;
      Json names = Json::array();
      for (const std::string& d : im.repo_digests) names.push_back(d);
      for (const std::string& t : im.repo_tags) names.push_back(t);
      if (names.empty()) continue;
      images.push_back({{"names", names}, {"sizeBytes", im.size}});
    }
  }

  std::string kubelet_version = options_.kubelet_version.empty()
                                    ? KubeGitVersion()
                                    : options_.kubelet_version;
  return Json{{"capacity", capacity},
              {"allocatable", allocatable},
              {"conditions", conditions},
              {"addresses", addresses},
              {"daemonEndpoints",
               {{"kubeletEndpoint", {{"Port", options_.kubelet_port}}}}},
              {"nodeInfo",
               {{"machineID", facts_.machine_id},
                {"systemUUID", facts_.system_uuid},
                {"bootID", facts_.boot_id},
                {"kernelVersion", facts_.kernel_version},
                {"osImage", facts_.os_image},
                {"containerRuntimeVersion", runtime_version},
                {"kubeletVersion", kubelet_version},
                {"kubeProxyVersion", kubelet_version},
                {"operatingSystem", "linux"},
                {"architecture", facts_.architecture}}},
              {"images", images}};
}

Status NodeStatus::PostStatus(const Json& status) {
  client::PatchOptions opts;
  opts.subresource = "status";
  auto r = api_.Patch(kNodes, options_.node_name, client::PatchType::kMerge,
                      Json{{"status", status}}.dump(), opts);
  if (!r.ok()) return r.status();
  ++status_posts_;
  last_posted_ = WithoutTimes(status);
  last_post_ = clock_.Monotonic();
  NotePodCidr(*r);
  return Status::Ok();
}

Status NodeStatus::RenewLease() {
  std::string now = api::FormatMicroTime(clock_.Now());
  Json spec = {{"holderIdentity", options_.node_name},
               {"leaseDurationSeconds", options_.lease_duration_seconds},
               {"renewTime", now}};
  auto r = api_.Patch(kLeases, options_.node_name, client::PatchType::kMerge,
                      Json{{"spec", spec}}.dump(), {});
  if (!r.ok() && r.status().code() == Code::kNotFound) {
    // The garbage collector removes the Lease with its Node: was the Node
    // deleted? Then register again first.
    if (registered_) {
      auto node = api_.Get(kNodes, options_.node_name, {});
      if (!node.ok() && node.status().code() == Code::kNotFound) {
        registered_ = false;
        log::Warn("node-status", "node was deleted; registering again")(
            "node", options_.node_name);
        return node.status();
      }
    }
    Json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata",
         {{"name", options_.node_name}, {"namespace", "kube-node-lease"}}},
        {"spec", spec}};
    if (!node_uid_.empty()) {
      lease["metadata"]["ownerReferences"] =
          Json::array({{{"apiVersion", "v1"},
                        {"kind", "Node"},
                        {"name", options_.node_name},
                        {"uid", node_uid_}}});
    }
    auto c = api_.Create(kLeases, lease, {});
    if (!c.ok() && c.status().code() != Code::kAlreadyExists) return c.status();
  } else if (!r.ok()) {
    return r.status();
  }
  ++lease_renewals_;
  last_lease_ = clock_.Monotonic();
  lease_ok_ = true;
  return Status::Ok();
}

Status NodeStatus::Register() {
  Json node = NodeObject();
  auto created = api_.Create(kNodes, node, {});
  if (created.ok()) {
    node_uid_ = api::GetString(*created, {"metadata", "uid"});
    NotePodCidr(*created);
    log::Info("node-status", "node registered")("node", options_.node_name);
  } else if (created.status().code() == Code::kAlreadyExists) {
    // Ours from an earlier run: make sure the standard labels are there.
    Json patch = {{"metadata", {{"labels", node["metadata"]["labels"]}}}};
    auto r = api_.Patch(kNodes, options_.node_name, client::PatchType::kMerge,
                        patch.dump(), {});
    if (!r.ok()) return r.status();
    node_uid_ = api::GetString(*r, {"metadata", "uid"});
    NotePodCidr(*r);
  } else {
    return created.status();
  }
  KITE_RETURN_IF_ERROR(PostStatus(ComputeStatus()));
  registered_ = true;
  return RenewLease();
}

std::chrono::milliseconds NodeStatus::Tick() {
  using std::chrono::milliseconds;
  if (!registered_) {
    Status st = Register();
    Report("registration", st);
    if (!st.ok()) return options_.fast_period * 2;
  }
  auto now = clock_.Monotonic();
  if (!lease_ok_ || now - last_lease_ >= options_.lease_period) {
    Status st = RenewLease();
    if (!st.ok()) lease_ok_ = false;
    if (!registered_) return options_.fast_period;
    Report("lease renewal", st);
  }
  Json status = ComputeStatus();
  if (WithoutTimes(status) != last_posted_ ||
      now - last_post_ >= options_.status_report_period) {
    Status st = PostStatus(status);
    if (st.code() == Code::kNotFound) {
      // Someone deleted the Node: register it again next round.
      registered_ = false;
      log::Warn("node-status", "node was deleted; registering again")(
          "node", options_.node_name);
    }
    Report("status update", st);
  }
  if (pod_cidr().empty()) {
    auto n = api_.Get(kNodes, options_.node_name, {});
    if (n.ok()) NotePodCidr(*n);
  }
  bool fast = !ready_ || pod_cidr().empty() || !lease_ok_;
  milliseconds wait =
      fast ? options_.fast_period
           : std::min(options_.status_check_period, options_.lease_period);
  if (lease_ok_) {
    auto lease_due = std::chrono::ceil<milliseconds>(
        last_lease_ + options_.lease_period - clock_.Monotonic());
    wait = std::max(milliseconds(1), std::min(wait, lease_due));
  }
  return wait;
}

Status NodeStatus::Start() {
  if (options_.node_name.empty())
    return InvalidArgumentError("NodeStatus needs a node name");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable()) return FailedPreconditionError("already started");
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void NodeStatus::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    std::chrono::milliseconds wait = Tick();
    lock.lock();
    cv_.wait_for(lock, wait, [this] { return stopping_; });
  }
}

void NodeStatus::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kite::kubelet
