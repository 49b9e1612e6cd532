#include "server/apiserver/encoding.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "api/k8s_protobuf.h"
#include "client/yaml_json.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

// nlohmann's messages start with "[json.exception.parse_error.101] ".
std::string ParserMessage(const std::exception& e) {
  std::string m = e.what();
  if (!m.empty() && m[0] == '[') {
    size_t close = m.find("] ");
    if (close != std::string::npos) m = m.substr(close + 2);
  }
  return m;
}

// Splits one Accept entry into media type and parameters.
struct MediaRange {
  std::string type;
  std::string as, g, v;
};

std::vector<MediaRange> ParseAccept(std::string_view accept) {
  std::vector<MediaRange> out;
  size_t i = 0;
  while (i <= accept.size()) {
    size_t comma = accept.find(',', i);
    if (comma == std::string_view::npos) comma = accept.size();
    std::string_view entry = accept.substr(i, comma - i);
    MediaRange mr;
    size_t semi = entry.find(';');
    mr.type = Lower(Trim(entry.substr(0, semi)));
    while (semi != std::string_view::npos) {
      size_t next = entry.find(';', semi + 1);
      std::string_view param = entry.substr(
          semi + 1, next == std::string_view::npos ? std::string_view::npos
                                                   : next - semi - 1);
      size_t eq = param.find('=');
      if (eq != std::string_view::npos) {
        std::string k = Lower(Trim(param.substr(0, eq)));
        std::string val = Trim(param.substr(eq + 1));
        if (k == "as") mr.as = val;
        if (k == "g") mr.g = val;
        if (k == "v") mr.v = val;
      }
      semi = next;
    }
    if (!mr.type.empty()) out.push_back(std::move(mr));
    i = comma + 1;
  }
  return out;
}

}  // namespace

std::string MediaTypeOf(std::string_view content_type) {
  return Lower(Trim(content_type.substr(0, content_type.find(';'))));
}

Status CheckJsonTextDepth(std::string_view text, int max_depth) {
  return client::CheckJsonTextDepth(text, max_depth);
}

StatusOr<json> ParseJson(std::string_view text) {
  KITE_RETURN_IF_ERROR(CheckJsonTextDepth(text));
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return InvalidArgumentError("json parse error: " + ParserMessage(e));
  }
}

StatusOr<json> YamlToJson(std::string_view text) {
  return client::YamlToJson(text);
}

ApiOr<json> DecodeBody(const Request& req, std::string_view default_api_version,
                       std::string_view default_kind) {
  if (req.object.has_value()) return *req.object;
  if (req.body.size() > kMaxBodyBytes) {
    return RequestEntityTooLarge("the request body is larger than " +
                                 std::to_string(kMaxBodyBytes) + " bytes");
  }
  std::string type = MediaTypeOf(req.content_type);
  if (type.empty() && api::IsKubernetesProtobuf(req.body))
    type = std::string(api::kKubernetesProtobufMediaType);
  if (type.empty() || type == "application/json" || type == "*/*") {
    auto j = ParseJson(req.body);
    if (!j.ok())
      return BadRequest("the body of the request could not be decoded: " +
                        j.status().message());
    return std::move(j).value();
  }
  if (type == "application/yaml" || type == "application/x-yaml" ||
      type == "text/yaml") {
    auto j = YamlToJson(req.body);
    if (!j.ok())
      return BadRequest("the body of the request could not be decoded: " +
                        j.status().message());
    return std::move(j).value();
  }
  if (type == api::kKubernetesProtobufMediaType) {
    auto j = api::DecodeKubernetesProtobuf(req.body, default_api_version,
                                           default_kind);
    if (!j.ok()) return BadRequest(j.status().message());
    return std::move(j).value();
  }
  return UnsupportedMediaType(
      "the body of the request was in an unknown format - accepted media types "
      "include: "
      "application/json, application/yaml, "
      "application/vnd.kubernetes.protobuf");
}

namespace {
constexpr char kB64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<uint8_t>(in[k]));
  };
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = byte(i) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const char* p = std::char_traits<char>::find(kB64, 64, c);
    if (p == nullptr) return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

OutputShape NegotiateOutput(std::string_view accept) {
  for (const MediaRange& mr : ParseAccept(accept)) {
    bool json_like = mr.type == "application/json" || mr.type == "*/*" ||
                     mr.type == "application/*" ||
                     mr.type == "application/yaml";
    if (!json_like) continue;
    if (mr.as.empty()) return OutputShape::kObject;
    if (mr.g != "meta.k8s.io" || (mr.v != "v1" && mr.v != "v1beta1")) continue;
    if (mr.as == "Table") return OutputShape::kTable;
    if (mr.as == "PartialObjectMetadata" ||
        mr.as == "PartialObjectMetadataList") {
      return OutputShape::kPartialMetadata;
    }
  }
  return OutputShape::kObject;
}

json PartialObjectMetadata(const json& obj) {
  json out = {{"kind", "PartialObjectMetadata"},
              {"apiVersion", "meta.k8s.io/v1"}};
  out["metadata"] = obj.contains("metadata") ? obj["metadata"] : json::object();
  return out;
}

json PartialObjectMetadataList(const json& list) {
  json out = {{"kind", "PartialObjectMetadataList"},
              {"apiVersion", "meta.k8s.io/v1"}};
  out["metadata"] =
      list.contains("metadata") ? list["metadata"] : json::object();
  json items = json::array();
  if (list.contains("items")) {
    for (const json& item : list["items"])
      items.push_back(PartialObjectMetadata(item));
  }
  out["items"] = std::move(items);
  return out;
}

}  // namespace kite::apiserver
