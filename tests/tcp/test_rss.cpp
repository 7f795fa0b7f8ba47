#include "turnpike/tcp/rss.hpp"

#include <gtest/gtest.h>

#include "harness.hpp"

using namespace turnpike::tcp;

namespace {
constexpr std::uint8_t kMsKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                                     0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                                     0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
constexpr std::uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) { return a << 24 | b << 16 | c << 8 | d; }
}  // namespace

// Microsoft "Verifying the RSS hash calculation" vectors (IPv4 with TCP ports).
TEST(Toeplitz, MicrosoftVectors) {
  const Toeplitz t(kMsKey);
  struct V {
    std::uint32_t src, dst;
    std::uint16_t sport, dport;
    std::uint32_t h;
  } vs[] = {
      {ip(66, 9, 149, 187), ip(161, 142, 100, 80), 2794, 1766, 0x51ccc178},
      {ip(199, 92, 111, 2), ip(65, 69, 140, 83), 14230, 4739, 0xc626b0ea},
      {ip(24, 19, 198, 95), ip(12, 22, 207, 184), 12898, 38024, 0x5c2b394a},
      {ip(38, 27, 205, 30), ip(209, 142, 163, 6), 48228, 2217, 0xafc7327f},
      {ip(153, 39, 163, 191), ip(202, 188, 127, 2), 44251, 1303, 0x10e828a2},
  };
  for (const auto& v : vs) EXPECT_EQ(t.hash_v4_tcp(v.src, v.dst, v.sport, v.dport), v.h) << std::hex << v.h;
}

TEST(Toeplitz, SymmetricKeyIgnoresDirection) {
  const Toeplitz t(kSymmetricRssKey);
  for (std::uint16_t p = 1000; p < 1100; ++p)
    EXPECT_EQ(t.hash_v4_tcp(ip(198, 18, 0, 1), ip(198, 18, 0, 2), p, 5061),
              t.hash_v4_tcp(ip(198, 18, 0, 2), ip(198, 18, 0, 1), 5061, p));
}

class NoHandler : public ConnHandler {};

// Active opens only take ports whose reply lands on this worker's queue.
TEST(RssSteering, ConnectPicksOwnQueuePorts) {
  std::vector<std::uint16_t> reta(128);
  for (std::size_t i = 0; i < reta.size(); ++i) reta[i] = static_cast<std::uint16_t>(i % 2);
  RssSteering mine(kSymmetricRssKey, reta, 1);
  Config c;
  c.port_ok = &RssSteering::port_ok;
  c.port_ok_ctx = &mine;
  tcptest::VecSink sink;
  Stack st(c, sink, 0);
  NoHandler h;
  const std::uint32_t l = ip(198, 18, 0, 1), r = ip(198, 18, 0, 2);
  int n = 0;
  for (int i = 0; i < 50; ++i) {
    const ConnId id = st.connect(l, 0, r, 5061, h);
    ASSERT_TRUE(id.valid());
    ++n;
  }
  ASSERT_EQ(sink.out.size(), 50u);
  for (const auto& s : sink.out) {
    const Header hd = s.h();
    EXPECT_EQ(mine.queue_for_reply(l, hd.src_port, r, hd.dst_port), 1);
  }
  // A worker whose queue is in no RETA entry cannot open at all.
  RssSteering nowhere(kSymmetricRssKey, reta, 7);
  Config c2;
  c2.port_ok = &RssSteering::port_ok;
  c2.port_ok_ctx = &nowhere;
  Stack st2(c2, sink, 0);
  EXPECT_FALSE(st2.connect(l, 0, r, 5061, h).valid());
}
