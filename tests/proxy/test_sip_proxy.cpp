// SipProxy: the client's TLS leg, the backend leg (plain or TLS) and the
// SIP policy between them, in process: messages both ways, the PROXY v2
// header, RFC 5626 pongs, pipelining, 503 without a backend, backend retry,
// malformed SIP, refused and timed-out handshakes (events, counters, no
// TIME_WAIT), close, half-close and reset on each leg, back-pressure.
#include "harness.hpp"
#include "turnpike/control/detail.hpp"
#include "turnpike/control/would_fail.hpp"
#include "turnpike/proxy/backends.hpp"
#include "turnpike/proxy/egress.hpp"
#include "turnpike/proxy/proxy_v2.hpp"
#include "turnpike/proxy/sip_proxy.hpp"
#include "turnpike/proxy/tcp_relay.hpp"
#include "turnpike/tls/session.hpp"
#include "turnpike/tls/stats.hpp"

using namespace proxytest;
using tcptest::Impairment;
using tcptest::NetSim;

namespace {

constexpr std::uint16_t kSips = 5061, kBackend = 5060, kBackend2 = 5062;

std::string request(unsigned seq, std::size_t pad = 0) {
  const std::string s = std::to_string(seq);
  std::string r = "REGISTER sip:example.test SIP/2.0\r\n";
  r += "Via: SIP/2.0/TLS 198.18.100.2:5061;branch=z9hG4bK-" + s + "\r\n";
  r += "Max-Forwards: 70\r\n";
  r += "From: <sip:user@example.test>;tag=f" + s + "\r\n";
  r += "To: <sip:user@example.test>\r\n";
  r += "Call-ID: " + s + "@proxy.test\r\n";
  r += "CSeq: " + s + " REGISTER\r\n";
  if (pad) r += "X-Pad: " + std::string(pad, 'x') + "\r\n";
  r += "Content-Length: 0\r\n\r\n";
  return r;
}

struct SipRig {
  NetSim net;
  std::shared_ptr<const tls::Context> server = server_ctx("both");
  std::vector<Event> tls_events;
  std::vector<std::string> sip_events;  // kind: Detail
  proxy::BackendPool pool;
  proxy::SipProxy px;
  PeerListener backends;

  static proxy::SipProxyOptions opts() {
    proxy::SipProxyOptions o;
    o.handshake_timeout_us = 300'000;
    o.max_buffer = 64 * 1024;
    return o;
  }
  static proxy::BackendPoolOptions pool_opts(std::vector<std::uint16_t> ports = {kBackend}) {
    proxy::BackendPoolOptions o;
    for (auto p : ports) o.backends.push_back({kB, p});
    o.source_for = [](std::uint32_t) { return kA; };
    return o;
  }
  SipRig(proxy::SipProxyOptions o = opts(), proxy::BackendPoolOptions po = pool_opts(),
         const tcp::Config& ca = tcp::Config{}, std::shared_ptr<const tls::Context> be_ctx = {})
      : net(ca, tcp::Config{}, Impairment{}, 7),
        pool(*net.a, std::move(po)),
        px(pool, [this] { return server; }, std::move(o),
           [this](const control::TlsErrorEvent& e) { tls_events.push_back(Event::of(e)); },
           [this](const control::EventLine& e) {
             std::string d;
             for (const auto& [k, v] : e.fields)
               if (k == "Detail") d = v;
             sip_events.push_back(std::string(e.kind) + ": " + d);
           }),
        backends(*net.b, be_ctx) {
    EXPECT_EQ(net.a->listen(kA, kSips, px), 0);
    EXPECT_EQ(net.b->listen(0, kBackend, backends), 0);
  }
  template <class Done>
  bool run(Done&& d, std::uint64_t us = 2'000'000) {
    return net.run([&] {
      px.poll(net.now());
      pool.poll(net.now());
      return d();
    }, us);
  }
  std::unique_ptr<Peer> client(const std::string& leaf = "client") {
    return connect_peer(*net.b, kSips, client_ctx(leaf));
  }
  Peer* backend() { return backends.last(); }
};

}  // namespace

