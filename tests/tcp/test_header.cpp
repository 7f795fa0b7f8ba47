#include "turnpike/tcp/header.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "turnpike/net/byteorder.hpp"

using namespace turnpike::tcp;

namespace {
std::vector<std::uint8_t> seg_with_options(std::vector<std::uint8_t> opts, std::uint8_t flags = flag::syn) {
  while (opts.size() % 4) opts.push_back(0);
  std::vector<std::uint8_t> s(20 + opts.size());
  s[12] = static_cast<std::uint8_t>(((20 + opts.size()) / 4) << 4);
  s[13] = flags;
  std::memcpy(s.data() + 20, opts.data(), opts.size());
  return s;
}
}  // namespace

TEST(Header, BuildParseRoundTripAllOptions) {
  HeaderOut h{.src_port = 5061, .dst_port = 40000, .seq = Seq(0xfffffff0u), .ack = Seq(7),
              .flags = flag::syn | flag::ack, .window = 65535};
  OptionsOut o{.mss = true, .wscale = true, .sack_permitted = true, .ts = true, .mss_value = 1460,
               .wscale_value = 7, .ts_val = 0x11223344, .ts_ecr = 0x55667788};
  std::uint8_t buf[kHeaderMax + 4] = {};
  const std::size_t n = build_header(buf, h, o);
  EXPECT_EQ(n, 20u + options_size(o));
  EXPECT_EQ(n % 4, 0u);
  Header p;
  ASSERT_EQ(parse_header(buf, n + 4, p), ParseError::ok);
  EXPECT_EQ(p.src_port, 5061);
  EXPECT_EQ(p.dst_port, 40000);
  EXPECT_EQ(p.seq.raw(), 0xfffffff0u);
  EXPECT_EQ(p.ack.raw(), 7u);
  EXPECT_EQ(p.flags, flag::syn | flag::ack);
  EXPECT_EQ(p.window, 65535);
  EXPECT_EQ(p.payload_len, 4u);
  EXPECT_TRUE(p.opt.has_mss);
  EXPECT_EQ(p.opt.mss, 1460);
  EXPECT_TRUE(p.opt.has_wscale);
  EXPECT_EQ(p.opt.wscale, 7);
  EXPECT_TRUE(p.opt.sack_permitted);
  EXPECT_TRUE(p.opt.has_ts);
  EXPECT_EQ(p.opt.ts_val, 0x11223344u);
  EXPECT_EQ(p.opt.ts_ecr, 0x55667788u);
  EXPECT_FALSE(p.opt.malformed);
}

TEST(Header, SackBlocksRoundTrip) {
  OptionsOut o{.ts = true, .ts_val = 1, .ts_ecr = 2};
  o.sack_count = 3;
  for (unsigned i = 0; i < 3; ++i) o.sack[i] = {Seq(100 * i + 0xfffffff0u), Seq(100 * i + 50)};
  EXPECT_LE(options_size(o), 40u);
  std::uint8_t buf[kHeaderMax] = {};
  const std::size_t n = build_header(buf, HeaderOut{.flags = flag::ack}, o);
  Header p;
  ASSERT_EQ(parse_header(buf, n, p), ParseError::ok);
  ASSERT_EQ(p.opt.sack_count, 3);
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_EQ(p.opt.sack[i].left.raw(), 100 * i + 0xfffffff0u);
    EXPECT_EQ(p.opt.sack[i].right.raw(), 100 * i + 50);
  }
  EXPECT_TRUE(p.opt.has_ts);
}

TEST(Header, RejectsShortAndBadOffset) {
  std::uint8_t b[20] = {};
  Header p;
  EXPECT_EQ(parse_header(b, 19, p), ParseError::too_short);
  b[12] = 4 << 4;  // 16 bytes < 20
  EXPECT_EQ(parse_header(b, 20, p), ParseError::bad_offset);
  b[12] = 6 << 4;  // claims 24, only 20 present
  EXPECT_EQ(parse_header(b, 20, p), ParseError::bad_offset);
  b[12] = 5 << 4;
  EXPECT_EQ(parse_header(b, 20, p), ParseError::ok);
}

