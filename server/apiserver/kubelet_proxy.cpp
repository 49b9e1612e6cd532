#include "server/apiserver/kubelet_proxy.h"

#include <httplib.h>
#include <strings.h>

#include <cstdlib>

#include "common/log.h"
#include "server/apiserver/errors.h"
#include "tls/byte_pipe.h"
#include "tls/tls_client.h"
#include "tls/tls_server.h"

namespace kite::apiserver {
namespace {

constexpr size_t kMaxErrorBody = 1024 * 1024;
constexpr std::chrono::milliseconds kIoTimeout{30000};

void WriteError(httplib::Response& res, const ApiError& e) {
  res.status = e.code();
  res.set_content(
      e.status().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      "application/json");
}

// Headers of the client's request that stay here: credentials (the
// kubelet trusts the API server's certificate, not the user's), the
// server's identity headers, framing the relay sets itself.
bool DropHeader(const std::string& name, bool upgrade) {
  for (const char* h :
       {"Host", "Authorization", "Content-Length", "Transfer-Encoding",
        "Accept-Encoding", "Keep-Alive", "Impersonate-User",
        "Impersonate-Group", "Impersonate-Uid", "LOCAL_ADDR", "LOCAL_PORT",
        "REMOTE_ADDR", "REMOTE_PORT", tls::kClientCnHeader,
        tls::kClientOrgHeader, tls::kClientCertErrorHeader}) {
    if (strcasecmp(name.c_str(), h) == 0) return true;
  }
  if (strncasecmp(name.c_str(), "Impersonate-Extra-", 18) == 0) return true;
  return !upgrade && strcasecmp(name.c_str(), "Connection") == 0;
}

const char* ReasonPhrase(int code) {
  switch (code) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

void ProxyToKubelet(const httplib::Request& req, httplib::Response& res,
                    const KubeletTarget& target,
                    const KubeletClientConfig& config) {
  const bool upgrade = req.has_header("Upgrade");
  tls::TlsClientOptions o;
  o.host = target.host;
  o.port = target.port;
  o.ca_pem = config.ca_pem;
  o.cert_pem = config.cert_pem;
  o.key_pem = config.key_pem;
  o.connect_timeout = config.connect_timeout;
  o.io_timeout = kIoTimeout;
  auto client = tls::TlsClient::Create(o);
  if (!client.ok()) {
    return WriteError(res, ApiError(500, "InternalError",
                                    "the API server cannot call kubelets: " +
                                        client.status().message()));
  }
  tls::HttpHeaders headers;
  for (const auto& [k, v] : req.headers) {
    if (!DropHeader(k, upgrade)) headers.emplace(k, v);
  }
  // A plain answer ends with the connection, which ends the relay.
  if (!upgrade) headers.emplace("Connection", "close");
  auto head = (*client)->OpenStream(req.method, target.path, headers, req.body);
  if (!head.ok()) {
    const Status& st = head.status();
    std::string where = "node \"" + target.node + "\" (" + target.host + ":" +
                        std::to_string(target.port) + ")";
    log::Warn("apiserver", "kubelet unreachable")("node", target.node)(
        "error", st.message());
    if (st.code() == Code::kUnauthenticated) {
      return WriteError(
          res, ApiError(502, "InternalError",
                        "error dialing backend: the kubelet of " + where +
                            " failed TLS verification: " + st.message()));
    }
    return WriteError(
        res, ApiError(503, "ServiceUnavailable",
                      "error dialing backend: the kubelet of " + where +
                          " cannot be reached: " + st.message()));
  }
  const tls::HttpResponse& answer = *head;
  std::string content_length = answer.Header("Content-Length");
  if (answer.status != 101 && !content_length.empty()) {
    // A whole body of known size (an error, a short log): read it and
    // answer normally, keeping the client's connection.
    size_t want = std::strtoull(content_length.c_str(), nullptr, 10);
    if (want > kMaxErrorBody) want = kMaxErrorBody;
    std::string body;
    char buf[16384];
    while (body.size() < want) {
      ssize_t n = (*client)->ReadSome(
          buf, std::min(sizeof(buf), want - body.size()), kIoTimeout);
      if (n <= 0) break;
      body.append(buf, static_cast<size_t>(n));
    }
    res.status = answer.status;
    std::string type = answer.Header("Content-Type");
    res.set_content(body, type.empty() ? "text/plain" : type);
    return;
  }
  // An upgrade, or a body that streams (chunked logs): take the client's
  // connection over, pass the head on and copy bytes until one side ends.
  tls::HijackedConnection* conn = tls::TlsServer::Hijack(req);
  if (conn == nullptr) {
    return WriteError(res, ApiError(500, "InternalError",
                                    "this connection cannot be relayed"));
  }
  std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                    ReasonPhrase(answer.status) + "\r\n";
  for (const auto& [k, v] : answer.headers) {
    if (answer.status != 101 && strcasecmp(k.c_str(), "Connection") == 0)
      continue;
    out += k + ": " + v + "\r\n";
  }
  if (answer.status != 101) out += "Connection: close\r\n";
  out += "\r\n";
  if (!conn->Write(out, kIoTimeout)) return;
  tls::PipeEnd down = tls::PipeEndOf(*conn);
  tls::PipeEnd up = tls::PipeEndOf(**client);
  size_t sent = 0, received = 0;
  tls::Pipe(down, up, std::chrono::milliseconds(0), &sent, &received);
  log::Debug("apiserver", "kubelet relay ended")("node", target.node)(
      "path", target.path)("status", answer.status)("bytes_in", sent)(
      "bytes_out", received);
}

}  // namespace kite::apiserver
