// TCP over IPv6 (issue 13 item 4): the pseudo-header checksum (RFC 8200
// §8.1), MSS 1440 on a 1500 MTU, dual-stack listeners, TIME_WAIT and SYN
// cookies keyed by 16-byte addresses, per-source caps, RSS for IPv6 tuples.
#include <gtest/gtest.h>

#include <string>

#include "harness.hpp"
#include "netsim.hpp"
#include "turnpike/net/checksum.hpp"
#include "turnpike/tcp/rss.hpp"

using namespace tcptest;

namespace {

Addr v6(const char* s) {
  const auto a = turnpike::net::parse_ipv6(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a ? Addr(*a) : Addr::any6();
}

const Addr kSrv = v6("2001:db8::1");
const Addr kCli = v6("2001:db8::2");
constexpr std::uint16_t kPort = 5061;

class App : public ConnHandler, public Listener {
 public:
  ConnId id;
  int accepted = 0, connected = 0, closed = 0, peer_closed = 0;
  std::string data;
  bool close_on_fin = false;
  ConnHandler* on_accept(Stack&, ConnId i) override {
    id = i;
    ++accepted;
    return this;
  }
  void on_connected(Stack&, ConnId) override { ++connected; }
  void on_readable(Stack& s, ConnId i) override {
    char buf[4096];
    std::size_t n;
    while ((n = s.read(i, buf, sizeof buf)) > 0) data.append(buf, n);
  }
  void on_peer_closed(Stack& s, ConnId i) override {
    ++peer_closed;
    if (close_on_fin) s.close(i);
  }
  void on_closed(Stack&, ConnId) override { ++closed; }
};

// The one's-complement sum written out for the IPv6 pseudo header: a second
// implementation to hold the stack's against.
std::uint16_t reference_csum6(const Addr& s, const Addr& d, const std::vector<std::uint8_t>& seg) {
  std::uint64_t sum = 0;
  for (int i = 0; i < 16; i += 2) sum += (s.b[i] << 8) | s.b[i + 1];
  for (int i = 0; i < 16; i += 2) sum += (d.b[i] << 8) | d.b[i + 1];
  sum += seg.size() >> 16;
  sum += seg.size() & 0xffff;
  sum += 6;  // next header: TCP
  for (std::size_t i = 0; i < seg.size(); i += 2)
    sum += (std::uint32_t{seg[i]} << 8) | (i + 1 < seg.size() ? seg[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::string blob(std::size_t n) {
  std::string b(n, '\0');
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>(i * 131 + (i >> 11));
  return b;
}

}  // namespace

TEST(Ipv6Addr, MappedFormForIpv4) {
  const Addr a(0xc6120001u);
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.v4(), 0xc6120001u);
  EXPECT_EQ(a, v6("::ffff:198.18.0.1"));  // RFC 4291 §2.5.5.2
  EXPECT_FALSE(kSrv.is_v4());
  EXPECT_EQ(kSrv.v4(), 0u);
  EXPECT_TRUE(Addr{}.v4_any());
  EXPECT_TRUE(Addr::any6().v6_any());
  EXPECT_FALSE(Addr::any6().is_v4());
}

TEST(Ipv6Checksum, PseudoHeaderRfc8200) {
  SegSpec sp{.sport = 40000, .dport = kPort, .seq = Seq(1), .flags = flag::syn, .data = "odd-length!"};
  auto seg = make_segment(kCli, kSrv, sp);
  EXPECT_TRUE(tcp_checksum_ok(kCli, kSrv, seg.data(), seg.size()));
  EXPECT_FALSE(tcp_checksum_ok(kCli, v6("2001:db8::3"), seg.data(), seg.size()));
  std::vector<std::uint8_t> zeroed = seg;
  zeroed[16] = zeroed[17] = 0;
  EXPECT_EQ(tcp_checksum(kCli, kSrv, zeroed.data(), zeroed.size()), reference_csum6(kCli, kSrv, zeroed));
  // IPv4-mapped addresses take the IPv4 pseudo header: same value as the IPv4 form.
  EXPECT_EQ(tcp_checksum(Addr(0xc6120001u), Addr(0xc6120002u), zeroed.data(), zeroed.size()),
            tcp_checksum(0xc6120001u, 0xc6120002u, zeroed.data(), zeroed.size()));
  // Offload: the NIC sums the segment over the pseudo-header sum left in
  // the field and gets the same checksum.
  const std::uint16_t ph = tcp_pseudo_checksum(kCli, kSrv, zeroed.size());
  std::vector<std::uint8_t> off = zeroed;
  off[16] = static_cast<std::uint8_t>(ph >> 8);
  off[17] = static_cast<std::uint8_t>(ph);
  EXPECT_EQ(turnpike::net::csum_fold(turnpike::net::csum_partial(off.data(), off.size())),
            tcp_checksum(kCli, kSrv, zeroed.data(), zeroed.size()));
}

// Handshake and 1 MiB over a lossy, reordering wire between two IPv6
// endpoints: MSS 1440 (1500 - 40 - 20) on both sides, every byte in order.
TEST(Ipv6Transfer, HandshakeMss1440AndLossyTransfer) {
  Impairment imp;
  imp.loss = 0.02;
  imp.reorder = 0.01;
  NetSim net(Config{}, Config{}, imp, 61);
  App srv, cli;
  ASSERT_EQ(net.b->listen(kSrv, kPort, srv), 0);
  cli.id = net.a->connect(kCli, 0, kSrv, kPort, cli);
  ASSERT_TRUE(cli.id.valid());
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1 && cli.connected == 1; }, 10'000'000));
  ConnInfo ci, si;
  ASSERT_TRUE(net.a->info(cli.id, ci));
  ASSERT_TRUE(net.b->info(srv.id, si));
  EXPECT_EQ(ci.smss, 1440 - 12);  // timestamps on: 12 option bytes per segment (RFC 6691)
  EXPECT_EQ(si.smss, 1440 - 12);
  EXPECT_EQ(si.remote, kCli);
  EXPECT_EQ(si.local, kSrv);
  EXPECT_EQ(si.laddr, 0u);  // no IPv4 form
  EXPECT_EQ(si.raddr, 0u);
  EXPECT_EQ(ci.rport, kPort);
  const std::string b = blob(1 << 20);
  std::size_t sent = 0;
  ASSERT_TRUE(net.run(
      [&] {
        if (sent < b.size()) {
          const long k = net.a->write(cli.id, b.data() + sent, b.size() - sent);
          if (k > 0) sent += static_cast<std::size_t>(k);
        }
        return srv.data.size() == b.size();
      },
      120'000'000));
  EXPECT_TRUE(srv.data == b);
  EXPECT_GT(net.counts.dropped, 0u);
  EXPECT_GT(net.a->counters().retransmits.load(), 0u);
  EXPECT_EQ(net.b->counters().rx_bad_checksum.load(), 0u);
}

