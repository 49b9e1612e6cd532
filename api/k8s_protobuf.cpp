#include "api/k8s_protobuf.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "api/k8s_proto_schema.h"
#include "api/quantity.h"
#include "rpc/protowire.h"

namespace kite::api {
namespace {

using Json = nlohmann::json;
using rpc::protowire::DecodePackedVarints;
using rpc::protowire::Decoder;
using rpc::protowire::Field;
using rpc::protowire::WireType;

// Unix seconds of Go's zero time (January 1, year 1, UTC): Go renders it null.
constexpr int64_t kGoZeroTimeUnix = -62135596800;
// The years Kubernetes' RFC 3339 form can hold: 0000-01-01 .. 9999-12-31.
constexpr int64_t kMinUnixSeconds = -62167219200;
constexpr int64_t kMaxUnixSeconds = 253402300799;

const char* WireTypeName(WireType type) {
  switch (type) {
    case WireType::kVarint:
      return "varint";
    case WireType::kFixed64:
      return "fixed64";
    case WireType::kLengthDelimited:
      return "length-delimited";
    case WireType::kFixed32:
      return "fixed32";
    default:
      return "group";
  }
}

// Go's encoding/json replaces each byte that does not start a valid UTF-8
// sequence with U+FFFD; nlohmann::json would throw on it when dumping.
std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid.
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                 (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// RFC 3339 in UTC, "2006-01-02T15:04:05Z", with `micros` >= 0 six fractional
// digits. `seconds` must be within [kMinUnixSeconds, kMaxUnixSeconds].
std::string FormatRfc3339(int64_t seconds, int64_t micros) {
  int64_t days = FloorDiv(seconds, 86400);
  int64_t sod = seconds - days * 86400;
  // Civil date from days since 1970-01-01 (proleptic Gregorian calendar),
  // counting in 400-year eras that start on March 1.
  int64_t z = days + 719468;
  int64_t era = FloorDiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[128];  // roomy enough for any int, as -Wformat-truncation checks
  if (micros < 0) {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                  static_cast<int>(year), static_cast<int>(month),
                  static_cast<int>(day), static_cast<int>(sod / 3600),
                  static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                  static_cast<int>(year), static_cast<int>(month),
                  static_cast<int>(day), static_cast<int>(sod / 3600),
                  static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                  static_cast<int>(micros));
  }
  return buf;
}

// Deepest [ / { nesting of a JSON text, ignoring string contents.
int JsonNesting(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) max_depth = depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

// The Decoder's error without its "protobuf: " prefix.
std::string WireError(const Decoder& d) {
  std::string m = d.status().message();
  if (m.rfind("protobuf: ", 0) == 0) m.erase(0, 10);
  return m;
}

bool IsVarintKind(ProtoFieldKind kind) {
  return kind == ProtoFieldKind::kBool || kind == ProtoFieldKind::kInt32 ||
         kind == ProtoFieldKind::kInt64;
}

// Walks protobuf bytes along the schema tables and builds JSON. On failure it
// records a message and the path to the failing field (built while the
// recursion unwinds).
class Converter {
 public:
  // Decodes `bytes` as `schema` into the JSON object *obj (merging into what
  // is there). `depth` counts the messages enclosing this one, itself included.
  bool Message(std::string_view bytes, const ProtoMessageSchema& schema,
               Json* obj, int depth) {
    if (depth > kMaxProtobufNesting) {
      return Fail("nested deeper than " + std::to_string(kMaxProtobufNesting) +
                  " messages");
    }
    Decoder d(bytes);
    Field f;
    while (d.Next(&f)) {
      const ProtoFieldSchema* fs = FindProtoField(schema, f.number);
      if (fs == nullptr)
        continue;  // unknown fields are skipped, as protobuf does
      if (!FieldInto(f, *fs, obj, depth)) return false;
    }
    if (!d.status().ok())
      return Fail("malformed " + std::string(schema.name) + ": " +
                  WireError(d));
    return true;
  }

  // "spec.template.spec.containers[0]"; empty at the top.
  std::string Path() const {
    std::string out;
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      if (!out.empty() && (*it)[0] != '[') out += '.';
      out += *it;
    }
    return out;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  // Records where a failure happened, innermost segment first.
  bool At(std::string segment) {
    path_.push_back(std::move(segment));
    return false;
  }

