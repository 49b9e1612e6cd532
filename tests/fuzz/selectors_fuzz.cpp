// Fuzz target: the label and field selector parsers (api/selectors.h), what
// `?labelSelector=` and `?fieldSelector=` carry (already URL-decoded).
// Input: the selector text, parsed both as a label and as a field selector;
// when it is JSON it is also read as a metav1.LabelSelector object.
// Checks: nothing throws or crashes; the canonical String() of a selector
// parses again to the same canonical text (what the API server prints is
// what it accepts); a selector matches a pod without crashing.
#include <cstdint>
#include <map>
#include <string>

#include "api/kinds.h"
#include "api/selectors.h"
#include "fuzz_check.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  static const api::Registry* registry = new api::Registry();
  static const nlohmann::json* pod = new nlohmann::json(nlohmann::json::parse(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1",
      "namespace":"default","labels":{"app":"web","tier":"a","n":"5"}},
      "spec":{"nodeName":"node-1","restartPolicy":"Always"},
      "status":{"phase":"Running","podIP":"10.42.0.5"}})"));
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto labels = api::LabelSelector::Parse(text);
  if (labels.ok()) {
    std::string canonical = labels->String();
    auto again = api::LabelSelector::Parse(canonical);
    FUZZ_CHECK(again.ok(), "canonical label selector '%s' does not parse: %s",
               canonical.c_str(), again.status().ToString().c_str());
    FUZZ_CHECK(again->String() == canonical, "'%s' reparses as '%s'",
               canonical.c_str(), again->String().c_str());
    bool m = labels->MatchesObject(*pod);
    FUZZ_CHECK(again->MatchesObject(*pod) == m,
               "'%s' and its canonical form match differently",
               canonical.c_str());
  }

  auto fields = api::FieldSelector::Parse(text);
  if (fields.ok()) {
    std::string canonical = fields->String();
    auto again = api::FieldSelector::Parse(canonical);
    FUZZ_CHECK(again.ok(), "canonical field selector '%s' does not parse: %s",
               canonical.c_str(), again.status().ToString().c_str());
    FUZZ_CHECK(again->String() == canonical, "'%s' reparses as '%s'",
               canonical.c_str(), again->String().c_str());
    auto kind = registry->Lookup("", "v1", "pods");
    FUZZ_CHECK(kind != nullptr, "no pods kind");
    if (fields->Validate(*kind).ok()) {
      FUZZ_CHECK(fields->Matches(*kind, *pod) == again->Matches(*kind, *pod),
                 "'%s' and its canonical form match differently",
                 canonical.c_str());
    }
  }

  auto obj = fuzz::ParseJsonInput(text);
  if (obj) {
    auto sel = api::LabelSelector::FromJson(*obj);
    if (sel.ok()) {
      (void)sel->MatchesObject(*pod);
      std::string canonical = sel->String();
      if (!sel->IsNothing()) {
        auto again = api::LabelSelector::Parse(canonical);
        FUZZ_CHECK(again.ok(), "'%s' from JSON does not parse: %s",
                   canonical.c_str(), again.status().ToString().c_str());
      }
    }
    (void)api::FormatLabelSelector(&*obj);
    (void)api::FormatLabels(&*obj);
  }
  return 0;
}
