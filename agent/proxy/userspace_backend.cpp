#include "agent/proxy/userspace_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"

namespace kite::proxy {
namespace {

constexpr char kComponent[] = "proxy";
// IFA_PROTO of the addresses this backend adds ('k'), so a later run (or
// Cleanup after a crash) can tell them from the host's own.
constexpr unsigned char kAddrProto = 0x6b;
constexpr size_t kBlockSize = 64 * 1024;
constexpr size_t kMaxFreeBlocks = 32;
constexpr int kListenBacklog = 1024;

std::string Errno(int err) { return std::strerror(err); }

// An IPv4 or IPv6 address in network byte order.
struct Ip {
  int family = 0;
  unsigned char bytes[16] = {};

  int size() const { return family == AF_INET ? 4 : 16; }
  std::string ToString() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes, text, sizeof text);
    return text;
  }
  bool operator<(const Ip& o) const {
    if (family != o.family) return family < o.family;
    return std::memcmp(bytes, o.bytes, 16) < 0;
  }
  bool operator==(const Ip& o) const {
    return family == o.family && std::memcmp(bytes, o.bytes, 16) == 0;
  }
};

std::optional<Ip> ParseIp(const std::string& text) {
  Ip ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

struct Cidr {
  Ip base;
  int prefix = 0;
  bool Contains(const Ip& ip) const {
    if (ip.family != base.family) return false;
    int full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(ip.bytes, base.bytes, full) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (ip.bytes[full] & mask) == (base.bytes[full] & mask);
  }
};

// "a/n[,b/m]"; malformed entries are skipped.
std::vector<Cidr> ParseCidrs(const std::string& list) {
  std::vector<Cidr> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    size_t slash = item.find('/');
    if (slash != std::string::npos) {
      auto ip = ParseIp(item.substr(0, slash));
      char* rest = nullptr;
      long prefix = std::strtol(item.c_str() + slash + 1, &rest, 10);
      if (ip && rest && *rest == '\0' && prefix >= 0 &&
          prefix <= ip->size() * 8) {
        out.push_back(Cidr{*ip, static_cast<int>(prefix)});
      }
    }
    start = end + 1;
  }
  return out;
}

bool ToSockaddr(const Ip& ip, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  if (ip.family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, ip.bytes, 4);
    return true;
  }
  if (ip.family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, ip.bytes, 16);
    return true;
  }
  return false;
}

// The client's IP as text (affinity key).
std::string PeerIp(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr,
              text, sizeof text);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr,
              text, sizeof text);
  }
  return text;
}

// The bytes that identify a UDP client (address and port), written into
// `key` whose capacity is reused.
void ClientKey(const sockaddr* addr, std::string* key) {
  if (addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    key->assign(reinterpret_cast<const char*>(&a->sin_addr), 4);
    key->append(reinterpret_cast<const char*>(&a->sin_port), 2);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
    key->assign(reinterpret_cast<const char*>(&a->sin6_addr), 16);
    key->append(reinterpret_cast<const char*>(&a->sin6_port), 2);
  }
}

