#include "api/int128.h"

#include <gtest/gtest.h>

#include <random>

namespace kite::api {
namespace {

#if defined(__SIZEOF_INT128__)
// PortableInt128 (what armhf uses) must agree with the compiler's __int128.
__int128 Native(PortableInt128 v) {
  __int128 r = 0;
  PortableInt128 base = 1;
  // Rebuild from 16-bit digits through the operators under test.
  bool neg = v < 0;
  if (neg) v = -v;
  __int128 scale = 1;
  for (int i = 0; i < 8; ++i) {
    PortableInt128 digit = v % 65536;
    r += static_cast<__int128>(static_cast<int64_t>(digit)) * scale;
    v = v / 65536;
    scale *= 65536;
  }
  (void)base;
  return neg ? -r : r;
}

PortableInt128 FromParts(int64_t hi, uint64_t lo) {
  return (PortableInt128(hi) << 64) + (PortableInt128(static_cast<int64_t>(lo >> 1)) << 1) +
         PortableInt128(static_cast<int64_t>(lo & 1));
}

TEST(Int128Test, PortableMatchesNative) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    int64_t ahi = static_cast<int64_t>(rng()) >> (rng() % 64);
    int64_t bhi = static_cast<int64_t>(rng()) >> (rng() % 64);
    if (i % 3 == 0) ahi = 0;
    if (i % 5 == 0) bhi = 0;
    uint64_t alo = rng() >> (rng() % 64), blo = rng() >> (rng() % 64);
    PortableInt128 a = FromParts(ahi, alo), b = FromParts(bhi, blo);
    __int128 na = (static_cast<__int128>(ahi) << 64) + static_cast<__int128>(alo);
    __int128 nb = (static_cast<__int128>(bhi) << 64) + static_cast<__int128>(blo);
    ASSERT_EQ(Native(a), na);
    ASSERT_EQ(Native(a + b), na + nb);
    ASSERT_EQ(Native(a - b), na - nb);
    ASSERT_EQ(Native(a * b), static_cast<__int128>(static_cast<unsigned __int128>(na) * static_cast<unsigned __int128>(nb)));
    ASSERT_EQ(a < b, na < nb);
    ASSERT_EQ(a == b, na == nb);
    if (nb != 0) {
      ASSERT_EQ(Native(a / b), na / nb);
      ASSERT_EQ(Native(a % b), na % nb);
    }
    int s = static_cast<int>(rng() % 70);
    ASSERT_EQ(Native(PortableInt128(static_cast<int64_t>(alo >> 8)) << s),
              static_cast<__int128>(static_cast<unsigned __int128>(alo >> 8) << s));
  }
}
#endif

TEST(Int128Test, SmallValuesBehaveLikeIntegers) {
  PortableInt128 a = -7, b = 2;
  EXPECT_EQ(static_cast<int64_t>(a / b), -3);
  EXPECT_EQ(static_cast<int64_t>(a % b), -1);
  EXPECT_EQ(static_cast<int64_t>(a * b), -14);
  EXPECT_TRUE(a < b);
  PortableInt128 big = PortableInt128(1) << 120;
  EXPECT_EQ(big / (PortableInt128(1) << 60), PortableInt128(1) << 60);
}

}  // namespace
}  // namespace kite::api
