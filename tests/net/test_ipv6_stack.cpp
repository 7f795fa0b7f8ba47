// NetWorker with IPv6: DAD, ND answers and learning, ICMPv6 echo, next-hop
// resolution between two stacks over a fake wire, and malformed frames
// counted under their drop reasons.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <deque>
#include <vector>

#include "eal_env.hpp"
#include "turnpike/net/checksum.hpp"
#include "turnpike/net/stack.hpp"

using namespace turnpike::net;
using turnpike::testing::test_pool;
using Frame = std::vector<std::uint8_t>;

namespace {

Ipv6Addr A(const char* s) { return parse_ipv6(s).value(); }

const MacAddr kMacA{{0x02, 0, 0, 0, 0, 0x0a}};
const MacAddr kMacB{{0x02, 0, 0, 0, 0, 0x0b}};
const MacAddr kMacPeer{{0x02, 0, 0, 0, 0, 0x77}};
const Ipv6Addr kGlobalA = A("2001:db8:1::a"), kGlobalB = A("2001:db8:1::b");
const Ipv6Addr kPeerLL = A("fe80::77"), kPeerGlobal = A("2001:db8:1::77");
constexpr std::uint64_t kRetrans = 100, kResolve = 300;

// One stack on one port, its sent frames captured.
struct Node {
  NeighborTable neigh{64, 1000};
  std::unique_ptr<Ipv6Port> v6;
  std::unique_ptr<NetWorker> nw;
  std::deque<Frame> sent;

  Node(const MacAddr& mac, const Ipv6Options& o, bool with_v6 = true) {
    if (with_v6) v6 = std::make_unique<Ipv6Port>(mac, o);
    PortNet pn;
    pn.mac = mac;
    pn.ip = 0xc6120001;
    pn.prefix = 24;
    pn.neigh = &neigh;
    pn.v6 = v6.get();
    NetTimers t{kRetrans, kResolve};
    t.nd_retrans = kRetrans;
    nw = std::make_unique<NetWorker>(
        std::vector<PortNet>{pn}, test_pool(),
        [this](std::uint16_t, rte_mbuf** pkts, std::uint16_t n) {
          for (std::uint16_t i = 0; i < n; ++i) {
            const auto* d = rte_pktmbuf_mtod(pkts[i], const std::uint8_t*);
            sent.emplace_back(d, d + rte_pktmbuf_data_len(pkts[i]));
            rte_pktmbuf_free(pkts[i]);
          }
          return n;
        },
        4, t);
  }
  void feed(const Frame& f, std::uint64_t now = 0) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size())), f.data(), f.size());
    nw->input(0, &m, 1, now);
    nw->flush();
  }
  Frame take() {
    EXPECT_FALSE(sent.empty());
    if (sent.empty()) return {};
    Frame f = std::move(sent.front());
    sent.pop_front();
    return f;
  }
  std::uint64_t drops(Drop d) const { return nw->stats(0).drops[static_cast<std::size_t>(d)].load(); }
  const PortStats& stats() const { return nw->stats(0); }
};

Ipv6Options opts(const Ipv6Addr& global, unsigned dad = 0) {
  Ipv6Options o;
  o.address = global;
  o.prefix = 64;
  o.dad_transmits = dad;
  o.neigh_timeout = 1000;
  return o;
}

