// The iptables backend on the real kernel, with iptables-nft and
// iptables-legacy: three network namespaces this test creates (never the
// root one), real TCP and UDP sockets, and assertions on which endpoint
// answered and which client address it saw.
//
//   client ns  192.168.77.2 --veth-- 192.168.77.1  node ns  10.42.1.1
//                                    (the rules)      --veth-- pods ns
//   pods ns: 10.42.1.2, .3, .4, each serving TCP and UDP on :8080 with
//            "<its address> <peer address>"
// Root only (skipped otherwise); every command runs through `ip -n` or
// nsenter --net; the namespaces are deleted by TearDown.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "agent/proxy/iptables_backend.h"

namespace kite::proxy {
namespace {

constexpr char kNode[] = "192.168.77.1";
constexpr char kClient[] = "192.168.77.2";
constexpr char kPodGateway[] = "10.42.1.1";
const std::vector<std::string> kPods = {"10.42.1.2", "10.42.1.3", "10.42.1.4"};
// IPv6: the client fd77::2, the node fd77::1 and fd42:1::1, pods below.
constexpr char kNode6[] = "fd77::1";
constexpr char kClient6[] = "fd77::2";
const std::vector<std::string> kPods6 = {"fd42:1::2", "fd42:1::3"};

bool Sh(const std::vector<std::string>& argv, std::string* out = nullptr) {
  auto r = RunIptablesCommand(argv, "");
  if (out && r.ok()) *out = r->output;
  if (!r.ok() || r->exit_code != 0) {
    ADD_FAILURE() << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << " "
                  << (argv.size() > 3 ? argv[3] : "") << ": "
                  << (r.ok() ? r->output : r.status().ToString());
    return false;
  }
  return true;
}

// A socket of `type` created in network namespace `ns` (it stays there,
// whichever thread uses it later).
int SocketIn(const std::string& ns, int type, int family = AF_INET) {
  int fd = -1;
  std::thread t([&] {
    int nsfd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return;
    if (setns(nsfd, CLONE_NEWNET) == 0) fd = socket(family, type, 0);
    close(nsfd);
  });
  t.join();
  return fd;
}

// An IPv4 or IPv6 socket address.
struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&ss); }
};

SockAddr Addr(const std::string& ip, int port) {
  SockAddr a;
  if (ip.find(':') != std::string::npos) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, ip.c_str(), &a6->sin6_addr);
    a.len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &a4->sin_addr);
    a.len = sizeof(sockaddr_in);
  }
  return a;
}

std::string PeerIp(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN];
  if (a.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr,
              buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf,
              sizeof(buf));
  }
  return buf;
}

// The answer ("<endpoint> <peer>") or "error:<errno name>".
std::string Ask(const std::string& ns, int type, const std::string& ip,
                int port) {
  SockAddr a = Addr(ip, port);
  int fd = SocketIn(ns, type, a.family());
  if (fd < 0) return "error:socket";
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string out;
  if (connect(fd, a.get(), a.len) != 0) {
    out = std::string("error:") + strerrorname_np(errno);
  } else {
    if (type == SOCK_DGRAM) (void)!send(fd, "?", 1, 0);
    char buf[128];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    out = n > 0 ? std::string(buf, static_cast<size_t>(n))
                : std::string("error:") +
                      (n == 0 ? "EOF" : strerrorname_np(errno));
  }
  close(fd);
  return out;
}

std::string Endpoint(const std::string& answer) {
  return answer.substr(0, answer.find(' '));
}
std::string Peer(const std::string& answer) {
  auto sp = answer.find(' ');
  return sp == std::string::npos ? "" : answer.substr(sp + 1);
}

