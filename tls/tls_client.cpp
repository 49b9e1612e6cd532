#include "tls/tls_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mbedtls/pem.h>
#include <mbedtls/ssl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tls/mbed_util.h"
#include "tls/pki.h"
#include "tls/tls_session.h"

namespace kite::tls {

namespace {

const char* kAlpn[] = {"http/1.1", nullptr};
// Key exchange groups, cheapest first (mbedTLS's default list starts with
// secp521r1, several times the cost).
const mbedtls_ecp_group_id kCurves[] = {
    MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};
constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr std::chrono::milliseconds kForever{std::chrono::hours(24 * 365)};

std::string CanonicalIp(const std::string& s) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1 &&
      inet_ntop(AF_INET, buf, out, sizeof(out))) {
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1 &&
      inet_ntop(AF_INET6, buf, out, sizeof(out))) {
    return out;
  }
  return "";
}

bool PlainToken(const std::string& s, bool allow_space) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
    if (!allow_space && c == ' ') return false;
  }
  return true;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
    --e;
  return std::string(s.substr(b, e - b));
}

bool EqualsNoCase(const std::string& a, const char* b) {
  return strcasecmp(a.c_str(), b) == 0;
}

}  // namespace

bool HeaderNameLess::operator()(const std::string& a,
                                const std::string& b) const {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct TlsClient::Config {
  Config() { mbedtls_ssl_config_init(&conf); }
  ~Config() { mbedtls_ssl_config_free(&conf); }
  mbedtls_ssl_config conf;
  internal::Crt ca;
  internal::Crt cert;
  internal::Pk key;
  std::unique_ptr<Random> random;
};

TlsClient::TlsClient(const TlsClientOptions& options) : options_(options) {}

TlsClient::~TlsClient() {
  Close();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

StatusOr<std::unique_ptr<TlsClient>> TlsClient::Create(
    const TlsClientOptions& options) {
  if (options.host.empty()) return InvalidArgumentError("TlsClient: no host");
  if (options.port <= 0 || options.port > 65535)
    return InvalidArgumentError("TlsClient: bad port");
  if (options.ca_pem.empty() && !options.insecure_skip_verify) {
    return InvalidArgumentError(
        "TlsClient: a CA is required to verify the server");
  }
  if (options.cert_pem.empty() != options.key_pem.empty()) {
    return InvalidArgumentError(
        "TlsClient: client certificate and key go together");
  }
  std::unique_ptr<TlsClient> c(new TlsClient(options));
  if (c->options_.server_name.empty()) c->options_.server_name = options.host;
  auto cfg = std::make_unique<Config>();
  KITE_ASSIGN_OR_RETURN(cfg->random, Random::Create());
  if (!options.insecure_skip_verify)
    KITE_RETURN_IF_ERROR(cfg->ca.Parse(options.ca_pem, "CA"));
  mbedtls_ssl_config* conf = &cfg->conf;
  int ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT,
                                        MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) return InternalError("TLS config: " + internal::MbedError(ret));
  mbedtls_ssl_conf_rng(conf, Random::Generate, cfg->random.get());
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_curves(conf, kCurves);
  if (options.insecure_skip_verify) {
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
  } else {
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(conf, cfg->ca.get(), nullptr);
  }
  ret = mbedtls_ssl_conf_alpn_protocols(conf, kAlpn);
  if (ret != 0) return InternalError("TLS ALPN: " + internal::MbedError(ret));
  if (!options.cert_pem.empty()) {
    KITE_RETURN_IF_ERROR(
        cfg->cert.Parse(options.cert_pem, "client certificate"));
    KITE_RETURN_IF_ERROR(
        cfg->key.ParsePrivate(options.key_pem, "client certificate"));
    if (mbedtls_pk_check_pair(&cfg->cert.get()->pk, cfg->key.get()) != 0) {
      return InvalidArgumentError(
          "client key does not match the client certificate");
    }
    ret = mbedtls_ssl_conf_own_cert(conf, cfg->cert.get(), cfg->key.get());
    if (ret != 0)
      return InternalError("TLS client cert: " + internal::MbedError(ret));
  }
  c->config_ = std::move(cfg);
  c->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (c->wake_fd_ < 0)
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  return c;
}

void TlsClient::Cancel() {
  cancelled_ = true;
  uint64_t one = 1;
  // Every wait of the session polls this fd.
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void TlsClient::Close() {
  if (session_) {
    session_->CloseNotify(std::chrono::milliseconds(50));
    session_.reset();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  buf_.clear();
  pos_ = 0;
}

Status TlsClient::Connect() {
  if (cancelled_) return CancelledError("TlsClient cancelled");
  if (session_) return Status::Ok();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(options_.port);
  int gai = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return UnavailableError("resolving " + options_.host + ": " +
                            gai_strerror(gai));
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family,
                     ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    if (::connect(s, ai->ai_addr, ai->ai_addrlen) != 0 &&
        errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      ::close(s);
      continue;
    }
    pollfd fds[2] = {{s, POLLOUT, 0}, {wake_fd_, POLLIN, 0}};
    int n;
    do {
      n = ::poll(fds, 2, static_cast<int>(options_.connect_timeout.count()));
    } while (n < 0 && errno == EINTR);
    if (fds[1].revents & POLLIN) {
      ::close(s);
      freeaddrinfo(res);
      return CancelledError("TlsClient cancelled");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (n <= 0) {
      last_error = n == 0 ? "connect timed out" : std::strerror(errno);
    } else if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
               err != 0) {
      last_error = std::strerror(err != 0 ? err : errno);
    } else {
      fd = s;
      break;
    }
    ::close(s);
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return UnavailableError("connecting to " + options_.host + ":" + port +
                            ": " + last_error);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fd_ = fd;
  session_ = std::make_unique<TlsSession>(fd_, wake_fd_);
  Status st =
      session_->Init(&config_->conf,
                     options_.insecure_skip_verify ? "" : options_.server_name);
  if (st.ok()) st = session_->Handshake(options_.connect_timeout);
  if (st.ok()) {
    // mbedTLS 2.28 matches DNS names only; an IP address is checked here.
    std::string ip = CanonicalIp(options_.server_name);
    if (!ip.empty() && !options_.insecure_skip_verify) {
      std::vector<std::string> dns, ips;
      const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(session_->ssl());
      if (peer != nullptr) internal::ReadSans(peer, &dns, &ips);
      if (std::find(ips.begin(), ips.end(), ip) == ips.end()) {
        st = Status(Code::kUnauthenticated,
                    "server certificate is not valid for IP address " +
                        options_.server_name);
      }
    }
  }
  if (!st.ok()) {
    if (cancelled_) st = CancelledError("TlsClient cancelled");
    Close();
    return st;
  }
  ++connects_;
  return Status::Ok();
}

StatusOr<std::vector<std::string>> TlsClient::PeerCertificates() const {
  if (!session_) return FailedPreconditionError("TlsClient: not connected");
  static constexpr char kBegin[] = "-----BEGIN CERTIFICATE-----\n";
  static constexpr char kEnd[] = "-----END CERTIFICATE-----\n";
  std::vector<std::string> out;
  for (const mbedtls_x509_crt* c = mbedtls_ssl_get_peer_cert(session_->ssl());
       c != nullptr && c->raw.p != nullptr; c = c->next) {
    size_t len = 0;
    // Asked with no room, mbedTLS says how much it needs.
    mbedtls_pem_write_buffer(kBegin, kEnd, c->raw.p, c->raw.len, nullptr, 0,
                             &len);
    std::string pem(len, '\0');
    int ret = mbedtls_pem_write_buffer(
        kBegin, kEnd, c->raw.p, c->raw.len,
        reinterpret_cast<unsigned char*>(pem.data()), pem.size(), &len);
    if (ret != 0)
      return InternalError("PEM of a peer certificate: " +
                           internal::MbedError(ret));
    pem.resize(len > 0 && pem[len - 1] == '\0' ? len - 1 : len);
    out.push_back(std::move(pem));
  }
  return out;
}

Status TlsClient::IoError(const char* what) {
  Status st;
  if (cancelled_) {
    st = CancelledError(std::string("TlsClient cancelled during ") + what);
  } else if (session_ && session_->timed_out()) {
    st = DeadlineExceededError(std::string("timed out during ") + what);
  } else {
    st = UnavailableError(std::string("connection failed during ") + what);
  }
  Close();
  return st;
}

StatusOr<size_t> TlsClient::Fill(std::chrono::milliseconds timeout) {
  if (!session_) return UnavailableError("not connected");
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char tmp[16384];
  ssize_t n = session_->Read(tmp, sizeof(tmp), timeout);
  if (n < 0) return IoError("read");
  buf_.append(tmp, static_cast<size_t>(n));
  bytes_received_ += static_cast<uint64_t>(n);
  return static_cast<size_t>(n);
}

StatusOr<std::string> TlsClient::ReadLine(std::chrono::milliseconds timeout) {
  size_t scanned = pos_;
  for (;;) {
    size_t nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      std::string line = buf_.substr(pos_, nl - pos_);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pos_ = nl + 1;
      return line;
    }
    if (buf_.size() - pos_ > kMaxLine)
      return UnavailableError("response line too long");
    scanned = buf_.size();
    size_t before = pos_;
    KITE_ASSIGN_OR_RETURN(size_t n, Fill(timeout));
    scanned -= before;  // Fill moved the unread bytes to the front
    if (n == 0) {
      Close();
      return UnavailableError("connection closed by the server");
    }
  }
}

Status TlsClient::ReadHead(HttpResponse* res,
                           std::chrono::milliseconds timeout) {
  for (;;) {
    KITE_ASSIGN_OR_RETURN(std::string status_line, ReadLine(timeout));
    // "HTTP/1.1 200 OK"
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 ||
        status_line[8] != ' ') {
      Close();
      return UnavailableError("bad HTTP status line: " +
                              status_line.substr(0, 80));
    }
    int code = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (status_line[i] < '0' || status_line[i] > '9') {
        Close();
        return UnavailableError("bad HTTP status: " +
                                status_line.substr(0, 80));
      }
      code = code * 10 + (status_line[i] - '0');
    }
    res->status = code;
    res->headers.clear();
    http10_ = status_line[7] == '0';
    size_t total = 0;
    for (;;) {
      KITE_ASSIGN_OR_RETURN(std::string line, ReadLine(timeout));
      if (line.empty()) break;
      total += line.size();
      if (total > kMaxHeaderBytes) {
        Close();
        return UnavailableError("response headers too large");
      }
      size_t colon = line.find(':');
      if (colon == std::string::npos || colon == 0) {
        Close();
        return UnavailableError("bad response header: " + line.substr(0, 80));
      }
      res->headers.emplace(line.substr(0, colon),
                           Trim(std::string_view(line).substr(colon + 1)));
    }
    // 100 Continue and other interim answers precede the real one.
    if (code >= 100 && code < 200 && code != 101) continue;
    return Status::Ok();
  }
}

