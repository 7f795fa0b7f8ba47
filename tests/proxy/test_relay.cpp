// TcpRelay: two plain legs. Bytes both ways, half-close passed through in
// order, back-pressure to the sender, reset and connect failures on each leg.
#include "harness.hpp"
#include "turnpike/net/ipv6.hpp"
#include "turnpike/proxy/tcp_relay.hpp"

using namespace proxytest;
using tcptest::Impairment;
using tcptest::NetSim;

namespace {

constexpr std::uint16_t kPort = 7000, kTarget = 7001;

struct RelayRig {
  NetSim net;
  proxy::TcpRelay relay;
  PeerListener backends;
  RelayRig(const tcp::Config& ca = tcp::Config{}, std::uint32_t target = kB)
      : net(ca, tcp::Config{}, Impairment{}, 3), relay(target, kTarget), backends(*net.b) {
    EXPECT_EQ(net.a->listen(kA, kPort, relay), 0);
    EXPECT_EQ(net.b->listen(0, kTarget, backends), 0);
  }
  template <class Done>
  bool run(Done&& d, std::uint64_t us = 2'000'000) {
    return net.run([&] {
      relay.poll();
      return d();
    }, us);
  }
};

}  // namespace

TEST(TcpRelay, BytesBothWaysAndHalfCloseInOrder) {
  RelayRig r;
  const std::string up = tcptest::blob(300'000, 1), down = tcptest::blob(200'000, 2);
  auto c = connect_peer(*r.net.b, kPort);
  ASSERT_TRUE(r.run([&] { return r.backends.last() != nullptr; }));
  Peer& be = *r.backends.last();
  c->send(up);
  be.send(down);
  // The client's FIN follows its bytes: the backend sees EOF after all of them.
  ASSERT_TRUE(r.run([&] { return c->pending.empty(); }));
  r.net.b->shutdown_write(c->id);
  ASSERT_TRUE(r.run([&] { return be.eof; }));
  EXPECT_TRUE(be.got == up) << be.got.size();
  // The other direction still flows after the half-close.
  ASSERT_TRUE(r.run([&] { return c->got.size() == down.size(); }));
  EXPECT_FALSE(c->eof);
  EXPECT_TRUE(c->got == down) << c->got.size();
  be.send("tail");
  r.net.b->shutdown_write(be.id);
  ASSERT_TRUE(r.run([&] { return c->eof && r.relay.live() == 0; }));
  EXPECT_EQ(c->got, down + "tail");
  EXPECT_EQ(r.relay.stats().accepted.load(), 1u);
  EXPECT_EQ(r.relay.stats().connected.load(), 1u);
  EXPECT_EQ(r.relay.stats().bytes_up.load(), up.size());
  EXPECT_EQ(r.relay.stats().bytes_down.load(), down.size() + 4);
  EXPECT_EQ(r.relay.stats().closed.load(), 1u);
  EXPECT_EQ(r.net.a->counters().tx_rst.load(), 0u);  // an orderly end on both legs
}