// TCP and UDP servers on each pod address, port 8080.
class PodServers {
 public:
  bool Start(const std::string& ns) {
    if (pipe2(stop_, O_CLOEXEC) != 0) return false;
    std::vector<std::string> ips = kPods;
    ips.insert(ips.end(), kPods6.begin(), kPods6.end());
    for (const auto& ip : ips) {
      for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
        SockAddr a = Addr(ip, 8080);
        int fd = SocketIn(ns, type, a.family());
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, a.get(), a.len) != 0 ||
            (type == SOCK_STREAM && listen(fd, 64) != 0)) {
          return false;
        }
        fds_.push_back({fd, type, ip});
      }
    }
    thread_ = std::thread([this] { Serve(); });
    return true;
  }
  ~PodServers() {
    if (thread_.joinable()) {
      (void)!write(stop_[1], "x", 1);
      thread_.join();
    }
    for (const auto& s : fds_) close(s.fd);
    close(stop_[0]);
    close(stop_[1]);
  }

 private:
  struct Server {
    int fd;
    int type;
    std::string ip;
  };
  void Serve() {
    while (true) {
      std::vector<pollfd> p;
      for (const auto& s : fds_) p.push_back({s.fd, POLLIN, 0});
      p.push_back({stop_[0], POLLIN, 0});
      if (poll(p.data(), p.size(), -1) < 0 && errno != EINTR) return;
      if (p.back().revents) return;
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (!p[i].revents) continue;
        sockaddr_storage peer{};
        socklen_t len = sizeof(peer);
        if (fds_[i].type == SOCK_STREAM) {
          int c = accept(fds_[i].fd, reinterpret_cast<sockaddr*>(&peer), &len);
          if (c < 0) continue;
          std::string msg = fds_[i].ip + " " + PeerIp(peer);
          (void)!write(c, msg.data(), msg.size());
          close(c);
        } else {
          char buf[64];
          ssize_t n = recvfrom(fds_[i].fd, buf, sizeof(buf), 0,
                               reinterpret_cast<sockaddr*>(&peer), &len);
          if (n < 0) continue;
          std::string msg = fds_[i].ip + " " + PeerIp(peer);
          sendto(fds_[i].fd, msg.data(), msg.size(), 0,
                 reinterpret_cast<sockaddr*>(&peer), len);
        }
      }
    }
  }
  std::vector<Server> fds_;
  int stop_[2] = {-1, -1};
  std::thread thread_;
};

// A runner that makes iptables-nft look broken, so the probe falls back
// to iptables-legacy.
StatusOr<IptablesCommandResult> LegacyOnly(const std::vector<std::string>& argv,
                                           const std::string& input) {
  for (const auto& a : argv) {
    if (a.starts_with("iptables-nft")) return IptablesCommandResult{1, "off"};
  }
  return RunIptablesCommand(argv, input);
}

class IptablesKernelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    static std::atomic<int> counter{0};
    std::string base = "kite-ipt-" + std::to_string(getpid()) + "-" +
                       std::to_string(counter++);
    node_ = base + "-n";
    client_ = base + "-c";
    pods_ = base + "-p";
    for (const auto* ns : {&node_, &client_, &pods_}) {
      ASSERT_TRUE(Sh({"ip", "netns", "add", *ns}));
      created_.push_back(*ns);
      ASSERT_TRUE(Sh({"ip", "-n", *ns, "link", "set", "lo", "up"}));
    }
    const std::vector<std::vector<std::string>> setup = {
        {"ip", "-n", node_, "link", "add", "kc0", "type", "veth", "peer",
         "name", "kc1", "netns", client_},
        {"ip", "-n", node_, "link", "add", "kp0", "type", "veth", "peer",
         "name", "kp1", "netns", pods_},
        {"ip", "-n", node_, "addr", "add", std::string(kNode) + "/24", "dev",
         "kc0"},
        {"ip", "-n", node_, "addr", "add", std::string(kPodGateway) + "/24",
         "dev", "kp0"},
        {"ip", "-n", node_, "link", "set", "kc0", "up"},
        {"ip", "-n", node_, "link", "set", "kp0", "up"},
        // The service CIDR is routed (as by a default route on a real
        // node), to a bridge with no ports.
        {"ip", "-n", node_, "link", "add", "ksvc", "type", "bridge"},
        {"ip", "-n", node_, "link", "set", "ksvc", "up"},
        {"ip", "-n", node_, "route", "add", "10.43.0.0/16", "dev", "ksvc"},
        {"nsenter", "--net=/var/run/netns/" + node_, "sysctl", "-qw",
         "net.ipv4.ip_forward=1"},
        {"ip", "-n", client_, "addr", "add", std::string(kClient) + "/24",
         "dev", "kc1"},
        {"ip", "-n", client_, "link", "set", "kc1", "up"},
        {"ip", "-n", client_, "route", "add", "default", "via", kNode},
        {"ip", "-n", pods_, "addr", "add", kPods[0] + "/24", "dev", "kp1"},
        {"ip", "-n", pods_, "addr", "add", kPods[1] + "/24", "dev", "kp1"},
        {"ip", "-n", pods_, "addr", "add", kPods[2] + "/24", "dev", "kp1"},
        {"ip", "-n", pods_, "link", "set", "kp1", "up"},
        {"ip", "-n", pods_, "route", "add", "default", "via", kPodGateway},
        // IPv6 (nodad: usable at once).
        {"nsenter", "--net=/var/run/netns/" + node_, "sysctl", "-qw",
         "net.ipv6.conf.all.forwarding=1"},
        {"ip", "-n", node_, "addr", "add", std::string(kNode6) + "/64", "dev",
         "kc0", "nodad"},
        {"ip", "-n", node_, "addr", "add", "fd42:1::1/64", "dev", "kp0",
         "nodad"},
        {"ip", "-n", node_, "route", "add", "fd43::/112", "dev", "ksvc"},
        {"ip", "-n", client_, "addr", "add", std::string(kClient6) + "/64",
         "dev", "kc1", "nodad"},
        {"ip", "-n", client_, "route", "add", "default", "via", kNode6},
        {"ip", "-n", pods_, "addr", "add", kPods6[0] + "/64", "dev", "kp1",
         "nodad"},
        {"ip", "-n", pods_, "addr", "add", kPods6[1] + "/64", "dev", "kp1",
         "nodad"},
        {"ip", "-n", pods_, "route", "add", "default", "via", "fd42:1::1"},
    };
    for (const auto& cmd : setup) {
      ASSERT_TRUE(Sh(cmd));
    }
    ASSERT_TRUE(servers_.Start(pods_));
    options_.node_name = "node-a";
    options_.node_ips = {kNode, kNode6};
    options_.cluster_cidr = "10.42.0.0/16,fd42::/48";
    options_.service_cidr = "10.43.0.0/16,fd43::/112";
    options_.command_prefix = {"nsenter", "--net=/var/run/netns/" + node_};
    auto b = GetParam() == "legacy"
                 ? NewIptablesBackendWithRunner(options_, LegacyOnly)
                 : NewIptablesBackend(options_);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(*b);
  }

  void TearDown() override {
    backend_.reset();
    for (const auto& ns : created_) Sh({"ip", "netns", "del", ns});
  }

  std::string Save(const char* table, bool counters = false, bool v6 = false) {
    std::string out;
    std::string save = std::string(v6 ? "ip6" : "ip") + "tables-" +
                       (GetParam() == "legacy" ? "legacy" : "nft") + "-save";
    std::vector<std::string> argv = {"nsenter", "--net=/var/run/netns/" + node_,
                                     save, "-t", table};
    if (counters) argv.push_back("-c");
    Sh(argv, &out);
    // Without the comment lines (they carry the time), and without the
    // built-in chains' policy counters unless asked for: iptables-legacy-save
    // prints them even without -c, and a late packet of an earlier
    // connection (a FIN, an ACK) moves them.
    std::string kept;
    std::istringstream in(out);
    std::string l;
    while (std::getline(in, l)) {
      if (l.starts_with("#")) continue;
      if (!counters && l.starts_with(":")) {
        size_t open = l.rfind(" [");
        if (open != std::string::npos && l.ends_with("]"))
          l = l.substr(0, open) + " [0:0]";
      }
      kept += l + "\n";
    }
    return kept;
  }

  // Endpoints that answered `n` requests from the client namespace.
  std::map<std::string, int> Spread(int type, const std::string& ip, int port,
                                    int n,
                                    std::set<std::string>* peers = nullptr) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
      std::string a = Ask(client_, type, ip, port);
      seen[Endpoint(a)]++;
      if (peers) peers->insert(Peer(a));
    }
    return seen;
  }

  static ServicePort Svc(std::string name, std::string ip, int port,
                         std::vector<std::string> eps,
                         Protocol proto = Protocol::kTcp) {
    ServicePort sp;
    sp.ns = "default";
    sp.name = std::move(name);
    sp.protocol = proto;
    sp.cluster_ips = {std::move(ip)};
    sp.port = port;
    for (const auto& e : eps) sp.endpoints.push_back({e, 8080, "node-a", true});
    return sp;
  }
  static void Put(ProxySnapshot* s, const ServicePort& sp) {
    s->ports[sp.Key()] = sp;
  }

  std::string node_, client_, pods_;
  std::vector<std::string> created_;
  PodServers servers_;
  BackendOptions options_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(IptablesKernelTest, ClusterIpAndNodePortSpreadOverReadyEndpoints) {
  ProxySnapshot s;
  ServicePort web = Svc("web", "10.43.0.10", 80, {kPods[0], kPods[1]});
  web.node_port = 30080;
  Put(&s, web);
  Put(&s, Svc("dns", "10.43.0.10", 53, {kPods[0], kPods[1]}, Protocol::kUdp));
  ASSERT_TRUE(backend_->Sync(s).ok());

  auto tcp = Spread(SOCK_STREAM, "10.43.0.10", 80, 30);
  EXPECT_EQ(tcp.size(), 2u) << ::testing::PrintToString(tcp);
  EXPECT_GT(tcp[kPods[0]], 0);
  EXPECT_GT(tcp[kPods[1]], 0);
  auto udp = Spread(SOCK_DGRAM, "10.43.0.10", 53, 30);
  EXPECT_EQ(udp.size(), 2u) << ::testing::PrintToString(udp);
  EXPECT_GT(udp[kPods[0]], 0);
  EXPECT_GT(udp[kPods[1]], 0);
  auto np = Spread(SOCK_STREAM, kNode, 30080, 10);
  EXPECT_EQ(np[kPods[0]] + np[kPods[1]], 10) << ::testing::PrintToString(np);
  // The node itself reaches the ClusterIP (nat OUTPUT), masqueraded since
  // it is outside the cluster CIDR.
  std::string a = Ask(node_, SOCK_STREAM, "10.43.0.10", 80);
  EXPECT_TRUE(Endpoint(a) == kPods[0] || Endpoint(a) == kPods[1]) << a;
  // A pod reaching itself through its service's ClusterIP (hairpin): the
  // pods' first address is their source, and is masqueraded to the
  // gateway (else the pod would drop a packet from its own address).
  ProxySnapshot hair;
  Put(&hair, Svc("web", "10.43.0.10", 80, {kPods[0]}));
  ASSERT_TRUE(backend_->Sync(hair).ok());
  a = Ask(pods_, SOCK_STREAM, "10.43.0.10", 80);
  EXPECT_EQ(a, kPods[0] + " " + kPodGateway);
}

