// Fuzz target: RFC 6902 JSON patch (api::ApplyJsonPatch), what
// `kubectl patch --type=json` sends. Input: the JSON array [doc, patch].
// Nothing may throw or crash; a patched document stays within the depth
// limit and serializes.
#include "api/patch.h"
#include "fuzz_check.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  auto in = fuzz::JsonArrayInput(data, size, 2);
  if (!in) return 0;
  auto out = api::ApplyJsonPatch((*in)[0], (*in)[1]);
  if (!out.ok()) {
    FUZZ_CHECK(out.status().code() == Code::kInvalidArgument ||
                   out.status().code() == Code::kResourceExhausted,
               "unexpected error %s", out.status().ToString().c_str());
    return 0;
  }
  (void)out->dump();
  // A patch of only "test" operations that passed changes nothing.
  bool only_tests = (*in)[1].is_array();
  if (only_tests) {
    for (const auto& op : (*in)[1]) {
      if (!op.is_object() || !op.contains("op") || op["op"] != "test")
        only_tests = false;
    }
  }
  if (only_tests)
    FUZZ_CHECK(*out == (*in)[0], "test operations changed the document");
  return 0;
}