// A whole Ethernet + IPv6 + upper-layer frame; `l4` of protocol `proto`
// (ICMPv6 checksums filled in), optional extension headers before it.
Frame frame6(const MacAddr& eth_dst, const MacAddr& eth_src, const Ipv6Addr& src, const Ipv6Addr& dst,
             std::uint8_t proto, Frame l4, std::uint8_t hop = 64, const Frame& ext = {}, std::uint8_t first = 0) {
  if (proto == kIpProtoIcmpv6 && l4.size() >= kIcmpv6HdrLen) {
    store_be16(l4.data() + 2, 0);
    store_be16(l4.data() + 2, ipv6_upper_checksum(src, dst, kIpProtoIcmpv6, l4.data(), l4.size()));
  }
  Frame f(kEthHdrLen + kIpv6HdrLen);
  write_eth(f.data(), eth_dst, eth_src, kEtherTypeIpv6);
  write_ipv6_hdr(f.data() + kEthHdrLen, static_cast<std::uint16_t>(ext.size() + l4.size()), ext.empty() ? proto : first,
                 hop, src, dst);
  f.insert(f.end(), ext.begin(), ext.end());
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

Frame echo_request(std::uint16_t id, std::uint16_t seq, std::size_t payload = 56) {
  Frame m(8 + payload);
  m[0] = kIcmpv6EchoRequest;
  store_be16(m.data() + 4, id);
  store_be16(m.data() + 6, seq);
  for (std::size_t i = 0; i < payload; ++i) m[8 + i] = static_cast<std::uint8_t>(i * 7);
  return m;
}

// NS or NA as the ICMPv6 message only (checksum filled by frame6).
Frame nd_msg(std::uint8_t type, const Ipv6Addr& target, std::uint32_t flags = 0, const MacAddr* lla = nullptr) {
  Frame b(kIpv6HdrLen + kNdFrameMax);
  const std::size_t n = write_nd(b.data(), type, flags, Ipv6Addr{}, Ipv6Addr{}, target, lla);
  return Frame(b.begin() + kIpv6HdrLen, b.begin() + static_cast<std::ptrdiff_t>(n));
}

// A sent frame, parsed (it keeps the bytes); ok includes the ICMPv6 checksum.
struct Parsed {
  Frame f;
  EthHdr eth{};
  Ipv6Hdr ip;
  bool ok = false;
  const std::uint8_t* l4() const { return f.data() + kEthHdrLen + ip.l4_offset; }
};
Parsed parse(Frame f) {
  Parsed p;
  p.f = std::move(f);
  p.ok = parse_eth(p.f.data(), p.f.size(), p.eth) && p.eth.ether_type == kEtherTypeIpv6 &&
         parse_ipv6_hdr(p.f.data() + kEthHdrLen, p.f.size() - kEthHdrLen, p.ip) == Ipv6Parse::Ok;
  if (p.ok)
    p.ok = p.ip.proto != kIpProtoIcmpv6 ||
           ipv6_upper_checksum(p.ip.src, p.ip.dst, kIpProtoIcmpv6, p.l4(), p.ip.l4_len()) == 0;
  return p;
}

NdMsg nd_of(const Parsed& p) {
  NdMsg nd;
  EXPECT_EQ(parse_nd(p.ip, p.l4(), p.ip.l4_len(), nd), NdParse::Ok);
  return nd;
}

// Moves frames between two nodes until both are quiet (bounded).
void pump(Node& a, Node& b, std::uint64_t now, int rounds = 20) {
  for (int i = 0; i < rounds && (!a.sent.empty() || !b.sent.empty()); ++i) {
    while (!a.sent.empty()) b.feed(a.take(), now);
    while (!b.sent.empty()) a.feed(b.take(), now);
    a.nw->tick(now);
    b.nw->tick(now);
    a.nw->flush();
    b.nw->flush();
  }
}

}  // namespace

TEST(Ipv6Stack, DadProbesThenTheAddressesBecomeUsable) {
  Node n(kMacA, opts(kGlobalA, 2));
  Ipv6Port& v6 = *n.v6;
  n.nw->start_ipv6(0, 0);
  n.nw->flush();
  ASSERT_EQ(n.sent.size(), 3u);  // the MLD report (MldReportsAndQueries), then one probe per address
  n.take();
  for (unsigned i = 0; i < 2; ++i) {
    Parsed p = parse(n.take());
    ASSERT_TRUE(p.ok);
    EXPECT_EQ(p.eth.dst, ipv6_multicast_mac(ipv6_solicited_node(v6.addr(i))));
    EXPECT_TRUE(p.ip.src.is_unspecified());
    EXPECT_EQ(p.ip.dst, ipv6_solicited_node(v6.addr(i)));
    EXPECT_EQ(p.ip.hop_limit, 255);
    NdMsg nd = nd_of(p);
    EXPECT_EQ(nd.type, kIcmpv6NeighborSolicit);
    EXPECT_EQ(nd.target, v6.addr(i));
    EXPECT_FALSE(nd.has_lla);  // RFC 4861 §7.1.1: none from ::
    EXPECT_EQ(v6.state(i), Ipv6Port::State::Tentative);
  }
  n.nw->tick(kRetrans - 1);
  EXPECT_TRUE(n.sent.empty());
  n.nw->tick(kRetrans);  // second probe (DupAddrDetectTransmits 2)
  n.nw->flush();
  EXPECT_EQ(n.sent.size(), 2u);
  n.sent.clear();
  EXPECT_EQ(v6.state(0), Ipv6Port::State::Tentative);
  n.nw->tick(2 * kRetrans);  // RetransTimer after the last: ours
  EXPECT_TRUE(v6.usable(0));
  EXPECT_TRUE(v6.usable(1));
  EXPECT_EQ(n.stats().nd_solicitations_sent.load(), 4u);
  EXPECT_EQ(n.stats().nd_duplicates.load(), 0u);
}

// RFC 4862 §5.4: DAD on a link that is down proves nothing (its probes are
// lost), so it starts when the link first comes up, and only then.
TEST(Ipv6Stack, DadStartsWhenTheLinkFirstComesUp) {
  Node n(kMacA, opts(kGlobalA, 1));
  Ipv6Port& v6 = *n.v6;
  n.nw->link_state(0, false, 0);
  n.nw->tick(5 * kRetrans);
  n.nw->flush();
  EXPECT_TRUE(n.sent.empty());
  EXPECT_EQ(v6.state(0), Ipv6Port::State::Tentative);
  n.nw->link_state(0, true, 1000);
  n.nw->flush();
  EXPECT_EQ(n.stats().nd_solicitations_sent.load(), 2u);  // one probe per address
  EXPECT_EQ(n.stats().mld_reports_sent.load(), 1u);
  n.nw->tick(1000 + kRetrans);
  EXPECT_TRUE(v6.usable(0));
  EXPECT_TRUE(v6.usable(1));
  n.nw->link_state(0, false, 2000);  // a flap: ARP announces again, DAD is not rerun
  n.nw->link_state(0, true, 2100);
  n.nw->flush();
  EXPECT_EQ(n.stats().nd_solicitations_sent.load(), 2u);
  EXPECT_EQ(n.stats().link_ups.load(), 2u);
}

