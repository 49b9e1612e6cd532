// Field errors: what validation finds wrong with an object, worded exactly as
// the Kubernetes API server words it.
//
// A FieldError names a field path ("spec.replicas"), an error type, the bad
// value and a detail. Rendered it reads
//   spec.replicas: Invalid value: -1: must be greater than or equal to 0
// A list of them becomes the 422 Invalid Status of the REST layer:
//   message  Deployment.apps "web" is invalid: spec.replicas: Invalid value:
//   ... details.causes[{reason: "FieldValueInvalid", field, message}]
// and kubectl prints it as `The Deployment "web" is invalid: ...`.
//
// Also here: the name, label and key checks of k8s.io/apimachinery's
// validation package, with its messages.
//
// Thread safety: values and pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kite::api {

enum class FieldErrorType {
  kNotFound,      // "Not found"
  kRequired,      // "Required value"
  kDuplicate,     // "Duplicate value"
  kInvalid,       // "Invalid value"
  kNotSupported,  // "Unsupported value"
  kForbidden,     // "Forbidden"
  kTooLong,       // "Too long"
  kTooMany,       // "Too many"
  kInternal,      // "Internal error"
};

struct FieldError {
  FieldErrorType type = FieldErrorType::kInvalid;
  std::string field;  // "spec.template.spec.containers[0].image"
  // The bad value as Go's validation prints it (strings quoted, numbers bare,
  // structs in Go syntax); ignored for Required/Forbidden/TooLong/Internal.
  std::string value;
  bool has_value = true;
  std::string detail;

  // "Invalid value: -1: must be greater than or equal to 0"
  std::string Body() const;
  // "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
  std::string ToString() const;
  // The Status cause reason: "FieldValueInvalid", "FieldValueRequired", ...
  std::string_view Reason() const;
};

using FieldErrors = std::vector<FieldError>;

// Formats a JSON value the way Go's %v/%q would for the bad value:
// "abc" -> "\"abc\"", 3 -> "3", true -> "true", null -> "null"; arrays of
// strings -> `[]string{"a", "b"}`; objects of strings ->
// `map[string]string{"a":"b"}`; anything else as compact JSON.
std::string GoValue(const nlohmann::json& v);
// Go's %q of a string.
std::string GoQuote(std::string_view s);

// Constructors mirroring k8s.io/apimachinery/pkg/util/validation/field.
FieldError Invalid(std::string field, const nlohmann::json& value,
                   std::string detail);
// Invalid with a value already rendered (e.g. a Go struct dump).
FieldError InvalidRendered(std::string field, std::string rendered,
                           std::string detail);
FieldError Required(std::string field, std::string detail = "");
FieldError Duplicate(std::string field, const nlohmann::json& value);
FieldError NotFound(std::string field, const nlohmann::json& value);
FieldError Forbidden(std::string field, std::string detail);
FieldError TooLong(std::string field, std::string detail);
// detail = `supported values: "a", "b"`.
FieldError NotSupported(std::string field, const nlohmann::json& value,
                        const std::vector<std::string>& supported);

// "a" for one error; "[a, b]" for several (duplicates dropped), as
// utilerrors.Aggregate prints them. Empty for none.
std::string AggregateMessage(const FieldErrors& errs);
// The API server's message for a 422:
//   `Deployment.apps "web" is invalid: spec.replicas: Invalid value: ...`
// (no ".group" suffix for the core group).
std::string InvalidMessage(std::string_view group, std::string_view kind,
                           std::string_view name, const FieldErrors& errs);
// What kubectl prints for that Status: `The Deployment "web" is invalid: ...`.
std::string KubectlInvalidMessage(std::string_view kind, std::string_view name,
                                  const FieldErrors& errs);
// The complete 422 Status object (kind Status, reason Invalid, details with
// group, kind, name and causes).
nlohmann::json InvalidStatus(std::string_view group, std::string_view kind,
                             std::string_view name, const FieldErrors& errs);

// ---- name and label checks (k8s.io/apimachinery/pkg/util/validation) ----
// Each returns the list of problems; empty means valid.
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);
std::vector<std::string> IsDNS1123Label(std::string_view value);
std::vector<std::string> IsDNS1035Label(std::string_view value);
std::vector<std::string> IsQualifiedName(std::string_view value);  // label keys
std::vector<std::string> IsValidLabelValue(std::string_view value);
std::vector<std::string> IsConfigMapKey(std::string_view value);
std::vector<std::string> IsEnvVarName(std::string_view value);
std::vector<std::string> IsValidPortName(std::string_view value);
std::vector<std::string> IsValidPortNum(int64_t port);
// Path segment names (RBAC objects): not "." or "..", no '/' or '%'.
std::vector<std::string> IsValidPathSegmentName(std::string_view value);

// Appends `errs` of one check as Invalid errors at `field` with `value`.
void AppendInvalid(FieldErrors* out, const std::string& field,
                   const nlohmann::json& value,
                   const std::vector<std::string>& msgs);

// metadata.labels / annotations checks with the Kubernetes paths and texts.
void ValidateLabels(const nlohmann::json* labels, const std::string& field,
                    FieldErrors* out);
void ValidateAnnotations(const nlohmann::json* annotations,
                         const std::string& field, FieldErrors* out);

}  // namespace kite::api
