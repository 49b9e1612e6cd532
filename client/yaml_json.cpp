#include "client/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace kite::client {

using nlohmann::json;

namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Budget of converted nodes: aliases may repeat a subtree many times.
constexpr size_t kMaxYamlNodes = 1000000;

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or values
// beyond U+10FFFF).
bool IsUtf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

// True when a "---" line starts a document after some content: a second
// document (a leading "---" only marks the first).
bool HasSecondDocument(std::string_view text) {
  bool content = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(
        pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    bool separator =
        line.substr(0, 3) == "---" && (line.size() == 3 || line[3] == ' ' ||
                                       line[3] == '\t' || line[3] == '\r');
    if (separator && content) return true;
    std::string body = Trim(line);
    if (!separator && !body.empty() && body[0] != '#') content = true;
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return false;
}

// When `text` opens with a flow collection ('{' or '['), the offset just
// past its matching close, honouring quoted scalars and comments; npos when
// it does not open with one or never closes (the parser then reports it).
size_t FlowCollectionEnd(std::string_view text) {
  if (text.empty() || (text[0] != '{' && text[0] != '['))
    return std::string::npos;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
    } else if (c == '\'') {
      for (++i; i < text.size(); ++i) {
        if (text[i] != '\'') continue;
        if (i + 1 < text.size() && text[i + 1] == '\'') {
          ++i;  // '' is an escaped quote
          continue;
        }
        break;
      }
    } else if (c == '#' && i > 0 &&
               (text[i - 1] == ' ' || text[i - 1] == '\t' ||
                text[i - 1] == '\n')) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string::npos;
}

// Anything but blanks, line breaks, comments or a document end marker
// after `from`.
bool HasContentAfter(std::string_view text, size_t from) {
  for (size_t i = from; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (text.substr(i, 3) == "..." || text.substr(i, 3) == "---") {
      i += 2;
      continue;
    }
    return true;
  }
  return false;
}

bool IsInt(const std::string& s) {
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  return std::all_of(s.begin() + static_cast<long>(i), s.end(),
                     [](unsigned char c) { return std::isdigit(c); });
}

bool IsFloat(const std::string& s) {
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  size_t i = 0, n = s.size();
  if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < n && s[i] == '.') {
    ++i;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i])))
      ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == n;
}

json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
    return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (IsInt(s)) {
    int64_t v = 0;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
    uint64_t u = 0;
    auto [p2, ec2] = std::from_chars(b, s.data() + s.size(), u);
    if (ec2 == std::errc() && p2 == s.data() + s.size()) return u;
    // Beyond 64 bits a float, as in Kubernetes; beyond a double's range
    // (ParseFloat fails there) the scalar stays a string, never infinity
    // (which JSON cannot hold: it would be stored as null).
    double d = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(d)) return d;
    return s;
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    int base = s[1] == 'x' ? 16 : 8;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, base);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  if (IsFloat(s)) {
    double d = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(d)) return d;
  }
  return s;
}

Status ConvertYaml(const YAML::Node& node, json* out, int depth,
                   size_t* budget) {
  if (depth > kMaxYamlDepth)
    return InvalidArgumentError("yaml: nesting too deep");
  if (++*budget > kMaxYamlNodes)
    return InvalidArgumentError(
        "yaml: document too large after expanding aliases");
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      *out = nullptr;
      return Status::Ok();
    case YAML::NodeType::Scalar: {
      const std::string& tag = node.Tag();
      const std::string& v = node.Scalar();
      // yaml-cpp writes some escapes (\N, \_, \L, \P) as raw bytes that are
      // not UTF-8; JSON cannot hold them.
      if (!IsUtf8(v))
        return InvalidArgumentError("yaml: a scalar is not valid UTF-8");
      if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "!!str") {
        *out = v;
      } else if (tag == "?" || tag.empty()) {
        *out = PlainScalar(v);
      } else if (tag == "tag:yaml.org,2002:int" ||
                 tag == "tag:yaml.org,2002:float" ||
                 tag == "tag:yaml.org,2002:bool" ||
                 tag == "tag:yaml.org,2002:null") {
        *out = PlainScalar(v);
      } else {
        *out = v;
      }
      return Status::Ok();
    }
    case YAML::NodeType::Sequence: {
      *out = json::array();
      for (const auto& item : node) {
        json v;
        KITE_RETURN_IF_ERROR(ConvertYaml(item, &v, depth + 1, budget));
        out->push_back(std::move(v));
      }
      return Status::Ok();
    }
    case YAML::NodeType::Map: {
      *out = json::object();
      for (const auto& kv : node) {
        std::string key;
        if (kv.first.IsScalar()) {
          key = kv.first.Scalar();
          if (!IsUtf8(key))
            return InvalidArgumentError("yaml: a key is not valid UTF-8");
        } else if (kv.first.IsNull()) {
          key = "null";
        } else {
          return InvalidArgumentError("yaml: map keys must be scalars");
        }
        json v;
        KITE_RETURN_IF_ERROR(ConvertYaml(kv.second, &v, depth + 1, budget));
        (*out)[key] = std::move(v);
      }
      return Status::Ok();
    }
  }
  return InvalidArgumentError("yaml: unsupported node");
}

}  // namespace

Status CheckJsonTextDepth(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        return InvalidArgumentError("the body nests deeper than " +
                                    std::to_string(max_depth) + " levels");
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return Status::Ok();
}

StatusOr<json> YamlToJson(std::string_view text) {
  // Kubernetes' YAML parser refuses bytes that are not UTF-8; yaml-cpp would
  // pass them into strings that JSON cannot hold.
  if (!IsUtf8(text)) return InvalidArgumentError("yaml: invalid UTF-8");
  // Nor does it allow control characters; yaml-cpp loops forever on some
  // (NUL inside a quoted scalar).
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7F)
      return InvalidArgumentError("yaml: control characters are not allowed");
  }
  // JSON is YAML; parse it as JSON when it looks like it (faster, exact).
  std::string trimmed = Trim(text);
  if (!trimmed.empty() && (trimmed[0] == '{' || trimmed[0] == '[')) {
    if (CheckJsonTextDepth(trimmed).ok()) {
      json j = json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded()) return j;
    }
  }
  KITE_RETURN_IF_ERROR(
      CheckJsonTextDepth(text));  // also bounds flow-style YAML
  // One document only. yaml-cpp's LoadAll loops forever on some text after
  // a document (a stray '}' after a flow mapping), so only the first is
  // parsed and what follows it is checked here.
  if (HasSecondDocument(text))
    return InvalidArgumentError("yaml: the body holds more than one document");
  if (size_t end = FlowCollectionEnd(trimmed);
      end != std::string::npos && HasContentAfter(trimmed, end)) {
    return InvalidArgumentError(
        "yaml: did not find expected <document start> after the flow "
        "collection");
  }
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(text));
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("yaml: ") + e.what());
  }
  if (!doc.IsDefined() || doc.IsNull()) return json(nullptr);
  json out;
  size_t budget = 0;
  try {
    KITE_RETURN_IF_ERROR(ConvertYaml(doc, &out, 0, &budget));
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("yaml: ") + e.what());
  }
  return out;
}

}  // namespace kite::client