// RFC 9293 §3.2 / RFC 7323: options with wrong lengths are ignored, never trusted.
TEST(Header, MalformedOptionsIgnored) {
  struct Case {
    const char* name;
    std::vector<std::uint8_t> opts;
  };
  const Case cases[] = {
      {"mss len 3", {2, 3, 5, 0}},
      {"mss len 5", {2, 5, 5, 0xb4, 0}},
      {"ws len 4", {3, 4, 7, 0}},
      {"sackperm len 3", {4, 3, 0, 0}},
      {"ts len 8", {8, 8, 0, 0, 0, 1, 0, 0}},
      {"len zero", {2, 0, 5, 0xb4}},
      {"len one", {8, 1, 0, 0}},
      {"len past end", {8, 10, 1, 2}},
      {"kind without length", {1, 1, 1, 8}},
      {"sack len 9", {5, 9, 0, 0, 0, 0, 0, 0, 0}},
      {"sack len 2", {5, 2}},
  };
  for (const auto& c : cases) {
    auto s = seg_with_options(c.opts);
    Header p;
    ASSERT_EQ(parse_header(s.data(), s.size(), p), ParseError::ok) << c.name;
    EXPECT_FALSE(p.opt.has_mss) << c.name;
    EXPECT_FALSE(p.opt.has_wscale) << c.name;
    EXPECT_FALSE(p.opt.has_ts) << c.name;
    EXPECT_FALSE(p.opt.sack_permitted) << c.name;
    EXPECT_EQ(p.opt.sack_count, 0) << c.name;
    EXPECT_TRUE(p.opt.malformed) << c.name;
  }
}

TEST(Header, GoodOptionAfterBadLengthStillIgnoredButEarlierKept) {
  // MSS first (valid), then a TS with a length running past the header.
  auto s = seg_with_options({2, 4, 0x05, 0xb4, 8, 12, 0, 0});
  Header p;
  ASSERT_EQ(parse_header(s.data(), s.size(), p), ParseError::ok);
  EXPECT_TRUE(p.opt.has_mss);
  EXPECT_EQ(p.opt.mss, 1460);
  EXPECT_FALSE(p.opt.has_ts);
  EXPECT_TRUE(p.opt.malformed);
}

TEST(Header, SynOnlyOptionsIgnoredWithoutSyn) {
  auto s = seg_with_options({2, 4, 0x05, 0xb4, 1, 3, 3, 9, 4, 2}, flag::ack);
  Header p;
  ASSERT_EQ(parse_header(s.data(), s.size(), p), ParseError::ok);
  EXPECT_FALSE(p.opt.has_mss);
  EXPECT_FALSE(p.opt.has_wscale);
  EXPECT_FALSE(p.opt.sack_permitted);
  EXPECT_FALSE(p.opt.malformed);
}

TEST(Header, EolStopsAndUnknownSkipped) {
  auto s = seg_with_options({30, 4, 9, 9, 2, 4, 0x02, 0x18, 0, 8, 10, 1});
  Header p;
  ASSERT_EQ(parse_header(s.data(), s.size(), p), ParseError::ok);
  EXPECT_TRUE(p.opt.has_mss);
  EXPECT_EQ(p.opt.mss, 536);
  EXPECT_FALSE(p.opt.has_ts);
  EXPECT_FALSE(p.opt.malformed);
}

// Every truncation and random garbage: the parser must stay inside the buffer
// (ASan proves it) and never claim options it could not read whole.
TEST(Header, TruncationsAndGarbageStayInBounds) {
  OptionsOut o{.mss = true, .wscale = true, .sack_permitted = true, .ts = true, .mss_value = 1400,
               .wscale_value = 3, .ts_val = 9, .ts_ecr = 10};
  std::uint8_t full[kHeaderMax] = {};
  const std::size_t n = build_header(full, HeaderOut{.flags = flag::syn}, o);
  for (std::size_t len = 0; len <= n; ++len) {
    std::vector<std::uint8_t> v(full, full + len);  // exact-size heap copy for ASan
    Header p;
    const auto r = parse_header(v.data(), v.size(), p);
    if (len < n) {
      EXPECT_NE(r, ParseError::ok) << len;
    }
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> v(rng() % 64);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    Header p;
    if (parse_header(v.data(), v.size(), p) == ParseError::ok) {
      EXPECT_LE(p.data_offset, v.size());
      EXPECT_LE(p.opt.sack_count, kMaxSackBlocks);
    }
  }
}

TEST(Header, ChecksumKnownSegment) {
  // Build a segment, checksum it, verify; flip a bit, verify fails.
  std::uint8_t seg[kHeaderMax + 5] = {};
  const std::size_t h = build_header(seg, HeaderOut{.src_port = 1, .dst_port = 2, .seq = Seq(3),
                                                    .ack = Seq(4), .flags = flag::ack, .window = 5},
                                     OptionsOut{});
  std::memcpy(seg + h, "hello", 5);  // odd length exercises the trailing byte
  const std::uint32_t src = 0xc6120001, dst = 0xc6120002;
  turnpike::net::store_be16(seg + 16, tcp_checksum(src, dst, seg, h + 5));
  EXPECT_TRUE(tcp_checksum_ok(src, dst, seg, h + 5));
  EXPECT_FALSE(tcp_checksum_ok(src, dst ^ 1, seg, h + 5));
  seg[h + 2] ^= 0x10;
  EXPECT_FALSE(tcp_checksum_ok(src, dst, seg, h + 5));
}