TEST(Ipv6Stack, DadFindsDuplicatesByNaAndByNs) {
  // An NA for the tentative global address: that one is duplicate, the
  // link-local one goes on.
  {
    Node n(kMacA, opts(kGlobalA, 1));
    n.nw->start_ipv6(0, 0);
    n.nw->flush();
    n.sent.clear();
    n.feed(frame6(ipv6_multicast_mac(ipv6_all_nodes()), kMacPeer, kPeerLL, ipv6_all_nodes(), kIpProtoIcmpv6,
                  nd_msg(kIcmpv6NeighborAdvert, kGlobalA, kNaOverride, &kMacPeer), 255));
    EXPECT_EQ(n.v6->state(Ipv6Port::kGlobal), Ipv6Port::State::Duplicate);
    EXPECT_EQ(n.stats().nd_duplicates.load(), 1u);
    n.nw->tick(kRetrans);
    EXPECT_TRUE(n.v6->usable(Ipv6Port::kLinkLocal));
    EXPECT_EQ(n.v6->state(Ipv6Port::kGlobal), Ipv6Port::State::Duplicate);
    // Nothing is answered for or sent from a duplicate address.
    n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, echo_request(1, 1)));
    EXPECT_EQ(n.drops(Drop::ipv6_not_for_us), 1u);
    EXPECT_TRUE(n.sent.empty());
  }
  // Another node's DAD probe (NS from ::) for our tentative link-local
  // address: it is duplicate and, derived from the MAC, takes IPv6 down.
  {
    Node n(kMacA, opts(kGlobalA, 1));
    n.nw->start_ipv6(0, 0);
    n.nw->flush();
    n.sent.clear();
    const Ipv6Addr ll = n.v6->addr(Ipv6Port::kLinkLocal);
    n.feed(frame6(ipv6_multicast_mac(ipv6_solicited_node(ll)), kMacPeer, Ipv6Addr{}, ipv6_solicited_node(ll),
                  kIpProtoIcmpv6, nd_msg(kIcmpv6NeighborSolicit, ll), 255));
    EXPECT_EQ(n.v6->state(Ipv6Port::kLinkLocal), Ipv6Port::State::Duplicate);
    EXPECT_EQ(n.v6->state(Ipv6Port::kGlobal), Ipv6Port::State::Duplicate);
    EXPECT_EQ(n.stats().nd_duplicates.load(), 1u);
    n.nw->tick(10 * kRetrans);
    n.nw->flush();
    EXPECT_TRUE(n.sent.empty());  // DAD stopped, nothing made usable
    EXPECT_FALSE(n.v6->usable(Ipv6Port::kGlobal));
  }
}

TEST(Ipv6Stack, OwnProbeLoopedBackIsNotADuplicate) {
  Node n(kMacA, opts(kGlobalA, 1));
  n.nw->start_ipv6(0, 0);
  n.nw->flush();
  n.take();  // the MLD report
  const Frame probe = n.take();
  n.sent.clear();
  n.feed(probe);  // the switch echoes our multicast
  EXPECT_EQ(n.drops(Drop::ipv6_bad_src), 1u);
  EXPECT_EQ(n.stats().nd_duplicates.load(), 0u);
  n.nw->tick(kRetrans);
  EXPECT_TRUE(n.v6->usable(0));
  EXPECT_TRUE(n.v6->usable(1));
}

