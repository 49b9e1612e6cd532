// The backend conformance test (issue 7 item 1, proxy_model.h): every
// proxy mode on this build serves the same behaviour, checked with real
// sockets through real netfilter rules (or userspace listeners).
//
// Each test builds its own topology of network namespaces (never the
// machine's own):
//   client netns  veth 192.168.77.1/24 -- veth 192.168.77.2/24  node netns
//                 routes 10.43/16, 10.99/16 via 192.168.77.2
//   node netns    the backend's rules; ip_forward on and a default route
//                 (via the client), as the agent leaves a node;
//                 the endpoints 10.42.0.11-13 on lo,
//                 served by this process (sockets made inside the netns):
//                 TCP 8080 answers "<name> <peer ip>\n" then echoes,
//                 UDP 8053 answers every datagram with "<name> <peer ip>".
// ep1 is on this node (local), ep2 and ep3 on another one.
// Needs root, ip and nsenter; skipped with a message otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/proxy/proxy_model.h"

namespace kite::proxy {
namespace {

constexpr const char* kClientIp = "192.168.77.1";
constexpr const char* kNodeIp = "192.168.77.2";
constexpr const char* kNode = "node-a";
constexpr int kTcpPort = 8080;
constexpr int kUdpPort = 8053;

struct EndpointSpec {
  const char* name;
  const char* ip;
  const char* node;
};
constexpr std::array<EndpointSpec, 3> kEndpoints{{
    {"ep1", "10.42.0.11", "node-a"},
    {"ep2", "10.42.0.12", "node-b"},
    {"ep3", "10.42.0.13", "node-b"},
}};

// Runs a shell command; its exit status.
int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// A command's standard output.
std::string Output(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

// A socket made inside the network namespace open at `ns_fd` (the calling
// thread enters it and comes back).
int SocketIn(int ns_fd, int type) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return -1;
  int fd = -1;
  if (setns(ns_fd, CLONE_NEWNET) == 0) {
    fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (setns(self, CLONE_NEWNET) != 0) std::abort();  // never stay there
  }
  close(self);
  return fd;
}

sockaddr_in Addr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

std::string PeerIp(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return buf;
}

// The endpoints' servers: one thread polling every socket.
class EndpointServers {
 public:
  bool Start(int node_ns) {
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    for (const auto& e : kEndpoints) {
      int t = SocketIn(node_ns, SOCK_STREAM);
      int u = SocketIn(node_ns, SOCK_DGRAM);
      if (t < 0 || u < 0) return false;
      int one = 1;
      setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in ta = Addr(e.ip, kTcpPort), ua = Addr(e.ip, kUdpPort);
      if (bind(t, reinterpret_cast<sockaddr*>(&ta), sizeof ta) != 0 ||
          listen(t, 64) != 0 ||
          bind(u, reinterpret_cast<sockaddr*>(&ua), sizeof ua) != 0) {
        ADD_FAILURE() << "bind " << e.ip << ": " << strerror(errno);
        return false;
      }
      listeners_[t] = e.name;
      udp_[u] = e.name;
    }
    thread_ = std::thread([this] { Run(); });
    return true;
  }
  ~EndpointServers() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      if (write(stop_fd_, &one, sizeof one) < 0) std::abort();
      thread_.join();
    }
    for (auto& [fd, _] : listeners_) close(fd);
    for (auto& [fd, _] : udp_) close(fd);
    for (auto& [fd, _] : conns_) close(fd);
    if (stop_fd_ >= 0) close(stop_fd_);
  }

