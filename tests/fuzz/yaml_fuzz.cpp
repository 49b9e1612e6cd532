// Fuzz target: YAML request bodies (apiserver::DecodeBody with
// application/yaml, i.e. YamlToJson: yaml-cpp, then Kubernetes'
// YAML-to-JSON scalar rules). What decodes is a JSON value the rest of the
// request path can store: it serializes without throwing (valid UTF-8, no
// NaN or infinity turned into null) and decodes back to the same value.
// Input: the raw body.
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "server/apiserver/encoding.h"
#include "server/apiserver/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite::apiserver;
  Request req;
  req.method = "POST";
  req.content_type = "application/yaml";
  req.body.assign(reinterpret_cast<const char*>(data), size);
  auto decoded = DecodeBody(req, "v1", "ConfigMap");
  auto direct = YamlToJson(req.body);
  FUZZ_CHECK(decoded.ok() == direct.ok(), "DecodeBody and YamlToJson disagree");
  if (!direct.ok()) return 0;
  const nlohmann::json& v = *direct;
  std::string text = v.dump();  // throws (a crash here) on invalid UTF-8
  auto again = ParseJson(text);
  FUZZ_CHECK(again.ok(), "dump() does not parse: %s",
             again.status().ToString().c_str());
  FUZZ_CHECK(*again == v, "round trip changed the value: %s", text.c_str());
  return 0;
}
