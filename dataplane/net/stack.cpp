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
    if (eth.dst != pn.mac) {
      if (!eth.dst.is_broadcast()) {
        drop(port, m, eth.dst.is_multicast() ? Drop::multicast : Drop::not_for_us);
        continue;
      }
    }
    switch (eth.ether_type) {
      case kEtherTypeIpv4: handle_ipv4(port, m, now); break;
      case kEtherTypeArp: handle_arp(port, m, eth, now); break;
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
  bool asked = false;
  for (std::uint32_t i = 0; i < pending_n_; ++i)
    asked |= pending_[i].nexthop == nexthop && pending_[i].port == port;
  pending_[pending_n_++] = Pending{m, port, nexthop, now};
  pending_pub_.store(pending_n_, std::memory_order_relaxed);
  stats_[port]->neigh_queued.add();
  if (!asked) solicit(port, nexthop);
  if (pending_n_ == 1) next_retry_ = now + timers_.arp_retry;
  return true;
}

void NetWorker::tick(std::uint64_t now) {
  if (!pending_n_) return;
  std::uint64_t gen = 0;
  for (auto& p : ports_) gen += p.neigh->generation();
  const bool changed = gen != seen_generation_;
  const bool retry = now >= next_retry_;
  if (!changed && !retry) return;
  seen_generation_ = gen;
  std::uint32_t keep = 0;
  for (std::uint32_t i = 0; i < pending_n_; ++i) {
    Pending e = pending_[i];
    const PortNet& pn = ports_[e.port];
    MacAddr mac;
    if (pn.neigh->lookup(e.nexthop, now, mac)) {
      write_eth(rte_pktmbuf_mtod(e.m, std::uint8_t*), mac, pn.mac, kEtherTypeIpv4);
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
    // asks for at most one ARP per second per destination).
    for (std::uint32_t i = 0; i < pending_n_; ++i) {
      bool dup = false;
      for (std::uint32_t j = 0; j < i && !dup; ++j)
        dup = pending_[j].nexthop == pending_[i].nexthop && pending_[j].port == pending_[i].port;
      if (!dup) solicit(pending_[i].port, pending_[i].nexthop);
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
  stats_[port]->arp_gratuitous_sent.add();
  enqueue_tx(port, m);
  return true;
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