// poll() looks at each pair when it is due, not at every pair each 10 ms:
// an idle client leg still hibernates once tls::hibernate_after() has
// passed (within a pass), a leg with traffic every 200 ms never does, and
// the sleeping one answers its next request.
TEST(SipProxy, IdleLegHibernatesOnTimeWhileABusyOneStaysAwake) {
  const std::uint64_t after0 = tls::hibernate_after();
  tls::set_hibernate_after(500'000);
  SipRig r;
  auto idle = r.client(), busy = r.client();
  ASSERT_TRUE(r.run([&] { return idle->tls_open && busy->tls_open; }));
  idle->send(request(1));
  busy->send(request(2));
  ASSERT_TRUE(r.run([&] { return r.backends.peers.size() == 2; }));
  for (auto& b : r.backends.peers) ASSERT_TRUE(r.run([&] { return !b->got.empty(); }));
  const auto hib0 = tls::thread_stats().hibernated.load(), woken0 = tls::thread_stats().woken.load();
  const std::uint64_t t0 = r.net.now();
  unsigned n = 2;
  while (r.net.now() - t0 < 1'500'000) {
    busy->send(request(++n));
    r.run([] { return false; }, 200'000);
    if (tls::thread_stats().hibernated.load() == hib0) {
      EXPECT_LT(r.net.now() - t0, 500'000u + 200'000u);
    }
  }
  EXPECT_EQ(tls::thread_stats().hibernated.load(), hib0 + 1);  // the idle one only
  idle->send(request(99));
  ASSERT_TRUE(r.run([&] {
    for (auto& b : r.backends.peers)
      if (b->got.find("Call-ID: 99@") != std::string::npos) return true;
    return false;
  }));
  EXPECT_EQ(tls::thread_stats().woken.load(), woken0 + 1);
  tls::set_hibernate_after(after0);
}

TEST(SipProxy, RequestsAndResponsesWithProxyV2AndKeepAlive) {
  auto o = SipRig::opts();
  o.proxy_v2 = true;
  SipRig r(o);
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  // The PROXY v2 header is the backend's first bytes: the client's address
  // and TLS facts (proxy-protocol.txt §2.2).
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got.size() > 16; }));
  Peer& be = *r.backend();
  ASSERT_TRUE(r.run([&] {
    const auto h = proxy_v2::parse(std::span(reinterpret_cast<const std::uint8_t*>(be.got.data()), be.got.size()));
    return h.status == proxy_v2::ParseStatus::Ok && be.got.size() == h.length + request(1).size();
  }));
  const auto h = proxy_v2::parse(std::span(reinterpret_cast<const std::uint8_t*>(be.got.data()), be.got.size()));
  tcp::ConnInfo ci;
  ASSERT_TRUE(r.net.b->info(c->id, ci));
  EXPECT_EQ(h.header.src_ip, kB);
  EXPECT_EQ(h.header.src_port, ci.lport);
  EXPECT_EQ(h.header.dst_ip, kA);
  EXPECT_EQ(h.header.dst_port, kSips);
  EXPECT_TRUE(h.header.ssl);
  EXPECT_TRUE(h.header.client_cert);
  EXPECT_EQ(h.header.client_cn, "client.test");
  EXPECT_EQ(be.got.substr(h.length), request(1));
  // RFC 5626 §3.5.1: a double-CRLF ping is answered here, never forwarded.
  c->send("\r\n\r\n");
  ASSERT_TRUE(r.run([&] { return c->got == "\r\n"; }));
  be.send("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r.run([&] { return c->got.size() > 2; }));
  EXPECT_EQ(c->got, "\r\nSIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(be.got.substr(h.length), request(1));
  const auto& s = r.px.stats();
  EXPECT_EQ(s.accepted.load(), 1u);
  EXPECT_EQ(s.handshakes_ok.load(), 1u);
  EXPECT_EQ(s.requests_in.load(), 1u);
  EXPECT_EQ(s.keepalive_pongs.load(), 1u);
  EXPECT_GE(s.responses_out.load(), 1u);
}

// Many messages in one burst: each is framed and forwarded whole, in order.
TEST(SipProxy, PipelinedMessagesArriveWholeAndInOrder) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  std::string all;
  for (unsigned i = 0; i < 400; ++i) all += request(i, i % 7 * 100);
  c->send(all);
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got.size() == all.size(); }, 5'000'000));
  EXPECT_EQ(r.backend()->got, all);
  EXPECT_EQ(r.px.stats().requests_in.load(), 400u);
}

