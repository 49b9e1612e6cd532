// The nftables backend against the real kernel (root only), in network
// namespaces this test creates and deletes; nothing touches the machine's
// own namespace:
//
//   client 192.168.50.2 --veth-- node 192.168.50.1 (the rules live here)
//                                node cni0 10.42.0.1/24 (bridge)
//                                  |-- ep1 10.42.0.5 (pod netns)
//                                  `-- ep2 10.42.0.6 (pod netns)
//
// Every endpoint answers TCP and UDP on ports 8080 and 9090 with
// "<its name> <the client address it saw>", so each case asserts which
// endpoint served it and whether the source was masqueraded.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/proxy/nft_backend.h"

namespace kite::proxy {
namespace {

std::string Prefix() { return "kite-nftk-" + std::to_string(::getpid()); }
std::string NsPath(const std::string& ns) {
  return "/var/run/netns/" + Prefix() + "-" + ns;
}

// Runs a shell script; true when it exits 0.
bool Shell(const std::string& script, std::string* output = nullptr) {
  auto r = NewRealNftRunner()->Run({"sh", "-ec", script}, "");
  if (output) *output = r.ok() ? r->output : r.status().ToString();
  if (!r.ok() || r->exit_code != 0) {
    ADD_FAILURE() << script << "\n" << (r.ok() ? r->output : "");
    return false;
  }
  return true;
}

// A socket created inside netns `ns` (the thread goes back afterwards):
// IPv6 with IPv4-mapped addresses, so one socket speaks both.
int SocketIn(const std::string& ns, int type) {
  int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = ::open(NsPath(ns).c_str(), O_RDONLY | O_CLOEXEC);
  int fd = -1;
  if (self >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0) {
    fd = ::socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    int zero = 0;
    if (fd >= 0)
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (::setns(self, CLONE_NEWNET) != 0) std::abort();
  }
  if (self >= 0) ::close(self);
  if (target >= 0) ::close(target);
  return fd;
}

// While alive, the calling thread is in netns `ns`.
class InNs {
 public:
  explicit InNs(const std::string& ns)
      : self_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    int target = ::open(NsPath(ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (self_ < 0 || target < 0 || ::setns(target, CLONE_NEWNET) != 0)
      std::abort();
    ::close(target);
  }
  ~InNs() {
    if (::setns(self_, CLONE_NEWNET) != 0) std::abort();
    ::close(self_);
  }

 private:
  int self_;
};

// ip:port for SocketIn's sockets (IPv4 as ::ffff:a.b.c.d).
sockaddr_in6 Addr(const std::string& ip, int port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  std::string text = ip.find(':') == std::string::npos ? "::ffff:" + ip : ip;
  ::inet_pton(AF_INET6, text.c_str(), &a.sin6_addr);
  return a;
}

// One endpoint: TCP and UDP echo of "<name> <peer address>" on its ports.
class EndpointServer {
 public:
  EndpointServer(const std::string& ns, const std::string& name)
      : name_(name), stop_(::eventfd(0, EFD_CLOEXEC)) {
    for (int port : {8080, 9090}) {
      for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
        int fd = SocketIn(ns, type);
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in6 a = Addr("::", port);
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) ||
            (type == SOCK_STREAM && ::listen(fd, 64))) {
          ADD_FAILURE() << "endpoint " << name << " port " << port << ": "
                        << std::strerror(errno);
        }
        fds_.push_back({fd, type});
      }
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~EndpointServer() {
    uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof(one));
    thread_.join();
    for (auto [fd, type] : fds_) ::close(fd);
    ::close(stop_);
  }

