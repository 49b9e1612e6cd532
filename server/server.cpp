#include "server/server.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "common/env.h"
#include "common/log.h"
#include "datastore/open.h"

namespace kite::server {

std::string DefaultDataDir() {
  if (::geteuid() == 0) return "/var/lib/kite";
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    if (const passwd* pw = ::getpwuid(::geteuid())) home = pw->pw_dir;
  }
  return std::string(home != nullptr ? home : ".") + "/.kite";
}

std::string DatastoreEndpoint(const Config& config) {
  if (!config.datastore_endpoint.empty()) return config.datastore_endpoint;
  return "sqlite://" + config.data_dir + "/server/db/state.db";
}

Server::Server(Config config) : config_(std::move(config)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (config_.data_dir.empty()) config_.data_dir = DefaultDataDir();
  KITE_RETURN_IF_ERROR(RealEnv().MakeDirs(config_.data_dir + "/server", 0700));

  std::string endpoint = DatastoreEndpoint(config_);
  auto store = datastore::Open(endpoint);
  if (!store.ok()) return Status(store.status().code(), "datastore " + endpoint + ": " + store.status().message());
  store_ = std::move(store).value();
  log::Info("server", "datastore open")("endpoint", endpoint)("revision", store_->CurrentRevision());

  api_ = std::make_unique<apiserver::ApiServer>(
      apiserver::Config{.bind_address = config_.bind_address, .port = config_.https_listen_port}, *store_);
  if (Status st = api_->Start(); !st.ok()) {
    Stop();
    return st;
  }
  log::Info("server", "ready")("data-dir", config_.data_dir);
  return Status::Ok();
}

void Server::Stop() {
  if (api_) {
    api_->Stop();
    api_.reset();
  }
  store_.reset();  // closing the backend flushes and releases its lock
}

int Server::port() const { return api_ ? api_->port() : 0; }

}  // namespace kite::server