Status TlsClient::ReadBody(
    const std::string& method, HttpResponse* res, bool* keep,
    const std::function<bool(std::string_view)>* on_line) {
  *keep = !http10_ && !EqualsNoCase(res->Header("Connection"), "close");
  if (method == "HEAD" || res->status < 200 || res->status == 204 ||
      res->status == 304) {
    return Status::Ok();
  }
  const bool streaming = on_line != nullptr && res->status / 100 == 2;
  const auto timeout = streaming ? (options_.stream_idle_timeout.count() > 0
                                        ? options_.stream_idle_timeout
                                        : kForever)
                                 : options_.io_timeout;
  std::string pending;  // streaming: the unfinished line
  bool stopped = false;
  auto sink = [&](std::string_view data) -> Status {
    if (!streaming) {
      if (res->body.size() + data.size() > options_.max_body_bytes) {
        return ResourceExhaustedError("response body larger than " +
                                      std::to_string(options_.max_body_bytes) +
                                      " bytes");
      }
      res->body.append(data);
      return Status::Ok();
    }
    if (stopped) return Status::Ok();
    pending.append(data);
    size_t start = 0;
    for (;;) {
      size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(pending.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      start = nl + 1;
      if (!(*on_line)(line)) {
        stopped = true;
        break;
      }
    }
    pending.erase(0, start);
    if (pending.size() > options_.max_body_bytes) {
      return ResourceExhaustedError("streamed line too long");
    }
    return Status::Ok();
  };
  // Passes `n` body bytes to the sink as they arrive.
  auto read_exact = [&](size_t n) -> Status {
    while (n > 0 && !stopped) {
      if (pos_ == buf_.size()) {
        KITE_ASSIGN_OR_RETURN(size_t got, Fill(timeout));
        if (got == 0) {
          Close();
          return UnavailableError("connection closed inside a response body");
        }
      }
      size_t k = std::min(n, buf_.size() - pos_);
      Status st = sink(std::string_view(buf_.data() + pos_, k));
      pos_ += k;
      n -= k;
      if (!st.ok()) {
        Close();
        return st;
      }
    }
    return Status::Ok();
  };

  const std::string te = res->Header("Transfer-Encoding");
  const std::string cl = res->Header("Content-Length");
  if (!te.empty() && te.find("chunked") != std::string::npos) {
    for (;;) {
      KITE_ASSIGN_OR_RETURN(std::string size_line, ReadLine(timeout));
      size_t size = 0;
      size_t i = 0;
      for (; i < size_line.size(); ++i) {
        char c = size_line[i];
        int v = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (v < 0) break;
        if (size > (options_.max_body_bytes << 4)) {
          Close();
          return UnavailableError("chunk too large");
        }
        size = size * 16 + static_cast<size_t>(v);
      }
      if (i == 0) {
        Close();
        return UnavailableError("bad chunk size line: " +
                                size_line.substr(0, 40));
      }
      if (size == 0) {
        // Trailers up to the empty line.
        for (;;) {
          KITE_ASSIGN_OR_RETURN(std::string trailer, ReadLine(timeout));
          if (trailer.empty()) break;
        }
        break;
      }
      KITE_RETURN_IF_ERROR(read_exact(size));
      if (stopped) break;
      KITE_ASSIGN_OR_RETURN(std::string crlf, ReadLine(timeout));
      if (!crlf.empty()) {
        Close();
        return UnavailableError("chunk not followed by CRLF");
      }
    }
  } else if (!cl.empty()) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(cl.c_str(), &end, 10);
    if (end == cl.c_str() || *end != '\0') {
      Close();
      return UnavailableError("bad Content-Length: " + cl);
    }
    if (n > options_.max_body_bytes) {
      Close();
      return ResourceExhaustedError("response body of " + cl +
                                    " bytes is too large");
    }
    KITE_RETURN_IF_ERROR(read_exact(static_cast<size_t>(n)));
  } else {
    // Delimited by the end of the connection.
    *keep = false;
    for (;;) {
      if (pos_ < buf_.size()) {
        Status st =
            sink(std::string_view(buf_.data() + pos_, buf_.size() - pos_));
        pos_ = buf_.size();
        if (!st.ok()) {
          Close();
          return st;
        }
      }
      if (stopped) break;
      KITE_ASSIGN_OR_RETURN(size_t got, Fill(timeout));
      if (got == 0) break;
    }
  }
  if (stopped) {
    *keep = false;
  } else if (streaming && !pending.empty()) {
    (*on_line)(pending);
  }
  return Status::Ok();
}

