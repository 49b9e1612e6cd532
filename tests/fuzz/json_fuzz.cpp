// Fuzz target: JSON request bodies (apiserver::DecodeBody with
// application/json, i.e. ParseJson: the depth check, then nlohmann-json).
// Whatever decodes must serialize and decode back to the same value, and
// nothing may throw or crash. Input: the raw body.
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "server/apiserver/encoding.h"
#include "server/apiserver/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite::apiserver;
  Request req;
  req.method = "POST";
  req.content_type = "application/json";
  req.body.assign(reinterpret_cast<const char*>(data), size);
  auto decoded = DecodeBody(req, "v1", "ConfigMap");
  auto direct = ParseJson(req.body);
  FUZZ_CHECK(decoded.ok() == direct.ok(), "DecodeBody and ParseJson disagree");
  if (!direct.ok()) return 0;
  const nlohmann::json& v = *direct;
  std::string text = v.dump();
  auto again = ParseJson(text);
  FUZZ_CHECK(again.ok(), "dump() does not parse: %s",
             again.status().ToString().c_str());
  FUZZ_CHECK(*again == v, "round trip changed the value: %s", text.c_str());
  return 0;
}
