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

// arm() leaves a timer linked when its slot is reached no later than the new
// time (it moves on from there), and disarm() leaves it linked but silent:
// neither may change when, or whether, it fires.
TEST(TimerWheel, PushedBackOrDisarmedInPlaceFireExactly) {
  TimerWheel w(1000, 0);
  Timer a, b, c, d, e;
  w.arm(a, 10'000);
  w.arm(a, 50'000);  // later: stays in its slot
  w.arm(b, 50'000);
  w.arm(b, 5'000);  // earlier: moved
  w.arm(c, 20'000);
  w.disarm(c);
  w.arm(d, 20'000);
  w.disarm(d);
  w.arm(d, 40'000);   // re-armed later while still linked
  w.arm(e, 300'000);  // level 1
  w.arm(e, 900'000);
  EXPECT_EQ(w.armed_count(), 4u);
  EXPECT_FALSE(c.armed());
  EXPECT_EQ(w.linked_count(), 5u);
  std::vector<std::pair<Timer*, std::uint64_t>> fired;
  for (std::uint64_t now = 0; now <= 1'000'000; now += 1000)
    w.advance(now, [&](Timer& t) { fired.emplace_back(&t, now); });
  const std::vector<std::pair<Timer*, std::uint64_t>> want = {
      {&b, 5'000}, {&d, 40'000}, {&a, 50'000}, {&e, 900'000}};
  EXPECT_EQ(fired, want);
  EXPECT_EQ(w.armed_count(), 0u);
  EXPECT_EQ(w.linked_count(), 0u);
  // cancel() of a disarmed, linked timer unlinks it.
  w.arm(c, 2'000'000);
  w.disarm(c);
  EXPECT_EQ(w.linked_count(), 1u);
  w.cancel(c);
  EXPECT_EQ(w.linked_count(), 0u);
}

// Random arm / disarm / cancel against a model: every timer fires once, at
// the first advance() at or after its latest deadline, and only if armed.
TEST(TimerWheel, LazyRearmMatchesModel) {
  constexpr std::uint32_t kTick = 1000;
  TimerWheel w(kTick, 0);
  std::vector<Timer> ts(300);
  std::vector<std::uint64_t> due(ts.size(), 0);  // 0: not armed (deadlines are > 0)
  for (std::size_t i = 0; i < ts.size(); ++i) ts[i].owner = static_cast<std::uint32_t>(i);
  std::mt19937_64 rng(11);
  std::uint64_t now = 0, prev = 0;
  std::size_t fires = 0, bad = 0;
  for (int step = 0; step < 20000; ++step) {
    for (int k = 0; k < 4; ++k) {
      const std::size_t i = rng() % ts.size();
      const unsigned op = static_cast<unsigned>(rng() % 8);
      if (op < 5) {
        const std::uint64_t spans[] = {5'000, 60'000, 400'000, 3'000'000, 40'000'000};
        const std::uint64_t at = now + 1 + rng() % spans[rng() % 5];
        w.arm(ts[i], at);
        due[i] = (at + kTick - 1) / kTick * kTick;
      } else if (op < 7) {
        w.disarm(ts[i]);
        due[i] = 0;
      } else {
        w.cancel(ts[i]);
        due[i] = 0;
      }
    }
    prev = now;
    now += kTick * (1 + rng() % 5);
    w.advance(now, [&](Timer& t) {
      ++fires;
      const std::uint64_t d = due[t.owner];
      if (d == 0 || d > now || d <= prev) ++bad;  // not armed, early, or late
      due[t.owner] = 0;
    });
    for (std::size_t i = 0; i < ts.size(); ++i)
      if (due[i] && due[i] <= now) ++bad;  // due but not fired
    std::uint64_t pending = 0;
    for (auto x : due) pending += x != 0;
    if (pending != w.armed_count()) ++bad;
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(fires, 10000u);
  for (auto& t : ts) w.cancel(t);
  EXPECT_EQ(w.linked_count(), 0u);
}