 private:
  void Run() {
    while (true) {
      std::vector<pollfd> fds{{stop_fd_, POLLIN, 0}};
      for (auto& [fd, _] : listeners_) fds.push_back({fd, POLLIN, 0});
      for (auto& [fd, _] : udp_) fds.push_back({fd, POLLIN, 0});
      for (auto& [fd, _] : conns_) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) return;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        int fd = fds[i].fd;
        if (auto l = listeners_.find(fd); l != listeners_.end()) {
          sockaddr_in peer{};
          socklen_t len = sizeof peer;
          int c = accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len,
                          SOCK_CLOEXEC);
          if (c < 0) continue;
          std::string hello = l->second + " " + PeerIp(peer) + "\n";
          if (send(c, hello.data(), hello.size(), MSG_NOSIGNAL) < 0) {
            close(c);
            continue;
          }
          conns_[c] = l->second;
        } else if (auto u = udp_.find(fd); u != udp_.end()) {
          char buf[512];
          sockaddr_in peer{};
          socklen_t len = sizeof peer;
          ssize_t n = recvfrom(fd, buf, sizeof buf, 0,
                               reinterpret_cast<sockaddr*>(&peer), &len);
          if (n < 0) continue;
          std::string reply = u->second + " " + PeerIp(peer);
          sendto(fd, reply.data(), reply.size(), 0,
                 reinterpret_cast<sockaddr*>(&peer), len);
        } else {
          char buf[512];
          ssize_t n = recv(fd, buf, sizeof buf, 0);
          if (n <= 0 || send(fd, buf, n, MSG_NOSIGNAL) < 0) {
            close(fd);
            conns_.erase(fd);
          }
        }
      }
    }
  }

  int stop_fd_ = -1;
  std::map<int, std::string> listeners_, udp_, conns_;
  std::thread thread_;
};

// What a client saw.
struct Reply {
  bool ok = false;
  int error = 0;       // errno of the failure (ETIMEDOUT: no answer)
  std::string name;    // the endpoint that answered
  std::string source;  // the client address the endpoint saw
};

Reply ParseHello(const std::string& text) {
  Reply r;
  r.ok = true;
  size_t sp = text.find(' ');
  r.name = text.substr(0, sp);
  if (sp != std::string::npos) {
    r.source = text.substr(sp + 1);
    while (!r.source.empty() && r.source.back() == '\n') r.source.pop_back();
  }
  return r;
}

