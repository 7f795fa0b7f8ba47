#include "turnpike/net/stack.hpp"

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstring>

#include "turnpike/net/checksum.hpp"

namespace turnpike::net {

NetWorker::NetWorker(std::vector<PortNet> ports, rte_mempool* pool, TxFn tx, std::uint32_t pending_max,
                     NetTimers timers)
    : ports_(std::move(ports)), pool_(pool), tx_fn_(std::move(tx)), timers_(timers) {
  for (std::size_t i = 0; i < ports_.size(); ++i) stats_.push_back(std::make_unique<PortStats>());
  tx_.resize(ports_.size());
  links_.resize(ports_.size());
  pending_.resize(pending_max ? pending_max : 1);
}

NetWorker::~NetWorker() {
  flush();
  for (std::uint32_t i = 0; i < pending_n_; ++i) rte_pktmbuf_free(pending_[i].m);
}

void NetWorker::drop(std::uint16_t port, rte_mbuf* m, Drop why) {
  stats_[port]->drop(why);
  rte_pktmbuf_free(m);
}

void NetWorker::enqueue_tx(std::uint16_t port, rte_mbuf* m) {
  TxBuf& b = tx_[port];
  b.pkts[b.n++] = m;
  if (b.n == kBurst) flush();
}

void NetWorker::flush() {
  for (std::uint16_t p = 0; p < tx_.size(); ++p) {
    TxBuf& b = tx_[p];
    if (!b.n) continue;
    std::uint64_t bytes = 0;
    for (std::uint16_t i = 0; i < b.n; ++i) bytes += rte_pktmbuf_pkt_len(b.pkts[i]);
    const std::uint16_t sent = tx_fn_(p, b.pkts.data(), b.n);
    // l3fwd send_burst: what the NIC refuses is freed and counted, never retried
    // from here (the queue is full; retrying would stall RX).
    for (std::uint16_t i = sent; i < b.n; ++i) {
      bytes -= rte_pktmbuf_pkt_len(b.pkts[i]);
      drop(p, b.pkts[i], Drop::tx_full);
    }
    stats_[p]->tx_packets.add(sent);
    stats_[p]->tx_bytes.add(bytes);
    b.n = 0;
  }
}

void NetWorker::input(std::uint16_t port, rte_mbuf** pkts, std::uint16_t n, std::uint64_t now) {
  PortStats& st = *stats_[port];
  const PortNet& pn = ports_[port];
  std::uint64_t bytes = 0;
  for (std::uint16_t i = 0; i < n; ++i) {
    if (i + 2 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void*));
    rte_mbuf* m = pkts[i];
    bytes += rte_pktmbuf_pkt_len(m);
    const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
    EthHdr eth;
    if (!parse_eth(d, rte_pktmbuf_data_len(m), eth)) {
      drop(port, m, Drop::eth_runt);
      continue;
    }
    if (eth.dst != pn.mac && !eth.dst.is_broadcast()) {
      // IPv6 multicast only for the groups we joined (all-nodes and our
      // solicited-node groups, RFC 4861 §7.2.1).
      if (!(pn.v6 && pn.v6->accepts_mac(eth.dst))) {
        drop(port, m, eth.dst.is_multicast() ? Drop::multicast : Drop::not_for_us);
        continue;
      }
    }
    switch (eth.ether_type) {
      case kEtherTypeIpv4: handle_ipv4(port, m, now); break;
      case kEtherTypeArp: handle_arp(port, m, eth, now); break;
      case kEtherTypeIpv6:
        if (pn.v6) {
          handle_ipv6(port, m, eth, now);
          break;
        }
        [[fallthrough]];
      default: drop(port, m, Drop::ethertype);
    }
  }
  st.rx_packets.add(n);
  st.rx_bytes.add(bytes);
}