 private:
  void Serve() {
    for (;;) {
      std::vector<pollfd> p;
      for (auto [fd, type] : fds_) p.push_back({fd, POLLIN, 0});
      p.push_back({stop_, POLLIN, 0});
      if (::poll(p.data(), p.size(), -1) < 0) continue;
      if (p.back().revents) return;
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (!p[i].revents) continue;
        sockaddr_in6 peer{};
        socklen_t len = sizeof(peer);
        char buf[512];
        if (fds_[i].second == SOCK_STREAM) {
          int c = ::accept4(fds_[i].first, reinterpret_cast<sockaddr*>(&peer),
                            &len, SOCK_CLOEXEC);
          if (c < 0) continue;
          std::string reply = Reply(peer);
          (void)!::write(c, reply.data(), reply.size());
          ::close(c);
        } else {
          ssize_t n = ::recvfrom(fds_[i].first, buf, sizeof(buf), 0,
                                 reinterpret_cast<sockaddr*>(&peer), &len);
          if (n < 0) continue;
          std::string reply = Reply(peer);
          ::sendto(fds_[i].first, reply.data(), reply.size(), 0,
                   reinterpret_cast<sockaddr*>(&peer), len);
        }
      }
    }
  }
  std::string Reply(const sockaddr_in6& peer) {
    char ip[INET6_ADDRSTRLEN];
    if (IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr)) {
      ::inet_ntop(AF_INET, &peer.sin6_addr.s6_addr[12], ip, sizeof(ip));
    } else {
      ::inet_ntop(AF_INET6, &peer.sin6_addr, ip, sizeof(ip));
    }
    return name_ + " " + ip;
  }

  std::string name_;
  int stop_;
  std::vector<std::pair<int, int>> fds_;
  std::thread thread_;
};

// What a client in `ns` gets from ip:port: the endpoint's answer,
// "REFUSED" or "TIMEOUT".
std::string Ask(const std::string& ns, const std::string& ip, int port,
                bool udp) {
  int fd = SocketIn(ns, udp ? SOCK_DGRAM : SOCK_STREAM);
  if (fd < 0) return "SOCKET";
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  sockaddr_in6 a = Addr(ip, port);
  std::string result;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  if (rc != 0 && errno != EINPROGRESS) {
    result = errno == ECONNREFUSED ? "REFUSED" : std::strerror(errno);
  }
  if (result.empty() && udp) (void)!::send(fd, "hi", 2, 0);
  while (result.empty()) {
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) {
      result = "TIMEOUT";
      break;
    }
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EAGAIN) continue;
    if (n < 0) {
      result = errno == ECONNREFUSED || errno == ECONNRESET
                   ? "REFUSED"
                   : std::strerror(errno);
    } else {
      result.assign(buf, static_cast<size_t>(n));
      if (result.empty()) result = "EOF";
    }
  }
  ::close(fd);
  return result;
}

// The endpoint names (first word) of `n` answers.
std::set<std::string> Who(const std::string& ns, const std::string& ip,
                          int port, bool udp, int n) {
  std::set<std::string> who;
  for (int i = 0; i < n; ++i) {
    std::string a = Ask(ns, ip, port, udp);
    who.insert(a.substr(0, a.find(' ')));
  }
  return who;
}

class NftKernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_ = "needs root (network namespaces and nftables)";
      return;
    }
    if (::access("/usr/sbin/nft", X_OK) != 0 &&
        ::access("/sbin/nft", X_OK) != 0) {
      skip_ = "nft is not installed";
      return;
    }
    std::string p = Prefix();
    std::string in = "nsenter --net=/var/run/netns/" + p;
    std::string s = "ip netns add " + p + "-n\nip netns add " + p +
                    "-c\nip netns add " + p + "-e1\nip netns add " + p +
                    "-e2\n";
    s += in + "-n ip link set lo up\n";
    // Packets rejected in the forward hook must not teach clients a
    // redirect first (the test routes ClusterIPs back out of v-c).
    s += in + "-n sysctl -qw net.ipv4.conf.all.send_redirects=0\n";
    s += in + "-n sysctl -qw net.ipv4.conf.default.send_redirects=0\n";
    s += in + "-n ip link add cni0 type bridge\n";
    s += in + "-n ip addr add 10.42.0.1/24 dev cni0\n";
    s += in + "-n ip link set cni0 up\n";
    for (auto [e, ip] : {std::pair{"e1", "10.42.0.5"}, {"e2", "10.42.0.6"}}) {
      std::string ine = in + "-" + e;
      s += in + "-n ip link add v-" + e + " type veth peer name eth0 netns " +
           p + "-" + e + "\n";
      s += in + "-n ip link set v-" + e + " master cni0 up\n";
      // As the CNI bridge plugin's hairpinMode: a pod reaching itself
      // through a Service gets the frame back on its own port.
      s += in + "-n ip link set v-" + e + " type bridge_slave hairpin on\n";
      s += ine + " ip link set lo up\n";
      s += ine + " ip addr add " + ip + "/24 dev eth0\n";
      s += ine + " ip link set eth0 up\n";
      s += ine + " ip route add default via 10.42.0.1\n";
      s += ine + " sysctl -qw net.ipv6.conf.eth0.accept_redirects=0\n";
      s += ine + " ip -6 addr add fd42::" + (ip[8] == '5' ? "5" : "6") +
           "/64 dev eth0 nodad\n";
      s += ine + " ip -6 route add default via fd42::1\n";
    }
    s += in + "-n ip link add v-c type veth peer name eth0 netns " + p + "-c\n";
    s += in + "-n ip addr add 192.168.50.1/24 dev v-c\n";
    s += in + "-n ip link set v-c up\n";
    s += in + "-c ip link set lo up\n";
    s += in + "-c ip addr add 192.168.50.2/24 dev eth0\n";
    s += in + "-c ip link set eth0 up\n";
    s += in + "-c ip route add default via 192.168.50.1\n";
    s += in + "-c sysctl -qw net.ipv6.conf.eth0.accept_redirects=0\n";
    s += in + "-c ip -6 addr add fd50::2/64 dev eth0 nodad\n";
    s += in + "-c ip -6 route add default via fd50::1\n";
    // IPv6: the same shape (fd42::/64 pods, fd50::/64 to the client,
    // fd43::/112 services).
    s += in + "-n sysctl -qw net.ipv6.conf.all.forwarding=1\n";
    s += in + "-n ip -6 addr add fd42::1/64 dev cni0 nodad\n";
    s += in + "-n ip -6 addr add fd50::1/64 dev v-c nodad\n";
    // Unserved service addresses go to a sink namespace: a route back out
    // of v-c would make the node send ICMPv6 redirects, and those use up
    // the rate limit its port-unreachable errors need.
    s += "ip netns add " + p + "-s\n";
    s += in + "-n ip link add v-s type veth peer name eth0 netns " + p + "-s\n";
    s += in + "-n ip -6 addr add fd51::1/64 dev v-s nodad\n";
    s += in + "-n ip link set v-s up\n";
    s += in + "-s ip -6 addr add fd51::2/64 dev eth0 nodad\n";
    s += in + "-s ip link set eth0 up\n";
    s += in + "-n ip -6 route add fd43::/112 via fd51::2 dev v-s\n";
    s += in + "-n sysctl -qw net.bridge.bridge-nf-call-ip6tables=1\n";
    s += in + "-n sysctl -qw net.ipv4.ip_forward=1\n";
    // The node's own connections to ClusterIPs need a route: a real node
    // has its default route, this one goes to the client's side (not to
    // cni0, or the node would send pods ICMP redirects to the ClusterIPs).
    s += in + "-n ip route add 10.43.0.0/16 via 192.168.50.2 dev v-c\n";
    // Replies between pods on one bridge pass the ip hooks.
    s += in + "-n sysctl -qw net.bridge.bridge-nf-call-iptables=1\n";
    if (!Shell(s)) return;
    ep1_ = new EndpointServer("e1", "ep1");
    ep2_ = new EndpointServer("e2", "ep2");
  }
  static void TearDownTestSuite() {
    delete ep1_;
    delete ep2_;
    ep1_ = ep2_ = nullptr;
    if (skip_.empty()) {
      std::string p = Prefix();
      Shell("for n in n c e1 e2 s; do ip netns del " + p +
            "-$n 2>/dev/null || true; done");
    }
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_NE(ep1_, nullptr) << "namespace setup failed";
    BackendOptions options;
    options.node_name = "n1";
    options.node_ips = {"192.168.50.1"};
    options.command_prefix = {"nsenter", "--net=" + NsPath("n")};
    auto b = NewNftablesBackend(options);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(*b);
  }
  void TearDown() override {
    if (backend_) {
      EXPECT_TRUE(backend_->Cleanup().ok());
    }
  }

  static ServicePort Svc(const std::string& name, const std::string& cip,
                         Protocol proto = Protocol::kTcp, int target = 8080) {
    ServicePort sp;
    sp.ns = "default";
    sp.name = name;
    sp.protocol = proto;
    sp.cluster_ips = {cip};
    sp.port = 80;
    sp.endpoints = {{"10.42.0.5", target, "n1", true},
                    {"10.42.0.6", target, "n2", false}};
    return sp;
  }
  static ProxySnapshot Snap(std::vector<ServicePort> ports) {
    ProxySnapshot s;
    for (ServicePort& p : ports) {
      s.ports[p.Key()] = std::move(p);
    }
    return s;
  }
  static std::string skip_;
  static EndpointServer* ep1_;
  static EndpointServer* ep2_;
  std::unique_ptr<Backend> backend_;
};
std::string NftKernelTest::skip_;
EndpointServer* NftKernelTest::ep1_ = nullptr;
EndpointServer* NftKernelTest::ep2_ = nullptr;