// Waits for `fd` to be readable/writable up to 3 s; false on timeout.
bool WaitFd(int fd, short events) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, 3000) == 1;
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    if (Sh("command -v ip >/dev/null && command -v nsenter >/dev/null") != 0)
      GTEST_SKIP() << "needs ip (iproute2) and nsenter";
    std::string id = std::to_string(getpid());
    client_ = "kite-pc-c-" + id;
    node_ = "kite-pc-n-" + id;
    std::string nc = "nsenter --net=/var/run/netns/" + client_ + " ";
    nn_ = "nsenter --net=/var/run/netns/" + node_ + " ";
    std::string veth = "kpc" + id;
    created_ = true;
    std::string setup =
        "set -e; ip netns add " + client_ + "; ip netns add " + node_ + "; " +
        nc + "ip link set lo up; " + nn_ + "ip link set lo up; " + nc +
        "ip link add " + veth + " type veth peer name eth1 netns " + node_ +
        "; " + nc + "ip link set " + veth + " name eth0; " + nc +
        "ip addr add " + kClientIp + "/24 dev eth0; " + nc +
        "ip link set eth0 up; " + nn_ + "ip addr add " + kNodeIp +
        "/24 dev eth1; " + nn_ + "ip link set eth1 up; " + nc +
        "ip route add 10.43.0.0/16 via " + kNodeIp + "; " + nc +
        "ip route add 10.99.0.0/16 via " + kNodeIp + "; " +
        // A node as the agent leaves it: forwarding on, a default route.
        nn_ + "sysctl -qw net.ipv4.ip_forward=1; " + nn_ +
        "ip route add default via " + kClientIp + "; ";
    for (const auto& e : kEndpoints)
      setup += nn_ + "ip addr add " + e.ip + "/32 dev lo; ";
    ASSERT_EQ(Sh(setup), 0) << setup;
    client_fd_ =
        open(("/var/run/netns/" + client_).c_str(), O_RDONLY | O_CLOEXEC);
    node_fd_ = open(("/var/run/netns/" + node_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(client_fd_, 0);
    ASSERT_GE(node_fd_, 0);
    ASSERT_TRUE(servers_.Start(node_fd_));

    auto mode = ParseProxyMode(GetParam());
    ASSERT_TRUE(mode.ok());
    BackendOptions o;
    o.node_name = kNode;
    o.node_ips = {kNodeIp};
    o.command_prefix = {"nsenter", "--net=/var/run/netns/" + node_};
    AdjustOptions(&o);
    auto backend = NewBackend(*mode, o);
    if (!backend.ok() && backend.status().code() == Code::kFailedPrecondition) {
      GTEST_SKIP() << GetParam() << " does not work on this host: "
                   << backend.status().ToString();
    }
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(*backend);
    EXPECT_EQ(std::string(backend_->name()), GetParam());
  }

  // The userspace mode's sockets and addresses live in the node netns
  // (command_prefix only reaches the kernel modes' programs).
  void AdjustOptions(BackendOptions* o) {
    o->userspace_netns = "/var/run/netns/" + node_;
  }

  void TearDown() override {
    if (backend_) {
      Status st = backend_->Cleanup();
      EXPECT_TRUE(st.ok()) << st.ToString();
      backend_.reset();
    }
    if (client_fd_ >= 0) close(client_fd_);
    if (node_fd_ >= 0) close(node_fd_);
    if (created_) {
      Sh("ip netns del " + client_ + " 2>/dev/null; ip netns del " + node_ +
         " 2>/dev/null");
    }
  }

  // A ServicePort "default/<name>:/tcp|udp" on `ip`:`port` to `eps`
  // (indexes into kEndpoints).
  static ServicePort Port(const std::string& name, Protocol protocol,
                          const std::string& ip, int port,
                          const std::vector<int>& eps) {
    ServicePort sp;
    sp.ns = "default";
    sp.name = name;
    sp.protocol = protocol;
    sp.cluster_ips = {ip};
    sp.port = port;
    for (int i : eps) {
      const auto& e = kEndpoints[i];
      sp.endpoints.push_back(
          Endpoint{e.ip, protocol == Protocol::kUdp ? kUdpPort : kTcpPort,
                   e.node, std::string(e.node) == kNode});
    }
    return sp;
  }

  void SyncOk(const std::vector<ServicePort>& ports) {
    ProxySnapshot s;
    for (const auto& p : ports) s.ports[p.Key()] = p;
    Status st = backend_->Sync(s);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // A TCP connection from the client netns; the endpoint's hello.
  Reply Tcp(const std::string& ip, int port, int* keep_fd = nullptr) {
    Reply r;
    int fd = SocketIn(client_fd_, SOCK_STREAM | SOCK_NONBLOCK);
    if (fd < 0) {
      r.error = errno;
      return r;
    }
    sockaddr_in a = Addr(ip, port);
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno != EINPROGRESS) {
      r.error = errno;
      close(fd);
      return r;
    }
    if (!WaitFd(fd, POLLOUT)) {
      r.error = ETIMEDOUT;
      close(fd);
      return r;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      r.error = err;
      close(fd);
      return r;
    }
    std::string text = ReadLine(fd);
    if (text.empty()) {
      r.error = ETIMEDOUT;
      close(fd);
      return r;
    }
    r = ParseHello(text);
    if (keep_fd != nullptr) {
      *keep_fd = fd;
    } else {
      close(fd);
    }
    return r;
  }

  static std::string ReadLine(int fd) {
    std::string text;
    char buf[256];
    while (text.find('\n') == std::string::npos) {
      if (!WaitFd(fd, POLLIN)) return "";
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return "";
      text.append(buf, n);
    }
    return text;
  }

  // One UDP datagram from the client netns; the endpoint's answer.
  Reply Udp(const std::string& ip, int port) {
    Reply r;
    int fd = SocketIn(client_fd_, SOCK_DGRAM);
    if (fd < 0) {
      r.error = errno;
      return r;
    }
    sockaddr_in a = Addr(ip, port);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (send(fd, "hi", 2, 0) != 2) {
      r.error = errno;
      close(fd);
      return r;
    }
    if (!WaitFd(fd, POLLIN)) {
      r.error = ETIMEDOUT;
      close(fd);
      return r;
    }
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      r.error = errno;
    } else {
      r = ParseHello(std::string(buf, n));
    }
    close(fd);
    return r;
  }

  // The endpoints that answered `n` TCP connections (or UDP datagrams).
  std::multiset<std::string> Spread(const std::string& ip, int port, int n,
                                    Protocol protocol = Protocol::kTcp) {
    std::multiset<std::string> seen;
    for (int i = 0; i < n; ++i) {
      Reply r = protocol == Protocol::kTcp ? Tcp(ip, port) : Udp(ip, port);
      seen.insert(r.ok ? r.name : std::string("error:") + strerror(r.error));
    }
    return seen;
  }

  static std::set<std::string> Names(const std::multiset<std::string>& m) {
    return {m.begin(), m.end()};
  }

  std::string client_, node_, nn_;
  bool created_ = false;
  int client_fd_ = -1, node_fd_ = -1;
  EndpointServers servers_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(ConformanceTest, ClusterIPReachesEveryEndpointOverTcpAndUdp) {
  SyncOk({Port("web", Protocol::kTcp, "10.43.77.10", 80, {0, 1, 2}),
          Port("dns", Protocol::kUdp, "10.43.77.11", 53, {0, 1, 2})});
  auto tcp = Spread("10.43.77.10", 80, 30);
  EXPECT_EQ(Names(tcp), (std::set<std::string>{"ep1", "ep2", "ep3"}));
  auto udp = Spread("10.43.77.11", 53, 30, Protocol::kUdp);
  EXPECT_EQ(Names(udp), (std::set<std::string>{"ep1", "ep2", "ep3"}));
}

