#include "ring_harness.hpp"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>

#include <stdexcept>
#include <string>

#include "eal_env.hpp"
#include "turnpike/net/wire.hpp"

namespace turnpike::testing {

RingPair::RingPair(const char* tag, net::Ipv4Addr ip_a, net::Ipv4Addr ip_b, bool ipv6) {
  rte_mempool* pool = test_pool();
  const std::string t(tag);
  ab_ = rte_ring_create(("ab_" + t).c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  ba_ = rte_ring_create(("ba_" + t).c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!ab_ || !ba_) throw std::runtime_error("ring create failed for " + t);
  const int pa = rte_eth_from_rings(("ra_" + t).c_str(), &ba_, 1, &ab_, 1, SOCKET_ID_ANY);
  const int pb = rte_eth_from_rings(("rb_" + t).c_str(), &ab_, 1, &ba_, 1, SOCKET_ID_ANY);
  if (pa < 0 || pb < 0) throw std::runtime_error("rte_eth_from_rings failed for " + t);
  const net::Ipv4Addr ips[2] = {ip_a ? ip_a : *net::parse_ipv4("198.18.100.1"),
                                ip_b ? ip_b : *net::parse_ipv4("198.18.100.2")};
  Side* sides[2] = {&a_, &b_};
  const int ports[2] = {pa, pb};
  for (int i = 0; i < 2; ++i) {
    Side& s = *sides[i];
    s.port_id = static_cast<std::uint16_t>(ports[i]);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(s.port_id, 1, 1, &conf) || rte_eth_rx_queue_setup(s.port_id, 0, 256, SOCKET_ID_ANY, nullptr, pool) ||
        rte_eth_tx_queue_setup(s.port_id, 0, 256, SOCKET_ID_ANY, nullptr) || rte_eth_dev_start(s.port_id))
      throw std::runtime_error("ring port setup failed for " + t);
    // Ring ports share one MAC; give each side its own locally administered one.
    s.pn.mac = net::MacAddr{{0x02, 0x00, 0x00, 0x00, static_cast<std::uint8_t>(s.port_id), static_cast<std::uint8_t>(i + 1)}};
    s.pn.port_id = s.port_id;
    s.pn.ip = ips[i];
    s.pn.prefix = 24;
    s.neigh = std::make_unique<net::NeighborTable>(64, 1'000'000'000ull);
    s.pn.neigh = s.neigh.get();
    if (ipv6) {
      net::Ipv6Options o;
      s.ip6 = *net::parse_ipv6(i == 0 ? "2001:db8:100::1" : "2001:db8:100::2");
      o.address = s.ip6;
      o.dad_transmits = 0;  // usable at once
      o.neigh_capacity = 64;
      o.neigh_timeout = 1'000'000'000ull;
      s.v6 = std::make_unique<net::Ipv6Port>(s.pn.mac, o);
      s.pn.v6 = s.v6.get();
    }
    const std::uint16_t pid = s.port_id;
    s.net = std::make_unique<net::NetWorker>(
        std::vector<net::PortNet>{s.pn}, pool,
        [pid](std::uint16_t, rte_mbuf** pkts, std::uint16_t n) { return rte_eth_tx_burst(pid, 0, pkts, n); }, 64,
        net::NetTimers{1000, 5000});
  }
}

RingPair::~RingPair() {
  a_.net.reset();
  b_.net.reset();
  a_.v6.reset();
  b_.v6.reset();
  for (Side* s : {&a_, &b_}) {
    rte_mbuf* pkts[32];
    while (std::uint16_t n = rte_eth_rx_burst(s->port_id, 0, pkts, 32)) rte_pktmbuf_free_bulk(pkts, n);
    rte_eth_dev_stop(s->port_id);
    rte_eth_dev_close(s->port_id);
  }
  rte_ring_free(ab_);
  rte_ring_free(ba_);
}

unsigned RingPair::rx_side(Side& s, bool is_a, std::uint64_t now) {
  rte_mbuf* pkts[32];
  unsigned total = 0;
  while (std::uint16_t n = rte_eth_rx_burst(s.port_id, 0, pkts, 32)) {
    std::uint16_t keep = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
      // Frames received by A were sent by B.
      if (filter_ && !filter_(pkts[i], !is_a)) {
        rte_pktmbuf_free(pkts[i]);
        ++filtered_;
      } else {
        pkts[keep++] = pkts[i];
      }
    }
    if (keep) s.net->input(0, pkts, keep, now);
    total += n;
  }
  s.net->tick(now);
  s.net->flush();
  return total;
}

unsigned RingPair::pump(std::uint64_t now) { return rx_side(a_, true, now) + rx_side(b_, false, now); }

unsigned RingPair::settle(std::uint64_t now, unsigned max_rounds) {
  unsigned total = 0;
  for (unsigned r = 0; r < max_rounds; ++r) {
    const unsigned n = pump(now);
    total += n;
    if (!n) break;
  }
  return total;
}

}  // namespace turnpike::testing