// A segment's checksum covers its IPv6 addresses: delivered to another
// address, the same bytes fail the check and are counted.
TEST(Ipv6Transfer, WrongAddressFailsChecksum) {
  VecSink sink;
  Stack st(Config{}, sink, 1'000'000);
  App app;
  st.listen(Addr::any6(), kPort, app);
  auto seg = make_segment(kCli, kSrv, SegSpec{.sport = 40000, .dport = kPort, .seq = Seq(1), .flags = flag::syn});
  st.input(SegmentIn{.src = kCli, .dst = v6("2001:db8::9"), .data = seg.data(), .len = seg.size()}, 1'000'000);
  EXPECT_EQ(st.counters().rx_bad_checksum.load(), 1u);
  EXPECT_TRUE(sink.out.empty());
}

// [::] takes both families (as a socket without IPV6_V6ONLY), 0.0.0.0
// IPv4 only, and a specific address wins over both wildcards.
TEST(Ipv6Listen, DualStackWildcards) {
  VecSink sink;
  Stack st(Config{}, sink, 1'000'000);
  App dual, v4only, exact;
  ASSERT_EQ(st.listen(Addr::any6(), 5061, dual), 0);
  ASSERT_EQ(st.listen(0u, 5062, v4only), 0);
  ASSERT_EQ(st.listen(kSrv, 5061, exact), 0);
  EXPECT_EQ(st.listen(Addr::any6(), 5061, dual), -EADDRINUSE);
  EXPECT_EQ(st.listen(Addr(0u), 5061, v4only), 0);  // 0.0.0.0 and :: are different addresses
  auto syn = [&](const Addr& src, const Addr& dst, std::uint16_t dport) {
    auto b = make_segment(src, dst, SegSpec{.sport = 40000, .dport = dport, .seq = Seq(9), .flags = flag::syn});
    st.input(SegmentIn{.src = src, .dst = dst, .data = b.data(), .len = b.size()}, 1'000'000);
    EXPECT_FALSE(sink.out.empty());
    if (sink.out.empty()) return Header{};
    Captured c = sink.out.front();
    sink.out.pop_front();
    EXPECT_EQ(c.src, dst);  // answered from the address it was sent to
    EXPECT_EQ(c.dst, src);
    return c.h();
  };
  const Addr other6 = v6("2001:db8::7");
  Header h = syn(kCli, other6, 5061);  // :: takes an IPv6 SYN to any address
  EXPECT_TRUE(h.has(flag::syn) && h.has(flag::ack));
  EXPECT_EQ(h.opt.mss, 1440);
  h = syn(0xc6120002u, 0xc6120001u, 5061);  // 0.0.0.0:5061 takes IPv4 before ::
  EXPECT_TRUE(h.has(flag::syn) && h.has(flag::ack));
  EXPECT_EQ(h.opt.mss, 1460);
  h = syn(kCli, other6, 5062);  // 0.0.0.0 never takes IPv6
  EXPECT_TRUE(h.has(flag::rst));
  h = syn(0xc6120002u, 0xc6120001u, 5062);
  EXPECT_TRUE(h.has(flag::syn) && h.has(flag::ack));
  EXPECT_EQ(st.counters().syn_received.load(), 3u);
  // Completing the handshakes shows which listener got which.
  EXPECT_EQ(dual.accepted + v4only.accepted + exact.accepted, 0);
  ASSERT_EQ(st.unlisten(Addr::any6(), 5061), 0);  // its half-open connection is reset
  sink.out.clear();
  h = syn(v6("2001:db8::5"), other6, 5061);  // :: gone: nobody for this address
  EXPECT_TRUE(h.has(flag::rst));
  h = syn(v6("2001:db8::5"), kSrv, 5061);  // the exact listener stays
  EXPECT_TRUE(h.has(flag::syn) && h.has(flag::ack));
}