TEST_P(ConformanceTest, RemovedEndpointGetsNoTrafficAndNoneIsRefused) {
  SyncOk({Port("web", Protocol::kTcp, "10.43.77.10", 80, {0, 1, 2})});
  ASSERT_TRUE(Tcp("10.43.77.10", 80).ok);
  SyncOk({Port("web", Protocol::kTcp, "10.43.77.10", 80, {0, 1})});
  auto seen = Spread("10.43.77.10", 80, 20);
  EXPECT_EQ(Names(seen), (std::set<std::string>{"ep1", "ep2"}));

  SyncOk({Port("web", Protocol::kTcp, "10.43.77.10", 80, {})});
  Reply r = Tcp("10.43.77.10", 80);
  EXPECT_FALSE(r.ok) << "answered by " << r.name;
  // Refused (a reset or an ICMP error), not left to time out.
  EXPECT_EQ(r.error, ECONNREFUSED) << strerror(r.error);
}

TEST_P(ConformanceTest, NodePortOnTheNodeAddress) {
  ServicePort sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {1});
  sp.node_port = 30080;
  ServicePort udp = Port("dns", Protocol::kUdp, "10.43.77.11", 53, {2});
  udp.node_port = 30053;
  SyncOk({sp, udp});
  Reply r = Tcp(kNodeIp, 30080);
  ASSERT_TRUE(r.ok) << strerror(r.error);
  EXPECT_EQ(r.name, "ep2");
  r = Udp(kNodeIp, 30053);
  ASSERT_TRUE(r.ok) << strerror(r.error);
  EXPECT_EQ(r.name, "ep3");
}

TEST_P(ConformanceTest, SessionAffinitySticksToOneEndpoint) {
  ServicePort sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {0, 1, 2});
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 600;
  SyncOk({sp});
  auto seen = Spread("10.43.77.10", 80, 12);
  EXPECT_EQ(Names(seen).size(), 1u) << ::testing::PrintToString(seen);
  EXPECT_EQ(Names(seen).count("ep1") + Names(seen).count("ep2") +
                Names(seen).count("ep3"),
            1u);
}

