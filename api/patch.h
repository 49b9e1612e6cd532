// The three PATCH bodies of the Kubernetes API, applied to JSON objects.
//
//   application/json-patch+json            ApplyJsonPatch (RFC 6902)
//   application/merge-patch+json           ApplyMergePatch (RFC 7386)
//   application/strategic-merge-patch+json ApplyStrategicMergePatch
//
// (application/apply-patch+yaml, server-side apply, is in managed_fields.h.)
//
// Each function takes the current object and the parsed patch body and
// returns the patched object; the inputs are never modified. A patch that
// cannot be applied returns InvalidArgument with a message saying why (the
// REST layer answers 422, as Kubernetes does for a failing patch); nothing
// throws. A patch that changes nothing returns a document equal (operator==)
// to the input, so the caller can keep the resourceVersion ("patched (no
// change)").
//
// Inputs nested deeper than kMaxPatchDepth are refused before any recursion,
// so hostile input cannot exhaust the stack.
//
// Thread safety: free functions over values; safe from any thread.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "api/strategic_merge.h"
#include "common/status.h"

namespace kite::api {

// Deepest nesting (objects and arrays) accepted in a patch or an object.
// Generous enough for CustomResourceDefinitions with deep schemas.
inline constexpr int kMaxPatchDepth = 200;
// Most operations in one JSON patch (Kubernetes' limit).
inline constexpr std::size_t kMaxJsonPatchOperations = 10000;
// Most JSON values that "copy" operations of one JSON patch may duplicate.
inline constexpr std::size_t kMaxJsonPatchCopiedValues = 1 << 16;

// The message Kubernetes answers (415 UnsupportedMediaType) when a strategic
// merge patch targets a custom resource.
inline constexpr std::string_view kStrategicMergeUnsupportedMessage =
    "the body of the request was in an unknown format - accepted media types "
    "include: "
    "application/json-patch+json, application/merge-patch+json, "
    "application/apply-patch+yaml";

// InvalidArgument when `value` nests deeper than `max_depth` levels (a scalar
// is depth 0, `{}` and `[]` depth 1). Iterative.
Status CheckDepth(const nlohmann::json& value, int max_depth = kMaxPatchDepth);

// RFC 6902: `patch` must be an array of operations (add, remove, replace,
// move, copy, test). A failed "test" or a missing path is InvalidArgument;
// more than kMaxJsonPatchOperations operations is ResourceExhausted (413).
StatusOr<nlohmann::json> ApplyJsonPatch(const nlohmann::json& doc,
                                        const nlohmann::json& patch);

// RFC 7386. `patch` must be a JSON object (a patch that would replace the
// whole object with a non-object is InvalidArgument, as in Kubernetes).
StatusOr<nlohmann::json> ApplyMergePatch(const nlohmann::json& doc,
                                         const nlohmann::json& patch);

// Kubernetes strategic merge patch, with the merge keys and strategies of
// `meta`: lists with a merge key merge by key, primitive lists with the merge
// strategy merge as sets, other lists are replaced, maps merge key by key,
// null deletes a key. Directives: `$patch: replace|delete` on maps,
// `$patch: delete|replace` on list elements, `$retainKeys`,
// `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`.
// FailedPrecondition with kStrategicMergeUnsupportedMessage when
// !meta.supports_strategic_merge() (custom resources; the REST layer answers
// 415); InvalidArgument for a malformed patch.
StatusOr<nlohmann::json> ApplyStrategicMergePatch(const nlohmann::json& doc,
                                                  const nlohmann::json& patch,
                                                  const PatchMeta& meta);

}  // namespace kite::api