// True when `ip` is already an address of this namespace (a socket can be
// bound to it), e.g. a node IP or anything in 127.0.0.0/8.
bool IsLocal(const Ip& ip) {
  int fd = socket(ip.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_storage sa;
  ToSockaddr(ip, 0, &sa);
  socklen_t len =
      ip.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0;
  close(fd);
  return ok;
}

// An address of a device as rtnetlink lists it.
struct DeviceAddress {
  Ip ip;
  int ifindex = 0;
  int prefix = 0;
  int proto = 0;  // IFA_PROTO; 0 when the kernel does not report one
};

// A minimal synchronous rtnetlink client for interface addresses.
// Used on the loop thread only.
class Netlink {
 public:
  ~Netlink() {
    if (fd_ >= 0) close(fd_);
  }

  Status Open() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return FailedPreconditionError("rtnetlink: " + Errno(errno));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      return FailedPreconditionError("rtnetlink bind: " + Errno(errno));
    }
    return Status::Ok();
  }

  StatusOr<std::vector<DeviceAddress>> Dump() {
    Request req(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    req.ifa->ifa_family = AF_UNSPEC;
    std::vector<DeviceAddress> out;
    if (int err = Transact(req.nh, &out); err != 0) {
      return InternalError("listing addresses: " + Errno(err));
    }
    return out;
  }

  // Adds ip/32 (/128) to the device; an address already there is fine.
  Status Add(int ifindex, const Ip& ip) {
    Request req(RTM_NEWADDR,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
    Fill(&req, ifindex, ip, ip.size() * 8);
    req.Attr(IFA_PROTO, &kAddrProto, 1);
    if (ip.family == AF_INET6) {
      uint32_t flags = IFA_F_NODAD;
      req.Attr(IFA_FLAGS, &flags, sizeof flags);
    }
    int err = Transact(req.nh, nullptr);
    if (err != 0 && err != EEXIST) {
      return InternalError("adding " + ip.ToString() + ": " + Errno(err));
    }
    return Status::Ok();
  }

  // Removes ip/prefix from the device; one already gone is fine.
  Status Del(int ifindex, const Ip& ip, int prefix) {
    Request req(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK);
    Fill(&req, ifindex, ip, prefix);
    int err = Transact(req.nh, nullptr);
    if (err != 0 && err != EADDRNOTAVAIL && err != ENOENT && err != ENODEV) {
      return InternalError("removing " + ip.ToString() + ": " + Errno(err));
    }
    return Status::Ok();
  }

 private:
  // A request: header, ifaddrmsg and attributes in one aligned buffer.
  struct Request {
    alignas(nlmsghdr) char buf[256] = {};
    nlmsghdr* nh = reinterpret_cast<nlmsghdr*>(buf);
    ifaddrmsg* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(nh));
    Request(int type, int flags) {
      nh->nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
      nh->nlmsg_type = type;
      nh->nlmsg_flags = flags;
    }
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    void Attr(int type, const void* data, int len) {
      auto* rta = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(nh->nlmsg_len));
      rta->rta_type = type;
      rta->rta_len = RTA_LENGTH(len);
      std::memcpy(RTA_DATA(rta), data, len);
      nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
    }
  };

  static void Fill(Request* req, int ifindex, const Ip& ip, int prefix) {
    req->ifa->ifa_family = ip.family;
    req->ifa->ifa_prefixlen = prefix;
    req->ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    req->ifa->ifa_index = ifindex;
    req->Attr(IFA_LOCAL, ip.bytes, ip.size());
    req->Attr(IFA_ADDRESS, ip.bytes, ip.size());
  }

  // Sends one request and reads until its ack (0 or an errno) or, for a
  // dump, NLMSG_DONE, collecting addresses into `dump`.
  int Transact(nlmsghdr* req, std::vector<DeviceAddress>* dump) {
    req->nlmsg_seq = ++seq_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, req, req->nlmsg_len, 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
      return errno;
    }
    alignas(nlmsghdr) static thread_local char buf[65536];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left);
           h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_DONE) return 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
          return -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        }
        if (h->nlmsg_type == RTM_NEWADDR && dump) Parse(h, dump);
      }
    }
  }

  static void Parse(nlmsghdr* h, std::vector<DeviceAddress>* dump) {
    auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(h));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
    DeviceAddress d;
    d.ip.family = ifa->ifa_family;
    d.ifindex = static_cast<int>(ifa->ifa_index);
    d.prefix = ifa->ifa_prefixlen;
    const void* local = nullptr;
    const void* address = nullptr;
    int len = IFA_PAYLOAD(h);
    for (auto* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == IFA_LOCAL) local = RTA_DATA(a);
      if (a->rta_type == IFA_ADDRESS) address = RTA_DATA(a);
      if (a->rta_type == IFA_PROTO) {
        d.proto = *static_cast<unsigned char*>(RTA_DATA(a));
      }
    }
    const void* p = local ? local : address;
    if (!p) return;
    std::memcpy(d.ip.bytes, p, d.ip.size());
    dump->push_back(d);
  }

  int fd_ = -1;
  uint32_t seq_ = 0;
};

// Where one service port's traffic may go, with the socket address ready.
struct Target {
  Endpoint endpoint;
  sockaddr_storage addr;
};
using TargetList = std::vector<Target>;

enum Kind { kClusterTraffic = 0, kExternalTraffic = 1 };

// One service port as served: the pick lists and the affinity table.
struct ServiceState {
  ServicePort port;
  // [kClusterTraffic]: ClusterIP listeners (internalTrafficPolicy);
  // [kExternalTraffic]: NodePort, externalIP, LB listeners.
  std::shared_ptr<const TargetList> targets[2];
  size_t next[2] = {0, 0};
  struct Sticky {
    std::string ip;
    int port = 0;
    uint64_t last_ms = 0;
  };
  std::unordered_map<std::string, Sticky> sticky;  // by client IP
};

std::shared_ptr<const TargetList> Targets(const ServicePort& sp, bool local) {
  auto list = std::make_shared<TargetList>();
  for (const Endpoint& e : sp.endpoints) {
    if (local && !e.local) continue;
    auto ip = ParseIp(e.ip);
    if (!ip || e.port <= 0 || e.port > 65535) continue;
    Target t{e, {}};
    ToSockaddr(*ip, e.port, &t.addr);
    list->push_back(std::move(t));
  }
  return list;
}

class UserspaceBackend;

// A listening TCP socket or a bound UDP socket for one address:port.
struct Listener {
  UserspaceBackend* backend = nullptr;
  std::string key;  // "tcp/ip/port"
  Protocol protocol = Protocol::kTcp;
  std::string ip;
  int port = 0;
  Kind kind = kClusterTraffic;
  std::string service_key;
  std::shared_ptr<ServiceState> service;
  uv_tcp_t tcp;
  uv_udp_t udp;
  std::unordered_map<std::string, struct UdpSession*> sessions;  // by client
  // The pick list the sessions were last checked against.
  const TargetList* checked = nullptr;

  uv_handle_t* handle() {
    return protocol == Protocol::kUdp ? reinterpret_cast<uv_handle_t*>(&udp)
                                      : reinterpret_cast<uv_handle_t*>(&tcp);
  }
};

// One UDP client (address and port) of one listener, with its own socket
// connected to the chosen endpoint. Linked into the backend's LRU list.
struct UdpSession {
  uv_udp_t up;
  Listener* listener = nullptr;
  std::string key;
  sockaddr_storage client;
  Endpoint endpoint;  // where its datagrams go
  uint64_t last_ms = 0;
  UdpSession* newer = nullptr;
  UdpSession* older = nullptr;
};

struct Conn;

// One socket of a proxied TCP connection.
struct Side {
  uv_tcp_t tcp;
  Conn* conn = nullptr;
  bool open = false;    // initialised and not yet closed
  bool paused = false;  // reading stopped: the other side's queue is full
  bool shut = false;    // our shutdown of this side's write half finished
  uv_shutdown_t shutdown_req;
};

