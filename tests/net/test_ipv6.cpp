// IPv6 wire formats without mbufs: addresses and their text forms, the
// extension header walk, ICMPv6 checksums, ND messages, the IPv6 neighbour
// cache and the per-port address states.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "turnpike/net/checksum.hpp"
#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/nd.hpp"
#include "turnpike/net/neighbor.hpp"

using namespace turnpike::net;

namespace {

Ipv6Addr A(const char* s) {
  auto a = parse_ipv6(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(Ipv6Addr{});
}

const Ipv6Addr kSrc = Ipv6Addr::from_words(0x20010db800000001ull, 2);
const Ipv6Addr kDst = Ipv6Addr::from_words(0x20010db800000001ull, 1);

// An IPv6 packet (no Ethernet header): the fixed header, extension headers
// (each given whole; its Next Header byte is filled in), then `l4` as
// protocol `proto`.
struct Ext {
  std::uint8_t type;
  std::vector<std::uint8_t> bytes;
};
std::vector<std::uint8_t> packet(const std::vector<Ext>& chain, std::uint8_t proto, const std::vector<std::uint8_t>& l4,
                                 std::uint8_t hop = 64) {
  std::vector<std::uint8_t> p(kIpv6HdrLen);
  std::size_t ext = 0;
  for (auto& e : chain) ext += e.bytes.size();
  write_ipv6_hdr(p.data(), static_cast<std::uint16_t>(ext + l4.size()), chain.empty() ? proto : chain[0].type, hop,
                 kSrc, kDst);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    auto b = chain[i].bytes;
    b[0] = i + 1 < chain.size() ? chain[i + 1].type : proto;
    p.insert(p.end(), b.begin(), b.end());
  }
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

// An 8-byte options header holding `opts` (6 bytes, padded with PadN).
Ext opts_hdr(std::uint8_t type, std::vector<std::uint8_t> opts = {1, 4, 0, 0, 0, 0}) {
  std::vector<std::uint8_t> b{0, 0};
  b.insert(b.end(), opts.begin(), opts.end());
  b.resize((b.size() + 7) / 8 * 8, 0);
  b[1] = static_cast<std::uint8_t>(b.size() / 8 - 1);
  return {type, b};
}

}  // namespace

TEST(Ipv6Addr, TextFormsRoundTrip) {
  struct {
    const char* in;
    const char* canonical;
  } rows[] = {
      {"::", "::"},
      {"::1", "::1"},
      {"2001:db8::1", "2001:db8::1"},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},       // RFC 5952 §4.2.3: the first of equal runs
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},    // §4.2.2: one zero group is not "::"
      {"2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"},
      {"fe80::200:ff:fe00:1", "fe80::200:ff:fe00:1"},
      {"1::", "1::"},
      {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
      {"::ffff:198.18.0.1", "::ffff:198.18.0.1"},
      {"64:ff9b::198.18.0.1", "64:ff9b::c612:1"},
      {"ff02::1:ff00:1", "ff02::1:ff00:1"},
  };
  for (auto& r : rows) {
    auto a = parse_ipv6(r.in);
    ASSERT_TRUE(a) << r.in;
    EXPECT_EQ(a->to_string(), r.canonical) << r.in;
    EXPECT_EQ(parse_ipv6(a->to_string()), a) << r.in;
  }
  EXPECT_EQ(A("2001:db8::1").hi(), 0x20010db800000000ull);
  EXPECT_EQ(A("2001:db8::1").lo(), 1u);
}

// The text forms agree with the C library's (inet_pton/inet_ntop) on random
// addresses with zero runs of every length; glibc writes ::a.b.c.d for the
// deprecated IPv4-compatible form, RFC 5952 §5 only ::ffff:a.b.c.d, so that
// range is left out.
TEST(Ipv6Addr, AgreesWithInetNtopAndPton) {
  std::mt19937_64 rng(5952);
  for (int i = 0; i < 20000; ++i) {
    Ipv6Addr a = Ipv6Addr::from_words(rng(), rng());
    const std::uint64_t zeros = rng();
    for (int g = 0; g < 8; ++g)
      if ((zeros >> g) & 1) a.b[2 * g] = a.b[2 * g + 1] = 0;
    if (a.hi() == 0 && (a.lo() >> 32) == 0) continue;
    char buf[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, a.b.data(), buf, sizeof buf), nullptr);
    EXPECT_EQ(a.to_string(), buf);
    std::uint8_t back[16];
    ASSERT_EQ(inet_pton(AF_INET6, a.to_string().c_str(), back), 1) << a.to_string();
    EXPECT_EQ(std::memcmp(back, a.b.data(), 16), 0);
    EXPECT_EQ(parse_ipv6(buf), a) << buf;
  }
}

