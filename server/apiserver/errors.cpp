#include "server/apiserver/errors.h"

#include "client/wire.h"

namespace kite::apiserver {

using nlohmann::json;

ApiError::ApiError(int code, std::string_view reason, std::string message,
                   json details)
    : code_(code) {
  status_ = {{"kind", "Status"},
             {"apiVersion", "v1"},
             {"metadata", json::object()},
             {"status", "Failure"},
             {"message", std::move(message)},
             {"reason", std::string(reason)}};
  if (details.is_object() && !details.empty())
    status_["details"] = std::move(details);
  status_["code"] = code;
}

ApiError::ApiError(const Status& status)
    : ApiError(client::HttpCodeOf(status.code()),
               client::ReasonOf(status.code()), status.message()) {}

Code ApiError::kite_code() const {
  return client::ApiStatusToStatus(code_, status_).code();
}

json SuccessStatus(json details) {
  json s = {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Success"}};
  if (details.is_object() && !details.empty())
    s["details"] = std::move(details);
  return s;
}

json Details(const api::Kind& kind, std::string_view name) {
  json d = json::object();
  if (!name.empty()) d["name"] = std::string(name);
  if (!kind.group.empty()) d["group"] = kind.group;
  d["kind"] = kind.resource;
  return d;
}

ApiError NotFound(const api::Kind& kind, std::string_view name) {
  return ApiError(
      404, "NotFound",
      kind.GroupResource() + " \"" + std::string(name) + "\" not found",
      Details(kind, name));
}

ApiError NotFoundResource(std::string_view group, std::string_view resource,
                          std::string_view name) {
  std::string gr(resource);
  if (!group.empty()) gr += "." + std::string(group);
  json d = {{"name", std::string(name)}, {"kind", std::string(resource)}};
  if (!group.empty()) d["group"] = std::string(group);
  return ApiError(404, "NotFound",
                  gr + " \"" + std::string(name) + "\" not found",
                  std::move(d));
}

ApiError AlreadyExists(const api::Kind& kind, std::string_view name) {
  return ApiError(
      409, "AlreadyExists",
      kind.GroupResource() + " \"" + std::string(name) + "\" already exists",
      Details(kind, name));
}

ApiError Conflict(const api::Kind& kind, std::string_view name,
                  std::string_view why) {
  std::string reason_text =
      why.empty()
          ? "the object has been modified; please apply your changes to "
            "the latest version and try again"
          : std::string(why);
  return ApiError(409, "Conflict",
                  "Operation cannot be fulfilled on " + kind.GroupResource() +
                      " \"" + std::string(name) + "\": " + reason_text,
                  Details(kind, name));
}

ApiError Invalid(const api::Kind& kind, std::string_view name,
                 const api::FieldErrors& errs) {
  json s = api::InvalidStatus(kind.group, kind.kind, name, errs);
  return ApiError(422, "Invalid", s.value("message", ""),
                  s.value("details", json::object()));
}

ApiError BadRequest(std::string message) {
  return ApiError(400, "BadRequest", std::move(message));
}

ApiError Forbidden(const api::Kind& kind, std::string_view name,
                   std::string_view why) {
  return ApiError(403, "Forbidden",
                  kind.GroupResource() + " \"" + std::string(name) +
                      "\" is forbidden: " + std::string(why),
                  Details(kind, name));
}

ApiError MethodNotSupported(const api::Kind& kind, std::string_view action) {
  json d = Details(kind, "");
  return ApiError(
      405, "MethodNotAllowed",
      "the server does not allow this method on the requested resource" +
          (action.empty() ? std::string() : " (" + std::string(action) + ")"),
      std::move(d));
}

ApiError UnsupportedMediaType(std::string message) {
  return ApiError(415, "UnsupportedMediaType", std::move(message));
}

ApiError NotAcceptable(std::string message) {
  return ApiError(406, "NotAcceptable", std::move(message));
}

ApiError RequestEntityTooLarge(std::string message) {
  return ApiError(413, "RequestEntityTooLarge", std::move(message));
}

ApiError Expired(std::string message) {
  return ApiError(410, "Expired", std::move(message));
}

ApiError TooManyRequests(std::string message) {
  return ApiError(429, "TooManyRequests", std::move(message));
}

ApiError Unauthorized(std::string message) {
  return ApiError(401, "Unauthorized", std::move(message));
}

ApiError ApiInternalError(std::string message) {
  return ApiError(500, "InternalError",
                  "Internal error occurred: " + std::move(message));
}

ApiError PathNotFound() {
  return ApiError(404, "NotFound",
                  "the server could not find the requested resource");
}

}  // namespace kite::apiserver