TEST_P(ConformanceTest, InternalTrafficPolicyLocal) {
  ServicePort sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {0, 1, 2});
  sp.internal_policy_local = true;
  SyncOk({sp});
  EXPECT_EQ(Names(Spread("10.43.77.10", 80, 10)), std::set<std::string>{"ep1"});
  // No local endpoint: refused, never sent to another node.
  sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {1, 2});
  sp.internal_policy_local = true;
  SyncOk({sp});
  Reply r = Tcp("10.43.77.10", 80);
  EXPECT_FALSE(r.ok) << "answered by " << r.name;
  EXPECT_EQ(r.error, ECONNREFUSED) << strerror(r.error);
}

TEST_P(ConformanceTest, ExternalTrafficPolicyLocalKeepsTheClientAddress) {
  ServicePort sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {0, 1, 2});
  sp.node_port = 30080;
  sp.external_policy_local = true;
  SyncOk({sp});
  for (int i = 0; i < 8; ++i) {
    Reply r = Tcp(kNodeIp, 30080);
    ASSERT_TRUE(r.ok) << strerror(r.error);
    EXPECT_EQ(r.name, "ep1");
    // The kernel modes keep the client address (the userspace mode
    // cannot: its connections to endpoints start at the node).
    if (GetParam() != "userspace") {
      EXPECT_EQ(r.source, kClientIp);
    }
  }
  // The ClusterIP is not restricted by the external policy.
  EXPECT_EQ(Names(Spread("10.43.77.10", 80, 30)),
            (std::set<std::string>{"ep1", "ep2", "ep3"}));
  // No local endpoint: the NodePort refuses.
  sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {1, 2});
  sp.node_port = 30080;
  sp.external_policy_local = true;
  SyncOk({sp});
  Reply r = Tcp(kNodeIp, 30080);
  EXPECT_FALSE(r.ok) << "answered by " << r.name;
}

// LoadBalancer ingress IPs as servicelb sets them (the node addresses) and
// an externalIP routed to the node. The kernel modes also serve ingress IPs
// that are not the node's (a VIP routed to it); the userspace mode serves
// only the node's own, since owning another host's address would cut the
// node off from it (docs/proxy.md).
TEST_P(ConformanceTest, LoadBalancerAndExternalIPs) {
  ServicePort sp = Port("web", Protocol::kTcp, "10.43.77.10", 8088, {1});
  sp.load_balancer_ips = {kNodeIp};
  sp.external_ips = {"10.99.0.101"};
  if (GetParam() != "userspace") sp.load_balancer_ips.push_back("10.99.0.100");
  SyncOk({sp});
  for (const std::string& ip :
       {std::string(kNodeIp), std::string("10.99.0.101")}) {
    Reply r = Tcp(ip.c_str(), 8088);
    ASSERT_TRUE(r.ok) << ip << ": " << strerror(r.error);
    EXPECT_EQ(r.name, "ep2") << ip;
  }
  if (GetParam() != "userspace") {
    EXPECT_TRUE(Tcp("10.99.0.100", 8088).ok);
  }
  // Removed from the Service: no longer served.
  sp.load_balancer_ips.clear();
  sp.external_ips.clear();
  SyncOk({sp});
  EXPECT_FALSE(Tcp(kNodeIp, 8088).ok);
  EXPECT_FALSE(Tcp("10.99.0.101", 8088).ok);
  EXPECT_TRUE(Tcp("10.43.77.10", 8088).ok);
}

