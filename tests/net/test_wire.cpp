#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "turnpike/net/checksum.hpp"
#include "turnpike/net/wire.hpp"

using namespace turnpike::net;

namespace {
std::vector<std::uint8_t> ipv4_header(std::uint8_t ihl = 5, std::uint16_t total = 28) {
  std::vector<std::uint8_t> h(ihl * 4u + 8, 0);
  write_ipv4_hdr(h.data(), total, 7, 64, kIpProtoIcmp, 0xc6120002, 0xc6120001);
  h[0] = static_cast<std::uint8_t>(0x40 | ihl);
  store_be16(h.data() + 10, 0);
  store_be16(h.data() + 10, inet_checksum(h.data(), ihl * 4u));
  return h;
}
}  // namespace

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3 example bytes: sum 0xddf2, checksum ~0xddf2 = 0x220d.
  const std::uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(csum_partial(b, sizeof b), 0xddf2u);
  EXPECT_EQ(inet_checksum(b, sizeof b), 0x220d);
}

TEST(Checksum, OddLengthAndCarryIn) {
  const std::uint8_t b[] = {0x12, 0x34, 0x56};
  EXPECT_EQ(csum_partial(b, 3), 0x1234u + 0x5600u);
  // Splitting a buffer at an even offset and chaining gives the same sum.
  std::uint8_t big[101];
  for (int i = 0; i < 101; ++i) big[i] = static_cast<std::uint8_t>(i * 37 + 11);
  EXPECT_EQ(csum_fold(csum_partial(big + 40, 61, csum_partial(big, 40))), inet_checksum(big, 101));
}

TEST(Checksum, VerifiesToZero) {
  auto h = ipv4_header();
  EXPECT_EQ(inet_checksum(h.data(), 20), 0);
  h[8] ^= 1;
  EXPECT_NE(inet_checksum(h.data(), 20), 0);
}

TEST(Ipv4Text, ParseAndFormat) {
  EXPECT_EQ(parse_ipv4("198.18.0.1"), 0xc6120001u);
  EXPECT_EQ(ipv4_to_string(0xc6120001u), "198.18.0.1");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", "1.2.3.0004", "-1.2.3.4"})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
}

