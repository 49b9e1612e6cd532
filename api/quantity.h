// resource.Quantity: parsing, comparison and the canonical text form.
//
// Kubernetes stores quantities ("100m", "1Gi", "0.5") in a canonical form:
// "0.5" becomes "500m", "1024Mi" becomes "1Gi", "1.5Gi" becomes "1536Mi",
// "1e3" stays "1e3". The API server rewrites quantities it decodes into that
// form, so kite does too (see Default() in validation.h). Values are exact
// decimals rounded up to nano units, as Kubernetes does.
//
// Thread safety: immutable value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/int128.h"
#include "common/status.h"

namespace kite::api {

class Quantity {
 public:
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  Quantity() = default;  // zero, DecimalSI

  // Parses the Kubernetes grammar: [+-]digits[.digits] followed by one of
  // n u m "" k M G T P E, Ki Mi Gi Ti Pi Ei, or e<int>/E<int>. Errors carry
  // the messages Kubernetes uses ("quantities must match the regular
  // expression ...", "unable to parse quantity's suffix").
  static StatusOr<Quantity> Parse(std::string_view text);
  // A quantity from an integer count (DecimalSI).
  static Quantity FromInt(int64_t value);

  // The canonical form, e.g. "500m", "1Gi", "1536Mi", "2k", "0".
  std::string String() const;

  // -1, 0, +1 by value (formats do not matter).
  int Compare(const Quantity& other) const;
  int Sign() const;
  bool IsZero() const { return unscaled_ == 0; }
  // The value in milli-units, rounded up; saturates at int64 limits.
  int64_t MilliValue() const;
  // The value in units, rounded up; saturates at int64 limits.
  int64_t Value() const;
  Format format() const { return format_; }

 private:
  // value = unscaled_ * 10^scale_, scale_ >= -9 after parsing.
  Int128 unscaled_ = 0;
  int32_t scale_ = 0;
  Format format_ = Format::kDecimalSI;
};

// Parses and returns the canonical form; the error of Parse otherwise.
StatusOr<std::string> CanonicalQuantity(std::string_view text);

}  // namespace kite::api
