#include "tls/tls_server.h"

#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <list>
#include <map>
#include <system_error>

#include "common/log.h"
#include "tls/mbed_util.h"
#include "tls/pki.h"
#include "tls/tls_session.h"

namespace kite::tls {

namespace {

// kubectl offers h2 and http/1.1; only http/1.1 carries exec/port-forward
// upgrades, so that is all kite offers.
const char* kAlpn[] = {"http/1.1", nullptr};
// Key exchange groups, cheapest first (mbedTLS's default list starts with
// secp521r1, several times the cost).
const mbedtls_ecp_group_id kCurves[] = {
    MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};

// ECDSA keys only, AEAD ciphers only.
const int kCiphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

thread_local void* t_current_connection = nullptr;

std::string VerifyText(uint32_t flags) {
  char info[512];
  int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
  std::string why =
      n > 0 ? std::string(info, static_cast<size_t>(n)) : "unknown reason";
  while (!why.empty() && why.back() == '\n') why.pop_back();
  std::replace(why.begin(), why.end(), '\n', ';');
  return why;
}

std::chrono::milliseconds ToMs(time_t sec, time_t usec) {
  return std::chrono::milliseconds(static_cast<int64_t>(sec) * 1000 +
                                   usec / 1000);
}

}  // namespace

// ---------------------------------------------------------------- config

// One immutable mbedTLS server configuration with what it points to.
// Connections hold a shared_ptr, so rotation never pulls it from under them.
class ServerConfig {
 public:
  static StatusOr<std::shared_ptr<const ServerConfig>> Create(
      const TlsServerOptions& options, std::shared_ptr<Random> random) {
    std::shared_ptr<ServerConfig> c(new ServerConfig());
    c->random_ = std::move(random);
    c->reject_invalid_ = options.reject_invalid_client_certs;
    KITE_RETURN_IF_ERROR(
        c->cert_.Parse(options.cert_pem, "serving certificate"));
    KITE_RETURN_IF_ERROR(
        c->key_.ParsePrivate(options.key_pem, "serving certificate"));
    if (mbedtls_pk_check_pair(&c->cert_.get()->pk, c->key_.get()) != 0) {
      return InvalidArgumentError(
          "serving key does not match the serving certificate");
    }
    if (!mbedtls_pk_can_do(c->key_.get(), MBEDTLS_PK_ECKEY)) {
      return InvalidArgumentError("serving key must be an EC key");
    }
    mbedtls_ssl_config* conf = &c->conf_;
    int ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0)
      return InternalError("TLS config: " + internal::MbedError(ret));
    mbedtls_ssl_conf_rng(conf, Random::Generate, c->random_.get());
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(conf, kCiphersuites);
    mbedtls_ssl_conf_curves(conf, kCurves);
    ret = mbedtls_ssl_conf_alpn_protocols(conf, kAlpn);
    if (ret != 0) return InternalError("TLS ALPN: " + internal::MbedError(ret));
    ret = mbedtls_ssl_conf_own_cert(conf, c->cert_.get(), c->key_.get());
    if (ret != 0)
      return InternalError("TLS own cert: " + internal::MbedError(ret));
    if (!options.client_ca_pem.empty()) {
      KITE_RETURN_IF_ERROR(
          c->client_ca_.Parse(options.client_ca_pem, "client CA"));
      mbedtls_ssl_conf_ca_chain(conf, c->client_ca_.get(), nullptr);
      // OPTIONAL: a client without a certificate is let in (it may carry a
      // token); one whose certificate fails is refused by VerifyClient.
      mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
      mbedtls_ssl_conf_verify(conf, &ServerConfig::VerifyClient, c.get());
    } else {
      mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    return std::shared_ptr<const ServerConfig>(std::move(c));
  }

  ~ServerConfig() { mbedtls_ssl_config_free(&conf_); }
  ServerConfig(const ServerConfig&) = delete;
  ServerConfig& operator=(const ServerConfig&) = delete;

  const mbedtls_ssl_config* conf() const { return &conf_; }
  bool reject_invalid() const { return reject_invalid_; }

 private:
  ServerConfig() { mbedtls_ssl_config_init(&conf_); }