TEST(Eth, ParseAndBuild) {
  std::uint8_t f[14];
  const MacAddr a{{1, 2, 3, 4, 5, 6}}, b{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  write_eth(f, b, a, kEtherTypeArp);
  EthHdr e;
  ASSERT_TRUE(parse_eth(f, 14, e));
  EXPECT_EQ(e.dst, b);
  EXPECT_EQ(e.src, a);
  EXPECT_EQ(e.ether_type, kEtherTypeArp);
  EXPECT_TRUE(e.dst.is_broadcast());
  EXPECT_FALSE(parse_eth(f, 13, e));
  EXPECT_FALSE(parse_eth(f, 0, e));
}

TEST(Arp, RoundTripAndMalformed) {
  std::uint8_t p[kArpLen];
  const MacAddr m{{2, 0, 0, 0, 0, 9}};
  write_arp(p, ArpOp::Request, m, 0xc6120002, MacAddr{}, 0xc6120001);
  ArpPkt a;
  ASSERT_EQ(parse_arp(p, sizeof p, a), ArpParse::Ok);
  EXPECT_EQ(a.op, 1);
  EXPECT_EQ(a.sha, m);
  EXPECT_EQ(a.spa, 0xc6120002u);
  EXPECT_EQ(a.tpa, 0xc6120001u);
  EXPECT_EQ(parse_arp(p, kArpLen - 1, a), ArpParse::Short);
  std::uint8_t bad[kArpLen];
  std::memcpy(bad, p, kArpLen);
  bad[1] = 6;  // htype 6 (IEEE 802)
  EXPECT_EQ(parse_arp(bad, kArpLen, a), ArpParse::BadHardware);
  std::memcpy(bad, p, kArpLen);
  bad[4] = 8;  // hlen
  EXPECT_EQ(parse_arp(bad, kArpLen, a), ArpParse::BadHardware);
  std::memcpy(bad, p, kArpLen);
  bad[2] = 0x86;  // ptype IPv6
  EXPECT_EQ(parse_arp(bad, kArpLen, a), ArpParse::BadProtocol);
  std::memcpy(bad, p, kArpLen);
  bad[5] = 16;  // plen
  EXPECT_EQ(parse_arp(bad, kArpLen, a), ArpParse::BadProtocol);
}

TEST(Ipv4, ValidHeader) {
  auto h = ipv4_header();
  Ipv4Hdr ip;
  ASSERT_EQ(parse_ipv4_hdr(h.data(), h.size(), ip), Ipv4Parse::Ok);
  EXPECT_EQ(ip.ihl_bytes, 20);
  EXPECT_EQ(ip.total_len, 28);
  EXPECT_EQ(ip.proto, kIpProtoIcmp);
  EXPECT_EQ(ip.src, 0xc6120002u);
  EXPECT_EQ(ip.dst, 0xc6120001u);
  EXPECT_FALSE(ip.is_fragment());  // DF alone is not a fragment
}

TEST(Ipv4, Malformed) {
  Ipv4Hdr ip;
  auto h = ipv4_header();
  EXPECT_EQ(parse_ipv4_hdr(h.data(), 19, ip), Ipv4Parse::Short);
  EXPECT_EQ(parse_ipv4_hdr(h.data(), 0, ip), Ipv4Parse::Short);
  auto v6 = h;
  v6[0] = 0x65;
  EXPECT_EQ(parse_ipv4_hdr(v6.data(), v6.size(), ip), Ipv4Parse::BadVersion);
  auto ihl4 = h;
  ihl4[0] = 0x44;
  EXPECT_EQ(parse_ipv4_hdr(ihl4.data(), ihl4.size(), ip), Ipv4Parse::BadIhl);
  auto longer = ipv4_header(5, 29);  // total length beyond the buffer
  EXPECT_EQ(parse_ipv4_hdr(longer.data(), 28, ip), Ipv4Parse::BadTotalLen);
  auto shorter = ipv4_header(5, 19);  // total length below the header
  EXPECT_EQ(parse_ipv4_hdr(shorter.data(), shorter.size(), ip), Ipv4Parse::BadTotalLen);
  auto bad = h;
  bad[15] ^= 0x40;
  EXPECT_EQ(parse_ipv4_hdr(bad.data(), bad.size(), ip), Ipv4Parse::BadChecksum);
  EXPECT_EQ(parse_ipv4_hdr(bad.data(), bad.size(), ip, false), Ipv4Parse::Ok);
}

TEST(Ipv4, OptionsAndPadding) {
  auto h = ipv4_header(6, 32);  // one 4-byte option word
  Ipv4Hdr ip;
  ASSERT_EQ(parse_ipv4_hdr(h.data(), h.size(), ip), Ipv4Parse::Ok);
  EXPECT_EQ(ip.ihl_bytes, 24);
  // IHL claiming more than the buffer holds.
  auto big = ipv4_header(15, 60);
  EXPECT_EQ(parse_ipv4_hdr(big.data(), 40, ip), Ipv4Parse::Short);
  // Ethernet padding after total_len is fine.
  auto padded = ipv4_header(5, 28);
  padded.resize(46, 0);
  EXPECT_EQ(parse_ipv4_hdr(padded.data(), padded.size(), ip), Ipv4Parse::Ok);
}

TEST(Ipv4, Fragments) {
  auto h = ipv4_header();
  store_be16(h.data() + 6, 0x2000);  // MF
  store_be16(h.data() + 10, 0);
  store_be16(h.data() + 10, inet_checksum(h.data(), 20));
  Ipv4Hdr ip;
  ASSERT_EQ(parse_ipv4_hdr(h.data(), h.size(), ip), Ipv4Parse::Ok);
  EXPECT_TRUE(ip.is_fragment());
  store_be16(h.data() + 6, 0x0001);  // offset 8
  EXPECT_EQ((ip.frag = load_be16(h.data() + 6), ip.is_fragment()), true);
}
