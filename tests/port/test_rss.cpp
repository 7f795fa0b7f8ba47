// RSS key and DPDK port names (no EAL).
#include <gtest/gtest.h>

#include <rte_thash.h>

#include "turnpike/port/port.hpp"

using namespace turnpike;

TEST(Port, SymmetricKeyAndNames) {
  auto k = port::symmetric_rss_key(40);
  ASSERT_EQ(k.size(), 40u);
  for (std::size_t i = 0; i + 1 < k.size(); i += 2) {
    EXPECT_EQ(k[i], 0x6d);
    EXPECT_EQ(k[i + 1], 0x5a);
  }
  EXPECT_EQ(port::dpdk_port_name("net_af_packet0,iface=x"), "net_af_packet0");
  EXPECT_EQ(port::dpdk_port_name("0000:03:00.0"), "0000:03:00.0");
}

TEST(Port, SymmetricKeyHashesBothDirectionsAlike) {
  auto k = port::symmetric_rss_key(40);
  // Toeplitz over (src, dst, sport, dport) as DPDK's software RSS computes it.
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::uint32_t a = 0xc6120000u + i * 7919u, b = 0xc6130000u + i * 104729u;
    const std::uint16_t pa = static_cast<std::uint16_t>(1024 + i * 13), pb = 5061;
    std::uint32_t fwd[3] = {a, b, (std::uint32_t(pa) << 16) | pb};
    std::uint32_t rev[3] = {b, a, (std::uint32_t(pb) << 16) | pa};
    ASSERT_EQ(rte_softrss(fwd, 3, k.data()), rte_softrss(rev, 3, k.data())) << i;
  }
}

// tests/integration/flow_placement.py computes each connection's owner in
// Python (Toeplitz, key 0x6d5a, over src, dst, sport, dport; hash % workers):
// the same values here from DPDK's software Toeplitz, so the integration
// test's expectation is the glue's (TcpGlue::owner_of without RSS: table of
// one entry per worker).
TEST(Port, PythonPlacementMatchesSoftRss) {
  auto k = port::symmetric_rss_key(40);
  const std::uint32_t client = 0xc612c802u, tp = 0xc612c801u;  // 198.18.200.2 -> 198.18.200.1
  const struct { std::uint16_t sport; std::uint32_t hash; } cases[] = {
      {40000, 0x80138013u}, {40001, 0xb6beb6beu}, {51234, 0xdd00dd00u}, {33000, 0x01260126u}};
  for (auto& c : cases) {
    std::uint32_t in[3] = {client, tp, (std::uint32_t(c.sport) << 16) | 7u};
    EXPECT_EQ(rte_softrss(in, 3, k.data()), c.hash) << c.sport;
  }
}
