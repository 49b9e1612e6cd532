// The kubelet API's side of streaming towards the container runtime
// (docs/streaming.md): talking to containerd's stream server, and the
// bridges that serve kubectl's WebSocket protocols on top of it.
//
// - Runtime helpers: parse the one-use URL the runtime hands out, connect,
//   read an HTTP answer head.
// - BridgeRemoteCommand: kubectl's exec/attach over WebSocket
//   (`v5.channel.k8s.io`, or `v4.channel.k8s.io`: binary messages whose
//   first byte is the channel, 0 stdin, 1 stdout, 2 stderr, 3 the final
//   Status, 4 resize; v5 adds [255, ch] to close a channel) turned into
//   the runtime's SPDY remotecommand v4 (a stream per channel, opened by
//   the kubelet as the SPDY client; stdin closed with FIN). The Status the
//   runtime writes on its error stream goes out on channel 3, then a close
//   frame 1000. Pings are answered.
// - TunnelPortForward: kubectl's port-forward over WebSocket
//   (`SPDY/3.1+portforward.k8s.io`: SPDY carried in binary messages) as a
//   byte tunnel to the runtime's SPDY port-forward: message payloads go
//   to the runtime as they are, runtime bytes come back as binary
//   messages; both SPDY ends (kubectl and containerd) speak to each other.
//
// Thread safety: each call runs on the connection's thread and blocks until
// the session ends; nothing is shared.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace kite::tls {
class HijackedConnection;
}

namespace kite::kubelet {

inline constexpr std::chrono::milliseconds kUpstreamTimeout{10000};

struct Url {
  std::string host;
  int port = 0;
  std::string path;  // with the query
};

// http://host:port/path (what containerd's stream server hands out).
StatusOr<Url> ParseHttpUrl(const std::string& url);
// A connected TCP socket to host:port (blocking mode).
StatusOr<int> ConnectTcp(const std::string& host, int port);
bool SendAll(int fd, std::string_view data);
// Reads from `fd` until the end of an HTTP answer head: `head` up to and
// including the blank line, `rest` what followed.
Status ReadHead(int fd, std::string* head, std::string* rest);
// The status code of a head ("HTTP/1.1 101 ..."), 0 when it is not HTTP.
int StatusCodeOf(const std::string& head);
// The first value of header `name` in `head`, or "".
std::string HeaderOf(const std::string& head, const char* name);

// An SPDY/3.1 session opened on the runtime's stream server at `url`
// (POST with Upgrade: SPDY/3.1 and X-Stream-Protocol-Version: `protocol`).
struct RuntimeSession {
  int fd = -1;           // the caller closes it
  std::string rest;      // bytes received after the 101
  std::string protocol;  // what the runtime chose
};
StatusOr<RuntimeSession> OpenRuntimeSpdy(const std::string& url,
                                         const std::string& protocol);

struct ChannelOptions {
  bool use_stdin = false;
  bool use_stdout = false;
  bool use_stderr = false;
  bool tty = false;
};

// Writes the 101 answering the client's WebSocket handshake.
bool AcceptWebSocket(tls::HijackedConnection& client, const std::string& key,
                     const std::string& protocol);

// See the file comment. `client` has been answered 101 already.
void BridgeRemoteCommand(tls::HijackedConnection& client,
                         RuntimeSession& runtime,
                         const ChannelOptions& options);
void TunnelPortForward(tls::HijackedConnection& client,
                       RuntimeSession& runtime);

}  // namespace kite::kubelet
