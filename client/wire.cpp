#include "client/wire.h"

#include <array>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

namespace kite::client {
namespace {

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

std::string Escape(std::string_view s, bool path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (Unreserved(c) || (path && (c == ':' || c == '@'))) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Builds "a=b&c=d" from pairs, skipping nothing (callers add only what they
// mean to send).
class Query {
 public:
  void Add(std::string_view key, std::string_view value) {
    if (!text_.empty()) text_.push_back('&');
    text_.append(key);
    text_.push_back('=');
    text_.append(QueryEscape(value));
  }
  void AddIf(std::string_view key, const std::string& value) {
    if (!value.empty()) Add(key, value);
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct ReasonCode {
  std::string_view reason;
  Code code;
};
constexpr std::array<ReasonCode, 19> kReasons = {{
    {"NotFound", Code::kNotFound},
    {"AlreadyExists", Code::kAlreadyExists},
    {"Conflict", Code::kConflict},
    {"Invalid", Code::kInvalidArgument},
    {"BadRequest", Code::kInvalidArgument},
    {"UnsupportedMediaType", Code::kInvalidArgument},
    {"NotAcceptable", Code::kInvalidArgument},
    {"Gone", Code::kCompacted},
    {"Expired", Code::kCompacted},
    {"Forbidden", Code::kPermissionDenied},
    {"Unauthorized", Code::kUnauthenticated},
    {"TooManyRequests", Code::kResourceExhausted},
    {"RequestEntityTooLarge", Code::kResourceExhausted},
    {"Timeout", Code::kDeadlineExceeded},
    {"ServerTimeout", Code::kDeadlineExceeded},
    {"ServiceUnavailable", Code::kUnavailable},
    {"MethodNotAllowed", Code::kFailedPrecondition},
    {"InternalError", Code::kInternal},
    {"Unknown", Code::kInternal},
}};

Code CodeOfHttp(int http_code) {
  switch (http_code) {
    case 400:
    case 406:
    case 415:
    case 422:
      return Code::kInvalidArgument;
    case 401:
      return Code::kUnauthenticated;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 405:
      return Code::kFailedPrecondition;
    case 409:
      return Code::kConflict;
    case 410:
      return Code::kCompacted;
    case 413:
    case 429:
      return Code::kResourceExhausted;
    case 503:
      return Code::kUnavailable;
    case 504:
      return Code::kDeadlineExceeded;
    default:
      return Code::kInternal;
  }
}

}  // namespace

std::string CollectionPath(const ResourceRef& ref) {
  std::string p = ref.group.empty() ? "/api/" + ref.version
                                    : "/apis/" + ref.group + "/" + ref.version;
  if (!ref.ns.empty()) p += "/namespaces/" + Escape(ref.ns, true);
  p += "/" + ref.resource;
  return p;
}

std::string ObjectPath(const ResourceRef& ref, std::string_view name,
                       std::string_view subresource) {
  std::string p = CollectionPath(ref) + "/" + Escape(name, true);
  if (!subresource.empty()) p += "/" + Escape(subresource, true);
  return p;
}

std::string EffectiveNamespace(const ResourceRef& ref, const Json& obj) {
  if (!ref.ns.empty()) return ref.ns;
  if (!obj.is_object()) return "";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto n = m->find("namespace");
  if (n == m->end() || !n->is_string()) return "";
  return n->get<std::string>();
}

std::string QueryEscape(std::string_view s) { return Escape(s, false); }

StatusOr<std::string> QueryUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) {
        return InvalidArgumentError("invalid URL escape in query");
      }
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return InvalidArgumentError("invalid URL escape in query");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string ListQuery(const ListOptions& opts) {
  Query q;
  q.AddIf("labelSelector", opts.label_selector);
  q.AddIf("fieldSelector", opts.field_selector);
  if (opts.limit > 0) q.Add("limit", std::to_string(opts.limit));
  q.AddIf("continue", opts.continue_token);
  q.AddIf("resourceVersion", opts.resource_version);
  return q.Take();
}

std::string WatchQuery(const WatchOptions& opts) {
  Query q;
  q.Add("watch", "true");
  q.AddIf("resourceVersion", opts.resource_version);
  q.AddIf("labelSelector", opts.label_selector);
  q.AddIf("fieldSelector", opts.field_selector);
  if (opts.allow_bookmarks) q.Add("allowWatchBookmarks", "true");
  if (opts.timeout.count() > 0) {
    q.Add("timeoutSeconds", std::to_string(opts.timeout.count()));
  }
  return q.Take();
}

std::string GetQuery(const GetOptions& opts) {
  Query q;
  q.AddIf("resourceVersion", opts.resource_version);
  return q.Take();
}

std::string CreateQuery(const CreateOptions& opts) {
  Query q;
  q.AddIf("fieldManager", opts.field_manager);
  if (opts.dry_run) q.Add("dryRun", "All");
  return q.Take();
}

std::string UpdateQuery(const UpdateOptions& opts) {
  Query q;
  q.AddIf("fieldManager", opts.field_manager);
  if (opts.dry_run) q.Add("dryRun", "All");
  return q.Take();
}

std::string PatchQuery(PatchType type, const PatchOptions& opts) {
  Query q;
  q.AddIf("fieldManager", opts.field_manager);
  if (type == PatchType::kApply && opts.force) q.Add("force", "true");
  if (opts.dry_run) q.Add("dryRun", "All");
  return q.Take();
}

std::string_view PropagationPolicyName(PropagationPolicy p) {
  switch (p) {
    case PropagationPolicy::kOrphan:
      return "Orphan";
    case PropagationPolicy::kBackground:
      return "Background";
    case PropagationPolicy::kForeground:
      return "Foreground";
    case PropagationPolicy::kDefault:
      break;
  }
  return "";
}

Json DeleteOptionsBody(const DeleteOptions& opts) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (opts.propagation_policy != PropagationPolicy::kDefault) {
    body["propagationPolicy"] = PropagationPolicyName(opts.propagation_policy);
  }
  if (opts.grace_period_seconds) {
    body["gracePeriodSeconds"] = *opts.grace_period_seconds;
  }
  if (!opts.precondition_uid.empty() ||
      !opts.precondition_resource_version.empty()) {
    Json pre = Json::object();
    if (!opts.precondition_uid.empty()) pre["uid"] = opts.precondition_uid;
    if (!opts.precondition_resource_version.empty()) {
      pre["resourceVersion"] = opts.precondition_resource_version;
    }
    body["preconditions"] = std::move(pre);
  }
  if (opts.dry_run) body["dryRun"] = Json::array({"All"});
  return body;
}

std::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
    case EventType::kBookmark:
      return "BOOKMARK";
    case EventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("watch event is not a JSON object");
  }
  auto t = j.find("type");
  auto o = j.find("object");
  if (t == j.end() || !t->is_string() || o == j.end()) {
    return InvalidArgumentError("watch event without type or object");
  }
  const std::string& name = t->get_ref<const std::string&>();
  WatchEvent ev;
  if (name == "ADDED") {
    ev.type = EventType::kAdded;
  } else if (name == "MODIFIED") {
    ev.type = EventType::kModified;
  } else if (name == "DELETED") {
    ev.type = EventType::kDeleted;
  } else if (name == "BOOKMARK") {
    ev.type = EventType::kBookmark;
  } else if (name == "ERROR") {
    ev.type = EventType::kError;
  } else {
    return InvalidArgumentError("unknown watch event type \"" + name + "\"");
  }
  ev.object = std::move(*o);
  return ev;
}

std::string FormatWatchEvent(const WatchEvent& event) {
  Json j = {{"type", EventTypeName(event.type)}, {"object", event.object}};
  return j.dump();
}

Status ApiStatusToStatus(int http_code, const Json& body) {
  if (http_code >= 200 && http_code < 300) return Status::Ok();
  std::string reason;
  std::string message;
  if (body.is_object()) {
    auto r = body.find("reason");
    if (r != body.end() && r->is_string()) reason = r->get<std::string>();
    auto m = body.find("message");
    if (m != body.end() && m->is_string()) message = m->get<std::string>();
    if (http_code == 0) {  // a watch ERROR object: its own code
      auto c = body.find("code");
      if (c != body.end() && c->is_number_integer()) http_code = c->get<int>();
    }
  } else if (body.is_string()) {
    message = body.get<std::string>();
  } else if (!body.is_null() && !body.is_discarded()) {
    message = body.dump();
  }
  if (message.empty()) {
    message = "the server responded with HTTP " + std::to_string(http_code);
    if (!reason.empty()) message += " (" + reason + ")";
  }
  for (const ReasonCode& rc : kReasons) {
    if (rc.reason == reason) return Status(rc.code, std::move(message));
  }
  return Status(CodeOfHttp(http_code), std::move(message));
}

Status ResponseToStatus(int http_code, std::string_view body) {
  if (http_code >= 200 && http_code < 300) return Status::Ok();
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    std::string text(body.substr(0, 1024));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.pop_back();
    }
    return ApiStatusToStatus(http_code, Json(text));
  }
  return ApiStatusToStatus(http_code, j);
}

