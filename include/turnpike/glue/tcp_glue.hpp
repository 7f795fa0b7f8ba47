// Binds a worker's TCP stack to its packet plane: TCP segments from the
// NetWorker go to the stack, the stack's segments become mbufs routed by
// ip_output.
//
// With several workers every connection has one owner, computed from its
// 4-tuple exactly as symmetric Toeplitz RSS would place it (hash with the
// symmetric key, then the default redirection table). On a NIC doing that
// RSS, segments arrive at their owner already; where the port cannot
// (net_af_packet spreads by the kernel's fanout hash and rolls over to other
// queues when one is full), a segment that reached another worker is handed
// to its owner through the owner's ring. Active opens pick a local port
// whose tuple maps to the opening worker (as Seastar's tcp::connect does).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/net/stack.hpp"
#include "turnpike/tcp/rss.hpp"
#include "turnpike/tcp/stack.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace turnpike::glue {

// X(name, description); telemetry shows them under /turnpike/tcp.
#define TURNPIKE_GLUE_COUNTERS(X)                                                          \
  X(steered_to_owner, "segments handed to the worker owning their connection")             \
  X(steer_ring_full, "segments dropped: the owner's steering ring was full")               \
  X(steered_in, "segments taken from this worker's steering ring")                         \
  X(tx_no_mbuf, "segments not sent: no mbuf, or one without room for the headers")         \
  X(tx_no_port, "segments dropped: their source address belongs to no port")                \
  X(rx_tcp6, "IPv6 TCP segments taken from the packet plane")

struct TcpGlueStats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_GLUE_COUNTERS)
};

class TcpGlue final : public tcp::SegmentSink {
 public:
  // reta_size: entries of the ports' RSS redirection table (0: none).
  // tx_csum_offload: every port fills IPv4/TCP checksums (Config's flag is
  // set accordingly: the stack then leaves the pseudo-header sum).
  TcpGlue(net::NetWorker& nw, rte_mempool* pool, const tcp::Config& cfg, std::uint64_t tsc_hz, unsigned index,
          std::vector<rte_ring*> rings, unsigned reta_size = 0, bool tx_csum_offload = false);
  ~TcpGlue() override;

  tcp::Stack& stack() { return *stack_; }
  const tcp::Stack& stack() const { return *stack_; }
  const TcpGlueStats& stats() const { return stats_; }
  // NetWorker L4 handler: takes every TCP segment addressed to us.
  bool on_ipv4(std::uint16_t port, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now_tsc);
  // NetWorker IPv6 upper-layer handler: the same for IPv6 (extension headers
  // already walked: the segment starts at ip.l4_offset).
  bool on_ipv6(std::uint16_t port, rte_mbuf* m, const net::Ipv6Hdr& ip, std::uint64_t now_tsc);
  // Once per loop iteration: segments steered to us, then timers.
  unsigned poll(std::uint64_t now_tsc);

  std::uint8_t* alloc(std::size_t max_len, void** handle) override;
  void send(void* handle, const tcp::Addr& src, const tcp::Addr& dst, std::size_t tcp_len) override;

 private:
  std::uint64_t to_us(std::uint64_t tsc) const { return static_cast<std::uint64_t>((unsigned __int128)tsc * 1000000u / tsc_hz_); }
  // Owner worker of a connection (symmetric: either direction's tuple).
  unsigned owner_of(const tcp::Addr& a, std::uint16_t pa, const tcp::Addr& b, std::uint16_t pb) const;
  // Steers (or takes) a parsed segment; owns `m` afterwards.
  void route(rte_mbuf* m, const tcp::SegmentIn& seg, std::uint64_t now_tsc);
  void send6(rte_mbuf* m, const tcp::Addr& src, const tcp::Addr& dst, std::size_t tcp_len);
  void deliver(rte_mbuf* m, std::uint64_t now_us);

  net::NetWorker& nw_;
  rte_mempool* pool_;
  std::uint64_t tsc_hz_;
  unsigned index_;
  std::vector<rte_ring*> rings_;  // one per worker; ours is rings_[index_]
  std::uint64_t now_tsc_ = 0;
  std::uint16_t ip_id_ = 0;
  tcp::RssSteering steer_;  // owner of a tuple; also picks active-open ports (Config::port_ok)
  bool tx_offload_;         // ports fill IPv4/TCP checksums
  TcpGlueStats stats_;
  std::unique_ptr<tcp::Stack> stack_;  // built in the constructor body from the members above
};

}  // namespace turnpike::glue
