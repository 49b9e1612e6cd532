// Status and StatusOr<T>: how every kite library reports failure.
//
// No exceptions cross a library boundary; a function that can fail returns a
// Status (or StatusOr<T> when it also produces a value). Codes follow the
// Kubernetes error reasons the API server must eventually answer with, so the
// one mapping to HTTP lives in the API server and nowhere else.
//
// Thread safety: values; safe to copy and move between threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kite {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // bad input: 400/422
  kNotFound,           // 404
  kAlreadyExists,      // 409 AlreadyExists
  kConflict,           // 409 Conflict: compare-and-swap lost
  kCompacted,          // 410 Gone: the revision asked for was compacted away
  kFailedPrecondition, // the system is not in a state that allows this
  kPermissionDenied,   // 403
  kUnauthenticated,    // 401
  kResourceExhausted,  // 429 / 413
  kDeadlineExceeded,   // 504
  kUnavailable,        // 503: try again later
  kCancelled,          // the caller or a shutdown stopped it
  kInternal,           // a broken invariant or an unexpected system error
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: key /a not found"; "OK" for success.
  std::string ToString() const;

  // Marks a Status as deliberately ignored.
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status ConflictError(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status CompactedError(std::string m) { return {Code::kCompacted, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status CancelledError(std::string m) { return {Code::kCancelled, std::move(m)}; }
inline Status DeadlineExceededError(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
inline Status ResourceExhaustedError(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status InternalError(std::string m) { return {Code::kInternal, std::move(m)}; }

// Holds either a value or a non-OK Status. Constructing it from an OK Status
// is a programming error and turns into kInternal.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status(Code::kInternal, "StatusOr built from OK status");
  }
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace kite

// Returns early from the enclosing function when `expr` is not OK.
#define KITE_RETURN_IF_ERROR(expr)          \
  do {                                      \
    ::kite::Status _kite_st = (expr);       \
    if (!_kite_st.ok()) return _kite_st;    \
  } while (0)

#define KITE_CONCAT_INNER_(a, b) a##b
#define KITE_CONCAT_(a, b) KITE_CONCAT_INNER_(a, b)
// KITE_ASSIGN_OR_RETURN(auto x, F()): assigns the value or returns the error.
#define KITE_ASSIGN_OR_RETURN(lhs, expr) \
  KITE_ASSIGN_OR_RETURN_IMPL_(KITE_CONCAT_(_kite_so_, __LINE__), lhs, expr)
#define KITE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