  // Called per certificate of the client's chain, the root first. A
  // non-zero return fails the handshake (mbedTLS turns it into a fatal
  // error even under VERIFY_OPTIONAL).
  static int VerifyClient(void* self, mbedtls_x509_crt* crt, int depth,
                          uint32_t* flags) {
    auto* c = static_cast<const ServerConfig*>(self);
    if (depth == 0 && mbedtls_x509_crt_check_extended_key_usage(
                          crt, MBEDTLS_OID_CLIENT_AUTH,
                          MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
      *flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
    }
    if (*flags != 0 && c->reject_invalid_)
      return MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
    return 0;
  }

  mbedtls_ssl_config conf_;
  internal::Crt cert_;
  internal::Pk key_;
  internal::Crt client_ca_;
  std::shared_ptr<Random> random_;
  bool reject_invalid_ = true;
};

// ---------------------------------------------------------------- identity

namespace {

void SetIdentityHeaders(httplib::Request& req, const ClientIdentity& id) {
  req.headers.erase(kClientCnHeader);
  req.headers.erase(kClientOrgHeader);
  req.headers.erase(kClientCertErrorHeader);
  if (id.authenticated) {
    req.headers.emplace(kClientCnHeader, id.common_name);
    for (const auto& o : id.organizations)
      req.headers.emplace(kClientOrgHeader, o);
  }
  if (!id.cert_error.empty())
    req.headers.emplace(kClientCertErrorHeader, id.cert_error);
}

}  // namespace

ClientIdentity ClientIdentityOf(const httplib::Request& req) {
  ClientIdentity id;
  auto cn = req.headers.find(kClientCnHeader);
  if (cn != req.headers.end()) {
    id.authenticated = true;
    id.common_name = cn->second;
  }
  auto range = req.headers.equal_range(kClientOrgHeader);
  for (auto it = range.first; it != range.second; ++it)
    id.organizations.push_back(it->second);
  auto err = req.headers.find(kClientCertErrorHeader);
  if (err != req.headers.end()) id.cert_error = err->second;
  return id;
}

// ---------------------------------------------------------------- connection

class TlsServer::Connection final : public httplib::Stream,
                                    public HijackedConnection {
 public:
  Connection(socket_t sock, int wake_fd, std::chrono::milliseconds read_timeout,
             std::chrono::milliseconds write_timeout)
      : sock_(sock),
        session_(sock, wake_fd),
        read_timeout_(read_timeout),
        write_timeout_(write_timeout) {}

  // httplib::Stream
  bool is_readable() const override {
    return !hijacked_ && session_.WaitReadable(read_timeout_);
  }
  bool is_writable() const override {
    return !hijacked_ && session_.PeerOpen(write_timeout_);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (hijacked_) return -1;
    return session_.Read(ptr, size, read_timeout_);
  }
  ssize_t write(const char* ptr, size_t size) override {
    // After a hijack httplib still writes its response; it goes nowhere.
    if (hijacked_) return static_cast<ssize_t>(size);
    return session_.WriteAll(ptr, size, write_timeout_)
               ? static_cast<ssize_t>(size)
               : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    httplib::detail::get_remote_ip_and_port(sock_, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    httplib::detail::get_local_ip_and_port(sock_, ip, port);
  }
  socket_t socket() const override { return sock_; }

  // HijackedConnection
  ssize_t Read(char* buf, size_t n,
               std::chrono::milliseconds timeout) override {
    return session_.Read(buf, n, timeout);
  }
  bool Write(std::string_view data,
             std::chrono::milliseconds timeout) override {
    return session_.WriteAll(data.data(), data.size(), timeout);
  }
  bool WaitReadable(std::chrono::milliseconds timeout) override {
    return session_.WaitReadable(timeout);
  }
  bool timed_out() const override { return session_.timed_out(); }
  int fd() const override { return sock_; }
  bool HasBuffered() const override { return session_.HasBuffered(); }

  TlsSession& session() { return session_; }

  socket_t sock_;
  mutable TlsSession session_;
  std::chrono::milliseconds read_timeout_;
  std::chrono::milliseconds write_timeout_;
  ClientIdentity identity_;
  const httplib::Request* current_request_ = nullptr;
  bool hijacked_ = false;
};

// ---------------------------------------------------------------- task queue

// httplib's TaskQueue with one thread per connection, up to a limit; past it
// the accept loop waits for a connection to end (the rest queue in the
// listen backlog). Finished threads are joined on the next enqueue and at
// shutdown.
class TlsServer::ThreadPerConnection : public httplib::TaskQueue {
 public:
  explicit ThreadPerConnection(size_t max_threads)
      : max_(std::max<size_t>(1, max_threads)) {}
  ~ThreadPerConnection() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      Reap();
      cv_.wait(lock, [&] { return running_ < max_; });
      Reap();
      uint64_t id = next_id_++;
      try {
        threads_.emplace(id, std::thread([this, id, fn] {
                           fn();
                           std::lock_guard<std::mutex> done(mu_);
                           --running_;
                           finished_.push_back(id);
                           cv_.notify_all();
                         }));
        ++running_;
        return;
      } catch (const std::system_error& e) {
        // Out of threads (address space, RLIMIT_NPROC): wait for one to end.
        if (running_ == 0) {
          log::Error("tls", "cannot start a connection thread; serving inline")(
              "error", e.what());
          lock.unlock();
          fn();
          return;
        }
        size_t now_running = running_;
        cv_.wait(lock, [&] { return running_ < now_running; });
      }
    }
  }

