#include "rpc/grpc_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "rpc/grpc_wire.h"

namespace kite::rpc {

// Everything one call or stream shares between its caller and the I/O thread.
struct StreamState {
  StreamState(bool is_unary, std::string method_path, size_t max_message)
      : unary(is_unary), path(std::move(method_path)), reader(max_message) {}

  const bool unary;
  const std::string path;
  std::string timeout_header;  // grpc-timeout value, empty for none

  std::mutex mu;
  std::condition_variable cv;
  // Outbound framed bytes not yet taken by nghttp2 (guarded by mu).
  std::string out;
  size_t out_off = 0;
  bool send_closed = false;
  // Inbound messages not yet read (guarded by mu).
  std::deque<std::string> messages;
  size_t queued_bytes = 0;
  size_t deferred_consume = 0;  // received bytes not yet granted back as window
  bool done = false;
  Status final_status = UnavailableError("stream has not ended");
  bool refused = false;  // ended before the server processed it: safe to resend

  // I/O thread only.
  int32_t id = 0;
  bool opened = false;         // HEADERS sent
  bool reset_pending = false;  // Cancel() came before the HEADERS went out
  MessageReader reader;
  int http_status = 0;
  int grpc_status = -1;
  std::string grpc_message;
  Status local_error;  // set when the I/O thread resets the stream itself
};

namespace {

// Ends a stream with `status` unless it already ended. Returns true if it
// did end it now.
bool FinishStream(StreamState& s, Status status, bool refused = false) {
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.done) return false;
    s.done = true;
    s.final_status = std::move(status);
    s.refused = refused;
  }
  s.cv.notify_all();
  return true;
}

std::string Errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Connects a non-blocking stream socket to `target` within `timeout`.
StatusOr<int> Dial(const std::string& target,
                   std::chrono::milliseconds timeout) {
  auto wait_connected = [&](int fd) -> Status {
    pollfd p{fd, POLLOUT, 0};
    int r;
    do {
      r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    if (r == 0) return UnavailableError("connect " + target + ": timed out");
    if (r < 0) return UnavailableError(Errno("poll"));
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      return UnavailableError(Errno("getsockopt"));
    if (err != 0)
      return UnavailableError("connect " + target + ": " + std::strerror(err));
    return Status::Ok();
  };

  if (target.rfind("unix:", 0) == 0) {
    std::string path = target.substr(5);
    if (path.rfind("//", 0) == 0) path = path.substr(2);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
      return InvalidArgumentError("bad unix socket path in target " + target);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return UnavailableError(Errno("socket"));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Status st = (errno == EINPROGRESS || errno == EAGAIN)
                      ? wait_connected(fd)
                      : UnavailableError("connect " + target + ": " +
                                         std::strerror(errno));
      if (!st.ok()) {
        ::close(fd);
        return st;
      }
    }
    return fd;
  }

  std::string host, port;
  if (!target.empty() && target[0] == '[') {
    size_t close = target.find(']');
    if (close == std::string::npos || close + 1 >= target.size() ||
        target[close + 1] != ':') {
      return InvalidArgumentError("bad target " + target);
    }
    host = target.substr(1, close - 1);
    port = target.substr(close + 2);
  } else {
    size_t colon = target.rfind(':');
    if (colon == std::string::npos)
      return InvalidArgumentError("target " + target + " has no port");
    host = target.substr(0, colon);
    port = target.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int gai = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0)
    return UnavailableError("resolve " + target + ": " + gai_strerror(gai));
  Status last = UnavailableError("connect " + target + ": no address");
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 ai->ai_protocol);
    if (fd < 0) {
      last = UnavailableError(Errno("socket"));
      continue;
    }
    Status st;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      st = errno == EINPROGRESS ? wait_connected(fd)
                                : UnavailableError("connect " + target + ": " +
                                                   std::strerror(errno));
    }
    if (st.ok()) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::freeaddrinfo(res);
      return fd;
    }
    ::close(fd);
    last = st;
  }
  ::freeaddrinfo(res);
  return last;
}

}  // namespace

