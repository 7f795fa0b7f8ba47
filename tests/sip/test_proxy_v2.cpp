#include <gtest/gtest.h>

#include "turnpike/proxy/proxy_v2.hpp"

using namespace turnpike::proxy_v2;

namespace {
Header sample() {
  Header h;
  h.src_ip = 0xc6120002;
  h.dst_ip = 0xc6120001;
  h.src_port = 25046;
  h.dst_port = 5061;
  h.ssl = true;
  h.client_cert = true;
  h.tls_version = "TLSv1.3";
  h.cipher = "TLS_AES_128_GCM_SHA256";
  h.client_cn = "phone-17.example.test";
  std::array<std::uint8_t, 32> fp;
  for (int i = 0; i < 32; ++i) fp[i] = static_cast<std::uint8_t>(i * 7);
  h.cert_sha256 = fp;
  h.authority = "sip.example.test";
  return h;
}
}  // namespace

TEST(ProxyV2, EncodeLayout) {
  std::vector<std::uint8_t> out;
  Header h;
  h.src_ip = 0x0a000001;
  h.dst_ip = 0x0a000002;
  h.src_port = 0x1234;
  h.dst_port = 0x13c5;
  const std::size_t n = encode(h, out);
  ASSERT_EQ(n, 28u);  // 16-byte fixed part + 12-byte IPv4 address block
  EXPECT_TRUE(std::equal(kSignature.begin(), kSignature.end(), out.begin()));
  EXPECT_EQ(out[12], 0x21);
  EXPECT_EQ(out[13], 0x11);
  EXPECT_EQ(out[14], 0);
  EXPECT_EQ(out[15], 12);
  EXPECT_EQ(out[16], 0x0a);
  EXPECT_EQ(out[19], 0x01);
  EXPECT_EQ(out[24], 0x12);
  EXPECT_EQ(out[25], 0x34);
  EXPECT_EQ(out[27], 0xc5);
}

