// netbench-server: the pod side of bench/network.sh (issue 7 item 6), the
// only program of the image registry.local/kite/netbench:1. One thread, one
// epoll loop, three services:
//   TCP 8080  request/response, HTTP-ish: every request is read up to its
//             blank line ("\r\n\r\n"; pipelined requests are answered in
//             order) and answered with a fixed "HTTP/1.1 200 OK" response of
//             kBodyBytes bytes of body, the connection kept open;
//   TCP 8081  bulk: from accept on, the server writes kBulkChunk-byte
//             buffers as fast as the peer reads them; what the peer sends
//             is read and dropped;
//   UDP 8080  echo: every datagram goes back to its sender unchanged.
// SIGTERM or SIGINT ends it with status 0 (it is PID 1 of its container,
// which ignores signals it has no handler for).
//
// Built static (bench/network/CMakeLists.txt) so the image needs nothing
// else; the ports can be changed with --rr-port, --bulk-port, --udp-port
// (0: off) for running it by hand.
#define _GNU_SOURCE  // accept4
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  kMaxFds = 65536,
  kInBytes = 4096,
  kOutBytes = 16384,
  kBodyBytes = 64,
  kBulkChunk = 128 * 1024,
  kEvents = 256,
};

enum Kind { kFree = 0, kRrListener, kBulkListener, kUdp, kRr, kBulk };

struct Conn {
  enum Kind kind;
  int in_len;   // bytes of a request read so far (kRr)
  int out_len;  // bytes waiting to be written (kRr)
  int out_off;  // of which written
  int matched;  // how much of "\r\n\r\n" the input ended with
  char* out;    // kOutBytes (kRr)
};

static struct Conn* conns;
static int epfd;
static char response[256];
static int response_len;
static char bulk_buf[kBulkChunk];
static volatile sig_atomic_t stop;

static void OnSignal(int sig) {
  (void)sig;
  stop = 1;
}

static void Die(const char* what) {
  perror(what);
  exit(1);
}

static int Listen(int type, int port) {
  int fd = socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int domain6 = fd >= 0;
  if (fd < 0) fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (domain6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    rc = bind(fd, (struct sockaddr*)&a, sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    rc = bind(fd, (struct sockaddr*)&a, sizeof a);
  }
  if (rc != 0) Die("bind");
  if (type == SOCK_STREAM && listen(fd, 1024) != 0) Die("listen");
  if (type == SOCK_DGRAM) {
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  }
  return fd;
}

static void Watch(int fd, enum Kind kind, unsigned events) {
  if (fd >= kMaxFds) {
    close(fd);
    return;
  }
  conns[fd].kind = kind;
  struct epoll_event ev;
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) Die("epoll_ctl");
}

static void Modify(int fd, unsigned events) {
  struct epoll_event ev;
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void Close(int fd) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  free(conns[fd].out);
  memset(&conns[fd], 0, sizeof conns[fd]);
}

static void Accept(int lfd, enum Kind kind) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a connection that went away
    if (fd >= kMaxFds) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&conns[fd], 0, sizeof conns[fd]);
    if (kind == kRr) {
      conns[fd].out = malloc(kOutBytes);
      if (!conns[fd].out) {
        close(fd);
        continue;
      }
      Watch(fd, kRr, EPOLLIN);
    } else {
      Watch(fd, kBulk, EPOLLIN | EPOLLOUT);
    }
  }
}

// Writes what is pending; 0 when the connection is gone.
static int Flush(int fd) {
  struct Conn* c = &conns[fd];
  while (c->out_off < c->out_len) {
    ssize_t n = write(fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n < 0 && errno == EAGAIN) {
      Modify(fd, EPOLLIN | EPOLLOUT);
      return 1;
    }
    if (n <= 0) return 0;
    c->out_off += (int)n;
  }
  if (c->out_len > 0) Modify(fd, EPOLLIN);
  c->out_len = c->out_off = 0;
  return 1;
}

