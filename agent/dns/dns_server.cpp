#include "agent/dns/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace kite::dns {
namespace {

constexpr char kComponent[] = "dns";
constexpr size_t kMaxEdnsUdp = 4096;

struct UdpSend {
  uv_udp_send_t req;
  std::string data;
};

size_t UdpLimit(const Message& query) {
  auto size = query.EdnsUdpSize();
  if (!size) return kMaxUdpSize;
  return std::clamp<size_t>(*size, kMaxUdpSize, kMaxEdnsUdp);
}

}  // namespace

struct DnsServer::Conn {
  uv_tcp_t handle;  // first: the handle's address is the Conn's
  uv_timer_t timer;
  DnsServer* server = nullptr;
  std::string buf;
  char read_buf[4096];
  int refs = 2;  // the two handles, plus pending jobs and writes
  bool closing = false;
};

struct DnsServer::Job {
  uv_work_t req;
  DnsServer* server = nullptr;
  Message query;
  Message reply;
  sockaddr_storage peer{};
  bool tcp = false;
  Conn* conn = nullptr;
};

struct TcpWrite {
  uv_write_t req;
  std::string data;
};

DnsServer::DnsServer(ClusterDns& resolver, DnsServerOptions options)
    : resolver_(resolver), options_(std::move(options)) {}

DnsServer::~DnsServer() { Stop(); }

Status DnsServer::Bind(int want_port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, options_.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, options_.address.c_str(), &v6->sin6_addr) ==
             1) {
    v6->sin6_family = AF_INET6;
    len = sizeof *v6;
  } else {
    return InvalidArgumentError("dns: bad listen address '" + options_.address +
                                "'");
  }
  auto set_port = [&](int p) {
    if (ss.ss_family == AF_INET) {
      v4->sin_port = htons(p);
    } else {
      v6->sin6_port = htons(p);
    }
  };
  std::string where = options_.address + ":" + std::to_string(want_port);
  // With port 0 the UDP port is picked first and TCP must get the same one;
  // another process may hold it for TCP, so try a few.
  for (int attempt = 0; attempt < 20; ++attempt) {
    set_port(want_port);
    int ufd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ufd < 0)
      return UnavailableError("dns: socket: " + std::string(strerror(errno)));
    if (bind(ufd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      std::string err = strerror(errno);
      close(ufd);
      return UnavailableError("dns: cannot bind udp " + where + ": " + err);
    }
    sockaddr_storage got{};
    socklen_t got_len = sizeof got;
    getsockname(ufd, reinterpret_cast<sockaddr*>(&got), &got_len);
    int port = ntohs(got.ss_family == AF_INET
                         ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                         : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
    set_port(port);
    int tfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (tfd < 0 || bind(tfd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      std::string err = strerror(errno);
      if (tfd >= 0) close(tfd);
      close(ufd);
      if (want_port != 0) {
        return UnavailableError("dns: cannot bind tcp " + where + ": " + err);
      }
      continue;
    }
    uv_udp_init(&loop_, &udp_);
    uv_udp_open(&udp_, ufd);
    uv_tcp_init(&loop_, &tcp_);
    uv_tcp_open(&tcp_, tfd);
    udp_.data = this;
    tcp_.data = this;
    if (int rc =
            uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128, OnConnection);
        rc != 0) {
      return UnavailableError("dns: listen " + where + ": " + uv_strerror(rc));
    }
    int rc = uv_udp_recv_start(
        &udp_,
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<DnsServer*>(h->data);
          *buf = uv_buf_init(self->udp_buf_, sizeof self->udp_buf_);
        },
        OnUdpRecv);
    if (rc != 0) {
      return UnavailableError("dns: udp recv: " + std::string(uv_strerror(rc)));
    }
    port_ = port;
    return Status::Ok();
  }
  return UnavailableError("dns: no free port for both udp and tcp");
}