void NetWorker::handle_arp(std::uint16_t port, rte_mbuf* m, const EthHdr& eth, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  PortStats& st = *stats_[port];
  auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
  ArpPkt a;
  switch (parse_arp(d + kEthHdrLen, rte_pktmbuf_data_len(m) - kEthHdrLen, a)) {
    case ArpParse::Ok: break;
    case ArpParse::Short: return drop(port, m, Drop::arp_short);
    default: return drop(port, m, Drop::arp_format);
  }
  if (a.op != static_cast<std::uint16_t>(ArpOp::Request) && a.op != static_cast<std::uint16_t>(ArpOp::Reply))
    return drop(port, m, Drop::arp_op);
  if (a.sha.is_multicast() || a.sha.is_zero() || a.spa == 0xffffffffu || (a.spa >> 28) == 0xe ||
      a.spa == pn.ip)
    // spa == ours: a conflict (RFC 5227 §2.4) — never let it poison the table.
    return drop(port, m, Drop::arp_bad_sender);
  (void)eth;
  // RFC 826 "Packet Reception": merge first, then add only if we are the target.
  const bool for_us = a.tpa == pn.ip;
  bool learned = a.spa != 0 && pn.neigh->update(a.spa, a.sha, now, for_us);
  if (learned) st.arp_learned.add();
  if (!for_us) {
    if (learned) {
      rte_pktmbuf_free(m);  // refreshed an entry from someone else's ARP (RFC 826 merge)
      return;
    }
    return drop(port, m, Drop::arp_not_for_us);
  }
  if (a.op != static_cast<std::uint16_t>(ArpOp::Request)) {
    rte_pktmbuf_free(m);  // a reply to us: learning was the whole job
    return;
  }
  // Answer in place: swap roles, fill in our hardware address.
  write_eth(d, a.sha, pn.mac, kEtherTypeArp);
  write_arp(d + kEthHdrLen, ArpOp::Reply, pn.mac, pn.ip, a.sha, a.spa);
  rte_pktmbuf_data_len(m) = kEthHdrLen + kArpLen;
  rte_pktmbuf_pkt_len(m) = kEthHdrLen + kArpLen;
  st.arp_requests_answered.add();
  enqueue_tx(port, m);
}

void NetWorker::handle_ipv4(std::uint16_t port, rte_mbuf* m, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*) + kEthHdrLen;
  Ipv4Hdr ip;
  // A port with RX checksum offload has judged the header already.
  const std::uint64_t ipck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (ipck == RTE_MBUF_F_RX_IP_CKSUM_BAD) return drop(port, m, Drop::ipv4_checksum);
  switch (parse_ipv4_hdr(d, rte_pktmbuf_data_len(m) - kEthHdrLen, ip, ipck != RTE_MBUF_F_RX_IP_CKSUM_GOOD)) {
    case Ipv4Parse::Ok: break;
    case Ipv4Parse::Short: return drop(port, m, Drop::ipv4_short);
    case Ipv4Parse::BadVersion: return drop(port, m, Drop::ipv4_version);
    case Ipv4Parse::BadIhl: return drop(port, m, Drop::ipv4_ihl);
    case Ipv4Parse::BadTotalLen: return drop(port, m, Drop::ipv4_total_len);
    case Ipv4Parse::BadChecksum: return drop(port, m, Drop::ipv4_checksum);
  }
  if (ip.dst != pn.ip) return drop(port, m, Drop::ipv4_not_for_us);
  // RFC 1122 §3.2.1.3: a source that is broadcast, multicast, "this host" or
  // our own address cannot be answered; silently discard.
  if (ip.src == 0 || ip.src == 0xffffffffu || (ip.src >> 28) == 0xe || ip.src == pn.ip ||
      (pn.on_link(ip.src) && ip.src == pn.subnet_broadcast()))
    return drop(port, m, Drop::ipv4_bad_src);
  if (ip.is_fragment()) return drop(port, m, Drop::ipv4_fragment);
  // RFC 1122 §3.2.1.7: a host does not discard a datagram for a low TTL.
  // Trim Ethernet padding so upper layers see exactly total_len.
  const std::uint32_t frame = kEthHdrLen + ip.total_len;
  if (rte_pktmbuf_pkt_len(m) > frame) rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - frame);
  if (ip.proto == kIpProtoIcmp) return handle_icmp(port, m, ip, now);
  if (l4_ && l4_(port, m, ip, now)) return;
  drop(port, m, Drop::ipv4_proto);
}