StatusOr<HttpResponse> TlsClient::Exchange(
    const std::string& method, const std::string& path,
    const HttpHeaders& headers, const std::string& body,
    const std::function<bool(std::string_view)>* on_line,
    bool* nothing_received) {
  *nothing_received = true;
  std::string req = RequestHead(method, path, headers, body);
  req += body;
  if (!session_->WriteAll(req.data(), req.size(), options_.io_timeout))
    return IoError("write");

  HttpResponse res;
  const uint64_t before = bytes_received_;
  Status st = ReadHead(&res, options_.io_timeout);
  if (!st.ok()) {
    *nothing_received = bytes_received_ == before;
    return st;
  }
  *nothing_received = false;
  bool keep = false;
  KITE_RETURN_IF_ERROR(ReadBody(method, &res, &keep, on_line));
  if (!keep) Close();
  return res;
}

std::string TlsClient::RequestHead(const std::string& method,
                                   const std::string& path,
                                   const HttpHeaders& headers,
                                   const std::string& body) {
  std::string req;
  req.reserve(256 + body.size());
  req += method + " " + path + " HTTP/1.1\r\n";
  bool has_host = headers.count("Host") > 0;
  if (!has_host) {
    bool v6 = options_.host.find(':') != std::string::npos;
    req += "Host: " + (v6 ? "[" + options_.host + "]" : options_.host) + ":" +
           std::to_string(options_.port) + "\r\n";
  }
  if (headers.count("User-Agent") == 0) req += "User-Agent: kite\r\n";
  for (const auto& [k, v] : headers) {
    if (EqualsNoCase(k, "Content-Length")) continue;
    req += k + ": " + v + "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT" ||
      method == "PATCH") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  return req;
}

