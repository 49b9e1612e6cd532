#include "tls/tls_session.h"

#include <arpa/inet.h>
#include <mbedtls/net_sockets.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tls/mbed_util.h"

namespace kite::tls {

namespace {

using Clock = std::chrono::steady_clock;

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string VerifyText(uint32_t flags) {
  char info[512];
  int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
  std::string why =
      n > 0 ? std::string(info, static_cast<size_t>(n)) : "unknown reason";
  while (!why.empty() && why.back() == '\n') why.pop_back();
  std::replace(why.begin(), why.end(), '\n', ';');
  return why;
}

}  // namespace

TlsSession::TlsSession(int fd, int wake_fd) : fd_(fd), wake_fd_(wake_fd) {
  mbedtls_ssl_init(&ssl_);
}

TlsSession::~TlsSession() { mbedtls_ssl_free(&ssl_); }

Status TlsSession::Init(const mbedtls_ssl_config* conf,
                        const std::string& hostname) {
  int ret = mbedtls_ssl_setup(&ssl_, conf);
  if (ret != 0) return InternalError("TLS setup: " + internal::MbedError(ret));
  if (!hostname.empty()) {
    // For an IP address mbedTLS 2.28 can neither send SNI (not allowed) nor
    // match iPAddress SANs; TlsClient checks those itself.
    if (!IsIpLiteral(hostname)) {
      ret = mbedtls_ssl_set_hostname(&ssl_, hostname.c_str());
      if (ret != 0)
        return InvalidArgumentError("TLS hostname: " +
                                    internal::MbedError(ret));
    }
  }
  mbedtls_ssl_set_bio(&ssl_, this, SendCallback, RecvCallback, nullptr);
  return Status::Ok();
}

int TlsSession::WaitFor(short events, Duration timeout) {
  deadline_ = Clock::now() + timeout;
  return Wait(events);
}

int TlsSession::Wait(short events) {
  for (;;) {
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now())
            .count();
    if (left < 0) left = 0;
    if (left > 24 * 3600 * 1000) left = 24 * 3600 * 1000;
    pollfd fds[2];
    fds[0] = {fd_, events, 0};
    fds[1] = {wake_fd_, POLLIN, 0};
    int n = ::poll(fds, wake_fd_ >= 0 ? 2 : 1, static_cast<int>(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (wake_fd_ >= 0 && (fds[1].revents & POLLIN)) return -1;
    if (n == 0) {
      // poll() waits at most a day per call; longer deadlines loop.
      if (Clock::now() < deadline_) continue;
      return 0;
    }
    // Errors and hang-ups count as ready: the next send/recv reports them.
    return 1;
  }
}

int TlsSession::SendCallback(void* self, const unsigned char* buf, size_t len) {
  auto* s = static_cast<TlsSession*>(self);
  for (;;) {
    ssize_t n = ::send(s->fd_, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = s->Wait(POLLOUT);
      if (w > 0) continue;
      if (w == 0) {
        s->timed_out_ = true;
        return MBEDTLS_ERR_SSL_WANT_WRITE;
      }
      return MBEDTLS_ERR_NET_SEND_FAILED;
    }
    if (errno == EPIPE || errno == ECONNRESET)
      return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_SEND_FAILED;
  }
}

int TlsSession::RecvCallback(void* self, unsigned char* buf, size_t len) {
  auto* s = static_cast<TlsSession*>(self);
  for (;;) {
    ssize_t n = ::recv(s->fd_, buf, len, MSG_DONTWAIT);
    if (n >= 0) return static_cast<int>(n);  // 0: EOF, mbedTLS reports CONN_EOF
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = s->Wait(POLLIN);
      if (w > 0) continue;
      if (w == 0) {
        s->timed_out_ = true;
        return MBEDTLS_ERR_SSL_WANT_READ;
      }
      return MBEDTLS_ERR_NET_RECV_FAILED;
    }
    if (errno == ECONNRESET) return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_RECV_FAILED;
  }
}

Status TlsSession::Handshake(Duration timeout) {
  deadline_ = Clock::now() + timeout;
  timed_out_ = false;
  for (;;) {
    int ret = mbedtls_ssl_handshake(&ssl_);
    if (ret == 0) return Status::Ok();
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
      if (timed_out_) return DeadlineExceededError("TLS handshake timed out");
      continue;
    }
    uint32_t flags = mbedtls_ssl_get_verify_result(&ssl_);
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
        ret == MBEDTLS_ERR_X509_FATAL_ERROR ||
        ret == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) {
      std::string why = (flags != 0 && flags != static_cast<uint32_t>(-1))
                            ? VerifyText(flags)
                            : internal::MbedError(ret);
      return Status(Code::kUnauthenticated,
                    "TLS handshake: peer certificate refused: " + why);
    }
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && ssl_.in_msg != nullptr) {
      // The peer said no; certificate alerts mean it refused our certificate
      // (or that we sent none it would take).
      int alert = ssl_.in_msg[1];
      switch (alert) {
        case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
        case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
        case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
        case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
        case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
        case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
        case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
          return Status(
              Code::kUnauthenticated,
              "TLS handshake: the peer refused our certificate (alert " +
                  std::to_string(alert) + ")");
        default:
          return UnavailableError("TLS handshake: the peer sent fatal alert " +
                                  std::to_string(alert));
      }
    }
    return UnavailableError("TLS handshake: " + internal::MbedError(ret));
  }
}