void NetWorker::handle_icmp(std::uint16_t port, rte_mbuf* m, const Ipv4Hdr& ip, std::uint64_t now) {
  auto* d = rte_pktmbuf_mtod(m, std::uint8_t*) + kEthHdrLen;
  std::uint8_t* icmp = d + ip.ihl_bytes;
  const std::size_t icmp_len = ip.total_len - ip.ihl_bytes;
  if (icmp_len < kIcmpEchoHdr) return drop(port, m, Drop::icmp_short);
  if (inet_checksum(icmp, icmp_len) != 0) return drop(port, m, Drop::icmp_checksum);
  if (icmp[0] != kIcmpEchoRequest || icmp[1] != 0) return drop(port, m, Drop::icmp_type);
  // RFC 792 echo: same identifier, sequence and data; type 0. Options of the
  // request are not copied (we send a 20-byte header).
  if (ip.ihl_bytes != kIpv4MinHdr) {
    std::memmove(d + kIpv4MinHdr, icmp, icmp_len);
    rte_pktmbuf_trim(m, ip.ihl_bytes - kIpv4MinHdr);
    icmp = d + kIpv4MinHdr;
  }
  icmp[0] = kIcmpEchoReply;
  // RFC 1624 eqn. 3 incremental update: HC' = ~(~HC + ~m + m'), m = 0x0800 -> 0.
  const std::uint32_t sum = std::uint32_t(static_cast<std::uint16_t>(~load_be16(icmp + 2))) + 0xf7ffu;
  std::uint16_t ck = csum_fold(sum);
  if (ck == 0) {
    // 0x0000 is wrong only when the rest sums to +0 (all-zero message), where
    // the checksum must be 0xffff; recompute that rare case from scratch.
    store_be16(icmp + 2, 0);
    ck = inet_checksum(icmp, icmp_len);
  }
  store_be16(icmp + 2, ck);
  write_ipv4_hdr(d, static_cast<std::uint16_t>(kIpv4MinHdr + icmp_len), ip_id_++, kDefaultTtl, kIpProtoIcmp,
                 ports_[port].ip, ip.src);
  stats_[port]->icmp_echo_replies.add();
  ip_output(port, m, ip.src, now);
}

void NetWorker::ip_output(std::uint16_t port, rte_mbuf* m, Ipv4Addr dst, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  Ipv4Addr nexthop = dst;
  if (!pn.on_link(dst)) {
    if (!pn.gateway) return drop(port, m, Drop::no_route);
    nexthop = pn.gateway;
  }
  MacAddr mac;
  if (!pn.neigh->lookup(nexthop, now, mac)) {
    hold(port, m, nexthop, now);
    return;
  }
  write_eth(rte_pktmbuf_mtod(m, std::uint8_t*), mac, pn.mac, kEtherTypeIpv4);
  enqueue_tx(port, m);
}

bool NetWorker::hold(std::uint16_t port, rte_mbuf* m, Ipv4Addr nexthop, std::uint64_t now) {
  if (pending_n_ == pending_.size()) {
    drop(port, m, Drop::neigh_queue_full);
    return false;
  }
  const Pending p{m, port, false, nexthop, {}, now};
  bool asked = false;
  for (std::uint32_t i = 0; i < pending_n_; ++i) asked |= pending_[i].same_hop(p);
  pending_[pending_n_++] = p;
  pending_pub_.store(pending_n_, std::memory_order_relaxed);
  stats_[port]->neigh_queued.add();
  if (!asked) solicit(port, nexthop);
  if (pending_n_ == 1) next_retry_ = now + timers_.arp_retry;
  return true;
}

void NetWorker::tick(std::uint64_t now) {
  if (!dad_.empty()) tick_dad(now);
  if (announcing_) tick_announce(now);
  if (!pending_n_) return;
  std::uint64_t gen = 0;
  for (auto& p : ports_) gen += p.neigh->generation() + (p.v6 ? p.v6->neigh().generation() : 0);
  const bool changed = gen != seen_generation_;
  const bool retry = now >= next_retry_;
  if (!changed && !retry) return;
  seen_generation_ = gen;
  std::uint32_t keep = 0;
  for (std::uint32_t i = 0; i < pending_n_; ++i) {
    Pending e = pending_[i];
    const PortNet& pn = ports_[e.port];
    MacAddr mac;
    if (resolve_pending(e, now, mac)) {
      write_eth(rte_pktmbuf_mtod(e.m, std::uint8_t*), mac, pn.mac, e.v6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
      enqueue_tx(e.port, e.m);
    } else if (now - e.since >= timers_.resolve_timeout) {
      drop(e.port, e.m, Drop::neigh_unresolved);
    } else {
      pending_[keep++] = e;
    }
  }
  pending_n_ = keep;
  pending_pub_.store(pending_n_, std::memory_order_relaxed);
  if (retry) {
    // One request per distinct next hop still waiting (RFC 1122 §2.3.2.1
    // asks for at most one ARP per second per destination; RFC 4861 §7.2.2
    // one NS per RetransTimer).
    for (std::uint32_t i = 0; i < pending_n_; ++i) {
      bool dup = false;
      for (std::uint32_t j = 0; j < i && !dup; ++j) dup = pending_[j].same_hop(pending_[i]);
      if (!dup) solicit_pending(pending_[i]);
    }
    next_retry_ = now + timers_.arp_retry;
  }
}

static rte_mbuf* build_arp(rte_mempool* pool, ArpOp op, const MacAddr& eth_dst, const MacAddr& sha,
                           Ipv4Addr spa, const MacAddr& tha, Ipv4Addr tpa) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (!m) return nullptr;
  auto* d = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, kEthHdrLen + kArpLen));
  write_eth(d, eth_dst, sha, kEtherTypeArp);
  write_arp(d + kEthHdrLen, op, sha, spa, tha, tpa);
  return m;
}