namespace {

Status CheckRequest(const std::string& method, const std::string& path,
                    const HttpHeaders& headers) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), [](char c) {
        return c >= 'A' && c <= 'Z';
      })) {
    return InvalidArgumentError("bad HTTP method: " + method);
  }
  if (path.empty() || path[0] != '/' || !PlainToken(path, false)) {
    return InvalidArgumentError("bad request path");
  }
  for (const auto& [k, v] : headers) {
    if (!PlainToken(k, false) || k.find(':') != std::string::npos ||
        (!v.empty() && !PlainToken(v, true))) {
      return InvalidArgumentError("bad request header: " + k);
    }
  }
  return Status::Ok();
}

bool Idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

StatusOr<HttpResponse> TlsClient::Request(const std::string& method,
                                          const std::string& path,
                                          const HttpHeaders& headers,
                                          const std::string& body) {
  return Stream(method, path, headers, body, nullptr);
}

StatusOr<HttpResponse> TlsClient::Stream(
    const std::string& method, const std::string& path,
    const HttpHeaders& headers, const std::string& body,
    const std::function<bool(std::string_view line)>& on_line) {
  KITE_RETURN_IF_ERROR(CheckRequest(method, path, headers));
  const std::function<bool(std::string_view)>* sink =
      on_line ? &on_line : nullptr;
  for (int attempt = 0;; ++attempt) {
    bool reused = session_ != nullptr;
    if (reused) {
      // Anything readable on an idle connection is the server closing it.
      pollfd p{fd_, POLLIN, 0};
      if (session_->HasBuffered() || ::poll(&p, 1, 0) != 0) {
        Close();
        reused = false;
      }
    }
    KITE_RETURN_IF_ERROR(Connect());
    bool nothing_received = true;
    auto res = Exchange(method, path, headers, body, sink, &nothing_received);
    if (res.ok()) return res;
    if (attempt == 0 && reused && nothing_received && Idempotent(method) &&
        res.status().code() == Code::kUnavailable && !cancelled_) {
      continue;
    }
    return res.status();
  }
}

