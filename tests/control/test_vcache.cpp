// Verdict cache semantics, single-threaded.
#include <gtest/gtest.h>

#include "turnpike/control/vcache.hpp"
#include "vcache_testutil.hpp"

using namespace turnpike::control;
using turnpike::testing::entry_is_whole;
using turnpike::testing::make_entry;
using turnpike::testing::test_fp;

TEST(VerdictCache, MissThenHitWithSameContent) {
  VerdictCache c(1024);
  CacheEntry out;
  Fingerprint fp = test_fp(1);
  EXPECT_FALSE(c.lookup(fp, out));
  CacheEntry e = make_entry(fp, c.epoch(), 3);
  ASSERT_TRUE(c.insert(e));
  ASSERT_TRUE(c.lookup(fp, out));
  EXPECT_EQ(out.fp, fp);
  EXPECT_EQ(out.epoch, e.epoch);
  EXPECT_EQ(out.chain, e.chain);
  EXPECT_EQ(out.facts, e.facts);
  EXPECT_TRUE(entry_is_whole(out));
  CacheStats s = c.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.inserts, 1u);
}

TEST(VerdictCache, EpochBumpMakesEntriesStale) {
  VerdictCache c(64);
  Fingerprint fp = test_fp(7);
  uint64_t e1 = c.epoch();
  c.insert(make_entry(fp, e1, 0));
  CacheEntry out;
  ASSERT_TRUE(c.lookup(fp, e1, out));
  uint64_t e2 = c.bump_epoch();
  EXPECT_EQ(e2, e1 + 1);
  EXPECT_FALSE(c.lookup(fp, out));  // current epoch: stale
  EXPECT_EQ(c.stats().stale, 1u);
  EXPECT_TRUE(c.lookup(fp, e1, out));  // a caller still on the old snapshot
  c.insert(make_entry(fp, e2, 1));     // recomputed under the new epoch
  ASSERT_TRUE(c.lookup(fp, out));
  EXPECT_EQ(out.epoch, e2);
  EXPECT_EQ(out.chain, ChainStatus::Expired);  // variant 1
}

TEST(VerdictCache, SameKeyIsOverwrittenNotDuplicated) {
  VerdictCache c(8);  // one set
  Fingerprint fp = test_fp(3);
  for (unsigned v = 0; v < 20; ++v) ASSERT_TRUE(c.insert(make_entry(fp, c.epoch(), v)));
  CacheEntry out;
  ASSERT_TRUE(c.lookup(fp, out));
  EXPECT_EQ(out.chain, static_cast<ChainStatus>(19 % 7));
  EXPECT_EQ(c.stats().evictions, 0u);
  // The other 7 ways are still free.
  for (uint64_t i = 100; i < 107; ++i) c.insert(make_entry(test_fp(i), c.epoch(), 0));
  EXPECT_EQ(c.stats().evictions, 0u);
  EXPECT_TRUE(c.lookup(fp, out));
}

TEST(VerdictCache, FullSetEvictsAndMemoryIsBounded) {
  VerdictCache c(8);
  ASSERT_EQ(c.capacity(), 8u);
  size_t mem = c.memory_bytes();
  for (uint64_t i = 0; i < 1000; ++i) c.insert(make_entry(test_fp(i), c.epoch(), 0));
  EXPECT_EQ(c.memory_bytes(), mem);
  CacheStats s = c.stats();
  EXPECT_EQ(s.inserts, 1000u);
  EXPECT_EQ(s.evictions, 1000u - 8u);
  int hits = 0;
  CacheEntry out;
  for (uint64_t i = 0; i < 1000; ++i) hits += c.lookup(test_fp(i), out);
  EXPECT_EQ(hits, 8);
  EXPECT_TRUE(c.lookup(test_fp(999), out));  // the last insert is always present
}

TEST(VerdictCache, StaleWaysAreReusedBeforeLiveOnes) {
  VerdictCache c(8);
  for (uint64_t i = 0; i < 8; ++i) c.insert(make_entry(test_fp(i), c.epoch(), 0));
  c.bump_epoch();
  for (uint64_t i = 8; i < 16; ++i) c.insert(make_entry(test_fp(i), c.epoch(), 0));
  EXPECT_EQ(c.stats().evictions, 0u);  // only stale entries were replaced
  CacheEntry out;
  for (uint64_t i = 8; i < 16; ++i) EXPECT_TRUE(c.lookup(test_fp(i), out));
}

TEST(VerdictCache, CapacityRoundsUp) {
  EXPECT_EQ(VerdictCache(0).capacity(), 8u);
  EXPECT_EQ(VerdictCache(9).capacity(), 16u);
  EXPECT_EQ(VerdictCache(1000).capacity(), 1024u);
  EXPECT_EQ(VerdictCache(1024).memory_bytes() >= 1024 * 64, true);
}

TEST(VerdictCache, TimesAreClampedTo32Bits) {
  VerdictCache c(8);
  CacheEntry e = make_entry(test_fp(1), c.epoch(), 0);
  e.facts.not_before = -5;
  e.facts.not_after = 253402300799;  // 9999-12-31
  c.insert(e);
  CacheEntry out;
  ASSERT_TRUE(c.lookup(e.fp, out));
  EXPECT_EQ(out.facts.not_before, 0);
  EXPECT_EQ(out.facts.not_after, 0xffffffffLL);
}

TEST(VerdictCache, PolicyOnCachedFacts) {
  // A mode change needs no invalidation: verdict() runs on the cached facts.
  VerdictCache c(8);
  CertFacts server_only;
  server_only.eku_present = true;
  server_only.eku = kEkuServerAuth;
  CacheEntry e{test_fp(5), c.epoch(), ChainStatus::Ok, CachedFacts::from(server_only)};
  c.insert(e);
  CacheEntry out;
  ASSERT_TRUE(c.lookup(e.fp, out));
  EXPECT_FALSE(verdict(out.facts.to_facts(), EkuMode::On, Role::Inbound).accept);
  EXPECT_TRUE(verdict(out.facts.to_facts(), EkuMode::Off, Role::Inbound).accept);
}

TEST(VerdictCache, SnapshotEpochsDriveVictimChoice) {
  VerdictCache c(8);
  c.advance_epoch(5);
  EXPECT_EQ(c.epoch(), 5u);
  c.advance_epoch(3);  // never goes back
  EXPECT_EQ(c.epoch(), 5u);
  for (uint64_t i = 0; i < 8; ++i) c.insert(make_entry(test_fp(i), 5, 0));
  // An entry of a newer snapshot epoch raises the cache epoch: the epoch-5
  // entries are now stale and are replaced before any live one.
  for (uint64_t i = 8; i < 16; ++i) c.insert(make_entry(test_fp(i), 6, 0));
  EXPECT_EQ(c.epoch(), 6u);
  EXPECT_EQ(c.stats().evictions, 0u);
  CacheEntry out;
  for (uint64_t i = 8; i < 16; ++i) EXPECT_TRUE(c.lookup(test_fp(i), 6, out));
}
