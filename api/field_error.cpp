#include "api/field_error.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

namespace kite::api {

using Json = nlohmann::json;

namespace {

std::string_view TypeText(FieldErrorType t) {
  switch (t) {
    case FieldErrorType::kNotFound:
      return "Not found";
    case FieldErrorType::kRequired:
      return "Required value";
    case FieldErrorType::kDuplicate:
      return "Duplicate value";
    case FieldErrorType::kInvalid:
      return "Invalid value";
    case FieldErrorType::kNotSupported:
      return "Unsupported value";
    case FieldErrorType::kForbidden:
      return "Forbidden";
    case FieldErrorType::kTooLong:
      return "Too long";
    case FieldErrorType::kTooMany:
      return "Too many";
    case FieldErrorType::kInternal:
      return "Internal error";
  }
  return "Invalid value";
}

}  // namespace

std::string_view FieldError::Reason() const {
  switch (type) {
    case FieldErrorType::kNotFound:
      return "FieldValueNotFound";
    case FieldErrorType::kRequired:
      return "FieldValueRequired";
    case FieldErrorType::kDuplicate:
      return "FieldValueDuplicate";
    case FieldErrorType::kInvalid:
      return "FieldValueInvalid";
    case FieldErrorType::kNotSupported:
      return "FieldValueNotSupported";
    case FieldErrorType::kForbidden:
      return "FieldValueForbidden";
    case FieldErrorType::kTooLong:
      return "FieldValueTooLong";
    case FieldErrorType::kTooMany:
      return "FieldValueTooMany";
    case FieldErrorType::kInternal:
      return "InternalError";
  }
  return "FieldValueInvalid";
}

std::string FieldError::Body() const {
  std::string s(TypeText(type));
  bool omit = !has_value || type == FieldErrorType::kRequired ||
              type == FieldErrorType::kForbidden ||
              type == FieldErrorType::kTooLong ||
              type == FieldErrorType::kInternal;
  if (!omit) s += ": " + value;
  if (!detail.empty()) s += ": " + detail;
  return s;
}

std::string FieldError::ToString() const { return field + ": " + Body(); }

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

std::string GoValue(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return GoQuote(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  if (v.is_array()) {
    bool all_strings = std::all_of(v.begin(), v.end(),
                                   [](const Json& e) { return e.is_string(); });
    if (all_strings) {
      std::string s = "[]string{";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ", ";
        s += GoQuote(v[i].get<std::string>());
      }
      return s + "}";
    }
  }
  if (v.is_object()) {
    bool all_strings = std::all_of(v.begin(), v.end(),
                                   [](const Json& e) { return e.is_string(); });
    if (all_strings) {
      std::string s = "map[string]string{";
      bool first = true;
      for (auto it = v.begin(); it != v.end();
           ++it) {  // nlohmann keeps keys sorted
        if (!first) s += ", ";
        first = false;
        s += GoQuote(it.key()) + ":" + GoQuote(it.value().get<std::string>());
      }
      return s + "}";
    }
  }
  return v.dump();
}

FieldError Invalid(std::string field, const Json& value, std::string detail) {
  return {FieldErrorType::kInvalid, std::move(field), GoValue(value), true,
          std::move(detail)};
}
FieldError InvalidRendered(std::string field, std::string rendered,
                           std::string detail) {
  return {FieldErrorType::kInvalid, std::move(field), std::move(rendered), true,
          std::move(detail)};
}
FieldError Required(std::string field, std::string detail) {
  return {FieldErrorType::kRequired, std::move(field), "", false,
          std::move(detail)};
}
FieldError Duplicate(std::string field, const Json& value) {
  return {FieldErrorType::kDuplicate, std::move(field), GoValue(value), true,
          ""};
}
FieldError NotFound(std::string field, const Json& value) {
  return {FieldErrorType::kNotFound, std::move(field), GoValue(value), true,
          ""};
}
FieldError Forbidden(std::string field, std::string detail) {
  return {FieldErrorType::kForbidden, std::move(field), "", false,
          std::move(detail)};
}
FieldError TooLong(std::string field, std::string detail) {
  return {FieldErrorType::kTooLong, std::move(field), "", false,
          std::move(detail)};
}
FieldError NotSupported(std::string field, const Json& value,
                        const std::vector<std::string>& supported) {
  std::string detail;
  if (!supported.empty()) {
    detail = "supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) {
      if (i) detail += ", ";
      detail += GoQuote(supported[i]);
    }
  }
  return {FieldErrorType::kNotSupported, std::move(field), GoValue(value), true,
          detail};
}