bool NetWorker::announce(std::uint16_t port) {
  const PortNet& pn = ports_[port];
  // RFC 5227 §2.3: sender and target IP both ours, target hardware zero.
  rte_mbuf* m = build_arp(pool_, ArpOp::Request, MacAddr::broadcast(), pn.mac, pn.ip, MacAddr{}, pn.ip);
  if (!m) {
    stats_[port]->drop(Drop::mbuf_alloc);
    return false;
  }
  // Straight to the queue, not batched: whether it went out decides whether
  // it is tried again (a memif link is up a moment before its peer posts
  // receive buffers, and the queue refuses the frame).
  const std::uint32_t len = rte_pktmbuf_pkt_len(m);
  if (tx_fn_(port, &m, 1) != 1) {
    drop(port, m, Drop::tx_full);
    return false;
  }
  stats_[port]->tx_packets.add();
  stats_[port]->tx_bytes.add(len);
  stats_[port]->arp_gratuitous_sent.add();
  return true;
}

void NetWorker::link_state(std::uint16_t port, bool up, std::uint64_t now) {
  Link& l = links_[port];
  if (up == l.up) return;
  l.up = up;
  if (l.announce_left) --announcing_;
  l.announce_left = 0;  // a link going down takes the rest with it; up starts again
  if (!up) return;
  stats_[port]->link_ups.add();
  // RFC 5227 §2.3: ANNOUNCE_NUM announcements, ANNOUNCE_INTERVAL apart.
  l.announce_left = kAnnounceNum;
  l.refused = 0;
  l.next_announce = now;
  ++announcing_;
  tick_announce(now);
  if (ports_[port].gateway) solicit(port, ports_[port].gateway);
  // RFC 4862 §5.4: DAD needs a working link; probes into a down one prove nothing.
  if (!l.ever_up) start_ipv6(port, now);
  l.ever_up = true;
}

void NetWorker::tick_announce(std::uint64_t now) {
  const std::uint64_t every = timers_.announce_interval ? timers_.announce_interval : timers_.arp_retry;
  for (std::uint16_t p = 0; p < links_.size(); ++p) {
    Link& l = links_[p];
    if (!l.announce_left || now < l.next_announce) continue;
    if (announce(p)) {
      l.next_announce = now + every;
      if (!--l.announce_left) --announcing_;
    } else if (++l.refused < kAnnounceTries) {
      l.next_announce = now + every / 16;  // refused (counted): soon again
    } else {
      l.announce_left = 0;  // the queue never took them: given up, each refusal counted
      --announcing_;
    }
  }
}

bool NetWorker::solicit(std::uint16_t port, Ipv4Addr ip) {
  const PortNet& pn = ports_[port];
  rte_mbuf* m = build_arp(pool_, ArpOp::Request, MacAddr::broadcast(), pn.mac, pn.ip, MacAddr{}, ip);
  if (!m) {
    stats_[port]->drop(Drop::mbuf_alloc);
    return false;
  }
  stats_[port]->arp_requests_sent.add();
  enqueue_tx(port, m);
  return true;
}

}  // namespace turnpike::net

// ---- IPv6 (RFC 8200), ICMPv6 (RFC 4443), ND (RFC 4861), DAD (RFC 4862) ----

namespace turnpike::net {

namespace {
std::uint8_t* append_frame(rte_mbuf* m, std::size_t len) {
  return reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(len)));
}
}  // namespace

bool NetWorker::resolve_pending(const Pending& e, std::uint64_t now, MacAddr& mac) const {
  const PortNet& pn = ports_[e.port];
  return e.v6 ? pn.v6->neigh().lookup(e.nexthop6, now, mac) : pn.neigh->lookup(e.nexthop, now, mac);
}

