// NetWorker against a capturing TX: frames in, frames out checked field by field.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <vector>

#include "eal_env.hpp"
#include "turnpike/net/checksum.hpp"
#include "turnpike/net/stack.hpp"

using namespace turnpike::net;
using turnpike::testing::test_pool;

namespace {

const MacAddr kOurMac{{0x02, 0, 0, 0, 0, 0x01}};
const MacAddr kPeerMac{{0x02, 0, 0, 0, 0, 0x02}};
const Ipv4Addr kOurIp = 0xc6120001, kPeerIp = 0xc6120002, kGw = 0xc61200fe;

struct Fixture : ::testing::Test {
  NeighborTable neigh{64, 1000};
  std::vector<std::vector<std::uint8_t>> sent;
  std::uint16_t accept_tx = 0xffff;  // how many frames the fake NIC takes per burst
  std::unique_ptr<NetWorker> nw;

  void SetUp() override {
    PortNet pn;
    pn.mac = kOurMac;
    pn.ip = kOurIp;
    pn.prefix = 24;
    pn.gateway = kGw;
    pn.neigh = &neigh;
    nw = std::make_unique<NetWorker>(
        std::vector<PortNet>{pn}, test_pool(),
        [this](std::uint16_t, rte_mbuf** pkts, std::uint16_t n) {
          const std::uint16_t take = std::min(n, accept_tx);
          for (std::uint16_t i = 0; i < take; ++i) {
            const auto* d = rte_pktmbuf_mtod(pkts[i], const std::uint8_t*);
            sent.emplace_back(d, d + rte_pktmbuf_data_len(pkts[i]));
            rte_pktmbuf_free(pkts[i]);
          }
          return take;
        },
        4, NetTimers{100, 300});
  }

  rte_mbuf* mbuf(const std::vector<std::uint8_t>& bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    EXPECT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(bytes.size())), bytes.data(), bytes.size());
    return m;
  }
  void feed(const std::vector<std::uint8_t>& bytes, std::uint64_t now = 0) {
    rte_mbuf* m = mbuf(bytes);
    nw->input(0, &m, 1, now);
    nw->flush();
  }
  std::uint64_t drops(Drop d) { return nw->stats(0).drops[static_cast<std::size_t>(d)].load(); }
};

std::vector<std::uint8_t> arp_frame(ArpOp op, const MacAddr& eth_dst, const MacAddr& sha, Ipv4Addr spa,
                                    const MacAddr& tha, Ipv4Addr tpa) {
  std::vector<std::uint8_t> f(kEthHdrLen + kArpLen);
  write_eth(f.data(), eth_dst, sha, kEtherTypeArp);
  write_arp(f.data() + kEthHdrLen, op, sha, spa, tha, tpa);
  return f;
}

std::vector<std::uint8_t> echo_frame(Ipv4Addr src, Ipv4Addr dst, std::size_t payload = 56, std::uint8_t type = 8,
                                     std::size_t ihl = 20) {
  std::vector<std::uint8_t> f(kEthHdrLen + ihl + 8 + payload);
  write_eth(f.data(), kOurMac, kPeerMac, kEtherTypeIpv4);
  std::uint8_t* ip = f.data() + kEthHdrLen;
  write_ipv4_hdr(ip, static_cast<std::uint16_t>(ihl + 8 + payload), 0x1234, 3, kIpProtoIcmp, src, dst);
  if (ihl > 20) {
    ip[0] = static_cast<std::uint8_t>(0x40 | (ihl / 4));
    std::memset(ip + 20, 1, ihl - 20);  // NOP options
    store_be16(ip + 10, 0);
    store_be16(ip + 10, inet_checksum(ip, ihl));
  }
  std::uint8_t* icmp = ip + ihl;
  icmp[0] = type;
  icmp[1] = 0;
  store_be16(icmp + 4, 0xbeef);  // identifier
  store_be16(icmp + 6, 7);       // sequence
  for (std::size_t i = 0; i < payload; ++i) icmp[8 + i] = static_cast<std::uint8_t>(i);
  store_be16(icmp + 2, inet_checksum(icmp, 8 + payload));
  return f;
}

}  // namespace

