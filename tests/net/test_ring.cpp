// Two NetWorkers on net_ring ports wired back to back: ARP resolution, the
// pending queue and echo replies across real ethdevs, no kernel involved.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>

#include "eal_env.hpp"
#include "ring_harness.hpp"
#include "turnpike/net/checksum.hpp"

using namespace turnpike::net;
using turnpike::testing::RingPair;

namespace {
rte_mbuf* echo_request(Ipv4Addr src, Ipv4Addr dst, std::uint16_t seq) {
  rte_mbuf* m = rte_pktmbuf_alloc(turnpike::testing::test_pool());
  auto* d = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, kEthHdrLen + 20 + 8 + 32));
  if (!d) std::abort();
  std::uint8_t* icmp = d + kEthHdrLen + 20;
  std::memset(icmp, 0, 40);
  icmp[0] = kIcmpEchoRequest;
  store_be16(icmp + 6, seq);
  store_be16(icmp + 2, inet_checksum(icmp, 40));
  write_ipv4_hdr(d + kEthHdrLen, 60, seq, 64, kIpProtoIcmp, src, dst);
  return m;
}
}  // namespace

TEST(RingPair, ArpThenEchoAcrossPorts) {
  RingPair rp("ping");
  auto& a = rp.a();
  auto& b = rp.b();
  for (std::uint16_t s = 0; s < 3; ++s) a.net->ip_output(0, echo_request(a.pn.ip, b.pn.ip, s), b.pn.ip, 0);
  a.net->flush();
  EXPECT_EQ(a.net->pending(), 3u);
  rp.settle(1);
  EXPECT_EQ(a.net->pending(), 0u);
  EXPECT_EQ(a.net->stats(0).arp_requests_sent.load(), 1u);
  EXPECT_EQ(b.net->stats(0).arp_requests_answered.load(), 1u);
  EXPECT_EQ(b.net->stats(0).icmp_echo_replies.load(), 3u);
  // A handles requests only; the replies are counted as unhandled ICMP.
  EXPECT_EQ(a.net->stats(0).drops[static_cast<std::size_t>(Drop::icmp_type)].load(), 3u);
  for (std::size_t i = 0; i < kDropCount; ++i)
    if (Drop(i) != Drop::icmp_type && a.net->stats(0).drops[i].load()) ADD_FAILURE() << "A " << drop_name(Drop(i)) << " " << a.net->stats(0).drops[i].load();
  MacAddr m;
  EXPECT_TRUE(a.neigh->lookup(b.pn.ip, 1, m));
  EXPECT_EQ(m, b.pn.mac);
  EXPECT_TRUE(b.neigh->lookup(a.pn.ip, 1, m));  // B learned A from the request
}

TEST(RingPair, LossyLinkRetriesArp) {
  RingPair rp("lossy");
  unsigned dropped_arp = 0;
  // Drop the first two ARP requests from A: the retry timer must recover.
  rp.set_filter([&](rte_mbuf* m, bool from_a) {
    const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
    if (from_a && load_be16(d + 12) == kEtherTypeArp && dropped_arp < 2) {
      ++dropped_arp;
      return false;
    }
    return true;
  });
  auto& a = rp.a();
  auto& b = rp.b();
  a.net->ip_output(0, echo_request(a.pn.ip, b.pn.ip, 1), b.pn.ip, 0);
  a.net->flush();
  rp.settle(10);
  EXPECT_EQ(a.net->pending(), 1u);
  rp.settle(1000);  // retry 1 (lost)
  rp.settle(2000);  // retry 2 answered
  EXPECT_EQ(dropped_arp, 2u);
  EXPECT_EQ(rp.filtered(), 2u);
  EXPECT_EQ(a.net->pending(), 0u);
  EXPECT_EQ(b.net->stats(0).icmp_echo_replies.load(), 1u);
  EXPECT_EQ(a.net->stats(0).arp_requests_sent.load(), 3u);
}

TEST(RingPair, UnansweredArpDropsAfterTimeout) {
  RingPair rp("deaf");
  rp.set_filter([](rte_mbuf*, bool from_a) { return !from_a; });  // B never hears A
  auto& a = rp.a();
  a.net->ip_output(0, echo_request(a.pn.ip, rp.b().pn.ip, 1), rp.b().pn.ip, 0);
  a.net->flush();
  for (std::uint64_t t = 0; t <= 6000; t += 500) rp.settle(t);
  EXPECT_EQ(a.net->pending(), 0u);
  EXPECT_EQ(a.net->stats(0).drops[static_cast<std::size_t>(Drop::neigh_unresolved)].load(), 1u);
}