TEST(SipProxy, NoBackendAnswers503AndCloses) {
  SipRig r(SipRig::opts(), SipRig::pool_opts({}));
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return c->got.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 503 Service Unavailable\r\n")) << c->got;
  EXPECT_NE(c->got.find("Call-ID: 1@proxy.test"), std::string::npos);
  EXPECT_EQ(r.px.stats().no_backend.load(), 1u);
  EXPECT_EQ(r.px.stats().error_responses.load(), 1u);
  ASSERT_EQ(r.sip_events.size(), 1u);
  EXPECT_EQ(r.sip_events[0], "SIP Backend Unavailable: no backend available");
}

// The first backend refuses the connect (RST): the next one gets the
// request the client had already sent.
TEST(SipProxy, RefusedBackendIsSkippedForTheNext) {
  SipRig r(SipRig::opts(), SipRig::pool_opts({kBackend2, kBackend}));
  auto c = r.client();
  c->send(request(5));  // queued until the handshake is done
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(5); }));
  EXPECT_EQ(r.px.stats().backend_failures.load(), 1u);
  EXPECT_EQ(r.pool.stats().picks.load(), 2u);
  EXPECT_FALSE(r.pool.up(0, r.net.now()));
  EXPECT_TRUE(r.sip_events.empty());
}