  void shutdown() override {
    std::map<uint64_t, std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
      finished_.clear();
    }
    for (auto& [id, t] : threads) {
      if (t.joinable()) t.join();
    }
  }

 private:
  // Joins threads that have finished. Called with mu_ held; a finished
  // thread no longer needs mu_.
  void Reap() {
    for (uint64_t id : finished_) {
      auto it = threads_.find(id);
      if (it != threads_.end()) {
        it->second.join();
        threads_.erase(it);
      }
    }
    finished_.clear();
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t running_ = 0;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::thread> threads_;
  std::vector<uint64_t> finished_;
};

// ---------------------------------------------------------------- server

TlsServer::TlsServer(const TlsServerOptions& options) : options_(options) {
  new_task_queue = [this] {
    return new ThreadPerConnection(options_.max_connections);
  };
  // Reconnecting costs a handshake (~6 ms of CPU): keep connections long.
  keep_alive_max_count_ = 1000000;
  keep_alive_timeout_sec_ = 120;
  set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the
  // same port and silently share its connections. SO_REUSEADDR alone keeps
  // restarts quick and makes a taken port an error.
  set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

StatusOr<std::unique_ptr<TlsServer>> TlsServer::Create(
    const TlsServerOptions& options) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<Random> random, Random::Create());
  std::shared_ptr<Random> shared(std::move(random));
  KITE_ASSIGN_OR_RETURN(auto config, ServerConfig::Create(options, shared));
  std::unique_ptr<TlsServer> server(new TlsServer(options));
  server->config_ = std::move(config);
  server->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (server->wake_fd_ < 0)
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  return server;
}

TlsServer::~TlsServer() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status TlsServer::UpdateCredentials(const TlsServerOptions& options) {
  std::shared_ptr<Random> random;
  {
    KITE_ASSIGN_OR_RETURN(std::unique_ptr<Random> r, Random::Create());
    random = std::move(r);
  }
  KITE_ASSIGN_OR_RETURN(auto config, ServerConfig::Create(options, random));
  std::lock_guard<std::mutex> lock(mu_);
  config_ = std::move(config);
  return Status::Ok();
}

std::shared_ptr<const ServerConfig> TlsServer::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

size_t TlsServer::active_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.size();
}

StatusOr<int> TlsServer::Start(const std::string& host, int port) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return FailedPreconditionError("TlsServer already started");
  if (stopping_) return FailedPreconditionError("TlsServer stopped");
  int bound = -1;
  if (port == 0) {
    bound = bind_to_any_port(host);
  } else if (bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return UnavailableError("cannot listen on " + host + ":" +
                            std::to_string(port) + ": " + std::strerror(errno));
  }
  // httplib listens with a backlog of 5; listen() again raises it.
  if (::listen(svr_sock_, options_.listen_backlog) != 0) {
    return InternalError(std::string("listen: ") + std::strerror(errno));
  }
  started_ = true;
  listen_thread_ = std::thread([this] { listen_after_bind(); });
  return bound;
}

