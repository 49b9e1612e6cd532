// Fuzz target: resource quantities (api/quantity.h), in every pod's
// resources, quotas and limit ranges. Input: the quantity text.
// Checks: nothing crashes (no signed overflow under UBSan); a parsed
// quantity's canonical String() parses to an equal quantity, and the
// canonical form reaches a fixed point after at most one more round (the
// stored form is stable); comparisons are consistent.
#include <cstdint>
#include <string>

#include "api/quantity.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto q = api::Quantity::Parse(text);
  if (!q.ok()) return 0;
  std::string canonical = q->String();
  auto again = api::Quantity::Parse(canonical);
  FUZZ_CHECK(again.ok(), "canonical form '%s' does not parse: %s",
             canonical.c_str(), again.status().ToString().c_str());
  FUZZ_CHECK(again->Compare(*q) == 0 && q->Compare(*again) == 0,
             "'%s' and its canonical form '%s' differ",
             std::string(text).c_str(), canonical.c_str());
  // The canonical text may still change once: like Kubernetes, "567812.5Ki"
  // prints as "581440000" (binary, but not a whole number of Ki), which
  // reads back as a decimal quantity, "581440k". From there it is stable.
  std::string second = again->String();
  auto third = api::Quantity::Parse(second);
  FUZZ_CHECK(third.ok() && third->String() == second,
             "'%s' is not stable: '%s' -> '%s'", canonical.c_str(),
             second.c_str(), third.ok() ? third->String().c_str() : "error");
  FUZZ_CHECK(q->Compare(*q) == 0, "not equal to itself");
  FUZZ_CHECK(q->Sign() == q->Compare(api::Quantity()),
             "Sign and Compare with zero disagree");
  FUZZ_CHECK(q->IsZero() == (q->Sign() == 0), "IsZero and Sign disagree");
  (void)q->MilliValue();
  (void)q->Value();
  auto canon = api::CanonicalQuantity(text);
  FUZZ_CHECK(canon.ok() && *canon == canonical, "CanonicalQuantity differs");
  return 0;
}