Status DnsServer::Start() {
  if (running_) return FailedPreconditionError("dns: server already started");
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    return InternalError("dns: uv_loop_init: " + std::string(uv_strerror(rc)));
  }
  loop_ready_ = true;
  uv_async_init(&loop_, &stop_async_, [](uv_async_t* a) {
    static_cast<DnsServer*>(a->data)->OnStop();
  });
  stop_async_.data = this;
  Status s = Bind(options_.port);
  if (!s.ok()) {
    // Close whatever was opened and let the loop finish the closes.
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    loop_ready_ = false;
    return s;
  }
  stopping_ = false;
  running_ = true;
  thread_ = std::thread([this] {
    // A write to a TCP client that reset fails with EPIPE; blocked for this
    // thread only, SIGPIPE would otherwise kill the whole process (kite
    // does not ignore it process-wide, so its children get the default).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
  log::Info(kComponent, "serving")("address", options_.address)("port",
                                                                port_.load());
  return Status::Ok();
}

void DnsServer::Stop() {
  if (!running_.exchange(false)) return;
  uv_async_send(&stop_async_);
  thread_.join();
  uv_loop_close(&loop_);
  loop_ready_ = false;
}

void DnsServer::OnStop() {
  stopping_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
  std::set<Conn*> conns = conns_;
  for (Conn* c : conns) CloseConn(c);
}

void DnsServer::OnUdpRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf,
                          const sockaddr* addr, unsigned) {
  auto* self = static_cast<DnsServer*>(h->data);
  if (n <= 0 || addr == nullptr || self->stopping_) return;
  self->HandleQuery(std::string_view(buf->base, static_cast<size_t>(n)), false,
                    addr, nullptr);
}

void DnsServer::HandleQuery(std::string_view wire, bool tcp,
                            const sockaddr* peer, Conn* conn) {
  auto query = Parse(wire);
  if (!query.ok()) {
    // A query header we can answer: FORMERR; anything else: silence (no
    // answers to answers, no reflection of garbage).
    if (wire.size() < 12 || (static_cast<uint8_t>(wire[2]) & 0x80)) return;
    Message err;
    err.header.id = static_cast<uint16_t>((static_cast<uint8_t>(wire[0]) << 8) |
                                          static_cast<uint8_t>(wire[1]));
    err.header.qr = true;
    err.header.opcode = (static_cast<uint8_t>(wire[2]) >> 3) & 0xF;
    err.header.rcode = kFormErr;
    Reply(err, err, tcp, peer, conn);
    return;
  }
  if (query->header.qr) return;
  if (auto local = resolver_.ResolveLocal(*query)) {
    Reply(*query, *local, tcp, peer, conn);
    return;
  }
  auto* job = new Job;
  job->req.data = job;
  job->server = this;
  job->query = std::move(*query);
  job->tcp = tcp;
  job->conn = conn;
  if (peer) {
    memcpy(&job->peer, peer,
           peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6)
                                       : sizeof(sockaddr_in));
  }
  if (conn) ++conn->refs;
  if (uv_queue_work(&loop_, &job->req, OnWork, OnWorkDone) != 0) {
    if (conn) Release(conn);
    delete job;
  }
}

void DnsServer::OnWork(uv_work_t* req) {
  auto* job = static_cast<Job*>(req->data);
  job->reply = job->server->resolver_.Resolve(job->query);
}

void DnsServer::OnWorkDone(uv_work_t* req, int status) {
  auto* job = static_cast<Job*>(req->data);
  DnsServer* self = job->server;
  if (status == 0 && !self->stopping_ &&
      (job->conn == nullptr || !job->conn->closing)) {
    self->Reply(job->query, job->reply, job->tcp,
                reinterpret_cast<sockaddr*>(&job->peer), job->conn);
  }
  if (job->conn) self->Release(job->conn);
  delete job;
}