void NetWorker::solicit_pending(const Pending& e) {
  if (e.v6)
    solicit6(e.port, e.nexthop6);
  else
    solicit(e.port, e.nexthop);
}

void NetWorker::handle_ipv6(std::uint16_t port, rte_mbuf* m, const EthHdr& eth, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  Ipv6Port& v6 = *pn.v6;
  const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*) + kEthHdrLen;
  Ipv6Hdr ip;
  switch (parse_ipv6_hdr(d, rte_pktmbuf_data_len(m) - kEthHdrLen, ip)) {
    case Ipv6Parse::Ok: break;
    case Ipv6Parse::Short: return drop(port, m, Drop::ipv6_short);
    case Ipv6Parse::BadVersion: return drop(port, m, Drop::ipv6_version);
    case Ipv6Parse::BadPayloadLen: return drop(port, m, Drop::ipv6_payload_len);
    case Ipv6Parse::ExtTruncated: return drop(port, m, Drop::ipv6_ext_truncated);
    case Ipv6Parse::ExtChain:
    case Ipv6Parse::HopByHopMisplaced: return drop(port, m, Drop::ipv6_ext_chain);
    case Ipv6Parse::BadOption: return drop(port, m, Drop::ipv6_option);
    case Ipv6Parse::Routing: return drop(port, m, Drop::ipv6_routing);
    case Ipv6Parse::Fragment: return drop(port, m, Drop::ipv6_fragment);
  }
  // Our own multicast echoed back by the link: never evidence of a
  // duplicate (RFC 4862 §5.4.3) nor anything to answer.
  if (eth.src == pn.mac) return drop(port, m, Drop::ipv6_bad_src);
  bool dst_usable = true;
  if (ip.dst.is_multicast()) {
    if (!v6.joined(ip.dst)) return drop(port, m, Drop::ipv6_not_for_us);
  } else {
    const int i = v6.find(ip.dst);
    if (i < 0) return drop(port, m, Drop::ipv6_not_for_us);
    // RFC 4862 §5.4: a tentative address takes only ND messages.
    dst_usable = v6.usable(unsigned(i));
  }
  // Trim Ethernet padding so upper layers see exactly the payload length.
  const std::uint32_t frame = kEthHdrLen + kIpv6HdrLen + ip.payload_len;
  if (rte_pktmbuf_pkt_len(m) > frame) rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - frame);
  if (ip.proto == kIpProtoIcmpv6) return handle_icmp6(port, m, ip, dst_usable, eth, now);
  if (!dst_usable) return drop(port, m, Drop::ipv6_not_for_us);
  // RFC 4291 §2.7: multicast is never a source; :: only in DAD's NS.
  if (ip.src.is_multicast() || ip.src.is_unspecified() || v6.find(ip.src) >= 0)
    return drop(port, m, Drop::ipv6_bad_src);
  if (l6_ && l6_(port, m, ip, now)) return;
  drop(port, m, Drop::ipv6_proto);
}

void NetWorker::handle_icmp6(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip, bool dst_usable, const EthHdr& eth,
                             std::uint64_t now) {
  Ipv6Port& v6 = *ports_[port].v6;
  auto* d = rte_pktmbuf_mtod(m, std::uint8_t*) + kEthHdrLen;
  std::uint8_t* icmp = d + ip.l4_offset;
  const std::size_t n = ip.l4_len();
  if (n < kIcmpv6HdrLen) return drop(port, m, Drop::icmp6_short);
  if (ipv6_upper_checksum(ip.src, ip.dst, kIpProtoIcmpv6, icmp, n) != 0) return drop(port, m, Drop::icmp6_checksum);
  switch (icmp[0]) {
    case kIcmpv6NeighborSolicit:
    case kIcmpv6NeighborAdvert: return handle_nd(port, m, ip, eth, now);
    case kIcmpv6MldQuery: return handle_mld(port, m, ip);
    case kIcmpv6EchoRequest: break;
    default: return drop(port, m, Drop::icmp6_type);  // errors, other MLD, RS/RA, redirects: no service yet
  }
  if (!dst_usable) return drop(port, m, Drop::ipv6_not_for_us);
  if (ip.src.is_multicast() || ip.src.is_unspecified() || v6.find(ip.src) >= 0)
    return drop(port, m, Drop::ipv6_bad_src);
  if (n < 8) return drop(port, m, Drop::icmp6_short);  // type, code, checksum, identifier, sequence
  // RFC 4443 §4.2: same identifier, sequence and data. A request to a group
  // (all-nodes) is answered from our unicast address.
  const Ipv6Addr* from = ip.dst.is_multicast() ? v6.source_for(ip.src) : &ip.dst;
  if (!from) return drop(port, m, Drop::ipv6_no_source);
  const Ipv6Addr src = *from, dst = ip.src;
  if (ip.l4_offset != kIpv6HdrLen) {  // extension headers of the request are not echoed
    std::memmove(d + kIpv6HdrLen, icmp, n);
    icmp = d + kIpv6HdrLen;
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(ip.l4_offset - kIpv6HdrLen));
  }
  icmp[0] = kIcmpv6EchoReply;
  icmp[1] = 0;
  store_be16(icmp + 2, 0);
  write_ipv6_hdr(d, static_cast<std::uint16_t>(n), kIpProtoIcmpv6, kIpv6DefaultHopLimit, src, dst);
  store_be16(icmp + 2, ipv6_upper_checksum(src, dst, kIpProtoIcmpv6, icmp, n));
  stats_[port]->icmp6_echo_replies.add();
  ip6_output(port, m, dst, now);
}