TEST(Ipv6Stack, TentativeAddressIgnoresResolutionAndDefendsWhenPreferred) {
  Node n(kMacA, opts(kGlobalA, 1));
  n.nw->start_ipv6(0, 0);
  n.nw->flush();
  n.sent.clear();
  const Frame ns = frame6(ipv6_multicast_mac(ipv6_solicited_node(kGlobalA)), kMacPeer, kPeerLL,
                          ipv6_solicited_node(kGlobalA), kIpProtoIcmpv6,
                          nd_msg(kIcmpv6NeighborSolicit, kGlobalA, 0, &kMacPeer), 255);
  n.feed(ns);  // address resolution for a tentative address: silently ignored
  EXPECT_TRUE(n.sent.empty());
  EXPECT_EQ(n.drops(Drop::nd_tentative), 1u);
  EXPECT_EQ(n.v6->state(Ipv6Port::kGlobal), Ipv6Port::State::Tentative);
  n.nw->tick(kRetrans);
  ASSERT_TRUE(n.v6->usable(Ipv6Port::kGlobal));
  // Now someone else probes for it: we defend with an NA to all-nodes, S clear.
  n.feed(frame6(ipv6_multicast_mac(ipv6_solicited_node(kGlobalA)), kMacPeer, Ipv6Addr{}, ipv6_solicited_node(kGlobalA),
                kIpProtoIcmpv6, nd_msg(kIcmpv6NeighborSolicit, kGlobalA), 255));
  ASSERT_EQ(n.sent.size(), 1u);
  Parsed p = parse(n.take());
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.eth.dst, ipv6_multicast_mac(ipv6_all_nodes()));
  EXPECT_EQ(p.ip.dst, ipv6_all_nodes());
  EXPECT_EQ(p.ip.src, kGlobalA);
  NdMsg nd = nd_of(p);
  EXPECT_EQ(nd.type, kIcmpv6NeighborAdvert);
  EXPECT_EQ(nd.flags, kNaOverride);
  EXPECT_EQ(nd.target, kGlobalA);
  EXPECT_EQ(nd.lla, kMacA);
  EXPECT_EQ(n.v6->state(Ipv6Port::kGlobal), Ipv6Port::State::Preferred);
  // An NA from another node for our preferred address is a conflict, counted.
  n.feed(frame6(ipv6_multicast_mac(ipv6_all_nodes()), kMacPeer, kPeerLL, ipv6_all_nodes(), kIpProtoIcmpv6,
                nd_msg(kIcmpv6NeighborAdvert, kGlobalA, kNaOverride, &kMacPeer), 255));
  EXPECT_EQ(n.drops(Drop::nd_conflict), 1u);
  EXPECT_EQ(n.v6->state(Ipv6Port::kGlobal), Ipv6Port::State::Preferred);
}

TEST(Ipv6Stack, AnswersSolicitationAndLearnsTheSender) {
  Node n(kMacA, opts(kGlobalA));
  n.feed(frame6(ipv6_multicast_mac(ipv6_solicited_node(kGlobalA)), kMacPeer, kPeerGlobal,
                ipv6_solicited_node(kGlobalA), kIpProtoIcmpv6,
                nd_msg(kIcmpv6NeighborSolicit, kGlobalA, 0, &kMacPeer), 255));
  ASSERT_EQ(n.sent.size(), 1u);
  Parsed p = parse(n.take());
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.eth.dst, kMacPeer);
  EXPECT_EQ(p.eth.src, kMacA);
  EXPECT_EQ(p.ip.src, kGlobalA);
  EXPECT_EQ(p.ip.dst, kPeerGlobal);
  EXPECT_EQ(p.ip.hop_limit, 255);
  NdMsg nd = nd_of(p);
  EXPECT_EQ(nd.type, kIcmpv6NeighborAdvert);
  EXPECT_EQ(nd.flags, kNaSolicited | kNaOverride);  // R clear: not a router
  EXPECT_EQ(nd.target, kGlobalA);
  ASSERT_TRUE(nd.has_lla);
  EXPECT_EQ(nd.lla, kMacA);
  MacAddr m;
  ASSERT_TRUE(n.v6->neigh().lookup(kPeerGlobal, 0, m));
  EXPECT_EQ(m, kMacPeer);
  EXPECT_EQ(n.stats().nd_advertisements_sent.load(), 1u);
  EXPECT_EQ(n.stats().nd_learned.load(), 1u);
  // For the link-local address too, to the unicast address (a NUD probe
  // without the option: answered to the frame's sender).
  const Ipv6Addr ll = n.v6->addr(Ipv6Port::kLinkLocal);
  n.feed(frame6(kMacA, kMacB, A("fe80::b"), ll, kIpProtoIcmpv6, nd_msg(kIcmpv6NeighborSolicit, ll), 255));
  ASSERT_EQ(n.sent.size(), 1u);
  p = parse(n.take());
  EXPECT_EQ(p.eth.dst, kMacB);
  EXPECT_EQ(p.ip.src, ll);
  EXPECT_EQ(nd_of(p).target, ll);
  // NS for somebody else's address: not answered.
  n.feed(frame6(ipv6_multicast_mac(ipv6_solicited_node(kGlobalB)), kMacPeer, kPeerGlobal,
                ipv6_solicited_node(kGlobalB), kIpProtoIcmpv6,
                nd_msg(kIcmpv6NeighborSolicit, kGlobalB, 0, &kMacPeer), 255));
  EXPECT_EQ(n.drops(Drop::multicast), 1u);  // not a group we joined: dropped at L2
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6,
                nd_msg(kIcmpv6NeighborSolicit, kGlobalB, 0, &kMacPeer), 255));
  EXPECT_EQ(n.drops(Drop::nd_not_for_us), 1u);
  EXPECT_TRUE(n.sent.empty());
}

