#include "turnpike/glue/tcp_glue.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "turnpike/net/byteorder.hpp"
#include "turnpike/net/nd.hpp"
#include "turnpike/net/wire.hpp"
#include "turnpike/port/port.hpp"

namespace turnpike::glue {

namespace {
constexpr std::size_t kL3Off = net::kEthHdrLen;
constexpr std::size_t kL4Off = net::kEthHdrLen + net::kIpv4MinHdr;

// Segments are built at kL4Off6 (room for either IP header); an IPv4 one
// then drops the 20 bytes it does not need from the front.
constexpr std::size_t kL4Off6 = net::kEthHdrLen + net::kIpv6HdrLen;

// RX checksum offload: a GOOD flag spares the stack its software check; BAD
// and UNKNOWN are verified in software (a BAD one then fails and is counted).
bool csum_good(const rte_mbuf* m) {
  return (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
}

tcp::SegmentIn segment(const rte_mbuf* m, const net::Ipv4Hdr& ip) {
  const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
  return tcp::SegmentIn{ip.src, ip.dst, d + kL3Off + ip.ihl_bytes,
                        static_cast<std::size_t>(ip.total_len) - ip.ihl_bytes, csum_good(m)};
}

tcp::SegmentIn segment(const rte_mbuf* m, const net::Ipv6Hdr& ip) {
  const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
  return tcp::SegmentIn{ip.src, ip.dst, d + kL3Off + ip.l4_offset, ip.l4_len(), csum_good(m)};
}
}  // namespace

namespace {
// Redirection table as the port programs it (entry i -> queue i % workers);
// without RSS a table of one entry per worker gives hash % workers.
std::vector<std::uint16_t> reta_for(unsigned workers, unsigned reta_size) {
  std::vector<std::uint16_t> r(reta_size ? reta_size : std::max(workers, 1u));
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<std::uint16_t>(i % std::max(workers, 1u));
  return r;
}
}  // namespace

TcpGlue::TcpGlue(net::NetWorker& nw, rte_mempool* pool, const tcp::Config& cfg, std::uint64_t tsc_hz, unsigned index,
                 std::vector<rte_ring*> rings, unsigned reta_size, bool tx_csum_offload)
    : nw_(nw),
      pool_(pool),
      tsc_hz_(tsc_hz),
      index_(index),
      rings_(std::move(rings)),
      steer_(port::symmetric_rss_key(40), reta_for(static_cast<unsigned>(rings_.size()), reta_size),
             static_cast<std::uint16_t>(index)),
      tx_offload_(tx_csum_offload) {
  tcp::Config c = cfg;
  c.tx_checksum_offload = tx_csum_offload;
  if (rings_.size() > 1) {
    // Active opens pick a local port whose replies map to this worker.
    c.port_ok = &tcp::RssSteering::port_ok;
    c.port_ok_ctx = &steer_;
  }
  stack_ = std::make_unique<tcp::Stack>(c, *this, 0);
}

TcpGlue::~TcpGlue() {
  if (index_ < rings_.size() && rings_[index_]) {
    void* m;
    while (rte_ring_dequeue(rings_[index_], &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

unsigned TcpGlue::owner_of(const tcp::Addr& a, std::uint16_t pa, const tcp::Addr& b, std::uint16_t pb) const {
  if (rings_.size() <= 1) return index_;
  // Toeplitz with the symmetric key, then the redirection table: the queue a
  // NIC doing symmetric RSS puts this flow on, in either direction.
  return steer_.queue_for_reply(b, pb, a, pa);
}

bool TcpGlue::on_ipv4(std::uint16_t, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now_tsc) {
  if (ip.proto != net::kIpProtoTcp) return false;
  now_tsc_ = now_tsc;
  route(m, segment(m, ip), now_tsc);
  return true;
}

bool TcpGlue::on_ipv6(std::uint16_t, rte_mbuf* m, const net::Ipv6Hdr& ip, std::uint64_t now_tsc) {
  if (ip.proto != net::kIpProtoTcp) return false;
  now_tsc_ = now_tsc;
  stats_.rx_tcp6.add();
  route(m, segment(m, ip), now_tsc);
  return true;
}

void TcpGlue::route(rte_mbuf* m, const tcp::SegmentIn& seg, std::uint64_t now_tsc) {
  if (seg.len < 4) {
    stack_->input(seg, to_us(now_tsc));  // too short for ports: the stack counts it malformed
    rte_pktmbuf_free(m);
    return;
  }
  const std::uint16_t sport = net::load_be16(seg.data);
  const std::uint16_t dport = net::load_be16(seg.data + 2);
  const unsigned owner = owner_of(seg.src, sport, seg.dst, dport);
  if (owner != index_) {
    // Mis-steered: the owner's ring (multi-producer, single consumer).
    if (rte_ring_enqueue(rings_[owner], m) != 0) {
      stats_.steer_ring_full.add();
      rte_pktmbuf_free(m);
    } else {
      stats_.steered_to_owner.add();
    }
    return;
  }
  stack_->input(seg, to_us(now_tsc));
  rte_pktmbuf_free(m);  // the stack copied what it keeps
}

void TcpGlue::deliver(rte_mbuf* m, std::uint64_t now_us) {
  const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
  const std::size_t n = rte_pktmbuf_data_len(m);
  // Already validated by the receiving worker; re-read the fields we need.
  if (n >= kL3Off && net::load_be16(d + 12) == net::kEtherTypeIpv6) {
    net::Ipv6Hdr ip;
    if (net::parse_ipv6_hdr(d + kL3Off, n - kL3Off, ip) == net::Ipv6Parse::Ok) stack_->input(segment(m, ip), now_us);
  } else {
    net::Ipv4Hdr ip;
    if (net::parse_ipv4_hdr(d + kL3Off, n - kL3Off, ip, false) == net::Ipv4Parse::Ok)
      stack_->input(segment(m, ip), now_us);
  }
  rte_pktmbuf_free(m);
}

unsigned TcpGlue::poll(std::uint64_t now_tsc) {
  now_tsc_ = now_tsc;
  const std::uint64_t now_us = to_us(now_tsc);
  unsigned n = 0;
  if (rings_.size() > 1) {
    void* burst[32];
    n = rte_ring_dequeue_burst(rings_[index_], burst, 32, nullptr);
    for (unsigned i = 0; i < n; ++i) deliver(static_cast<rte_mbuf*>(burst[i]), now_us);
    stats_.steered_in.add(n);
  }
  stack_->poll_timers(now_us);
  return n;
}

std::uint8_t* TcpGlue::alloc(std::size_t max_len, void** handle) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    stats_.tx_no_mbuf.add();
    return nullptr;
  }
  if (kL4Off6 + max_len > rte_pktmbuf_tailroom(m)) {
    rte_pktmbuf_free(m);
    stats_.tx_no_mbuf.add();
    return nullptr;
  }
  *handle = m;
  return rte_pktmbuf_mtod(m, std::uint8_t*) + kL4Off6;
}

void TcpGlue::send(void* handle, const tcp::Addr& src6, const tcp::Addr& dst6, std::size_t tcp_len) {
  auto* m = static_cast<rte_mbuf*>(handle);
  if (!src6.is_v4()) return send6(m, src6, dst6, tcp_len);
  // IPv4: the segment sits after room for an IPv6 header; give back the 20
  // bytes an IPv4 header does not use.
  m->data_len = static_cast<std::uint16_t>(kL4Off6 + tcp_len);
  m->pkt_len = m->data_len;
  rte_pktmbuf_adj(m, static_cast<std::uint16_t>(kL4Off6 - kL4Off));
  const std::uint32_t src = src6.v4(), dst = dst6.v4();
  std::uint16_t port = 0;
  bool found = false;
  for (std::uint16_t p = 0; p < nw_.port_count(); ++p)
    if (nw_.port(p).ip == src) {
      port = p;
      found = true;
      break;
    }
  if (!found) {
    stats_.tx_no_port.add();
    rte_pktmbuf_free(m);
    return;
  }
  // RFC 6864 §4.1: with DF set the ID has no meaning; a per-worker counter suffices.
  net::write_ipv4_hdr(rte_pktmbuf_mtod(m, std::uint8_t*) + kL3Off,
                      static_cast<std::uint16_t>(net::kIpv4MinHdr + tcp_len), ip_id_++, net::kDefaultTtl,
                      net::kIpProtoTcp, src, dst);
  if (tx_offload_) {
    // The NIC computes both checksums (the stack left the pseudo-header sum).
    auto* ip = rte_pktmbuf_mtod(m, std::uint8_t*) + kL3Off;
    ip[10] = ip[11] = 0;
    m->l2_len = net::kEthHdrLen;
    m->l3_len = net::kIpv4MinHdr;
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
  }
  nw_.ip_output(port, m, dst, now_tsc_);
}

void TcpGlue::send6(rte_mbuf* m, const tcp::Addr& src, const tcp::Addr& dst, std::size_t tcp_len) {
  const net::Ipv6Addr s6 = src.v6(), d6 = dst.v6();
  std::uint16_t port = 0;
  bool found = false;
  for (std::uint16_t p = 0; p < nw_.port_count() && !found; ++p)
    if (nw_.port(p).v6 && nw_.port(p).v6->find(s6) >= 0) {
      port = p;
      found = true;
    }
  if (!found) {
    stats_.tx_no_port.add();
    rte_pktmbuf_free(m);
    return;
  }
  const std::size_t len = kL4Off6 + tcp_len;
  m->data_len = static_cast<std::uint16_t>(len);
  m->pkt_len = static_cast<std::uint32_t>(len);
  net::write_ipv6_hdr(rte_pktmbuf_mtod(m, std::uint8_t*) + kL3Off, static_cast<std::uint16_t>(tcp_len),
                      net::kIpProtoTcp, net::kDefaultTtl, s6, d6);
  if (tx_offload_) {
    // The NIC computes the TCP checksum from the pseudo-header sum the stack left.
    m->l2_len = net::kEthHdrLen;
    m->l3_len = net::kIpv6HdrLen;
    m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
  }
  nw_.ip6_output(port, m, d6, now_tsc_);
}

}  // namespace turnpike::glue