// One HTTP/2 connection, its nghttp2 session and its I/O thread. Only the I/O
// thread touches the session and the socket; others talk to it with Post().
class Connection {
 public:
  enum class CommandKind { kSubmit, kResume, kReset, kConsume };
  struct Command {
    CommandKind kind;
    std::shared_ptr<StreamState> stream;
    size_t bytes = 0;
  };

  static StatusOr<std::shared_ptr<Connection>> Open(
      const ChannelOptions& options);
  ~Connection() {
    Shutdown();
    if (session_ != nullptr) nghttp2_session_del(session_);
    ::close(fd_);
    ::close(wake_fd_);
  }

  // False once the connection failed or the server sent GOAWAY: new calls
  // must go to a new connection.
  bool usable() const { return !dead_.load() && !goaway_.load(); }

  // Queues a command for the I/O thread. False when the connection is dead
  // (the command is dropped; a dead connection has failed all its streams).
  bool Post(Command command) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (dead_.load()) return false;
      wake = queue_.empty();
      queue_.push_back(std::move(command));
    }
    if (wake) Wake();
    return true;
  }

  // Fails every stream with Cancelled and joins the I/O thread. Idempotent;
  // never called from the I/O thread.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      stop_requested_ = true;
    }
    Wake();
    std::lock_guard<std::mutex> lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  Connection(const ChannelOptions& options, int fd, int wake_fd)
      : options_(options), fd_(fd), wake_fd_(wake_fd), read_buf_(256 * 1024) {}

 private:
  Status InitSession();
  void Run();
  void Handle(Command& c);
  void Submit(const std::shared_ptr<StreamState>& s);
  bool Flush(Status* error);
  bool ReadSocket(Status* error);
  void Wake() {
    uint64_t one = 1;
    ssize_t r = ::write(wake_fd_, &one, sizeof(one));
    (void)r;  // a full eventfd counter still wakes the poller
  }
  StreamState* Find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  bool Live(const StreamState& s) {
    auto it = streams_.find(s.id);
    return s.id > 0 && it != streams_.end() && it->second.get() == &s;
  }

  // nghttp2 callbacks (I/O thread).
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t flags, void* user);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id,
                           uint32_t error_code, void* user);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                         void* user);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame,
                         void* user);
  static int OnFrameNotSend(nghttp2_session*, const nghttp2_frame* frame,
                            int error, void* user);
  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf,
                          size_t length, uint32_t* data_flags,
                          nghttp2_data_source* source, void* user);

  const ChannelOptions options_;
  const int fd_;
  const int wake_fd_;
  nghttp2_session* session_ = nullptr;
  std::thread thread_;
  std::mutex join_mu_;

  std::mutex queue_mu_;
  std::vector<Command> queue_;   // guarded by queue_mu_
  bool stop_requested_ = false;  // guarded by queue_mu_
  std::atomic<bool> dead_{false};
  std::atomic<bool> goaway_{false};

  // I/O thread only.
  std::unordered_map<int32_t, std::shared_ptr<StreamState>> streams_;
  std::string out_buf_;
  size_t out_off_ = 0;
  std::vector<uint8_t> read_buf_;

  friend class ClientStream;
};

StatusOr<std::shared_ptr<Connection>> Connection::Open(
    const ChannelOptions& options) {
  KITE_ASSIGN_OR_RETURN(int fd, Dial(options.target, options.connect_timeout));
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    ::close(fd);
    return InternalError(Errno("eventfd"));
  }
  auto c = std::make_shared<Connection>(options, fd, wake_fd);
  Status st = c->InitSession();
  if (!st.ok()) return st;  // the destructor closes both descriptors
  c->thread_ = std::thread([raw = c.get()] { raw->Run(); });
  return c;
}

