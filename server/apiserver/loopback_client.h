// LoopbackClient: the client::Interface the in-process components of `kite
// server` (controllers, scheduler) use. It calls the API server's request
// path (Handler::Serve) directly, without HTTP or TLS (DESIGN.md §1), so
// every write still passes authorization, admission, validation and
// storage exactly as a kubectl write does, while objects cross as JSON
// values (no serialization on the way in or out).
//
// Requests carry the UserInfo given at construction (authorization sees a
// real user). Watches wrap the request path's WatchStream; they end when the
// server shuts down (CancelWatches) like any other watch.
//
// Thread safety: safe for concurrent use (Handler::Serve is). A
// client::WatchStream is used by one thread at a time (Cancel() from any).
// The Handler must outlive the client and every stream it made.
#pragma once

#include <memory>
#include <string>

#include "client/interface.h"
#include "server/apiserver/handler.h"
#include "server/apiserver/request.h"

namespace kite::apiserver {

class LoopbackClient : public client::Interface {
 public:
  LoopbackClient(Handler& handler, UserInfo user);

  StatusOr<client::Json> Get(const client::ResourceRef& ref,
                             const std::string& name,
                             const client::GetOptions& opts) override;
  StatusOr<client::Json> List(const client::ResourceRef& ref,
                              const client::ListOptions& opts) override;
  StatusOr<std::unique_ptr<client::WatchStream>> Watch(
      const client::ResourceRef& ref,
      const client::WatchOptions& opts) override;
  StatusOr<client::Json> Create(const client::ResourceRef& ref,
                                const client::Json& obj,
                                const client::CreateOptions& opts) override;
  StatusOr<client::Json> Update(const client::ResourceRef& ref,
                                const client::Json& obj,
                                const client::UpdateOptions& opts) override;
  StatusOr<client::Json> Patch(const client::ResourceRef& ref,
                               const std::string& name, client::PatchType type,
                               const std::string& body,
                               const client::PatchOptions& opts) override;
  StatusOr<client::Json> Delete(const client::ResourceRef& ref,
                                const std::string& name,
                                const client::DeleteOptions& opts) override;
  StatusOr<client::Json> DeleteCollection(
      const client::ResourceRef& ref, const client::ListOptions& list_opts,
      const client::DeleteOptions& opts) override;
  StatusOr<client::RawResponse> Do(const client::RawRequest& req) override;

 private:
  Request NewRequest(const std::string& method, std::string path,
                     const std::string& query) const;
  // The answer's body as JSON, or the Status its failure means.
  static StatusOr<client::Json> Result(Response r);

  Handler& handler_;
  UserInfo user_;
};

// The identity in-process controllers act as.
UserInfo ControllerManagerUser();

}  // namespace kite::apiserver