TEST_F(Fixture, AnswersArpRequestForUsAndLearnsSender) {
  feed(arp_frame(ArpOp::Request, MacAddr::broadcast(), kPeerMac, kPeerIp, MacAddr{}, kOurIp));
  ASSERT_EQ(sent.size(), 1u);
  EthHdr e;
  ASSERT_TRUE(parse_eth(sent[0].data(), sent[0].size(), e));
  EXPECT_EQ(e.dst, kPeerMac);
  EXPECT_EQ(e.src, kOurMac);
  EXPECT_EQ(e.ether_type, kEtherTypeArp);
  ArpPkt a;
  ASSERT_EQ(parse_arp(sent[0].data() + kEthHdrLen, sent[0].size() - kEthHdrLen, a), ArpParse::Ok);
  EXPECT_EQ(a.op, 2);
  EXPECT_EQ(a.sha, kOurMac);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_EQ(a.tha, kPeerMac);
  EXPECT_EQ(a.tpa, kPeerIp);
  MacAddr m;
  EXPECT_TRUE(neigh.lookup(kPeerIp, 0, m));
  EXPECT_EQ(nw->stats(0).arp_requests_answered.load(), 1u);
}

TEST_F(Fixture, IgnoresArpForOthersWithoutLearning) {
  feed(arp_frame(ArpOp::Request, MacAddr::broadcast(), kPeerMac, kPeerIp, MacAddr{}, 0xc6120063));
  EXPECT_TRUE(sent.empty());
  MacAddr m;
  EXPECT_FALSE(neigh.lookup(kPeerIp, 0, m));
  EXPECT_EQ(drops(Drop::arp_not_for_us), 1u);
}

TEST_F(Fixture, RefusesPoisoningAndBadSenders) {
  // Someone claiming our own address (RFC 5227 conflict), a multicast sender
  // MAC and a broadcast sender IP: none is learned or answered.
  feed(arp_frame(ArpOp::Request, MacAddr::broadcast(), kPeerMac, kOurIp, MacAddr{}, kOurIp));
  feed(arp_frame(ArpOp::Request, MacAddr::broadcast(), MacAddr{{0x01, 0, 0x5e, 0, 0, 1}}, kPeerIp, MacAddr{}, kOurIp));
  feed(arp_frame(ArpOp::Reply, kOurMac, kPeerMac, 0xffffffff, kOurMac, kOurIp));
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(drops(Drop::arp_bad_sender), 3u);
  EXPECT_EQ(neigh.size(), 0u);
}

TEST_F(Fixture, MalformedArp) {
  auto f = arp_frame(ArpOp::Request, MacAddr::broadcast(), kPeerMac, kPeerIp, MacAddr{}, kOurIp);
  auto shortf = f;
  shortf.resize(kEthHdrLen + 20);
  feed(shortf);
  auto op = f;
  op[kEthHdrLen + 7] = 9;
  feed(op);
  auto hw = f;
  hw[kEthHdrLen + 1] = 6;
  feed(hw);
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(drops(Drop::arp_short), 1u);
  EXPECT_EQ(drops(Drop::arp_op), 1u);
  EXPECT_EQ(drops(Drop::arp_format), 1u);
}

TEST_F(Fixture, EchoReplyFieldByField) {
  neigh.update(kPeerIp, kPeerMac, 0, true);
  auto req = echo_frame(kPeerIp, kOurIp);
  feed(req);
  ASSERT_EQ(sent.size(), 1u);
  const auto& r = sent[0];
  ASSERT_EQ(r.size(), req.size());
  EthHdr e;
  parse_eth(r.data(), r.size(), e);
  EXPECT_EQ(e.dst, kPeerMac);
  EXPECT_EQ(e.src, kOurMac);
  Ipv4Hdr ip;
  ASSERT_EQ(parse_ipv4_hdr(r.data() + kEthHdrLen, r.size() - kEthHdrLen, ip), Ipv4Parse::Ok);  // checksum ok
  EXPECT_EQ(ip.src, kOurIp);
  EXPECT_EQ(ip.dst, kPeerIp);
  EXPECT_EQ(ip.ttl, kDefaultTtl);
  EXPECT_EQ(ip.proto, kIpProtoIcmp);
  const std::uint8_t* icmp = r.data() + kEthHdrLen + 20;
  EXPECT_EQ(icmp[0], kIcmpEchoReply);
  EXPECT_EQ(inet_checksum(icmp, r.size() - kEthHdrLen - 20), 0);  // incremental update right
  EXPECT_EQ(load_be16(icmp + 4), 0xbeef);
  EXPECT_EQ(load_be16(icmp + 6), 7);
  EXPECT_EQ(0, std::memcmp(icmp + 8, req.data() + kEthHdrLen + 28, 56));
  EXPECT_EQ(nw->stats(0).icmp_echo_replies.load(), 1u);
}

