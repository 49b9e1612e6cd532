#include "agent/kubelet/stream_bridge.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/kubelet/spdy.h"
#include "agent/kubelet/websocket.h"
#include "common/log.h"
#include "tls/tls_server.h"

namespace kite::kubelet {
namespace {

constexpr size_t kMaxHead = 64 * 1024;
constexpr std::chrono::milliseconds kWriteTimeout{30000};
// After poll() said the client is readable, how long a TLS record may take
// to arrive whole.
constexpr std::chrono::milliseconds kRecordWait{50};

}  // namespace

// http://host:port/path (what containerd's stream server hands out).
StatusOr<Url> ParseHttpUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    return InternalError("streaming URL is not http://: " + url);
  size_t slash = url.find('/', scheme.size());
  std::string authority = url.substr(
      scheme.size(),
      slash == std::string::npos ? std::string::npos : slash - scheme.size());
  Url u;
  u.path = slash == std::string::npos ? "/" : url.substr(slash);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.back() == ']') {
    u.host = authority;
    u.port = 80;
  } else {
    u.host = authority.substr(0, colon);
    std::string port = authority.substr(colon + 1);
    auto [p, ec] =
        std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc() || p != port.data() + port.size())
      return InternalError("streaming URL has a bad port: " + url);
  }
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']')
    u.host = u.host.substr(1, u.host.size() - 2);
  return u;
}

