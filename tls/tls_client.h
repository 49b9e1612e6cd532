// TlsClient: a small blocking HTTPS/1.1 client for kite's own components
// (the agent, tests, benchmarks, later client/).
//
// It verifies the server against a CA bundle (a certificate for serverAuth,
// DNS name or IP address of `server_name` in its SANs), optionally presents a
// client certificate, and keeps its one connection alive between requests.
// Request() reads a whole response; Stream() hands the body over line by line
// as it arrives (watches: one JSON event per line of a chunked response).
//
// Thread safety: one call at a time per instance (use one client per
// thread); Cancel() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::tls {

class Random;
class TlsSession;

struct HeaderNameLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
// Header names compare case-insensitively; values keep their order.
using HttpHeaders = std::multimap<std::string, std::string, HeaderNameLess>;

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  // The first value of header `name`, or "".
  std::string Header(const std::string& name) const;
};

struct TlsClientOptions {
  std::string host;  // server name or IP address
  int port = 6443;
  std::string ca_pem;  // CAs the server certificate must chain to
  // Skip verifying the server (no ca_pem needed). Only for what is checked
  // another way afterwards: a joining agent fetches the CA bundle like this
  // and compares its SHA-256 with the one in its join token.
  bool insecure_skip_verify = false;
  std::string server_name;  // checked against the certificate; default: host
  std::string cert_pem;     // optional client certificate (with key_pem)
  std::string key_pem;
  std::chrono::milliseconds connect_timeout{10000};  // TCP connect + handshake
  std::chrono::milliseconds io_timeout{30000};  // any one wait in Request()
  // Longest silence Stream() accepts between bytes; 0 waits forever (until
  // the body ends or Cancel()).
  std::chrono::milliseconds stream_idle_timeout{0};
  size_t max_body_bytes = size_t{512} << 20;  // larger responses fail
};

class TlsClient {
 public:
  // InvalidArgument when the options or PEM inputs are unusable. Does not
  // connect yet.
  static StatusOr<std::unique_ptr<TlsClient>> Create(
      const TlsClientOptions& options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Connects and handshakes unless already connected. Unauthenticated when
  // the server's certificate is refused (or it refuses ours), Unavailable
  // when it cannot be reached, DeadlineExceeded on timeout.
  Status Connect();

  // Sends `method path` with `headers` and `body` (Content-Length is added
  // for a body) and reads the whole response, any status. Connects if
  // needed; a kept connection the server has since closed is replaced, and
  // GET/HEAD are retried once on a fresh connection if a reused one fails.
  StatusOr<HttpResponse> Request(const std::string& method,
                                 const std::string& path,
                                 const HttpHeaders& headers = {},
                                 const std::string& body = "");

  // Like Request(), but a 2xx body is not collected: `on_line` gets each
  // line (without its '\n') as soon as it is complete, and the last
  // unterminated piece at the end. Returns the status and headers (empty
  // body) when the body ends or `on_line` returns false (the connection is
  // then closed). Non-2xx responses come back whole, without calling
  // `on_line`.
  StatusOr<HttpResponse> Stream(
      const std::string& method, const std::string& path,
      const HttpHeaders& headers, const std::string& body,
      const std::function<bool(std::string_view line)>& on_line);

  // For HTTP upgrades and proxies: sends the request on a fresh connection
  // and reads only the response head (status and headers; body empty). The
  // connection then belongs to the caller as a byte stream (whatever
  // follows the head: a body or an upgraded protocol): ReadSome() and
  // WriteAll() until Close(). Errors as for Request().
  StatusOr<HttpResponse> OpenStream(const std::string& method,
                                    const std::string& path,
                                    const HttpHeaders& headers = {},
                                    const std::string& body = "");
  // After OpenStream: reads up to n bytes, bytes already received first.
  // >0 read, 0 at the server's close, -1 on error or timeout (after an
  // error connected() is false).
  ssize_t ReadSome(char* buf, size_t n, std::chrono::milliseconds timeout);
  // After OpenStream: writes all of `data`; false on error or timeout.
  bool WriteAll(std::string_view data, std::chrono::milliseconds timeout);
  // After OpenStream, for poll() loops: when HasBuffered() is false, wait
  // for POLLIN on fd() before ReadSome().
  int fd() const { return fd_; }
  bool HasBuffered() const;

  // Ends the call in progress with Cancelled, from any thread, and every
  // later call too: for shutdown.
  void Cancel();
  // Closes the connection (the next call reconnects).
  void Close();
  // The certificates the server presented in this connection's handshake,
  // as PEM, in the order sent (its own first, then its chain).
  // FailedPrecondition when not connected. With insecure_skip_verify they
  // are unverified: a joining agent picks the cluster CA out of them by the
  // hash in its join token before it trusts anything.
  StatusOr<std::vector<std::string>> PeerCertificates() const;
  // True while a connection is open.
  bool connected() const { return session_ != nullptr; }
  // Connections opened so far (for tests and benchmarks).
  int connects() const { return connects_; }

 private:
  struct Config;
  explicit TlsClient(const TlsClientOptions& options);

  StatusOr<HttpResponse> Exchange(
      const std::string& method, const std::string& path,
      const HttpHeaders& headers, const std::string& body,
      const std::function<bool(std::string_view)>* on_line,
      bool* nothing_received);
  Status ReadHead(HttpResponse* res, std::chrono::milliseconds timeout);
  std::string RequestHead(const std::string& method, const std::string& path,
                          const HttpHeaders& headers, const std::string& body);
  Status ReadBody(const std::string& method, HttpResponse* res, bool* keep,
                  const std::function<bool(std::string_view)>* on_line);
  // Reads more into buf_: the number of bytes, 0 at the server's close.
  StatusOr<size_t> Fill(std::chrono::milliseconds timeout);
  StatusOr<std::string> ReadLine(std::chrono::milliseconds timeout);
  Status IoError(const char* what);

  TlsClientOptions options_;
  std::unique_ptr<Config> config_;
  int wake_fd_ = -1;
  int fd_ = -1;
  std::unique_ptr<TlsSession> session_;
  std::string buf_;  // received, not yet consumed
  size_t pos_ = 0;
  uint64_t bytes_received_ = 0;
  bool http10_ = false;  // the current response is HTTP/1.0
  int connects_ = 0;
  std::atomic<bool> cancelled_{false};
};

}  // namespace kite::tls