Status Connection::InitSession() {
  nghttp2_session_callbacks* cbs;
  if (nghttp2_session_callbacks_new(&cbs) != 0)
    return InternalError("nghttp2: out of memory");
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Connection::OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cbs, &Connection::OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cbs, &Connection::OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      cbs, &Connection::OnFrameRecv);
  nghttp2_session_callbacks_set_on_frame_send_callback(
      cbs, &Connection::OnFrameSend);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(
      cbs, &Connection::OnFrameNotSend);
  nghttp2_option* opt;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    return InternalError("nghttp2: out of memory");
  }
  // We grant window as the application consumes data (back-pressure).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  int rv = nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    session_ = nullptr;
    return InternalError(std::string("nghttp2: ") + nghttp2_strerror(rv));
  }
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
       static_cast<uint32_t>(options_.stream_window_bytes)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 1 << 20},
  };
  rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                               std::size(settings));
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(
        session_, NGHTTP2_FLAG_NONE, 0, options_.connection_window_bytes);
  }
  if (rv != 0)
    return InternalError(std::string("nghttp2: ") + nghttp2_strerror(rv));
  return Status::Ok();
}

void Connection::Run() {
  std::vector<Command> commands;
  Status exit_status = UnavailableError("connection closed");
  bool stopped = false;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      commands.swap(queue_);
      stopped = stop_requested_;
    }
    if (stopped) {
      exit_status = CancelledError("channel closed");
      break;
    }
    for (Command& c : commands) Handle(c);
    commands.clear();
    if (!Flush(&exit_status)) break;
    if (out_off_ == out_buf_.size() && !nghttp2_session_want_read(session_) &&
        !nghttp2_session_want_write(session_)) {
      exit_status =
          UnavailableError(goaway_.load() ? "connection closed after GOAWAY"
                                          : "connection closed");
      break;
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (out_off_ < out_buf_.size()) fds[0].events |= POLLOUT;
    int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      exit_status = UnavailableError(Errno("poll"));
      break;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t n;
      ssize_t rr = ::read(wake_fd_, &n, sizeof(n));
      (void)rr;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!ReadSocket(&exit_status)) break;
    }
  }

  // Tear down: nothing new gets queued once dead_ is set.
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    dead_.store(true);
    for (Command& c : queue_) commands.push_back(std::move(c));
    queue_.clear();
  }
  for (Command& c : commands) {
    if (c.kind == CommandKind::kSubmit)
      FinishStream(*c.stream, exit_status, /*refused=*/!stopped);
  }
  for (auto& [id, s] : streams_)
    FinishStream(*s, exit_status, /*refused=*/!stopped && !s->opened);
  streams_.clear();
}

void Connection::Handle(Command& c) {
  StreamState& s = *c.stream;
  switch (c.kind) {
    case CommandKind::kSubmit:
      Submit(c.stream);
      break;
    case CommandKind::kResume:
      if (Live(s) && s.opened) nghttp2_session_resume_data(session_, s.id);
      break;
    case CommandKind::kReset:
      if (Live(s)) {
        if (s.opened) {
          nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id,
                                    NGHTTP2_CANCEL);
        } else {
          s.reset_pending = true;
        }
      }
      break;
    case CommandKind::kConsume:
      if (Live(s)) nghttp2_session_consume_stream(session_, s.id, c.bytes);
      break;
  }
}

void Connection::Submit(const std::shared_ptr<StreamState>& s) {
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->done) return;  // cancelled before it was sent
  }
  std::string authority = options_.authority;
  if (authority.empty()) {
    authority =
        options_.target.rfind("unix:", 0) == 0 ? "localhost" : options_.target;
  }
  std::vector<std::pair<std::string_view, std::string_view>> headers = {
      {":method", "POST"},
      {":scheme", "http"},
      {":path", s->path},
      {":authority", authority},
      {"content-type", "application/grpc"},
      {"te", "trailers"},
      {"user-agent", "kite-grpc/0.1"},
  };
  if (!s->timeout_header.empty())
    headers.emplace_back("grpc-timeout", s->timeout_header);
  for (const auto& [k, v] : options_.metadata) headers.emplace_back(k, v);
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    nva.push_back(
        {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(k.data())),
         const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(v.data())),
         k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider body;
  body.source.ptr = s.get();
  body.read_callback = &Connection::ReadBody;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                      &body, s.get());
  if (id < 0) {
    FinishStream(
        *s,
        UnavailableError(std::string("http2 submit: ") + nghttp2_strerror(id)),
        /*refused=*/true);
    return;
  }
  s->id = id;
  streams_[id] = s;
}