void NetWorker::handle_nd(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip, const EthHdr& eth, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  Ipv6Port& v6 = *pn.v6;
  PortStats& st = *stats_[port];
  const auto* icmp = rte_pktmbuf_mtod(m, const std::uint8_t*) + kEthHdrLen + ip.l4_offset;
  NdMsg nd;
  switch (parse_nd(ip, icmp, ip.l4_len(), nd)) {
    case NdParse::Ok: break;
    case NdParse::HopLimit: return drop(port, m, Drop::nd_hop_limit);
    case NdParse::BadOption: return drop(port, m, Drop::nd_bad_option);
    default: return drop(port, m, Drop::nd_invalid);
  }
  if (ip.src.is_multicast()) return drop(port, m, Drop::ipv6_bad_src);
  const int t = v6.find(nd.target);

  if (nd.type == kIcmpv6NeighborAdvert) {
    // RFC 4862 §5.4.4: an NA for a tentative address of ours means another
    // node has it; for a preferred one, someone else claims it.
    if (t >= 0) {
      if (v6.state(unsigned(t)) == Ipv6Port::State::Tentative && v6.mark_duplicate(unsigned(t))) {
        st.nd_duplicates.add();
        rte_pktmbuf_free(m);
        return;
      }
      return drop(port, m, Drop::nd_conflict);
    }
    // RFC 4861 §7.2.5: no target link-layer address, nothing to learn; with
    // O clear a known different address is kept; an unsolicited NA only
    // refreshes an existing entry.
    MacAddr cur;
    const bool keep = !(nd.flags & kNaOverride) && v6.neigh().lookup(nd.target, now, cur) && cur != nd.lla;
    if (nd.has_lla && !keep && v6.neigh().update(nd.target, nd.lla, now, (nd.flags & kNaSolicited) != 0))
      st.nd_learned.add();
    rte_pktmbuf_free(m);
    return;
  }

  // Neighbor Solicitation.
  if (t < 0) return drop(port, m, Drop::nd_not_for_us);
  if (!v6.usable(unsigned(t))) {
    // RFC 4862 §5.4.3: an NS from :: for our tentative address is another
    // node's DAD, so ours is a duplicate; from a unicast source it is
    // address resolution, which a tentative address does not answer.
    if (ip.src.is_unspecified() && v6.state(unsigned(t)) == Ipv6Port::State::Tentative &&
        v6.mark_duplicate(unsigned(t))) {
      st.nd_duplicates.add();
      rte_pktmbuf_free(m);
      return;
    }
    return drop(port, m, Drop::nd_tentative);
  }
  Ipv6Addr to;
  MacAddr mac;
  std::uint32_t flags = kNaOverride;  // R clear: we are not a router
  if (ip.src.is_unspecified()) {
    // RFC 4861 §7.2.4: DAD for an address we hold: defend it to all-nodes, S clear.
    to = ipv6_all_nodes();
    mac = ipv6_multicast_mac(to);
  } else {
    if (v6.find(ip.src) >= 0) return drop(port, m, Drop::ipv6_bad_src);
    to = ip.src;
    flags |= kNaSolicited;
    if (nd.has_lla) {
      // §7.2.3: the sender's address is created or updated.
      if (v6.neigh().update(ip.src, nd.lla, now, true)) st.nd_learned.add();
      mac = nd.lla;
    } else if (!v6.neigh().lookup(ip.src, now, mac)) {
      mac = eth.src;  // a unicast probe without the option: answer the frame's sender
    }
  }
  rte_mbuf* out = rte_pktmbuf_alloc(pool_);
  if (!out) return drop(port, m, Drop::mbuf_alloc);
  std::uint8_t* f = append_frame(out, kNdFrameMax);
  write_eth(f, mac, pn.mac, kEtherTypeIpv6);
  write_nd(f + kEthHdrLen, kIcmpv6NeighborAdvert, flags, v6.addr(unsigned(t)), to, nd.target, &pn.mac);
  rte_pktmbuf_free(m);
  st.nd_advertisements_sent.add();
  enqueue_tx(port, out);
}

