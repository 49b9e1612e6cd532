// Tests of the userspace proxy backend with real sockets. Services and
// endpoints live on 127.0.0.x, which are local addresses already, so most
// tests need no privilege. As root, main() first moves the whole process
// into a network namespace of its own (unshare), so the tests that add
// ClusterIPs such as 10.43.0.10 to lo never touch the host's namespace.
#include "agent/proxy/userspace_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace kite::proxy {
namespace {

using namespace std::chrono_literals;

bool g_private_netns = false;  // set by main(): root, in its own netns

sockaddr_storage Addr(const std::string& ip, int port, socklen_t* len) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
  } else {
    inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
  }
  return ss;
}

int Family(const std::string& ip) {
  return ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
}

// A port that is free on `ip` for `type` right now.
int FreePort(const std::string& ip, int type = SOCK_STREAM) {
  int fd = socket(Family(ip), type, 0);
  socklen_t len;
  auto ss = Addr(ip, 0, &len);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << ip;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  close(fd);
  return port;
}

// Reads until `n` bytes, EOF or 5 s without data; returns what arrived.
std::string ReadUpTo(int fd, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) break;
    ssize_t got = recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (got <= 0) break;
    out.append(buf, got);
  }
  return out;
}

std::string ReadLine(int fd) {
  std::string out;
  char c;
  while (out.size() < 1000) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) break;
    if (recv(fd, &c, 1, 0) != 1) break;
    if (c == '\n') break;
    out.push_back(c);
  }
  return out;
}

// An endpoint: says "<name>\n" to each connection, then echoes what it
// reads; on EOF it writes "bye" and closes. UDP: answers "<name>:<data>".
class EchoServer {
 public:
  EchoServer(std::string name, std::string ip, int port = 0)
      : name_(std::move(name)), ip_(std::move(ip)) {
    socklen_t len;
    auto ss = Addr(ip_, port, &len);
    tcp_ = socket(Family(ip_), SOCK_STREAM, 0);
    int one = 1;
    setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(bind(tcp_, reinterpret_cast<sockaddr*>(&ss), len), 0);
    getsockname(tcp_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    listen(tcp_, 64);
    udp_ = socket(Family(ip_), SOCK_DGRAM, 0);
    ss = Addr(ip_, port_, &len);
    EXPECT_EQ(bind(udp_, reinterpret_cast<sockaddr*>(&ss), len), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
    close(tcp_);
    close(udp_);
  }
  int port() const { return port_; }
  const std::string& ip() const { return ip_; }
  int connections() const { return accepted_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p[2] = {{tcp_, POLLIN, 0}, {udp_, POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents & POLLIN) {
        int fd = accept(tcp_, nullptr, nullptr);
        if (fd >= 0) {
          ++accepted_;
          conns_.emplace_back([this, fd] { Echo(fd); });
        }
      }
      if (p[1].revents & POLLIN) {
        char buf[65536];
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(udp_, buf, sizeof buf, 0,
                             reinterpret_cast<sockaddr*>(&from), &len);
        if (n >= 0) {
          std::string reply = name_ + ":" + std::string(buf, n);
          sendto(udp_, reply.data(), reply.size(), 0,
                 reinterpret_cast<sockaddr*>(&from), len);
        }
      }
    }
  }
  void Echo(int fd) {
    std::string hello = name_ + "\n";
    send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    char buf[65536];
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (n == 0) send(fd, "bye", 3, MSG_NOSIGNAL);
        break;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += w;
      }
    }
    close(fd);
  }

  std::string name_, ip_;
  int port_ = 0;
  int tcp_ = -1, udp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> conns_;  // serve thread only, joined at the end
};

