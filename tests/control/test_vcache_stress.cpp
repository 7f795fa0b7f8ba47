// Readers and writers hammer overlapping keys in a small cache while another
// thread bumps the epoch. Every hit must be a whole entry (no fields from two
// writes). Runs under TSan (CTest label "tsan").
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "turnpike/control/vcache.hpp"
#include "vcache_testutil.hpp"

using namespace turnpike::control;
using turnpike::testing::entry_is_whole;
using turnpike::testing::make_entry;
using turnpike::testing::test_fp;

namespace {
#if defined(__SANITIZE_THREAD__)
constexpr int kOps = 60000;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int kOps = 60000;
#else
constexpr int kOps = 400000;
#endif
#else
constexpr int kOps = 400000;
#endif
}  // namespace

TEST(VerdictCacheStress, NoTornEntriesUnderContention) {
  VerdictCache cache(16);  // 2 sets x 8 ways: constant eviction and overwrite
  constexpr int kKeys = 48;
  std::vector<Fingerprint> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(test_fp(i));

  std::atomic<bool> go{false};
  std::atomic<uint64_t> torn{0}, hits{0}, wrong_key{0};
  auto writer = [&](unsigned seed) {
    while (!go.load(std::memory_order_acquire)) {
    }
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < kOps; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      cache.insert(make_entry(keys[x % kKeys], cache.epoch(), static_cast<unsigned>(x >> 40) % 64));
    }
  };
  auto reader = [&](unsigned seed) {
    while (!go.load(std::memory_order_acquire)) {
    }
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
    uint64_t local_hits = 0;
    CacheEntry out;
    for (int i = 0; i < kOps; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const Fingerprint& fp = keys[x % kKeys];
      uint64_t ep = cache.epoch();
      if (cache.lookup(fp, ep, out)) {
        ++local_hits;
        if (out.fp != fp || out.epoch != ep) wrong_key.fetch_add(1, std::memory_order_relaxed);
        if (!entry_is_whole(out)) torn.fetch_add(1, std::memory_order_relaxed);
      }
    }
    hits.fetch_add(local_hits, std::memory_order_relaxed);
  };
  std::vector<std::thread> ts;
  ts.emplace_back(writer, 1);
  ts.emplace_back(writer, 2);
  ts.emplace_back(reader, 3);
  ts.emplace_back(reader, 4);
  ts.emplace_back([&] {
    while (!go.load(std::memory_order_acquire)) {
    }
    for (int i = 0; i < 50; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      cache.bump_epoch();
    }
  });
  go.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();

  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(wrong_key.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
  CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, hits.load());
  EXPECT_EQ(s.hits + s.misses, uint64_t(2) * kOps);
  EXPECT_GT(s.inserts, 0u);
  EXPECT_EQ(s.inserts + s.contended, uint64_t(2) * kOps);
  std::printf("hits=%lu misses=%lu stale=%lu inserts=%lu evictions=%lu contended=%lu retries=%lu\n",
              (unsigned long)s.hits, (unsigned long)s.misses, (unsigned long)s.stale, (unsigned long)s.inserts,
              (unsigned long)s.evictions, (unsigned long)s.contended, (unsigned long)s.retries);
}