void NetWorker::ip6_output(std::uint16_t port, rte_mbuf* m, const Ipv6Addr& dst, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  if (!pn.v6) return drop(port, m, Drop::no_route);
  Ipv6Port& v6 = *pn.v6;
  MacAddr mac;
  if (dst.is_multicast()) {
    write_eth(rte_pktmbuf_mtod(m, std::uint8_t*), ipv6_multicast_mac(dst), pn.mac, kEtherTypeIpv6);
    return enqueue_tx(port, m);
  }
  Ipv6Addr nexthop = dst;
  if (!v6.on_link(dst)) {
    if (v6.options().gateway.is_unspecified()) return drop(port, m, Drop::no_route);
    nexthop = v6.options().gateway;
  }
  if (!v6.neigh().lookup(nexthop, now, mac)) {
    hold6(port, m, nexthop, now);
    return;
  }
  write_eth(rte_pktmbuf_mtod(m, std::uint8_t*), mac, pn.mac, kEtherTypeIpv6);
  enqueue_tx(port, m);
}

bool NetWorker::hold6(std::uint16_t port, rte_mbuf* m, const Ipv6Addr& nexthop, std::uint64_t now) {
  if (pending_n_ == pending_.size()) {
    drop(port, m, Drop::neigh_queue_full);
    return false;
  }
  const Pending p{m, port, true, 0, nexthop, now};
  bool asked = false;
  for (std::uint32_t i = 0; i < pending_n_; ++i) asked |= pending_[i].same_hop(p);
  pending_[pending_n_++] = p;
  pending_pub_.store(pending_n_, std::memory_order_relaxed);
  stats_[port]->neigh_queued.add();
  if (!asked) solicit6(port, nexthop);
  if (pending_n_ == 1) next_retry_ = now + (timers_.nd_retrans ? timers_.nd_retrans : timers_.arp_retry);
  return true;
}

bool NetWorker::solicit6(std::uint16_t port, const Ipv6Addr& target) {
  const PortNet& pn = ports_[port];
  if (!pn.v6) return false;
  // RFC 4861 §7.2.2: from our address of the right scope, to the target's
  // solicited-node group, with our link-layer address.
  const Ipv6Addr* src = pn.v6->source_for(target);
  if (!src) {
    stats_[port]->drop(Drop::ipv6_no_source);
    return false;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    stats_[port]->drop(Drop::mbuf_alloc);
    return false;
  }
  const Ipv6Addr group = ipv6_solicited_node(target);
  std::uint8_t* f = append_frame(m, kEthHdrLen + kIpv6HdrLen + kNdMsgLen + kNdLlaOptLen);
  write_eth(f, ipv6_multicast_mac(group), pn.mac, kEtherTypeIpv6);
  write_nd(f + kEthHdrLen, kIcmpv6NeighborSolicit, 0, *src, group, target, &pn.mac);
  stats_[port]->nd_solicitations_sent.add();
  enqueue_tx(port, m);
  return true;
}

bool NetWorker::send_dad_probe(std::uint16_t port, unsigned addr) {
  const PortNet& pn = ports_[port];
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    stats_[port]->drop(Drop::mbuf_alloc);
    return false;
  }
  // RFC 4862 §5.4.2: from ::, to the solicited-node group, no options.
  const Ipv6Addr& target = pn.v6->addr(addr);
  const Ipv6Addr group = ipv6_solicited_node(target);
  std::uint8_t* f = append_frame(m, kEthHdrLen + kIpv6HdrLen + kNdMsgLen);
  write_eth(f, ipv6_multicast_mac(group), pn.mac, kEtherTypeIpv6);
  write_nd(f + kEthHdrLen, kIcmpv6NeighborSolicit, 0, Ipv6Addr{}, group, target, nullptr);
  stats_[port]->nd_solicitations_sent.add();
  enqueue_tx(port, m);
  return true;
}

