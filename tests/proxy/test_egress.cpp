// Egress: a plain inside leg and a TLS leg to the remote, presenting the
// client store's certificate. Bytes both ways, the inside's FIN carried as
// close_notify, refusals and handshake timeouts reported as outbound TLS
// errors, back-pressure, resets and refused connects on each leg.
#include "harness.hpp"
#include "turnpike/proxy/egress.hpp"
#include "turnpike/tls/session.hpp"
#include "turnpike/tls/stats.hpp"

using namespace proxytest;
using tcptest::Impairment;
using tcptest::NetSim;

namespace {

constexpr std::uint16_t kInside = 5070, kRemote = 5061;

struct EgressRig {
  NetSim net;
  std::shared_ptr<const tls::Context> client = client_ctx("client");
  std::vector<Event> events;
  proxy::Egress egress;
  PeerListener remotes;
  EgressRig(proxy::EgressOptions o = opts(), const tcp::Config& ca = tcp::Config{},
            std::shared_ptr<const tls::Context> remote_ctx = server_ctx("both"))
      : net(ca, tcp::Config{}, Impairment{}, 5),
        egress([this] { return client; }, std::move(o),
               [this](const control::TlsErrorEvent& e) { events.push_back(Event::of(e)); }),
        remotes(*net.b, std::move(remote_ctx)) {
    EXPECT_EQ(net.a->listen(kA, kInside, egress), 0);
    EXPECT_EQ(net.b->listen(0, kRemote, remotes), 0);
  }
  static proxy::EgressOptions opts() {
    proxy::EgressOptions o;
    o.remote_ip = kB;
    o.remote_port = kRemote;
    o.name = "both.test";
    o.handshake_timeout_us = 300'000;
    o.max_buffer = 64 * 1024;
    return o;
  }
  template <class Done>
  bool run(Done&& d, std::uint64_t us = 2'000'000) {
    return net.run([&] {
      egress.poll(net.now());
      return d();
    }, us);
  }
  Peer* remote() { return remotes.last(); }
};

}  // namespace

