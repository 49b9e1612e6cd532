// API errors: every failure of the request path as a Kubernetes Status.
//
// kubectl understands only `{"kind":"Status","apiVersion":"v1",...}` error
// bodies (kubectl-api.md §3): it prints `Error from server (<reason>):
// <message>`. An ApiError is the HTTP code plus that Status object. The one
// mapping between kite's Status codes and HTTP codes and reasons is
// client/wire.h's (HttpCodeOf/ReasonOf/ApiStatusToStatus, shared with every
// client); the named constructors build the messages the Kubernetes API
// server words, e.g.
//   NotFound(kind, "web")   -> 404 `deployments.apps "web" not found`
//   Conflict(kind, "web")   -> 409 `Operation cannot be fulfilled on ...`
//
// ApiOr<T> is StatusOr<T> for the request path: a value or an ApiError. A
// plain kite::Status converts to an ApiError through the mapping, so helpers
// that return Status compose with API_RETURN_IF_ERROR.
//
// Thread safety: values and pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "api/field_error.h"
#include "api/kinds.h"
#include "common/status.h"

namespace kite::apiserver {

class ApiError {
 public:
  // code, reason and message; details (an object) is optional.
  ApiError(int code, std::string_view reason, std::string message,
           nlohmann::json details = nullptr);
  // Through the one mapping: the message is the Status message.
  ApiError(const Status& status);  // NOLINT: implicit by design

  int code() const { return code_; }
  const nlohmann::json& status() const { return status_; }
  std::string reason() const { return status_.value("reason", ""); }
  std::string message() const { return status_.value("message", ""); }
  // The kite::Code this error stands for (client/wire.h's mapping).
  Code kite_code() const;
  Status ToStatus() const { return Status(kite_code(), message()); }

 private:
  int code_;
  nlohmann::json status_;
};

// A Status object for a success (delete answers, eviction, binding).
nlohmann::json SuccessStatus(nlohmann::json details = nullptr);

// ---- the Kubernetes errors, worded as the API server words them ----
// details: {name, group, kind: <resource>}.
nlohmann::json Details(const api::Kind& kind, std::string_view name);

ApiError NotFound(const api::Kind& kind, std::string_view name);
// `namespaces "x" not found` and the like, for a resource given by name.
ApiError NotFoundResource(std::string_view group, std::string_view resource,
                          std::string_view name);
ApiError AlreadyExists(const api::Kind& kind, std::string_view name);
// `Operation cannot be fulfilled on <gr> "<name>": <why>`; the default `why`
// is the stale resourceVersion text kubectl users know.
ApiError Conflict(const api::Kind& kind, std::string_view name,
                  std::string_view why = {});
// 422 with the field causes.
ApiError Invalid(const api::Kind& kind, std::string_view name,
                 const api::FieldErrors& errs);
ApiError BadRequest(std::string message);
// 403 `<gr> "<name>" is forbidden: <why>`.
ApiError Forbidden(const api::Kind& kind, std::string_view name,
                   std::string_view why);
// 405 `the server does not allow this method on the requested resource`.
ApiError MethodNotSupported(const api::Kind& kind, std::string_view action);
ApiError UnsupportedMediaType(std::string message);
ApiError NotAcceptable(std::string message);
ApiError RequestEntityTooLarge(std::string message);
// 410 Expired (too old resourceVersion, stale continue token).
ApiError Expired(std::string message);
ApiError TooManyRequests(std::string message);
ApiError Unauthorized(std::string message = "Unauthorized");
ApiError ApiInternalError(std::string message);
// 404 for a path that names no resource.
ApiError PathNotFound();

template <typename T>
class [[nodiscard]] ApiOr {
 public:
  ApiOr(ApiError error) : v_(std::move(error)) {}        // NOLINT
  ApiOr(const Status& status) : v_(ApiError(status)) {}  // NOLINT
  ApiOr(T value) : v_(std::move(value)) {}               // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<ApiError, T> v_;
};

// The "void" form: OK or an error.
class [[nodiscard]] ApiStatus {
 public:
  ApiStatus() = default;
  ApiStatus(ApiError error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  ApiStatus(const Status& status)                                      // NOLINT
      : error_(status.ok() ? ApiError(500, "InternalError", "")
                           : ApiError(status)),
        ok_(status.ok()) {}
  static ApiStatus Ok() { return ApiStatus(); }
  bool ok() const { return ok_; }
  const ApiError& error() const { return error_; }

 private:
  ApiError error_{500, "InternalError", ""};
  bool ok_ = true;
};

}  // namespace kite::apiserver

#define API_CONCAT_INNER_(a, b) a##b
#define API_CONCAT_(a, b) API_CONCAT_INNER_(a, b)
// Returns the error of an ApiOr/ApiStatus/Status expression.
#define API_RETURN_IF_ERROR(expr)                                   \
  do {                                                              \
    auto _api_r = (expr);                                           \
    if (!_api_r.ok()) return ::kite::apiserver::ApiErrorOf(_api_r); \
  } while (0)
#define API_ASSIGN_OR_RETURN(lhs, expr) \
  API_ASSIGN_OR_RETURN_IMPL_(API_CONCAT_(_api_or_, __LINE__), lhs, expr)
#define API_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)          \
  auto tmp = (expr);                                        \
  if (!tmp.ok()) return ::kite::apiserver::ApiErrorOf(tmp); \
  lhs = std::move(tmp).value()

namespace kite::apiserver {
template <typename T>
ApiError ApiErrorOf(const ApiOr<T>& r) {
  return r.error();
}
template <typename T>
ApiError ApiErrorOf(const StatusOr<T>& r) {
  return ApiError(r.status());
}
inline ApiError ApiErrorOf(const ApiStatus& r) { return r.error(); }
inline ApiError ApiErrorOf(const Status& r) { return ApiError(r); }
}  // namespace kite::apiserver