TEST_F(NftKernelTest, ClusterIpServesTcpAndUdpFromEverywhere) {
  ServicePort udp = Svc("web", "10.43.0.20", Protocol::kUdp);
  ASSERT_TRUE(backend_->Sync(Snap({Svc("web", "10.43.0.20"), udp})).ok());
  for (bool is_udp : {false, true}) {
    SCOPED_TRACE(is_udp ? "udp" : "tcp");
    // Another host: both endpoints, source masqueraded to the bridge.
    EXPECT_EQ(Who("c", "10.43.0.20", 80, is_udp, 24),
              (std::set<std::string>{"ep1", "ep2"}));
    std::string a = Ask("c", "10.43.0.20", 80, is_udp);
    EXPECT_TRUE(a == "ep1 10.42.0.1" || a == "ep2 10.42.0.1") << a;
    // The node itself.
    a = Ask("n", "10.43.0.20", 80, is_udp);
    EXPECT_TRUE(a == "ep1 10.42.0.1" || a == "ep2 10.42.0.1") << a;
  }
  // Nothing else on the ClusterIP.
  EXPECT_NE(Ask("c", "10.43.0.20", 81, false).substr(0, 2), "ep");
}

TEST_F(NftKernelTest, PodsKeepTheirAddressAndHairpinIsMasqueraded) {
  ServicePort only1 = Svc("one", "10.43.0.21");
  only1.endpoints.resize(1);  // ep1
  ServicePort only1_udp = Svc("one", "10.43.0.21", Protocol::kUdp);
  only1_udp.endpoints.resize(1);
  ASSERT_TRUE(backend_->Sync(Snap({only1, only1_udp})).ok());
  // Another pod on the bridge: its own address reaches ep1.
  EXPECT_EQ(Ask("e2", "10.43.0.21", 80, false), "ep1 10.42.0.6");
  EXPECT_EQ(Ask("e2", "10.43.0.21", 80, true), "ep1 10.42.0.6");
  // ep1 to itself through its Service.
  EXPECT_EQ(Ask("e1", "10.43.0.21", 80, false), "ep1 10.42.0.1");
  EXPECT_EQ(Ask("e1", "10.43.0.21", 80, true), "ep1 10.42.0.1");
}

TEST_F(NftKernelTest, NoEndpointIsRefusedNotDropped) {
  ServicePort none = Svc("none", "10.43.0.22");
  none.endpoints.clear();
  none.node_port = 30022;
  ServicePort none_udp = Svc("none", "10.43.0.22", Protocol::kUdp);
  none_udp.endpoints.clear();
  ASSERT_TRUE(backend_->Sync(Snap({none, none_udp})).ok());
  for (const char* ns : {"c", "n", "e1"}) {
    SCOPED_TRACE(ns);
    EXPECT_EQ(Ask(ns, "10.43.0.22", 80, false), "REFUSED");
    EXPECT_EQ(Ask(ns, "10.43.0.22", 80, true), "REFUSED");
  }
  EXPECT_EQ(Ask("c", "192.168.50.1", 30022, false), "REFUSED");
}

