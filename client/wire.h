// Wire conventions of the Kubernetes REST API, shared by every
// client::Interface implementation: URL paths and query strings for the
// option structs, DeleteOptions bodies, patch content types, watch event
// lines, and the one mapping between metav1.Status answers and kite::Status
// (the table in interface.h).
//
// The loopback client in server/apiserver uses these to turn a typed call
// into the request its request path serves, and to turn the answer back into
// a Status; the HTTPS client uses them on the wire.
//
// Thread safety: free functions over values; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "client/interface.h"
#include "common/status.h"

namespace kite::client {

// "/api/v1/namespaces/<ns>/pods", "/apis/apps/v1/deployments" (ns empty).
std::string CollectionPath(const ResourceRef& ref);
// CollectionPath(ref) + "/<name>" [+ "/<subresource>"]; name and
// subresource are path-escaped.
std::string ObjectPath(const ResourceRef& ref, std::string_view name,
                       std::string_view subresource = "");
// ref.ns, or obj.metadata.namespace when ref.ns is empty (Create/Update).
std::string EffectiveNamespace(const ResourceRef& ref, const Json& obj);

// Percent-encodes a query component (RFC 3986 unreserved characters stay).
std::string QueryEscape(std::string_view s);
// Percent-decodes, '+' as a space. InvalidArgument on a bad escape.
StatusOr<std::string> QueryUnescape(std::string_view s);

// Query strings without the leading '?' ("" when there is nothing to send).
std::string ListQuery(const ListOptions& opts);
// Includes "watch=true".
std::string WatchQuery(const WatchOptions& opts);
std::string GetQuery(const GetOptions& opts);
std::string CreateQuery(const CreateOptions& opts);
std::string UpdateQuery(const UpdateOptions& opts);
std::string PatchQuery(PatchType type, const PatchOptions& opts);

// The body of a DELETE: {"kind":"DeleteOptions","apiVersion":"v1",...}.
Json DeleteOptionsBody(const DeleteOptions& opts);
// "Background", "Foreground", "Orphan"; "" for kDefault.
std::string_view PropagationPolicyName(PropagationPolicy p);

// "application/json-patch+json", "application/merge-patch+json",
// "application/strategic-merge-patch+json", "application/apply-patch+yaml".
std::string_view PatchContentType(PatchType type);

// "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR".
std::string_view EventTypeName(EventType type);
// One line of a watch response: {"type":"ADDED","object":{...}}.
// InvalidArgument when the line is not such an event.
StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);
// The line a server writes for `event` (no trailing newline).
std::string FormatWatchEvent(const WatchEvent& event);

// The Status an answer means: OK for 2xx, else the code of the table in
// interface.h chosen by Status.reason (then by the HTTP code), with
// Status.message (or the body itself when it is not a Status) as message.
Status ApiStatusToStatus(int http_code, const Json& body);
// Same, from the raw body text.
Status ResponseToStatus(int http_code, std::string_view body);
// The Status of a watch kError event's object (410 Expired -> kCompacted).
Status WatchErrorToStatus(const Json& status_object);

// The reverse mapping, for servers and fakes that fail with a kite::Status:
// the HTTP code and reason Kubernetes uses for `code`.
int HttpCodeOf(Code code);
std::string_view ReasonOf(Code code);
// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
//  "message":...,"reason":...,"code":...}. For OK: "status":"Success".
Json StatusToApiStatus(const Status& status);

}  // namespace kite::client
