#include "server/apiserver/api_server.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>

#include "common/log.h"
#include "common/version.h"

namespace kite::apiserver {
namespace {

// A Kubernetes Status body, the only error format kubectl understands.
std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  nlohmann::json j = {{"kind", "Status"},     {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                      {"status", "Failure"},  {"message", message}, {"reason", reason},
                      {"code", code}};
  return j.dump();
}

}  // namespace

ApiServer::ApiServer(Config config, datastore::Backend& store)
    : config_(std::move(config)), store_(store), http_(std::make_unique<httplib::Server>()) {
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the
  // same port; SO_REUSEADDR alone makes a taken port an error.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  Routes();
}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Routes() {
  auto ok = [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); };
  http_->Get("/healthz", ok);
  http_->Get("/livez", ok);
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    // A read through the datastore's read path proves it answers.
    auto probe = store_.Get("/registry/health");
    if (probe.ok() || probe.status().code() == Code::kNotFound) {
      res.set_content("ok", "text/plain");
      return;
    }
    res.status = 503;
    res.set_content("[-]datastore failed: " + probe.status().ToString() + "\nreadyz check failed", "text/plain");
  });
  http_->Get("/version", [](const httplib::Request&, httplib::Response& res) {
    nlohmann::json v = {{"major", KubeMajor()},
                        {"minor", KubeMinor()},
                        {"gitVersion", KubeGitVersion()},
                        {"gitCommit", GitCommit()},
                        {"gitTreeState", "clean"},
                        {"buildDate", "1970-01-01T00:00:00Z"},
                        {"goVersion", "none (kite is C++)"},
                        {"compiler", "gcc"},
                        {"platform", Platform()}};
    res.set_content(v.dump(2), "application/json");
  });
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content(StatusBody(404, "NotFound", "the server could not find the requested resource " + req.path),
                      "application/json");
    }
  });
}

Status ApiServer::Start() {
  if (config_.port == 0) {
    port_ = http_->bind_to_any_port(config_.bind_address);
    if (port_ < 0) return FailedPreconditionError("cannot bind " + config_.bind_address);
  } else {
    if (!http_->bind_to_port(config_.bind_address, config_.port)) {
      return FailedPreconditionError("cannot listen on " + config_.bind_address + ":" +
                                     std::to_string(config_.port) + " (in use, or not an address of this host)");
    }
    port_ = config_.port;
  }
  serve_thread_ = std::thread([this] { http_->listen_after_bind(); });
  // httplib's stop() does nothing until the listen loop runs, so a Stop()
  // right after Start() would hang; return only once it serves.
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log::Info("apiserver", "serving")("address", config_.bind_address)("port", port_);
  return Status::Ok();
}

void ApiServer::Stop() {
  if (serve_thread_.joinable()) {
    http_->stop();
    serve_thread_.join();
  }
}

}  // namespace kite::apiserver