TEST_F(NftKernelTest, NodePortExternalAndLoadBalancerIps) {
  ServicePort cluster = Svc("np", "10.43.0.23");
  cluster.node_port = 30080;
  cluster.external_ips = {"203.0.113.10"};
  cluster.load_balancer_ips = {"192.168.50.1"};
  ServicePort cluster_udp = Svc("np", "10.43.0.23", Protocol::kUdp);
  cluster_udp.node_port = 30080;
  ServicePort local = Svc("lcl", "10.43.0.24", Protocol::kTcp, 9090);
  local.port = 81;
  local.node_port = 30081;
  local.external_policy_local = true;
  ASSERT_TRUE(backend_->Sync(Snap({cluster, cluster_udp, local})).ok());

  // Cluster policy: any endpoint, masqueraded.
  for (auto [ip, port] : {std::pair{"192.168.50.1", 30080},
                          {"203.0.113.10", 80},
                          {"192.168.50.1", 80}}) {
    SCOPED_TRACE(std::string(ip) + ":" + std::to_string(port));
    EXPECT_EQ(Who("c", ip, port, false, 24),
              (std::set<std::string>{"ep1", "ep2"}));
    std::string a = Ask("c", ip, port, false);
    EXPECT_EQ(a.substr(3), " 10.42.0.1") << a;
  }
  EXPECT_EQ(Who("c", "192.168.50.1", 30080, true, 24),
            (std::set<std::string>{"ep1", "ep2"}));
  // The node's own connection to its NodePort.
  EXPECT_EQ(Ask("n", "192.168.50.1", 30080, false).substr(0, 2), "ep");

  // Local policy: the local endpoint only, the client address kept.
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(Ask("c", "192.168.50.1", 30081, false), "ep1 192.168.50.2");
  }
  // The node's own connection to it too (masqueraded, any endpoint).
  EXPECT_EQ(Who("n", "192.168.50.1", 30081, false, 24),
            (std::set<std::string>{"ep1", "ep2"}));
  // A pod using the NodePort is treated as ClusterIP traffic.
  EXPECT_EQ(Who("e2", "192.168.50.1", 30081, false, 24),
            (std::set<std::string>{"ep1", "ep2"}));
}

TEST_F(NftKernelTest, InternalTrafficPolicyLocal) {
  ServicePort sp = Svc("itp", "10.43.0.25");
  sp.internal_policy_local = true;
  ASSERT_TRUE(backend_->Sync(Snap({sp})).ok());
  EXPECT_EQ(Who("c", "10.43.0.25", 80, false, 12),
            std::set<std::string>{"ep1"});
  sp.endpoints = {{"10.42.0.6", 8080, "n2", false}};
  ASSERT_TRUE(backend_->Sync(Snap({sp})).ok());
  EXPECT_EQ(Ask("c", "10.43.0.25", 80, false), "REFUSED");
}

TEST_F(NftKernelTest, SessionAffinitySticksToOneEndpoint) {
  ServicePort sp = Svc("aff", "10.43.0.26");
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 600;
  ServicePort sp_udp = Svc("aff", "10.43.0.26", Protocol::kUdp);
  sp_udp.session_affinity = true;
  ASSERT_TRUE(backend_->Sync(Snap({sp, sp_udp})).ok());
  EXPECT_EQ(Who("c", "10.43.0.26", 80, false, 20).size(), 1u);
  EXPECT_EQ(Who("c", "10.43.0.26", 80, true, 20).size(), 1u);
  // Another client (a pod) may land elsewhere, but also sticks.
  EXPECT_EQ(Who("e2", "10.43.0.26", 80, false, 20).size(), 1u);
  // An endpoint goes: the service's chains are rewritten around the kept
  // endpoint's set.
  sp.endpoints.resize(1);
  ASSERT_TRUE(backend_->Sync(Snap({sp, sp_udp})).ok());
  EXPECT_EQ(Who("c", "10.43.0.26", 80, false, 10),
            std::set<std::string>{"ep1"});
}

