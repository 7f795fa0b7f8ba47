// Readers take snapshots while a writer commits: each snapshot is complete
// and immutable (runs under TSan, label "tsan").
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store_testutil.hpp"
#include "turnpike/control/store.hpp"

using namespace turnpike::control;
using namespace turnpike::testing;

TEST(StoreConcurrency, SnapshotsStayWholeDuringCommits) {
  TempDir dir;
  StoreManager m({.dir = dir.path});
  ASSERT_EQ(m.load(), "");
  const std::string a_chain = chain("both"), a_key = key("both");
  const std::string b_chain = chain("noeku"), b_key = key("noeku");
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, bad{0};
  auto reader = [&] {
    while (!stop.load(std::memory_order_acquire)) {
      auto s = m.snapshot();
      // Server and client are always committed together with mode On for
      // "both" and Off for "noeku".
      if (s->server.present()) {
        bool is_a = s->server.leaf.subject_cn == "both.test";
        if (s->client.leaf.subject_cn != s->server.leaf.subject_cn) bad.fetch_add(1);
        if ((s->eku_mode == EkuMode::On) != is_a) bad.fetch_add(1);
      }
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader), r2(reader);
  for (int i = 0; i < 20; ++i) {
    Transaction t = m.begin();
    bool a = i % 2 == 0;
    ASSERT_TRUE(t.stage_server(a ? a_chain : b_chain, a ? a_key : b_key, {.also_as_client = true}).ok);
    t.set_eku_mode(a ? EkuMode::On : EkuMode::Off);
    ASSERT_TRUE(t.commit());
  }
  stop.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(m.snapshot()->generation, 21u);
}
