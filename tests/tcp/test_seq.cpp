#include "turnpike/tcp/seq.hpp"

#include <gtest/gtest.h>

#include "turnpike/tcp/siphash.hpp"

using turnpike::tcp::Seq;

TEST(Seq, OrdersAcrossWrap) {
  const Seq a(0xfffffff0u);
  const Seq b = a + 0x20;  // wrapped past zero
  EXPECT_EQ(b.raw(), 0x10u);
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(b > a);
  EXPECT_TRUE(a <= a);
  EXPECT_FALSE(b < a);
  EXPECT_EQ(b - a, 0x20);
  EXPECT_EQ(a - b, -0x20);
  EXPECT_EQ(turnpike::tcp::seq_dist(a, b), 0x20u);
}

TEST(Seq, HalfSpaceBoundary) {
  const Seq z(0);
  EXPECT_TRUE(z < z + 0x7fffffffu);
  // Exactly 2^31 apart the order is undefined by design; the sign rule says "before".
  EXPECT_TRUE(z + 0x80000000u < z);
  EXPECT_TRUE(z + 0x80000001u < z);
}

TEST(Seq, WindowMembership) {
  const Seq lo(0xffffff00u);
  const Seq hi = lo + 0x200;
  EXPECT_TRUE(turnpike::tcp::seq_in(lo, lo, hi));
  EXPECT_TRUE(turnpike::tcp::seq_in(Seq(5), lo, hi));
  EXPECT_FALSE(turnpike::tcp::seq_in(hi, lo, hi));
  EXPECT_FALSE(turnpike::tcp::seq_in(lo - 1, lo, hi));
  EXPECT_EQ(turnpike::tcp::seq_max(lo, Seq(3)).raw(), 3u);
  EXPECT_EQ(turnpike::tcp::seq_min(lo, Seq(3)).raw(), lo.raw());
}

TEST(Seq, TimestampCompare) {
  EXPECT_TRUE(turnpike::tcp::ts_before(0xfffffffeu, 1u));
  EXPECT_FALSE(turnpike::tcp::ts_before(1u, 0xfffffffeu));
  EXPECT_FALSE(turnpike::tcp::ts_before(7u, 7u));
}

// Reference vector from the SipHash paper (appendix A): key 00..0f, message 00..0e.
TEST(SipHash, PaperVector) {
  turnpike::tcp::SipKey k{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  unsigned char m[15];
  for (int i = 0; i < 15; ++i) m[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(turnpike::tcp::siphash24(k, m, sizeof m), 0xa129ca6149be45e5ull);
  // Empty message, from the reference implementation's vectors.h.
  EXPECT_EQ(turnpike::tcp::siphash24(k, m, 0), 0x726fdb47dd0e0e31ull);
}