TEST_P(ConformanceTest, AChangeLeavesOtherServicesAlone) {
  ServicePort a = Port("a", Protocol::kTcp, "10.43.77.10", 80, {0});
  ServicePort b = Port("b", Protocol::kTcp, "10.43.77.20", 80, {1});
  SyncOk({a, b});
  int held = -1;
  Reply r = Tcp("10.43.77.10", 80, &held);
  ASSERT_TRUE(r.ok) << strerror(r.error);
  ASSERT_EQ(r.name, "ep1");
  // b changes, c arrives: a's open connection and a itself go on.
  b = Port("b", Protocol::kTcp, "10.43.77.20", 80, {2});
  ServicePort c = Port("c", Protocol::kTcp, "10.43.77.30", 80, {1});
  SyncOk({a, b, c});
  ASSERT_EQ(send(held, "ping\n", 5, MSG_NOSIGNAL), 5);
  EXPECT_EQ(ReadLine(held), "ping\n");
  close(held);
  EXPECT_EQ(Names(Spread("10.43.77.10", 80, 5)), std::set<std::string>{"ep1"});
  EXPECT_EQ(Names(Spread("10.43.77.20", 80, 5)), std::set<std::string>{"ep3"});
  EXPECT_EQ(Names(Spread("10.43.77.30", 80, 5)), std::set<std::string>{"ep2"});
  // a removed: b and c stay.
  SyncOk({b, c});
  EXPECT_FALSE(Tcp("10.43.77.10", 80).ok);
  EXPECT_TRUE(Tcp("10.43.77.20", 80).ok);
}

TEST_P(ConformanceTest, CleanupRemovesEverything) {
  ServicePort sp = Port("web", Protocol::kTcp, "10.43.77.10", 80, {0});
  sp.node_port = 30080;
  SyncOk({sp});
  ASSERT_TRUE(Tcp("10.43.77.10", 80).ok);
  ASSERT_TRUE(backend_->Cleanup().ok());
  EXPECT_FALSE(Tcp("10.43.77.10", 80).ok);
  EXPECT_FALSE(Tcp(kNodeIp, 30080).ok);
  // No rule and no address mentions the service any more.
  std::string state = Output(nn_ + "ip -o addr 2>&1; " + nn_ +
                             "nft list ruleset 2>/dev/null; " + nn_ +
                             "iptables-save 2>/dev/null");
  EXPECT_EQ(state.find("10.43.77.10"), std::string::npos) << state;
  EXPECT_EQ(state.find("30080"), std::string::npos) << state;
  // Idempotent.
  EXPECT_TRUE(backend_->Cleanup().ok());
  // A later Sync works again.
  SyncOk({sp});
  EXPECT_TRUE(Tcp("10.43.77.10", 80).ok);
}

TEST_P(ConformanceTest, SwitchingModesRemovesTheOldModesRules) {
  SyncOk({Port("web", Protocol::kTcp, "10.43.77.10", 80, {0})});
  BackendOptions o;
  o.node_name = kNode;
  o.node_ips = {kNodeIp};
  o.command_prefix = {"nsenter", "--net=/var/run/netns/" + node_};
  AdjustOptions(&o);
  ProxyMode self = *ParseProxyMode(GetParam());
  // Cleaning up the other modes leaves this one serving.
  ASSERT_TRUE(CleanupOtherModes(self, o).ok());
  Reply r = Tcp("10.43.77.10", 80);
  EXPECT_TRUE(r.ok) << strerror(r.error);
  // Another mode taking over removes this one's rules.
  ProxyMode other = self == ProxyMode::kNftables ? ProxyMode::kIptables
                                                 : ProxyMode::kNftables;
  ASSERT_TRUE(CleanupOtherModes(other, o).ok());
  EXPECT_FALSE(Tcp("10.43.77.10", 80).ok);
  std::string state = Output(nn_ + "ip -o addr 2>&1; " + nn_ +
                             "nft list ruleset 2>/dev/null; " + nn_ +
                             "iptables-save 2>/dev/null");
  EXPECT_EQ(state.find("10.43.77.10"), std::string::npos) << state;
}

INSTANTIATE_TEST_SUITE_P(Modes, ConformanceTest,
                         ::testing::Values("nftables", "iptables", "userspace"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace kite::proxy