// IPv6 ClusterIPs and NodePorts, served from the ip6 table next to the
// ip one (a dual-stack cluster CIDR turns it on).
TEST_F(NftKernelTest, Ipv6ServicesAreServedFromTheIp6Table) {
  BackendOptions options;
  options.node_name = "n1";
  options.node_ips = {"192.168.50.1", "fd50::1"};
  options.cluster_cidr = "10.42.0.0/16,fd42::/64";
  options.service_cidr = "10.43.0.0/16,fd43::/112";
  options.command_prefix = {"nsenter", "--net=" + NsPath("n")};
  auto b = NewNftablesBackend(options);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  std::unique_ptr<Backend> dual = std::move(*b);
  struct Guard {
    Backend* b;
    ~Guard() { b->Cleanup().IgnoreError(); }
  } guard{dual.get()};

  ServicePort tcp = Svc("six", "10.43.0.30");
  tcp.cluster_ips = {"10.43.0.30", "fd43::20"};
  tcp.node_port = 30090;
  tcp.endpoints = {{"10.42.0.5", 8080, "n1", true},
                   {"10.42.0.6", 8080, "n2", false},
                   {"fd42::5", 8080, "n1", true},
                   {"fd42::6", 8080, "n2", false}};
  ServicePort udp = tcp;
  udp.protocol = Protocol::kUdp;
  ServicePort none = Svc("none6", "fd43::22");
  none.endpoints.clear();
  ServicePort none_udp = none;
  none_udp.protocol = Protocol::kUdp;
  ASSERT_TRUE(dual->Sync(Snap({tcp, udp, none, none_udp})).ok());

  for (bool is_udp : {false, true}) {
    SCOPED_TRACE(is_udp ? "udp" : "tcp");
    EXPECT_EQ(Who("c", "fd43::20", 80, is_udp, 24),
              (std::set<std::string>{"ep1", "ep2"}));
    std::string a = Ask("c", "fd43::20", 80, is_udp);
    EXPECT_EQ(a.substr(3), " fd42::1") << a;  // masqueraded
    // A pod keeps its address (or reached itself: hairpin, masqueraded).
    a = Ask("e2", "fd43::20", 80, is_udp);
    EXPECT_TRUE(a == "ep1 fd42::6" || a == "ep2 fd42::1") << a;
    EXPECT_EQ(Ask("c", "10.43.0.30", 80, is_udp).substr(3), " 10.42.0.1");
    EXPECT_EQ(Who("c", "fd50::1", 30090, is_udp, 24),
              (std::set<std::string>{"ep1", "ep2"}));
    // No endpoint: TCP reset, ICMPv6 port unreachable. The kernel drops
    // the very first ICMPv6 error to a new destination (its per-peer rate
    // limit starts empty: seen here as one TIMEOUT, then REFUSED every
    // time), so UDP gets a second try.
    std::string refused = Ask("c", "fd43::22", 80, is_udp);
    if (is_udp && refused == "TIMEOUT")
      refused = Ask("c", "fd43::22", 80, true);
    EXPECT_EQ(refused, "REFUSED");
  }
  std::string tables;
  Shell("nsenter --net=" + NsPath("n") + " nft list tables", &tables);
  EXPECT_NE(tables.find("table ip6 kite-proxy"), std::string::npos) << tables;
  ASSERT_TRUE(dual->Cleanup().ok());
  Shell("nsenter --net=" + NsPath("n") + " nft list tables", &tables);
  EXPECT_EQ(tables.find("kite-proxy"), std::string::npos) << tables;
}