std::string AggregateMessage(const FieldErrors& errs) {
  std::vector<std::string> msgs;
  std::set<std::string> seen;
  for (const FieldError& e : errs) {
    std::string m = e.ToString();
    if (seen.insert(m).second) msgs.push_back(std::move(m));
  }
  if (msgs.empty()) return "";
  if (msgs.size() == 1) return msgs[0];
  std::string s = "[";
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i) s += ", ";
    s += msgs[i];
  }
  return s + "]";
}

std::string InvalidMessage(std::string_view group, std::string_view kind,
                           std::string_view name, const FieldErrors& errs) {
  std::string gk(kind);
  if (!group.empty()) gk += "." + std::string(group);
  std::string s = gk + " " + GoQuote(name) + " is invalid";
  if (!errs.empty()) s += ": " + AggregateMessage(errs);
  return s;
}

std::string KubectlInvalidMessage(std::string_view kind, std::string_view name,
                                  const FieldErrors& errs) {
  std::string s =
      "The " + std::string(kind) + " " + GoQuote(name) + " is invalid";
  if (!errs.empty()) s += ": " + AggregateMessage(errs);
  return s;
}

Json InvalidStatus(std::string_view group, std::string_view kind,
                   std::string_view name, const FieldErrors& errs) {
  Json causes = Json::array();
  for (const FieldError& e : errs) {
    causes.push_back({{"reason", std::string(e.Reason())},
                      {"message", e.Body()},
                      {"field", e.field}});
  }
  Json details = {{"name", std::string(name)},
                  {"kind", std::string(kind)},
                  {"causes", causes}};
  if (!group.empty()) details["group"] = std::string(group);
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Failure"},
          {"message", InvalidMessage(group, kind, name, errs)},
          {"reason", "Invalid"},
          {"details", details},
          {"code", 422}};
}

// ---- name and label checks ----

namespace {

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool IsAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string MaxLenError(int n) {
  return "must be no more than " + std::to_string(n) + " characters";
}

std::string RegexError(std::string msg, std::string_view fmt,
                       std::initializer_list<std::string_view> examples) {
  if (examples.size() == 0)
    return msg + " (regex used for validation is '" + std::string(fmt) + "')";
  msg += " (e.g. ";
  size_t i = 0;
  for (std::string_view e : examples) {
    if (i++ > 0) msg += " or ";
    msg += "'" + std::string(e) + "', ";
  }
  msg += "regex used for validation is '" + std::string(fmt) + "')";
  return msg;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchLabel(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back()))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool MatchSubdomain(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                      : dot - start);
    if (!MatchLabel(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAlnum(c) || c == '-' || c == '_' || c == '.';
  });
}

constexpr char kDNS1123LabelFmt[] = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr char kDNS1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr char kQualifiedNameErrMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an "
    "alphanumeric character";

std::vector<std::string> HasChDirPrefix(std::string_view v) {
  if (v == ".") return {"must not be '.'"};
  if (v == "..") return {"must not be '..'"};
  if (v.substr(0, 2) == "..") return {"must not start with '..'"};
  return {};
}

}  // namespace