TEST(Egress, BytesBothWaysThenTheInsideFinEndsThePair) {
  EgressRig r;
  std::vector<control::WouldFailSighting> seen;
  auto c = connect_peer(*r.net.b, kInside);
  c->send("OPTIONS sip:remote.test SIP/2.0\r\n\r\n");
  ASSERT_TRUE(r.run([&] { return r.remote() && r.remote()->tls_open; }));
  Peer& rem = *r.remote();
  EXPECT_TRUE(rem.tls->peer().presented);  // the client store's certificate
  EXPECT_EQ(rem.tls->peer().cn, "client.test");
  const std::string big = tcptest::blob(300'000, 7);
  rem.send(big);
  ASSERT_TRUE(r.run([&] { return c->got.size() == big.size(); }));
  EXPECT_TRUE(c->got == big) << c->got.size();
  c->send(tcptest::blob(100'000, 8));
  ASSERT_TRUE(r.run([&] { return rem.got.size() == 100'000 + 35; }));
  EXPECT_EQ(rem.got, "OPTIONS sip:remote.test SIP/2.0\r\n\r\n" + tcptest::blob(100'000, 8));
  // The inside half-closes: close_notify to the remote, then both legs end.
  r.net.b->shutdown_write(c->id);
  ASSERT_TRUE(r.run([&] { return rem.tls_closed && c->eof && r.egress.live() == 0; }));
  const auto& s = r.egress.stats();
  EXPECT_EQ(s.accepted.load(), 1u);
  EXPECT_EQ(s.handshakes_ok.load(), 1u);
  EXPECT_EQ(s.handshakes_failed.load(), 0u);
  EXPECT_EQ(s.bytes_out.load(), 100'000u + 35);
  EXPECT_EQ(s.bytes_in.load(), big.size());
  EXPECT_EQ(s.closed.load(), 1u);
  EXPECT_TRUE(r.events.empty());
}

TEST(Egress, RemoteCloseNotifyEndsThePairAfterItsBytes) {
  EgressRig r;
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remote() && r.remote()->tls_open; }));
  r.remote()->send("bye");
  r.remote()->close_tls();
  ASSERT_TRUE(r.run([&] { return c->eof && r.egress.live() == 0; }));
  EXPECT_EQ(c->got, "bye");
  EXPECT_EQ(r.egress.stats().closed.load(), 1u);
}

// The remote proves another name than the configured one: refused by us,
// an outbound TLS error with the reason, the inside closed.
TEST(Egress, RemoteWithTheWrongNameIsRefused) {
  auto o = EgressRig::opts();
  o.name = "elsewhere.test";
  EgressRig r(o);
  auto c = connect_peer(*r.net.b, kInside);
  c->send("lost");
  // The inside's bytes were never read: closing it is a reset (RFC 1122 4.2.2.13).
  ASSERT_TRUE(r.run([&] { return c->reset && r.egress.live() == 0; }));
  EXPECT_EQ(r.egress.stats().handshakes_failed.load(), 1u);
  EXPECT_EQ(r.egress.stats().handshakes_ok.load(), 0u);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].event, control::kEventOutboundTlsError);
  EXPECT_EQ(r.events[0].dst_port, kRemote);
  EXPECT_FALSE(r.events[0].detail.empty());
  ASSERT_EQ(r.egress.refusals().size(), 1u);
  EXPECT_EQ(r.egress.refusals().name(0), r.events[0].detail);
  EXPECT_TRUE(r.remote()->got.empty());  // not a byte of the inside's crossed
}

// The remote refuses our certificate (a serverAuth-only leaf, mode On).
TEST(Egress, RemoteRefusingOurCertificateIsAnOutboundError) {
  EgressRig r;
  r.client = client_ctx("server");
  auto c = connect_peer(*r.net.b, kInside);
  c->send("lost");
  ASSERT_TRUE(r.run([&] { return c->eof && r.egress.live() == 0; }));
  EXPECT_EQ(r.egress.stats().handshakes_failed.load(), 1u);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].event, control::kEventOutboundTlsError);
  EXPECT_TRUE(r.remote()->got.empty());
}

// A remote that accepts TCP and never answers the ClientHello.
TEST(Egress, SilentRemoteTimesOutTheHandshake) {
  EgressRig r(EgressRig::opts(), tcp::Config{}, nullptr);  // plain listener: no TLS
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remote() != nullptr; }));
  r.remote()->paused = true;
  ASSERT_TRUE(r.run([&] { return c->eof && r.egress.live() == 0; }));
  EXPECT_EQ(r.egress.stats().handshakes_failed.load(), 1u);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].detail, "handshake timeout");
  EXPECT_GE(r.net.now(), 1'000'000u + 300'000u);
}

// The remote host never answers SYNs: the handshake deadline covers the
// connect too, so the inside is not held for the SYN retries.
TEST(Egress, UnreachableRemoteTimesOutAtTheHandshakeDeadline) {
  auto o = EgressRig::opts();
  o.remote_ip = kC;
  EgressRig r(o);
  r.net.blackhole_lo = kC;
  r.net.blackhole_hi = kC + 1;
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return (c->eof || c->reset) && r.egress.live() == 0; }));
  EXPECT_LT(r.net.now(), 1'000'000u + 1'000'000u);  // before the first SYN retransmission
  EXPECT_EQ(r.egress.stats().handshakes_failed.load(), 1u);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].detail, "handshake timeout");
}

TEST(Egress, RefusedConnectClosesTheInside) {
  EgressRig r;
  ASSERT_EQ(r.net.b->unlisten(0, kRemote), 0);
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return (c->eof || c->reset) && r.egress.live() == 0; }));
  EXPECT_EQ(r.egress.stats().connect_failures.load(), 1u);
  EXPECT_EQ(r.egress.stats().handshakes_ok.load(), 0u);
}