TEST(Ipv6Stack, AdvertisementsFollowTheOverrideAndSolicitedFlags) {
  Node n(kMacA, opts(kGlobalA));
  const MacAddr other{{0x02, 0, 0, 0, 0, 0x99}};
  auto na = [&](std::uint32_t flags, const MacAddr& mac) {
    n.feed(frame6(kMacA, mac, kPeerGlobal, kGlobalA, kIpProtoIcmpv6,
                  nd_msg(kIcmpv6NeighborAdvert, kPeerGlobal, flags, &mac), 255));
  };
  MacAddr m;
  na(kNaOverride, kMacPeer);  // unsolicited, no entry: not created (§7.2.5)
  EXPECT_FALSE(n.v6->neigh().lookup(kPeerGlobal, 0, m));
  na(kNaSolicited, kMacPeer);  // solicited: created
  ASSERT_TRUE(n.v6->neigh().lookup(kPeerGlobal, 0, m));
  EXPECT_EQ(m, kMacPeer);
  na(kNaSolicited, other);  // O clear: a known address is not replaced
  ASSERT_TRUE(n.v6->neigh().lookup(kPeerGlobal, 0, m));
  EXPECT_EQ(m, kMacPeer);
  na(kNaOverride, other);  // O set: replaced
  ASSERT_TRUE(n.v6->neigh().lookup(kPeerGlobal, 0, m));
  EXPECT_EQ(m, other);
  EXPECT_TRUE(n.sent.empty());
  EXPECT_EQ(n.stats().total_drops(), 0u);
}

TEST(Ipv6Stack, EchoReplyWithExtensionHeadersStripped) {
  Node n(kMacA, opts(kGlobalA));
  MacAddr m;
  n.v6->neigh().update(kPeerGlobal, kMacPeer, 0, true);
  // Hop-by-Hop (PadN) then Destination Options (PadN), then the request.
  Frame ext{kIpv6DestOpts, 0, 1, 4, 0, 0, 0, 0, kIpProtoIcmpv6, 0, 1, 4, 0, 0, 0, 0};
  const Frame req = echo_request(0xbeef, 9, 100);
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, req, 17, ext, kIpv6HopByHop));
  ASSERT_EQ(n.sent.size(), 1u);
  Parsed p = parse(n.take());
  ASSERT_TRUE(p.ok);  // checksum verified in parse()
  EXPECT_EQ(p.eth.dst, kMacPeer);
  EXPECT_EQ(p.ip.src, kGlobalA);
  EXPECT_EQ(p.ip.dst, kPeerGlobal);
  EXPECT_EQ(p.ip.hop_limit, kIpv6DefaultHopLimit);
  EXPECT_EQ(p.ip.next_header, kIpProtoIcmpv6);  // no extension headers in the reply
  ASSERT_EQ(p.ip.l4_len(), req.size());
  EXPECT_EQ(p.l4()[0], kIcmpv6EchoReply);
  EXPECT_EQ(p.l4()[1], 0);
  EXPECT_EQ(std::memcmp(p.l4() + 4, req.data() + 4, req.size() - 4), 0);  // identifier, sequence, data
  EXPECT_EQ(n.stats().icmp6_echo_replies.load(), 1u);
  // An atomic fragment is a whole packet (RFC 6946), padding is trimmed.
  Frame frag{kIpProtoIcmpv6, 0, 0, 0, 0, 0, 0, 7};
  Frame f = frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, req, 64, frag, kIpv6Fragment);
  f.resize(f.size() + 20, 0xaa);
  n.feed(f);
  ASSERT_EQ(n.sent.size(), 1u);
  p = parse(n.take());
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.ip.l4_len(), req.size());
  EXPECT_EQ(n.sent.size(), 0u);
  // To all-nodes: answered from our link-local address (peer is link-local).
  n.v6->neigh().update(kPeerLL, kMacPeer, 0, true);
  n.feed(frame6(ipv6_multicast_mac(ipv6_all_nodes()), kMacPeer, kPeerLL, ipv6_all_nodes(), kIpProtoIcmpv6,
                echo_request(1, 2)));
  ASSERT_EQ(n.sent.size(), 1u);
  p = parse(n.take());
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.ip.src, n.v6->addr(Ipv6Port::kLinkLocal));
  EXPECT_EQ(p.ip.dst, kPeerLL);
  EXPECT_EQ(n.stats().icmp6_echo_replies.load(), 3u);
  (void)m;
}

