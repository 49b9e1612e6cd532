// OpenAPI v3 documents for kubectl (kubectl-api.md §2).
//
// GET /openapi/v3 answers Index(): every served group-version with its
// serverRelativeURL ("/openapi/v3/apis/apps/v1?hash=<H>"); kubectl caches
// each document by that URL, so H changes whenever the document does.
// GET /openapi/v3/api/v1 or /openapi/v3/apis/<g>/<v> answers Document(path):
// for every kind its REST paths, each operation carrying
// x-kubernetes-group-version-kind and, on PATCH/POST/PUT, the
// fieldValidation query parameter (kubectl then sends fieldValidation=Strict
// and leaves validation to the server), plus the component schemas of
// schema.h so `kubectl explain` works. When the request's ?hash= matches
// Document().hash the REST layer may answer with
// "Cache-Control: public, immutable"; when it does not, Kubernetes redirects
// to the current URL (301) and kite may do the same or simply answer.
//
// Trap (do not "fix"): PATCH operations carry no requestBody. kubectl
// computes client-side apply patches from OpenAPI only when the PATCH lists
// application/strategic-merge-patch+json; without it kubectl uses its
// compiled-in types, which know the merge keys. Our schemas do not carry
// patch-merge metadata, so advertising it would make apply replace lists.
//
// Thread safety: OpenApiV3 is safe for concurrent use; documents are cached
// per Registry::Generation() under a mutex and handed out as shared_ptr.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/kinds.h"
#include "common/status.h"

namespace kite::api {

// The document for one group-version (built afresh; see OpenApiV3 for the
// cached form). NotFound when the group-version is not served.
StatusOr<nlohmann::json> BuildOpenApiDocument(const Registry& registry,
                                              std::string_view group,
                                              std::string_view version);

class OpenApiV3 {
 public:
  // `registry` must outlive this object.
  explicit OpenApiV3(const Registry& registry) : registry_(registry) {}

  struct Document {
    std::shared_ptr<const std::string> body;  // serialized JSON
    std::string hash;                         // 16 upper-case hex digits
  };

  // {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."},...}}
  nlohmann::json Index();
  // `path` is "api/v1" or "apis/<group>/<version>" (no leading slash, no
  // query). NotFound otherwise.
  StatusOr<Document> Get(std::string_view path);

 private:
  void RefreshLocked();

  const Registry& registry_;
  std::mutex mu_;
  uint64_t generation_ = 0;  // of the cached documents; 0 = none
  std::map<std::string, Document, std::less<>> docs_;
};

}  // namespace kite::api
