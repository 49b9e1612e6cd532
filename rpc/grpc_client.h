// A minimal gRPC client over HTTP/2 (nghttp2, cleartext h2c with prior
// knowledge): unary calls and bidirectional streams of already-encoded
// protobuf messages, to a TCP address (etcd on 127.0.0.1:2379) or a unix
// socket (containerd's CRI). No TLS, no compression, no name resolution
// beyond getaddrinfo, no retries beyond re-sending a call the server refused
// before it started (REFUSED_STREAM, or a GOAWAY that came first).
//
// Design: a GrpcChannel owns at most one live HTTP/2 connection; every call
// and stream is multiplexed on it. Each connection has one I/O thread that
// alone touches the socket and the nghttp2 session; callers hand it commands
// through a queue and an eventfd, and wait on their own stream's condition
// variable. So many threads may call concurrently at the cost of a queue push
// and a wake-up each. The channel connects on first use, and connects anew
// when the connection broke or the server sent GOAWAY (calls still running on
// the old connection finish there).
//
// Flow control: the client advertises large windows (16 MiB per stream,
// 64 MiB per connection by default), so a 10 MB response streams without
// stalls. Unary responses are consumed as they arrive. A stream that has more
// than `stream_buffer_bytes` of received, unread messages stops granting the
// server window until the reader catches up (back-pressure, no unbounded
// buffering).
//
// Errors: connection failures, resets and GOAWAY refusals are Unavailable;
// a call's own timeout is DeadlineExceeded; grpc-status / grpc-message from
// the trailers map through StatusFromGrpc (grpc_wire.h).
//
// Thread safety: GrpcChannel and ClientStream methods may be called from any
// thread. The channel must outlive no stream (a stream keeps its connection
// alive); destroying the channel cancels its streams.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kite::rpc {

struct ChannelOptions {
  // "127.0.0.1:2379", "[::1]:2379", "localhost:2379", or a unix socket:
  // "unix:/run/containerd/containerd.sock" or "unix:///run/...".
  std::string target;
  // The :authority header; empty means the target's host:port for TCP and
  // "localhost" for a unix socket.
  std::string authority;
  std::chrono::milliseconds connect_timeout{5000};
  // Receive windows we advertise (SETTINGS_INITIAL_WINDOW_SIZE and the
  // connection window).
  int32_t stream_window_bytes = 16 << 20;
  int32_t connection_window_bytes = 64 << 20;
  // Largest message accepted from the server; larger ones fail the call with
  // ResourceExhausted.
  size_t max_receive_message_bytes = 64 << 20;
  // Received but unread bytes a stream holds before it stops granting window.
  size_t stream_buffer_bytes = 4 << 20;
  // Extra headers ("metadata") sent with every call, e.g. an auth token.
  std::vector<std::pair<std::string, std::string>> metadata;
};

class Connection;  // internal: one HTTP/2 connection and its I/O thread
struct StreamState;

// One bidirectional gRPC stream (also used for server-streaming calls: send
// one message, CloseSend(), then read). Send() never blocks on the network.
class ClientStream {
 public:
  enum class ReadResult { kMessage, kTimeout, kEnd };

  ClientStream(std::shared_ptr<Connection> connection,
               std::shared_ptr<StreamState> state);
  // Cancels the stream if it has not ended.
  ~ClientStream();
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  // Queues one message for the server. Fails with the stream's final status
  // once it has ended, or FailedPrecondition after CloseSend().
  Status Send(std::string_view message);
  // Half-closes: the server sees the end of the client's messages.
  Status CloseSend();
  // Waits up to `timeout` for the next message. kMessage: *message holds it.
  // kTimeout: nothing arrived yet. kEnd: the stream is over and every message
  // has been read; FinalStatus() says how it ended.
  ReadResult Read(std::string* message, std::chrono::milliseconds timeout);
  // The status the stream ended with (OK for grpc-status 0); Unavailable
  // while it has not ended.
  Status FinalStatus() const;
  // Ends the stream (RST_STREAM CANCEL); a blocked Read() returns kEnd and the
  // final status is Cancelled. Idempotent.
  void Cancel();

 private:
  std::shared_ptr<Connection> connection_;
  std::shared_ptr<StreamState> state_;
};

class GrpcChannel {
 public:
  explicit GrpcChannel(ChannelOptions options);
  // Cancels every call and stream still running and joins the I/O threads.
  ~GrpcChannel();
  GrpcChannel(const GrpcChannel&) = delete;
  GrpcChannel& operator=(const GrpcChannel&) = delete;

  // Connects now if not connected (optional: calls connect on demand).
  // Unavailable when the server cannot be reached.
  Status Connect();

  // One unary call: `method_path` is "/package.Service/Method", `request`
  // the encoded request message. Returns the encoded response message, or
  // the call's status: DeadlineExceeded after `timeout` (the call is then
  // cancelled), Unavailable when the connection fails, the server's
  // grpc-status otherwise.
  StatusOr<std::string> Call(std::string_view method_path,
                             std::string_view request,
                             std::chrono::milliseconds timeout);

  // Opens a stream for a streaming method. The stream has no deadline of its
  // own; Read() timeouts and Cancel() bound it. Unavailable when no
  // connection can be made.
  StatusOr<std::unique_ptr<ClientStream>> OpenStream(
      std::string_view method_path);

  const ChannelOptions& options() const { return options_; }

 private:
  StatusOr<std::shared_ptr<Connection>> GetConnection();

  const ChannelOptions options_;
  std::mutex mu_;
  std::shared_ptr<Connection> connection_;  // guarded by mu_
  // Every connection made, to shut down those still draining on destruction.
  std::vector<std::weak_ptr<Connection>> all_;  // guarded by mu_
};

}  // namespace kite::rpc
