// Int128: a signed 128-bit integer for exact Quantity arithmetic.
//
// gcc has __int128 on 64-bit targets but not on 32-bit ARM (armhf), which
// kite must build for. Int128 is __int128 where it exists and PortableInt128
// (two's complement in two 64-bit halves) elsewhere. PortableInt128 is always
// defined, so the x86_64 tests check it against __int128.
//
// Overflow wraps like unsigned arithmetic; callers bound their values first
// (quantity.cpp keeps magnitudes under 2^120). Division truncates toward
// zero and the remainder takes the dividend's sign, as C++ does.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>

namespace kite::api {

class PortableInt128 {
 public:
  constexpr PortableInt128() = default;
  constexpr PortableInt128(int64_t v)  // NOLINT: implicit like a built-in integer
      : hi_(v < 0 ? ~uint64_t{0} : 0), lo_(static_cast<uint64_t>(v)) {}
  constexpr PortableInt128(int v) : PortableInt128(static_cast<int64_t>(v)) {}  // NOLINT

  explicit constexpr operator int64_t() const { return static_cast<int64_t>(lo_); }
  explicit constexpr operator int() const { return static_cast<int>(static_cast<int64_t>(lo_)); }

  friend constexpr PortableInt128 operator+(PortableInt128 a, PortableInt128 b) {
    PortableInt128 r;
    r.lo_ = a.lo_ + b.lo_;
    r.hi_ = a.hi_ + b.hi_ + (r.lo_ < a.lo_ ? 1 : 0);
    return r;
  }
  friend constexpr PortableInt128 operator-(PortableInt128 a) {
    PortableInt128 r;
    r.lo_ = ~a.lo_ + 1;
    r.hi_ = ~a.hi_ + (r.lo_ == 0 ? 1 : 0);
    return r;
  }
  friend constexpr PortableInt128 operator-(PortableInt128 a, PortableInt128 b) { return a + (-b); }
  friend constexpr PortableInt128 operator*(PortableInt128 a, PortableInt128 b) {
    // Low 128 bits of the product: lo*lo in full, plus the cross terms' low halves.
    uint64_t a0 = a.lo_ & 0xffffffffu, a1 = a.lo_ >> 32, b0 = b.lo_ & 0xffffffffu, b1 = b.lo_ >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    PortableInt128 r;
    r.lo_ = (p00 & 0xffffffffu) | (mid << 32);
    r.hi_ = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32) + a.hi_ * b.lo_ + a.lo_ * b.hi_;
    return r;
  }
  friend constexpr PortableInt128 operator/(PortableInt128 a, PortableInt128 b) {
    PortableInt128 q, rem;
    DivMod(a, b, &q, &rem);
    return q;
  }
  friend constexpr PortableInt128 operator%(PortableInt128 a, PortableInt128 b) {
    PortableInt128 q, rem;
    DivMod(a, b, &q, &rem);
    return rem;
  }
  friend constexpr PortableInt128 operator<<(PortableInt128 a, int n) {
    PortableInt128 r;
    if (n >= 128) return r;
    if (n >= 64) {
      r.hi_ = a.lo_ << (n - 64);
    } else if (n > 0) {
      r.hi_ = (a.hi_ << n) | (a.lo_ >> (64 - n));
      r.lo_ = a.lo_ << n;
    } else {
      r = a;
    }
    return r;
  }
  friend constexpr bool operator==(PortableInt128 a, PortableInt128 b) { return a.hi_ == b.hi_ && a.lo_ == b.lo_; }
  friend constexpr bool operator<(PortableInt128 a, PortableInt128 b) {
    int64_t ah = static_cast<int64_t>(a.hi_), bh = static_cast<int64_t>(b.hi_);
    return ah != bh ? ah < bh : a.lo_ < b.lo_;
  }
  friend constexpr bool operator>(PortableInt128 a, PortableInt128 b) { return b < a; }
  friend constexpr bool operator<=(PortableInt128 a, PortableInt128 b) { return !(b < a); }
  friend constexpr bool operator>=(PortableInt128 a, PortableInt128 b) { return !(a < b); }
  PortableInt128& operator+=(PortableInt128 b) { return *this = *this + b; }
  PortableInt128& operator-=(PortableInt128 b) { return *this = *this - b; }
  PortableInt128& operator*=(PortableInt128 b) { return *this = *this * b; }
  PortableInt128& operator/=(PortableInt128 b) { return *this = *this / b; }
  PortableInt128& operator++() { return *this = *this + 1; }

  constexpr bool negative() const { return static_cast<int64_t>(hi_) < 0; }

 private:
  // Truncating division by shift-and-subtract on magnitudes.
  static constexpr void DivMod(PortableInt128 a, PortableInt128 b, PortableInt128* q, PortableInt128* r) {
    bool neg_q = a.negative() != b.negative();
    bool neg_r = a.negative();
    PortableInt128 n = a.negative() ? -a : a;
    PortableInt128 d = b.negative() ? -b : b;
    PortableInt128 quo, rem;
    for (int i = 127; i >= 0; --i) {
      rem = rem << 1;
      uint64_t bit = i >= 64 ? (n.hi_ >> (i - 64)) & 1 : (n.lo_ >> i) & 1;
      rem.lo_ |= bit;
      if (UnsignedLessEq(d, rem)) {
        rem = rem - d;
        if (i >= 64) quo.hi_ |= uint64_t{1} << (i - 64);
        else quo.lo_ |= uint64_t{1} << i;
      }
    }
    *q = neg_q ? -quo : quo;
    *r = neg_r ? -rem : rem;
  }
  static constexpr bool UnsignedLessEq(PortableInt128 a, PortableInt128 b) {
    return a.hi_ != b.hi_ ? a.hi_ < b.hi_ : a.lo_ <= b.lo_;
  }

  uint64_t hi_ = 0;
  uint64_t lo_ = 0;
};

#if defined(__SIZEOF_INT128__)
using Int128 = __int128;
#else
using Int128 = PortableInt128;
#endif

}  // namespace kite::api