TEST_P(IptablesKernelTest, SessionAffinitySticksToOneEndpoint) {
  ProxySnapshot s;
  ServicePort sp = Svc("sticky", "10.43.0.11", 80, kPods);
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 60;
  Put(&s, sp);
  ServicePort u = Svc("sticky", "10.43.0.11", 80, kPods, Protocol::kUdp);
  u.session_affinity = true;
  Put(&s, u);
  ASSERT_TRUE(backend_->Sync(s).ok());
  auto tcp = Spread(SOCK_STREAM, "10.43.0.11", 80, 20);
  EXPECT_EQ(tcp.size(), 1u) << ::testing::PrintToString(tcp);
  EXPECT_TRUE(kPods[0] == tcp.begin()->first ||
              kPods[1] == tcp.begin()->first || kPods[2] == tcp.begin()->first);
  auto udp = Spread(SOCK_DGRAM, "10.43.0.11", 80, 20);
  EXPECT_EQ(udp.size(), 1u) << ::testing::PrintToString(udp);
}

TEST_P(IptablesKernelTest, TrafficPolicies) {
  ProxySnapshot s;
  // Local: only the local endpoint, the client's address kept.
  ServicePort local = Svc("local", "10.43.0.12", 80, {kPods[0], kPods[1]});
  local.endpoints[1].local = false;
  local.endpoints[1].node_name = "node-b";
  local.node_port = 30081;
  local.external_policy_local = true;
  local.internal_policy_local = true;
  Put(&s, local);
  // Cluster: any endpoint; masqueraded only towards the remote one.
  ServicePort cluster = local;
  cluster.name = "cluster";
  cluster.cluster_ips = {"10.43.0.13"};
  cluster.node_port = 30082;
  cluster.external_policy_local = false;
  cluster.internal_policy_local = false;
  Put(&s, cluster);
  ASSERT_TRUE(backend_->Sync(s).ok());

  std::set<std::string> peers;
  auto np = Spread(SOCK_STREAM, kNode, 30081, 15, &peers);
  EXPECT_EQ(np, (std::map<std::string, int>{{kPods[0], 15}}));
  EXPECT_EQ(peers, (std::set<std::string>{kClient}));
  auto cip = Spread(SOCK_STREAM, "10.43.0.12", 80, 15);
  EXPECT_EQ(cip, (std::map<std::string, int>{{kPods[0], 15}}));

  std::map<std::string, std::set<std::string>> peer_of;
  for (int i = 0; i < 30; ++i) {
    std::string a = Ask(client_, SOCK_STREAM, kNode, 30082);
    peer_of[Endpoint(a)].insert(Peer(a));
  }
  EXPECT_EQ(peer_of[kPods[0]], (std::set<std::string>{kClient}));
  EXPECT_EQ(peer_of[kPods[1]], (std::set<std::string>{kPodGateway}));

  // No local endpoint left: the Local NodePort and ClusterIP are refused.
  for (auto& [k, sp] : s.ports) {
    if (sp.name == "local") sp.endpoints.erase(sp.endpoints.begin());
  }
  ASSERT_TRUE(backend_->Sync(s).ok());
  EXPECT_EQ(Ask(client_, SOCK_STREAM, kNode, 30081), "error:ECONNREFUSED");
  EXPECT_EQ(Ask(client_, SOCK_STREAM, "10.43.0.12", 80), "error:ECONNREFUSED");
}

