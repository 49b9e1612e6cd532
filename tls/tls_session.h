// TlsSession: one TLS connection on a connected TCP socket, with deadlines.
// The common engine of TlsServer (one per accepted connection) and TlsClient;
// other folders should not need it directly.
//
// I/O model (DESIGN.md §3 notes): the socket is read and written with
// MSG_DONTWAIT and every wait is a poll() on the socket plus an optional wake
// fd (an eventfd the server makes readable on Stop(), so a stop interrupts
// any wait). A wait that runs out is reported to mbedTLS as WANT_READ or
// WANT_WRITE, never as MBEDTLS_ERR_SSL_TIMEOUT (which ruins the session), and
// a write is repeated with the same arguments after WANT_WRITE, as mbedTLS
// requires. Data mbedTLS has already read or decrypted is checked before any
// wait, so pipelined requests never stall. Small reads go through a 4 KiB
// buffer (httplib reads request lines byte by byte).
//
// Thread safety: one thread at a time; Shutdown() may be called from any
// thread.
#pragma once

#include <mbedtls/ssl.h>
#include <sys/types.h>

#include <chrono>
#include <string>

#include "common/status.h"

namespace kite::tls {

class TlsSession {
 public:
  using Duration = std::chrono::milliseconds;

  // Borrows `fd` (a connected TCP socket) and `wake_fd` (-1 for none); the
  // caller closes them after the session is destroyed.
  TlsSession(int fd, int wake_fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Binds the session to `conf` (which must outlive it). For a client,
  // `hostname` is sent as SNI and, unless it is an IP address, checked
  // against the server certificate's DNS names; "" skips both.
  Status Init(const mbedtls_ssl_config* conf, const std::string& hostname);
  // Runs the handshake. DeadlineExceeded after `timeout`; Unauthenticated
  // when a certificate is refused (the message says why); Unavailable for
  // other failures.
  Status Handshake(Duration timeout);

  // Reads up to `n` bytes: >0 bytes read, 0 at the peer's close (close_notify
  // or EOF), -1 on error, timeout or wake (see timed_out()).
  ssize_t Read(char* buf, size_t n, Duration timeout);
  // Writes all of [p, p+n): true on success, false on error, timeout or wake.
  bool WriteAll(const char* p, size_t n, Duration timeout);
  // True if bytes can be read without waiting on the socket.
  bool HasBuffered() const;
  // True when data is buffered or the socket turns readable within
  // `timeout`; false on timeout, error or wake.
  bool WaitReadable(Duration timeout);
  // True if the socket accepts writes within `timeout` and the peer has not
  // hung up.
  bool PeerOpen(Duration timeout);
  // Sends close_notify, best effort, waiting at most `timeout`.
  void CloseNotify(Duration timeout);
  // Shuts the socket down in both directions; any blocked call returns.
  void Shutdown();

  bool timed_out() const { return timed_out_; }
  int fd() const { return fd_; }
  mbedtls_ssl_context* ssl() { return &ssl_; }
  const mbedtls_ssl_context* ssl() const { return &ssl_; }

 private:
  static int SendCallback(void* self, const unsigned char* buf, size_t len);
  static int RecvCallback(void* self, unsigned char* buf, size_t len);
  // poll() for `events` until deadline_: 1 ready, 0 timed out, -1 error or
  // woken.
  int Wait(short events);
  int WaitFor(short events, Duration timeout);
  ssize_t RawRead(char* buf, size_t n);

  int fd_;
  int wake_fd_;
  mbedtls_ssl_context ssl_;
  std::chrono::steady_clock::time_point deadline_;
  bool timed_out_ = false;
  char buf_[4096];
  size_t buf_pos_ = 0;
  size_t buf_len_ = 0;
};

}  // namespace kite::tls