// Connects to ip:port (from `source` when given); -1 with errno on failure.
int Dial(const std::string& ip, int port, const std::string& source = "") {
  int fd = socket(Family(ip), SOCK_STREAM, 0);
  socklen_t len;
  if (!source.empty()) {
    auto src = Addr(source, 0, &len);
    bind(fd, reinterpret_cast<sockaddr*>(&src), len);
  }
  auto ss = Addr(ip, port, &len);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// The greeting of the endpoint a new connection reaches; "" when the
// connection is refused or closed without one.
std::string Hello(const std::string& ip, int port,
                  const std::string& source = "") {
  int fd = Dial(ip, port, source);
  if (fd < 0) return "";
  std::string name = ReadLine(fd);
  close(fd);
  return name;
}

// One UDP exchange from a fresh socket (from `source`); "" on timeout or
// error. `from` receives the reply's source address.
std::string AskUdp(const std::string& ip, int port, const std::string& data,
                   std::string* from = nullptr, int* error = nullptr) {
  int fd = socket(Family(ip), SOCK_DGRAM, 0);
  socklen_t len;
  auto ss = Addr(ip, port, &len);
  sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss),
         len);
  std::string out;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 3000) == 1) {
    char buf[65536];
    sockaddr_storage src{};
    socklen_t slen = sizeof src;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0,
                         reinterpret_cast<sockaddr*>(&src), &slen);
    if (n >= 0) {
      out.assign(buf, n);
      if (from) {
        char text[INET6_ADDRSTRLEN];
        auto* v4 = reinterpret_cast<sockaddr_in*>(&src);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&src);
        if (src.ss_family == AF_INET) {
          inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
          *from = std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
        } else {
          inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
          *from =
              std::string(text) + ":" + std::to_string(ntohs(v6->sin6_port));
        }
      }
    } else if (error) {
      *error = errno;
    }
  }
  close(fd);
  return out;
}

Endpoint Ep(const EchoServer& s, bool local = true) {
  return Endpoint{s.ip(), s.port(), local ? "node-a" : "node-b", local};
}

ServicePort Svc(const std::string& name, const std::string& cluster_ip,
                int port, std::vector<Endpoint> endpoints,
                Protocol protocol = Protocol::kTcp) {
  ServicePort sp;
  sp.ns = "default";
  sp.name = name;
  sp.protocol = protocol;
  sp.cluster_ips = {cluster_ip};
  sp.port = port;
  std::sort(endpoints.begin(), endpoints.end(),
            [](const Endpoint& a, const Endpoint& b) {
              return std::tie(a.ip, a.port) < std::tie(b.ip, b.port);
            });
  sp.endpoints = std::move(endpoints);
  return sp;
}

ProxySnapshot Snap(std::vector<ServicePort> ports) {
  ProxySnapshot s;
  for (auto& p : ports) s.ports[p.Key()] = std::move(p);
  return s;
}

class UserspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.node_name = "node-a";
    options_.node_ips = {"127.0.0.30"};
  }
  void TearDown() override {
    if (backend_) {
      EXPECT_TRUE(backend_->Cleanup().ok());
    }
  }
  Backend& Start(UserspaceTuning tuning = {}) {
    auto b = NewUserspaceBackend(options_, tuning);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(*b);
    return *backend_;
  }
  void SyncOk(const ProxySnapshot& snap) {
    Status st = backend_->Sync(snap);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  BackendOptions options_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(UserspaceTest, TcpRoundRobinOverEveryEndpoint) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a), Ep(b)})}));
  std::multiset<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.insert(Hello("127.0.0.10", port));
  EXPECT_EQ(seen.count("a"), 3u);
  EXPECT_EQ(seen.count("b"), 3u);
}

TEST_F(UserspaceTest, TcpCopiesLargeStreamsAndPassesHalfClose) {
  EchoServer a("a", "127.0.0.2");
  UserspaceTuning tuning;
  tuning.tcp_high_water = 64 * 1024;  // exercise the pause/resume path
  Start(tuning);
  int port = FreePort("127.0.0.10");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a)})}));
  int fd = Dial("127.0.0.10", port);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadLine(fd), "a");
  std::string payload(8 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = char(i * 7 + i / 9);
  // Write everything, then half-close, while reading the echo: the proxy
  // must hold back (the client reads slowly at first) and lose nothing.
  std::string echoed;
  std::thread reader([&] {
    std::this_thread::sleep_for(200ms);
    echoed = ReadUpTo(fd, payload.size() + 3);
  });
  for (size_t off = 0; off < payload.size();) {
    ssize_t w = send(fd, payload.data() + off, payload.size() - off, 0);
    ASSERT_GT(w, 0);
    off += w;
  }
  shutdown(fd, SHUT_WR);
  reader.join();
  ASSERT_EQ(echoed.size(), payload.size() + 3);
  EXPECT_TRUE(echoed.compare(0, payload.size(), payload) == 0);
  EXPECT_EQ(echoed.substr(payload.size()), "bye");
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0);  // the endpoint's close arrives as EOF
  close(fd);
}