TEST(Egress, InsideResetEndsTheRemoteSession) {
  EgressRig r;
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remote() && r.remote()->tls_open; }));
  r.net.b->abort(c->id);
  ASSERT_TRUE(r.run([&] { return r.remote()->tls_closed && r.remote()->eof && r.egress.live() == 0; }));
  EXPECT_EQ(r.egress.stats().closed.load(), 1u);
}

TEST(Egress, RemoteResetClosesTheInside) {
  EgressRig r;
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remote() && r.remote()->tls_open; }));
  r.net.b->abort(r.remote()->id);
  ASSERT_TRUE(r.run([&] { return c->eof && r.egress.live() == 0; }));
  EXPECT_EQ(r.egress.stats().closed.load(), 1u);
}

// The inside stops reading: the remote's bytes wait in turnpike's bounded
// buffers and the remote's window closes; they all arrive once it reads.
TEST(Egress, BackPressureFromTheInsideHoldsTheRemote) {
  EgressRig r(EgressRig::opts(), small_buffers());
  auto c = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remote() && r.remote()->tls_open; }));
  c->paused = true;
  const std::string big = tcptest::blob(2'000'000, 9);
  r.remote()->send(big);
  r.run([] { return false; }, 500'000);
  const auto held = r.remote()->unsent();
  EXPECT_GT(held, big.size() / 2);  // the remote could not get it out
  // turnpike holds at most its bounded buffers meanwhile.
  EXPECT_LE(r.net.a->chunks_in_use() * r.net.a->chunk_size(), 4u * 64 * 1024 + 2u * 64 * 1024);
  r.run([] { return false; }, 500'000);
  EXPECT_EQ(r.remote()->unsent(), held);
  c->resume();
  ASSERT_TRUE(r.run([&] {
    c->pump();
    return c->got.size() == big.size();
  }, 10'000'000));
  EXPECT_TRUE(c->got == big) << c->got.size();
}

// poll() looks at each pair when it is due, not at every pair each 10 ms:
// an idle remote leg still hibernates once tls::hibernate_after() has
// passed (within a pass), one with traffic every 200 ms never does, and
// the sleeping one carries the inside's next bytes.
TEST(Egress, IdleRemoteLegHibernatesOnTimeWhileABusyOneStaysAwake) {
  const std::uint64_t after0 = tls::hibernate_after();
  tls::set_hibernate_after(500'000);
  EgressRig r;
  auto idle = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remotes.peers.size() == 1 && r.remote()->tls_open; }));
  auto busy = connect_peer(*r.net.b, kInside);
  ASSERT_TRUE(r.run([&] { return r.remotes.peers.size() == 2 && r.remote()->tls_open; }));
  Peer* busy_remote = r.remote();
  Peer* idle_remote = r.remotes.peers[0].get();
  idle->send("hello");
  ASSERT_TRUE(r.run([&] { return idle_remote->got == "hello"; }));
  const auto hib0 = tls::thread_stats().hibernated.load(), woken0 = tls::thread_stats().woken.load();
  const std::uint64_t t0 = r.net.now();
  std::size_t sent = 0;
  while (r.net.now() - t0 < 1'500'000) {
    busy->send("x");
    ++sent;
    r.run([] { return false; }, 200'000);
    if (tls::thread_stats().hibernated.load() == hib0) {
      EXPECT_LT(r.net.now() - t0, 500'000u + 200'000u);
    }
  }
  EXPECT_EQ(tls::thread_stats().hibernated.load(), hib0 + 1);  // the idle one only
  EXPECT_EQ(busy_remote->got.size(), sent);
  idle->send(" again");
  ASSERT_TRUE(r.run([&] { return idle_remote->got == "hello again"; }));
  EXPECT_EQ(tls::thread_stats().woken.load(), woken0 + 1);
  tls::set_hibernate_after(after0);
}
