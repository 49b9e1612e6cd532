// Prober: the network side of container probes and lifecycle hooks, run
// from the agent against the pod's IP (httpGet and tcpSocket). Exec probes
// and hooks go through cri::Runtime::ExecSync instead.
//
// NetProber is the real one (blocking sockets with a timeout, plain HTTP/1.1;
// kite has no HTTPS probes yet, they fail with a message saying so). Unit
// tests pass a fake.
//
// Thread safety: implementations may be called from any thread at once.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace kite::kubelet {

struct ProbeResult {
  bool success = false;
  // Why it failed, in kubelet's words ("HTTP probe failed with statuscode:
  // 500", "dial tcp 10.42.0.5:80: connect: connection refused").
  std::string message;
};

struct HttpGetProbe {
  std::string host;  // the pod IP unless httpGet.host is set
  int port = 0;
  std::string path = "/";
  std::string scheme = "HTTP";
  std::vector<std::pair<std::string, std::string>> headers;
};

class Prober {
 public:
  virtual ~Prober() = default;
  // Success for an answer with status 200..399 within `timeout`.
  virtual ProbeResult HttpGet(const HttpGetProbe& probe,
                              std::chrono::milliseconds timeout) = 0;
  // Success when a TCP connection opens within `timeout`.
  virtual ProbeResult TcpConnect(const std::string& host, int port,
                                 std::chrono::milliseconds timeout) = 0;
};

class NetProber : public Prober {
 public:
  ProbeResult HttpGet(const HttpGetProbe& probe,
                      std::chrono::milliseconds timeout) override;
  ProbeResult TcpConnect(const std::string& host, int port,
                         std::chrono::milliseconds timeout) override;
};

}  // namespace kite::kubelet
