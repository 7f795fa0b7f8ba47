// CUBIC window function (RFC 9438) on its own.
#include "turnpike/tcp/cubic.hpp"

#include <gtest/gtest.h>

#include <cmath>

using turnpike::tcp::Cubic;

TEST(Cubic, DecreaseByBetaAndFastConvergence) {
  Cubic c;
  const std::uint32_t mss = 1000;
  EXPECT_EQ(c.on_congestion(100 * mss, mss), 70 * mss);  // §4.6 beta = 0.7
  EXPECT_FLOAT_EQ(c.w_max, 100.0f * mss);
  // Next loss below the previous w_max: §4.7 fast convergence.
  EXPECT_EQ(c.on_congestion(80 * mss, mss), 56 * mss);
  EXPECT_FLOAT_EQ(c.w_max, 80.0f * mss * 0.85f);
  EXPECT_EQ(c.on_congestion(2 * mss, mss), 2 * mss);  // floor of 2 segments
}

TEST(Cubic, ConcaveThenPlateauThenConvex) {
  Cubic c;
  const std::uint32_t mss = 1000, rtt = 100'000;
  std::uint32_t cwnd = c.on_congestion(100 * mss, mss);
  const double k = std::cbrt(100.0 * 0.3 / 0.4);  // §4.2 eq. 2: 4.22 s
  std::uint64_t now = 10'000'000;
  std::uint32_t at_half_k = 0, at_k = 0, at_2k = 0;
  std::uint32_t prev = cwnd, first_step = 0, late_step = 0;
  for (int i = 1; i <= 90; ++i) {  // 9 s, one ACK of a whole window per RTT
    now += rtt;
    cwnd = c.on_ack(cwnd, cwnd, mss, now, rtt);
    const double t = i * 0.1;
    if (i == 1) first_step = cwnd - prev;
    if (std::abs(t - k / 2) < 0.05) at_half_k = cwnd;
    if (std::abs(t - k) < 0.05) at_k = cwnd;
    if (std::abs(t - 2 * k) < 0.05) at_2k = cwnd;
    if (std::abs(t - (k - 0.3)) < 0.05) late_step = cwnd - prev;
    EXPECT_GE(cwnd, prev);
    prev = cwnd;
  }
  EXPECT_GT(at_half_k, 85u * mss);  // concave: most of the way back quickly
  EXPECT_LT(at_half_k, 100u * mss);
  EXPECT_NEAR(at_k, 100.0 * mss, 4.0 * mss);  // plateau at w_max
  EXPECT_GT(at_2k, 120u * mss);              // convex probing beyond
  EXPECT_GT(first_step, late_step);          // growth slows towards w_max
}
