#include "agent/kubelet/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace kite::kubelet {
namespace {

using Millis = std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

int RemainingMs(Steady::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Steady::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

std::string Target(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

// Connects within the deadline; returns the fd or -1 with `err` set.
int Connect(const std::string& host, int port, Steady::time_point deadline,
            std::string* err) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc =
      getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    *err = "dial tcp: lookup " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd =
      socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  std::string prefix = "dial tcp " + Target(host, port) + ": ";
  if (rc != 0 && errno != EINPROGRESS) {
    *err = prefix + "connect: " + std::strerror(errno);
    close(fd);
    return -1;
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    rc = poll(&p, 1, RemainingMs(deadline));
    if (rc <= 0) {
      *err = prefix + "i/o timeout";
      close(fd);
      return -1;
    }
    int so = 0;
    socklen_t len = sizeof(so);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
    if (so != 0) {
      *err = prefix + "connect: " + std::strerror(so);
      close(fd);
      return -1;
    }
  }
  return fd;
}

}  // namespace

ProbeResult NetProber::TcpConnect(const std::string& host, int port,
                                  Millis timeout) {
  std::string err;
  int fd = Connect(host, port, Steady::now() + timeout, &err);
  if (fd < 0) return {false, err};
  close(fd);
  return {true, ""};
}

ProbeResult NetProber::HttpGet(const HttpGetProbe& probe, Millis timeout) {
  if (probe.scheme == "HTTPS")
    return {false, "HTTPS probes are not supported by kite's kubelet"};
  auto deadline = Steady::now() + timeout;
  std::string err;
  int fd = Connect(probe.host, probe.port, deadline, &err);
  if (fd < 0)
    return {false, "Get \"http://" + Target(probe.host, probe.port) +
                       probe.path + "\": " + err};
  std::string path = probe.path.empty() ? "/" : probe.path;
  if (path[0] != '/') path = "/" + path;
  std::string req = "GET " + path + " HTTP/1.1\r\n";
  bool has_host = false, has_ua = false, has_accept = false;
  for (const auto& [k, v] : probe.headers) {
    if (strcasecmp(k.c_str(), "Host") == 0) has_host = true;
    if (strcasecmp(k.c_str(), "User-Agent") == 0) has_ua = true;
    if (strcasecmp(k.c_str(), "Accept") == 0) has_accept = true;
    req += k + ": " + v + "\r\n";
  }
  if (!has_host) req += "Host: " + Target(probe.host, probe.port) + "\r\n";
  if (!has_ua) req += "User-Agent: kube-probe/1.29\r\n";
  if (!has_accept) req += "Accept: */*\r\n";
  req += "Connection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < req.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) {
      close(fd);
      return {false, "Get \"http://" + Target(probe.host, probe.port) + path +
                         "\": context deadline exceeded"};
    }
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0 && errno != EAGAIN) {
      close(fd);
      return {false, std::string("write: ") + std::strerror(errno)};
    }
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[1024];
  while (answer.find("\r\n") == std::string::npos && answer.size() < 4096) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) {
      close(fd);
      return {false, "Get \"http://" + Target(probe.host, probe.port) + path +
                         "\": context deadline exceeded (Client.Timeout "
                         "exceeded while awaiting headers)"};
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) continue;
      break;
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // "HTTP/1.1 200 OK"
  int code = 0;
  size_t sp = answer.find(' ');
  if (answer.rfind("HTTP/", 0) == 0 && sp != std::string::npos)
    code = std::atoi(answer.c_str() + sp + 1);
  if (code == 0)
    return {false, "Get \"http://" + Target(probe.host, probe.port) + path +
                       "\": EOF"};
  if (code >= 200 && code < 400) return {true, ""};
  return {false, "HTTP probe failed with statuscode: " + std::to_string(code)};
}

}  // namespace kite::kubelet
