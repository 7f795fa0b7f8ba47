// net_ring harness: two DPDK ethdevs backed by rte_rings and wired back to
// back in one process (A's TX ring is B's RX ring and vice versa), each with
// its own NetWorker. Tests pump both sides explicitly, so runs are
// deterministic; an optional filter sees every frame in flight (loss,
// reordering or corruption injection for TCP tests).
#pragma once
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "turnpike/net/nd.hpp"
#include "turnpike/net/neighbor.hpp"
#include "turnpike/net/stack.hpp"

namespace turnpike::testing {

class RingPair {
 public:
  struct Side {
    std::uint16_t port_id = 0;
    std::unique_ptr<net::NeighborTable> neigh;
    std::unique_ptr<net::NetWorker> net;
    net::PortNet pn;
    std::unique_ptr<net::Ipv6Port> v6;  // with ipv6: 2001:db8:100::1/64 (A), ::2 (B), no DAD
    net::Ipv6Addr ip6;
  };
  // Returns false to drop the frame (the harness frees it). `from_a` tells the direction.
  using Filter = std::function<bool(rte_mbuf* m, bool from_a)>;

  // Addresses: A = 198.18.100.1/24, B = 198.18.100.2/24 unless given.
  explicit RingPair(const char* tag, net::Ipv4Addr ip_a = 0, net::Ipv4Addr ip_b = 0, bool ipv6 = false);
  ~RingPair();

  Side& a() { return a_; }
  Side& b() { return b_; }
  void set_filter(Filter f) { filter_ = std::move(f); }
  // One round: each side receives what is waiting and flushes its replies.
  // Returns the number of frames processed; `now` drives timers.
  unsigned pump(std::uint64_t now);
  // Pumps until a round moves nothing (bounded by max_rounds).
  unsigned settle(std::uint64_t now, unsigned max_rounds = 64);
  std::uint64_t filtered() const { return filtered_; }

 private:
  unsigned rx_side(Side& s, bool is_a, std::uint64_t now);

  rte_ring* ab_ = nullptr;  // A transmits, B receives
  rte_ring* ba_ = nullptr;
  Side a_, b_;
  Filter filter_;
  std::uint64_t filtered_ = 0;
};

}  // namespace turnpike::testing