// An active open needs both addresses of one family.
TEST(Ipv6Connect, FamiliesDoNotMix) {
  VecSink sink;
  Stack st(Config{}, sink, 1'000'000);
  App h;
  EXPECT_FALSE(st.connect(0xc6120001u, 0, kSrv, kPort, h).valid());
  EXPECT_FALSE(st.connect(kCli, 0, 0xc6120001u, kPort, h).valid());
  const ConnId id = st.connect(kCli, 0, kSrv, kPort, h);
  ASSERT_TRUE(id.valid());
  ASSERT_EQ(sink.out.size(), 1u);
  EXPECT_EQ(sink.out.front().h().opt.mss, 1440);
  EXPECT_TRUE(tcp_checksum_ok(kCli, kSrv, sink.out.front().bytes.data(), sink.out.front().bytes.size()));
}

// TIME_WAIT entries hold the 16-byte tuple: the closer keeps one, a tuple
// with the same low 32 address bits is another connection, and a new SYN
// from the same IPv6 tuple reuses it early (RFC 6191, timestamps).
TEST(Ipv6TimeWait, EntryKeyedByFullAddressAndReused) {
  NetSim net(Config{}, Config{}, Impairment{}, 5);
  App srv, cli;
  cli.close_on_fin = true;
  net.b->listen(kSrv, kPort, srv);
  cli.id = net.a->connect(kCli, 41000, kSrv, kPort, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1 && cli.connected == 1; }, 5'000'000));
  ASSERT_GT(net.a->write(cli.id, "bye", 3), 0);
  ASSERT_TRUE(net.run([&] { return srv.data == "bye"; }, 5'000'000));
  net.b->close(srv.id);  // the server closes first: it keeps TIME_WAIT
  ASSERT_TRUE(net.run([&] { return net.a->connections() == 0 && net.b->time_wait() == 1; }, 10'000'000));
  const ConnId tw = net.b->find(kSrv, kPort, kCli, 41000);
  ASSERT_TRUE(tw.valid());
  EXPECT_EQ(net.b->state(tw), State::time_wait);
  // Same last 32 bits, other prefix: not this entry.
  EXPECT_FALSE(net.b->find(v6("2001:db9::1"), kPort, v6("2001:db9::2"), 41000).valid());
  EXPECT_FALSE(net.b->find(Addr(0x00000001u), kPort, Addr(0x00000002u), 41000).valid());
  // The client comes back from the same port a second later: reuse.
  net.run([] { return false; }, 1'000'000);
  App cli2;
  cli2.id = net.a->connect(kCli, 41000, kSrv, kPort, cli2);
  ASSERT_TRUE(cli2.id.valid());
  ASSERT_TRUE(net.run([&] { return srv.accepted == 2 && cli2.connected == 1; }, 5'000'000));
  EXPECT_EQ(net.b->counters().time_wait_reused.load(), 1u);
  EXPECT_EQ(net.b->time_wait(), 0u);
}