TEST_F(UserspaceTest, ClientResetMidStreamDoesNotKillTheProcess) {
  EchoServer a("a", "127.0.0.2");
  Start();
  int port = FreePort("127.0.0.10");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a)})}));
  for (int round = 0; round < 5; ++round) {
    int fd = Dial("127.0.0.10", port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ReadLine(fd), "a");
    std::string chunk(1 << 20, 'x');
    send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    // Reset with the echo still flowing back: the proxy's writes to this
    // socket fail (EPIPE), which must not raise SIGPIPE in the process.
    linger hard{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(fd);
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(Hello("127.0.0.10", port), "a");
}

TEST_F(UserspaceTest, NoEndpointsIsRefusedAndEndpointsComeAndGo) {
  EchoServer a("a", "127.0.0.2");
  Start();
  int port = FreePort("127.0.0.10");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {})}));
  EXPECT_EQ(Dial("127.0.0.10", port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a)})}));
  EXPECT_EQ(Hello("127.0.0.10", port), "a");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {})}));
  EXPECT_EQ(Dial("127.0.0.10", port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST_F(UserspaceTest, RemovedEndpointGetsNoMoreConnections) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a), Ep(b)})}));
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(b)})}));
  int before = a.connections();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Hello("127.0.0.10", port), "b");
  EXPECT_EQ(a.connections(), before);
}

TEST_F(UserspaceTest, RefusingEndpointIsSkippedAndAllRefusingResets) {
  EchoServer b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  Endpoint dead{"127.0.0.4", FreePort("127.0.0.4"), "node-a", true};
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {dead, Ep(b)})}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Hello("127.0.0.10", port), "b");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {dead})}));
  int fd = Dial("127.0.0.10", port);
  ASSERT_GE(fd, 0);  // accepted by the proxy, then reset
  char c;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_EQ(recv(fd, &c, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  close(fd);
}

TEST_F(UserspaceTest, SilentEndpointIsGivenUpForTheNext) {
  EchoServer b("b", "127.0.0.3");
  // 127.0.0.5 listens but never accepts, and its queue is full: the
  // kernel drops further SYNs, as from a node that went away.
  int silent = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t len;
  auto ss = Addr("127.0.0.5", 0, &len);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&ss), len), 0);
  ASSERT_EQ(listen(silent, 0), 0);
  getsockname(silent, reinterpret_cast<sockaddr*>(&ss), &len);
  int silent_port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  int filler = Dial("127.0.0.5", silent_port);
  ASSERT_GE(filler, 0);
  UserspaceTuning tuning;
  tuning.tcp_connect_timeout = 300ms;
  Start(tuning);
  int port = FreePort("127.0.0.10");
  Endpoint dead{"127.0.0.5", silent_port, "node-b", false};
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(b), dead})}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Hello("127.0.0.10", port), "b");
  close(filler);
  close(silent);
}

TEST_F(UserspaceTest, SessionAffinityKeepsAClientOnOneEndpoint) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  ServicePort sp = Svc("web", "127.0.0.10", port, {Ep(a), Ep(b)});
  sp.session_affinity = true;
  SyncOk(Snap({sp}));
  std::string first = Hello("127.0.0.10", port, "127.0.0.20");
  std::string other = Hello("127.0.0.10", port, "127.0.0.21");
  ASSERT_FALSE(first.empty());
  EXPECT_NE(first, other);  // round robin gave the second client the next
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Hello("127.0.0.10", port, "127.0.0.20"), first);
    EXPECT_EQ(Hello("127.0.0.10", port, "127.0.0.21"), other);
  }
}

