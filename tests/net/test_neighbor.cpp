#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "turnpike/net/neighbor.hpp"

using namespace turnpike::net;

namespace {
MacAddr mac(std::uint8_t x) { return MacAddr{{2, 0, 0, 0, x, static_cast<std::uint8_t>(x ^ 0x5a)}}; }
}  // namespace

TEST(Neighbor, CreateOnlyWhenAsked) {
  NeighborTable t(16, 100);
  MacAddr m;
  EXPECT_FALSE(t.update(0x0a000001, mac(1), 0, /*create=*/false));  // RFC 826: merge only
  EXPECT_FALSE(t.lookup(0x0a000001, 0, m));
  EXPECT_TRUE(t.update(0x0a000001, mac(1), 0, true));
  ASSERT_TRUE(t.lookup(0x0a000001, 10, m));
  EXPECT_EQ(m, mac(1));
  // Merge refreshes and changes the MAC of an existing entry.
  EXPECT_TRUE(t.update(0x0a000001, mac(2), 50, false));
  ASSERT_TRUE(t.lookup(0x0a000001, 60, m));
  EXPECT_EQ(m, mac(2));
  EXPECT_EQ(t.size(), 1u);
}

TEST(Neighbor, ZeroAddressIsNeverStored) {
  NeighborTable t(16, 100);
  MacAddr m;
  EXPECT_FALSE(t.update(0, mac(1), 0, true));
  EXPECT_FALSE(t.lookup(0, 0, m));
}

TEST(Neighbor, AgingHidesThenExpires) {
  NeighborTable t(16, 100);
  MacAddr m;
  t.update(0x0a000001, mac(1), 1000, true);
  t.update(0x0a000002, mac(2), 1050, true);
  EXPECT_TRUE(t.lookup(0x0a000001, 1100, m));   // age 100: still valid
  EXPECT_FALSE(t.lookup(0x0a000001, 1101, m));  // stale: a miss even before the sweep
  EXPECT_EQ(t.expire(1101), 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.lookup(0x0a000002, 1101, m));
  EXPECT_EQ(t.expire(2000), 1u);
  EXPECT_EQ(t.size(), 0u);
  // A stamp from a core whose clock runs slightly ahead is not "expired".
  t.update(0x0a000003, mac(3), 5000, true);
  EXPECT_TRUE(t.lookup(0x0a000003, 4990, m));
}

TEST(Neighbor, BoundedWithEviction) {
  NeighborTable t(8, 1'000'000);  // capacity 8: one probe window
  EXPECT_EQ(t.capacity(), 8u);
  for (std::uint32_t i = 1; i <= 8; ++i) ASSERT_TRUE(t.update(0x0a000000 + i, mac(std::uint8_t(i)), i, true));
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.evictions(), 0u);
  // The ninth evicts the oldest (0x0a000001, stamped 1).
  ASSERT_TRUE(t.update(0x0a000009, mac(9), 100, true));
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.evictions(), 1u);
  MacAddr m;
  EXPECT_FALSE(t.lookup(0x0a000001, 100, m));
  EXPECT_TRUE(t.lookup(0x0a000009, 100, m));
  EXPECT_TRUE(t.lookup(0x0a000008, 100, m));
}

TEST(Neighbor, CapacityRoundsToPowerOfTwo) {
  EXPECT_EQ(NeighborTable(1, 1).capacity(), 8u);
  EXPECT_EQ(NeighborTable(100, 1).capacity(), 128u);
}

TEST(Neighbor, GenerationAdvancesOnUpdate) {
  NeighborTable t(16, 100);
  const auto g0 = t.generation();
  t.update(0x0a000001, mac(1), 0, true);
  EXPECT_GT(t.generation(), g0);
  const auto g1 = t.generation();
  t.update(0x0a000002, mac(1), 0, false);  // refused: no change
  EXPECT_EQ(t.generation(), g1);
}

// Readers on other threads must never see a torn entry (MAC of one update
// with the IP of another). Each writer stores MACs derived from the IP, so a
// reader can check consistency. Run under TSan in CI.
TEST(Neighbor, ConcurrentReadersSeeConsistentEntries) {
  NeighborTable t(64, ~0ull >> 1);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0}, hits{0};
  auto mac_for = [](std::uint32_t ip, std::uint32_t round) {
    return MacAddr{{2, static_cast<std::uint8_t>(round), static_cast<std::uint8_t>(ip), static_cast<std::uint8_t>(ip >> 8),
                    static_cast<std::uint8_t>(round ^ ip), 0x77}};
  };
  std::thread writer([&] {
    for (std::uint32_t round = 0; round < 2000; ++round)
      for (std::uint32_t ip = 1; ip <= 200; ++ip) t.update(ip, mac_for(ip, round), round, true);
    stop.store(true);
  });
  std::thread writer2([&] {
    for (std::uint32_t round = 0; round < 2000 && !stop.load(); ++round)
      for (std::uint32_t ip = 150; ip <= 250; ++ip) t.update(ip, mac_for(ip, round + 7), round, true);
  });
  std::thread reader([&] {
    while (!stop.load()) {
      for (std::uint32_t ip = 1; ip <= 250; ++ip) {
        MacAddr m;
        if (!t.lookup(ip, 0, m)) continue;
        hits.fetch_add(1, std::memory_order_relaxed);
        const std::uint8_t r = m.b[1];
        if (m.b[2] != static_cast<std::uint8_t>(ip) || m.b[3] != static_cast<std::uint8_t>(ip >> 8) ||
            m.b[4] != static_cast<std::uint8_t>(r ^ ip) || m.b[5] != 0x77)
          torn.fetch_add(1);
      }
    }
  });
  writer.join();
  writer2.join();
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
  EXPECT_LE(t.size(), t.capacity());
}