// Regression: the RFC 1624 incremental update yields 0x0000 for an all-zero
// echo (id 0, seq 0, zero payload) where only 0xffff is valid.
TEST_F(Fixture, EchoReplyChecksumOfAllZeroMessage) {
  neigh.update(kPeerIp, kPeerMac, 0, true);
  auto req = echo_frame(kPeerIp, kOurIp, 32);
  std::uint8_t* icmp = req.data() + kEthHdrLen + 20;
  std::memset(icmp + 2, 0, 38);
  store_be16(icmp + 2, inet_checksum(icmp, 40));
  feed(req);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(load_be16(sent[0].data() + kEthHdrLen + 22), 0xffff);
  EXPECT_EQ(inet_checksum(sent[0].data() + kEthHdrLen + 20, 40), 0);
}

TEST_F(Fixture, EchoWithOptionsAndPaddingAndOddLength) {
  neigh.update(kPeerIp, kPeerMac, 0, true);
  auto req = echo_frame(kPeerIp, kOurIp, 7, 8, 28);
  req.resize(req.size() + 9, 0xee);  // Ethernet padding
  feed(req);
  ASSERT_EQ(sent.size(), 1u);
  Ipv4Hdr ip;
  ASSERT_EQ(parse_ipv4_hdr(sent[0].data() + kEthHdrLen, sent[0].size() - kEthHdrLen, ip), Ipv4Parse::Ok);
  EXPECT_EQ(ip.ihl_bytes, 20);
  EXPECT_EQ(ip.total_len, 20 + 8 + 7);
  EXPECT_EQ(sent[0].size(), kEthHdrLen + 35);
  EXPECT_EQ(inet_checksum(sent[0].data() + kEthHdrLen + 20, 15), 0);
}

TEST_F(Fixture, DropsByReason) {
  feed(std::vector<std::uint8_t>(10, 0));  // runt
  auto other = echo_frame(kPeerIp, kOurIp);
  other[0] = 0x02;
  other[5] = 0x99;  // someone else's MAC
  feed(other);
  auto mc = echo_frame(kPeerIp, kOurIp);
  mc[0] = 0x01;
  feed(mc);
  auto v6 = echo_frame(kPeerIp, kOurIp);
  store_be16(v6.data() + 12, 0x86dd);
  feed(v6);
  auto badck = echo_frame(kPeerIp, kOurIp);
  badck[kEthHdrLen + 10] ^= 0xff;
  feed(badck);
  auto trunc = echo_frame(kPeerIp, kOurIp);
  trunc.resize(kEthHdrLen + 30);
  feed(trunc);
  auto frag = echo_frame(kPeerIp, kOurIp);
  store_be16(frag.data() + kEthHdrLen + 6, 0x2000);
  store_be16(frag.data() + kEthHdrLen + 10, 0);
  store_be16(frag.data() + kEthHdrLen + 10, inet_checksum(frag.data() + kEthHdrLen, 20));
  feed(frag);
  feed(echo_frame(kPeerIp, 0xc6120063));                    // not our IP
  feed(echo_frame(0xc61200ff, kOurIp));                      // subnet broadcast source
  feed(echo_frame(0xe0000001, kOurIp));                      // multicast source
  feed(echo_frame(kPeerIp, kOurIp, 56, 13));                 // ICMP timestamp
  auto icmpck = echo_frame(kPeerIp, kOurIp);
  icmpck[kEthHdrLen + 20 + 9] ^= 1;
  feed(icmpck);
  auto icmpshort = echo_frame(kPeerIp, kOurIp, 0);
  store_be16(icmpshort.data() + kEthHdrLen + 2, 24);
  store_be16(icmpshort.data() + kEthHdrLen + 10, 0);
  store_be16(icmpshort.data() + kEthHdrLen + 10, inet_checksum(icmpshort.data() + kEthHdrLen, 20));
  feed(icmpshort);
  auto udp = echo_frame(kPeerIp, kOurIp);
  udp[kEthHdrLen + 9] = kIpProtoUdp;
  store_be16(udp.data() + kEthHdrLen + 10, 0);
  store_be16(udp.data() + kEthHdrLen + 10, inet_checksum(udp.data() + kEthHdrLen, 20));
  feed(udp);
  EXPECT_TRUE(sent.empty());
  for (Drop d : {Drop::eth_runt, Drop::not_for_us, Drop::multicast, Drop::ethertype, Drop::ipv4_checksum,
                 Drop::ipv4_total_len, Drop::ipv4_fragment, Drop::ipv4_not_for_us, Drop::icmp_type,
                 Drop::icmp_checksum, Drop::icmp_short, Drop::ipv4_proto})
    EXPECT_EQ(drops(d), 1u) << drop_name(d);
  EXPECT_EQ(drops(Drop::ipv4_bad_src), 2u);
  EXPECT_EQ(nw->stats(0).total_drops(), 14u);
  EXPECT_EQ(nw->stats(0).rx_packets.load(), 14u);
}