// A UDP client keeps its flow (one socket, one source port): when its
// endpoint goes, the flow's conntrack entry is deleted and its next
// datagram reaches a remaining endpoint.
TEST_F(NftKernelTest, UdpFlowMovesOnWhenItsEndpointGoes) {
  ServicePort sp = Svc("udpmove", "10.43.0.29", Protocol::kUdp);
  sp.endpoints = {{"10.42.0.6", 8080, "n2", false}};
  std::unique_ptr<Backend> inside;  // no prefix: driven from the node netns
  {
    InNs node("n");
    BackendOptions options;
    options.node_ips = {"192.168.50.1"};
    auto b = NewNftablesBackend(options);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    inside = std::move(*b);
    ASSERT_TRUE(inside->Sync(Snap({sp})).ok());
  }
  int fd = SocketIn("c", SOCK_DGRAM);
  ASSERT_GE(fd, 0);
  timeval tv = {3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in6 a = Addr("10.43.0.29", 80);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  auto ask = [&] {
    char buf[128];
    if (::send(fd, "hi", 2, 0) != 2) return std::string("SEND");
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    return n < 0 ? std::string(std::strerror(errno))
                 : std::string(buf, static_cast<size_t>(n));
  };
  EXPECT_EQ(ask(), "ep2 10.42.0.1");
  EXPECT_EQ(ask(), "ep2 10.42.0.1");
  sp.endpoints = {{"10.42.0.5", 8080, "n1", true}};
  {
    InNs node("n");
    ASSERT_TRUE(inside->Sync(Snap({sp})).ok());
  }
  EXPECT_EQ(ask(), "ep1 10.42.0.1");
  ::close(fd);
  {
    InNs node("n");
    EXPECT_TRUE(inside->Cleanup().ok());
  }

  // The same with the backend that runs nft through nsenter: the entries
  // are deleted in its --net= namespace.
  sp.cluster_ips = {"10.43.0.31"};
  sp.endpoints = {{"10.42.0.6", 8080, "n2", false}};
  ASSERT_TRUE(backend_->Sync(Snap({sp})).ok());
  fd = SocketIn("c", SOCK_DGRAM);
  ASSERT_GE(fd, 0);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  a = Addr("10.43.0.31", 80);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(ask(), "ep2 10.42.0.1");
  sp.endpoints = {{"10.42.0.5", 8080, "n1", true}};
  ASSERT_TRUE(backend_->Sync(Snap({sp})).ok());
  EXPECT_EQ(ask(), "ep1 10.42.0.1");
  ::close(fd);
}

TEST_F(NftKernelTest, SyncIsIncrementalAndCleanupRemovesEverything) {
  ServicePort a = Svc("a", "10.43.0.27");
  ServicePort b = Svc("b", "10.43.0.28");
  ASSERT_TRUE(backend_->Sync(Snap({a, b})).ok());
  EXPECT_EQ(Ask("c", "10.43.0.27", 80, false).substr(0, 2), "ep");
  for (int i = 0; i < 4; ++i) (void)Who("c", "10.43.0.28", 80, false, 3);
  std::string b_before;
  Shell("nsenter --net=" + NsPath("n") + " nft -a list table ip kite-proxy",
        &b_before);
  // b's endpoint chains, with their handles and counters.
  auto b_chains = [&](const std::string& table) {
    std::string out;
    size_t pos = 0;
    while ((pos = table.find("chain ep-", pos)) != std::string::npos) {
      size_t end = table.find("}", pos);
      std::string chain = table.substr(pos, end - pos);
      if (chain.find("default/b/") != std::string::npos) out += chain;
      pos = end;
    }
    return out;
  };
  std::string kept = b_chains(b_before);
  ASSERT_NE(kept.find("counter packets"), std::string::npos) << b_before;
  ASSERT_EQ(kept.find("counter packets 0 "), std::string::npos) << kept;

  // a loses ep2: only a's chains change; b keeps handles and counters.
  a.endpoints.resize(1);
  ASSERT_TRUE(backend_->Sync(Snap({a, b})).ok());
  std::string after;
  Shell("nsenter --net=" + NsPath("n") + " nft -a list table ip kite-proxy",
        &after);
  EXPECT_EQ(b_chains(after), kept);
  EXPECT_EQ(Who("c", "10.43.0.27", 80, false, 12),
            std::set<std::string>{"ep1"});

  // A new backend (the agent restarted) starts from a clean table.
  backend_.reset();
  BackendOptions options;
  options.node_ips = {"192.168.50.1"};
  options.command_prefix = {"nsenter", "--net=" + NsPath("n")};
  auto again = NewNftablesBackend(options);
  ASSERT_TRUE(again.ok());
  backend_ = std::move(*again);
  ASSERT_TRUE(backend_->Sync(Snap({b})).ok());
  EXPECT_EQ(Ask("c", "10.43.0.28", 80, false).substr(0, 2), "ep");
  EXPECT_NE(Ask("c", "10.43.0.27", 80, false).substr(0, 2), "ep");

  ASSERT_TRUE(backend_->Cleanup().ok());
  ASSERT_TRUE(backend_->Cleanup().ok());
  std::string tables;
  Shell("nsenter --net=" + NsPath("n") + " nft list tables", &tables);
  EXPECT_EQ(tables.find("kite-proxy"), std::string::npos) << tables;
  EXPECT_NE(Ask("c", "10.43.0.28", 80, false).substr(0, 2), "ep");
}

}  // namespace
}  // namespace kite::proxy
