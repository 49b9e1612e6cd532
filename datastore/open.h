// datastore::Open: picks and opens a Backend from an endpoint string, the
// --datastore-endpoint flag of `kite server`.
//
//   sqlite://<absolute path>   the embedded SQLite store (the default), e.g.
//                              sqlite:///var/lib/kite/server/db/state.db
//
// Thread safety: Open may be called from any thread; the backend it returns is
// thread safe (see backend.h).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "datastore/backend.h"
#include "datastore/options.h"

namespace kite::datastore {

// Opens the backend named by `endpoint`. InvalidArgument for an endpoint this
// build does not support (the message lists what it supports);
// FailedPrecondition when another process holds the store; other errors as
// the backend reports them.
StatusOr<std::unique_ptr<Backend>> Open(const std::string& endpoint,
                                        const Options& options = {});

}  // namespace kite::datastore