TEST(Ipv6Addr, RejectsMalformedText) {
  for (const char* s : {"", ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
                        "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7", "1:", ":1", "1::2:", "g::1", "::1.2.3", "::1.2.3.4.5",
                        "1.2.3.4", "::ffff:1.2.3.4:1", "fe80::1%eth0", "[::1]", " ::1", "::1 ", "1:2:3:4:5:6:7:1.2.3.4"})
    EXPECT_FALSE(parse_ipv6(s)) << s;
  EXPECT_TRUE(parse_ipv6("1:2:3:4:5:6:1.2.3.4"));
}

TEST(Ipv6Addr, PrefixesAndClasses) {
  auto p = parse_ipv6_prefix("2001:db8:1::/48");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->len, 48);
  EXPECT_TRUE(ipv6_prefix_match(A("2001:db8:1:ffff::9"), p->addr, 48));
  EXPECT_FALSE(ipv6_prefix_match(A("2001:db8:2::9"), p->addr, 48));
  EXPECT_TRUE(ipv6_prefix_match(A("2001:db8::"), A("2001:db9::"), 15));
  EXPECT_FALSE(ipv6_prefix_match(A("2001:db8::"), A("2001:db9::"), 32));
  EXPECT_TRUE(ipv6_prefix_match(A("::1"), A("::2"), 126));
  EXPECT_FALSE(ipv6_prefix_match(A("::1"), A("::2"), 127));
  EXPECT_TRUE(ipv6_prefix_match(A("::1"), A("ffff::"), 0));
  for (const char* s : {"2001:db8::", "2001:db8::/129", "2001:db8::/", "2001:db8::/a", "x/64", "2001:db8::/0064"})
    EXPECT_FALSE(parse_ipv6_prefix(s)) << s;
  EXPECT_TRUE(A("fe80::1").is_link_local());
  EXPECT_TRUE(A("febf::1").is_link_local());
  EXPECT_FALSE(A("fec0::1").is_link_local());
  EXPECT_TRUE(A("ff02::1").is_multicast());
  EXPECT_TRUE(A("::").is_unspecified());
  EXPECT_TRUE(A("::1").is_loopback());
  EXPECT_TRUE(A("::ffff:1.2.3.4").is_v4_mapped());
}

TEST(Ipv6Addr, Endpoints) {
  auto e = parse_endpoint6("[2001:db8::1]:5061");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ip, A("2001:db8::1"));
  EXPECT_EQ(e->port, 5061);
  EXPECT_EQ(endpoint6_to_string(*e), "[2001:db8::1]:5061");
  EXPECT_EQ(parse_endpoint6(endpoint6_to_string(*e)), e);
  EXPECT_EQ(parse_endpoint6("[::]:1")->ip, Ipv6Addr{});
  EXPECT_EQ(parse_endpoint6("[::]", 5061)->port, 5061);
  EXPECT_EQ(parse_endpoint6("2001:db8::1", 5060)->port, 5060);  // bare, with a default port
  EXPECT_EQ(parse_endpoint6("[::1]:65535")->port, 65535);
  for (const char* s : {"", "[::1]", "2001:db8::1", "[::1]:", "[::1]:0", "[::1]:65536", "[::1]:5061x", "[::1]5061",
                        "[::1:5061", "::1]:5061", "[1.2.3.4]:5061", "[::1]:123456", "[fe80::1%eth0]:5061"})
    EXPECT_FALSE(parse_endpoint6(s)) << s;
  EXPECT_FALSE(parse_endpoint6("[::1]x", 5060));
  EXPECT_FALSE(parse_endpoint6("2001:db8::1:5061x", 5060));
}