void TlsServer::Stop() {
  if (!stopping_.exchange(true)) {
    uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof(one)) < 0) {
      log::Error("tls", "cannot wake connections")("error",
                                                   std::strerror(errno));
    }
    socket_t s = svr_sock_.exchange(INVALID_SOCKET);
    if (s != INVALID_SOCKET) {
      ::shutdown(s, SHUT_RDWR);
      ::close(s);
    }
    std::lock_guard<std::mutex> lock(mu_);
    // Waits already poll the wake fd; this also ends reads blocked in a
    // handler's own code paths that use the socket directly.
    for (Connection* c : connections_) ::shutdown(c->sock_, SHUT_RDWR);
  }
  std::lock_guard<std::mutex> lock(stop_mu_);
  // Returns once the task queue has joined every connection thread.
  if (listen_thread_.joinable()) listen_thread_.join();
}

bool TlsServer::process_and_close_socket(socket_t sock) {
  Serve(sock);
  // A lingering close: send FIN, then read what the peer still sends until it
  // closes too (briefly). Closing with unread input makes the kernel send a
  // reset, which can destroy our last words (a TLS alert saying why a
  // certificate was refused) before the peer reads them.
  ::shutdown(sock, SHUT_WR);
  if (!stopping_) {
    auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      until - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd fds[2] = {{sock, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || (fds[1].revents & POLLIN)) break;
      ssize_t r = ::recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) break;
    }
  }
  ::close(sock);
  return true;
}

HijackedConnection* TlsServer::Hijack(const httplib::Request& req) {
  auto* conn = static_cast<Connection*>(t_current_connection);
  if (conn == nullptr || conn->current_request_ != &req) return nullptr;
  conn->hijacked_ = true;
  return conn;
}

void TlsServer::Serve(socket_t sock) {
  int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::shared_ptr<const ServerConfig> cfg = config();
  Connection conn(sock, wake_fd_, ToMs(read_timeout_sec_, read_timeout_usec_),
                  ToMs(write_timeout_sec_, write_timeout_usec_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    connections_.insert(&conn);
  }
  struct Unregister {
    TlsServer* s;
    Connection* c;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(s->mu_);
      s->connections_.erase(c);
    }
  } unregister{this, &conn};

  std::string peer_ip;
  int peer_port = 0;
  conn.get_remote_ip_and_port(peer_ip, peer_port);
  Status st = conn.session().Init(cfg->conf(), "");
  if (st.ok()) st = conn.session().Handshake(options_.handshake_timeout);
  if (!st.ok()) {
    log::Debug("tls", "handshake failed")("peer", peer_ip)("error",
                                                           st.ToString());
    return;
  }
  const mbedtls_x509_crt* peer =
      mbedtls_ssl_get_peer_cert(conn.session().ssl());
  if (peer != nullptr) {
    uint32_t flags = mbedtls_ssl_get_verify_result(conn.session().ssl());
    if (flags == 0) {
      internal::ReadSubject(peer, &conn.identity_.common_name,
                            &conn.identity_.organizations);
      if (conn.identity_.common_name.empty()) {
        conn.identity_.cert_error = "client certificate has no common name";
        conn.identity_.organizations.clear();
      } else {
        conn.identity_.authenticated = true;
      }
    } else {
      conn.identity_.cert_error =
          "client certificate refused: " + VerifyText(flags);
      if (cfg->reject_invalid()) {
        log::Debug("tls", "client certificate refused")("peer", peer_ip)(
            "error", conn.identity_.cert_error);
        conn.session().CloseNotify(std::chrono::milliseconds(100));
        return;
      }
    }
  }

  t_current_connection = &conn;
  const auto keep_alive = std::chrono::seconds(keep_alive_timeout_sec_);
  size_t count = keep_alive_max_count_;
  while (!stopping_ && count > 0) {
    // Checks mbedTLS's buffers before the socket: a pipelined request may
    // already be there.
    if (!conn.session().WaitReadable(keep_alive)) break;
    bool close_connection = count == 1 || stopping_;
    bool connection_closed = false;
    bool ok = process_request(conn, close_connection, connection_closed,
                              [&conn](httplib::Request& req) {
                                SetIdentityHeaders(req, conn.identity_);
                                conn.current_request_ = &req;
                              });
    conn.current_request_ = nullptr;
    if (!ok || connection_closed || conn.hijacked_) break;
    --count;
  }
  t_current_connection = nullptr;
  conn.session().CloseNotify(std::chrono::milliseconds(100));
}

}  // namespace kite::tls