TEST_P(IptablesKernelTest, EndpointRemovalAndNoEndpoints) {
  ProxySnapshot s;
  ServicePort t = Svc("svc", "10.43.0.14", 80, {kPods[0], kPods[1]});
  t.node_port = 30083;
  Put(&s, t);
  Put(&s, Svc("svc", "10.43.0.14", 80, {kPods[0], kPods[1]}, Protocol::kUdp));
  ASSERT_TRUE(backend_->Sync(s).ok());
  for (auto& [k, sp] : s.ports) sp.endpoints.pop_back();  // kPods[1] goes
  ASSERT_TRUE(backend_->Sync(s).ok());
  EXPECT_EQ(Spread(SOCK_STREAM, "10.43.0.14", 80, 15),
            (std::map<std::string, int>{{kPods[0], 15}}));
  EXPECT_EQ(Spread(SOCK_DGRAM, "10.43.0.14", 80, 15),
            (std::map<std::string, int>{{kPods[0], 15}}));

  for (auto& [k, sp] : s.ports) sp.endpoints.clear();
  ASSERT_TRUE(backend_->Sync(s).ok());
  EXPECT_EQ(Ask(client_, SOCK_STREAM, "10.43.0.14", 80), "error:ECONNREFUSED");
  EXPECT_EQ(Ask(client_, SOCK_STREAM, kNode, 30083), "error:ECONNREFUSED");
  EXPECT_EQ(Ask(client_, SOCK_DGRAM, "10.43.0.14", 80), "error:ECONNREFUSED");
  EXPECT_EQ(Ask(node_, SOCK_STREAM, "10.43.0.14", 80), "error:ECONNREFUSED");

  for (auto& [k, sp] : s.ports)
    sp.endpoints.push_back({kPods[2], 8080, "", false});
  ASSERT_TRUE(backend_->Sync(s).ok());
  EXPECT_EQ(Endpoint(Ask(client_, SOCK_STREAM, "10.43.0.14", 80)), kPods[2]);
  EXPECT_EQ(Endpoint(Ask(client_, SOCK_DGRAM, "10.43.0.14", 80)), kPods[2]);
}