StatusOr<HttpResponse> TlsClient::OpenStream(const std::string& method,
                                             const std::string& path,
                                             const HttpHeaders& headers,
                                             const std::string& body) {
  KITE_RETURN_IF_ERROR(CheckRequest(method, path, headers));
  Close();
  KITE_RETURN_IF_ERROR(Connect());
  std::string req = RequestHead(method, path, headers, body);
  req += body;
  if (!session_->WriteAll(req.data(), req.size(), options_.io_timeout))
    return IoError("write");
  HttpResponse res;
  KITE_RETURN_IF_ERROR(ReadHead(&res, options_.io_timeout));
  return res;
}

bool TlsClient::HasBuffered() const {
  return pos_ < buf_.size() || (session_ && session_->HasBuffered());
}

ssize_t TlsClient::ReadSome(char* buf, size_t n,
                            std::chrono::milliseconds timeout) {
  if (!session_) return -1;
  if (pos_ < buf_.size()) {
    size_t k = std::min(n, buf_.size() - pos_);
    std::memcpy(buf, buf_.data() + pos_, k);
    pos_ += k;
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
    return static_cast<ssize_t>(k);
  }
  ssize_t r = session_->Read(buf, n, timeout);
  // A failure other than a timeout ends the connection (connected() turns
  // false), so callers can tell the two apart.
  if (r < 0 && !session_->timed_out()) Close();
  return r;
}

bool TlsClient::WriteAll(std::string_view data,
                         std::chrono::milliseconds timeout) {
  if (!session_) return false;
  return session_->WriteAll(data.data(), data.size(), timeout);
}

}  // namespace kite::tls