ssize_t TlsSession::RawRead(char* buf, size_t n) {
  for (;;) {
    int ret = mbedtls_ssl_read(&ssl_, reinterpret_cast<unsigned char*>(buf), n);
    if (ret > 0) return ret;
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
        ret == MBEDTLS_ERR_SSL_CONN_EOF) {
      return 0;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
      // mbedTLS also answers WANT_READ after records that carry no data
      // (a refused renegotiation); only a run-out wait ends the read.
      if (timed_out_) return -1;
      continue;
    }
    return -1;
  }
}

ssize_t TlsSession::Read(char* buf, size_t n, Duration timeout) {
  timed_out_ = false;
  if (n == 0) return 0;
  if (buf_pos_ < buf_len_) {
    size_t k = std::min(n, buf_len_ - buf_pos_);
    std::memcpy(buf, buf_ + buf_pos_, k);
    buf_pos_ += k;
    return static_cast<ssize_t>(k);
  }
  deadline_ = Clock::now() + timeout;
  timed_out_ = false;
  if (n >= sizeof(buf_)) return RawRead(buf, n);
  ssize_t got = RawRead(buf_, sizeof(buf_));
  if (got <= 0) return got;
  buf_pos_ = 0;
  buf_len_ = static_cast<size_t>(got);
  size_t k = std::min(n, buf_len_);
  std::memcpy(buf, buf_, k);
  buf_pos_ = k;
  return static_cast<ssize_t>(k);
}

bool TlsSession::WriteAll(const char* p, size_t n, Duration timeout) {
  deadline_ = Clock::now() + timeout;
  timed_out_ = false;
  const auto* data = reinterpret_cast<const unsigned char*>(p);
  size_t off = 0;
  while (off < n) {
    // After WANT_WRITE mbedTLS holds a partly sent record and must be called
    // again with the same data.
    int ret = mbedtls_ssl_write(&ssl_, data + off, n - off);
    if (ret > 0) {
      off += static_cast<size_t>(ret);
      continue;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
      if (timed_out_) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool TlsSession::HasBuffered() const {
  return buf_pos_ < buf_len_ || mbedtls_ssl_get_bytes_avail(&ssl_) > 0 ||
         mbedtls_ssl_check_pending(&ssl_) != 0;
}

bool TlsSession::WaitReadable(Duration timeout) {
  if (HasBuffered()) return true;
  return WaitFor(POLLIN, timeout) > 0;
}

bool TlsSession::PeerOpen(Duration timeout) {
  deadline_ = Clock::now() + timeout;
  for (;;) {
    pollfd fds[2];
    fds[0] = {fd_, static_cast<short>(POLLOUT | POLLRDHUP), 0};
    fds[1] = {wake_fd_, POLLIN, 0};
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now())
            .count();
    int n = ::poll(fds, wake_fd_ >= 0 ? 2 : 1,
                   static_cast<int>(std::max<long long>(0, left)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;
    if (wake_fd_ >= 0 && (fds[1].revents & POLLIN)) return false;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))
      return false;
    return (fds[0].revents & POLLOUT) != 0;
  }
}

void TlsSession::CloseNotify(Duration timeout) {
  deadline_ = Clock::now() + timeout;
  timed_out_ = false;
  for (;;) {
    int ret = mbedtls_ssl_close_notify(&ssl_);
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
      if (timed_out_) return;
      continue;
    }
    return;
  }
}

void TlsSession::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

}  // namespace kite::tls
