// DnsServer: serves a ClusterDns over UDP and TCP (RFC 1035 §4.2: 2-byte
// length-prefixed messages, several per connection) on one address and
// port, from a libuv loop on a thread of its own.
//
// Cluster names and cached answers are computed on the loop thread; queries
// that need an upstream run on libuv's worker pool (UV_THREADPOOL_SIZE,
// default 4), so a slow upstream never stalls cluster answers. UDP answers
// fit the client's EDNS0 size (at most 4096) or 512 bytes, else they are
// truncated with TC set and the client retries over TCP. Packets that do
// not parse get FORMERR when they have a query header, else are dropped.
// TCP connections are capped (max_tcp_connections) and closed after
// tcp_idle_timeout without a complete query.
//
// Thread safety: Start() and Stop() from the owner thread; port() from
// any thread after Start().
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "agent/dns/cluster_dns.h"
#include "common/status.h"

namespace kite::dns {

struct DnsServerOptions {
  std::string address = "0.0.0.0";  // IPv4 or IPv6 text
  int port = 53;                    // 0: a free port (UDP and TCP alike)
  int max_tcp_connections = 256;
  std::chrono::milliseconds tcp_idle_timeout{10000};
};

class DnsServer {
 public:
  // `resolver` must outlive the server.
  DnsServer(ClusterDns& resolver, DnsServerOptions options);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Binds UDP and TCP and starts the loop thread. The error names the
  // address when binding fails (port 53 needs CAP_NET_BIND_SERVICE).
  Status Start();
  // Closes the sockets and joins the thread (after queries being forwarded
  // end: at most the resolver's forwarding budget). Idempotent.
  void Stop();
  // The bound port (useful with port 0).
  int port() const { return port_; }

 private:
  struct Conn;
  struct Job;

  Status Bind(int port);
  void HandleQuery(std::string_view wire, bool tcp, const sockaddr* peer,
                   Conn* conn);
  void Reply(const Message& query, const Message& reply, bool tcp,
             const sockaddr* peer, Conn* conn);
  void SendUdp(std::string data, const sockaddr* peer);
  void SendTcp(Conn* conn, const std::string& data);
  void CloseConn(Conn* conn);
  void Release(Conn* conn);
  void OnStop();

  static void OnUdpRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf,
                        const sockaddr* addr, unsigned flags);
  static void OnConnection(uv_stream_t* server, int status);
  static void OnTcpRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnIdle(uv_timer_t* t);
  static void OnWork(uv_work_t* req);
  static void OnWorkDone(uv_work_t* req, int status);

  ClusterDns& resolver_;
  const DnsServerOptions options_;
  uv_loop_t loop_;
  uv_udp_t udp_;
  uv_tcp_t tcp_;
  uv_async_t stop_async_;
  bool loop_ready_ = false;
  std::atomic<int> port_{0};
  std::thread thread_;
  std::atomic<bool> running_{false};
  bool stopping_ = false;  // loop thread only
  std::set<Conn*> conns_;  // loop thread only
  char udp_buf_[65536];
};

}  // namespace kite::dns