// Both refuse: the request held meanwhile is answered 503.
TEST(SipProxy, EveryBackendRefusedAnswersTheHeldRequest) {
  SipRig r(SipRig::opts(), SipRig::pool_opts({kBackend2}));
  auto c = r.client();
  c->send(request(6));
  ASSERT_TRUE(r.run([&] { return c->got.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 503 ")) << c->got;
  EXPECT_NE(c->got.find("CSeq: 6 REGISTER"), std::string::npos);
  EXPECT_EQ(r.px.stats().backend_failures.load(), 1u);
  EXPECT_EQ(r.px.stats().no_backend.load(), 1u);
}

TEST(SipProxy, MalformedSipIsAnswered400AndClosed) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  std::string bad = request(9);
  bad.replace(bad.find("Content-Length: 0"), 17, "Content-Length: zz");
  c->send(bad);
  ASSERT_TRUE(r.run([&] { return c->tls_closed && c->eof && r.px.live() == 0; }));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 400 ")) << c->got;
  EXPECT_NE(c->got.find("CSeq: 9 REGISTER"), std::string::npos);
  EXPECT_EQ(r.px.stats().sip_errors.load(), 1u);
  ASSERT_EQ(r.sip_events.size(), 1u);
  EXPECT_EQ(r.sip_events[0], "SIP Message Error: invalid Content-Length");
  EXPECT_TRUE(r.backend() == nullptr || r.backend()->got.empty());  // nothing of it forwarded
}

// A body over the limit: 513 from the head alone (RFC 3261 §21.5.14), then
// close_notify and a lingering close, so the body the client is still
// sending is discarded, not answered with a RST that would make its kernel
// drop the 513 (RFC 1122 4.2.2.13).
TEST(SipProxy, MessageTooLargeIsAnswered513AndTheRestIsDiscardedNotReset) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  std::string big = request(4);
  big.replace(big.find("Content-Length: 0"), 17, "Content-Length: 70000");
  c->send(big + std::string(8000, 'x'));
  for (int i = 0; i < 6; ++i) c->send(std::string(8000, 'x'));  // the rest of the body, still on its way
  ASSERT_TRUE(r.run([&] { return c->got.find("\r\n\r\n") != std::string::npos && r.px.live() == 0; }));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 513 Message Too Large\r\n")) << c->got;
  EXPECT_NE(c->got.find("CSeq: 4 REGISTER"), std::string::npos);
  r.run([] { return false; }, 200'000);
  EXPECT_FALSE(c->reset);
  EXPECT_GT(r.net.a->counters().linger_discarded.load(), 0u);
  EXPECT_EQ(r.net.a->counters().data_after_close.load(), 0u);
  ASSERT_EQ(r.sip_events.size(), 1u);
  EXPECT_TRUE(r.backend() == nullptr || r.backend()->got.empty());
}

// A client without a certificate on a listener that requires one: the
// inbound event with its reason, counted by reason, and no TIME_WAIT.
TEST(SipProxy, RefusedHandshakeIsAnEventAndLeavesNoTimeWait) {
  SipRig r;
  auto c = connect_peer(*r.net.b, kSips, client_ctx(""));
  ASSERT_TRUE(r.run([&] { return c->tls_failed && c->eof && r.px.live() == 0; }));
  r.net.b->close(c->id);  // the client gives up too
  ASSERT_TRUE(r.run([&] { return r.net.a->connections() == 0; }));
  EXPECT_EQ(r.px.stats().handshakes_failed.load(), 1u);
  EXPECT_EQ(r.px.stats().handshakes_ok.load(), 0u);
  EXPECT_EQ(r.px.stats().not_tls.load(), 0u);
  ASSERT_EQ(r.tls_events.size(), 1u);
  EXPECT_EQ(r.tls_events[0].event, control::kEventInboundTlsError);
  EXPECT_EQ(r.tls_events[0].src_ip, "198.18.100.2");
  EXPECT_EQ(r.tls_events[0].dst_port, kSips);
  ASSERT_EQ(r.px.refusals().size(), 1u);
  EXPECT_EQ(r.px.refusals().name(0), r.tls_events[0].detail);
  EXPECT_EQ(r.net.a->counters().time_wait_skipped.load(), 1u);
  EXPECT_EQ(r.net.a->time_wait(), 0u);
  EXPECT_EQ(r.backend(), nullptr);  // no backend connection for it
}

// Plain SIP on the TLS port: refused on its first bytes, counted apart.
TEST(SipProxy, PlainTextOnTheTlsPortIsNotTls) {
  SipRig r;
  auto c = connect_peer(*r.net.b, kSips);
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.px.live() == 0 && r.px.stats().handshakes_failed.load() == 1; }));
  EXPECT_EQ(r.px.stats().not_tls.load(), 1u);
  ASSERT_EQ(r.tls_events.size(), 1u);
  EXPECT_EQ(r.tls_events[0].detail, "malformed TLS record");
  // The lingering close discards the rest instead of resetting the client.
  c->send(request(2));
  r.run([] { return false; }, 200'000);
  EXPECT_FALSE(c->reset);
}

TEST(SipProxy, SilentClientTimesOutItsHandshake) {
  SipRig r;
  auto c = connect_peer(*r.net.b, kSips);
  ASSERT_TRUE(r.run([&] { return r.px.stats().handshake_timeouts.load() == 1 && r.px.live() == 0; }));
  EXPECT_EQ(r.px.stats().handshakes_failed.load(), 1u);
  ASSERT_EQ(r.tls_events.size(), 1u);
  EXPECT_EQ(r.tls_events[0].detail, "handshake timeout");
  ASSERT_TRUE(r.run([&] { return c->eof; }));
  EXPECT_EQ(r.net.a->time_wait(), 0u);
}

// The client ends with close_notify and FIN: the backend sees FIN after
// the client's requests, the pair ends.
TEST(SipProxy, ClientCloseReachesTheBackend) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  c->close_tls();
  ASSERT_TRUE(r.run([&] { return r.backend()->eof && r.px.live() == 0; }));
  EXPECT_EQ(r.px.stats().closed.load(), 1u);
  EXPECT_EQ(r.pool.active(0), 0u);
}