// A connected TCP socket to host:port (blocking mode), or an error.
StatusOr<int> ConnectTcp(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string p = std::to_string(port);
  if (int gai = ::getaddrinfo(host.c_str(), p.c_str(), &hints, &res);
      gai != 0) {
    return UnavailableError("resolving " + host + ": " + gai_strerror(gai));
  }
  std::string err = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (s < 0) {
      err = std::strerror(errno);
      continue;
    }
    if (::connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
      fd = s;
      break;
    }
    err = std::strerror(errno);
    ::close(s);
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return UnavailableError("connecting to the runtime's stream server " +
                            host + ":" + p + ": " + err);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, std::string_view d) {
  while (!d.empty()) {
    ssize_t w = ::send(fd, d.data(), d.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    d.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

// Reads from `fd` until the end of an HTTP response head. `head` gets the
// head (up to and including the blank line), `rest` what followed.
Status ReadHead(int fd, std::string* head, std::string* rest) {
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + kUpstreamTimeout;
  for (;;) {
    size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      *head = buf.substr(0, end + 4);
      *rest = buf.substr(end + 4);
      return Status::Ok();
    }
    if (buf.size() > kMaxHead)
      return UnavailableError("the runtime's answer head is too large");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return DeadlineExceededError(
          "the runtime's stream server did not answer");
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char tmp[4096];
    ssize_t r = ::recv(fd, tmp, sizeof(tmp), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return UnavailableError(
          "the runtime's stream server closed the connection");
    buf.append(tmp, static_cast<size_t>(r));
  }
}

int StatusCodeOf(const std::string& head) {
  // "HTTP/1.1 101 Switching Protocols"
  if (head.size() < 12 || head.rfind("HTTP/1.", 0) != 0) return 0;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return 0;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

std::string HeaderOf(const std::string& head, const char* name) {
  size_t pos = head.find("\r\n");
  size_t len = std::strlen(name);
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos) break;
    if (end - start > len && head[start + len] == ':' &&
        strncasecmp(head.data() + start, name, len) == 0) {
      size_t v = start + len + 1;
      while (v < end && (head[v] == ' ' || head[v] == '\t')) ++v;
      return head.substr(v, end - v);
    }
    pos = end;
  }
  return "";
}

StatusOr<RuntimeSession> OpenRuntimeSpdy(const std::string& url,
                                         const std::string& protocol) {
  KITE_ASSIGN_OR_RETURN(Url target, ParseHttpUrl(url));
  KITE_ASSIGN_OR_RETURN(int fd, ConnectTcp(target.host, target.port));
  RuntimeSession s;
  s.fd = fd;
  std::string req = "POST " + target.path +
                    " HTTP/1.1\r\nHost: " + target.host + ":" +
                    std::to_string(target.port) +
                    "\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                    "X-Stream-Protocol-Version: " +
                    protocol + "\r\nContent-Length: 0\r\n\r\n";
  std::string head;
  Status st = SendAll(fd, req)
                  ? ReadHead(fd, &head, &s.rest)
                  : UnavailableError("writing to the runtime's stream server");
  if (st.ok() && StatusCodeOf(head) != 101) {
    st = UnavailableError(
        "the runtime's stream server refused the SPDY upgrade: " +
        head.substr(0, head.find("\r\n")));
  }
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  s.protocol = HeaderOf(head, "X-Stream-Protocol-Version");
  return s;
}

bool AcceptWebSocket(tls::HijackedConnection& client, const std::string& key,
                     const std::string& protocol) {
  std::string answer =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
      ws::AcceptKey(key) + "\r\n";
  if (!protocol.empty())
    answer += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
  answer += "\r\n";
  return client.Write(answer, kWriteTimeout);
}

namespace {

// The client's side of a bridge: WebSocket messages in, frames out.
class WsClient {
 public:
  explicit WsClient(tls::HijackedConnection& conn) : conn_(conn), dec_(true) {}

  bool Send(ws::Opcode op, std::string_view payload) {
    return conn_.Write(ws::EncodeFrame(op, payload), kWriteTimeout);
  }
  bool SendChannel(uint8_t channel, std::string_view data) {
    std::string p(1, static_cast<char>(channel));
    p.append(data);
    return Send(ws::Opcode::kBinary, p);
  }
  void Close(uint16_t code) {
    (void)Send(ws::Opcode::kClose, ws::ClosePayload(code));
  }
  int fd() const { return conn_.fd(); }
  bool HasBuffered() const { return conn_.HasBuffered(); }

  // Reads what the connection has; false when it closed or failed.
  bool Read() {
    char buf[32 * 1024];
    ssize_t n = conn_.Read(buf, sizeof(buf), kRecordWait);
    if (n == 0) return false;
    if (n < 0) return conn_.timed_out();
    dec_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    return true;
  }
  // The next data message, handling control frames on the way (pings
  // answered). nullopt when none is complete; `*done` when the client
  // closed or broke the protocol.
  std::optional<ws::Message> Next(bool* done) {
    for (;;) {
      auto m = dec_.Next();
      if (!m.ok()) {
        Close(m.status().code() == Code::kResourceExhausted
                  ? ws::kCloseTooBig
                  : ws::kCloseProtocolError);
        *done = true;
        return std::nullopt;
      }
      if (!m->has_value()) return std::nullopt;
      ws::Message& msg = **m;
      switch (msg.opcode) {
        case ws::Opcode::kPing:
          if (!Send(ws::Opcode::kPong, msg.payload)) *done = true;
          continue;
        case ws::Opcode::kPong:
          continue;
        case ws::Opcode::kClose:
          Close(ws::kCloseNormal);
          *done = true;
          return std::nullopt;
        default:
          return std::move(msg);
      }
    }
  }

 private:
  tls::HijackedConnection& conn_;
  ws::Decoder dec_;
};

// Waits until the client or the runtime has something: 1 client, 2
// runtime, 3 both, 0 nothing in time, -1 error.
int WaitEither(WsClient& client, int runtime_fd) {
  if (client.HasBuffered()) return 1;
  pollfd fds[2] = {{client.fd(), POLLIN, 0}, {runtime_fd, POLLIN, 0}};
  int r = ::poll(fds, 2, 1000);
  if (r < 0) return errno == EINTR ? 0 : -1;
  int which = 0;
  if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) which |= 1;
  if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) which |= 2;
  return which;
}

// The runtime's Status (v4 writes it as JSON on the error stream) as the
// v5 channel 3 message; text from older runtimes becomes a Failure.
std::string StatusMessage(const std::string& error_stream) {
  if (error_stream.empty()) return R"({"metadata":{},"status":"Success"})";
  auto j = nlohmann::json::parse(error_stream, nullptr, false);
  if (j.is_object()) return error_stream;
  nlohmann::json st = {{"metadata", nlohmann::json::object()},
                       {"status", "Failure"},
                       {"message", error_stream},
                       {"reason", "InternalError"}};
  return st.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void BridgeRemoteCommand(tls::HijackedConnection& conn, RuntimeSession& runtime,
                         const ChannelOptions& o) {
  WsClient client(conn);
  spdy::Framer spdy;
  uint32_t next_id = 1;
  std::string opening;
  auto open = [&](const char* type) {
    uint32_t id = next_id;
    next_id += 2;
    opening += spdy.SynStream(id, 0, 0, 0, {{"streamtype", type}});
    return id;
  };
  // The order client-go uses: error first, then the data streams.
  const uint32_t error_id = open("error");
  const uint32_t stdin_id = o.use_stdin ? open("stdin") : 0;
  const uint32_t stdout_id = o.use_stdout ? open("stdout") : 0;
  const uint32_t stderr_id = o.use_stderr ? open("stderr") : 0;
  const uint32_t resize_id = o.tty ? open("resize") : 0;
  std::string status;
  bool status_done = false;
  bool stdout_done = stdout_id == 0, stderr_done = stderr_id == 0;
  bool stdin_closed = false;
  auto finish = [&] {
    if (client.SendChannel(3, StatusMessage(status)))
      client.Close(ws::kCloseNormal);
  };
  if (!SendAll(runtime.fd, opening)) {
    status = "the runtime's stream server closed the connection";
    return finish();
  }
  spdy.Feed(runtime.rest);
  runtime.rest.clear();

  // Runtime frames to the client; false ends the session.
  auto from_runtime = [&]() -> bool {
    for (;;) {
      auto f = spdy.Next();
      if (!f.ok()) {
        log::Warn("kubelet", "bad SPDY from the runtime")("error",
                                                          f.status().message());
        return false;
      }
      if (!f->has_value()) return true;
      spdy::Frame& fr = **f;
      bool fin = (fr.flags & spdy::kFlagFin) != 0;
      switch (fr.type) {
        case spdy::FrameType::kData:
          if (fr.stream_id == error_id) {
            status += fr.data;
            status_done = status_done || fin;
          } else if (fr.stream_id == stdout_id && stdout_id != 0) {
            if (!fr.data.empty() && !client.SendChannel(1, fr.data))
              return false;
            stdout_done = stdout_done || fin;
          } else if (fr.stream_id == stderr_id && stderr_id != 0) {
            if (!fr.data.empty() && !client.SendChannel(2, fr.data))
              return false;
            stderr_done = stderr_done || fin;
          }
          break;
        case spdy::FrameType::kSynReply:
          if (fin && fr.stream_id == error_id) status_done = true;
          if (fin && fr.stream_id == stdout_id) stdout_done = true;
          if (fin && fr.stream_id == stderr_id) stderr_done = true;
          break;
        case spdy::FrameType::kRstStream:
          if (fr.stream_id == error_id) status_done = true;
          if (fr.stream_id == stdout_id) stdout_done = true;
          if (fr.stream_id == stderr_id) stderr_done = true;
          break;
        case spdy::FrameType::kPing:
          if (!SendAll(runtime.fd, spdy::Framer::Ping(fr.value))) return false;
          break;
        case spdy::FrameType::kSynStream:
          // Servers do not open streams in these protocols.
          if (!SendAll(runtime.fd, spdy::Framer::RstStream(
                                       fr.stream_id, spdy::kRstProtocolError)))
            return false;
          break;
        default:
          break;  // SETTINGS, WINDOW_UPDATE, GOAWAY, HEADERS
      }
    }
  };
  // Client messages to the runtime; false ends the session.
  auto from_client = [&]() -> bool {
    if (!client.Read()) return false;
    for (;;) {
      bool done = false;
      std::optional<ws::Message> m = client.Next(&done);
      if (done) return false;
      if (!m) return true;
      if (m->opcode != ws::Opcode::kBinary || m->payload.empty()) continue;
      uint8_t ch = static_cast<uint8_t>(m->payload[0]);
      std::string_view data = std::string_view(m->payload).substr(1);
      std::string frame;
      if (ch == 0 && stdin_id != 0 && !stdin_closed && !data.empty()) {
        frame = spdy::Framer::Data(stdin_id, data);
      } else if (ch == 4 && resize_id != 0 && !data.empty()) {
        frame = spdy::Framer::Data(resize_id, data);
      } else if (ch == 255 && !data.empty() &&
                 static_cast<uint8_t>(data[0]) == 0 && stdin_id != 0 &&
                 !stdin_closed) {
        // v5: the client closed stdin; the process sees end of input.
        frame = spdy::Framer::Data(stdin_id, "", spdy::kFlagFin);
        stdin_closed = true;
      }
      if (!frame.empty() && !SendAll(runtime.fd, frame)) return false;
    }
  };

  for (;;) {
    if (status_done && stdout_done && stderr_done) return finish();
    int which = WaitEither(client, runtime.fd);
    if (which < 0) return;
    if ((which & 2) != 0) {
      char buf[32 * 1024];
      ssize_t n = ::recv(runtime.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        // The runtime ended the session: whatever it said is all there is.
        return finish();
      }
      if (n > 0) {
        spdy.Feed(std::string_view(buf, static_cast<size_t>(n)));
        if (!from_runtime()) return finish();
      }
    }
    if ((which & 1) != 0 && !from_client()) return;
  }
}

void TunnelPortForward(tls::HijackedConnection& conn, RuntimeSession& runtime) {
  WsClient client(conn);
  if (!runtime.rest.empty() &&
      !client.Send(ws::Opcode::kBinary, runtime.rest)) {
    return;
  }
  runtime.rest.clear();
  for (;;) {
    int which = WaitEither(client, runtime.fd);
    if (which < 0) return;
    if ((which & 2) != 0) {
      char buf[32 * 1024];
      ssize_t n = ::recv(runtime.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        client.Close(ws::kCloseNormal);
        return;
      }
      if (n > 0 && !client.Send(ws::Opcode::kBinary,
                                std::string_view(buf, static_cast<size_t>(n))))
        return;
    }
    if ((which & 1) != 0) {
      if (!client.Read()) return;
      for (;;) {
        bool done = false;
        std::optional<ws::Message> m = client.Next(&done);
        if (done) return;
        if (!m) break;
        if (!m->payload.empty() && !SendAll(runtime.fd, m->payload)) {
          client.Close(ws::kCloseNormal);
          return;
        }
      }
    }
  }
}

}  // namespace kite::kubelet