TEST_F(UserspaceTest, SessionAffinityEndsAfterItsTimeout) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  ServicePort sp = Svc("web", "127.0.0.10", port, {Ep(a), Ep(b)});
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 1;
  SyncOk(Snap({sp}));
  std::string first = Hello("127.0.0.10", port, "127.0.0.20");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(Hello("127.0.0.10", port, "127.0.0.20"), first);
  std::this_thread::sleep_for(1500ms);  // idle longer than the timeout
  // Forgotten: round robin goes on to the endpoint after the first one.
  EXPECT_NE(Hello("127.0.0.10", port, "127.0.0.20"), first);
}

TEST_F(UserspaceTest, IncrementalSyncKeepsOpenConnections) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  int port2 = FreePort("127.0.0.11");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a)})}));
  int fd = Dial("127.0.0.10", port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ReadLine(fd), "a");
  // Another service appears, this one's endpoints change, the other goes.
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(a), Ep(b)}),
               Svc("api", "127.0.0.11", port2, {Ep(b)})}));
  EXPECT_EQ(Hello("127.0.0.11", port2), "b");
  SyncOk(Snap({Svc("web", "127.0.0.10", port, {Ep(b)})}));
  EXPECT_EQ(Dial("127.0.0.11", port2), -1);
  // The first connection still works, through the unchanged listener.
  ASSERT_EQ(send(fd, "ping", 4, 0), 4);
  EXPECT_EQ(ReadUpTo(fd, 4), "ping");
  close(fd);
  // A removed service port closes its listener.
  SyncOk(Snap({}));
  EXPECT_EQ(Dial("127.0.0.10", port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST_F(UserspaceTest, UdpEchoRepliesFromTheServiceAddress) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10", SOCK_DGRAM);
  SyncOk(
      Snap({Svc("dns", "127.0.0.10", port, {Ep(a), Ep(b)}, Protocol::kUdp)}));
  std::multiset<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    std::string from;
    std::string reply = AskUdp("127.0.0.10", port, "q", &from);
    EXPECT_EQ(from, "127.0.0.10:" + std::to_string(port));
    seen.insert(reply);
  }
  EXPECT_EQ(seen.count("a:q"), 2u);
  EXPECT_EQ(seen.count("b:q"), 2u);
}

TEST_F(UserspaceTest, UdpWithoutEndpointsIsRefused) {
  Start();
  int port = FreePort("127.0.0.10", SOCK_DGRAM);
  SyncOk(Snap({Svc("dns", "127.0.0.10", port, {}, Protocol::kUdp)}));
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  socklen_t len;
  auto ss = Addr("127.0.0.10", port, &len);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  send(fd, "q", 1, 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1);
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), -1);
  EXPECT_EQ(errno, ECONNREFUSED);  // ICMP port unreachable, not silence
  close(fd);
}

TEST_F(UserspaceTest, UdpSessionsStickThenExpire) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  UserspaceTuning tuning;
  tuning.udp_session_timeout = 200ms;
  Start(tuning);
  int port = FreePort("127.0.0.10", SOCK_DGRAM);
  SyncOk(Snap({Svc("u", "127.0.0.10", port, {Ep(a), Ep(b)}, Protocol::kUdp)}));
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  socklen_t len;
  auto ss = Addr("127.0.0.10", port, &len);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  auto ask = [&] {
    send(fd, "x", 1, 0);
    return ReadUpTo(fd, 3);  // one datagram, "a:x" or "b:x"
  };
  std::string first = ask();
  ASSERT_FALSE(first.empty());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ask(), first);  // one session
  std::this_thread::sleep_for(1000ms);                  // idle: expired
  EXPECT_NE(ask(), first);  // a new session, the next endpoint
  close(fd);
}