// The backend's FIN: its last response still reaches the client, then
// close_notify and FIN.
TEST(SipProxy, BackendCloseReachesTheClient) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  r.backend()->send("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  r.net.b->shutdown_write(r.backend()->id);
  ASSERT_TRUE(r.run([&] { return c->tls_closed && c->eof && r.px.live() == 0; }));
  EXPECT_EQ(c->got, "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(SipProxy, ClientResetClosesTheBackend) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  r.net.b->abort(c->id);
  ASSERT_TRUE(r.run([&] { return r.backend()->eof && r.px.live() == 0; }));
  EXPECT_EQ(r.px.stats().closed.load(), 1u);
}

TEST(SipProxy, BackendResetClosesTheClient) {
  SipRig r;
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  r.net.b->abort(r.backend()->id);
  ASSERT_TRUE(r.run([&] { return c->tls_closed && c->eof && r.px.live() == 0; }));
}

// A backend that stops reading: the client's requests wait (bounded) and
// the client's window closes; all arrive once the backend reads again.
TEST(SipProxy, BackPressureFromTheBackendHoldsTheClient) {
  SipRig r(SipRig::opts(), SipRig::pool_opts(), small_buffers());
  auto c = r.client();
  ASSERT_TRUE(r.run([&] { return c->tls_open; }));
  c->send(request(0));
  ASSERT_TRUE(r.run([&] { return r.backend() != nullptr; }));
  Peer& be = *r.backend();
  be.paused = true;
  std::string all = request(0);
  std::string burst;
  for (unsigned i = 1; i < 3000; ++i) burst += request(i, 300);
  all += burst;
  c->send(burst);
  r.run([] { return false; }, 500'000);
  const auto held = c->unsent();
  EXPECT_GT(held, burst.size() / 2);
  r.run([] { return false; }, 500'000);
  EXPECT_EQ(c->unsent(), held);
  EXPECT_LE(r.net.a->chunks_in_use() * r.net.a->chunk_size(), 4u * 64 * 1024 + 3u * 64 * 1024);
  be.resume();
  ASSERT_TRUE(r.run([&] {
    be.pump();
    return be.got.size() == all.size();
  }, 10'000'000));
  EXPECT_TRUE(be.got == all) << be.got.size();
  EXPECT_EQ(r.px.stats().requests_in.load(), 3000u);
}

// TLS towards the backend, presenting the client store.
TEST(SipProxy, TlsBackendLeg) {
  auto o = SipRig::opts();
  auto be_client = client_ctx("client");
  o.backend_tls = [be_client] { return be_client; };
  o.backend_tls_name = "both.test";
  int seen = 0;
  o.remote_seen = [&](const control::WouldFailSighting&) { ++seen; };
  SipRig r(o, SipRig::pool_opts(), tcp::Config{}, server_ctx("both"));
  auto c = r.client();
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  EXPECT_TRUE(r.backend()->tls->peer().presented);
  r.backend()->send("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r.run([&] { return c->got.size() > 0 && c->got.ends_with("\r\n\r\n"); }));
  EXPECT_EQ(c->got, "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(seen, 1);
  r.backend()->close_tls();
  ASSERT_TRUE(r.run([&] { return c->tls_closed && r.px.live() == 0; }));
  EXPECT_EQ(r.px.stats().backend_tls_failures.load(), 0u);
}

// The backend proves another name: an outbound TLS error, 503 to the client.
TEST(SipProxy, TlsBackendWithTheWrongNameIsRefused) {
  auto o = SipRig::opts();
  auto be_client = client_ctx("client");
  o.backend_tls = [be_client] { return be_client; };
  o.backend_tls_name = "elsewhere.test";
  SipRig r(o, SipRig::pool_opts(), tcp::Config{}, server_ctx("both"));
  auto c = r.client();
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return c->got.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 503 ")) << c->got;
  EXPECT_EQ(r.px.stats().backend_tls_failures.load(), 1u);
  ASSERT_EQ(r.tls_events.size(), 1u);
  EXPECT_EQ(r.tls_events[0].event, control::kEventOutboundTlsError);
  EXPECT_EQ(r.tls_events[0].dst_port, kBackend);
  EXPECT_TRUE(r.backend()->got.empty());
}

// A TLS backend that never answers its ClientHello: handshake timeout on
// the backend leg, then 503.
TEST(SipProxy, SilentTlsBackendTimesOut) {
  auto o = SipRig::opts();
  auto be_client = client_ctx("client");
  o.backend_tls = [be_client] { return be_client; };
  o.backend_tls_name = "both.test";
  SipRig r(o);  // the backend listener speaks no TLS
  auto c = r.client();
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return c->got.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 503 ")) << c->got;
  EXPECT_EQ(r.px.stats().backend_tls_failures.load(), 1u);
  ASSERT_EQ(r.tls_events.size(), 1u);
  EXPECT_EQ(r.tls_events[0].detail, "handshake timeout");
}

namespace {
template <class S>
std::vector<std::string> names_of(const S& s) {
  std::vector<std::string> v;
  s.for_each([&](std::string_view n, std::string_view d, std::uint64_t) {
    EXPECT_FALSE(d.empty()) << n;
    v.emplace_back(n);
  });
  return v;
}
}  // namespace

// Telemetry (/turnpike/sip, /turnpike/egress) and /metrics find the proxy's
// counters by these names through for_each: they must not change.
TEST(ProxyCounters, NamesTelemetryAndMetricsRead) {
  EXPECT_EQ(names_of(proxy::SipProxyStats{}),
            (std::vector<std::string>{"accepted", "handshakes_ok", "handshakes_failed", "handshake_timeouts", "not_tls",
                                      "resumed", "verdict_cache_hits", "eku_would_fail", "requests_in", "responses_out",
                                      "keepalive_pongs", "sip_errors", "error_responses", "no_backend",
                                      "backend_failures", "backend_tls_failures", "closed"}));
  EXPECT_EQ(names_of(proxy::EgressStats{}),
            (std::vector<std::string>{"accepted", "connect_failures", "handshakes_ok", "handshakes_failed", "bytes_out",
                                      "bytes_in", "closed"}));
  EXPECT_EQ(names_of(proxy::BackendStats{}),
            (std::vector<std::string>{"backend_picks", "backend_connect_failures", "health_checks_ok",
                                      "health_checks_failed", "backend_went_down", "backend_came_up",
                                      "health_checks_unclosed"}));
  proxy::RelayStats rs;
  rs.bytes_up.add(7);
  std::uint64_t up = 0;
  rs.for_each([&](std::string_view n, std::string_view, std::uint64_t v) {
    if (n == "bytes_up") up = v;
  });
  EXPECT_EQ(up, 7u);
  EXPECT_EQ(names_of(rs), (std::vector<std::string>{"accepted", "connected", "connect_failed", "no_source", "bytes_up",
                                                     "bytes_down", "closed"}));
}

// A backend host that never answers: the active open times out (SYN
// retries), the backend is marked failed and the held request gets a 503.
TEST(SipProxy, SilentBackendHostTimesOutTheConnect) {
  tcp::Config ca;
  ca.syn_retries = 1;  // 1 + 2 s
  auto po = SipRig::pool_opts({});
  po.backends.push_back({kC, kBackend});
  SipRig r(SipRig::opts(), po, ca);
  r.net.blackhole_lo = kC;
  r.net.blackhole_hi = kC + 1;
  auto c = r.client();
  c->send(request(3));
  ASSERT_TRUE(r.run([&] { return c->got.find("\r\n\r\n") != std::string::npos; }, 10'000'000));
  EXPECT_TRUE(c->got.starts_with("SIP/2.0 503 ")) << c->got;
  EXPECT_EQ(r.px.stats().backend_failures.load(), 1u);
  EXPECT_EQ(r.px.stats().no_backend.load(), 1u);
  EXPECT_EQ(r.net.a->counters().timeouts.load(), 1u);
}

// A client that stops reading: the backend's bytes wait (bounded) and the
// backend's window closes; all arrive once the client reads again.
TEST(SipProxy, BackPressureFromTheClientHoldsTheBackend) {
  SipRig r(SipRig::opts(), SipRig::pool_opts(), small_buffers());
  auto c = r.client();
  c->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  c->paused = true;
  const std::string big = tcptest::blob(2'000'000, 11);
  r.backend()->send(big);
  r.run([] { return false; }, 500'000);
  const auto held = r.backend()->unsent();
  EXPECT_GT(held, big.size() / 2);
  r.run([] { return false; }, 500'000);
  EXPECT_EQ(r.backend()->unsent(), held);
  EXPECT_LE(r.net.a->chunks_in_use() * r.net.a->chunk_size(), 4u * 64 * 1024 + 3u * 64 * 1024);
  c->resume();
  ASSERT_TRUE(r.run([&] {
    c->pump();
    return c->got.size() == big.size();
  }, 10'000'000));
  EXPECT_TRUE(c->got == big) << c->got.size();
}

// A reload publishes new contexts: a pair keeps the contexts of its
// accept (both legs from one snapshot), new clients get the new ones.
TEST(SipProxy, ReloadKeepsEachPairsContexts) {
  auto o = SipRig::opts();
  auto be_client = client_ctx("client");
  o.backend_tls = [&be_client] { return be_client; };
  o.backend_tls_name = "both.test";
  SipRig r(o, SipRig::pool_opts(), tcp::Config{}, server_ctx("both"));
  auto first = r.client();
  first->send(request(1));
  ASSERT_TRUE(r.run([&] { return r.backend() && r.backend()->got == request(1); }));
  EXPECT_EQ(first->tls->peer().cn, "both.test");
  Peer* first_be = r.backend();
  // The reload: another server certificate, another client certificate.
  r.server = server_ctx("san");
  be_client = client_ctx("ku-dsig");
  auto second = connect_peer(*r.net.b, kSips, client_ctx("client"), "sip.example.test");
  second->send(request(2));
  ASSERT_TRUE(r.run([&] { return r.backends.peers.size() == 2 && r.backend()->got == request(2); }));
  EXPECT_EQ(second->tls->peer().cn, "san.test");
  EXPECT_EQ(r.backend()->tls->peer().cn, "ku-dsig.test");
  // The first pair goes on with what it started with.
  first->send(request(3));
  ASSERT_TRUE(r.run([&] { return first_be->got == request(1) + request(3); }));
  EXPECT_EQ(first_be->tls->peer().cn, "client.test");
  first_be->send("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r.run([&] { return first->got == "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"; }));
}

namespace {
struct Sighting {
  std::string event, detail, subject, src_ip;
  int level = 0;
  bool refused = false;
};
}  // namespace

// EKU mode Off accepts a serverAuth-only client certificate and reports it
// as would-fail (counter, event and the peer record); mode On refuses it
// and reports the peer as refused, with the inbound error event.
TEST(SipProxy, EkuWouldFailAndRefusedPeersAreReported) {
  for (const auto mode : {control::EkuMode::Off, control::EkuMode::On}) {
    std::vector<Sighting> seen;
    auto o = SipRig::opts();
    o.would_fail = [&](const control::TlsErrorEvent& e, const control::WouldFailSighting& w) {
      seen.push_back({std::string(e.event), std::string(e.detail), std::string(w.subject), std::string(w.src_ip),
                      e.level, w.refused});
    };
    SipRig r(o);
    r.server = server_ctx("both", tls::ClientCertMode::Require, mode);
    auto c = r.client("server");  // EKU serverAuth only
    const bool off = mode == control::EkuMode::Off;
    ASSERT_TRUE(r.run([&] { return (off ? r.px.stats().handshakes_ok : r.px.stats().handshakes_failed).load() == 1; }));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].event, control::kEventInboundEkuWouldFail);
    EXPECT_EQ(seen[0].detail, control::kDetailPurpose);
    EXPECT_EQ(seen[0].level, 2);
    EXPECT_NE(seen[0].subject.find("server.test"), std::string::npos) << seen[0].subject;
    EXPECT_EQ(seen[0].src_ip, "198.18.100.2");
    EXPECT_EQ(seen[0].refused, !off);
    EXPECT_EQ(r.px.stats().eku_would_fail.load(), off ? 1u : 0u);
    if (off) {
      EXPECT_TRUE(r.tls_events.empty());
    } else {
      ASSERT_EQ(r.tls_events.size(), 1u);
      EXPECT_EQ(r.tls_events[0].detail, control::kDetailPurpose);
    }
  }
}
