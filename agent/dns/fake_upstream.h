// FakeUpstream: a tiny UDP DNS server on 127.0.0.1 for tests of
// forwarding (the resolver's, the server's, the bench's): answers every
// question with 192.0.2.1 (TTL 60), "nx.example" with NXDOMAIN, or stays
// silent (an offline upstream). Counts the queries it got.
//
// Thread safety: its own thread answers; queries() from any thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "agent/dns/dns_message.h"

namespace kite::dns {

// A UDP DNS server on 127.0.0.1 that answers every A question with
// 192.0.2.1 (TTL 60) and counts what it got; or stays silent.
class FakeUpstream {
 public:
  explicit FakeUpstream(bool silent = false) : silent_(silent) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }

 private:
  void Run() {
    char buf[4096];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0,
                           reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      ++queries_;
      if (silent_) continue;
      auto q = Parse(std::string_view(buf, n));
      if (!q.ok()) continue;
      Message r = ReplyTo(*q);
      r.header.ra = true;
      if (q->questions[0].name == "nx.example") {
        r.header.rcode = kNxDomain;
      } else {
        r.answers.push_back(
            *AddressRecord(q->questions[0].name, 60, "192.0.2.1"));
      }
      std::string out = *Serialize(r);
      sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from),
             len);
    }
  }
  bool silent_;
  int fd_;
  int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

}  // namespace kite::dns