void DnsServer::Reply(const Message& query, const Message& reply, bool tcp,
                      const sockaddr* peer, Conn* conn) {
  auto wire = Serialize(reply, tcp ? 65535 : UdpLimit(query));
  if (!wire.ok()) {
    Message fail = ReplyTo(query, kServFail);
    wire = Serialize(fail, tcp ? 65535 : kMaxUdpSize);
    if (!wire.ok()) return;
  }
  if (tcp) {
    SendTcp(conn, *wire);
  } else {
    SendUdp(std::move(*wire), peer);
  }
}

void DnsServer::SendUdp(std::string data, const sockaddr* peer) {
  uv_buf_t b = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
  int rc = uv_udp_try_send(&udp_, &b, 1, peer);
  if (rc >= 0) return;
  if (rc != UV_EAGAIN) return;  // unreachable peer etc.: nothing to do
  auto* s = new UdpSend;
  s->data = std::move(data);
  s->req.data = s;
  b = uv_buf_init(s->data.data(), static_cast<unsigned>(s->data.size()));
  if (uv_udp_send(&s->req, &udp_, &b, 1, peer, [](uv_udp_send_t* r, int) {
        delete static_cast<UdpSend*>(r->data);
      }) != 0) {
    delete s;
  }
}

void DnsServer::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<DnsServer*>(server->data);
  if (status != 0 || self->stopping_) return;
  auto* c = new Conn;
  c->server = self;
  uv_tcp_init(&self->loop_, &c->handle);
  uv_timer_init(&self->loop_, &c->timer);
  c->handle.data = c;
  c->timer.data = c;
  self->conns_.insert(c);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0 ||
      static_cast<int>(self->conns_.size()) >
          self->options_.max_tcp_connections) {
    self->CloseConn(c);
    return;
  }
  uv_timer_start(&c->timer, OnIdle, self->options_.tcp_idle_timeout.count(), 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->handle),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(h->data);
        *buf = uv_buf_init(conn->read_buf, sizeof conn->read_buf);
      },
      OnTcpRead);
}

void DnsServer::OnIdle(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  c->server->CloseConn(c);
}

void DnsServer::OnTcpRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  DnsServer* self = c->server;
  if (n < 0) {
    self->CloseConn(c);
    return;
  }
  if (n == 0 || c->closing) return;
  c->buf.append(buf->base, static_cast<size_t>(n));
  while (c->buf.size() >= 2 && !c->closing) {
    size_t len = (static_cast<uint8_t>(c->buf[0]) << 8) |
                 static_cast<uint8_t>(c->buf[1]);
    if (c->buf.size() < 2 + len) break;
    std::string msg = c->buf.substr(2, len);
    c->buf.erase(0, 2 + len);
    uv_timer_start(&c->timer, OnIdle, self->options_.tcp_idle_timeout.count(),
                   0);
    self->HandleQuery(msg, true, nullptr, c);
  }
}

void DnsServer::SendTcp(Conn* conn, const std::string& data) {
  if (conn == nullptr || conn->closing) return;
  auto* w = new TcpWrite;
  w->req.data = w;
  w->data.reserve(data.size() + 2);
  w->data.push_back(static_cast<char>(data.size() >> 8));
  w->data.push_back(static_cast<char>(data.size() & 0xFF));
  w->data += data;
  uv_buf_t b =
      uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  ++conn->refs;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&conn->handle), &b,
                    1, [](uv_write_t* r, int status) {
                      auto* tw = static_cast<TcpWrite*>(r->data);
                      auto* c = static_cast<Conn*>(r->handle->data);
                      delete tw;
                      if (status != 0) c->server->CloseConn(c);
                      c->server->Release(c);
                    });
  if (rc != 0) {
    delete w;
    Release(conn);
    CloseConn(conn);
  }
}

void DnsServer::CloseConn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  conns_.erase(c);
  auto on_close = [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    conn->server->Release(conn);
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), on_close);
}

void DnsServer::Release(Conn* c) {
  if (--c->refs == 0) delete c;
}

}  // namespace kite::dns