std::vector<std::string> IsDNS1123Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchLabel(value)) {
    if (MatchSubdomain(value)) {
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(
          RegexError("a lowercase RFC 1123 label must consist of lower case "
                     "alphanumeric characters or '-', "
                     "and must start and end with an alphanumeric character",
                     kDNS1123LabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchSubdomain(value)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case "
        "alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character",
        kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1035Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  bool ok = MatchLabel(value) && value.front() >= 'a' && value.front() <= 'z';
  if (!ok) {
    errs.push_back(RegexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters "
        "or '-', start with "
        "an alphabetic character, and end with an alphanumeric character",
        "[a-z]([-a-z0-9]*[a-z0-9])?", {"my-name", "abc-123"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name;
  size_t slash = value.find('/');
  if (slash == std::string_view::npos) {
    name = value;
  } else if (value.find('/', slash + 1) == std::string_view::npos) {
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& m : IsDNS1123Subdomain(prefix))
        errs.push_back("prefix part " + m);
    }
  } else {
    errs.push_back("a qualified name " +
                   RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                              {"MyName", "my.name", "123-abc"}) +
                   " with an optional DNS subdomain prefix and '/' (e.g. "
                   "'example.com/MyName')");
    return errs;
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!MatchQualifiedNamePart(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg,
                                             kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!value.empty() && !MatchQualifiedNamePart(value)) {
    errs.push_back(RegexError(
        "a valid label must be an empty string or consist of alphanumeric "
        "characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character",
        "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?",
        {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> IsConfigMapKey(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(MaxLenError(253));
  bool ok =
      !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
        return IsAlnum(c) || c == '-' || c == '_' || c == '.';
      });
  if (!ok) {
    errs.push_back(
        RegexError("a valid config key must consist of alphanumeric "
                   "characters, '-', '_' or '.'",
                   "[-._a-zA-Z0-9]+", {"key.name", "KEY_NAME", "key-name"}));
  }
  for (std::string& m : HasChDirPrefix(value)) errs.push_back(std::move(m));
  return errs;
}

std::vector<std::string> IsEnvVarName(std::string_view value) {
  // Kubernetes 1.32 relaxed environment variable names (feature
  // RelaxedEnvironmentVariableValidation): any printable ASCII but '='.
  std::vector<std::string> errs;
  bool ok = !value.empty() &&
            std::all_of(value.begin(), value.end(),
                        [](char c) { return c >= 32 && c <= 126 && c != '='; });
  if (!ok) {
    errs.push_back(
        "a valid environment variable name must consist only of printable "
        "ASCII characters other "
        "than '='");
  }
  return errs;
}

std::vector<std::string> IsValidPortName(std::string_view port) {
  std::vector<std::string> errs;
  if (port.size() > 15) errs.push_back(MaxLenError(15));
  bool charset =
      !port.empty() && std::all_of(port.begin(), port.end(), [](char c) {
        return IsLowerAlnum(c) || c == '-';
      });
  if (!charset)
    errs.push_back(
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens "
        "(-)");
  bool letter = std::any_of(port.begin(), port.end(),
                            [](char c) { return c >= 'a' && c <= 'z'; });
  if (!letter) errs.push_back("must contain at least one letter (a-z)");
  if (port.find("--") != std::string_view::npos)
    errs.push_back("must not contain consecutive hyphens");
  if (!port.empty() && (port.front() == '-' || port.back() == '-')) {
    errs.push_back("must not begin or end with a hyphen");
  }
  return errs;
}

std::vector<std::string> IsValidPortNum(int64_t port) {
  if (port >= 1 && port <= 65535) return {};
  return {"must be between 1 and 65535, inclusive"};
}

std::vector<std::string> IsValidPathSegmentName(std::string_view name) {
  if (name == ".") return {"may not be '.'"};
  if (name == "..") return {"may not be '..'"};
  std::vector<std::string> errs;
  if (name.find('/') != std::string_view::npos)
    errs.push_back("may not contain '/'");
  if (name.find('%') != std::string_view::npos)
    errs.push_back("may not contain '%'");
  return errs;
}

void AppendInvalid(FieldErrors* out, const std::string& field,
                   const Json& value, const std::vector<std::string>& msgs) {
  for (const std::string& m : msgs) out->push_back(Invalid(field, value, m));
}

void ValidateLabels(const Json* labels, const std::string& field,
                    FieldErrors* out) {
  if (labels == nullptr || labels->is_null()) return;
  if (!labels->is_object()) {
    out->push_back(Invalid(field, *labels,
                           "must be a map of string keys to string values"));
    return;
  }
  for (auto it = labels->begin(); it != labels->end(); ++it) {
    AppendInvalid(out, field, it.key(), IsQualifiedName(it.key()));
    if (!it.value().is_string()) {
      out->push_back(
          Invalid(field, it.value(), "label values must be strings"));
      continue;
    }
    std::string v = it.value().get<std::string>();
    AppendInvalid(out, field, v, IsValidLabelValue(v));
  }
}

void ValidateAnnotations(const Json* annotations, const std::string& field,
                         FieldErrors* out) {
  if (annotations == nullptr || annotations->is_null()) return;
  if (!annotations->is_object()) {
    out->push_back(Invalid(field, *annotations,
                           "must be a map of string keys to string values"));
    return;
  }
  size_t total = 0;
  for (auto it = annotations->begin(); it != annotations->end(); ++it) {
    std::string lower = it.key();
    std::transform(
        lower.begin(), lower.end(), lower.begin(),
        [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    AppendInvalid(out, field, it.key(), IsQualifiedName(lower));
    total += it.key().size();
    if (it.value().is_string()) total += it.value().get<std::string>().size();
  }
  if (total > 256 * 1024)
    out->push_back(TooLong(field, "may not be more than 262144 bytes"));
}

}  // namespace kite::api