bool Connection::Flush(Status* error) {
  constexpr size_t kHighWater = 256 * 1024;
  while (true) {
    if (out_off_ == out_buf_.size()) {
      out_buf_.clear();
      out_off_ = 0;
    }
    while (out_buf_.size() - out_off_ < kHighWater) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        *error = UnavailableError(std::string("http2: ") +
                                  nghttp2_strerror(static_cast<int>(n)));
        return false;
      }
      if (n == 0) break;
      out_buf_.append(reinterpret_cast<const char*>(data),
                      static_cast<size_t>(n));
    }
    if (out_off_ == out_buf_.size()) return true;
    ssize_t w = ::send(fd_, out_buf_.data() + out_off_,
                       out_buf_.size() - out_off_, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      *error = UnavailableError(Errno("send"));
      return false;
    }
    out_off_ += static_cast<size_t>(w);
  }
}

bool Connection::ReadSocket(Status* error) {
  // Bounded so queued commands are not starved by a fast sender.
  for (int i = 0; i < 16; ++i) {
    ssize_t r = ::recv(fd_, read_buf_.data(), read_buf_.size(), 0);
    if (r > 0) {
      ssize_t rv = nghttp2_session_mem_recv(session_, read_buf_.data(),
                                            static_cast<size_t>(r));
      if (rv < 0) {
        *error = UnavailableError(std::string("http2: ") +
                                  nghttp2_strerror(static_cast<int>(rv)));
        return false;
      }
      if (static_cast<size_t>(r) < read_buf_.size()) return true;
      continue;
    }
    if (r == 0) {
      *error = UnavailableError("connection closed by server");
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    *error = UnavailableError(Errno("recv"));
    return false;
  }
  return true;
}

int Connection::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                         const uint8_t* name, size_t namelen,
                         const uint8_t* value, size_t valuelen, uint8_t,
                         void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  StreamState* s = c->Find(frame->hd.stream_id);
  if (s == nullptr) return 0;
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  auto to_int = [](std::string_view text, int fallback) {
    if (text.empty() || text.size() > 9) return fallback;
    int r = 0;
    for (char ch : text) {
      if (ch < '0' || ch > '9') return fallback;
      r = r * 10 + (ch - '0');
    }
    return r;
  };
  if (n == ":status") {
    s->http_status = to_int(v, 0);
  } else if (n == "grpc-status") {
    s->grpc_status = to_int(v, 2);  // unparseable: UNKNOWN
  } else if (n == "grpc-message") {
    s->grpc_message = PercentDecode(v);
  }
  return 0;
}

int Connection::OnDataChunk(nghttp2_session* session, uint8_t,
                            int32_t stream_id, const uint8_t* data, size_t len,
                            void* user) {
  auto* c = static_cast<Connection*>(user);
  nghttp2_session_consume_connection(session, len);
  StreamState* s = c->Find(stream_id);
  if (s == nullptr) return 0;
  if (!s->local_error.ok()) {
    nghttp2_session_consume_stream(session, stream_id, len);
    return 0;
  }
  std::deque<std::string> got;
  Status st = s->reader.Feed(
      std::string_view(reinterpret_cast<const char*>(data), len), &got);
  if (!st.ok()) {
    s->local_error = st;
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
                              NGHTTP2_CANCEL);
    nghttp2_session_consume_stream(session, stream_id, len);
    return 0;
  }
  bool hold = false;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    for (std::string& m : got) {
      s->queued_bytes += m.size() + kGrpcFrameHeaderBytes;
      s->messages.push_back(std::move(m));
    }
    if (!s->unary && s->queued_bytes > c->options_.stream_buffer_bytes) {
      hold = true;
      s->deferred_consume += len;
    }
  }
  if (!hold) nghttp2_session_consume_stream(session, stream_id, len);
  // A unary caller waits for the end of the stream, not for the message.
  if (!got.empty() && !s->unary) s->cv.notify_all();
  return 0;
}

