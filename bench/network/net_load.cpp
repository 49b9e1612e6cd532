// net_load: the load generator of bench/network.sh (issue 7 item 6). Runs
// one kind of load against ADDR:PORT for a fixed time and prints one line
// of key=value figures. Modes:
//   rr       CONNS persistent TCP connections, each with one HTTP-ish
//            request outstanding (netbench-server's port 8080 answers
//            "HTTP/1.1 200 OK" with a Content-Length body): requests per
//            second and the latency percentiles of the requests;
//   connect  CONNS loops of connect, one request, response, close (reset):
//            new connections per second and their latency (connect to
//            response);
//   bulk     CONNS TCP connections reading what the server streams
//            (port 8081): MB/s (10^6 bytes) received;
//   udp      CONNS UDP sockets, each with one datagram outstanding
//            (port 8080, echoed): round trips per second and latency; a
//            datagram unanswered after 1 s is counted lost and resent.
// The first WARMUP seconds run the same load but are not counted.
// One thread per --threads, each with its share of the connections and its
// own epoll; results are merged.
//
// usage: net_load --mode rr|connect|bulk|udp --addr IP --port N
//                 [--conns N] [--seconds S] [--warmup S] [--threads N]
// prints: net_load: mode=<m> target=<ip:port> conns=<n> seconds=<s>
//         ops=<n> ops_per_s=<n> mb_per_s=<n> p50_us=<n> p90_us=<n>
//         p99_us=<n> max_us=<n> errors=<n> cpu_pct=<its own CPU use, % of
//         one core, over the measured seconds>
// Exit status 1 when nothing completed (nothing listening, nothing
// routed): a benchmark must not report a figure for a path that fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { kRr, kConnect, kBulk, kUdp };

struct Options {
  Mode mode = Mode::kRr;
  std::string mode_name = "rr";
  sockaddr_in target{};
  std::string addr;
  int port = 0;
  int conns = 16;
  double seconds = 5;
  double warmup = 1;
  int threads = 1;
};

constexpr char kRequest[] =
    "GET / HTTP/1.1\r\nHost: netbench\r\nUser-Agent: net_load\r\n\r\n";
constexpr int kRequestBytes = sizeof(kRequest) - 1;
constexpr int kDatagramBytes = 64;

// What one thread measured.
struct Result {
  uint64_t ops = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latencies_us;
};

// One connection (or UDP socket) of one thread.
struct Conn {
  int fd = -1;
  bool connecting = false;
  Clock::time_point sent;  // request (or connect) started
  std::string in;          // response bytes so far (rr, connect)
  size_t need = 0;         // total response bytes, once known
};

int64_t Micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// The length of a whole response at the front of `in`, or 0 when more
// bytes are needed; -1 when it is not a response of ours.
long ResponseBytes(const std::string& in) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return in.size() > 8192 ? -1 : 0;
  if (in.compare(0, 9, "HTTP/1.1 ") != 0) return -1;
  size_t cl = in.find("Content-Length: ");
  if (cl == std::string::npos || cl > end) return -1;
  return static_cast<long>(end + 4) + atol(in.c_str() + cl + 16);
}

class Worker {
 public:
  Worker(const Options& o, int conns, Clock::time_point measure_from,
         Clock::time_point end)
      : o_(o), nconns_(conns), from_(measure_from), end_(end) {}

