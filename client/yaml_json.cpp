#include "client/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <regex>
#include <string>

namespace kite::client {
namespace {

constexpr int kMaxDepth = 200;

nlohmann::json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat(
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kInt)) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return v;
  }
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  return s;
}

Status Convert(const YAML::Node& node, nlohmann::json* out, int depth) {
  if (depth > kMaxDepth) {
    return InvalidArgumentError("YAML nests deeper than 200 levels");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      *out = nullptr;
      return Status::Ok();
    case YAML::NodeType::Scalar:
      // Tag "!" marks a quoted (non-plain) scalar.
      *out = node.Tag() == "!" ? nlohmann::json(node.Scalar())
                               : PlainScalar(node.Scalar());
      return Status::Ok();
    case YAML::NodeType::Sequence: {
      *out = nlohmann::json::array();
      for (const YAML::Node& item : node) {
        nlohmann::json v;
        KITE_RETURN_IF_ERROR(Convert(item, &v, depth + 1));
        out->push_back(std::move(v));
      }
      return Status::Ok();
    }
    case YAML::NodeType::Map: {
      *out = nlohmann::json::object();
      for (const auto& kv : node) {
        nlohmann::json v;
        KITE_RETURN_IF_ERROR(Convert(kv.second, &v, depth + 1));
        (*out)[kv.first.Scalar()] = std::move(v);
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<nlohmann::json> YamlToJson(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(std::string("invalid YAML: ") + e.what());
  }
  nlohmann::json out;
  KITE_RETURN_IF_ERROR(Convert(root, &out, 0));
  return out;
}

}  // namespace kite::client