TEST_F(Fixture, HoldsFrameUntilArpResolvesThenSends) {
  feed(echo_frame(kPeerIp, kOurIp), 0);
  // Held; an ARP request for the peer went out instead.
  ASSERT_EQ(sent.size(), 1u);
  ArpPkt a;
  ASSERT_EQ(parse_arp(sent[0].data() + kEthHdrLen, kArpLen, a), ArpParse::Ok);
  EXPECT_EQ(a.op, 1);
  EXPECT_EQ(a.tpa, kPeerIp);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_EQ(nw->pending(), 1u);
  // A second frame for the same next hop does not trigger a second request.
  feed(echo_frame(kPeerIp, kOurIp), 1);
  EXPECT_EQ(sent.size(), 1u);
  // The reply arrives (possibly on another worker: the table is shared).
  feed(arp_frame(ArpOp::Reply, kOurMac, kPeerMac, kPeerIp, kOurMac, kOurIp), 2);
  nw->tick(3);
  nw->flush();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(nw->pending(), 0u);
  EthHdr e;
  parse_eth(sent[1].data(), sent[1].size(), e);
  EXPECT_EQ(e.dst, kPeerMac);
  EXPECT_EQ(e.ether_type, kEtherTypeIpv4);
}

TEST_F(Fixture, UnresolvedRetriesThenDropsAndQueueIsBounded) {
  for (int i = 0; i < 6; ++i) feed(echo_frame(kPeerIp, kOurIp), 0);  // queue holds 4
  EXPECT_EQ(nw->pending(), 4u);
  EXPECT_EQ(drops(Drop::neigh_queue_full), 2u);
  EXPECT_EQ(sent.size(), 1u);  // one ARP request
  nw->tick(100);               // retry interval: one more request
  nw->flush();
  EXPECT_EQ(sent.size(), 2u);
  nw->tick(300);  // resolve timeout
  EXPECT_EQ(nw->pending(), 0u);
  EXPECT_EQ(drops(Drop::neigh_unresolved), 4u);
}

TEST_F(Fixture, OffLinkUsesGateway) {
  neigh.update(kGw, MacAddr{{2, 0, 0, 0, 0, 0xfe}}, 0, true);
  feed(echo_frame(0x08080808, kOurIp));
  ASSERT_EQ(sent.size(), 1u);
  EthHdr e;
  parse_eth(sent[0].data(), sent[0].size(), e);
  EXPECT_EQ(e.dst, (MacAddr{{2, 0, 0, 0, 0, 0xfe}}));
}

TEST_F(Fixture, GratuitousArpAnnouncement) {
  ASSERT_TRUE(nw->announce(0));
  nw->flush();
  ASSERT_EQ(sent.size(), 1u);
  EthHdr e;
  parse_eth(sent[0].data(), sent[0].size(), e);
  EXPECT_TRUE(e.dst.is_broadcast());
  ArpPkt a;
  ASSERT_EQ(parse_arp(sent[0].data() + kEthHdrLen, kArpLen, a), ArpParse::Ok);
  EXPECT_EQ(a.spa, kOurIp);
  EXPECT_EQ(a.tpa, kOurIp);  // RFC 5227 §2.3
  EXPECT_TRUE(a.tha.is_zero());
}

