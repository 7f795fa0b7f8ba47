// TcpRelay: two plain legs. Bytes both ways, half-close passed through in
// order, back-pressure to the sender, reset and connect failures on each leg.
#include "harness.hpp"
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