  bool WantBytes(const Field& f) {
    if (f.is_bytes()) return true;
    return Fail(std::string("wire type ") + WireTypeName(f.type) +
                ", want length-delimited");
  }

  bool FieldInto(const Field& f, const ProtoFieldSchema& fs, Json* obj,
                 int depth) {
    if (fs.flags & kProtoInline) {
      if (!WantBytes(f)) return At(FieldLabel(fs));
      // The inlined struct's fields land in the enclosing object; a failure
      // inside names its own fields.
      return Message(f.bytes, ProtoMessageAt(fs.message), obj, depth + 1);
    }
    if (fs.flags & kProtoMap) return MapEntry(f, fs, obj, depth);
    if (fs.flags & kProtoRepeated) return RepeatedElement(f, fs, obj, depth);

    if (fs.kind == ProtoFieldKind::kMessage) {
      // Repeated occurrences of a singular message merge, as in protobuf.
      if (!WantBytes(f)) return At(fs.json_name);
      Json& slot = (*obj)[fs.json_name];
      if (!slot.is_object()) slot = Json::object();
      if (!Message(f.bytes, ProtoMessageAt(fs.message), &slot, depth + 1))
        return At(fs.json_name);
      return true;
    }
    Json value;
    if (!Value(f, fs.kind, fs.message, depth, &value)) return At(fs.json_name);
    // Go's omitempty drops a zero scalar unless it sits behind a pointer.
    if ((fs.flags & kProtoOmitEmpty) && !(fs.flags & kProtoPointer) &&
        IsZeroScalar(fs.kind, value)) {
      obj->erase(fs.json_name);
    } else {
      (*obj)[fs.json_name] = std::move(value);
    }
    return true;
  }

  static std::string FieldLabel(const ProtoFieldSchema& fs) {
    return "<field " + std::to_string(fs.number) + ">";
  }

  static bool IsZeroScalar(ProtoFieldKind kind, const Json& v) {
    switch (kind) {
      case ProtoFieldKind::kString:
      case ProtoFieldKind::kBytes:
        return v.is_string() && v.get_ref<const std::string&>().empty();
      case ProtoFieldKind::kBool:
        return v.is_boolean() && !v.get<bool>();
      case ProtoFieldKind::kInt32:
      case ProtoFieldKind::kInt64:
        return v.is_number_integer() && v.get<int64_t>() == 0;
      default:
        return false;  // structs are never empty to Go's encoding/json
    }
  }

  bool RepeatedElement(const Field& f, const ProtoFieldSchema& fs, Json* obj,
                       int depth) {
    Json& arr = (*obj)[fs.json_name];
    if (!arr.is_array()) arr = Json::array();
    size_t index = arr.size();
    if (IsVarintKind(fs.kind) && f.is_bytes()) {  // packed
      std::vector<uint64_t> values;
      Status st = DecodePackedVarints(f.bytes, &values);
      if (!st.ok()) {
        Fail("malformed packed varints");
        return At(std::string(fs.json_name) + "[" + std::to_string(index) +
                  "]");
      }
      for (uint64_t v : values) {
        Field one;
        one.number = f.number;
        one.type = WireType::kVarint;
        one.value = v;
        Json value;
        if (!Value(one, fs.kind, fs.message, depth, &value))
          return At(fs.json_name);
        arr.push_back(std::move(value));
      }
      if (arr.empty()) obj->erase(fs.json_name);
      return true;
    }
    Json value;
    if (!Value(f, fs.kind, fs.message, depth, &value)) {
      At("[" + std::to_string(index) + "]");
      return At(fs.json_name);
    }
    arr.push_back(std::move(value));
    return true;
  }