// SYN cookies (RFC 4987) over IPv6: the MAC covers the 16-byte addresses, so
// a cookie returned from another source is refused; MSS 1440 is in the table.
TEST(Ipv6SynCookies, BoundToFullAddresses) {
  Config c;
  c.max_half_open = 0;  // every SYN answered with a cookie
  VecSink sink;
  Stack st(c, sink, 1'000'000);
  App app;
  st.listen(Addr::any6(), kPort, app);
  OptionsOut o;
  o.mss = true;
  o.mss_value = 1440;
  auto syn = make_segment(kCli, kSrv, SegSpec{.sport = 40000, .dport = kPort, .seq = Seq(100), .flags = flag::syn, .opt = o});
  st.input(SegmentIn{.src = kCli, .dst = kSrv, .data = syn.data(), .len = syn.size()}, 1'000'000);
  ASSERT_EQ(sink.out.size(), 1u);
  const Header sa = sink.out.front().h();
  sink.out.clear();
  EXPECT_EQ(st.counters().syn_cookies_sent.load(), 1u);
  EXPECT_EQ(st.connections(), 0u);
  // The same ports and cookie from an address that differs in the high bits only.
  const Addr spoof = v6("2001:db9::2");
  auto bad = make_segment(spoof, kSrv, SegSpec{.sport = 40000, .dport = kPort, .seq = Seq(101), .ack = sa.seq + 1, .flags = flag::ack});
  st.input(SegmentIn{.src = spoof, .dst = kSrv, .data = bad.data(), .len = bad.size()}, 1'000'000);
  EXPECT_EQ(st.counters().syn_cookies_bad.load(), 1u);
  EXPECT_EQ(app.accepted, 0);
  auto good = make_segment(kCli, kSrv, SegSpec{.sport = 40000, .dport = kPort, .seq = Seq(101), .ack = sa.seq + 1, .flags = flag::ack});
  st.input(SegmentIn{.src = kCli, .dst = kSrv, .data = good.data(), .len = good.size()}, 1'000'000);
  EXPECT_EQ(st.counters().syn_cookies_ok.load(), 1u);
  ASSERT_EQ(app.accepted, 1);
  ConnInfo i;
  ASSERT_TRUE(st.info(app.id, i));
  EXPECT_EQ(i.smss, 1440);  // no timestamps offered
  EXPECT_EQ(i.remote, kCli);
}