int Connection::OnStreamClose(nghttp2_session*, int32_t stream_id,
                              uint32_t error_code, void* user) {
  auto* c = static_cast<Connection*>(user);
  auto it = c->streams_.find(stream_id);
  if (it == c->streams_.end()) return 0;
  std::shared_ptr<StreamState> s = std::move(it->second);
  c->streams_.erase(it);
  Status st;
  bool refused = false;
  if (!s->local_error.ok()) {
    st = s->local_error;
  } else if (s->grpc_status >= 0) {
    st = StatusFromGrpc(s->grpc_status, s->grpc_message);
    if (st.ok() && !s->reader.empty())
      st = InternalError("grpc: stream ended inside a message");
  } else if (error_code == NGHTTP2_REFUSED_STREAM) {
    st = UnavailableError("grpc: stream refused by server");
    refused = true;
  } else if (error_code == NGHTTP2_CANCEL) {
    st = CancelledError("grpc: stream cancelled");
  } else if (error_code != NGHTTP2_NO_ERROR) {
    st = UnavailableError(std::string("grpc: stream reset: ") +
                          nghttp2_http2_strerror(error_code));
  } else if (s->http_status != 0 && s->http_status != 200) {
    st = StatusFromHttp(s->http_status);
  } else {
    st = InternalError("grpc: stream ended without grpc-status");
  }
  FinishStream(*s, std::move(st), refused);
  return 0;
}

int Connection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                            void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    if (!c->goaway_.exchange(true)) {
      log::Debug("rpc", "server sent GOAWAY")("target", c->options_.target)(
          "error_code", frame->goaway.error_code)("last_stream_id",
                                                  frame->goaway.last_stream_id);
    }
  }
  return 0;
}

int Connection::OnFrameSend(nghttp2_session* session,
                            const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  StreamState* s = c->Find(frame->hd.stream_id);
  if (s == nullptr || s->opened) return 0;
  s->opened = true;
  if (s->reset_pending)
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id,
                              NGHTTP2_CANCEL);
  return 0;
}

int Connection::OnFrameNotSend(nghttp2_session*, const nghttp2_frame* frame,
                               int error, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto it = c->streams_.find(frame->hd.stream_id);
  if (it == c->streams_.end() || it->second->opened) return 0;
  std::shared_ptr<StreamState> s = std::move(it->second);
  c->streams_.erase(it);
  FinishStream(*s,
               UnavailableError(std::string("grpc: request not sent: ") +
                                nghttp2_strerror(error)),
               /*refused=*/true);
  return 0;
}

ssize_t Connection::ReadBody(nghttp2_session*, int32_t, uint8_t* buf,
                             size_t length, uint32_t* data_flags,
                             nghttp2_data_source* source, void*) {
  auto* s = static_cast<StreamState*>(source->ptr);
  std::lock_guard<std::mutex> lock(s->mu);
  size_t n = std::min(length, s->out.size() - s->out_off);
  if (n > 0) {
    std::memcpy(buf, s->out.data() + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out.size()) {
      s->out.clear();
      s->out_off = 0;
    }
  }
  if (s->out.empty() && s->send_closed) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

// ---------------------------------------------------------------------------

ClientStream::ClientStream(std::shared_ptr<Connection> connection,
                           std::shared_ptr<StreamState> state)
    : connection_(std::move(connection)), state_(std::move(state)) {}

ClientStream::~ClientStream() { Cancel(); }

Status ClientStream::Send(std::string_view message) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->done)
      return state_->final_status.ok()
                 ? FailedPreconditionError("stream has ended")
                 : state_->final_status;
    if (state_->send_closed)
      return FailedPreconditionError("Send after CloseSend");
    AppendGrpcFrame(&state_->out, message);
  }
  if (!connection_->Post({Connection::CommandKind::kResume, state_})) {
    return UnavailableError("grpc: connection closed");
  }
  return Status::Ok();
}

Status ClientStream::CloseSend() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->done || state_->send_closed) return Status::Ok();
    state_->send_closed = true;
  }
  if (!connection_->Post({Connection::CommandKind::kResume, state_})) {
    return UnavailableError("grpc: connection closed");
  }
  return Status::Ok();
}

