// DueWheel alone: which entries a pass hands out, and when.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "turnpike/proxy/due_wheel.hpp"

namespace {

using turnpike::proxy::DueWheel;
constexpr std::uint64_t kMs = 1000;

// The owner's side: one live time per key, as the proxies keep in Pair::look_at.
struct Owner {
  DueWheel wheel;
  std::map<std::uint32_t, std::uint64_t> live;
  std::vector<std::uint32_t> seen;
  void schedule(std::uint32_t key, std::uint64_t at, std::uint64_t now) { live[key] = wheel.schedule(key, at, now); }
  void pass(std::uint64_t now) {
    wheel.advance(
        now, [&](std::uint32_t k, std::uint64_t at) { return live.count(k) && live[k] == at; },
        [&](std::uint32_t k) { seen.push_back(k); });
  }
};

TEST(DueWheel, HandsOutAnEntryInThePassAfterItsTimeAndOnlyOnce) {
  Owner o;
  const std::uint64_t t0 = 1'000'000 * kMs;
  o.schedule(7, t0 + 35 * kMs, t0);
  for (std::uint64_t t = t0 + 10 * kMs; t <= t0 + 30 * kMs; t += 10 * kMs) o.pass(t);
  EXPECT_TRUE(o.seen.empty());
  o.pass(t0 + 36 * kMs);  // past it, but passes come 10 ms apart at most
  EXPECT_TRUE(o.seen.empty());
  o.pass(t0 + 40 * kMs);
  ASSERT_EQ(o.seen, std::vector<std::uint32_t>{7});
  for (std::uint64_t t = t0 + 50 * kMs; t <= t0 + 2'000 * kMs; t += 10 * kMs) o.pass(t);
  EXPECT_EQ(o.seen.size(), 1u);
}

TEST(DueWheel, APassEarlyInTheSlotMovesTheEntryOnInsteadOfDroppingIt) {
  Owner o;
  const std::uint64_t t0 = 1'000'000 * kMs;
  o.schedule(1, t0 + 38 * kMs, t0);
  o.pass(t0 + 31 * kMs);  // the 30-40 ms slot, before 38 ms
  EXPECT_TRUE(o.seen.empty());
  o.pass(t0 + 41 * kMs);
  EXPECT_EQ(o.seen, std::vector<std::uint32_t>{1});
}

TEST(DueWheel, RescheduledAndForgottenKeysAreDropped) {
  Owner o;
  const std::uint64_t t0 = 1'000'000 * kMs;
  o.schedule(1, t0 + 20 * kMs, t0);
  o.schedule(2, t0 + 20 * kMs, t0);
  o.schedule(1, t0 + 500 * kMs, t0);  // its 20 ms entry is stale now
  o.live.erase(2);                    // the pair is gone
  o.pass(t0);
  o.pass(t0 + 30 * kMs);
  EXPECT_TRUE(o.seen.empty());
  o.pass(t0 + 510 * kMs);
  EXPECT_EQ(o.seen, std::vector<std::uint32_t>{1});
}

TEST(DueWheel, TimesAreClampedToTheWheelsSecondAndCatchUpAfterAGap) {
  Owner o;
  const std::uint64_t t0 = 1'000'000 * kMs;
  o.schedule(1, t0 + 60'000 * kMs, t0);  // a minute away: looked at within the second
  EXPECT_EQ(o.live[1], t0 + DueWheel::kHorizonUs);
  o.schedule(2, t0 - 5 * kMs, t0);  // already past: the next pass
  EXPECT_EQ(o.live[2], t0 + 1);
  o.pass(t0);  // early in its slot: moved on
  EXPECT_TRUE(o.seen.empty());
  o.pass(t0 + 3'000 * kMs);  // the worker was away for 3 s: every slot is handled once
  EXPECT_EQ(o.seen, (std::vector<std::uint32_t>{2, 1}));
}

TEST(DueWheel, WhatAPassSchedulesGoesToALaterSlot) {
  Owner o;
  const std::uint64_t t0 = 1'000'000 * kMs;
  o.schedule(1, t0 + 10 * kMs, t0);
  int passes = 0;
  for (std::uint64_t t = t0 + 10 * kMs; t <= t0 + 100 * kMs; t += 10 * kMs, ++passes) {
    const std::size_t before = o.seen.size();
    o.pass(t + 1);
    if (o.seen.size() > before) o.schedule(1, t, t + 1);  // asks for a time already handled
  }
  // Each pass handed key 1 out at most once, although it rescheduled into its own slot.
  EXPECT_EQ(o.seen.size(), static_cast<std::size_t>(passes));
}

}  // namespace