TEST(Ipv6Addr, LinkLocalSolicitedNodeAndMulticastMac) {
  // RFC 4291 Appendix A: 00:00:5e:00:53:01 -> fe80::200:5eff:fe00:5301.
  const MacAddr mac{{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}};
  EXPECT_EQ(ipv6_link_local(mac).to_string(), "fe80::200:5eff:fe00:5301");
  EXPECT_EQ(ipv6_link_local(MacAddr{{0x02, 0, 0, 0, 0, 1}}).to_string(), "fe80::ff:fe00:1");
  EXPECT_EQ(ipv6_solicited_node(A("2001:db8::abcd:ef12:3456")).to_string(), "ff02::1:ff12:3456");
  EXPECT_EQ(ipv6_multicast_mac(A("ff02::1:ff12:3456")).to_string(), "33:33:ff:12:34:56");
  EXPECT_EQ(ipv6_multicast_mac(ipv6_all_nodes()).to_string(), "33:33:00:00:00:01");
  EXPECT_TRUE(is_ipv6_multicast_mac(ipv6_multicast_mac(ipv6_all_nodes())));
  EXPECT_FALSE(is_ipv6_multicast_mac(MacAddr{{0x01, 0, 0x5e, 0, 0, 1}}));
}

TEST(Ipv6Hdr, BuildParseRoundTrip) {
  const std::vector<std::uint8_t> l4{1, 2, 3, 4, 5};
  auto p = packet({}, kIpProtoIcmpv6, l4, 7);
  p.resize(p.size() + 9, 0xee);  // Ethernet padding after the payload
  Ipv6Hdr h;
  ASSERT_EQ(parse_ipv6_hdr(p.data(), p.size(), h), Ipv6Parse::Ok);
  EXPECT_EQ(h.payload_len, 5);
  EXPECT_EQ(h.next_header, kIpProtoIcmpv6);
  EXPECT_EQ(h.proto, kIpProtoIcmpv6);
  EXPECT_EQ(h.hop_limit, 7);
  EXPECT_EQ(h.src, kSrc);
  EXPECT_EQ(h.dst, kDst);
  EXPECT_EQ(h.l4_offset, kIpv6HdrLen);
  EXPECT_EQ(h.l4_len(), 5u);
  EXPECT_EQ(h.ext_headers, 0);
  EXPECT_FALSE(h.atomic_fragment);
  p[1] = 0xab;  // traffic class low nibble, flow label
  p[2] = 0xcd;
  p[3] = 0xef;
  ASSERT_EQ(parse_ipv6_hdr(p.data(), p.size(), h), Ipv6Parse::Ok);
  EXPECT_EQ(h.traffic_class, 0x0a);
  EXPECT_EQ(h.flow_label, 0xbcdefu);
}