TEST(Ipv6Stack, TwoStacksResolveEachOtherAndPing) {
  Node a(kMacA, opts(kGlobalA, 1)), b(kMacB, opts(kGlobalB, 1));
  a.nw->start_ipv6(0, 0);
  b.nw->start_ipv6(0, 0);
  a.nw->flush();
  b.nw->flush();
  pump(a, b, 0);  // the probes cross: no conflict (different addresses)
  a.nw->tick(kRetrans);
  b.nw->tick(kRetrans);
  ASSERT_TRUE(a.v6->usable(1) && b.v6->usable(1) && a.v6->usable(0) && b.v6->usable(0));
  for (bool global : {true, false}) {
    const Ipv6Addr src = global ? kGlobalA : a.v6->addr(0), dst = global ? kGlobalB : b.v6->addr(0);
    // A sends an echo request to B: held while ND resolves B.
    Frame req = frame6(MacAddr{}, kMacA, src, dst, kIpProtoIcmpv6, echo_request(7, global ? 1 : 2));
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(req.size())), req.data(), req.size());
    a.nw->ip6_output(0, m, dst, kRetrans + 1);
    a.nw->flush();
    EXPECT_EQ(a.nw->pending(), 1u);
    ASSERT_EQ(a.sent.size(), 1u);
    Parsed ns = parse(a.sent.front());
    ASSERT_TRUE(ns.ok);
    EXPECT_EQ(ns.ip.dst, ipv6_solicited_node(dst));
    EXPECT_EQ(ns.ip.src, src);
    EXPECT_EQ(nd_of(ns).target, dst);
    EXPECT_EQ(nd_of(ns).lla, kMacA);
    // NS -> B (answers, learns A) -> NA -> A (learns B, sends the request)
    // -> B (echo reply straight to A) -> A (an echo reply: not a service).
    pump(a, b, kRetrans + 2);
    EXPECT_EQ(a.nw->pending(), 0u);
    MacAddr mac;
    ASSERT_TRUE(a.v6->neigh().lookup(dst, kRetrans + 2, mac));
    EXPECT_EQ(mac, kMacB);
    ASSERT_TRUE(b.v6->neigh().lookup(src, kRetrans + 2, mac));
    EXPECT_EQ(mac, kMacA);
  }
  EXPECT_EQ(b.stats().icmp6_echo_replies.load(), 2u);
  EXPECT_EQ(a.drops(Drop::icmp6_type), 2u);  // the two replies reached A
  // Each heard the other's MLD report and two DAD probes, for groups it has not joined.
  EXPECT_EQ(a.drops(Drop::multicast), 3u);
  EXPECT_EQ(b.drops(Drop::multicast), 3u);
  EXPECT_EQ(b.stats().nd_advertisements_sent.load(), 2u);
  EXPECT_EQ(a.stats().nd_learned.load(), 2u);
  EXPECT_EQ(b.stats().nd_learned.load(), 2u);
  EXPECT_EQ(a.stats().total_drops(), 5u);
  EXPECT_EQ(b.stats().total_drops(), 3u);
}

TEST(Ipv6Stack, MldReportsAndQueries) {
  // A global address whose solicited-node group differs from the link-local one's.
  const Ipv6Addr global = A("2001:db8:1::1:2:3");
  Node n(kMacA, opts(global, 1));
  const Ipv6Addr g_ll = ipv6_solicited_node(n.v6->addr(0)), g_gl = ipv6_solicited_node(global);
  auto check_report = [&](const Parsed& p, const Ipv6Addr& src, std::uint8_t record, unsigned groups) {
    ASSERT_TRUE(p.ok);
    EXPECT_EQ(p.eth.dst, ipv6_multicast_mac(ipv6_all_mldv2_routers()));
    EXPECT_EQ(p.ip.dst, ipv6_all_mldv2_routers());
    EXPECT_EQ(p.ip.src, src);
    EXPECT_EQ(p.ip.hop_limit, 1);
    EXPECT_TRUE(p.ip.router_alert);
    ASSERT_EQ(p.ip.l4_len(), 8u + 20 * groups);
    EXPECT_EQ(p.l4()[0], kIcmpv6MldV2Report);
    EXPECT_EQ(load_be16(p.l4() + 6), groups);
    for (unsigned i = 0; i < groups; ++i) {
      EXPECT_EQ(p.l4()[8 + 20 * i], record);
      EXPECT_EQ(load_be16(p.l4() + 8 + 20 * i + 2), 0);  // no sources
    }
  };
  // At start: joined (CHANGE_TO_EXCLUDE), from :: as the link-local address is tentative.
  n.nw->start_ipv6(0, 0);
  n.nw->flush();
  ASSERT_EQ(n.sent.size(), 3u);
  Parsed r = parse(n.take());
  check_report(r, Ipv6Addr{}, kMldChangeToExclude, 2);
  Ipv6Addr first, second;
  std::memcpy(first.b.data(), r.l4() + 12, 16);
  std::memcpy(second.b.data(), r.l4() + 32, 16);
  EXPECT_EQ(first, g_ll);
  EXPECT_EQ(second, g_gl);
  n.sent.clear();
  n.nw->tick(kRetrans);
  ASSERT_TRUE(n.v6->usable(0));

  // Queries: general (v2) to all-nodes, specific for one of our groups, v1.
  const Ipv6Addr router = A("fe80::1");
  const Frame hbh{kIpProtoIcmpv6, 0, 5, 2, 0, 0, 1, 0};  // Router Alert
  auto query = [&](const Ipv6Addr& dst, const Ipv6Addr& group, std::size_t len, std::uint8_t hop = 1,
                   const Ipv6Addr& src = A("fe80::1"), bool ra = true) {
    Frame q(len, 0);
    q[0] = kIcmpv6MldQuery;
    std::memcpy(q.data() + 8, group.b.data(), 16);
    const Frame noopt{kIpProtoIcmpv6, 0, 1, 4, 0, 0, 0, 0};
    n.feed(frame6(ipv6_multicast_mac(dst), kMacPeer, src, dst, kIpProtoIcmpv6, q, hop, ra ? hbh : noopt,
                  kIpv6HopByHop));
  };
  query(ipv6_all_nodes(), Ipv6Addr{}, 28);
  ASSERT_EQ(n.sent.size(), 1u);
  check_report(parse(n.take()), n.v6->addr(0), kMldModeIsExclude, 2);
  query(g_gl, g_gl, 28);
  ASSERT_EQ(n.sent.size(), 1u);
  r = parse(n.take());
  check_report(r, n.v6->addr(0), kMldModeIsExclude, 1);
  std::memcpy(first.b.data(), r.l4() + 12, 16);
  EXPECT_EQ(first, g_gl);
  query(ipv6_all_nodes(), ipv6_all_nodes(), 28);  // all-nodes is never reported
  EXPECT_TRUE(n.sent.empty());
  query(ipv6_all_nodes(), Ipv6Addr{}, kMldV1Len);  // MLDv1: one report per group, to the group
  ASSERT_EQ(n.sent.size(), 2u);
  for (const Ipv6Addr& g : {g_ll, g_gl}) {
    Parsed v1 = parse(n.take());
    ASSERT_TRUE(v1.ok);
    EXPECT_EQ(v1.ip.dst, g);
    EXPECT_EQ(v1.eth.dst, ipv6_multicast_mac(g));
    EXPECT_EQ(v1.ip.hop_limit, 1);
    EXPECT_TRUE(v1.ip.router_alert);
    ASSERT_EQ(v1.ip.l4_len(), kMldV1Len);
    EXPECT_EQ(v1.l4()[0], kIcmpv6MldV1Report);
    std::memcpy(first.b.data(), v1.l4() + 8, 16);
    EXPECT_EQ(first, g);
  }
  EXPECT_EQ(n.stats().mld_reports_sent.load(), 5u);
  // RFC 3810 §6.2: not link-local, hop limit not 1, no Router Alert, bad length: dropped.
  query(ipv6_all_nodes(), Ipv6Addr{}, 28, 1, A("2001:db8:1::9"));
  query(ipv6_all_nodes(), Ipv6Addr{}, 28, 2);
  query(ipv6_all_nodes(), Ipv6Addr{}, 28, 1, router, false);
  query(ipv6_all_nodes(), Ipv6Addr{}, 26);
  EXPECT_EQ(n.drops(Drop::mld_invalid), 4u);
  EXPECT_TRUE(n.sent.empty());
  EXPECT_EQ(n.stats().total_drops(), 4u);
}

