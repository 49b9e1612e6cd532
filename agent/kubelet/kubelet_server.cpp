#include "agent/kubelet/kubelet_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/kubelet/container_logs.h"
#include "agent/kubelet/stream_bridge.h"
#include "agent/kubelet/websocket.h"
#include "common/log.h"
#include "tls/byte_pipe.h"
#include "tls/tls_server.h"

namespace kite::kubelet {
namespace {

using nlohmann::json;

constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";
constexpr size_t kMaxErrorBody = 1024 * 1024;

// A Kubernetes Status, what kubectl prints for a failure.
void WriteStatus(httplib::Response& res, int code, const std::string& reason,
                 const std::string& message) {
  json status = {
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
      {"status", "Failure"}, {"message", message}, {"reason", reason},
      {"code", code}};
  res.status = code;
  res.set_content(status.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

void WriteError(httplib::Response& res, const Status& st) {
  switch (st.code()) {
    case Code::kNotFound:
      WriteStatus(res, 404, "NotFound", st.message());
      return;
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
      WriteStatus(res, 400, "BadRequest", st.message());
      return;
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
      WriteStatus(res, 503, "ServiceUnavailable", st.message());
      return;
    default:
      WriteStatus(res, 500, "InternalError", st.message());
  }
}

bool BoolParam(const httplib::Request& req, const char* name,
               const char* alias = nullptr) {
  for (const char* n : {name, alias}) {
    if (n == nullptr || !req.has_param(n)) continue;
    std::string v = req.get_param_value(n);
    return v.empty() || v == "true" || v == "1" || v == "True";
  }
  return false;
}

// The pod's newest sandbox, preferring a ready one.
StatusOr<cri::PodSandbox> FindSandbox(cri::Runtime& runtime,
                                      const std::string& ns,
                                      const std::string& pod) {
  cri::PodSandboxFilter filter;
  filter.label_selector = {{kPodNamespaceLabel, ns}, {kPodNameLabel, pod}};
  KITE_ASSIGN_OR_RETURN(std::vector<cri::PodSandbox> boxes,
                        runtime.ListPodSandbox(filter));
  if (boxes.empty()) {
    return NotFoundError("pod \"" + pod + "\" in namespace \"" + ns +
                         "\" is not running on this node");
  }
  std::sort(boxes.begin(), boxes.end(),
            [](const cri::PodSandbox& a, const cri::PodSandbox& b) {
              bool ra = a.state == cri::SandboxState::kReady;
              bool rb = b.state == cri::SandboxState::kReady;
              if (ra != rb) return ra;
              return a.created_at > b.created_at;
            });
  return boxes.front();
}

// The pod's containers named `name`, newest attempt first.
StatusOr<std::vector<cri::Container>> FindContainers(
    cri::Runtime& runtime, const cri::PodSandbox& sandbox,
    const std::string& ns, const std::string& pod, const std::string& name) {
  cri::ContainerFilter filter;
  filter.label_selector = {{kPodNamespaceLabel, ns},
                           {kPodNameLabel, pod},
                           {kContainerNameLabel, name}};
  auto uid = sandbox.labels.find(kPodUidLabel);
  if (uid != sandbox.labels.end())
    filter.label_selector[kPodUidLabel] = uid->second;
  KITE_ASSIGN_OR_RETURN(std::vector<cri::Container> found,
                        runtime.ListContainers(filter));
  std::sort(found.begin(), found.end(),
            [](const cri::Container& a, const cri::Container& b) {
              if (a.attempt != b.attempt) return a.attempt > b.attempt;
              return a.created_at > b.created_at;
            });
  return found;
}

// The running container `name` of ns/pod, for exec and attach.
StatusOr<cri::Container> RunningContainer(cri::Runtime& runtime,
                                          const std::string& ns,
                                          const std::string& pod,
                                          const std::string& name) {
  KITE_ASSIGN_OR_RETURN(cri::PodSandbox sandbox, FindSandbox(runtime, ns, pod));
  KITE_ASSIGN_OR_RETURN(std::vector<cri::Container> found,
                        FindContainers(runtime, sandbox, ns, pod, name));
  for (const cri::Container& c : found) {
    if (c.state == cri::ContainerState::kRunning) return c;
  }
  return NotFoundError("container not found (\"" + name + "\")");
}

// The WebSocket protocol of kubectl's this kubelet serves itself for
// `req` (exec/attach: v5 or v4 channels; port-forward: SPDY tunnelled in
// WebSocket), or "" when the request is to be relayed as it is.
std::string ServedWebSocketProtocol(const httplib::Request& req,
                                    bool port_forward) {
  if (req.method != "GET" ||
      strcasecmp(req.get_header_value("Upgrade").c_str(), "websocket") != 0 ||
      !req.has_header("Sec-WebSocket-Key")) {
    return "";
  }
  for (size_t i = 0, n = req.get_header_value_count("Sec-WebSocket-Protocol");
       i < n; ++i) {
    for (const std::string& p : ws::SplitProtocols(
             req.get_header_value("Sec-WebSocket-Protocol", i))) {
      if (port_forward && p == "SPDY/3.1+portforward.k8s.io") return p;
      if (!port_forward &&
          (p == "v5.channel.k8s.io" || p == "v4.channel.k8s.io")) {
        return p;
      }
    }
  }
  return "";
}

// Serves a WebSocket request with `protocol` on a new SPDY session with
// the runtime at `url` (stream_bridge.h).
void BridgeWebSocket(const httplib::Request& req, httplib::Response& res,
                     const std::string& url, const std::string& protocol,
                     const ChannelOptions* channels) {
  auto runtime = OpenRuntimeSpdy(
      url, channels ? "v4.channel.k8s.io" : "portforward.k8s.io");
  if (!runtime.ok()) return WriteError(res, runtime.status());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{runtime->fd};
  tls::HijackedConnection* conn = tls::TlsServer::Hijack(req);
  if (conn == nullptr) {
    return WriteError(res, InternalError("the connection cannot be upgraded"));
  }
  if (!AcceptWebSocket(*conn, req.get_header_value("Sec-WebSocket-Key"),
                       protocol)) {
    return;
  }
  if (channels != nullptr) {
    BridgeRemoteCommand(*conn, *runtime, *channels);
  } else {
    TunnelPortForward(*conn, *runtime);
  }
  log::Debug("kubelet", "websocket stream ended")("path", req.path)("protocol",
                                                                    protocol);
}

// Headers of the client's request that are not passed to the runtime.
bool DropHeader(const std::string& name) {
  for (const char* h : {"Host", "Content-Length", "Transfer-Encoding",
                        "Authorization", "LOCAL_ADDR", "LOCAL_PORT",
                        "REMOTE_ADDR", "REMOTE_PORT", tls::kClientCnHeader,
                        tls::kClientOrgHeader, tls::kClientCertErrorHeader}) {
    if (strcasecmp(name.c_str(), h) == 0) return true;
  }
  return false;
}

// Sends the client's request to the runtime's stream server at `url` and
// relays the answer: after a 101 the connection is taken over and bytes
// are copied both ways until either side closes.
void ProxyToStreamServer(const httplib::Request& req, httplib::Response& res,
                         const std::string& url) {
  auto target = ParseHttpUrl(url);
  if (!target.ok()) return WriteError(res, target.status());
  auto fd = ConnectTcp(target->host, target->port);
  if (!fd.ok()) return WriteError(res, fd.status());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{*fd};

  std::string out = req.method + " " + target->path + " HTTP/1.1\r\n";
  out += "Host: " + target->host + ":" + std::to_string(target->port) + "\r\n";
  for (const auto& [k, v] : req.headers) {
    if (DropHeader(k)) continue;
    out += k + ": " + v + "\r\n";
  }
  if (!req.body.empty())
    out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  out += "\r\n";
  out += req.body;
  if (!SendAll(*fd, out)) {
    return WriteError(res, UnavailableError("writing to the runtime's stream "
                                            "server failed"));
  }
  std::string head, rest;
  if (Status st = ReadHead(*fd, &head, &rest); !st.ok())
    return WriteError(res, st);
  int code = StatusCodeOf(head);
  if (code == 101) {
    tls::HijackedConnection* conn = tls::TlsServer::Hijack(req);
    if (conn == nullptr) {
      return WriteError(res,
                        InternalError("the connection cannot be upgraded"));
    }
    if (!conn->Write(head + rest, kUpstreamTimeout)) return;
    tls::PipeEnd client = tls::PipeEndOf(*conn);
    tls::PipeEnd upstream = tls::PipeEndOfSocket(*fd);
    size_t up = 0, down = 0;
    tls::Pipe(client, upstream, std::chrono::milliseconds(0), &up, &down);
    log::Debug("kubelet", "stream ended")("path", req.path)("bytes_in", up)(
        "bytes_out", down);
    return;
  }
  if (code == 0) {
    return WriteError(res,
                      UnavailableError("the runtime's stream server answered "
                                       "something that is not HTTP"));
  }
  // Any other answer (the runtime refused the protocol, say): relayed with
  // its body, so the client sees why and may fall back.
  std::string body = rest;
  std::string cl = HeaderOf(head, "Content-Length");
  size_t want = kMaxErrorBody;
  if (!cl.empty()) {
    want =
        std::min<size_t>(kMaxErrorBody, std::strtoull(cl.c_str(), nullptr, 10));
  }
  while (body.size() < want) {
    pollfd p{*fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kUpstreamTimeout.count())) <= 0) break;
    char tmp[4096];
    ssize_t r = ::recv(*fd, tmp, sizeof(tmp), 0);
    if (r <= 0) break;
    body.append(tmp, static_cast<size_t>(r));
  }
  if (body.size() > want) body.resize(want);
  std::string type = HeaderOf(head, "Content-Type");
  res.status = code;
  res.set_content(body, type.empty() ? "text/plain" : type);
}

}  // namespace

struct KubeletServer::Impl {
  // GET /containerLogs/<ns>/<pod>/<container>
  static void Logs(KubeletServer& s, const httplib::Request& req,
                   httplib::Response& res) {
    const std::string ns = req.matches[1];
    const std::string pod = req.matches[2];
    const std::string name = req.matches[3];
    auto opts = ParseLogOptions(
        [&](const char* n) { return req.get_param_value(n); },
        [&](const char* n) { return req.has_param(n); }, s.clock_.Now());
    if (!opts.ok()) return WriteError(res, opts.status());
    bool previous = BoolParam(req, "previous");
    auto sandbox = FindSandbox(s.runtime_, ns, pod);
    if (!sandbox.ok()) return WriteError(res, sandbox.status());
    auto found = FindContainers(s.runtime_, *sandbox, ns, pod, name);
    if (!found.ok()) return WriteError(res, found.status());
    const cri::Container* target = nullptr;
    if (previous) {
      if (found->size() >= 2) target = &(*found)[1];
      if (target == nullptr) {
        return WriteStatus(res, 400, "BadRequest",
                           "previous terminated container \"" + name +
                               "\" in pod \"" + pod + "\" not found");
      }
    } else {
      if (found->empty()) {
        return WriteStatus(res, 400, "BadRequest",
                           "container \"" + name + "\" in pod \"" + pod +
                               "\" is waiting to start: ContainerCreating");
      }
      target = &found->front();
    }
    auto status = s.runtime_.GetContainerStatus(target->id);
    if (!status.ok()) return WriteError(res, status.status());
    if (status->log_path.empty()) {
      return WriteStatus(
          res, 400, "BadRequest",
          "container \"" + name + "\" in pod \"" + pod + "\" has no log file");
    }
    // A previous container's log never grows: no follow.
    LogOptions o = *opts;
    if (previous || status->state != cri::ContainerState::kRunning)
      o.follow = false;
    auto stream = LogStream::Open(status->log_path, o);
    if (!stream.ok()) return WriteError(res, stream.status());

    struct Session {
      std::unique_ptr<LogStream> stream;
      std::string container_id;
      Clock::MonoTime next_check;
    };
    auto session = std::make_shared<Session>();
    session->stream = std::move(stream).value();
    session->container_id = target->id;
    session->next_check =
        s.clock_.Monotonic() + s.options_.follow_check_interval;
    KubeletServer* self = &s;
    bool follow = o.follow;
    res.set_chunked_content_provider(
        "text/plain", [self, session, follow](size_t, httplib::DataSink& sink) {
          if (!sink.is_writable()) return false;
          std::string out;
          bool more = session->stream->Next(
              &out, std::min<std::chrono::milliseconds>(
                        self->options_.follow_check_interval,
                        std::chrono::milliseconds(1000)));
          if (more && follow &&
              self->clock_.Monotonic() >= session->next_check) {
            session->next_check =
                self->clock_.Monotonic() + self->options_.follow_check_interval;
            auto st = self->runtime_.GetContainerStatus(session->container_id);
            if (!st.ok() || st->state != cri::ContainerState::kRunning) {
              session->stream->Finish(&out);
              more = false;
            }
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (!more) sink.done();
          return true;
        });
  }

  static std::vector<std::string> Commands(const httplib::Request& req) {
    std::vector<std::string> cmd;
    for (size_t i = 0, n = req.get_param_value_count("command"); i < n; ++i)
      cmd.push_back(req.get_param_value("command", i));
    return cmd;
  }

  // /exec/<ns>/<pod>/<container> and /attach/<ns>/<pod>/<container>
  static void ExecOrAttach(KubeletServer& s, bool exec,
                           const httplib::Request& req,
                           httplib::Response& res) {
    const std::string ns = req.matches[1];
    const std::string pod = req.matches[2];
    const std::string name = req.matches[3];
    bool tty = BoolParam(req, "tty");
    bool in = BoolParam(req, "stdin", "input");
    bool out = BoolParam(req, "stdout", "output");
    bool err = BoolParam(req, "stderr", "error") && !tty;
    if (!in && !out && !err) {
      return WriteStatus(res, 400, "BadRequest",
                         "you must specify at least 1 of stdin, stdout, "
                         "stderr");
    }
    std::vector<std::string> cmd = Commands(req);
    if (exec && cmd.empty()) {
      return WriteStatus(res, 400, "BadRequest",
                         "you must specify at least one command for the "
                         "container");
    }
    auto container = RunningContainer(s.runtime_, ns, pod, name);
    if (!container.ok()) return WriteError(res, container.status());
    StatusOr<std::string> url = std::string();
    if (exec) {
      cri::ExecRequest r;
      r.container_id = container->id;
      r.cmd = std::move(cmd);
      r.tty = tty;
      r.use_stdin = in;
      r.use_stdout = out;
      r.use_stderr = err;
      url = s.runtime_.Exec(r);
    } else {
      cri::AttachRequest r;
      r.container_id = container->id;
      r.tty = tty;
      r.use_stdin = in;
      r.use_stdout = out;
      r.use_stderr = err;
      url = s.runtime_.Attach(r);
    }
    if (!url.ok()) return WriteError(res, url.status());
    if (std::string p = ServedWebSocketProtocol(req, false); !p.empty()) {
      ChannelOptions channels{in, out, err, tty};
      return BridgeWebSocket(req, res, *url, p, &channels);
    }
    ProxyToStreamServer(req, res, *url);
  }

  // /portForward/<ns>/<pod>
  static void PortForward(KubeletServer& s, const httplib::Request& req,
                          httplib::Response& res) {
    const std::string ns = req.matches[1];
    const std::string pod = req.matches[2];
    std::vector<int32_t> ports;
    for (size_t i = 0, n = req.get_param_value_count("ports"); i < n; ++i) {
      std::string list = req.get_param_value("ports", i);
      size_t start = 0;
      while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string one =
            list.substr(start, comma == std::string::npos ? std::string::npos
                                                          : comma - start);
        int32_t port = 0;
        auto [p, ec] =
            std::from_chars(one.data(), one.data() + one.size(), port);
        if (ec != std::errc() || p != one.data() + one.size() || port < 1 ||
            port > 65535) {
          return WriteStatus(res, 400, "BadRequest",
                             "invalid port \"" + one + "\"");
        }
        ports.push_back(port);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    auto sandbox = FindSandbox(s.runtime_, ns, pod);
    if (!sandbox.ok()) return WriteError(res, sandbox.status());
    if (sandbox->state != cri::SandboxState::kReady) {
      return WriteStatus(res, 400, "BadRequest",
                         "pod \"" + pod + "\" is not running");
    }
    auto url = s.runtime_.PortForward(sandbox->id, ports);
    if (!url.ok()) return WriteError(res, url.status());
    if (std::string p = ServedWebSocketProtocol(req, true); !p.empty())
      return BridgeWebSocket(req, res, *url, p, nullptr);
    ProxyToStreamServer(req, res, *url);
  }
};

KubeletServer::KubeletServer(KubeletServerOptions options,
                             cri::Runtime& runtime, Clock& clock)
    : options_(std::move(options)), runtime_(runtime), clock_(clock) {}

KubeletServer::~KubeletServer() { Stop(); }

Status KubeletServer::Start() {
  tls::TlsServerOptions opts;
  opts.cert_pem = options_.cert_pem;
  opts.key_pem = options_.key_pem;
  opts.client_ca_pem = options_.client_ca_pem;
  // A refused certificate gets a 401 Status rather than a TLS alert.
  opts.reject_invalid_client_certs = false;
  KITE_ASSIGN_OR_RETURN(server_, tls::TlsServer::Create(opts));

  server_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (req.path == "/healthz" && req.method == "GET")
          return httplib::Server::HandlerResponse::Unhandled;
        tls::ClientIdentity id = tls::ClientIdentityOf(req);
        if (!id.authenticated) {
          WriteStatus(res, 401, "Unauthorized",
                      id.cert_error.empty() ? "Unauthorized"
                                            : "Unauthorized: " + id.cert_error);
          return httplib::Server::HandlerResponse::Handled;
        }
        const auto& allowed = options_.allowed_users;
        if (std::find(allowed.begin(), allowed.end(), id.common_name) ==
            allowed.end()) {
          WriteStatus(
              res, 403, "Forbidden",
              "Forbidden (user=" + id.common_name + ", path=" + req.path + ")");
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  const char* kContainer = R"(/([^/]+)/([^/]+)/([^/]+))";
  const char* kPod = R"(/([^/]+)/([^/]+))";
  server_->Get(std::string("/containerLogs") + kContainer,
               [this](const httplib::Request& req, httplib::Response& res) {
                 Impl::Logs(*this, req, res);
               });
  for (bool exec : {true, false}) {
    std::string route = std::string(exec ? "/exec" : "/attach") + kContainer;
    auto h = [this, exec](const httplib::Request& req, httplib::Response& res) {
      Impl::ExecOrAttach(*this, exec, req, res);
    };
    server_->Get(route, h);
    server_->Post(route, h);
  }
  auto pf = [this](const httplib::Request& req, httplib::Response& res) {
    Impl::PortForward(*this, req, res);
  };
  server_->Get(std::string("/portForward") + kPod, pf);
  server_->Post(std::string("/portForward") + kPod, pf);
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty())
          return httplib::Server::HandlerResponse::Unhandled;
        if (res.status == 404) {
          WriteStatus(res, 404, "NotFound",
                      "the kubelet serves no " + req.path);
        } else {
          WriteStatus(res, res.status, "BadRequest",
                      "the request could not be served (HTTP " +
                          std::to_string(res.status) + ")");
        }
        return httplib::Server::HandlerResponse::Handled;
      }));

  auto port = server_->Start(options_.bind_address, options_.port);
  if (!port.ok()) {
    server_.reset();
    return UnavailableError(
        "kubelet API: cannot listen on " + options_.bind_address + ":" +
        std::to_string(options_.port) + ": " + port.status().message());
  }
  port_ = *port;
  log::Info("kubelet", "serving the kubelet API")(
      "address", options_.bind_address)("port", port_);
  return Status::Ok();
}

void KubeletServer::Stop() {
  if (!server_) return;
  server_->Stop();
  server_.reset();
}

Status KubeletServer::UpdateCredentials(const std::string& cert_pem,
                                        const std::string& key_pem,
                                        const std::string& client_ca_pem) {
  options_.cert_pem = cert_pem;
  options_.key_pem = key_pem;
  options_.client_ca_pem = client_ca_pem;
  if (!server_) return Status::Ok();
  tls::TlsServerOptions opts;
  opts.cert_pem = cert_pem;
  opts.key_pem = key_pem;
  opts.client_ca_pem = client_ca_pem;
  opts.reject_invalid_client_certs = false;
  return server_->UpdateCredentials(opts);
}

}  // namespace kite::kubelet
