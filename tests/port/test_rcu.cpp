// The data plane's grace period (rte_rcu_qsbr, no EAL needed) under the
// snapshot publisher: a worker that sleeps (offline) never pins a retired
// snapshot; a busy one releases it at its next quiescent state.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "turnpike/worker/rcu.hpp"

using namespace turnpike;

TEST(QsbrGrace, IdleWorkerDoesNotPinARetiredSnapshot) {
  worker::QsbrGrace g(2);
  control::SnapshotPublisher pub(g);
  pub.publish(std::make_unique<control::DataplaneSnapshot>());
  g.online(0);
  g.online(1);
  pub.publish(std::make_unique<control::DataplaneSnapshot>());
  EXPECT_EQ(pub.reclaim(), 1u);  // neither worker has reported yet
  g.quiescent(0);
  EXPECT_EQ(pub.reclaim(), 1u);  // worker 1 may still hold the old one
  g.offline(1);                  // worker 1 goes to sleep (adaptive idle)
  EXPECT_EQ(pub.reclaim(), 0u);  // freed within one grace period
}

TEST(QsbrGrace, BusyWorkerReleasesAtItsNextQuiescentState) {
  worker::QsbrGrace g(1);
  control::SnapshotPublisher pub(g);
  pub.publish(std::make_unique<control::DataplaneSnapshot>());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> iterations{0};
  std::thread w([&] {
    g.online(0);
    while (!stop.load(std::memory_order_relaxed)) {
      const control::DataplaneSnapshot* s = pub.load();
      (void)s->generation;
      g.quiescent(0);
      iterations.fetch_add(1, std::memory_order_relaxed);
    }
    g.offline(0);
  });
  while (iterations.load() < 10) std::this_thread::yield();
  for (int i = 0; i < 100; ++i) pub.publish(std::make_unique<control::DataplaneSnapshot>());
  // Bounded wait: the worker loops continuously, so a few iterations suffice.
  std::size_t left = pub.reclaim();
  for (int spin = 0; left && spin < 100000; ++spin) {
    std::this_thread::yield();
    left = pub.reclaim();
  }
  EXPECT_EQ(left, 0u);
  stop.store(true);
  w.join();
}