TEST(Ipv6Stack, RoutesOffLinkViaTheGatewayAndTimesOut) {
  Ipv6Options o = opts(kGlobalA);
  o.gateway = A("fe80::1");
  Node n(kMacA, o);
  Node nogw(kMacA, opts(kGlobalA));
  const Ipv6Addr far = A("2001:db8:99::1");
  auto out = [&](Node& x) {
    Frame req = frame6(MacAddr{}, kMacA, kGlobalA, far, kIpProtoIcmpv6, echo_request(1, 1));
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(req.size())), req.data(), req.size());
    x.nw->ip6_output(0, m, far, 0);
    x.nw->flush();
  };
  out(nogw);
  EXPECT_EQ(nogw.drops(Drop::no_route), 1u);
  out(n);
  ASSERT_EQ(n.sent.size(), 1u);
  Parsed ns = parse(n.take());
  ASSERT_TRUE(ns.ok);
  EXPECT_EQ(nd_of(ns).target, A("fe80::1"));  // the gateway is resolved, not the destination
  EXPECT_EQ(ns.ip.src, n.v6->addr(Ipv6Port::kLinkLocal));
  n.nw->tick(kRetrans);  // retry
  n.nw->flush();
  EXPECT_EQ(n.sent.size(), 1u);
  n.nw->tick(kResolve);
  EXPECT_EQ(n.drops(Drop::neigh_unresolved), 1u);
  EXPECT_EQ(n.nw->pending(), 0u);
  // Once the gateway answers, traffic goes to its MAC.
  n.v6->neigh().update(A("fe80::1"), kMacPeer, kResolve, true);
  n.sent.clear();
  rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
  Frame req = frame6(MacAddr{}, kMacA, kGlobalA, far, kIpProtoIcmpv6, echo_request(1, 1));
  std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(req.size())), req.data(), req.size());
  n.nw->ip6_output(0, m, far, kResolve);
  n.nw->flush();
  ASSERT_EQ(n.sent.size(), 1u);
  Parsed p = parse(n.take());
  EXPECT_EQ(p.eth.dst, kMacPeer);
  EXPECT_EQ(p.ip.dst, far);
}