// On memif the link is down until the peer connects, and turnpike's one
// announcement at start was lost. Announcements follow the link instead:
// RFC 5227 §2.3 ANNOUNCE_NUM (2) each time it comes up, ANNOUNCE_INTERVAL
// apart (here the 100-tick ARP retry), with the gateway asked again.
TEST_F(Fixture, LinkUpSendsTwoAnnouncementsApartAndAgainAfterDown) {
  auto gratuitous = [&] {
    unsigned n = 0;
    for (auto& f : sent) {
      ArpPkt a;
      if (f.size() >= kEthHdrLen + kArpLen && parse_arp(f.data() + kEthHdrLen, kArpLen, a) == ArpParse::Ok &&
          a.spa == kOurIp && a.tpa == kOurIp && a.tha.is_zero())
        ++n;
    }
    return n;
  };
  auto gateway_requests = [&] {
    unsigned n = 0;
    for (auto& f : sent) {
      ArpPkt a;
      if (parse_arp(f.data() + kEthHdrLen, kArpLen, a) == ArpParse::Ok && a.tpa == kGw) ++n;
    }
    return n;
  };
  nw->link_state(0, false, 0);  // down at start: nothing sent into it
  nw->tick(500);
  nw->flush();
  EXPECT_TRUE(sent.empty());
  EXPECT_FALSE(nw->link_up(0));
  nw->link_state(0, true, 1000);
  nw->flush();
  EXPECT_EQ(gratuitous(), 1u);
  EXPECT_EQ(gateway_requests(), 1u);
  nw->link_state(0, true, 1050);  // no change: nothing more
  nw->tick(1099);
  nw->flush();
  EXPECT_EQ(gratuitous(), 1u);
  nw->tick(1100);  // ANNOUNCE_INTERVAL later: the second one
  nw->flush();
  EXPECT_EQ(gratuitous(), 2u);
  nw->tick(5000);  // and no third
  nw->flush();
  EXPECT_EQ(gratuitous(), 2u);
  EXPECT_EQ(nw->stats(0).arp_gratuitous_sent.load(), 2u);
  EXPECT_EQ(nw->stats(0).link_ups.load(), 1u);
  // Down before the second announcement: it is not sent into the down link;
  // up again starts the pair over.
  nw->link_state(0, false, 6000);
  nw->link_state(0, true, 7000);
  nw->link_state(0, false, 7010);
  nw->tick(7100);
  nw->flush();
  EXPECT_EQ(gratuitous(), 3u);
  nw->link_state(0, true, 8000);
  nw->tick(8100);
  nw->flush();
  EXPECT_EQ(gratuitous(), 5u);
  EXPECT_EQ(gateway_requests(), 3u);
  EXPECT_EQ(nw->stats(0).link_ups.load(), 3u);
}

// memif reports its link up a moment before the peer posts receive
// buffers: the first announcement is refused by the queue. It is counted
// as a drop, not as sent, and tried again shortly, then the pair goes out.
TEST_F(Fixture, RefusedAnnouncementIsRepeated) {
  accept_tx = 0;
  nw->link_state(0, true, 1000);
  EXPECT_EQ(nw->stats(0).arp_gratuitous_sent.load(), 0u);
  EXPECT_EQ(drops(Drop::tx_full), 1u);
  accept_tx = 0xffff;
  nw->tick(1000 + 100 / 16);
  nw->flush();
  EXPECT_EQ(nw->stats(0).arp_gratuitous_sent.load(), 1u);
  nw->tick(1000 + 100 / 16 + 100);
  EXPECT_EQ(nw->stats(0).arp_gratuitous_sent.load(), 2u);
  // A queue that never takes them: given up after kAnnounceTries refusals.
  accept_tx = 0;
  nw->link_state(0, false, 2000);
  nw->link_state(0, true, 3000);
  for (int i = 1; i <= 40; ++i) nw->tick(3000 + i * 10);
  EXPECT_EQ(drops(Drop::tx_full), 1u + NetWorker::kAnnounceTries);
  EXPECT_EQ(nw->stats(0).arp_gratuitous_sent.load(), 2u);
}

TEST_F(Fixture, TxRefusalIsCountedNotLeaked) {
  neigh.update(kPeerIp, kPeerMac, 0, true);
  accept_tx = 0;
  const unsigned before = rte_mempool_avail_count(test_pool());
  for (int i = 0; i < 5; ++i) feed(echo_frame(kPeerIp, kOurIp));
  EXPECT_EQ(drops(Drop::tx_full), 5u);
  EXPECT_EQ(nw->stats(0).tx_packets.load(), 0u);
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before);
}

TEST_F(Fixture, RandomFramesNeverCrashOrLeak) {
  const unsigned before = rte_mempool_avail_count(test_pool());
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  auto rnd = [&] { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; };
  for (int i = 0; i < 20000; ++i) {
    auto f = echo_frame(kPeerIp, kOurIp);
    f.resize(1 + rnd() % 120);
    // Mutate a few bytes of a valid frame, or fill with noise.
    if (i % 3 == 0)
      for (auto& b : f) b = static_cast<std::uint8_t>(rnd());
    else
      for (int k = 0; k < 4; ++k) f[rnd() % f.size()] = static_cast<std::uint8_t>(rnd());
    if (i % 2) std::memcpy(f.data(), kOurMac.b.data(), std::min<std::size_t>(6, f.size()));
    feed(f, i);
  }
  nw->tick(1'000'000);
  nw->flush();
  EXPECT_EQ(nw->stats(0).rx_packets.load(), 20000u);
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before);
}