TEST_F(UserspaceTest, UdpClientMovesOffARemovedEndpoint) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10", SOCK_DGRAM);
  auto svc = [&](std::vector<Endpoint> eps) {
    return Snap({Svc("dns", "127.0.0.10", port, eps, Protocol::kUdp)});
  };
  SyncOk(svc({Ep(a), Ep(b)}));
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  socklen_t len;
  auto ss = Addr("127.0.0.10", port, &len);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  auto ask = [&] {
    send(fd, "x", 1, 0);
    return ReadUpTo(fd, 3);
  };
  std::string first = ask();
  ASSERT_TRUE(first == "a:x" || first == "b:x") << first;
  // The endpoint this socket's session uses goes away; the other stays.
  SyncOk(svc({first == "a:x" ? Ep(b) : Ep(a)}));
  EXPECT_EQ(ask(), first == "a:x" ? "b:x" : "a:x");
  close(fd);
}

TEST_F(UserspaceTest, ManyShortUdpClientsBeyondTheSessionCap) {
  EchoServer a("a", "127.0.0.2");
  UserspaceTuning tuning;
  tuning.max_udp_sessions = 8;  // the oldest sessions make room
  Start(tuning);
  int port = FreePort("127.0.0.10", SOCK_DGRAM);
  SyncOk(Snap({Svc("dns", "127.0.0.10", port, {Ep(a)}, Protocol::kUdp)}));
  int answered = 0;
  for (int i = 0; i < 100; ++i) {
    std::string q = "q" + std::to_string(i);
    if (AskUdp("127.0.0.10", port, q) == "a:" + q) ++answered;
  }
  EXPECT_EQ(answered, 100);
}

