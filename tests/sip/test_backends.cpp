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
  EXPECT_EQ(pool.stats().picks.load(), 6u);
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
  EXPECT_EQ(pool.stats().went_down.load(), 1u);
  EXPECT_GE(pool.stats().checks_failed.load(), 2u);
  EXPECT_GE(pool.stats().checks_ok.load(), 5u);
  EXPECT_GE(alive.accepted, 5);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.pick(net.now()), 0);

  // The backend starts: two passing checks bring it back.
  ASSERT_EQ(net.b->listen(kB, 6999, late), 0);
  net.run(poll, 1'000'000);
  EXPECT_TRUE(pool.up(1, net.now()));
  EXPECT_EQ(pool.stats().came_up.load(), 1u);
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
  EXPECT_GE(pool.stats().checks_failed.load(), 2u);
  EXPECT_EQ(pool.pick(net.now()), -1);
}

namespace {
// A backend that reads what it is sent and closes when the client does, as
// a SIP server on EOF does.
struct Polite : tcp::Listener, tcp::ConnHandler {
  int accepted = 0, eofs = 0, resets = 0;
  std::string got;
  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override {
    ++accepted;
    return this;
  }
  void on_readable(tcp::Stack& st, tcp::ConnId c) override {
    char buf[256];
    while (std::size_t n = st.read(c, buf, sizeof buf)) got.append(buf, n);
  }
  void on_peer_closed(tcp::Stack& st, tcp::ConnId c) override {
    ++eofs;
    st.close(c);
  }
  void on_reset(tcp::Stack&, tcp::ConnId) override { ++resets; }
};
}  // namespace

// Regression (issue 15, part 5): probes ended with RST, which every backend
// logged as "Connection reset by peer"; with PROXY v2 on, Kamailio logged
// "invalid PROXY protocol header" for each.
TEST(BackendPool, HealthChecksEndPolitelyWithProxyV2Local) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  Polite be;
  ASSERT_EQ(net.b->listen(kB, 5060, be), 0);
  auto o = opts({5060});
  o.check_interval_us = 100'000;
  o.proxy_v2_local = true;
  proxy::BackendPool pool(*net.a, o);
  net.run([&] { pool.poll(net.now()); return false; }, 1'000'000);
  EXPECT_TRUE(pool.up(0, net.now()));
  EXPECT_GE(be.accepted, 5);
  EXPECT_GE(be.eofs, be.accepted - 1);  // every probe but one in flight ended with FIN
  EXPECT_EQ(be.resets, 0);
  EXPECT_EQ(net.a->counters().tx_rst.load(), 0u);
  EXPECT_EQ(pool.stats().checks_unclosed.load(), 0u);
  // Each probe sent the 16-byte PROXY v2 LOCAL header (proxy-protocol.txt §2.2).
  const std::string local("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
  ASSERT_EQ(be.got.size() % 16, 0u);
  for (std::size_t i = 0; i < be.got.size(); i += 16) EXPECT_EQ(be.got.substr(i, 16), local);
  EXPECT_GE(be.got.size() / 16, 5u);
}

// A backend that never closes its side: the probe resets it after
// check_timeout instead of holding FIN-WAIT-2 (counted).
TEST(BackendPool, HealthCheckResetsABackendThatNeverCloses) {
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  Quiet be;
  ASSERT_EQ(net.b->listen(kB, 5060, be), 0);
  auto o = opts({5060});
  o.check_interval_us = 100'000;
  o.check_timeout_us = 30'000;
  proxy::BackendPool pool(*net.a, o);
  net.run([&] { pool.poll(net.now()); return false; }, 500'000);
  EXPECT_TRUE(pool.up(0, net.now()));
  EXPECT_GE(pool.stats().checks_unclosed.load(), 3u);
  EXPECT_LE(net.a->connections(), 1u);
}

// Issue 13 item 4: a backend by IPv6 address. Its source comes from
// source6_for at each connect; while that has none (no IPv6 port, or the
// address still in DAD, RFC 4862 §5.4) the checks fail and are counted, and
// once it has one the checks reach the backend over IPv6 and bring it up.
TEST(BackendPool, Ipv6BackendChecksFromTheSourceAddressOnceUsable) {
  const net::Ipv6Addr a6 = *net::parse_ipv6("2001:db8:100::1"), b6 = *net::parse_ipv6("2001:db8:100::2");
  tcp::Config c;
  NetSim net(c, c, Impairment{}, 1);
  Polite be;
  ASSERT_EQ(net.b->listen(tcp::Addr(b6), 5060, be), 0);
  proxy::BackendPoolOptions o;
  o.backends.push_back({tcp::Addr(b6), 5060});
  o.backends.push_back({kB, 5061});
  EXPECT_EQ(o.backends[0].endpoint(), "[2001:db8:100::2]:5060");
  EXPECT_EQ(o.backends[0].host(), "2001:db8:100::2");
  EXPECT_EQ(o.backends[1].endpoint(), "198.18.100.2:5061");
  bool usable = false;
  o.source_for = [](std::uint32_t) { return kA; };
  o.source6_for = [&](const net::Ipv6Addr&) -> std::optional<net::Ipv6Addr> {
    if (!usable) return std::nullopt;
    return a6;
  };
  o.check_interval_us = 100'000;
  o.fall = 1;
  o.rise = 2;
  proxy::BackendPool pool(*net.a, o);
  EXPECT_FALSE(pool.source_for(tcp::Addr(b6)).has_value());
  EXPECT_EQ(pool.source_for(tcp::Addr(kB)), tcp::Addr(kA));  // IPv4 as before
  net.run([&] { pool.poll(net.now()); return false; }, 500'000);
  EXPECT_FALSE(pool.up(0, net.now()));
  EXPECT_GE(pool.stats().checks_failed.load(), 2u);
  EXPECT_EQ(be.accepted, 0);  // nothing was sent from an address we may not use
  usable = true;
  ASSERT_EQ(pool.source_for(tcp::Addr(b6)), tcp::Addr(a6));
  net.run([&] { pool.poll(net.now()); return false; }, 1'000'000);
  EXPECT_TRUE(pool.up(0, net.now()));
  EXPECT_EQ(pool.stats().came_up.load(), 1u);
  EXPECT_GE(be.accepted, 2);
  EXPECT_NE(pool.describe(net.now()).find("[2001:db8:100::2]:5060 up"), std::string::npos);
  // Without source6_for at all (no IPv6 configured) an IPv6 backend has no source.
  proxy::BackendPoolOptions none;
  none.backends.push_back({tcp::Addr(b6), 5060});
  proxy::BackendPool bare(*net.a, none);
  EXPECT_FALSE(bare.source_for(tcp::Addr(b6)).has_value());
}
