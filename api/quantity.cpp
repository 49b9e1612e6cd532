#include "api/quantity.h"

#include <algorithm>
#include <limits>

namespace kite::api {
namespace {

using i128 = Int128;

constexpr char kErrFormat[] =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
constexpr char kErrNumeric[] = "unable to parse numeric part of quantity";
constexpr char kErrSuffix[] = "unable to parse quantity's suffix";

// Largest magnitude kept; beyond it the quantity is refused instead of
// silently wrapping (Kubernetes switches to arbitrary precision there).
constexpr i128 kMaxUnscaled = static_cast<i128>(1) << 120;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool MulCheck(i128 a, i128 b, i128* out) {
  if (a == 0 || b == 0) {
    *out = 0;
    return true;
  }
  if ((a > 0 ? a : -a) > kMaxUnscaled / (b > 0 ? b : -b)) return false;
  *out = a * b;
  return true;
}

i128 Pow10(int n) {
  i128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

std::string I128ToString(i128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  if (neg) v = -v;
  std::string s;
  while (v > 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  if (neg) s.push_back('-');
  std::reverse(s.begin(), s.end());
  return s;
}

struct Suffix {
  int base;  // 10 or 2
  int exponent;
  Quantity::Format format;
};

bool InterpretSuffix(std::string_view s, Suffix* out) {
  static const struct {
    const char* text;
    int base;
    int exp;
  } kTable[] = {{"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3},
                {"k", 10, 3},  {"M", 10, 6},  {"G", 10, 9},  {"T", 10, 12},
                {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
                {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60}};
  for (const auto& e : kTable) {
    if (s == e.text) {
      *out = {e.base, e.exp,
              e.base == 2 ? Quantity::Format::kBinarySI
                          : Quantity::Format::kDecimalSI};
      return true;
    }
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    std::string_view num = s.substr(1);
    size_t i = 0;
    bool neg = false;
    if (num[0] == '+' || num[0] == '-') {
      neg = num[0] == '-';
      i = 1;
    }
    if (i >= num.size()) return false;
    long v = 0;
    for (; i < num.size(); ++i) {
      if (!IsDigit(num[i])) return false;
      v = v * 10 + (num[i] - '0');
      if (v > 100000) return false;
    }
    *out = {10, static_cast<int>(neg ? -v : v),
            Quantity::Format::kDecimalExponent};
    return true;
  }
  return false;
}

}  // namespace

StatusOr<Quantity> Quantity::Parse(std::string_view str) {
  if (str.empty()) return InvalidArgumentError(kErrFormat);
  bool positive = true;
  size_t pos = 0, end = str.size();
  if (str[0] == '-' || str[0] == '+') {
    positive = str[0] != '-';
    pos = 1;
  }
  const size_t number_start = pos;
  while (pos < end && IsDigit(str[pos])) ++pos;
  std::string_view whole = str.substr(number_start, pos - number_start);
  std::string_view frac;
  bool has_dot = false;
  if (pos < end && str[pos] == '.') {
    has_dot = true;
    size_t fs = ++pos;
    while (pos < end && IsDigit(str[pos])) ++pos;
    frac = str.substr(fs, pos - fs);
  }
  std::string_view suffix = str.substr(pos);
  // The suffix must be letters from [eEinumkKMGTP] then an optional signed
  // integer (the grammar of the error message).
  {
    size_t i = 0;
    while (i < suffix.size() &&
           std::string_view("eEinumkKMGTP").find(suffix[i]) !=
               std::string_view::npos) {
      ++i;
    }
    if (i < suffix.size() && (suffix[i] == '+' || suffix[i] == '-')) ++i;
    while (i < suffix.size() && IsDigit(suffix[i])) ++i;
    if (i != suffix.size()) return InvalidArgumentError(kErrFormat);
  }
  if (whole.empty() && frac.empty()) {
    (void)has_dot;
    return InvalidArgumentError(kErrNumeric);
  }
  Suffix suf;
  if (!InterpretSuffix(suffix, &suf)) return InvalidArgumentError(kErrSuffix);

  // Build the exact decimal: digits of whole+frac, scale -len(frac).
  // Leading and trailing zeros are dropped (the scale absorbs the trailing
  // ones) so that zero runs do not count against the kept range: the
  // canonical form, which may append up to two zeros, parses again.
  i128 unscaled = 0;
  int scale = -static_cast<int>(frac.size());
  std::string digits = std::string(whole) + std::string(frac);
  size_t lead = digits.find_first_not_of('0');
  if (lead == std::string::npos) lead = digits.size();
  size_t last = digits.size();
  while (last > lead && digits[last - 1] == '0') --last, ++scale;
  for (size_t i = lead; i < last; ++i) {
    if (!MulCheck(unscaled, 10, &unscaled))
      return InvalidArgumentError("quantity is too large");
    unscaled += digits[i] - '0';
  }
  if (suf.base == 10) {
    scale += suf.exponent;
  } else {
    i128 mult = static_cast<i128>(1) << suf.exponent;
    if (!MulCheck(unscaled, mult, &unscaled))
      return InvalidArgumentError("quantity is too large");
  }
  // Normalise very large positive scales into the unscaled value so that the
  // scale stays small; refuse values beyond the kept range.
  while (scale > 0 && unscaled != 0 && unscaled < kMaxUnscaled / 10) {
    unscaled *= 10;
    --scale;
  }
  if (unscaled == 0) scale = 0;
  if (scale > 0 && unscaled != 0)
    return InvalidArgumentError("quantity is too large");
  // Round up (away from zero) to nano units.
  if (scale < -9) {
    int drop = -9 - scale;
    if (drop > 36) {
      unscaled = unscaled != 0 ? 1 : 0;
    } else {
      i128 div = Pow10(drop);
      i128 q = unscaled / div;
      if (unscaled % div != 0) ++q;
      unscaled = q;
    }
    scale = -9;
  }
  Quantity q;
  q.unscaled_ = positive ? unscaled : -unscaled;
  q.scale_ = scale;
  q.format_ = suf.format;
  if (q.format_ == Format::kBinarySI && q.unscaled_ != 0) {
    // Below one unit a binary quantity is shown as decimal.
    Quantity one = FromInt(1);
    Quantity abs = q;
    if (abs.unscaled_ < 0) abs.unscaled_ = -abs.unscaled_;
    if (abs.Compare(one) < 0) q.format_ = Format::kDecimalSI;
  }
  return q;
}

Quantity Quantity::FromInt(int64_t value) {
  Quantity q;
  q.unscaled_ = value;
  return q;
}

int Quantity::Sign() const {
  return unscaled_ > 0 ? 1 : (unscaled_ < 0 ? -1 : 0);
}

int Quantity::Compare(const Quantity& o) const {
  if (scale_ == o.scale_) {
    return unscaled_ < o.unscaled_ ? -1 : (unscaled_ > o.unscaled_ ? 1 : 0);
  }
  if (scale_ > o.scale_) return -o.Compare(*this);
  // This one has the finer scale. Scaling the other up could overflow
  // (magnitudes reach 2^120), so divide this one down to the other's scale
  // instead: this = q + r/d with |r/d| < 1 and r of this one's sign.
  i128 d = Pow10(std::min(o.scale_ - scale_, 38));
  i128 q = unscaled_ / d, r = unscaled_ % d;
  if (q != o.unscaled_) return q < o.unscaled_ ? -1 : 1;
  return r < 0 ? -1 : (r > 0 ? 1 : 0);
}

namespace {

int64_t Saturate(i128 v) {
  if (v > std::numeric_limits<int64_t>::max())
    return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min())
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

// unscaled * 10^(scale - target), rounded away from zero.
i128 Rescale(i128 unscaled, int scale, int target) {
  if (scale >= target) {
    for (int i = scale; i > target; --i) {
      if (unscaled > kMaxUnscaled || unscaled < -kMaxUnscaled) break;
      unscaled *= 10;
    }
    return unscaled;
  }
  i128 div = Pow10(target - scale);
  i128 q = unscaled / div;
  if (unscaled % div != 0) q += unscaled > 0 ? 1 : -1;
  return q;
}

}  // namespace

int64_t Quantity::MilliValue() const {
  return Saturate(Rescale(unscaled_, scale_, -3));
}
int64_t Quantity::Value() const {
  return Saturate(Rescale(unscaled_, scale_, 0));
}

std::string Quantity::String() const {
  if (unscaled_ == 0) return "0";
  Format format = format_;
  if (format == Format::kBinarySI) {
    // Small or fractional binary quantities are shown as decimals.
    Quantity lim = FromInt(1024);
    Quantity abs = *this;
    if (abs.unscaled_ < 0) abs.unscaled_ = -abs.unscaled_;
    bool integral = true;
    if (scale_ < 0) integral = unscaled_ % Pow10(-scale_) == 0;
    if (abs.Compare(lim) < 0 || !integral) format = Format::kDecimalSI;
  }
  if (format == Format::kBinarySI) {
    i128 v = Rescale(unscaled_, scale_, 0);
    int exp = 0;
    while (exp < 6 && v % 1024 == 0) {
      v /= 1024;
      ++exp;
    }
    static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    return I128ToString(v) + kBin[exp];
  }
  i128 amount = unscaled_;
  int exponent = scale_;
  while (amount % 10 == 0) {
    amount /= 10;
    ++exponent;
  }
  int mod = ((exponent % 3) + 3) % 3;
  if (mod == 1) {
    amount *= 10;
    exponent -= 1;
  } else if (mod == 2) {
    amount *= 100;
    exponent -= 2;
  }
  std::string suffix;
  if (format == Format::kDecimalExponent) {
    if (exponent != 0) suffix = "e" + std::to_string(exponent);
  } else {
    switch (exponent) {
      case -9:
        suffix = "n";
        break;
      case -6:
        suffix = "u";
        break;
      case -3:
        suffix = "m";
        break;
      case 0:
        break;
      case 3:
        suffix = "k";
        break;
      case 6:
        suffix = "M";
        break;
      case 9:
        suffix = "G";
        break;
      case 12:
        suffix = "T";
        break;
      case 15:
        suffix = "P";
        break;
      case 18:
        suffix = "E";
        break;
      default:
        suffix = "e" + std::to_string(exponent);
    }
  }
  return I128ToString(amount) + suffix;
}

StatusOr<std::string> CanonicalQuantity(std::string_view text) {
  KITE_ASSIGN_OR_RETURN(Quantity q, Quantity::Parse(text));
  return q.String();
}

}  // namespace kite::api