  bool MapEntry(const Field& f, const ProtoFieldSchema& fs, Json* obj,
                int depth) {
    if (!WantBytes(f)) return At(fs.json_name);
    if (depth + 1 > kMaxProtobufNesting) {
      Fail("nested deeper than " + std::to_string(kMaxProtobufNesting) +
           " messages");
      return At(fs.json_name);
    }
    Decoder d(f.bytes);
    Field e, value_field;
    bool have_value = false;
    std::string key;
    while (d.Next(&e)) {
      if (e.number == 1) {
        if (!WantBytes(e)) {
          At("<key>");
          return At(fs.json_name);
        }
        key = SanitizeUtf8(e.bytes);
      } else if (e.number == 2) {
        value_field = e;
        have_value = true;
      }
    }
    if (!d.status().ok()) {
      Fail("malformed map entry: " + WireError(d));
      return At(fs.json_name);
    }
    Json value = ZeroValue(fs.kind);
    if (have_value &&
        !Value(value_field, fs.kind, fs.message, depth + 1, &value)) {
      At("[" + key + "]");
      return At(fs.json_name);
    }
    Json& map = (*obj)[fs.json_name];
    if (!map.is_object()) map = Json::object();
    map[key] = std::move(value);
    return true;
  }

  static Json ZeroValue(ProtoFieldKind kind) {
    switch (kind) {
      case ProtoFieldKind::kString:
      case ProtoFieldKind::kBytes:
        return "";
      case ProtoFieldKind::kBool:
        return false;
      case ProtoFieldKind::kInt32:
      case ProtoFieldKind::kInt64:
      case ProtoFieldKind::kIntOrString:
        return 0;
      case ProtoFieldKind::kQuantity:
        return "0";
      case ProtoFieldKind::kMessage:
        return Json::object();
      default:
        return nullptr;
    }
  }

  // One value of `kind` from field `f` (`depth` as for the enclosing message).
  bool Value(const Field& f, ProtoFieldKind kind, uint16_t message, int depth,
             Json* out) {
    if (IsVarintKind(kind)) {
      if (!f.is_varint()) {
        return Fail(std::string("wire type ") + WireTypeName(f.type) +
                    ", want varint");
      }
      if (kind == ProtoFieldKind::kBool) {
        *out = f.AsBool();
      } else if (kind == ProtoFieldKind::kInt32) {
        *out = f.AsInt32();
      } else {
        *out = f.AsInt64();
      }
      return true;
    }
    if (!WantBytes(f)) return false;
    switch (kind) {
      case ProtoFieldKind::kString:
        *out = SanitizeUtf8(f.bytes);
        return true;
      case ProtoFieldKind::kBytes:
        *out = Base64(f.bytes);
        return true;
      case ProtoFieldKind::kMessage:
        *out = Json::object();
        return Message(f.bytes, ProtoMessageAt(message), out, depth + 1);
      case ProtoFieldKind::kStringList:
        return StringList(f.bytes, out);
      case ProtoFieldKind::kIntOrString:
        return IntOrString(f.bytes, out);
      case ProtoFieldKind::kQuantity:
        return QuantityValue(f.bytes, out);
      case ProtoFieldKind::kTime:
        return TimeValue(f.bytes, /*micro=*/false, out);
      case ProtoFieldKind::kMicroTime:
        return TimeValue(f.bytes, /*micro=*/true, out);
      case ProtoFieldKind::kRawExtension:
      case ProtoFieldKind::kFieldsV1:
        return EmbeddedJson(f.bytes, depth + 1, out);
      default:
        return Fail("unsupported schema kind");
    }
  }

  // {repeated string items = 1} -> ["a", "b"]; null when empty (a nil Go
  // slice).
  bool StringList(std::string_view bytes, Json* out) {
    *out = nullptr;
    Decoder d(bytes);
    Field f;
    while (d.Next(&f)) {
      if (f.number != 1) continue;
      if (!WantBytes(f)) return false;
      if (!out->is_array()) *out = Json::array();
      out->push_back(SanitizeUtf8(f.bytes));
    }
    if (!d.status().ok()) return Fail("malformed string list: " + WireError(d));
    return true;
  }

  // intstr.IntOrString {1: type, 2: intVal, 3: strVal}.
  bool IntOrString(std::string_view bytes, Json* out) {
    int64_t type = 0;
    int32_t int_val = 0;
    std::string str_val;
    Decoder d(bytes);
    Field f;
    while (d.Next(&f)) {
      if (f.number == 1 || f.number == 2) {
        if (!f.is_varint()) {
          return Fail(std::string("IntOrString field ") +
                      std::to_string(f.number) + ": wire type " +
                      WireTypeName(f.type) + ", want varint");
        }
        if (f.number == 1) {
          type = f.AsInt64();
        } else {
          int_val = f.AsInt32();
        }
      } else if (f.number == 3) {
        if (!WantBytes(f)) return false;
        str_val = SanitizeUtf8(f.bytes);
      }
    }
    if (!d.status().ok()) return Fail("malformed IntOrString: " + WireError(d));
    if (type == 0) {
      *out = int_val;
    } else if (type == 1) {
      *out = std::move(str_val);
    } else {
      return Fail("IntOrString has unknown type " + std::to_string(type));
    }
    return true;
  }

