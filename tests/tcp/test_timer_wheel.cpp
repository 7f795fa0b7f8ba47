#include "turnpike/tcp/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using turnpike::tcp::Timer;
using turnpike::tcp::TimerWheel;

TEST(TimerWheel, FiresAtOrAfterDeadlineNeverBefore) {
  TimerWheel w(1000, 0);
  std::vector<Timer> ts(2000);
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> due(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    // Spread over every level: up to ~30 hours in microseconds.
    const int lv = static_cast<int>(rng() % 5);
    const std::uint64_t span[] = {200'000, 16'000'000, 1'000'000'000, 60'000'000'000ull, 110'000'000'000ull};
    due[i] = rng() % span[lv];
    ts[i].owner = static_cast<std::uint32_t>(i);
    w.arm(ts[i], due[i]);
  }
  EXPECT_EQ(w.armed_count(), ts.size());
  std::vector<std::uint64_t> fired_at(ts.size(), 0);
  std::uint64_t now = 0;
  std::size_t fired = 0;
  // Step in uneven increments up to the latest deadline.
  while (fired < ts.size()) {
    now += 1 + rng() % 3'000'000;
    w.advance(now, [&](Timer& t) {
      fired_at[t.owner] = now;
      ++fired;
    });
  }
  for (std::size_t i = 0; i < ts.size(); ++i) {
    EXPECT_GE(fired_at[i], due[i]) << i;
    EXPECT_FALSE(ts[i].armed());
  }
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, ExactTickResolution) {
  TimerWheel w(1000, 5'000'000);
  Timer a, b, c;
  w.arm(a, 5'000'000 + 1000);
  w.arm(b, 5'000'000 + 300'000);     // level 1
  w.arm(c, 5'000'000 + 20'000'000);  // level 2
  std::vector<Timer*> order;
  auto f = [&](Timer& t) { order.push_back(&t); };
  for (std::uint64_t now = 5'000'000; now <= 5'000'000 + 20'000'000; now += 1000) {
    const std::size_t before = order.size();
    w.advance(now, f);
    if (order.size() != before) {
      if (order.back() == &a) { EXPECT_EQ(now, 5'001'000u); }
      if (order.back() == &b) { EXPECT_EQ(now, 5'300'000u); }
      if (order.back() == &c) { EXPECT_EQ(now, 25'000'000u); }
    }
  }
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], &a);
  EXPECT_EQ(order[1], &b);
  EXPECT_EQ(order[2], &c);
}

TEST(TimerWheel, CancelAndRearmInsideCallback) {
  TimerWheel w(1000, 0);
  Timer a, b;
  a.kind = 1;
  b.kind = 2;
  w.arm(a, 10'000);
  w.arm(b, 10'000);
  int fired_a = 0, fired_b = 0;
  w.advance(10'000, [&](Timer& t) {
    if (t.kind == 1) {
      ++fired_a;
      w.cancel(b);           // cancel a sibling in the same slot
      if (fired_a < 3) w.arm(a, 10'000);  // re-arm in the past: next tick
    } else {
      ++fired_b;
    }
  });
  EXPECT_EQ(fired_a, 1);
  EXPECT_EQ(fired_b, 0);
  EXPECT_TRUE(a.armed());
  w.advance(11'000, [&](Timer& t) { if (t.kind == 1) ++fired_a; });
  EXPECT_EQ(fired_a, 2);
  w.cancel(a);
  w.cancel(a);  // idempotent
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, RearmMovesTimer) {
  TimerWheel w(1000, 0);
  Timer t;
  w.arm(t, 50'000);
  w.arm(t, 5'000);
  EXPECT_EQ(w.armed_count(), 1u);
  int n = 0;
  w.advance(5'000, [&](Timer&) { ++n; });
  EXPECT_EQ(n, 1);
  w.advance(100'000, [&](Timer&) { ++n; });
  EXPECT_EQ(n, 1);
}