// A client connection and its upstream connection.
struct Conn {
  UserspaceBackend* backend = nullptr;
  Side client;
  Side up;
  uv_connect_t connect_req;
  uv_timer_t connect_timer;  // open from accept until connected
  bool timer_open = false;
  std::shared_ptr<ServiceState> service;
  std::shared_ptr<const TargetList> targets;
  std::string client_ip;  // with session affinity only
  size_t first = 0;       // index of the first endpoint tried
  size_t tries = 0;       // endpoints that failed so far
  bool retry_pending = false;
  bool closing = false;
  int open_handles = 0;

  Side* Other(Side* s) { return s == &client ? &up : &client; }
};

// A read buffer; the uv_write_t that sends it on lives in it, so a read
// becomes a write with no copy and no allocation.
struct Block {
  uv_write_t req;
  Side* from = nullptr;
  char data[kBlockSize];
};

Block* BlockOf(char* data) {
  return reinterpret_cast<Block*>(data - offsetof(Block, data));
}

class UserspaceBackend : public Backend {
 public:
  UserspaceBackend(const BackendOptions& options, const UserspaceTuning& tuning)
      : options_(options), tuning_(tuning) {
    for (const std::string& ip : options_.node_ips) {
      if (auto parsed = ParseIp(ip)) node_ips_.push_back(parsed->ToString());
    }
    service_cidrs_ = ParseCidrs(options_.service_cidr);
    rlimit nofile{};
    size_t cap = tuning_.max_udp_sessions;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
        nofile.rlim_cur != RLIM_INFINITY) {
      cap = std::min<size_t>(cap, std::max<size_t>(64, nofile.rlim_cur / 4));
    }
    max_sessions_ = cap;
  }

  ~UserspaceBackend() override {
    if (!thread_.joinable()) return;
    RunOnLoop([this] {
      CloseAll();
      uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      return Status::Ok();
    }).IgnoreError();
    thread_.join();
    uv_loop_close(&loop_);
    for (Block* b : free_blocks_) delete b;
  }

  const char* name() const override { return "userspace"; }

  Status Start() {
    std::promise<Status> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, &started] {
      Status st = InitOnThread();
      bool ok = st.ok();
      started.set_value(std::move(st));
      if (ok) uv_run(&loop_, UV_RUN_DEFAULT);
    });
    Status st = ready.get();
    if (!st.ok()) thread_.join();
    return st;
  }

  Status Sync(const ProxySnapshot& snapshot) override {
    return RunOnLoop([&] { return DoSync(snapshot); });
  }

  Status Cleanup() override {
    return RunOnLoop([this] { return DoCleanup(); });
  }

  // Loop-thread callbacks (static trampolines find the backend through
  // handle data).
  static void OnAsync(uv_async_t* a);
  static void OnSweep(uv_timer_t* t);
  static void OnConnection(uv_stream_t* server, int status);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnConnectTimeout(uv_timer_t* t);
  static void OnTimerClosed(uv_handle_t* h);
  static void OnSideClosed(uv_handle_t* h);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnShutdown(uv_shutdown_t* req, int status);
  static void OnUdpAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnUdpRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf,
                        const sockaddr* addr, unsigned flags);
  static void OnSessionRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf,
                            const sockaddr* addr, unsigned flags);

 private:
  Status InitOnThread() {
    // A write to a connection the peer reset must fail with EPIPE here,
    // not raise SIGPIPE (kite does not ignore it process-wide); blocked
    // for this thread only, so it never reaches another.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    if (!options_.userspace_netns.empty()) {
      int fd = open(options_.userspace_netns.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return FailedPreconditionError("userspace proxy: opening netns " +
                                       options_.userspace_netns + ": " +
                                       Errno(errno));
      }
      int rc = setns(fd, CLONE_NEWNET);
      int err = errno;
      close(fd);
      if (rc != 0) {
        return FailedPreconditionError("userspace proxy: entering netns " +
                                       options_.userspace_netns + ": " +
                                       Errno(err));
      }
    }
    ifindex_ =
        static_cast<int>(if_nametoindex(options_.userspace_device.c_str()));
    if (ifindex_ == 0) {
      return FailedPreconditionError("userspace proxy: no device '" +
                                     options_.userspace_device + "'");
    }
    KITE_RETURN_IF_ERROR(netlink_.Open());
    if (int rc = uv_loop_init(&loop_); rc != 0) {
      return InternalError(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
    loop_.data = this;
    uv_async_init(&loop_, &async_, OnAsync);
    async_.data = this;
    uv_timer_init(&loop_, &sweep_);
    sweep_.data = this;
    uint64_t every =
        std::clamp<uint64_t>(tuning_.udp_session_timeout.count() / 4, 50, 5000);
    uv_timer_start(&sweep_, OnSweep, every, every);
    uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
    return Status::Ok();
  }

  Status RunOnLoop(std::function<Status()> fn) {
    std::packaged_task<Status()> task(std::move(fn));
    auto done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    uv_async_send(&async_);
    return done.get();
  }

  void RunTasks() {
    std::deque<std::packaged_task<Status()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
  }

  // ---- addresses -------------------------------------------------------

  // What an earlier run left on the device: addresses with our IFA_PROTO,
  // or host addresses inside the service CIDR.
  Status FindOwned() {
    KITE_ASSIGN_OR_RETURN(auto addrs, netlink_.Dump());
    for (const DeviceAddress& d : addrs) {
      if (d.ifindex != ifindex_) continue;
      bool host = d.prefix == d.ip.size() * 8;
      bool in_cidr =
          std::any_of(service_cidrs_.begin(), service_cidrs_.end(),
                      [&](const Cidr& c) { return c.Contains(d.ip); });
      if (d.proto == kAddrProto || (host && in_cidr)) owned_.insert(d.ip);
    }
    return Status::Ok();
  }

  // ---- sync ------------------------------------------------------------

  struct Want {
    Protocol protocol;
    std::string ip;
    Ip parsed;
    int port;
    Kind kind;
    std::string service_key;
  };

  static std::string ListenerKey(Protocol p, const std::string& ip, int port) {
    return std::string(p == Protocol::kUdp ? "udp/" : "tcp/") + ip + "/" +
           std::to_string(port);
  }

  Status DoSync(const ProxySnapshot& snapshot) {
    std::vector<std::string> errors;
    if (!found_owned_) {
      if (Status st = FindOwned(); !st.ok()) return st;
      found_owned_ = true;
    }
    // Listeners wanted, by key; the first service port to claim an
    // address:port keeps it.
    std::map<std::string, Want> want;
    std::set<Ip> addresses;  // every IP a listener binds
    for (const auto& [key, sp] : snapshot.ports) {
      if (sp.protocol == Protocol::kSctp) {
        if (warned_sctp_.insert(key).second) {
          log::Warn(kComponent, "userspace mode does not serve SCTP")("service",
                                                                      key);
        }
        continue;
      }
      auto add = [&](const std::string& ip_text, int port, Kind kind) {
        auto ip = ParseIp(ip_text);
        if (!ip || port <= 0 || port > 65535) return;
        std::string ip_str = ip->ToString();
        std::string lk = ListenerKey(sp.protocol, ip_str, port);
        if (want.count(lk)) return;
        want.emplace(lk, Want{sp.protocol, ip_str, *ip, port, kind, key});
        addresses.insert(*ip);
      };
      for (const auto& ip : sp.cluster_ips) add(ip, sp.port, kClusterTraffic);
      if (sp.node_port > 0) {
        for (const auto& ip : node_ips_)
          add(ip, sp.node_port, kExternalTraffic);
      }
      for (const auto& ip : sp.external_ips) add(ip, sp.port, kExternalTraffic);
      // LoadBalancer ingress IPs only where they are this node's own
      // addresses (servicelb's are the node IPs of every node): owning
      // another node's address on lo would cut this node off from it
      // (its kubelet, its pods behind the host-gw route).
      for (const auto& ip : sp.load_balancer_ips) {
        auto parsed = ParseIp(ip);
        if (parsed && !owned_.count(*parsed) && IsLocal(*parsed))
          add(ip, sp.port, kExternalTraffic);
      }
    }

    // Addresses to own: wanted, and not an address of the host already.
    std::set<Ip> own;
    for (const Ip& ip : addresses) {
      if (owned_.count(ip) || !IsLocal(ip)) own.insert(ip);
    }
    bool added_v6 = false;
    for (const Ip& ip : own) {
      if (owned_.count(ip)) continue;
      if (Status st = netlink_.Add(ifindex_, ip); !st.ok()) {
        errors.push_back(st.message());
        continue;
      }
      owned_.insert(ip);
      added_v6 = added_v6 || ip.family == AF_INET6;
    }
    // The kernel finishes a new IPv6 address in a work item even with
    // NODAD: a connection to it within the first milliseconds can be lost
    // (measured on lo: 2 of 30 and 6 of 100 first connections failed with
    // no pause, none of 100 each with a pause of 5, 10 or 20 ms).
    if (added_v6) std::this_thread::sleep_for(std::chrono::milliseconds(20));

    // Service states: kept (pick lists rebuilt only when the port changed).
    std::map<std::string, std::shared_ptr<ServiceState>> next;
    for (const auto& [key, sp] : snapshot.ports) {
      auto it = services_.find(key);
      std::shared_ptr<ServiceState> s =
          it != services_.end() ? it->second : std::make_shared<ServiceState>();
      if (it == services_.end() || !(s->port == sp)) {
        s->port = sp;
        s->targets[kClusterTraffic] = Targets(sp, sp.internal_policy_local);
        s->targets[kExternalTraffic] = Targets(sp, sp.external_policy_local);
        if (!sp.session_affinity) s->sticky.clear();
      }
      next[key] = std::move(s);
    }
    services_ = std::move(next);

    // Listeners: close what is no longer wanted or has nowhere to send,
    // keep the rest (their connections stay untouched), open the new.
    auto servable = [&](const Want& w) {
      const auto& s = services_.at(w.service_key);
      return !s->targets[w.kind]->empty();
    };
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      Listener* l = it->second;
      auto w = want.find(it->first);
      bool keep = w != want.end() && w->second.service_key == l->service_key &&
                  w->second.kind == l->kind && servable(w->second);
      if (keep) {
        l->service = services_.at(l->service_key);
        DropStaleSessions(l);
        ++it;
      } else {
        CloseListener(l);
        it = listeners_.erase(it);
      }
    }
    for (const auto& [lk, w] : want) {
      if (listeners_.count(lk) || !servable(w)) continue;
      if (Status st = OpenListener(lk, w); !st.ok()) {
        errors.push_back(st.message());
      }
    }

    // Addresses no longer wanted go last, after their listeners.
    for (auto it = owned_.begin(); it != owned_.end();) {
      if (own.count(*it)) {
        ++it;
        continue;
      }
      Status st = netlink_.Del(ifindex_, *it, it->size() * 8);
      if (!st.ok()) {
        errors.push_back(st.message());
        ++it;
      } else {
        it = owned_.erase(it);
      }
    }

    if (errors.empty()) return Status::Ok();
    std::string message = "userspace proxy:";
    for (const auto& e : errors) message += " " + e + ";";
    message.pop_back();
    return UnavailableError(message);
  }

  Status DoCleanup() {
    CloseAll();
    services_.clear();
    Status found = FindOwned();
    std::vector<std::string> errors;
    if (!found.ok()) errors.push_back(found.message());
    for (auto it = owned_.begin(); it != owned_.end();) {
      Status st = netlink_.Del(ifindex_, *it, it->size() * 8);
      if (!st.ok()) {
        errors.push_back(st.message());
        ++it;
      } else {
        it = owned_.erase(it);
      }
    }
    found_owned_ = found.ok();
    if (errors.empty()) return Status::Ok();
    std::string message = "userspace proxy cleanup:";
    for (const auto& e : errors) message += " " + e + ";";
    message.pop_back();
    return UnavailableError(message);
  }

  void CloseAll() {
    for (auto& [key, l] : listeners_) CloseListener(l);
    listeners_.clear();
    std::vector<Conn*> conns(conns_.begin(), conns_.end());
    for (Conn* c : conns) Abort(c, /*reset=*/false);
  }

  Status OpenListener(const std::string& key, const Want& w) {
    auto* l = new Listener;
    l->backend = this;
    l->key = key;
    l->protocol = w.protocol;
    l->ip = w.ip;
    l->port = w.port;
    l->kind = w.kind;
    l->service_key = w.service_key;
    l->service = services_.at(w.service_key);
    sockaddr_storage sa;
    ToSockaddr(w.parsed, w.port, &sa);
    const auto* addr = reinterpret_cast<const sockaddr*>(&sa);
    int rc;
    if (w.protocol == Protocol::kUdp) {
      uv_udp_init(&loop_, &l->udp);
      l->udp.data = l;
      rc = uv_udp_bind(&l->udp, addr,
                       w.parsed.family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
      if (rc == 0) rc = uv_udp_recv_start(&l->udp, OnUdpAlloc, OnUdpRecv);
    } else {
      uv_tcp_init(&loop_, &l->tcp);
      l->tcp.data = l;
      rc = uv_tcp_bind(&l->tcp, addr,
                       w.parsed.family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
      if (rc == 0) {
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), kListenBacklog,
                       OnConnection);
      }
    }
    if (rc != 0) {
      uv_close(l->handle(),
               [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
      return UnavailableError("listening on " + key + ": " + uv_strerror(rc));
    }
    listeners_[key] = l;
    log::Debug(kComponent, "listening")("address", key)("service",
                                                        w.service_key);
    return Status::Ok();
  }

  void CloseListener(Listener* l) {
    std::vector<UdpSession*> sessions;
    for (auto& [k, s] : l->sessions) sessions.push_back(s);
    for (UdpSession* s : sessions) CloseSession(s);
    uv_close(l->handle(),
             [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }

  // ---- endpoint choice -------------------------------------------------

  size_t Pick(ServiceState& s, Kind kind, const std::string& client_ip) {
    const TargetList& list = *s.targets[kind];
    if (s.port.session_affinity && !client_ip.empty()) {
      auto it = s.sticky.find(client_ip);
      if (it != s.sticky.end() && !Expired(s, it->second.last_ms)) {
        for (size_t i = 0; i < list.size(); ++i) {
          if (list[i].endpoint.ip == it->second.ip &&
              list[i].endpoint.port == it->second.port) {
            it->second.last_ms = uv_now(&loop_);
            return i;
          }
        }
      }
    }
    return s.next[kind]++ % list.size();
  }

  void Remember(ServiceState& s, const std::string& client_ip,
                const Target& t) {
    if (!s.port.session_affinity || client_ip.empty()) return;
    auto& sticky = s.sticky[client_ip];
    sticky.ip = t.endpoint.ip;
    sticky.port = t.endpoint.port;
    sticky.last_ms = uv_now(&loop_);
  }

  bool Expired(const ServiceState& s, uint64_t last_ms) {
    return uv_now(&loop_) - last_ms >
           static_cast<uint64_t>(s.port.affinity_timeout_seconds) * 1000;
  }

  // ---- TCP -------------------------------------------------------------

  void Accept(Listener* l) {
    auto* c = new Conn;
    c->backend = this;
    InitSide(c, &c->client);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&l->tcp),
                  reinterpret_cast<uv_stream_t*>(&c->client.tcp)) != 0) {
      conns_.insert(c);
      Abort(c, /*reset=*/false);
      return;
    }
    conns_.insert(c);
    c->service = l->service;
    c->targets = l->service->targets[l->kind];
    if (c->targets->empty()) {
      Abort(c, /*reset=*/true);
      return;
    }
    if (c->service->port.session_affinity) {
      sockaddr_storage peer{};
      int len = sizeof peer;
      if (uv_tcp_getpeername(&c->client.tcp, reinterpret_cast<sockaddr*>(&peer),
                             &len) == 0) {
        c->client_ip = PeerIp(reinterpret_cast<sockaddr*>(&peer));
      }
    }
    uv_tcp_nodelay(&c->client.tcp, 1);
    uv_timer_init(&loop_, &c->connect_timer);
    c->connect_timer.data = c;
    c->timer_open = true;
    ++c->open_handles;
    c->first = Pick(*c->service, l->kind, c->client_ip);
    Connect(c);
  }

  void InitSide(Conn* c, Side* s) {
    uv_tcp_init(&loop_, &s->tcp);
    s->tcp.data = s;
    s->conn = c;
    s->open = true;
    s->paused = false;
    s->shut = false;
    ++c->open_handles;
  }

  // Connects to the next endpoint to try; all tried: resets the client.
  void Connect(Conn* c) {
    while (c->tries < c->targets->size()) {
      const Target& t =
          (*c->targets)[(c->first + c->tries) % c->targets->size()];
      InitSide(c, &c->up);
      c->connect_req.data = c;
      int rc =
          uv_tcp_connect(&c->connect_req, &c->up.tcp,
                         reinterpret_cast<const sockaddr*>(&t.addr), OnConnect);
      if (rc == 0) {
        uv_timer_start(
            &c->connect_timer, OnConnectTimeout,
            static_cast<uint64_t>(tuning_.tcp_connect_timeout.count()), 0);
        return;
      }
      // Could not even start: retry once this handle is closed.
      ++c->tries;
      c->retry_pending = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&c->up.tcp), OnSideClosed);
      return;
    }
    log::Debug(kComponent, "no endpoint accepted the connection")(
        "service", c->service->port.ns + "/" + c->service->port.name);
    Abort(c, /*reset=*/true);
  }

  void Connected(Conn* c, int status) {
    if (c->closing || status == UV_ECANCELED) return;
    uv_timer_stop(&c->connect_timer);
    if (status < 0) {
      ++c->tries;
      c->retry_pending = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&c->up.tcp), OnSideClosed);
      return;
    }
    const Target& t = (*c->targets)[(c->first + c->tries) % c->targets->size()];
    Remember(*c->service, c->client_ip, t);
    c->service.reset();  // a removed service port is not kept alive
    CloseTimer(c);
    uv_tcp_nodelay(&c->up.tcp, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->client.tcp), OnAlloc,
                  OnRead);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->up.tcp), OnAlloc, OnRead);
  }

  // The endpoint did not answer in time: the next one.
  void ConnectTimedOut(Conn* c) {
    if (c->closing || c->retry_pending) return;
    log::Debug(kComponent, "endpoint connect timed out")(
        "service", c->service->port.ns + "/" + c->service->port.name);
    ++c->tries;
    c->retry_pending = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->up.tcp), OnSideClosed);
  }

  void CloseTimer(Conn* c) {
    auto* h = reinterpret_cast<uv_handle_t*>(&c->connect_timer);
    if (c->timer_open && !uv_is_closing(h)) uv_close(h, OnTimerClosed);
  }

  void TimerClosed(Conn* c) {
    c->timer_open = false;
    Release(c);
  }

  void SideClosed(Side* s) {
    Conn* c = s->conn;
    s->open = false;
    if (s == &c->up && c->retry_pending) {
      c->retry_pending = false;
      if (!c->closing) Connect(c);
    }
    Release(c);
  }

  // One of the connection's handles is closed; the last one frees it.
  void Release(Conn* c) {
    if (--c->open_handles == 0) {
      conns_.erase(c);
      delete c;
    }
  }

  // Closes both sockets; with `reset` each goes with a TCP reset.
  void Abort(Conn* c, bool reset) {
    if (c->closing) return;
    c->closing = true;
    CloseTimer(c);
    for (Side* s : {&c->client, &c->up}) {
      auto* h = reinterpret_cast<uv_handle_t*>(&s->tcp);
      if (!s->open || uv_is_closing(h)) continue;
      if (!reset || uv_tcp_close_reset(&s->tcp, OnSideClosed) != 0) {
        uv_close(h, OnSideClosed);
      }
    }
  }

  void Read(Side* s, ssize_t n, const uv_buf_t* buf) {
    Conn* c = s->conn;
    Block* block = buf->base ? BlockOf(buf->base) : nullptr;
    if (n > 0) {
      Side* o = c->Other(s);
      auto* stream = reinterpret_cast<uv_stream_t*>(&o->tcp);
      uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(n));
      // Mostly the kernel takes it all at once: the block goes straight
      // back to the pool, with no write request and no callback.
      int sent = uv_try_write(stream, &out, 1);
      if (sent == n) {
        GiveBlock(block);
        return;
      }
      if (sent < 0 && sent != UV_EAGAIN) {
        GiveBlock(block);
        Abort(c, /*reset=*/true);
        return;
      }
      if (sent > 0) out = uv_buf_init(buf->base + sent, out.len - sent);
      block->from = s;
      block->req.data = block;
      if (uv_write(&block->req, reinterpret_cast<uv_stream_t*>(&o->tcp), &out,
                   1, OnWrite) != 0) {
        GiveBlock(block);
        Abort(c, /*reset=*/true);
        return;
      }
      if (o->tcp.write_queue_size > tuning_.tcp_high_water) {
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&s->tcp));
        s->paused = true;
      }
      return;
    }
    if (block) GiveBlock(block);
    if (n == 0) return;
    if (n == UV_EOF) {
      // Half-close: pass the FIN on once what was read is written.
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&s->tcp));
      Side* o = c->Other(s);
      o->shutdown_req.data = o;
      if (uv_shutdown(&o->shutdown_req, reinterpret_cast<uv_stream_t*>(&o->tcp),
                      OnShutdown) != 0) {
        Abort(c, /*reset=*/true);
      }
      return;
    }
    Abort(c, /*reset=*/true);  // a reset (or error) is passed on as a reset
  }

  void Written(Block* block, int status) {
    Side* from = block->from;
    Conn* c = from->conn;
    GiveBlock(block);
    if (status == UV_ECANCELED || c->closing) return;
    if (status < 0) {
      Abort(c, /*reset=*/true);
      return;
    }
    if (from->paused &&
        c->Other(from)->tcp.write_queue_size <= tuning_.tcp_high_water / 4) {
      from->paused = false;
      uv_read_start(reinterpret_cast<uv_stream_t*>(&from->tcp), OnAlloc,
                    OnRead);
    }
  }

  void ShutDown(Side* s, int status) {
    Conn* c = s->conn;
    if (status == UV_ECANCELED || c->closing) return;
    if (status < 0) {
      Abort(c, /*reset=*/true);
      return;
    }
    s->shut = true;
    if (c->client.shut && c->up.shut) Abort(c, /*reset=*/false);
  }

  Block* TakeBlock() {
    if (free_blocks_.empty()) return new Block;
    Block* b = free_blocks_.back();
    free_blocks_.pop_back();
    return b;
  }

  void GiveBlock(Block* b) {
    if (free_blocks_.size() >= kMaxFreeBlocks) {
      delete b;
    } else {
      free_blocks_.push_back(b);
    }
  }

  // ---- UDP -------------------------------------------------------------

  void UdpFromClient(Listener* l, ssize_t n, const uv_buf_t* buf,
                     const sockaddr* addr) {
    ClientKey(addr, &scratch_key_);
    UdpSession* s;
    auto it = l->sessions.find(scratch_key_);
    if (it != l->sessions.end()) {
      s = it->second;
    } else {
      const TargetList& targets = *l->service->targets[l->kind];
      if (targets.empty()) return;
      if (sessions_ >= max_sessions_ && oldest_) CloseSession(oldest_);
      std::string client_ip;
      if (l->service->port.session_affinity) client_ip = PeerIp(addr);
      const Target& t = targets[Pick(*l->service, l->kind, client_ip)];
      s = new UdpSession;
      uv_udp_init(&loop_, &s->up);
      s->up.data = s;
      int rc =
          uv_udp_connect(&s->up, reinterpret_cast<const sockaddr*>(&t.addr));
      if (rc == 0) rc = uv_udp_recv_start(&s->up, OnUdpAlloc, OnSessionRecv);
      if (rc != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&s->up), [](uv_handle_t* h) {
          delete static_cast<UdpSession*>(h->data);
        });
        return;
      }
      Remember(*l->service, client_ip, t);
      s->listener = l;
      s->key = scratch_key_;
      s->endpoint = t.endpoint;
      std::memcpy(&s->client, addr,
                  addr->sa_family == AF_INET ? sizeof(sockaddr_in)
                                             : sizeof(sockaddr_in6));
      l->sessions.emplace(s->key, s);
      ++sessions_;
      Link(s);
    }
    Touch(s);
    uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(n));
    // A full socket drops the datagram, as UDP may.
    uv_udp_try_send(&s->up, &out, 1, nullptr);
  }

  void UdpFromEndpoint(UdpSession* s, ssize_t n, const uv_buf_t* buf,
                       const sockaddr* addr) {
    if (n < 0) {  // e.g. ECONNREFUSED: the endpoint's port is closed
      CloseSession(s);
      return;
    }
    if (addr == nullptr) return;
    Touch(s);
    uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(n));
    uv_udp_try_send(&s->listener->udp, &out, 1,
                    reinterpret_cast<const sockaddr*>(&s->client));
  }

  // Closes the UDP sessions whose endpoint left the listener's pick list,
  // so a client that keeps its socket (a resolver) moves to a remaining
  // endpoint with its next datagram instead of waiting out the idle time.
  void DropStaleSessions(Listener* l) {
    const TargetList* list = l->service->targets[l->kind].get();
    if (l->protocol != Protocol::kUdp || l->checked == list) return;
    l->checked = list;
    std::vector<UdpSession*> stale;
    for (auto& [key, s] : l->sessions) {
      bool found =
          std::any_of(list->begin(), list->end(), [&](const Target& t) {
            return t.endpoint.ip == s->endpoint.ip &&
                   t.endpoint.port == s->endpoint.port;
          });
      if (!found) stale.push_back(s);
    }
    for (UdpSession* s : stale) CloseSession(s);
  }

  void Link(UdpSession* s) {
    s->older = newest_;
    s->newer = nullptr;
    if (newest_) newest_->newer = s;
    newest_ = s;
    if (!oldest_) oldest_ = s;
  }

  void Unlink(UdpSession* s) {
    if (s->newer) s->newer->older = s->older;
    if (s->older) s->older->newer = s->newer;
    if (newest_ == s) newest_ = s->older;
    if (oldest_ == s) oldest_ = s->newer;
    s->newer = s->older = nullptr;
  }

  void Touch(UdpSession* s) {
    s->last_ms = uv_now(&loop_);
    if (newest_ != s) {
      Unlink(s);
      Link(s);
    }
  }

  void CloseSession(UdpSession* s) {
    Unlink(s);
    s->listener->sessions.erase(s->key);
    --sessions_;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->up),
             [](uv_handle_t* h) { delete static_cast<UdpSession*>(h->data); });
  }

  // Adds again the addresses of ours that someone removed from the device
  // (run by the sweep timer, so the node heals without waiting for a
  // Service change).
  void RestoreAddresses() {
    if (!found_owned_ || owned_.empty()) return;
    auto present = netlink_.Dump();
    if (!present.ok()) return;
    std::set<Ip> on_device;
    for (const DeviceAddress& d : *present) {
      if (d.ifindex == ifindex_) on_device.insert(d.ip);
    }
    for (const Ip& ip : owned_) {
      if (on_device.count(ip)) continue;
      Status st = netlink_.Add(ifindex_, ip);
      log::Warn(kComponent, "service address was removed from the device")(
          "address", ip.ToString())("readded", st.ok() ? "yes" : st.message());
    }
  }

  void Sweep() {
    RestoreAddresses();
    uint64_t now = uv_now(&loop_);
    auto idle = static_cast<uint64_t>(tuning_.udp_session_timeout.count());
    while (oldest_ && now - oldest_->last_ms > idle) CloseSession(oldest_);
    for (auto& [key, s] : services_) {
      for (auto it = s->sticky.begin(); it != s->sticky.end();) {
        it = Expired(*s, it->second.last_ms) ? s->sticky.erase(it) : ++it;
      }
    }
  }

  const BackendOptions options_;
  const UserspaceTuning tuning_;
  std::vector<std::string> node_ips_;  // canonical text
  std::vector<Cidr> service_cidrs_;
  size_t max_sessions_ = 0;

  std::thread thread_;
  std::mutex mu_;
  std::deque<std::packaged_task<Status()>> tasks_;  // guarded by mu_

  // Loop thread only from here on.
  uv_loop_t loop_;
  uv_async_t async_;
  uv_timer_t sweep_;
  int ifindex_ = 0;
  Netlink netlink_;
  bool found_owned_ = false;
  std::set<Ip> owned_;  // addresses this backend put on the device
  std::map<std::string, std::shared_ptr<ServiceState>> services_;
  std::map<std::string, Listener*> listeners_;
  std::unordered_set<Conn*> conns_;
  std::vector<Block*> free_blocks_;
  size_t sessions_ = 0;
  UdpSession* newest_ = nullptr;
  UdpSession* oldest_ = nullptr;
  std::string scratch_key_;
  std::set<std::string> warned_sctp_;
  char udp_buf_[65536];
};