void NetWorker::handle_mld(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip) {
  const Ipv6Port& v6 = *ports_[port].v6;
  const auto* icmp = rte_pktmbuf_mtod(m, const std::uint8_t*) + kEthHdrLen + ip.l4_offset;
  MldQuery q;
  if (!parse_mld_query(ip, icmp, ip.l4_len(), q)) return drop(port, m, Drop::mld_invalid);
  rte_pktmbuf_free(m);
  // RFC 3810 §6.2 (RFC 2710 §4 for v1): a general query is answered with
  // every group we listen to, a group-specific one for a group of ours; the
  // answer is not delayed (0 is within any Maximum Response Delay).
  Ipv6Addr groups[kMldMaxGroups];
  unsigned n = v6.report_groups(groups);
  if (!q.group.is_unspecified()) {
    bool ours = false;
    for (unsigned i = 0; i < n; ++i) ours |= groups[i] == q.group;
    if (!ours) return;  // all-nodes is never reported (RFC 3810 §6)
    groups[0] = q.group;
    n = 1;
  }
  send_mld_report(port, groups, n, kMldModeIsExclude, !q.v2);
}

bool NetWorker::send_mld_report(std::uint16_t port, const Ipv6Addr* groups, unsigned n, std::uint8_t record,
                                bool v1) {
  const PortNet& pn = ports_[port];
  const Ipv6Port& v6 = *pn.v6;
  // RFC 3810 §5.2.13: from the link-local address, or :: while it is tentative.
  const Ipv6Addr src = v6.usable(Ipv6Port::kLinkLocal) ? v6.addr(Ipv6Port::kLinkLocal) : Ipv6Addr{};
  for (unsigned i = 0; i < (v1 ? n : 1u); ++i) {  // v1: one report per group, to the group
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (!m) {
      stats_[port]->drop(Drop::mbuf_alloc);
      return false;
    }
    std::uint8_t* f = append_frame(m, kMldFrameMax);
    const std::size_t len = v1 ? write_mld_v1_report(f + kEthHdrLen, src, groups[i])
                               : write_mld_report(f + kEthHdrLen, src, groups, n, record);
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(kMldFrameMax - kEthHdrLen - len));
    write_eth(f, ipv6_multicast_mac(v1 ? groups[i] : ipv6_all_mldv2_routers()), pn.mac, kEtherTypeIpv6);
    stats_[port]->mld_reports_sent.add();
    enqueue_tx(port, m);
  }
  return true;
}

void NetWorker::start_ipv6(std::uint16_t port, std::uint64_t now) {
  const PortNet& pn = ports_[port];
  if (!pn.v6) return;
  // RFC 4862 §5.4.2: join the solicited-node groups (an MLD report, so
  // snooping switches forward them) before probing.
  Ipv6Addr groups[kMldMaxGroups];
  send_mld_report(port, groups, pn.v6->report_groups(groups), kMldChangeToExclude, false);
  const std::uint64_t retrans = timers_.nd_retrans ? timers_.nd_retrans : timers_.arp_retry;
  for (unsigned i = 0; i < pn.v6->count(); ++i) {
    if (pn.v6->state(i) != Ipv6Port::State::Tentative) continue;
    send_dad_probe(port, i);
    dad_.push_back(Dad{port, static_cast<std::uint8_t>(i), 1, now + retrans});
  }
}

void NetWorker::tick_dad(std::uint64_t now) {
  const std::uint64_t retrans = timers_.nd_retrans ? timers_.nd_retrans : timers_.arp_retry;
  std::size_t keep = 0;
  for (Dad d : dad_) {
    Ipv6Port& v6 = *ports_[d.port].v6;
    if (v6.state(d.addr) != Ipv6Port::State::Tentative) continue;  // found duplicate (by any worker)
    if (now < d.next) {
      dad_[keep++] = d;
    } else if (d.sent < v6.options().dad_transmits) {
      send_dad_probe(d.port, d.addr);
      ++d.sent;
      d.next = now + retrans;
      dad_[keep++] = d;
    } else {
      // RetransTimer after the last probe and no answer: the address is ours.
      v6.mark_preferred(d.addr);
    }
  }
  dad_.resize(keep);
}

}  // namespace turnpike::net
