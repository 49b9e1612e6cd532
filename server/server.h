// Server: the wiring of `kite server`. It owns every server-side component,
// starts them in dependency order and stops them in reverse:
//   datastore -> API server
// (scheduler, controllers and the in-process agent join as their issues land).
//
// Threading: Start() and Stop() are called from one thread (main). Each
// component runs its own threads; Stop() returns after all of them ended.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "datastore/backend.h"
#include "server/apiserver/api_server.h"

namespace kite::server {

struct Config {
  // Where the server keeps its state (DESIGN.md §8).
  std::string data_dir;
  // Empty: sqlite://<data_dir>/server/db/state.db.
  std::string datastore_endpoint;
  std::string bind_address = "127.0.0.1";
  int https_listen_port = 6443;
};

// /var/lib/kite for root, ~/.kite for everyone else.
std::string DefaultDataDir();
// The datastore endpoint the config names, or the SQLite default under the
// data dir.
std::string DatastoreEndpoint(const Config& config);

class Server {
 public:
  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the datastore and starts serving. On failure everything already
  // started is stopped again and the error says what failed.
  Status Start();
  // Stops in reverse start order. Idempotent.
  void Stop();

  // The API server's port (useful with port 0 in tests).
  int port() const;

 private:
  Config config_;
  std::unique_ptr<datastore::Backend> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
};

}  // namespace kite::server