// A backend that stops reading closes the relay's window towards the
// client: the client cannot get its bytes out until the backend reads again.
TEST(TcpRelay, BackPressureHoldsTheSenderUntilTheReaderResumes) {
  RelayRig r(small_buffers());
  const std::string up = tcptest::blob(2'000'000, 3);
  auto c = connect_peer(*r.net.b, kPort);
  ASSERT_TRUE(r.run([&] { return r.backends.last() != nullptr; }));
  Peer& be = *r.backends.last();
  be.paused = true;
  c->send(up);
  r.run([] { return false; }, 500'000);
  // Held: at most the buffers on the way (b's receive, a's two legs, c's send).
  const auto held = c->pending.size();
  EXPECT_GT(held, up.size() / 2);
  // The relay holds at most the two legs' TCP buffers.
  EXPECT_LE(r.net.a->chunks_in_use() * r.net.a->chunk_size(), 4u * 64 * 1024);
  r.run([] { return false; }, 500'000);
  EXPECT_EQ(c->pending.size(), held);  // nothing moves while the reader waits
  be.resume();
  ASSERT_TRUE(r.run([&] {
    be.pump();
    return be.got.size() == up.size();
  }, 10'000'000));
  EXPECT_TRUE(be.got == up) << be.got.size();
  EXPECT_EQ(r.relay.stats().bytes_up.load(), up.size());
}

TEST(TcpRelay, ClientResetAbortsTheBackendLeg) {
  RelayRig r;
  auto c = connect_peer(*r.net.b, kPort);
  ASSERT_TRUE(r.run([&] { return r.backends.last() != nullptr; }));
  c->send("hello");
  ASSERT_TRUE(r.run([&] { return r.backends.last()->got == "hello"; }));
  r.net.b->abort(c->id);
  ASSERT_TRUE(r.run([&] { return r.backends.last()->reset && r.relay.live() == 0; }));
  EXPECT_EQ(r.relay.stats().closed.load(), 1u);
  EXPECT_EQ(r.net.a->connections(), 0u);
}

TEST(TcpRelay, BackendResetAbortsTheClientLeg) {
  RelayRig r;
  auto c = connect_peer(*r.net.b, kPort);
  ASSERT_TRUE(r.run([&] { return r.backends.last() != nullptr; }));
  r.net.b->abort(r.backends.last()->id);
  ASSERT_TRUE(r.run([&] { return c->reset && r.relay.live() == 0; }));
  EXPECT_EQ(r.relay.stats().closed.load(), 1u);
  EXPECT_EQ(r.net.a->connections(), 0u);
}

TEST(TcpRelay, RefusedConnectResetsTheClient) {
  RelayRig r;
  ASSERT_EQ(r.net.b->unlisten(0, kTarget), 0);  // the target answers SYN with RST
  auto c = connect_peer(*r.net.b, kPort);
  ASSERT_TRUE(r.run([&] { return c->reset && r.relay.live() == 0; }));
  EXPECT_EQ(r.relay.stats().connect_failed.load(), 1u);
  EXPECT_EQ(r.relay.stats().connected.load(), 0u);
}

// The target never answers: the active open times out (SYN retries), the
// client is reset.
TEST(TcpRelay, SilentTargetTimesOut) {
  tcp::Config ca;
  ca.syn_retries = 2;  // 1 + 2 + 4 s
  RelayRig r(ca, kC);
  r.net.blackhole_lo = kC;
  r.net.blackhole_hi = kC + 1;
  auto c = connect_peer(*r.net.b, kPort);
  c->send("waiting");
  ASSERT_TRUE(r.run([&] { return c->reset; }, 20'000'000));
  EXPECT_EQ(r.relay.stats().connect_failed.load(), 1u);
  EXPECT_EQ(r.relay.live(), 0u);
  EXPECT_EQ(r.net.a->counters().timeouts.load(), 1u);
}

// IPv6 (issue 13 item 4): the relay listens on [::] (both families) and its
// target may be of either family; the backend leg leaves from what the
// selector gives for the target's family, never from the client's address
// of the other family.
namespace {

tcp::Addr v6(const char* s) {
  const auto a = net::parse_ipv6(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a ? tcp::Addr(*a) : tcp::Addr::any6();
}

const tcp::Addr kA6 = v6("2001:db8:100::1");   // turnpike, where clients reach it
const tcp::Addr kA6s = v6("2001:db8:200::1");  // turnpike, the selector's source towards kB6
const tcp::Addr kB6 = v6("2001:db8:200::2");   // clients and backends

struct Relay6Rig {
  NetSim net;
  proxy::TcpRelay relay;
  PeerListener backends;
  std::vector<tcp::Addr> asked;  // what the selector was asked for
  Relay6Rig(const tcp::Addr& target, std::optional<tcp::Addr> v4src, std::optional<tcp::Addr> v6src)
      : net(tcp::Config{}, tcp::Config{}, Impairment{}, 5),
        relay(target, kTarget,
              [this, v4src, v6src](const tcp::Addr& t) {
                asked.push_back(t);
                return t.is_v4() ? v4src : v6src;
              }),
        backends(*net.b) {
    EXPECT_EQ(net.a->listen(tcp::Addr::any6(), kPort, relay), 0);
    EXPECT_EQ(net.b->listen(tcp::Addr::any6(), kTarget, backends), 0);
  }
  std::unique_ptr<Peer> client(const tcp::Addr& from, const tcp::Addr& to) {
    auto p = std::make_unique<Peer>(*net.b);
    p->id = net.b->connect(from, 0, to, kPort, *p);
    return p;
  }
  template <class Done>
  bool run(Done&& d, std::uint64_t us = 2'000'000) {
    return net.run([&] {
      relay.poll();
      return d();
    }, us);
  }
  // Bytes both ways through one pair; returns the backend's view of it.
  tcp::ConnInfo relay_both_ways(Peer& c) {
    tcp::ConnInfo ci;
    const std::string up = tcptest::blob(100'000, 7), down = tcptest::blob(70'000, 8);
    EXPECT_TRUE(run([&] { return backends.last() != nullptr; }));
    if (!backends.last()) return ci;
    Peer& be = *backends.last();
    EXPECT_TRUE(net.b->info(be.id, ci));
    c.send(up);
    be.send(down);
    EXPECT_TRUE(run([&] { return be.got.size() == up.size() && c.got.size() == down.size(); }));
    EXPECT_TRUE(be.got == up) << be.got.size();
    EXPECT_TRUE(c.got == down) << c.got.size();
    net.b->shutdown_write(c.id);
    net.b->shutdown_write(be.id);
    EXPECT_TRUE(run([&] { return c.eof && be.eof && relay.live() == 0; }));
    EXPECT_EQ(relay.stats().bytes_up.load(), up.size());
    EXPECT_EQ(relay.stats().bytes_down.load(), down.size());
    EXPECT_EQ(relay.stats().closed.load(), 1u);
    return ci;
  }
};

}  // namespace

TEST(TcpRelay6, Ipv6ClientToIpv6TargetLeavesFromTheSelectorsAddress) {
  Relay6Rig r(kB6, std::nullopt, kA6s);
  auto c = r.client(kB6, kA6);
  const tcp::ConnInfo be = r.relay_both_ways(*c);
  // The backend sees the address chosen for the target, not the one the
  // client reached.
  EXPECT_TRUE(be.remote == kA6s);
  EXPECT_TRUE(be.local == kB6);
  EXPECT_EQ(be.lport, kTarget);
  ASSERT_EQ(r.asked.size(), 1u);
  EXPECT_TRUE(r.asked[0] == kB6);
  EXPECT_EQ(r.relay.stats().connected.load(), 1u);
  EXPECT_EQ(r.relay.stats().no_source.load(), 0u);
}

TEST(TcpRelay6, Ipv4ClientToIpv6Target) {
  Relay6Rig r(kB6, kA, kA6s);
  auto c = r.client(kB, kA);
  const tcp::ConnInfo be = r.relay_both_ways(*c);
  EXPECT_TRUE(be.remote == kA6s);
  EXPECT_FALSE(be.remote.is_v4());
  EXPECT_EQ(r.relay.stats().connected.load(), 1u);
}

TEST(TcpRelay6, Ipv6ClientToIpv4Target) {
  Relay6Rig r(kB, kA, kA6s);
  auto c = r.client(kB6, kA6);
  const tcp::ConnInfo be = r.relay_both_ways(*c);
  EXPECT_TRUE(be.remote == tcp::Addr(kA));
  EXPECT_TRUE(be.local == tcp::Addr(kB));
  ASSERT_EQ(r.asked.size(), 1u);
  EXPECT_TRUE(r.asked[0] == tcp::Addr(kB));
  EXPECT_EQ(r.relay.stats().connected.load(), 1u);
}

// IPv4 to IPv4 keeps leaving from the address the client reached (the port
// it came in on); the selector is not asked.
TEST(TcpRelay6, Ipv4ToIpv4KeepsTheClientsLocalAddress) {
  Relay6Rig r(kB, kC, kA6s);
  auto c = r.client(kB, kA);
  const tcp::ConnInfo be = r.relay_both_ways(*c);
  EXPECT_TRUE(be.remote == tcp::Addr(kA));
  EXPECT_TRUE(r.asked.empty());
}

// No local address of the target's family (no IPv6 on any port, or still in
// DAD): the client is reset, counted apart from refused connects.
TEST(TcpRelay6, NoSourceOfTheTargetsFamilyResetsTheClient) {
  Relay6Rig r(kB6, kA, std::nullopt);
  auto c = r.client(kB, kA);
  ASSERT_TRUE(r.run([&] { return c->reset; }));
  EXPECT_EQ(r.relay.stats().no_source.load(), 1u);
  EXPECT_EQ(r.relay.stats().accepted.load(), 0u);
  EXPECT_EQ(r.relay.stats().connect_failed.load(), 0u);
  EXPECT_EQ(r.relay.live(), 0u);
  EXPECT_EQ(r.backends.last(), nullptr);
}

// Without a selector a client of the other family is refused rather than
// connected from an address of the wrong family.
TEST(TcpRelay6, NoSelectorRefusesTheOtherFamily) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 6);
  proxy::TcpRelay relay(kB6, kTarget);
  PeerListener backends(*net.b);
  ASSERT_EQ(net.a->listen(tcp::Addr::any6(), kPort, relay), 0);
  ASSERT_EQ(net.b->listen(tcp::Addr::any6(), kTarget, backends), 0);
  Peer c4(*net.b), c6(*net.b);
  c4.id = net.b->connect(kB, 0, kA, kPort, c4);
  c6.id = net.b->connect(kB6, 0, kA6, kPort, c6);
  ASSERT_TRUE(net.run([&] {
    relay.poll();
    return c4.reset && backends.last() != nullptr;
  }, 2'000'000));
  EXPECT_EQ(relay.stats().no_source.load(), 1u);
  EXPECT_EQ(relay.stats().connected.load(), 1u);  // the IPv6 one, from the address it reached
  tcp::ConnInfo ci;
  ASSERT_TRUE(net.b->info(backends.last()->id, ci));
  EXPECT_TRUE(ci.remote == kA6);
}
