// Fuzz target: server-side apply and managedFields tracking
// (api/managed_fields.h), what `kubectl apply --server-side` sends.
// Input: the JSON array [live, config, flags(, schema)]: live is the stored
// object (null: the apply creates it), config the applied configuration,
// flags an integer (bit 0 force, bit 1 the manager is "kubectl" with its
// client-side-apply upgrade rules, bit 2 reset "status"), schema an optional
// CRD openAPIV3Schema whose merge metadata replaces the built-in kind's.
// Checks: nothing throws or crashes; every managedFields entry written
// decodes again as a FieldSet; applying the same configuration again by the
// same manager succeeds and changes nothing. UpdateManagedFields runs over
// the same pair as an update would.
#include "api/managed_fields.h"
#include "api/patch.h"
#include "api/strategic_merge.h"
#include "fuzz_check.h"
#include "fuzz_input.h"

namespace {

void CheckManagedFields(const nlohmann::json& obj) {
  if (!obj.is_object() || !obj.contains("metadata")) return;
  const nlohmann::json& md = obj["metadata"];
  if (!md.is_object() || !md.contains("managedFields")) return;
  for (const auto& entry : md["managedFields"]) {
    if (!entry.is_object() || !entry.contains("fieldsV1")) continue;
    auto fs = kite::api::FieldSet::FromFieldsV1(entry["fieldsV1"]);
    FUZZ_CHECK(fs.ok(), "written fieldsV1 does not decode: %s in %s",
               fs.status().ToString().c_str(), entry.dump().c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  static const api::PatchMetaTable* table = new api::PatchMetaTable();
  auto in = fuzz::JsonArrayInput(data, size, 3);
  if (!in) return 0;
  const nlohmann::json& live = (*in)[0];
  const nlohmann::json& config = (*in)[1];
  int flags = (*in)[2].is_number_integer() ? (*in)[2].get<int>() : 0;

  api::PatchMeta meta =
      table->Find(config.is_object() && config.contains("apiVersion")
                      ? fuzz::GroupOf(config["apiVersion"])
                      : "",
                  fuzz::StringOr(config, "kind", "ConfigMap"));
  if (in->size() > 3) {
    auto m = api::PatchMetaFromOpenAPISchema((*in)[3]);
    if (!m.ok()) return 0;
    meta = std::move(m).value();
  }
  api::FieldManagerOptions opts;
  opts.manager = (flags & 2) ? "kubectl" : "fuzz";
  opts.api_version = fuzz::StringOr(config, "apiVersion", "v1");
  opts.kind = fuzz::StringOr(config, "kind", "ConfigMap");
  opts.now = "2026-01-02T03:04:05Z";
  if (flags & 4) opts.ignored_fields = {"status"};
  bool force = flags & 1;
  const nlohmann::json* live_ptr = live.is_null() ? nullptr : &live;

  std::vector<api::ApplyConflict> conflicts;
  auto applied = api::Apply(live_ptr, config, opts, force, meta, &conflicts);
  if (applied.ok()) {
    (void)applied->object.dump();
    CheckManagedFields(applied->object);
    auto again = api::Apply(&applied->object, config, opts, false, meta);
    FUZZ_CHECK(again.ok(), "re-applying the same config failed: %s",
               again.status().ToString().c_str());
    FUZZ_CHECK(!again->changed, "re-applying the same config changed %s",
               again->object.dump().c_str());
  } else if (applied.status().code() == Code::kConflict) {
    FUZZ_CHECK(!force, "a forced apply conflicted");
    FUZZ_CHECK(!conflicts.empty(), "a conflict without causes");
  }

  api::FieldManagerOptions update = opts;
  update.ignored_fields.clear();
  auto updated = api::UpdateManagedFields(live_ptr, config, update, meta);
  if (updated.ok()) {
    (void)updated->dump();
    CheckManagedFields(*updated);
  }
  return 0;
}
