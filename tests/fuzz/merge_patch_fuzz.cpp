// Fuzz target: RFC 7386 JSON merge patch (api::ApplyMergePatch), what
// `kubectl patch --type=merge` sends. Input: the JSON array [doc, patch].
// Nothing may throw or crash, and a merge patch is idempotent: applying it
// to its own result changes nothing.
#include "api/patch.h"
#include "fuzz_check.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  auto in = fuzz::JsonArrayInput(data, size, 2);
  if (!in) return 0;
  const nlohmann::json& patch = (*in)[1];
  auto once = api::ApplyMergePatch((*in)[0], patch);
  if (!once.ok()) {
    FUZZ_CHECK(once.status().code() == Code::kInvalidArgument,
               "unexpected error %s", once.status().ToString().c_str());
    return 0;
  }
  (void)once->dump();
  auto twice = api::ApplyMergePatch(*once, patch);
  FUZZ_CHECK(twice.ok(), "second application failed: %s",
             twice.status().ToString().c_str());
  FUZZ_CHECK(*twice == *once, "not idempotent: %s then %s",
             once->dump().c_str(), twice->dump().c_str());
  return 0;
}