Status WatchErrorToStatus(const Json& status_object) {
  Status s = ApiStatusToStatus(0, status_object);
  if (s.ok()) return InternalError("watch error event without a status");
  return s;
}

int HttpCodeOf(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kConflict:
      return 409;
    case Code::kCompacted:
      return 410;
    case Code::kFailedPrecondition:
      return 405;
    case Code::kPermissionDenied:
      return 403;
    case Code::kUnauthenticated:
      return 401;
    case Code::kResourceExhausted:
      return 429;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kUnavailable:
      return 503;
    case Code::kCancelled:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

std::string_view ReasonOf(Code code) {
  switch (code) {
    case Code::kOk:
      return "";
    case Code::kInvalidArgument:
      return "BadRequest";
    case Code::kNotFound:
      return "NotFound";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kConflict:
      return "Conflict";
    case Code::kCompacted:
      return "Expired";
    case Code::kFailedPrecondition:
      return "MethodNotAllowed";
    case Code::kPermissionDenied:
      return "Forbidden";
    case Code::kUnauthenticated:
      return "Unauthorized";
    case Code::kResourceExhausted:
      return "TooManyRequests";
    case Code::kDeadlineExceeded:
      return "Timeout";
    case Code::kUnavailable:
      return "ServiceUnavailable";
    case Code::kCancelled:
    case Code::kInternal:
      return "InternalError";
  }
  return "InternalError";
}

Json StatusToApiStatus(const Status& status) {
  Json j = {
      {"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}};
  if (status.ok()) {
    j["status"] = "Success";
    j["code"] = 200;
    return j;
  }
  j["status"] = "Failure";
  j["message"] = status.message();
  j["reason"] = ReasonOf(status.code());
  j["code"] = HttpCodeOf(status.code());
  return j;
}

}  // namespace kite::client