  Result Run() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(nconns_);
    for (int i = 0; i < nconns_; ++i) Start(i);
    epoll_event events[256];
    for (;;) {
      auto now = Clock::now();
      if (now >= end_) break;
      int timeout_ms = static_cast<int>(
          std::min<int64_t>(Micros(end_ - now) / 1000 + 1, 100));
      int n = epoll_wait(epfd_, events, 256, timeout_ms);
      for (int i = 0; i < n; ++i) OnEvent(events[i].data.u32, events[i].events);
      if (o_.mode == Mode::kUdp) ResendLost();
    }
    for (auto& c : conns_)
      if (c.fd >= 0) close(c.fd);
    close(epfd_);
    return std::move(r_);
  }

 private:
  bool Measuring(Clock::time_point t) const { return t >= from_ && t < end_; }

  void Count(Clock::time_point started, Clock::time_point now) {
    if (!Measuring(now)) return;
    ++r_.ops;
    r_.latencies_us.push_back(static_cast<uint32_t>(
        std::min<int64_t>(Micros(now - started), UINT32_MAX)));
  }

  void Error() {
    if (Measuring(Clock::now())) ++r_.errors;
  }

  // Opens connection i (and, rr/connect/udp, sends its first request).
  void Start(int i) {
    Conn& c = conns_[i];
    c = Conn{};
    bool udp = o_.mode == Mode::kUdp;
    c.fd = socket(
        AF_INET,
        (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      Error();
      return;
    }
    if (!udp) {
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (o_.mode == Mode::kConnect) {
      // Closed with a reset: no TIME_WAIT, so the ports last the run.
      linger l{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    c.sent = Clock::now();
    int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&o_.target),
                     sizeof o_.target);
    if (rc != 0 && errno != EINPROGRESS) {
      Error();
      Restart(i);
      return;
    }
    epoll_event ev{};
    ev.data.u32 = static_cast<uint32_t>(i);
    if (udp) {
      ev.events = EPOLLIN;
      epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
      SendDatagram(i);
      return;
    }
    c.connecting = true;
    ev.events = EPOLLOUT | EPOLLIN;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  // Drops connection i and opens it again (after a failure, or each
  // request in connect mode). A failing target is retried at most every
  // 10 ms per connection so errors are counted, not spun on.
  void Restart(int i, bool pause = true) {
    Conn& c = conns_[i];
    if (c.fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      c.fd = -1;
    }
    if (Clock::now() >= end_) return;
    if (pause) usleep(10000);
    Start(i);
  }

  void SendRequest(int i) {
    Conn& c = conns_[i];
    c.in.clear();
    c.need = 0;
    c.sent = Clock::now();
    // Requests are small: the socket buffer always takes one whole.
    if (write(c.fd, kRequest, kRequestBytes) != kRequestBytes) {
      Error();
      Restart(i);
    }
  }

  void SendDatagram(int i) {
    Conn& c = conns_[i];
    char buf[kDatagramBytes];
    memset(buf, 'u', sizeof buf);
    c.sent = Clock::now();
    if (send(c.fd, buf, sizeof buf, 0) != sizeof buf) {
      // ECONNREFUSED from an earlier ICMP error, or a full buffer: the
      // datagram counts as lost and is resent after the timeout.
      Error();
    }
  }

  void ResendLost() {
    auto now = Clock::now();
    for (int i = 0; i < nconns_; ++i) {
      if (conns_[i].fd >= 0 && now - conns_[i].sent > std::chrono::seconds(1)) {
        Error();
        SendDatagram(i);
      }
    }
  }

  void OnEvent(int i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    if (o_.mode == Mode::kUdp) {
      char buf[2048];
      for (;;) {
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno != EAGAIN) Error();
          break;
        }
        auto now = Clock::now();
        if (n == kDatagramBytes) {
          Count(c.sent, now);
          SendDatagram(i);
        } else {
          Error();
        }
      }
      return;
    }
    if (c.connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
        Error();
        Restart(i);
        return;
      }
      if (!(events & EPOLLOUT)) return;
      c.connecting = false;
      epoll_event ev{};
      ev.data.u32 = static_cast<uint32_t>(i);
      ev.events = EPOLLIN;
      epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
      if (o_.mode == Mode::kBulk) return;
      // connect mode keeps the time from connect() to the response.
      auto connect_started = c.sent;
      SendRequest(i);
      if (o_.mode == Mode::kConnect) c.sent = connect_started;
      return;
    }
    if (o_.mode == Mode::kBulk) {
      static thread_local char buf[256 * 1024];
      for (;;) {
        ssize_t n = read(c.fd, buf, sizeof buf);
        if (n > 0) {
          if (Measuring(Clock::now())) r_.bytes += static_cast<uint64_t>(n);
          continue;
        }
        if (n < 0 && errno == EAGAIN) return;
        Error();
        Restart(i);
        return;
      }
    }
    char buf[16384];
    for (;;) {
      ssize_t n = read(c.fd, buf, sizeof buf);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        Error();
        Restart(i);
        return;
      }
      c.in.append(buf, static_cast<size_t>(n));
      if (c.need == 0) {
        long need = ResponseBytes(c.in);
        if (need < 0) {
          Error();
          Restart(i);
          return;
        }
        c.need = static_cast<size_t>(need);
      }
      if (c.need == 0 || c.in.size() < c.need) continue;
      if (c.in.size() > c.need) {  // more than one answer to one request
        Error();
        Restart(i);
        return;
      }
      auto now = Clock::now();
      Count(c.sent, now);
      if (o_.mode == Mode::kConnect) {
        Restart(i, /*pause=*/false);
      } else {
        SendRequest(i);
      }
      return;
    }
  }

  const Options& o_;
  const int nconns_;
  const Clock::time_point from_, end_;
  int epfd_ = -1;
  std::vector<Conn> conns_;
  Result r_;
};