TEST(Ipv6Hdr, WalksExtensionHeaders) {
  const std::vector<std::uint8_t> l4(8, 9);
  // Hop-by-Hop with Router Alert and PadN, a Routing header with Segments
  // Left 0 (ignored, §4.4), an atomic fragment, Destination Options with an
  // unknown skippable option (type 0x1e: high bits 00) and Pad1s.
  std::vector<std::uint8_t> rh{0, 0, 4, 0, 0, 0, 0, 0};
  std::vector<std::uint8_t> frag{0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
  auto p = packet({opts_hdr(kIpv6HopByHop, {5, 2, 0, 0, 1, 0}), {kIpv6Routing, rh}, {kIpv6Fragment, frag},
                   opts_hdr(kIpv6DestOpts, {0x1e, 2, 7, 7, 0, 0})},
                  6, l4);
  Ipv6Hdr h;
  ASSERT_EQ(parse_ipv6_hdr(p.data(), p.size(), h), Ipv6Parse::Ok);
  EXPECT_EQ(h.proto, 6);
  EXPECT_EQ(h.next_header, kIpv6HopByHop);
  EXPECT_EQ(h.l4_offset, kIpv6HdrLen + 32);
  EXPECT_EQ(h.l4_len(), 8u);
  EXPECT_EQ(h.ext_headers, 4);
  EXPECT_TRUE(h.atomic_fragment);
  EXPECT_TRUE(h.router_alert);
  // A longer options header (Hdr Ext Len 1: 16 bytes).
  auto q = packet({opts_hdr(kIpv6DestOpts, {1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})}, kIpv6NoNext, {});
  ASSERT_EQ(parse_ipv6_hdr(q.data(), q.size(), h), Ipv6Parse::Ok);
  EXPECT_EQ(h.proto, kIpv6NoNext);
  EXPECT_FALSE(h.router_alert);
  EXPECT_EQ(h.l4_offset, kIpv6HdrLen + 16);
}

TEST(Ipv6Hdr, RefusesMalformedAndUnsupported) {
  Ipv6Hdr h;
  const std::vector<std::uint8_t> l4(8, 0);
  auto ok = packet({}, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(ok.data(), 39, h), Ipv6Parse::Short);
  auto v4 = ok;
  v4[0] = 0x45;
  EXPECT_EQ(parse_ipv6_hdr(v4.data(), v4.size(), h), Ipv6Parse::BadVersion);
  EXPECT_EQ(parse_ipv6_hdr(ok.data(), ok.size() - 1, h), Ipv6Parse::BadPayloadLen);

  auto trunc = packet({opts_hdr(kIpv6DestOpts)}, kIpProtoIcmpv6, {});
  trunc.resize(kIpv6HdrLen + 6);
  store_be16(trunc.data() + 4, 6);
  EXPECT_EQ(parse_ipv6_hdr(trunc.data(), trunc.size(), h), Ipv6Parse::ExtTruncated);
  auto longlen = packet({opts_hdr(kIpv6DestOpts)}, kIpProtoIcmpv6, l4);
  longlen[kIpv6HdrLen + 1] = 2;  // claims 24 bytes, 16 remain
  EXPECT_EQ(parse_ipv6_hdr(longlen.data(), longlen.size(), h), Ipv6Parse::ExtTruncated);
  auto badtlv = packet({opts_hdr(kIpv6DestOpts, {1, 9, 0, 0, 0, 0})}, kIpProtoIcmpv6, l4);  // PadN past the header
  EXPECT_EQ(parse_ipv6_hdr(badtlv.data(), badtlv.size(), h), Ipv6Parse::ExtTruncated);

  std::vector<Ext> nine(9, opts_hdr(kIpv6DestOpts));
  auto chain = packet(nine, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(chain.data(), chain.size(), h), Ipv6Parse::ExtChain);
  std::vector<Ext> eight(8, opts_hdr(kIpv6DestOpts));
  auto chain8 = packet(eight, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(chain8.data(), chain8.size(), h), Ipv6Parse::Ok);

  auto hbh2 = packet({opts_hdr(kIpv6DestOpts), opts_hdr(kIpv6HopByHop)}, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(hbh2.data(), hbh2.size(), h), Ipv6Parse::HopByHopMisplaced);
  // Unknown options whose type says discard (01, 10, 11) and a Jumbo Payload.
  for (std::uint8_t t : {0x4d, 0x8d, 0xcd, 0xc2}) {
    auto opt = packet({opts_hdr(kIpv6HopByHop, {t, 4, 0, 0, 0, 0})}, kIpProtoIcmpv6, l4);
    EXPECT_EQ(parse_ipv6_hdr(opt.data(), opt.size(), h), Ipv6Parse::BadOption) << int(t);
  }
  auto rh = packet({{kIpv6Routing, {0, 0, 4, 1, 0, 0, 0, 0}}}, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(rh.data(), rh.size(), h), Ipv6Parse::Routing);
  // First fragment (M set), a later one (offset 8), both refused.
  auto f1 = packet({{kIpv6Fragment, {0, 0, 0, 1, 0, 0, 0, 1}}}, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(f1.data(), f1.size(), h), Ipv6Parse::Fragment);
  auto f2 = packet({{kIpv6Fragment, {0, 0, 0, 8, 0, 0, 0, 1}}}, kIpProtoIcmpv6, l4);
  EXPECT_EQ(parse_ipv6_hdr(f2.data(), f2.size(), h), Ipv6Parse::Fragment);
  auto fshort = packet({{kIpv6Fragment, {0, 0, 0, 0, 0, 0, 0, 1}}}, kIpProtoIcmpv6, {});
  fshort.resize(kIpv6HdrLen + 4);
  store_be16(fshort.data() + 4, 4);
  EXPECT_EQ(parse_ipv6_hdr(fshort.data(), fshort.size(), h), Ipv6Parse::ExtTruncated);
  EXPECT_EQ(ipv6_parse_name(Ipv6Parse::ExtChain), "ext_chain");
}

TEST(Icmpv6, ChecksumOverPseudoHeader) {
  // Echo request: the checksum written makes the sum over pseudo-header and
  // message zero; any change to an address or the data breaks it.
  std::vector<std::uint8_t> m{kIcmpv6EchoRequest, 0, 0, 0, 0x12, 0x34, 0, 1, 'h', 'i', '!'};
  store_be16(m.data() + 2, ipv6_upper_checksum(kSrc, kDst, kIpProtoIcmpv6, m.data(), m.size()));
  EXPECT_EQ(ipv6_upper_checksum(kSrc, kDst, kIpProtoIcmpv6, m.data(), m.size()), 0);
  EXPECT_NE(ipv6_upper_checksum(kDst, kDst, kIpProtoIcmpv6, m.data(), m.size()), 0);
  EXPECT_NE(ipv6_upper_checksum(kSrc, kDst, 17, m.data(), m.size()), 0);
  m[9] ^= 1;
  EXPECT_NE(ipv6_upper_checksum(kSrc, kDst, kIpProtoIcmpv6, m.data(), m.size()), 0);
  // A known value: NS from fe80::1 for fe80::2 (computed by hand below).
  std::uint8_t pkt[kIpv6HdrLen + kNdMsgLen];
  const Ipv6Addr src = A("fe80::1"), tgt = A("fe80::2"), grp = ipv6_solicited_node(tgt);
  ASSERT_EQ(write_nd(pkt, kIcmpv6NeighborSolicit, 0, src, grp, tgt, nullptr), sizeof pkt);
  std::uint32_t sum = 0;
  for (int i = 0; i < 16; i += 2) sum += load_be16(src.b.data() + i) + load_be16(grp.b.data() + i);
  sum += kNdMsgLen + kIpProtoIcmpv6;
  for (std::size_t i = 0; i < kNdMsgLen; i += 2)
    if (i != 2) sum += load_be16(pkt + kIpv6HdrLen + i);
  EXPECT_EQ(load_be16(pkt + kIpv6HdrLen + 2), csum_fold(sum));
}

TEST(Nd, BuildParseRoundTrip) {
  const MacAddr mac{{0x02, 0, 0, 0, 0, 7}};
  const Ipv6Addr src = A("fe80::7"), tgt = A("2001:db8::1"), grp = ipv6_solicited_node(tgt);
  std::uint8_t buf[kIpv6HdrLen + kNdMsgLen + kNdLlaOptLen];
  ASSERT_EQ(write_nd(buf, kIcmpv6NeighborSolicit, 0, src, grp, tgt, &mac), sizeof buf);
  Ipv6Hdr h;
  ASSERT_EQ(parse_ipv6_hdr(buf, sizeof buf, h), Ipv6Parse::Ok);
  EXPECT_EQ(h.hop_limit, kNdHopLimit);
  EXPECT_EQ(h.proto, kIpProtoIcmpv6);
  EXPECT_EQ(ipv6_upper_checksum(h.src, h.dst, kIpProtoIcmpv6, buf + kIpv6HdrLen, h.l4_len()), 0);
  NdMsg nd;
  ASSERT_EQ(parse_nd(h, buf + kIpv6HdrLen, h.l4_len(), nd), NdParse::Ok);
  EXPECT_EQ(nd.type, kIcmpv6NeighborSolicit);
  EXPECT_EQ(nd.target, tgt);
  EXPECT_TRUE(nd.has_lla);
  EXPECT_EQ(nd.lla, mac);

  ASSERT_EQ(write_nd(buf, kIcmpv6NeighborAdvert, kNaSolicited | kNaOverride, tgt, src, tgt, &mac), sizeof buf);
  ASSERT_EQ(parse_ipv6_hdr(buf, sizeof buf, h), Ipv6Parse::Ok);
  ASSERT_EQ(parse_nd(h, buf + kIpv6HdrLen, h.l4_len(), nd), NdParse::Ok);
  EXPECT_EQ(nd.type, kIcmpv6NeighborAdvert);
  EXPECT_EQ(nd.flags, kNaSolicited | kNaOverride);
  EXPECT_TRUE(nd.has_lla);  // the target link-layer option
  EXPECT_EQ(nd.lla, mac);
}

TEST(Nd, ValidityChecks) {
  const MacAddr mac{{0x02, 0, 0, 0, 0, 7}};
  const Ipv6Addr src = A("fe80::7"), tgt = A("fe80::1"), grp = ipv6_solicited_node(tgt);
  auto check = [&](auto mutate, NdParse want, std::uint8_t type = kIcmpv6NeighborSolicit,
                   const Ipv6Addr& s = A("fe80::7"), const Ipv6Addr& d = A("ff02::1:ff00:1"),
                   std::uint32_t flags = 0) {
    std::vector<std::uint8_t> b(kIpv6HdrLen + kNdMsgLen + kNdLlaOptLen + 16);
    b.resize(write_nd(b.data(), type, flags, s, d, tgt, &mac));
    mutate(b);
    Ipv6Hdr h;
    ASSERT_EQ(parse_ipv6_hdr(b.data(), b.size(), h), Ipv6Parse::Ok);
    NdMsg nd;
    EXPECT_EQ(parse_nd(h, b.data() + kIpv6HdrLen, h.l4_len(), nd), want);
  };
  auto none = [](std::vector<std::uint8_t>&) {};
  check(none, NdParse::Ok);
  check([](auto& b) { b[7] = 64; }, NdParse::HopLimit);
  check([](auto& b) { b[kIpv6HdrLen + 1] = 1; }, NdParse::BadCode);
  check([](auto& b) { b[kIpv6HdrLen + kNdMsgLen + 1] = 0; }, NdParse::BadOption);  // zero-length option
  check([](auto& b) { b[kIpv6HdrLen + kNdMsgLen + 1] = 2; }, NdParse::BadOption);  // past the message
  check(
      [](auto& b) {  // target ff02::1
        b[kIpv6HdrLen + 8] = 0xff;
      },
      NdParse::BadTarget);
  check(
      [](auto& b) {  // only 20 bytes of ICMPv6
        b.resize(kIpv6HdrLen + 20);
        store_be16(b.data() + 4, 20);
      },
      NdParse::Short);
  // DAD: from :: only to the solicited-node group and without a source LLA.
  check(none, NdParse::BadSource, kIcmpv6NeighborSolicit, Ipv6Addr{}, grp);
  check(
      [](auto& b) {
        b.resize(kIpv6HdrLen + kNdMsgLen);
        store_be16(b.data() + 4, kNdMsgLen);
      },
      NdParse::Ok, kIcmpv6NeighborSolicit, Ipv6Addr{}, grp);
  check(
      [](auto& b) {
        b.resize(kIpv6HdrLen + kNdMsgLen);
        store_be16(b.data() + 4, kNdMsgLen);
      },
      NdParse::BadSource, kIcmpv6NeighborSolicit, Ipv6Addr{}, tgt);
  // NA: S to a group is invalid; from :: is invalid.
  check(none, NdParse::SolicitedToMulticast, kIcmpv6NeighborAdvert, src, ipv6_all_nodes(), kNaSolicited);
  check(none, NdParse::Ok, kIcmpv6NeighborAdvert, src, ipv6_all_nodes(), kNaOverride);
  check(none, NdParse::BadSource, kIcmpv6NeighborAdvert, Ipv6Addr{}, ipv6_all_nodes(), 0);
  // An unknown option is skipped; a link-layer option of 16 bytes is ignored.
  check(
      [](auto& b) {
        b[kIpv6HdrLen + kNdMsgLen] = 14;  // Nonce (RFC 3971): not ours to check
      },
      NdParse::Ok);
}

TEST(Nd, LinkLayerOptionOfOtherLengthIsIgnored) {
  const MacAddr mac{{0x02, 0, 0, 0, 0, 7}};
  const Ipv6Addr src = A("fe80::7"), tgt = A("fe80::1");
  std::vector<std::uint8_t> b(kIpv6HdrLen + kNdMsgLen + 16);
  write_nd(b.data(), kIcmpv6NeighborSolicit, 0, src, ipv6_solicited_node(tgt), tgt, &mac);
  b[kIpv6HdrLen + kNdMsgLen + 1] = 2;  // 16 bytes
  store_be16(b.data() + 4, kNdMsgLen + 16);
  Ipv6Hdr h;
  ASSERT_EQ(parse_ipv6_hdr(b.data(), b.size(), h), Ipv6Parse::Ok);
  NdMsg nd;
  ASSERT_EQ(parse_nd(h, b.data() + kIpv6HdrLen, h.l4_len(), nd), NdParse::Ok);
  EXPECT_FALSE(nd.has_lla);
}

TEST(Neighbor6, LearnsLooksUpAndExpires) {
  Neighbor6Table t(16, 100);
  const MacAddr m1{{2, 0, 0, 0, 0, 1}}, m2{{2, 0, 0, 0, 0, 2}};
  const Ipv6Addr a = A("fe80::1"), b = A("2001:db8::1");
  MacAddr got;
  EXPECT_FALSE(t.update(a, m1, 0, false));  // refresh only: nothing to refresh
  EXPECT_TRUE(t.update(a, m1, 0, true));
  EXPECT_TRUE(t.update(b, m2, 10, true));
  ASSERT_TRUE(t.lookup(a, 50, got));
  EXPECT_EQ(got, m1);
  ASSERT_TRUE(t.lookup(b, 50, got));
  EXPECT_EQ(got, m2);
  // Same low 64 bits, other prefix: a different neighbour.
  EXPECT_FALSE(t.lookup(A("fe80::2001:db8:0:1"), 50, got));
  EXPECT_FALSE(t.lookup(A("2001:db8::2"), 50, got));
  EXPECT_FALSE(t.lookup(Ipv6Addr{}, 50, got));
  EXPECT_FALSE(t.update(Ipv6Addr{}, m1, 0, true));  // :: is never a neighbour
  EXPECT_TRUE(t.update(a, m2, 60, false));
  ASSERT_TRUE(t.lookup(a, 60, got));
  EXPECT_EQ(got, m2);
  EXPECT_FALSE(t.lookup(b, 111, got));  // 101 old
  EXPECT_EQ(t.expire(111), 1u);
  EXPECT_EQ(t.size(), 1u);
  int seen = 0;
  t.for_each(111, [&](const Ipv6Addr& ip, const MacAddr& m, std::uint64_t age) {
    EXPECT_EQ(ip, a);
    EXPECT_EQ(m, m2);
    EXPECT_EQ(age, 51u);
    ++seen;
  });
  EXPECT_EQ(seen, 1);
}

TEST(Neighbor6, BoundedUnderManyAddresses) {
  // An on-link flood of NS from new addresses cannot grow the cache.
  Neighbor6Table t(64, ~0ull >> 2);
  for (std::uint64_t i = 1; i <= 10000; ++i)
    t.update(Ipv6Addr::from_words(0xfe80000000000000ull, i), MacAddr{{2, 0, 0, 0, 0, 9}}, i, true);
  EXPECT_LE(t.size(), t.capacity());
  EXPECT_GT(t.evictions(), 0u);
  MacAddr got;
  EXPECT_TRUE(t.lookup(Ipv6Addr::from_words(0xfe80000000000000ull, 10000), 10000, got));  // the newest stays
}

// Readers on other threads never see a torn entry: both key words and the
// MAC come from one update (the MAC encodes the address). Run under TSan in CI.
TEST(Neighbor6, ConcurrentReadersSeeConsistentEntries) {
  Neighbor6Table t(64, ~0ull >> 1);
  auto addr = [](std::uint32_t i) { return Ipv6Addr::from_words(0xfe80000000000000ull | i, 0x0200000000000000ull | i); };
  auto mac_for = [](std::uint32_t i, std::uint32_t round) {
    return MacAddr{{2, static_cast<std::uint8_t>(round), static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8),
                    static_cast<std::uint8_t>(round ^ i), 0x66}};
  };
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0}, hits{0};
  std::thread writer([&] {
    for (std::uint32_t round = 0; round < 1000; ++round)
      for (std::uint32_t i = 1; i <= 150; ++i) t.update(addr(i), mac_for(i, round), round, true);
    stop.store(true);
  });
  std::thread writer2([&] {
    for (std::uint32_t round = 0; round < 1000 && !stop.load(); ++round)
      for (std::uint32_t i = 100; i <= 200; ++i) t.update(addr(i), mac_for(i, round + 3), round, true);
  });
  std::thread reader([&] {
    while (!stop.load()) {
      t.for_each(0, [&](const Ipv6Addr& a, const MacAddr& m, std::uint64_t) {
        const std::uint32_t i = static_cast<std::uint32_t>(a.lo() & 0xffff);
        hits.fetch_add(1, std::memory_order_relaxed);
        if (a.hi() != (0xfe80000000000000ull | i) || m.b[2] != static_cast<std::uint8_t>(i) ||
            m.b[3] != static_cast<std::uint8_t>(i >> 8) || m.b[4] != static_cast<std::uint8_t>(m.b[1] ^ i) ||
            m.b[5] != 0x66)
          torn.fetch_add(1);
      });
    }
  });
  writer.join();
  writer2.join();
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
  EXPECT_LE(t.size(), t.capacity());
}