  // resource.Quantity {1: string}: parsed and rendered canonically, as the
  // Kubernetes API server does; "0" when the string is absent.
  bool QuantityValue(std::string_view bytes, Json* out) {
    *out = "0";
    Decoder d(bytes);
    Field f;
    while (d.Next(&f)) {
      if (f.number != 1) continue;
      if (!WantBytes(f)) return false;
      StatusOr<std::string> canonical = CanonicalQuantity(f.bytes);
      if (!canonical.ok()) return Fail(canonical.status().message());
      *out = std::move(canonical).value();
    }
    if (!d.status().ok()) return Fail("malformed Quantity: " + WireError(d));
    return true;
  }

  // meta/v1 Time and MicroTime {1: seconds, 2: nanos}. Empty -> null (Go's
  // zero time); Time keeps whole seconds, MicroTime microseconds.
  bool TimeValue(std::string_view bytes, bool micro, Json* out) {
    *out = nullptr;
    if (bytes.empty()) return true;
    int64_t seconds = 0;
    int32_t nanos = 0;
    Decoder d(bytes);
    Field f;
    while (d.Next(&f)) {
      if (f.number != 1 && f.number != 2) continue;
      if (!f.is_varint()) {
        return Fail(std::string("time field ") + std::to_string(f.number) +
                    ": wire type " + WireTypeName(f.type) + ", want varint");
      }
      if (f.number == 1) {
        seconds = f.AsInt64();
      } else {
        nanos = f.AsInt32();
      }
    }
    if (!d.status().ok()) return Fail("malformed time: " + WireError(d));
    if (seconds < kMinUnixSeconds - 10 || seconds > kMaxUnixSeconds + 10) {
      return Fail("time " + std::to_string(seconds) +
                  " s is outside the years 0000-9999");
    }
    int64_t micros = -1;
    if (micro) {
      int64_t ns =
          nanos - nanos % 1000;  // truncated to microseconds, toward zero
      seconds += FloorDiv(ns, 1000000000);
      ns -= FloorDiv(ns, 1000000000) * 1000000000;
      micros = ns / 1000;
    }
    if (seconds < kMinUnixSeconds || seconds > kMaxUnixSeconds) {
      return Fail("time " + std::to_string(seconds) +
                  " s is outside the years 0000-9999");
    }
    if (seconds == kGoZeroTimeUnix && micros <= 0)
      return true;  // Go's zero time: null
    *out = FormatRfc3339(seconds, micros);
    return true;
  }

  // runtime.RawExtension {1: raw} and meta/v1 FieldsV1 {1: Raw}: the raw bytes
  // are JSON and embed as such; null when absent.
  bool EmbeddedJson(std::string_view bytes, int depth, Json* out) {
    *out = nullptr;
    Decoder d(bytes);
    Field f;
    while (d.Next(&f)) {
      if (f.number != 1) continue;
      if (!WantBytes(f)) return false;
      if (f.bytes.empty()) {
        *out = nullptr;
        continue;
      }
      int allowed = kMaxProtobufNesting - depth;
      if (JsonNesting(f.bytes) > allowed) {
        return Fail("embedded JSON nested deeper than " +
                    std::to_string(allowed) + " levels");
      }
      Json parsed = Json::parse(f.bytes, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded())
        return Fail("embedded raw bytes are not valid JSON");
      *out = std::move(parsed);
    }
    if (!d.status().ok()) return Fail("malformed raw object: " + WireError(d));
    return true;
  }

