#include "server/apiserver/api_server.h"

#include <httplib.h>

#include <chrono>

#include "common/log.h"
#include "server/apiserver/encoding.h"
#include "tls/tls_server.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

Credentials CredentialsOf(const httplib::Request& req) {
  tls::ClientIdentity id = tls::ClientIdentityOf(req);
  Credentials c;
  c.cert_verified = id.authenticated;
  c.cert_common_name = id.common_name;
  c.cert_organizations = id.organizations;
  c.cert_error = id.cert_error;
  std::string auth = req.get_header_value("Authorization");
  if (auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 ||
                          auth.compare(0, 7, "bearer ") == 0)) {
    c.bearer_token = auth.substr(7);
  }
  return c;
}

void WriteJsonError(httplib::Response& res, const ApiError& e) {
  res.status = e.code();
  res.set_content(
      e.status().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      "application/json");
}

void WriteResponse(Response&& r, httplib::Response& res) {
  res.status = r.status;
  for (auto& [k, v] : r.headers) res.set_header(k.c_str(), v);
  if (r.watch) {
    std::shared_ptr<WatchStream> stream = std::move(r.watch);
    res.set_chunked_content_provider(
        r.content_type, [stream](size_t, httplib::DataSink& sink) {
          if (!sink.is_writable()) return false;
          std::vector<WatchEvent> events = stream->Next(kWatchWakeInterval);
          if (!events.empty()) {
            std::string chunk;
            for (const WatchEvent& ev : events) chunk += stream->EncodeLine(ev);
            if (!sink.write(chunk.data(), chunk.size())) return false;
          }
          if (stream->done()) sink.done();
          return true;
        });
    return;
  }
  if (r.raw) {
    res.set_content(*r.raw, r.content_type);
  } else {
    // Bytes that are not UTF-8 (a path or body echoed in an error message)
    // become U+FFFD, as Go's encoding/json does, instead of failing.
    res.set_content(
        r.json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        r.content_type);
  }
}

}  // namespace

ApiServer::ApiServer(ServingConfig config, Handler& handler,
                     const Authenticator& authenticator)
    : config_(std::move(config)),
      handler_(handler),
      authenticator_(authenticator) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Start() {
  tls::TlsServerOptions opts;
  opts.cert_pem = config_.cert_pem;
  opts.key_pem = config_.key_pem;
  opts.client_ca_pem = config_.client_ca_pem;
  // A bad client certificate gets a 401 Status, not a TLS alert kubectl
  // cannot explain.
  opts.reject_invalid_client_certs = false;
  KITE_ASSIGN_OR_RETURN(server_, tls::TlsServer::Create(opts));
  server_->set_payload_max_length(kMaxBodyBytes);

  auto handle = [this](const httplib::Request& hreq, httplib::Response& res) {
    auto start = std::chrono::steady_clock::now();
    Request req;
    req.method = hreq.method;
    req.path = hreq.path;
    for (const auto& [k, v] : hreq.params) req.query.emplace(k, v);
    req.content_type = hreq.get_header_value("Content-Type");
    req.accept = hreq.get_header_value("Accept");
    req.user_agent = hreq.get_header_value("User-Agent");
    req.body = hreq.body;
    req.impersonate_user = hreq.get_header_value("Impersonate-User");
    for (size_t i = 0, n = hreq.get_header_value_count("Impersonate-Group");
         i < n; ++i) {
      req.impersonate_groups.push_back(
          hreq.get_header_value("Impersonate-Group", i));
    }
    auto user = authenticator_.Authenticate(CredentialsOf(hreq));
    if (user.ok()) {
      req.user = std::move(user).value();
    } else if (!IsPublicPath(req.path)) {
      log::Debug("apiserver", "unauthenticated request")("path", req.path)(
          "reason", user.status().message());
      WriteJsonError(res, Unauthorized());
      return;
    } else {
      req.user.name = "system:anonymous";
      req.user.groups = {"system:unauthenticated"};
    }
    Response r = handler_.Serve(req);
    if (r.kubelet) {
      if (config_.kubelet_client.cert_pem.empty()) {
        WriteJsonError(res, ApiError(503, "ServiceUnavailable",
                                     "this API server has no client "
                                     "certificate for kubelets"));
        return;
      }
      log::Debug("apiserver", "to kubelet")("method", req.method)(
          "path", req.path)("node", r.kubelet->node)("user", req.user.name);
      ProxyToKubelet(hreq, res, *r.kubelet, config_.kubelet_client);
      return;
    }
    int status = r.status;
    bool watch = r.watch != nullptr;
    WriteResponse(std::move(r), res);
    log::Debug("apiserver", "request")("method", req.method)("path", req.path)(
        "status", status)("user", req.user.name)("watch", watch)(
        "ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count());
  };
  if (!config_.cacerts_pem.empty()) {
    // CA certificates are no secret, but anonymous clients reach only the
    // health paths and /version (a joining agent pins server-ca from the
    // TLS chain instead, and fetches this as the node it has become).
    server_->Get("/cacerts",
                 [this](const httplib::Request& hreq, httplib::Response& res) {
                   auto user = authenticator_.Authenticate(CredentialsOf(hreq));
                   if (!user.ok()) {
                     WriteJsonError(res, Unauthorized());
                     return;
                   }
                   res.set_content(config_.cacerts_pem, "text/plain");
                 });
  }
  const char* kAll = R"(.*)";
  server_->Get(kAll, handle);
  server_->Post(kAll, handle);
  server_->Put(kAll, handle);
  server_->Patch(kAll, handle);
  server_->Delete(kAll, handle);
  server_->Options(kAll, handle);
  // Errors httplib answers itself (oversize or malformed requests) still get
  // a Status body.
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty())
          return httplib::Server::HandlerResponse::Unhandled;
        if (res.status == 413) {
          WriteJsonError(res, RequestEntityTooLarge(
                                  "the request body is larger than " +
                                  std::to_string(kMaxBodyBytes) + " bytes"));
        } else if (res.status == 404) {
          WriteJsonError(res, PathNotFound());
        } else {
          WriteJsonError(
              res, ApiError(res.status,
                            res.status == 400 ? "BadRequest" : "InternalError",
                            "the request could not be served (HTTP " +
                                std::to_string(res.status) + ")"));
        }
        return httplib::Server::HandlerResponse::Handled;
      }));

  auto port = server_->Start(config_.bind_address, config_.port);
  if (!port.ok()) {
    server_.reset();
    return FailedPreconditionError("cannot listen on " + config_.bind_address +
                                   ":" + std::to_string(config_.port) + ": " +
                                   port.status().message());
  }
  port_ = *port;
  log::Info("apiserver", "serving")("address", config_.bind_address)(
      "port", port_)("scheme", "https");
  return Status::Ok();
}

void ApiServer::Stop() {
  if (!server_) return;
  handler_.CancelWatches();
  server_->Stop();
  server_.reset();
}

}  // namespace kite::apiserver