TEST(Ipv6Port, AddressesGroupsAndStates) {
  const MacAddr mac{{0x02, 0, 0, 0x12, 0x34, 0x56}};
  Ipv6Options o;
  o.address = A("2001:db8:1::abcd");
  o.prefix = 64;
  Ipv6Port p(mac, o);
  ASSERT_EQ(p.count(), 2u);
  EXPECT_EQ(p.addr(Ipv6Port::kLinkLocal), A("fe80::ff:fe12:3456"));
  EXPECT_EQ(p.addr(Ipv6Port::kGlobal), o.address);
  EXPECT_EQ(p.state(0), Ipv6Port::State::Tentative);
  EXPECT_EQ(p.source_for(A("fe80::9")), nullptr);  // nothing usable before DAD
  EXPECT_TRUE(p.joined(ipv6_all_nodes()));
  EXPECT_TRUE(p.joined(A("ff02::1:ff12:3456")));
  EXPECT_TRUE(p.joined(A("ff02::1:ff00:abcd")));
  EXPECT_FALSE(p.joined(A("ff02::2")));
  EXPECT_FALSE(p.joined(A("ff02::1:ff00:abce")));
  EXPECT_TRUE(p.accepts_mac(MacAddr{{0x33, 0x33, 0xff, 0, 0xab, 0xcd}}));
  EXPECT_TRUE(p.accepts_mac(MacAddr{{0x33, 0x33, 0, 0, 0, 1}}));
  EXPECT_FALSE(p.accepts_mac(MacAddr{{0x33, 0x33, 0, 0, 0, 2}}));
  EXPECT_FALSE(p.accepts_mac(MacAddr{{0x01, 0, 0x5e, 0, 0, 1}}));
  EXPECT_TRUE(p.on_link(A("fe80::1")));
  EXPECT_TRUE(p.on_link(A("2001:db8:1::1")));
  EXPECT_FALSE(p.on_link(A("2001:db8:2::1")));
  p.mark_preferred(0);
  p.mark_preferred(1);
  ASSERT_NE(p.source_for(A("fe80::9")), nullptr);
  EXPECT_EQ(*p.source_for(A("fe80::9")), p.addr(0));
  EXPECT_EQ(*p.source_for(A("ff02::1")), p.addr(0));
  EXPECT_EQ(*p.source_for(A("2001:db8:9::1")), p.addr(1));
  EXPECT_FALSE(p.mark_duplicate(1));  // preferred: DAD is over
  EXPECT_EQ(p.find(o.address), 1);
  EXPECT_EQ(p.find(A("2001:db8:1::abce")), -1);

  // A duplicate link-local address (from the MAC) disables the port's IPv6.
  Ipv6Port q(mac, o);
  EXPECT_TRUE(q.mark_duplicate(0));
  EXPECT_FALSE(q.mark_duplicate(0));
  EXPECT_EQ(q.state(1), Ipv6Port::State::Duplicate);
  q.mark_preferred(1);
  EXPECT_EQ(q.state(1), Ipv6Port::State::Duplicate);
  // Without DAD, usable at once; link-local only without a global address.
  Ipv6Options nodad;
  nodad.dad_transmits = 0;
  Ipv6Port r(mac, nodad);
  EXPECT_EQ(r.count(), 1u);
  EXPECT_TRUE(r.usable(0));
  EXPECT_EQ(*r.source_for(A("2001:db8::1")), r.addr(0));
  EXPECT_FALSE(r.on_link(A("2001:db8::1")));
  Ipv6Options many;
  many.dad_transmits = 1000;
  EXPECT_EQ(Ipv6Port(mac, many).options().dad_transmits, kMaxDadTransmits);
}
