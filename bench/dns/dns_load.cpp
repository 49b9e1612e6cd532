// dns_load: a UDP load generator for the cluster DNS (bench/dns.sh). Keeps
// `window` queries outstanding on one socket for `seconds`, cycling through
// the names given, and counts answers that are NOERROR with at least one
// record. Queries unanswered after 1 s are counted lost and replaced.
//
// usage: dns_load ADDR PORT SECONDS WINDOW NAME...
// prints: queries=<sent> answered=<ok> bad=<other answers> lost=<n>
//         seconds=<s> qps=<ok/s> p50_us=<n> p99_us=<n>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/dns/dns_message.h"

int main(int argc, char** argv) {
  using namespace kite;
  using Clock = std::chrono::steady_clock;
  if (argc < 6) {
    fprintf(stderr, "usage: dns_load ADDR PORT SECONDS WINDOW NAME...\n");
    return 2;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) return 2;
  double seconds = atof(argv[3]);
  int window = atoi(argv[4]);
  std::vector<std::string> names(argv + 5, argv + argc);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    perror("connect");
    return 1;
  }
  std::unordered_map<uint16_t, Clock::time_point> outstanding;
  std::vector<int64_t> latencies;
  uint64_t sent = 0, ok = 0, bad = 0, lost = 0;
  uint16_t next_id = 1;
  size_t next_name = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  auto send_one = [&]() {
    while (outstanding.count(next_id)) ++next_id;
    dns::Message q;
    q.header.id = next_id;
    q.header.rd = true;
    q.questions.push_back(
        {names[next_name++ % names.size()], dns::kTypeA, dns::kClassIn});
    auto wire = dns::Serialize(q);
    if (send(fd, wire->data(), wire->size(), 0) < 0) return false;
    outstanding[next_id++] = Clock::now();
    ++sent;
    return true;
  };
  char buf[4096];
  while (Clock::now() < end) {
    while (static_cast<int>(outstanding.size()) < window && send_one()) {
    }
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 10);
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      auto m = dns::Parse(std::string_view(buf, n));
      if (!m.ok()) {
        ++bad;
        continue;
      }
      auto it = outstanding.find(m->header.id);
      if (it == outstanding.end()) continue;
      auto now = Clock::now();
      if (m->header.rcode == dns::kNoError && !m->answers.empty()) {
        ++ok;
        latencies.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(now -
                                                                  it->second)
                .count());
      } else {
        ++bad;
      }
      outstanding.erase(it);
    }
    auto now = Clock::now();
    for (auto it = outstanding.begin(); it != outstanding.end();) {
      if (now - it->second > std::chrono::seconds(1)) {
        ++lost;
        it = outstanding.erase(it);
      } else {
        ++it;
      }
    }
  }
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double f) -> int64_t {
    if (latencies.empty()) return 0;
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(f * latencies.size()))];
  };
  printf(
      "queries=%llu answered=%llu bad=%llu lost=%llu seconds=%.2f qps=%.0f "
      "p50_us=%lld p99_us=%lld\n",
      static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(ok), static_cast<unsigned long long>(bad),
      static_cast<unsigned long long>(lost + outstanding.size()), took,
      ok / took, static_cast<long long>(pct(0.5)),
      static_cast<long long>(pct(0.99)));
  close(fd);
  return ok > 0 ? 0 : 1;
}