static void OnRr(int fd, unsigned events) {
  struct Conn* c = &conns[fd];
  if (events & EPOLLOUT) {
    if (!Flush(fd)) {
      Close(fd);
      return;
    }
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  char in[kInBytes];
  for (;;) {
    // Room for the answers to a full buffer of pipelined requests is not
    // guaranteed: stop reading while earlier answers wait for the peer.
    if (c->out_len + response_len * 64 > kOutBytes) break;
    ssize_t n = read(fd, in, sizeof in);
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      Close(fd);
      return;
    }
    static const char kEnd[] = "\r\n\r\n";
    for (ssize_t i = 0; i < n; ++i) {
      if (in[i] == kEnd[c->matched]) {
        if (++c->matched == 4) {
          c->matched = 0;
          c->in_len = 0;
          if (c->out_len + response_len > kOutBytes && !Flush(fd)) {
            Close(fd);
            return;
          }
          if (c->out_len + response_len > kOutBytes) {
            Close(fd);  // a peer that sends and never reads
            return;
          }
          memcpy(c->out + c->out_len, response, response_len);
          c->out_len += response_len;
        }
      } else {
        c->matched = in[i] == '\r' ? 1 : 0;
        if (++c->in_len > kInBytes) {  // not a request of ours
          Close(fd);
          return;
        }
      }
    }
  }
  if (!Flush(fd)) Close(fd);
}

static void OnBulk(int fd, unsigned events) {
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    char sink[4096];
    for (;;) {
      ssize_t n = read(fd, sink, sizeof sink);
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) {
        Close(fd);
        return;
      }
    }
  }
  if (events & EPOLLOUT) {
    for (;;) {
      ssize_t n = write(fd, bulk_buf, sizeof bulk_buf);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        Close(fd);
        return;
      }
    }
  }
}

static void OnUdp(int fd) {
  char buf[65536];
  for (int i = 0; i < 64; ++i) {
    struct sockaddr_in6 from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&from, &len);
    if (n < 0) return;
    sendto(fd, buf, n, 0, (struct sockaddr*)&from, len);
  }
}

static int Port(const char* s) {
  char* end;
  long v = strtol(s, &end, 10);
  if (*end || v < 0 || v > 65535) {
    fprintf(stderr, "netbench-server: bad port '%s'\n", s);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char** argv) {
  int rr_port = 8080, bulk_port = 8081, udp_port = 8080;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && !strcmp(argv[i], "--rr-port")) {
      rr_port = Port(argv[++i]);
    } else if (i + 1 < argc && !strcmp(argv[i], "--bulk-port")) {
      bulk_port = Port(argv[++i]);
    } else if (i + 1 < argc && !strcmp(argv[i], "--udp-port")) {
      udp_port = Port(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: netbench-server [--rr-port N] [--bulk-port N] "
              "[--udp-port N]\n");
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char body[kBodyBytes + 1];
  memset(body, 'x', kBodyBytes - 1);
  body[kBodyBytes - 1] = '\n';
  body[kBodyBytes] = 0;
  response_len = snprintf(response, sizeof response,
                          "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                          "Content-Type: text/plain\r\n\r\n%s",
                          kBodyBytes, body);
  memset(bulk_buf, 'b', sizeof bulk_buf);

  conns = calloc(kMaxFds, sizeof *conns);
  if (!conns) Die("calloc");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) Die("epoll_create1");
  if (rr_port) Watch(Listen(SOCK_STREAM, rr_port), kRrListener, EPOLLIN);
  if (bulk_port) Watch(Listen(SOCK_STREAM, bulk_port), kBulkListener, EPOLLIN);
  if (udp_port) Watch(Listen(SOCK_DGRAM, udp_port), kUdp, EPOLLIN);
  printf("netbench-server: rr tcp/%d bulk tcp/%d echo udp/%d\n", rr_port,
         bulk_port, udp_port);
  fflush(stdout);

  struct epoll_event events[kEvents];
  while (!stop) {
    int n = epoll_wait(epfd, events, kEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      unsigned ev = events[i].events;
      switch (conns[fd].kind) {
        case kRrListener:
          Accept(fd, kRr);
          break;
        case kBulkListener:
          Accept(fd, kBulk);
          break;
        case kUdp:
          OnUdp(fd);
          break;
        case kRr:
          OnRr(fd, ev);
          break;
        case kBulk:
          OnBulk(fd, ev);
          break;
        case kFree:
          break;
      }
    }
  }
  return 0;
}