UserspaceBackend* BackendOf(uv_handle_t* h) {
  return static_cast<UserspaceBackend*>(h->loop->data);
}

void UserspaceBackend::OnAsync(uv_async_t* a) {
  static_cast<UserspaceBackend*>(a->data)->RunTasks();
}

void UserspaceBackend::OnSweep(uv_timer_t* t) {
  static_cast<UserspaceBackend*>(t->data)->Sweep();
}

void UserspaceBackend::OnConnection(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  if (status < 0) {
    log::Warn(kComponent, "accept failed")("address", l->key)(
        "error", uv_strerror(status));
    return;
  }
  l->backend->Accept(l);
}

void UserspaceBackend::OnConnect(uv_connect_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  c->backend->Connected(c, status);
}

void UserspaceBackend::OnConnectTimeout(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  c->backend->ConnectTimedOut(c);
}

void UserspaceBackend::OnTimerClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  c->backend->TimerClosed(c);
}

void UserspaceBackend::OnSideClosed(uv_handle_t* h) {
  auto* s = static_cast<Side*>(h->data);
  s->conn->backend->SideClosed(s);
}

void UserspaceBackend::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Block* b = BackendOf(h)->TakeBlock();
  *buf = uv_buf_init(b->data, kBlockSize);
}

void UserspaceBackend::OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* side = static_cast<Side*>(s->data);
  side->conn->backend->Read(side, n, buf);
}