TEST_F(UserspaceTest, TrafficPoliciesLocal) {
  EchoServer local("local", "127.0.0.2"), remote("remote", "127.0.0.3");
  Start();
  int port = FreePort("127.0.0.10");
  int node_port = FreePort("127.0.0.30");
  ServicePort sp =
      Svc("web", "127.0.0.10", port, {Ep(local), Ep(remote, false)});
  sp.node_port = node_port;
  sp.external_policy_local = true;
  SyncOk(Snap({sp}));
  std::set<std::string> cluster, external;
  for (int i = 0; i < 4; ++i) {
    cluster.insert(Hello("127.0.0.10", port));
    external.insert(Hello("127.0.0.30", node_port));
  }
  EXPECT_EQ(cluster, (std::set<std::string>{"local", "remote"}));
  EXPECT_EQ(external, (std::set<std::string>{"local"}));

  sp.external_policy_local = false;
  sp.internal_policy_local = true;
  SyncOk(Snap({sp}));
  cluster.clear();
  external.clear();
  for (int i = 0; i < 4; ++i) {
    cluster.insert(Hello("127.0.0.10", port));
    external.insert(Hello("127.0.0.30", node_port));
  }
  EXPECT_EQ(cluster, (std::set<std::string>{"local"}));
  EXPECT_EQ(external, (std::set<std::string>{"local", "remote"}));

  // No local endpoint: ClusterIP traffic is refused, NodePort still served.
  sp.endpoints = {Ep(remote, false)};
  SyncOk(Snap({sp}));
  EXPECT_EQ(Dial("127.0.0.10", port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_EQ(Hello("127.0.0.30", node_port), "remote");
}

TEST_F(UserspaceTest, NodePortExternalAndLoadBalancerIps) {
  EchoServer a("a", "127.0.0.2");
  Start();
  int port = FreePort("127.0.0.40");
  int node_port = FreePort("127.0.0.30");
  ServicePort sp = Svc("web", "127.0.0.10", port, {Ep(a)});
  sp.node_port = node_port;
  sp.external_ips = {"127.0.0.41"};
  sp.load_balancer_ips = {"127.0.0.40"};
  SyncOk(Snap({sp}));
  EXPECT_EQ(Hello("127.0.0.10", port), "a");
  EXPECT_EQ(Hello("127.0.0.30", node_port), "a");
  EXPECT_EQ(Hello("127.0.0.40", port), "a");
  EXPECT_EQ(Hello("127.0.0.41", port), "a");
  EXPECT_EQ(Dial("127.0.0.1", node_port), -1);  // not on 127.0.0.1
}

TEST_F(UserspaceTest, CleanupClosesEverythingAndSyncWorksAgain) {
  EchoServer a("a", "127.0.0.2");
  Start();
  int port = FreePort("127.0.0.10");
  auto snap = Snap({Svc("web", "127.0.0.10", port, {Ep(a)})});
  SyncOk(snap);
  int fd = Dial("127.0.0.10", port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ReadLine(fd), "a");
  ASSERT_TRUE(backend_->Cleanup().ok());
  EXPECT_EQ(ReadUpTo(fd, 1), "");  // the proxied connection is closed
  close(fd);
  EXPECT_EQ(Dial("127.0.0.10", port), -1);
  EXPECT_TRUE(backend_->Cleanup().ok());  // idempotent
  SyncOk(snap);
  EXPECT_EQ(Hello("127.0.0.10", port), "a");
}

TEST_F(UserspaceTest, ListenFailureIsReportedAndRetried) {
  EchoServer a("a", "127.0.0.2");
  Start();
  int port = FreePort("127.0.0.10");
  int squatter = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t len;
  auto ss = Addr("127.0.0.10", port, &len);
  ASSERT_EQ(bind(squatter, reinterpret_cast<sockaddr*>(&ss), len), 0);
  listen(squatter, 1);
  auto snap = Snap({Svc("web", "127.0.0.10", port, {Ep(a)})});
  Status st = backend_->Sync(snap);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.10"), std::string::npos);
  close(squatter);
  SyncOk(snap);  // the same snapshot again opens what was missing
  EXPECT_EQ(Hello("127.0.0.10", port), "a");
}

TEST(UserspaceBackendTest, MissingDeviceIsFailedPrecondition) {
  BackendOptions options;
  options.userspace_device = "no-such-dev0";
  auto b = NewUserspaceBackend(options);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
}

// ---- root only: ClusterIPs that are not local addresses yet -------------

std::string LoAddresses() {
  std::string out;
  FILE* p = popen("ip -o addr show dev lo", "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class UserspaceNetnsTest : public UserspaceTest {
 protected:
  void SetUp() override {
    if (!g_private_netns) {
      GTEST_SKIP() << "needs root (runs in a network namespace of its own)";
    }
    UserspaceTest::SetUp();
  }
};

TEST_F(UserspaceNetnsTest, ClusterIpsOnLoopbackServeTcpAndUdp) {
  EchoServer a("a", "127.0.0.2"), b("b", "127.0.0.3");
  Start();
  SyncOk(Snap({Svc("web", "10.43.0.20", 80, {Ep(a), Ep(b)}),
               Svc("dns", "10.43.0.10", 53, {Ep(a), Ep(b)}, Protocol::kUdp),
               Svc("v6", "fd00:43::5", 8080, {Ep(a)}),
               Svc("empty", "10.43.0.30", 80, {})}));
  std::string lo = LoAddresses();
  EXPECT_NE(lo.find("10.43.0.20/32"), std::string::npos) << lo;
  EXPECT_NE(lo.find("10.43.0.10/32"), std::string::npos) << lo;
  EXPECT_NE(lo.find("10.43.0.30/32"), std::string::npos) << lo;
  EXPECT_NE(lo.find("fd00:43::5/128"), std::string::npos) << lo;
  std::set<std::string> tcp, udp;
  for (int i = 0; i < 4; ++i) {
    tcp.insert(Hello("10.43.0.20", 80));
    udp.insert(AskUdp("10.43.0.10", 53, "q"));
  }
  EXPECT_EQ(tcp, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(udp, (std::set<std::string>{"a:q", "b:q"}));
  EXPECT_EQ(Hello("fd00:43::5", 8080), "a");
  EXPECT_EQ(Dial("10.43.0.30", 80), -1);  // no endpoints: refused at once
  EXPECT_EQ(errno, ECONNREFUSED);

  // A removed port takes its address with it; the others stay.
  SyncOk(Snap({Svc("web", "10.43.0.20", 80, {Ep(a), Ep(b)})}));
  lo = LoAddresses();
  EXPECT_NE(lo.find("10.43.0.20/32"), std::string::npos) << lo;
  EXPECT_EQ(lo.find("10.43.0.10/32"), std::string::npos) << lo;
  EXPECT_EQ(lo.find("fd00:43::5"), std::string::npos) << lo;

  ASSERT_TRUE(backend_->Cleanup().ok());
  lo = LoAddresses();
  EXPECT_EQ(lo.find("10.43."), std::string::npos) << lo;
  EXPECT_EQ(Dial("10.43.0.20", 80), -1);
}

TEST_F(UserspaceNetnsTest, AnAddressRemovedBehindItsBackComesBack) {
  EchoServer a("a", "127.0.0.2");
  UserspaceTuning tuning;
  tuning.udp_session_timeout = 400ms;  // the sweep (and its check): 100 ms
  Start(tuning);
  SyncOk(Snap({Svc("web", "10.43.0.20", 80, {Ep(a)})}));
  ASSERT_EQ(std::system("ip addr del 10.43.0.20/32 dev lo"), 0);
  // No Sync needed: the backend notices and adds it again.
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(50ms);
    back = LoAddresses().find("10.43.0.20/32") != std::string::npos;
  }
  EXPECT_TRUE(back);
  EXPECT_EQ(Hello("10.43.0.20", 80), "a");
}

TEST_F(UserspaceNetnsTest, ExternalIpIsAddedUnlessLocal) {
  EchoServer a("a", "127.0.0.2");
  Start();
  ServicePort sp = Svc("web", "10.43.0.20", 80, {Ep(a)});
  sp.external_ips = {"192.0.2.7"};
  // A node address: served, not added. Another host's address (servicelb
  // lists every node's): neither added nor served, so this node still
  // reaches that host.
  sp.load_balancer_ips = {"127.0.0.30", "192.0.2.9"};
  SyncOk(Snap({sp}));
  std::string lo = LoAddresses();
  EXPECT_NE(lo.find("192.0.2.7/32"), std::string::npos) << lo;
  EXPECT_EQ(lo.find("127.0.0.30"), std::string::npos) << lo;
  EXPECT_EQ(lo.find("192.0.2.9"), std::string::npos) << lo;
  EXPECT_EQ(Hello("192.0.2.7", 80), "a");
  EXPECT_EQ(Hello("127.0.0.30", 80), "a");
}

TEST_F(UserspaceNetnsTest, NextRunRemovesWhatAnEarlierRunLeft) {
  EchoServer a("a", "127.0.0.2");
  {
    auto old = NewUserspaceBackend(options_);
    ASSERT_TRUE(old.ok());
    ServicePort sp = Svc("web", "10.43.0.20", 80, {Ep(a)});
    sp.external_ips = {"192.0.2.8"};
    ASSERT_TRUE(
        (*old)->Sync(Snap({sp, Svc("x", "10.43.0.21", 80, {Ep(a)})})).ok());
  }  // destroyed without Cleanup, as a crashed agent: addresses stay
  std::string lo = LoAddresses();
  ASSERT_NE(lo.find("10.43.0.21/32"), std::string::npos) << lo;
  ASSERT_NE(lo.find("192.0.2.8/32"), std::string::npos) << lo;
  Start();
  SyncOk(Snap({Svc("web", "10.43.0.20", 80, {Ep(a)})}));
  lo = LoAddresses();
  EXPECT_NE(lo.find("10.43.0.20/32"), std::string::npos) << lo;
  EXPECT_EQ(lo.find("10.43.0.21/32"), std::string::npos) << lo;
  EXPECT_EQ(lo.find("192.0.2.8"), std::string::npos) << lo;
  EXPECT_EQ(Hello("10.43.0.20", 80), "a");
}

// Puts this process into a new network namespace with lo up (root only).
bool EnterPrivateNetns() {
  if (geteuid() != 0) return false;
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET)");
    return false;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  close(fd);
  return ok;
}

}  // namespace
}  // namespace kite::proxy

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  kite::proxy::g_private_netns = kite::proxy::EnterPrivateNetns();
  return RUN_ALL_TESTS();
}
