#include "datastore/open.h"

#include "datastore/memory_backend.h"
#include "datastore/sqlite_backend.h"

namespace kite::datastore {

namespace {
constexpr char kSupported[] =
    "supported: sqlite://<absolute path> (e.g. "
    "sqlite:///var/lib/kite/server/db/state.db), or memory:// (not durable, "
    "for tests)";
}  // namespace

StatusOr<std::unique_ptr<Backend>> Open(const std::string& endpoint,
                                        const Options& options) {
  const std::string_view ep = endpoint;
  if (ep.starts_with("sqlite://")) {
    std::string path(ep.substr(9));
    if (path.empty() || path[0] != '/') {
      return InvalidArgumentError("datastore endpoint \"" + endpoint +
                                  "\" needs an absolute path; " + kSupported);
    }
    KITE_ASSIGN_OR_RETURN(auto backend, SqliteBackend::Open(path, options));
    return std::unique_ptr<Backend>(std::move(backend));
  }
  if (ep == "memory://") {
    return std::unique_ptr<Backend>(std::make_unique<MemoryBackend>(options));
  }
  if (ep.starts_with("etcd://")) {
    return InvalidArgumentError("datastore endpoint \"" + endpoint +
                                "\": the etcd backend is not built yet; " +
                                kSupported);
  }
  return InvalidArgumentError("unsupported datastore endpoint \"" + endpoint +
                              "\"; " + kSupported);
}

}  // namespace kite::datastore