// A UDP client that keeps its socket: after its endpoint is removed, its
// next datagram goes to another one (the stale conntrack entry is gone).
TEST_P(IptablesKernelTest, RemovedUdpEndpointLosesItsConntrackEntries) {
  ProxySnapshot s;
  ServicePort sp =
      Svc("dns", "10.43.0.18", 53, {kPods[0], kPods[1]}, Protocol::kUdp);
  sp.node_port = 30053;
  Put(&s, sp);
  ASSERT_TRUE(backend_->Sync(s).ok());
  for (const std::string& target :
       {std::string("10.43.0.18"), std::string(kNode)}) {
    int port = target == kNode ? 30053 : 53;
    SockAddr a = Addr(target, port);
    int fd = SocketIn(client_, SOCK_DGRAM, a.family());
    ASSERT_GE(fd, 0);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ASSERT_EQ(connect(fd, a.get(), a.len), 0);
    auto ask = [&] {
      char buf[128];
      if (send(fd, "?", 1, 0) != 1) return std::string("error:send");
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      return n > 0 ? Endpoint(std::string(buf, static_cast<size_t>(n)))
                   : std::string("error:") + strerrorname_np(errno);
    };
    std::string first = ask();
    ASSERT_TRUE(first == kPods[0] || first == kPods[1]) << first;
    EXPECT_EQ(ask(), first);  // the same flow, the same endpoint
    ProxySnapshot without = s;
    auto& eps = without.ports.begin()->second.endpoints;
    std::erase_if(eps, [&](const auto& e) { return e.ip == first; });
    ASSERT_TRUE(backend_->Sync(without).ok());
    std::string second = ask();
    EXPECT_NE(second, first) << target;
    EXPECT_TRUE(second == kPods[0] || second == kPods[1]) << second;
    close(fd);
    ASSERT_TRUE(backend_->Sync(s).ok());
  }
}

TEST_P(IptablesKernelTest, IPv6ClusterIpNodePortAndReject) {
  ProxySnapshot s;
  ServicePort tcp = Svc("six", "fd43::10", 80, kPods6);
  tcp.node_port = 30090;
  Put(&s, tcp);
  Put(&s, Svc("six", "fd43::10", 80, kPods6, Protocol::kUdp));
  Put(&s, Svc("none6", "fd43::11", 80, {}));
  Put(&s, Svc("none6", "fd43::11", 80, {}, Protocol::kUdp));
  Put(&s, Svc("web", "10.43.0.10", 80, {kPods[0]}));  // IPv4 alongside
  ASSERT_TRUE(backend_->Sync(s).ok());

  auto t = Spread(SOCK_STREAM, "fd43::10", 80, 30);
  EXPECT_EQ(t.size(), 2u) << ::testing::PrintToString(t);
  EXPECT_GT(t[kPods6[0]], 0);
  EXPECT_GT(t[kPods6[1]], 0);
  auto u = Spread(SOCK_DGRAM, "fd43::10", 80, 30);
  EXPECT_EQ(u.size(), 2u) << ::testing::PrintToString(u);
  std::set<std::string> peers;
  auto np = Spread(SOCK_STREAM, kNode6, 30090, 10, &peers);
  EXPECT_EQ(np[kPods6[0]] + np[kPods6[1]], 10) << ::testing::PrintToString(np);
  EXPECT_EQ(peers, (std::set<std::string>{kClient6}));
  EXPECT_EQ(Ask(client_, SOCK_STREAM, "fd43::11", 80), "error:ECONNREFUSED");
  EXPECT_EQ(Ask(client_, SOCK_DGRAM, "fd43::11", 80), "error:ECONNREFUSED");
  EXPECT_EQ(Endpoint(Ask(client_, SOCK_STREAM, "10.43.0.10", 80)), kPods[0]);

  ASSERT_TRUE(backend_->Cleanup().ok());
  EXPECT_EQ(Save("nat", false, true).find("KITE-"), std::string::npos);
  EXPECT_EQ(Save("filter", false, true).find("KITE-"), std::string::npos);
}

// The counter of the DNAT rule to `endpoint` in an iptables-save -c dump.
long DnatPackets(const std::string& save, const std::string& endpoint) {
  std::istringstream in(save);
  std::string l;
  while (std::getline(in, l)) {
    if (l.find("--to-destination " + endpoint) == std::string::npos) continue;
    return std::stol(l.substr(1, l.find(':') - 1));
  }
  return -1;
}

int Occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