void UserspaceBackend::OnWrite(uv_write_t* req, int status) {
  auto* block = static_cast<Block*>(req->data);
  block->from->conn->backend->Written(block, status);
}

void UserspaceBackend::OnShutdown(uv_shutdown_t* req, int status) {
  auto* s = static_cast<Side*>(req->data);
  s->conn->backend->ShutDown(s, status);
}

void UserspaceBackend::OnUdpAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  UserspaceBackend* b = BackendOf(h);
  *buf = uv_buf_init(b->udp_buf_, sizeof b->udp_buf_);
}

void UserspaceBackend::OnUdpRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf,
                                 const sockaddr* addr, unsigned flags) {
  if (n < 0 || addr == nullptr || (flags & UV_UDP_PARTIAL)) return;
  auto* l = static_cast<Listener*>(h->data);
  l->backend->UdpFromClient(l, n, buf, addr);
}

void UserspaceBackend::OnSessionRecv(uv_udp_t* h, ssize_t n,
                                     const uv_buf_t* buf, const sockaddr* addr,
                                     unsigned flags) {
  if (flags & UV_UDP_PARTIAL) return;
  auto* s = static_cast<UdpSession*>(h->data);
  s->listener->backend->UdpFromEndpoint(s, n, buf, addr);
}

}  // namespace

StatusOr<std::unique_ptr<Backend>> NewUserspaceBackend(
    const BackendOptions& options, const UserspaceTuning& tuning) {
  auto backend = std::make_unique<UserspaceBackend>(options, tuning);
  KITE_RETURN_IF_ERROR(backend->Start());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kite::proxy
