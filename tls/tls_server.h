// TlsServer: an httplib::Server that speaks HTTPS through mbedTLS.
//
// Handlers are registered as on any httplib::Server (Get, Post, ...). What
// this class adds (DESIGN.md §3 notes, docs/tls.md):
// - TLS 1.2 with ALPN "http/1.1", TCP_NODELAY, a listen backlog of
//   `listen_backlog`, keep-alive (many requests per connection).
// - A thread per connection (a task queue that grows up to
//   `max_connections`), so long-lived responses such as watches never starve
//   other requests.
// - Optional client certificates, verified against `client_ca_pem` when the
//   client presents one. The verified identity reaches handlers as request
//   headers (kClientCnHeader, one kClientOrgHeader per O); any headers of
//   those names the client sent are erased first, so a handler can trust
//   them. Read them with ClientIdentityOf().
// - Hijack(): a handler takes the raw TLS stream over (HTTP upgrades: exec,
//   attach, port-forward), writes the 101 itself and speaks the new protocol
//   until it returns; httplib's own response is then dropped and the
//   connection closed.
// - Stop() interrupts every wait on every connection (keep-alive, reads,
//   writes) and joins all threads. A streaming content provider must return
//   now and then or check DataSink::is_writable(), which turns false on Stop()
//   and when the client goes away.
// - Credentials can be replaced while running (certificate rotation); new
//   connections use the new ones.
//
// Use Start()/Stop() rather than httplib's listen()/stop(), which know
// nothing of the backlog and of waking connections.
//
// Thread safety: configure handlers before Start(); Start(), Stop(),
// UpdateCredentials() and active_connections() may be called from any thread.
// Handlers run on the connection's own thread.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace kite::tls {

class TlsSession;
class ServerConfig;

struct TlsServerOptions {
  std::string cert_pem;  // serving certificate, then any intermediates
  std::string key_pem;   // its private key
  std::string
      client_ca_pem;  // CAs for client certificates; "" = do not ask for one
  // true: a client certificate that does not verify (other CA, expired, not
  // for clientAuth) fails the handshake. false: the connection proceeds
  // unauthenticated and handlers see the reason in kClientCertErrorHeader
  // (so an authenticator can answer 401 itself).
  bool reject_invalid_client_certs = true;
  int listen_backlog = 1024;
  size_t max_connections =
      1024;  // connections served at once; more wait in the backlog
  std::chrono::milliseconds handshake_timeout{10000};
};

// Headers set by the server on every request (never taken from the client).
inline constexpr char kClientCnHeader[] = "X-Kite-Client-CN";
inline constexpr char kClientOrgHeader[] = "X-Kite-Client-O";
inline constexpr char kClientCertErrorHeader[] = "X-Kite-Client-Cert-Error";

// Who the client proved to be with its certificate.
struct ClientIdentity {
  bool authenticated = false;              // a verified certificate with a CN
  std::string common_name;                 // the user
  std::vector<std::string> organizations;  // the groups
  std::string cert_error;  // why a presented certificate was not accepted
};
ClientIdentity ClientIdentityOf(const httplib::Request& req);

// A connection a handler has taken over (HTTP upgrade). Valid until the
// handler returns; used only on the handler's thread (mbedTLS does not allow
// a read and a write on one session at the same time, so a proxy multiplexes
// with poll() on fd() and its other descriptors instead of using two
// threads).
class HijackedConnection {
 public:
  virtual ~HijackedConnection() = default;
  // Reads up to n bytes: >0 read, 0 the peer closed, -1 error or timeout
  // (timed_out() tells which).
  virtual ssize_t Read(char* buf, size_t n,
                       std::chrono::milliseconds timeout) = 0;
  // Writes everything; false on error or timeout.
  virtual bool Write(std::string_view data,
                     std::chrono::milliseconds timeout) = 0;
  // True if the last Read or Write failed only because time ran out (the
  // connection is still usable after a Read timeout).
  virtual bool timed_out() const = 0;
  // True when data can be read now or the socket turns readable in time.
  virtual bool WaitReadable(std::chrono::milliseconds timeout) = 0;
  // For poll() loops that also watch other descriptors: check HasBuffered()
  // first, poll fd() for POLLIN only when it is false.
  virtual int fd() const = 0;
  virtual bool HasBuffered() const = 0;
};

class TlsServer : public httplib::Server {
 public:
  // InvalidArgument when the certificate, key or CA does not parse or the
  // key does not match the certificate.
  static StatusOr<std::unique_ptr<TlsServer>> Create(
      const TlsServerOptions& options);
  ~TlsServer() override;

  // Binds host:port (port 0: any free port) and serves on a thread of its
  // own. Returns the bound port. Unavailable if the address cannot be bound.
  StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting, interrupts every connection and joins all threads.
  // Idempotent.
  void Stop();

  // Replaces certificate, key and client CA for connections accepted from
  // now on. The backlog and connection limits are not changed.
  Status UpdateCredentials(const TlsServerOptions& options);

  // The connection serving `req`, taken over by the caller; null when `req`
  // is not being handled on this thread by a TlsServer. After this call,
  // httplib's response for `req` is discarded and the connection closes when
  // the handler returns.
  static HijackedConnection* Hijack(const httplib::Request& req);

  size_t active_connections() const;

 private:
  class Connection;
  class ThreadPerConnection;

  explicit TlsServer(const TlsServerOptions& options);
  bool process_and_close_socket(socket_t sock) override;
  void Serve(socket_t sock);
  std::shared_ptr<const ServerConfig> config() const;

  TlsServerOptions options_;
  int wake_fd_ = -1;  // eventfd, readable once Stop() begins
  mutable std::mutex mu_;
  std::mutex stop_mu_;  // serializes joining listen_thread_
  std::shared_ptr<const ServerConfig> config_;  // guarded by mu_
  std::set<Connection*> connections_;           // guarded by mu_
  std::thread listen_thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;  // guarded by mu_
};

}  // namespace kite::tls