TEST(Ipv6Stack, MalformedFramesAreCountedAndDropped) {
  Node n(kMacA, opts(kGlobalA));
  n.v6->neigh().update(kPeerGlobal, kMacPeer, 0, true);
  const Frame good = frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, echo_request(1, 1));
  auto with = [&](auto mutate) {
    Frame f = good;
    mutate(f);
    n.feed(f);
  };
  const std::size_t ip = kEthHdrLen;
  with([&](Frame& f) { f.resize(ip + 39); });                       // ipv6_short
  with([&](Frame& f) { f[ip] = 0x40; });                            // ipv6_version
  with([&](Frame& f) { store_be16(f.data() + ip + 4, 1000); });     // ipv6_payload_len
  auto ext = [&](const Frame& hdrs, std::uint8_t first, const Frame& l4 = echo_request(1, 1)) {
    n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, l4, 64, hdrs, first));
  };
  ext({kIpProtoIcmpv6, 3, 1, 4, 0, 0, 0, 0}, kIpv6DestOpts, echo_request(1, 1, 0));  // ipv6_ext_truncated: 32 of 16
  {
    Frame nine;
    for (int i = 0; i < 9; ++i) nine.insert(nine.end(), {std::uint8_t(i == 8 ? kIpProtoIcmpv6 : kIpv6DestOpts), 0, 1, 4, 0, 0, 0, 0});
    ext(nine, kIpv6DestOpts);                                        // ipv6_ext_chain
  }
  ext({kIpv6HopByHop, 0, 1, 4, 0, 0, 0, 0, kIpProtoIcmpv6, 0, 1, 4, 0, 0, 0, 0}, kIpv6DestOpts);  // ipv6_ext_chain (HbH second)
  ext({kIpProtoIcmpv6, 0, 0x8d, 4, 0, 0, 0, 0}, kIpv6HopByHop);     // ipv6_option
  ext({kIpProtoIcmpv6, 0, 0, 2, 0, 0, 0, 0}, kIpv6Routing);         // ipv6_routing
  ext({kIpProtoIcmpv6, 0, 0, 1, 0, 0, 0, 1}, kIpv6Fragment);        // ipv6_fragment
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalB, kIpProtoIcmpv6, echo_request(1, 1)));  // ipv6_not_for_us
  n.feed(frame6(kMacA, kMacPeer, A("ff02::1"), kGlobalA, kIpProtoIcmpv6, echo_request(1, 1)));  // ipv6_bad_src
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, 17, Frame(16, 0)));  // ipv6_proto (UDP)
  with([&](Frame& f) { f[f.size() - 1] ^= 0x55; });                // icmp6_checksum
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, Frame{1, 2}));  // icmp6_short
  {
    Frame rs{kIcmpv6RouterSolicit, 0, 0, 0, 0, 0, 0, 0};
    n.feed(frame6(ipv6_multicast_mac(ipv6_all_nodes()), kMacPeer, kPeerLL, ipv6_all_nodes(), kIpProtoIcmpv6, rs,
                  255));                                             // icmp6_type
  }
  const Frame ns = nd_msg(kIcmpv6NeighborSolicit, kGlobalA, 0, &kMacPeer);
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, ns, 64));  // nd_hop_limit (routed ND)
  {
    Frame bad = ns;
    bad[1] = 1;
    n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, bad, 255));  // nd_invalid (code)
    bad = ns;
    bad[kNdMsgLen + 1] = 0;
    n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, bad, 255));  // nd_bad_option
  }
  n.feed(Frame(kEthHdrLen - 1, 0));                                 // eth_runt
  EXPECT_TRUE(n.sent.empty());
  for (Drop d : {Drop::ipv6_short, Drop::ipv6_version, Drop::ipv6_payload_len, Drop::ipv6_ext_truncated,
                 Drop::ipv6_option, Drop::ipv6_routing, Drop::ipv6_fragment, Drop::ipv6_not_for_us,
                 Drop::ipv6_bad_src, Drop::ipv6_proto, Drop::icmp6_checksum, Drop::icmp6_short, Drop::icmp6_type,
                 Drop::nd_hop_limit, Drop::nd_invalid, Drop::nd_bad_option, Drop::eth_runt})
    EXPECT_EQ(n.drops(d), 1u) << drop_name(d);
  EXPECT_EQ(n.drops(Drop::ipv6_ext_chain), 2u);
  EXPECT_EQ(n.stats().total_drops(), 19u);
  EXPECT_EQ(n.stats().rx_packets.load(), 19u);
  // And the good frame still gets its answer.
  n.feed(good);
  EXPECT_EQ(n.sent.size(), 1u);
}

TEST(Ipv6Stack, PortWithoutIpv6DropsItAsBefore) {
  Node n(kMacA, opts(kGlobalA), false);
  n.feed(frame6(kMacA, kMacPeer, kPeerGlobal, kGlobalA, kIpProtoIcmpv6, echo_request(1, 1)));
  n.feed(frame6(ipv6_multicast_mac(ipv6_all_nodes()), kMacPeer, kPeerLL, ipv6_all_nodes(), kIpProtoIcmpv6,
                echo_request(1, 1)));
  EXPECT_EQ(n.drops(Drop::ethertype), 1u);
  EXPECT_EQ(n.drops(Drop::multicast), 1u);
  EXPECT_TRUE(n.sent.empty());
  n.nw->start_ipv6(0, 0);  // a no-op
  n.nw->flush();
  EXPECT_TRUE(n.sent.empty());
}
