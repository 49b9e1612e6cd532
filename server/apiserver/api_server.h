// ApiServer: kite's HTTP front door.
//
// Today it serves the health and version endpoints a load balancer, a
// supervisor and kubectl's version check look at:
//   GET /healthz, /livez  -> 200 "ok" while the process serves requests
//   GET /readyz           -> 200 "ok" when the datastore answers reads, else 503
//   GET /version          -> the Kubernetes version document (major "1", minor "32")
// Other paths answer a Kubernetes Status with 404. The REST API, TLS and
// authentication arrive with the API server issue.
//
// Threading: Start() binds the socket and serves on a thread of its own with
// httplib's worker pool; Stop() stops accepting, waits for the serving thread
// and returns. Handlers only read the datastore, which is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "datastore/backend.h"

namespace httplib {
class Server;
}

namespace kite::apiserver {

struct Config {
  std::string bind_address = "127.0.0.1";
  // 0 picks a free port (tests); port() tells which.
  int port = 6443;
};

class ApiServer {
 public:
  // `store` must outlive the ApiServer.
  ApiServer(Config config, datastore::Backend& store);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving. FailedPrecondition if the address is taken.
  Status Start();
  // Stops serving. Idempotent.
  void Stop();
  // The port bound by Start().
  int port() const { return port_; }

 private:
  void Routes();

  Config config_;
  datastore::Backend& store_;
  std::unique_ptr<httplib::Server> http_;
  std::thread serve_thread_;
  int port_ = 0;
};

}  // namespace kite::apiserver