TEST(Ipv6SynCookies, BulkTransfer) {
  Config s;
  s.max_half_open = 0;
  NetSim net(Config{}, s, Impairment{}, 9);
  App srv, cli;
  net.b->listen(Addr::any6(), kPort, srv);
  cli.id = net.a->connect(kCli, 0, kSrv, kPort, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 2'000'000));
  const std::string b = blob(256 * 1024);
  std::size_t sent = 0;
  ASSERT_TRUE(net.run(
      [&] {
        if (sent < b.size()) {
          const long k = net.a->write(cli.id, b.data() + sent, b.size() - sent);
          if (k > 0) sent += static_cast<std::size_t>(k);
        }
        return srv.data.size() == b.size();
      },
      30'000'000));
  EXPECT_TRUE(srv.data == b);
  EXPECT_EQ(net.b->counters().syn_cookies_ok.load(), 1u);
}

// Per-source caps count a remote IPv6 address by all its 128 bits.
TEST(Ipv6Limits, PerSourceCapByFullAddress) {
  Config c;
  c.max_per_source = 1;
  VecSink sink;
  Stack st(c, sink, 1'000'000);
  App app;
  st.listen(Addr::any6(), kPort, app);
  auto syn = [&](const Addr& src, std::uint16_t sport) {
    auto b = make_segment(src, kSrv, SegSpec{.sport = sport, .dport = kPort, .seq = Seq(5), .flags = flag::syn});
    st.input(SegmentIn{.src = src, .dst = kSrv, .data = b.data(), .len = b.size()}, 1'000'000);
  };
  syn(kCli, 40000);
  syn(kCli, 40001);
  EXPECT_EQ(st.counters().refused_per_source.load(), 1u);
  syn(v6("2001:db9::2"), 40001);  // same low bits, another source
  EXPECT_EQ(st.counters().refused_per_source.load(), 1u);
  EXPECT_EQ(st.half_open(), 2u);
}

// Microsoft "Verifying the RSS hash calculation", IPv6 with TCP ports.
TEST(Ipv6Rss, MicrosoftVectorsAndSymmetry) {
  constexpr std::uint8_t kMsKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                                       0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                                       0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                                       0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  const Toeplitz t(kMsKey);
  struct V {
    const char *src, *dst;
    std::uint16_t sport, dport;
    std::uint32_t h;
  } vs[] = {
      {"3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x40207d3d},
      {"3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xdde51bbf},
      {"3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x02d1feef},
  };
  for (const auto& v : vs)
    EXPECT_EQ(t.hash_tcp(v6(v.src), v6(v.dst), v.sport, v.dport), v.h) << std::hex << v.h;
  const Toeplitz sym(kSymmetricRssKey);
  for (std::uint16_t p = 1000; p < 1100; ++p)
    EXPECT_EQ(sym.hash_tcp(kCli, kSrv, p, kPort), sym.hash_tcp(kSrv, kCli, kPort, p));
  // Steering: an IPv6 active open only takes ports whose reply maps home.
  std::vector<std::uint16_t> reta(128);
  for (std::size_t i = 0; i < reta.size(); ++i) reta[i] = static_cast<std::uint16_t>(i % 2);
  RssSteering mine(kSymmetricRssKey, reta, 1);
  Config c;
  c.port_ok = &RssSteering::port_ok;
  c.port_ok_ctx = &mine;
  VecSink sink;
  Stack st(c, sink, 1'000'000);
  App h;
  for (int i = 0; i < 20; ++i) {
    const ConnId id = st.connect(kCli, 0, kSrv, kPort, h);
    ASSERT_TRUE(id.valid());
    ConnInfo ci;
    ASSERT_TRUE(st.info(id, ci));
    EXPECT_EQ(mine.queue_for_reply(kCli, ci.lport, kSrv, kPort), 1);
  }
}