  std::string error_;
  std::vector<std::string> path_;
};

Status BodyError(std::string_view kind, const Converter& c) {
  std::string msg = "protobuf body: ";
  msg += kind;
  std::string path = c.Path();
  if (!path.empty()) {
    msg += ' ';
    msg += path;
  }
  msg += ": ";
  msg += c.error();
  return InvalidArgumentError(std::move(msg));
}

StatusOr<Json> DecodeObject(std::string_view api_version, std::string_view kind,
                            std::string_view raw, int depth) {
  const ProtoMessageSchema* schema = FindProtoKind(api_version, kind);
  if (schema == nullptr) {
    return InvalidArgumentError(
        "protobuf body: no protobuf schema for kind " + SanitizeUtf8(kind) +
        " in " + SanitizeUtf8(api_version) + "; send it as JSON");
  }
  Json obj = Json::object();
  obj["apiVersion"] = SanitizeUtf8(api_version);
  obj["kind"] = SanitizeUtf8(kind);
  Converter c;
  try {
    if (!c.Message(raw, *schema, &obj, depth)) return BodyError(kind, c);
  } catch (const Json::exception& e) {
    return InternalError(std::string("protobuf body: ") + e.what());
  }
  return obj;
}

Status EnvelopeError(std::string message) {
  return InvalidArgumentError("protobuf body: envelope: " + std::move(message));
}

}  // namespace

bool IsKubernetesProtobuf(std::string_view body) {
  return body.substr(0, kKubernetesProtobufMagic.size()) ==
         kKubernetesProtobufMagic;
}

StatusOr<KubernetesProtobufEnvelope> ParseKubernetesProtobufEnvelope(
    std::string_view body) {
  if (!IsKubernetesProtobuf(body)) {
    return InvalidArgumentError(
        "protobuf body: does not start with the magic bytes \"k8s\\0\"");
  }
  body.remove_prefix(kKubernetesProtobufMagic.size());
  if (body.empty())
    return InvalidArgumentError("protobuf body: empty after the magic bytes");
  KubernetesProtobufEnvelope env;
  Decoder d(body);
  Field f;
  while (d.Next(&f)) {
    if (f.number < 1 || f.number > 4) continue;
    if (!f.is_bytes()) {
      return EnvelopeError("field " + std::to_string(f.number) +
                           ": wire type " + WireTypeName(f.type) +
                           ", want length-delimited");
    }
    switch (f.number) {
      case 1: {
        Decoder t(f.bytes);
        Field tf;
        while (t.Next(&tf)) {
          if (tf.number != 1 && tf.number != 2) continue;
          if (!tf.is_bytes()) {
            return EnvelopeError("typeMeta field " + std::to_string(tf.number) +
                                 ": wire type " + WireTypeName(tf.type) +
                                 ", want length-delimited");
          }
          (tf.number == 1 ? env.api_version : env.kind) = tf.bytes;
        }
        if (!t.status().ok()) return EnvelopeError("typeMeta: " + WireError(t));
        break;
      }
      case 2:
        env.raw = f.bytes;
        break;
      case 3:
        env.content_encoding = f.bytes;
        break;
      case 4:
        env.content_type = f.bytes;
        break;
    }
  }
  if (!d.status().ok()) return EnvelopeError(WireError(d));
  return env;
}

StatusOr<nlohmann::json> DecodeKubernetesProtobuf(
    std::string_view body, std::string_view default_api_version,
    std::string_view default_kind) {
  KITE_ASSIGN_OR_RETURN(KubernetesProtobufEnvelope env,
                        ParseKubernetesProtobufEnvelope(body));
  if (!env.content_encoding.empty()) {
    return InvalidArgumentError("protobuf body: content encoding \"" +
                                SanitizeUtf8(env.content_encoding) +
                                "\" is not supported");
  }
  if (env.api_version.empty()) env.api_version = default_api_version;
  if (env.kind.empty()) env.kind = default_kind;
  if (env.kind.empty())
    return InvalidArgumentError("protobuf body: envelope names no kind");
  if (env.api_version.empty()) {
    return InvalidArgumentError("protobuf body: envelope names no apiVersion");
  }
  // The envelope and the object are the first two levels of nesting.
  return DecodeObject(env.api_version, env.kind, env.raw, 2);
}

StatusOr<nlohmann::json> DecodeKubernetesProtobufObject(
    std::string_view api_version, std::string_view kind, std::string_view raw) {
  return DecodeObject(api_version, kind, raw, 1);
}

}  // namespace kite::api