[[noreturn]] void Usage() {
  fprintf(stderr,
          "usage: net_load --mode rr|connect|bulk|udp --addr IP --port N "
          "[--conns N] [--seconds S] [--warmup S] [--threads N]\n");
  exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage();
    const char* v = argv[++i];
    if (a == "--mode") {
      o.mode_name = v;
      if (o.mode_name == "rr") {
        o.mode = Mode::kRr;
      } else if (o.mode_name == "connect") {
        o.mode = Mode::kConnect;
      } else if (o.mode_name == "bulk") {
        o.mode = Mode::kBulk;
      } else if (o.mode_name == "udp") {
        o.mode = Mode::kUdp;
      } else {
        Usage();
      }
    } else if (a == "--addr") {
      o.addr = v;
    } else if (a == "--port") {
      o.port = atoi(v);
    } else if (a == "--conns") {
      o.conns = atoi(v);
    } else if (a == "--seconds") {
      o.seconds = atof(v);
    } else if (a == "--warmup") {
      o.warmup = atof(v);
    } else if (a == "--threads") {
      o.threads = atoi(v);
    } else {
      Usage();
    }
  }
  o.target.sin_family = AF_INET;
  o.target.sin_port = htons(static_cast<uint16_t>(o.port));
  if (o.addr.empty() ||
      inet_pton(AF_INET, o.addr.c_str(), &o.target.sin_addr) != 1 ||
      o.port <= 0 || o.port > 65535 || o.conns <= 0 || o.seconds <= 0 ||
      o.warmup < 0 || o.threads <= 0 || o.threads > o.conns) {
    Usage();
  }
  return o;
}

uint32_t Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i =
      static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  auto start = Clock::now();
  auto from = start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(o.warmup));
  auto end = from + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(o.seconds));
  std::vector<Result> results(o.threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    int share = o.conns / o.threads + (t < o.conns % o.threads ? 1 : 0);
    threads.emplace_back([&, t, share] {
      Worker w(o, share, from, end);
      results[t] = w.Run();
    });
  }
  // The generator's own CPU use over the measured window (all threads):
  // when it is near 100% per thread, the figures are bound by the client.
  auto cpu_us = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000LL +
           u.ru_utime.tv_usec + u.ru_stime.tv_usec;
  };
  std::this_thread::sleep_until(from);
  int64_t cpu0 = cpu_us();
  std::this_thread::sleep_until(end);
  int64_t cpu1 = cpu_us();
  for (auto& t : threads) t.join();
  Result all;
  for (auto& r : results) {
    all.ops += r.ops;
    all.bytes += r.bytes;
    all.errors += r.errors;
    all.latencies_us.insert(all.latencies_us.end(), r.latencies_us.begin(),
                            r.latencies_us.end());
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  printf(
      "net_load: mode=%s target=%s:%d conns=%d seconds=%.1f ops=%llu "
      "ops_per_s=%.0f mb_per_s=%.1f p50_us=%u p90_us=%u p99_us=%u max_us=%u "
      "errors=%llu cpu_pct=%.0f\n",
      o.mode_name.c_str(), o.addr.c_str(), o.port, o.conns, o.seconds,
      static_cast<unsigned long long>(all.ops),
      static_cast<double>(all.ops) / o.seconds,
      static_cast<double>(all.bytes) / 1e6 / o.seconds,
      Percentile(all.latencies_us, 0.50), Percentile(all.latencies_us, 0.90),
      Percentile(all.latencies_us, 0.99),
      all.latencies_us.empty() ? 0 : all.latencies_us.back(),
      static_cast<unsigned long long>(all.errors),
      100.0 * static_cast<double>(cpu1 - cpu0) / 1e6 / o.seconds);
  bool nothing = o.mode == Mode::kBulk ? all.bytes == 0 : all.ops == 0;
  return nothing ? 1 : 0;
}