TEST_P(IptablesKernelTest, SyncIsIncrementalAndCleanupRemovesEverything) {
  // The pod network's masquerade chain (agent/podnet's iptables fallback)
  // is not the proxy's: it survives every Sync and the Cleanup.
  std::string restore = GetParam() == "legacy" ? "iptables-legacy-restore"
                                               : "iptables-nft-restore";
  auto podnet = RunIptablesCommand(
      {"nsenter", "--net=/var/run/netns/" + node_, restore, "--noflush"},
      "*nat\n:KITE-PODNET-MASQ - [0:0]\n"
      "-A POSTROUTING -s 10.42.0.0/16 -j KITE-PODNET-MASQ\n"
      "-A KITE-PODNET-MASQ -j RETURN\nCOMMIT\n");
  ASSERT_TRUE(podnet.ok() && podnet->exit_code == 0);
  ProxySnapshot s;
  Put(&s, Svc("a", "10.43.0.15", 80, {kPods[0]}));
  Put(&s, Svc("b", "10.43.0.16", 80, {kPods[1]}));
  ASSERT_TRUE(backend_->Sync(s).ok());
  auto seen = Spread(SOCK_STREAM, "10.43.0.15", 80, 5);
  ASSERT_EQ(seen[kPods[0]], 5);
  const std::string a_dnat = kPods[0] + ":8080";
  long a_before = DnatPackets(Save("nat", true), a_dnat);
  EXPECT_EQ(a_before, 5);
  std::string filter_before = Save("filter");

  // b changes: a's chains are not rewritten, so its counters stay.
  for (auto& [k, sp] : s.ports) {
    if (sp.name == "b") sp.endpoints = {{kPods[2], 8080, "", false}};
  }
  ASSERT_TRUE(backend_->Sync(s).ok());
  std::string after = Save("nat", true);
  EXPECT_EQ(DnatPackets(after, a_dnat), a_before) << after;
  EXPECT_EQ(DnatPackets(after, kPods[1] + ":8080"), -1);
  EXPECT_EQ(DnatPackets(after, kPods[2] + ":8080"), 0);
  EXPECT_EQ(Save("filter"), filter_before);
  EXPECT_EQ(Endpoint(Ask(client_, SOCK_STREAM, "10.43.0.16", 80)), kPods[2]);

  // A new backend (a restarted agent) removes what the last one left.
  backend_.reset();
  auto b = GetParam() == "legacy"
               ? NewIptablesBackendWithRunner(options_, LegacyOnly)
               : NewIptablesBackend(options_);
  ASSERT_TRUE(b.ok());
  backend_ = std::move(*b);
  ProxySnapshot only_c;
  Put(&only_c, Svc("c", "10.43.0.17", 80, {kPods[2]}));
  ASSERT_TRUE(backend_->Sync(only_c).ok());
  std::string nat = Save("nat");
  EXPECT_EQ(nat.find("default/a"), std::string::npos) << nat;
  EXPECT_EQ(nat.find("default/b"), std::string::npos) << nat;
  EXPECT_EQ(Endpoint(Ask(client_, SOCK_STREAM, "10.43.0.17", 80)), kPods[2]);
  EXPECT_EQ(Ask(client_, SOCK_STREAM, "10.43.0.15", 80).substr(0, 6), "error:");
  // One jump per hook, not two.
  size_t hooks = 0;
  for (size_t p = nat.find("-j KITE-SERVICES"); p != std::string::npos;
       p = nat.find("-j KITE-SERVICES", p + 1)) {
    ++hooks;
  }
  EXPECT_EQ(hooks, 2u) << nat;

  ASSERT_TRUE(backend_->Cleanup().ok());
  nat = Save("nat");
  EXPECT_EQ(Occurrences(nat, "KITE-"), 3) << nat;
  EXPECT_EQ(Occurrences(nat, "KITE-PODNET-MASQ"), 3) << nat;
  EXPECT_EQ(Save("filter").find("KITE-"), std::string::npos);
  ASSERT_TRUE(backend_->Cleanup().ok());  // idempotent
}

INSTANTIATE_TEST_SUITE_P(Variants, IptablesKernelTest,
                         ::testing::Values("nft", "legacy"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace kite::proxy