TEST(ProxyV2, RoundTripWithTlvs) {
  std::vector<std::uint8_t> out{'x'};  // appends after existing bytes
  const Header h = sample();
  const std::size_t n = encode(h, out);
  ParseResult r = parse(std::span(out).subspan(1));
  ASSERT_EQ(r.status, ParseStatus::Ok);
  EXPECT_EQ(r.length, n);
  EXPECT_EQ(r.header.src_ip, h.src_ip);
  EXPECT_EQ(r.header.dst_port, 5061);
  EXPECT_TRUE(r.header.ssl);
  EXPECT_TRUE(r.header.client_cert);
  EXPECT_EQ(r.header.verify, 0u);
  EXPECT_EQ(r.header.tls_version, "TLSv1.3");
  EXPECT_EQ(r.header.cipher, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(r.header.client_cn, "phone-17.example.test");
  EXPECT_EQ(r.header.cert_sha256, h.cert_sha256);
  EXPECT_EQ(r.header.authority, "sip.example.test");
}

TEST(ProxyV2, PrefixesNeedMoreAndNonProxyIsRecognised) {
  std::vector<std::uint8_t> out;
  const std::size_t n = encode(sample(), out);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(parse(std::span(out).first(i)).status, ParseStatus::NeedMore) << i;
  const std::string sip = "OPTIONS sip:x SIP/2.0\r\n";
  EXPECT_EQ(parse(std::span(reinterpret_cast<const std::uint8_t*>(sip.data()), sip.size())).status,
            ParseStatus::NotProxy);
}

TEST(ProxyV2, LocalCommand) {
  Header h;
  h.local = true;
  std::vector<std::uint8_t> out;
  EXPECT_EQ(encode(h, out), 16u);
  ParseResult r = parse(out);
  ASSERT_EQ(r.status, ParseStatus::Ok);
  EXPECT_TRUE(r.header.local);
}

TEST(ProxyV2, MalformedLengthsAreRefused) {
  std::vector<std::uint8_t> good;
  encode(sample(), good);
  auto bad_version = good;
  bad_version[12] = 0x11;
  EXPECT_EQ(parse(bad_version).status, ParseStatus::Malformed);
  auto bad_family = good;
  bad_family[13] = 0x12;  // UDP over IPv4 is not spoken
  EXPECT_EQ(parse(bad_family).status, ParseStatus::Malformed);
  bad_family[13] = 0x31;  // nor AF_UNIX
  EXPECT_EQ(parse(bad_family).status, ParseStatus::Malformed);
  // A TLV whose length overruns the header.
  auto overrun = good;
  overrun[16 + 12 + 1] = 0xff;
  EXPECT_EQ(parse(overrun).status, ParseStatus::Malformed);
  // Address block shorter than IPv4 needs.
  std::vector<std::uint8_t> tiny(kSignature.begin(), kSignature.end());
  tiny.insert(tiny.end(), {0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4});
  EXPECT_EQ(parse(tiny).status, ParseStatus::Malformed);
  // Fingerprint TLV of the wrong size.
  std::vector<std::uint8_t> fp(kSignature.begin(), kSignature.end());
  fp.insert(fp.end(), {0x21, 0x11, 0x00, 12 + 3 + 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0xE0, 0x00, 0x02, 9, 9});
  EXPECT_EQ(parse(fp).status, ParseStatus::Malformed);
}

// Regressions found by fuzz_proxy_v2: an SSL TLV without PP2_CLIENT_SSL
// carries no TLS facts, and a repeated SSL TLV replaces the earlier one.
TEST(ProxyV2, SslTlvSemantics) {
  auto build = [](std::initializer_list<std::vector<std::uint8_t>> tlvs) {
    std::vector<std::uint8_t> b(kSignature.begin(), kSignature.end());
    std::vector<std::uint8_t> body{1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    for (auto& t : tlvs) body.insert(body.end(), t.begin(), t.end());
    b.insert(b.end(), {0x21, 0x11, static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())});
    b.insert(b.end(), body.begin(), body.end());
    return b;
  };
  const std::vector<std::uint8_t> with_cn{kTypeSsl, 0, 9, kClientSsl | kClientCertConn, 0, 0, 0, 0, kSubtypeSslCn, 0, 1, 'a'};
  const std::vector<std::uint8_t> not_tls{kTypeSsl, 0, 9, 0, 0, 0, 0, 7, kSubtypeSslCn, 0, 1, 'b'};
  ParseResult r = parse(build({not_tls}));
  ASSERT_EQ(r.status, ParseStatus::Ok);
  EXPECT_FALSE(r.header.ssl);
  EXPECT_TRUE(r.header.client_cn.empty());
  EXPECT_EQ(r.header.verify, 0u);
  r = parse(build({with_cn, not_tls}));
  ASSERT_EQ(r.status, ParseStatus::Ok);
  EXPECT_FALSE(r.header.ssl);
  EXPECT_TRUE(r.header.client_cn.empty());
  r = parse(build({not_tls, with_cn}));
  EXPECT_TRUE(r.header.ssl);
  EXPECT_EQ(r.header.client_cn, "a");
}

namespace {
turnpike::net::Ipv6Addr v6(std::uint64_t hi, std::uint64_t lo) { return turnpike::net::Ipv6Addr::from_words(hi, lo); }
}  // namespace

// AF_INET6 + STREAM (0x21): a 36-byte address block, 16-byte source and
// destination in network order, then the two ports (proxy-protocol.txt §2.2).
TEST(ProxyV2, EncodeLayoutIpv6) {
  Header h;
  h.ipv6 = true;
  h.src6 = v6(0x20010db800000000ull, 0x2);
  h.dst6 = v6(0x20010db800000000ull, 0x1);
  h.src_port = 0x1234;
  h.dst_port = 5061;
  std::vector<std::uint8_t> out;
  ASSERT_EQ(encode(h, out), 16u + 36u);
  EXPECT_EQ(out[12], 0x21);
  EXPECT_EQ(out[13], kFamTcp6);
  EXPECT_EQ(out[14], 0);
  EXPECT_EQ(out[15], 36);
  const std::uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  EXPECT_TRUE(std::equal(src, src + 16, out.begin() + 16));
  EXPECT_EQ(out[16 + 16], 0x20);
  EXPECT_EQ(out[16 + 31], 0x01);
  EXPECT_EQ(out[48], 0x12);
  EXPECT_EQ(out[49], 0x34);
  EXPECT_EQ(out[50], 5061 >> 8);
  EXPECT_EQ(out[51], 5061 & 0xff);
}

TEST(ProxyV2, RoundTripIpv6WithTlvs) {
  Header h = sample();
  h.ipv6 = true;
  h.src6 = v6(0x20010db8000000aaull, 0xbbull << 48 | 0x17);
  h.dst6 = v6(0xfe80000000000000ull, 0x0200c6fffe120001ull);
  std::vector<std::uint8_t> out;
  const std::size_t n = encode(h, out);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(parse(std::span(out).first(i)).status, ParseStatus::NeedMore) << i;
  const ParseResult r = parse(out);
  ASSERT_EQ(r.status, ParseStatus::Ok);
  EXPECT_EQ(r.length, n);
  EXPECT_TRUE(r.header.ipv6);
  EXPECT_EQ(r.header.src6, h.src6);
  EXPECT_EQ(r.header.dst6, h.dst6);
  EXPECT_EQ(r.header.src_ip, 0u);  // the IPv4 fields stay empty
  EXPECT_EQ(r.header.src_port, 25046);
  EXPECT_EQ(r.header.dst_port, 5061);
  EXPECT_EQ(r.header.client_cn, "phone-17.example.test");
  EXPECT_EQ(r.header.cert_sha256, h.cert_sha256);
  EXPECT_EQ(r.header.authority, "sip.example.test");
  // An IPv4 header still parses as IPv4 (the family decides, not a default).
  std::vector<std::uint8_t> four;
  encode(sample(), four);
  EXPECT_FALSE(parse(four).header.ipv6);
}

TEST(ProxyV2, Ipv6AddressBlockTooShortIsMalformed) {
  // Length 12 with family 0x21: an IPv4-sized block cannot hold two IPv6
  // addresses; the parser must refuse it, not read the next bytes.
  std::vector<std::uint8_t> b(kSignature.begin(), kSignature.end());
  b.insert(b.end(), {0x21, kFamTcp6, 0x00, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2});
  EXPECT_EQ(parse(b).status, ParseStatus::Malformed);
  b[15] = 35;
  b.resize(16 + 35, 0);
  EXPECT_EQ(parse(b).status, ParseStatus::Malformed);
  b[15] = 36;
  b.push_back(0);
  EXPECT_EQ(parse(b).status, ParseStatus::Ok);
  // An IPv6 block followed by a TLV that overruns the header.
  b[15] = 36 + 3;
  b.insert(b.end(), {kTypeAuthority, 0x00, 0x05});
  EXPECT_EQ(parse(b).status, ParseStatus::Malformed);
}
