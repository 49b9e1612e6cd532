#include "tls/byte_pipe.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "tls/tls_client.h"
#include "tls/tls_server.h"

namespace kite::tls {
namespace {

constexpr std::chrono::milliseconds kIoTimeout{30000};
// A poll() said readable but a TLS record is still incomplete: wait this
// long for the rest before looking at the other side again.
constexpr std::chrono::milliseconds kRecordWait{50};

}  // namespace

PipeEnd PipeEndOf(HijackedConnection& conn) {
  PipeEnd e;
  e.fd = conn.fd();
  e.has_buffered = [&conn] { return conn.HasBuffered(); };
  e.read = [&conn](char* buf, size_t n) -> ssize_t {
    ssize_t r = conn.Read(buf, n, kRecordWait);
    if (r < 0 && conn.timed_out()) return kPipeNothing;
    return r;
  };
  e.write = [&conn](std::string_view d) { return conn.Write(d, kIoTimeout); };
  return e;
}

PipeEnd PipeEndOf(TlsClient& client) {
  PipeEnd e;
  e.fd = client.fd();
  e.has_buffered = [&client] { return client.HasBuffered(); };
  e.read = [&client](char* buf, size_t n) -> ssize_t {
    // TlsClient reports timeouts and errors alike; a short wait after
    // poll() said readable that yields nothing is taken as "not yet" once
    // the socket is still open.
    ssize_t r = client.ReadSome(buf, n, kRecordWait);
    if (r < 0 && client.connected()) return kPipeNothing;
    return r < 0 ? kPipeError : r;
  };
  e.write = [&client](std::string_view d) {
    return client.WriteAll(d, kIoTimeout);
  };
  return e;
}

PipeEnd PipeEndOfSocket(int fd) {
  PipeEnd e;
  e.fd = fd;
  e.has_buffered = [] { return false; };
  e.read = [fd](char* buf, size_t n) -> ssize_t {
    ssize_t r = ::recv(fd, buf, n, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return kPipeNothing;
    return r < 0 ? kPipeError : r;
  };
  e.write = [fd](std::string_view d) {
    while (!d.empty()) {
      ssize_t w = ::send(fd, d.data(), d.size(), MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(kIoTimeout.count())) <= 0)
          return false;
        continue;
      }
      if (w <= 0) return false;
      d.remove_prefix(static_cast<size_t>(w));
    }
    return true;
  };
  e.close_write = [fd] { ::shutdown(fd, SHUT_WR); };
  return e;
}

void Pipe(PipeEnd& a, PipeEnd& b, std::chrono::milliseconds idle_limit,
          size_t* a_to_b, size_t* b_to_a) {
  PipeEnd* ends[2] = {&a, &b};
  bool open[2] = {true, true};  // still reading from this end
  size_t copied[2] = {0, 0};
  char buf[32 * 1024];
  auto last = std::chrono::steady_clock::now();
  bool failed = false;
  // Moves one read's worth from ends[i] to the other; false ends the pipe.
  auto transfer = [&](int i) -> bool {
    ssize_t n = ends[i]->read(buf, sizeof(buf));
    if (n == kPipeNothing) return true;
    if (n <= 0) {
      open[i] = false;
      PipeEnd* other = ends[1 - i];
      if (n < 0 || !other->close_write) return false;
      other->close_write();
      return true;
    }
    last = std::chrono::steady_clock::now();
    copied[i] += static_cast<size_t>(n);
    return ends[1 - i]->write(std::string_view(buf, static_cast<size_t>(n)));
  };
  while (!failed && (open[0] || open[1])) {
    bool moved = false;
    for (int i = 0; i < 2 && !failed; ++i) {
      if (open[i] && ends[i]->has_buffered()) {
        failed = !transfer(i);
        moved = true;
      }
    }
    if (moved) continue;
    pollfd fds[2];
    nfds_t nfds = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (!open[i]) continue;
      fds[nfds] = {ends[i]->fd, POLLIN, 0};
      which[nfds++] = i;
    }
    int r = ::poll(fds, nfds, 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (r == 0) {
      if (idle_limit.count() > 0 &&
          std::chrono::steady_clock::now() - last > idle_limit) {
        break;
      }
      continue;
    }
    for (nfds_t k = 0; k < nfds && !failed; ++k) {
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR))
        failed = !transfer(which[k]);
    }
  }
  if (a_to_b) *a_to_b = copied[0];
  if (b_to_a) *b_to_a = copied[1];
}

}  // namespace kite::tls
