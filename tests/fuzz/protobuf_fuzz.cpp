// Fuzz target: Kubernetes protobuf request bodies (api/k8s_protobuf.h).
// An input that starts with the "k8s\0" magic is decoded as a whole body;
// any other input is a bare message: its first byte picks the kind (among
// every kind with a schema) and the rest is the message. What decodes must
// serialize as JSON without throwing and decode back to the same value.
#include <cstdint>
#include <string>
#include <string_view>

#include "api/k8s_proto_schema.h"
#include "api/k8s_protobuf.h"
#include "fuzz_check.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  StatusOr<nlohmann::json> out = nlohmann::json();
  if (api::IsKubernetesProtobuf(in)) {
    auto env = api::ParseKubernetesProtobufEnvelope(in);
    out = api::DecodeKubernetesProtobuf(in, "v1", "ConfigMap");
    if (!env.ok()) FUZZ_CHECK(!out.ok(), "a bad envelope decoded");
  } else {
    if (in.empty()) return 0;
    auto kinds = api::ProtoKinds();
    const api::ProtoKindSchema& k =
        kinds[static_cast<uint8_t>(in[0]) % kinds.size()];
    out = api::DecodeKubernetesProtobufObject(k.api_version, k.kind,
                                              in.substr(1));
    if (out.ok()) {
      FUZZ_CHECK((*out)["kind"] == k.kind, "decoded kind %s is not %s",
                 (*out)["kind"].dump().c_str(), k.kind);
    }
  }
  if (!out.ok()) {
    FUZZ_CHECK(out.status().message().starts_with("protobuf body:"),
               "error message without the prefix: %s",
               out.status().ToString().c_str());
    return 0;
  }
  FUZZ_CHECK(out->is_object(), "decoded to a non-object");
  std::string text = out->dump();  // throws (a crash here) on invalid UTF-8
  auto again = fuzz::ParseJsonInput(text);
  FUZZ_CHECK(again.has_value(), "dump() does not parse: %s", text.c_str());
  FUZZ_CHECK(*again == *out, "round trip changed the value: %s", text.c_str());
  return 0;
}