ClientStream::ReadResult ClientStream::Read(std::string* message,
                                            std::chrono::milliseconds timeout) {
  size_t grant = 0;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->cv.wait_for(lock, timeout, [&] {
      return !state_->messages.empty() || state_->done;
    });
    if (state_->messages.empty())
      return state_->done ? ReadResult::kEnd : ReadResult::kTimeout;
    *message = std::move(state_->messages.front());
    state_->messages.pop_front();
    state_->queued_bytes -= message->size() + kGrpcFrameHeaderBytes;
    if (state_->deferred_consume > 0 &&
        state_->queued_bytes <= connection_->options_.stream_buffer_bytes &&
        !state_->done) {
      grant = state_->deferred_consume;
      state_->deferred_consume = 0;
    }
  }
  if (grant > 0)
    connection_->Post({Connection::CommandKind::kConsume, state_, grant});
  return ReadResult::kMessage;
}

Status ClientStream::FinalStatus() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->final_status;
}

void ClientStream::Cancel() {
  if (FinishStream(*state_, CancelledError("grpc: cancelled by client"))) {
    connection_->Post({Connection::CommandKind::kReset, state_});
  }
}

// ---------------------------------------------------------------------------

GrpcChannel::GrpcChannel(ChannelOptions options)
    : options_(std::move(options)) {}

GrpcChannel::~GrpcChannel() {
  std::vector<std::weak_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(all_);
    connection_.reset();
  }
  for (auto& weak : all) {
    if (auto c = weak.lock()) c->Shutdown();
  }
}

StatusOr<std::shared_ptr<Connection>> GrpcChannel::GetConnection() {
  std::lock_guard<std::mutex> lock(mu_);
  if (connection_ && connection_->usable()) return connection_;
  connection_.reset();
  KITE_ASSIGN_OR_RETURN(connection_, Connection::Open(options_));
  std::erase_if(all_,
                [](const std::weak_ptr<Connection>& w) { return w.expired(); });
  all_.push_back(connection_);
  return connection_;
}

Status GrpcChannel::Connect() { return GetConnection().status(); }

StatusOr<std::string> GrpcChannel::Call(std::string_view method_path,
                                        std::string_view request,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  constexpr int kAttempts = 3;  // resend only what the server never processed
  Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    KITE_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, GetConnection());
    auto s = std::make_shared<StreamState>(true, std::string(method_path),
                                           options_.max_receive_message_bytes);
    AppendGrpcFrame(&s->out, request);
    s->send_closed = true;
    s->timeout_header =
        FormatGrpcTimeout(deadline - std::chrono::steady_clock::now());
    if (!conn->Post({Connection::CommandKind::kSubmit, s})) {
      last = UnavailableError("grpc: connection closed");
      continue;
    }
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->cv.wait_until(lock, deadline, [&] { return s->done; })) {
      s->done = true;
      s->final_status = DeadlineExceededError(
          "grpc: deadline exceeded calling " + std::string(method_path));
      lock.unlock();
      conn->Post({Connection::CommandKind::kReset, s});
      return DeadlineExceededError("grpc: deadline exceeded calling " +
                                   std::string(method_path));
    }
    if (!s->final_status.ok()) {
      last = s->final_status;
      if (s->refused) continue;
      return last;
    }
    if (s->messages.size() != 1) {
      return InternalError("grpc: unary call " + std::string(method_path) +
                           " got " + std::to_string(s->messages.size()) +
                           " response messages");
    }
    return std::move(s->messages.front());
  }
  return last;
}

StatusOr<std::unique_ptr<ClientStream>> GrpcChannel::OpenStream(
    std::string_view method_path) {
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    KITE_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, GetConnection());
    auto s = std::make_shared<StreamState>(false, std::string(method_path),
                                           options_.max_receive_message_bytes);
    if (conn->Post({Connection::CommandKind::kSubmit, s})) {
      return std::make_unique<ClientStream>(std::move(conn), std::move(s));
    }
    last = UnavailableError("grpc: connection closed");
  }
  return last;
}

}  // namespace kite::rpc
