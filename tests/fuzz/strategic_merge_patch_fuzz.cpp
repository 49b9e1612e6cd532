// Fuzz target: Kubernetes strategic merge patch
// (api::ApplyStrategicMergePatch), what `kubectl patch` and `kubectl apply`
// (client side) send. Input: the JSON array [doc, patch]; the doc's
// apiVersion and kind pick the merge metadata from api::PatchMetaTable, so
// the corpus reaches the merge keys, set lists and retainKeys of the
// built-in kinds. Nothing may throw or crash; the result serializes.
#include "api/patch.h"
#include "api/strategic_merge.h"
#include "fuzz_check.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  static const api::PatchMetaTable* table = new api::PatchMetaTable();
  auto in = fuzz::JsonArrayInput(data, size, 2);
  if (!in) return 0;
  const nlohmann::json& doc = (*in)[0];
  std::string group = doc.is_object() && doc.contains("apiVersion")
                          ? fuzz::GroupOf(doc["apiVersion"])
                          : "";
  const api::PatchMeta& meta =
      table->Find(group, fuzz::StringOr(doc, "kind", "Pod"));
  auto out = api::ApplyStrategicMergePatch(doc, (*in)[1], meta);
  if (!out.ok()) {
    FUZZ_CHECK(out.status().code() == Code::kInvalidArgument ||
                   out.status().code() == Code::kFailedPrecondition,
               "unexpected error %s", out.status().ToString().c_str());
    return 0;
  }
  (void)out->dump();
  return 0;
}
