// BackendPool over two in-process TCP stacks (tests/tcp/netsim.hpp): stack a
// is the worker holding the pool, stack b plays the backends. Balancing,
// passive failure marking and active TCP health checks.
#include <gtest/gtest.h>

#include "../tcp/netsim.hpp"
#include "turnpike/proxy/backends.hpp"

using namespace turnpike;
using tcptest::Impairment;
using tcptest::NetSim;

namespace {

constexpr std::uint32_t kA = 0xC6126401;  // 198.18.100.1 (the worker)
constexpr std::uint32_t kB = 0xC6126402;  // 198.18.100.2 (backends)

struct Quiet : tcp::Listener, tcp::ConnHandler {
  int accepted = 0;
  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override {
    ++accepted;
    return this;
  }
};

proxy::BackendPoolOptions opts(std::vector<std::uint16_t> ports) {
  proxy::BackendPoolOptions o;
  for (auto p : ports) o.backends.push_back({kB, p});
  o.source_for = [](std::uint32_t) { return kA; };
  return o;
}

}  // namespace

TEST(BackendPool, RoundRobinVisitsEveryBackend) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  proxy::BackendPool pool(*net.a, opts({5060, 5061, 5062}));
  std::vector<int> got;
  for (int i = 0; i < 6; ++i) got.push_back(pool.pick(0));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(pool.active(0), 2u);
  EXPECT_EQ(pool.stats().picks.get(), 6u);
}

TEST(BackendPool, LeastConnectionsPrefersTheEmptiest) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  auto o = opts({5060, 5061});
  o.balance = proxy::Balance::LeastConnections;
  proxy::BackendPool pool(*net.a, o);
  EXPECT_EQ(pool.pick(0), 0);
  EXPECT_EQ(pool.pick(0), 1);
  EXPECT_EQ(pool.pick(0), 0);  // tie: rotates
  EXPECT_EQ(pool.pick(0), 1);
  pool.release(1);
  pool.release(1);  // backend 1 now has none, backend 0 two
  EXPECT_EQ(pool.pick(0), 1);
  EXPECT_EQ(pool.pick(0), 1);
  EXPECT_EQ(pool.active(0), 2u);
  EXPECT_EQ(pool.active(1), 2u);
  pool.release(7);  // unknown index: ignored
}

TEST(BackendPool, PassiveFailureSkipsForRetryTime) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  auto o = opts({5060, 5061});
  o.retry_us = 5'000'000;
  proxy::BackendPool pool(*net.a, o);
  pool.connect_failed(0, 1'000'000);
  EXPECT_FALSE(pool.up(0, 1'000'001));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.pick(2'000'000), 1);
  EXPECT_TRUE(pool.up(0, 6'000'000));
  pool.connect_failed(1, 7'000'000);
  pool.connect_failed(0, 7'000'000);
  EXPECT_EQ(pool.pick(8'000'000), -1);  // nothing usable: the caller answers 503
}

TEST(BackendPool, HealthChecksTakeADeadBackendDownAndBringItBack) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  Quiet alive, late;
  ASSERT_EQ(net.b->listen(kB, 5060, alive), 0);  // 6999: nothing listens yet (RST)
  auto o = opts({5060, 6999});
  o.check_interval_us = 100'000;
  o.check_timeout_us = 50'000;
  o.rise = 2;
  o.fall = 2;
  proxy::BackendPool pool(*net.a, o);
  auto poll = [&] {
    pool.poll(net.now());
    return false;
  };
  net.run(poll, 1'000'000);
  EXPECT_TRUE(pool.up(0, net.now()));
  EXPECT_FALSE(pool.up(1, net.now()));
  EXPECT_EQ(pool.stats().went_down.get(), 1u);
  EXPECT_GE(pool.stats().checks_failed.get(), 2u);
  EXPECT_GE(pool.stats().checks_ok.get(), 5u);
  EXPECT_GE(alive.accepted, 5);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.pick(net.now()), 0);

  // The backend starts: two passing checks bring it back.
  ASSERT_EQ(net.b->listen(kB, 6999, late), 0);
  net.run(poll, 1'000'000);
  EXPECT_TRUE(pool.up(1, net.now()));
  EXPECT_EQ(pool.stats().came_up.get(), 1u);
  EXPECT_GE(late.accepted, 2);
  // Probes reset their connections: nothing lingers on the worker's side.
  net.run(poll, 100'000);
  EXPECT_LE(net.a->connections(), 1u);  // at most the probe in flight
}

TEST(BackendPool, SilentBackendTimesOut) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  net.blackhole_lo = kB;  // every segment to b is dropped: SYNs go unanswered
  net.blackhole_hi = kB + 1;
  auto o = opts({5060});
  o.check_interval_us = 100'000;
  o.check_timeout_us = 200'000;
  o.fall = 1;
  proxy::BackendPool pool(*net.a, o);
  net.run([&] { pool.poll(net.now()); return false; }, 1'000'000);
  EXPECT_FALSE(pool.up(0, net.now()));
  EXPECT_GE(pool.stats().checks_failed.get(), 2u);
  EXPECT_EQ(pool.pick(net.now()), -1);
}
