// Per-worker L2/L3 stack: Ethernet -> ARP / IPv4 -> ICMP echo and, on ports
// with IPv6, IPv6 -> ICMPv6 echo / Neighbor Discovery with DAD; next-hop
// resolution with a bounded pending queue, and TX batching. One instance per
// worker; it touches only its own state plus the ports' shared neighbour
// tables and IPv6 address states (lock-free).
#pragma once
#include <atomic>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "turnpike/net/counters.hpp"
#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/nd.hpp"
#include "turnpike/net/neighbor.hpp"
#include "turnpike/net/wire.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace turnpike::net {

// What a worker knows about one port (shared, read-only after start).
struct PortNet {
  std::uint16_t port_id = 0;
  MacAddr mac;
  Ipv4Addr ip = 0;
  std::uint8_t prefix = 24;
  Ipv4Addr gateway = 0;  // 0: none
  NeighborTable* neigh = nullptr;
  Ipv6Port* v6 = nullptr;  // IPv6 on this port (shared by its workers); nullptr: none

  Ipv4Addr netmask() const noexcept { return prefix ? ~Ipv4Addr(0) << (32 - prefix) : 0; }
  bool on_link(Ipv4Addr a) const noexcept { return (a & netmask()) == (ip & netmask()); }
  Ipv4Addr subnet_broadcast() const noexcept { return ip | ~netmask(); }
};

struct NetTimers {
  std::uint64_t arp_retry = 0;        // between ARP requests for one next hop
  std::uint64_t resolve_timeout = 0;  // a held frame is dropped after this
  std::uint64_t nd_retrans = 0;       // RFC 4861 RetransTimer (DAD); 0: arp_retry
  std::uint64_t announce_interval = 0;  // RFC 5227 ANNOUNCE_INTERVAL (2 s); 0: arp_retry
};

class NetWorker {
 public:
  static constexpr std::uint16_t kBurst = 32;
  // Sends frames of port index `port`; returns how many the queue accepted.
  using TxFn = std::function<std::uint16_t(std::uint16_t port, rte_mbuf** pkts, std::uint16_t n)>;
  // Receives IPv4 payloads of other protocols (TCP later); returns true if it
  // took ownership of the mbuf.
  using L4Fn = std::function<bool(std::uint16_t port, rte_mbuf* m, const Ipv4Hdr& ip, std::uint64_t now)>;
  // The same for IPv6 upper layers other than ICMPv6 (padding trimmed,
  // extension headers walked: ip.proto, ip.l4_offset).
  using L6Fn = std::function<bool(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip, std::uint64_t now)>;

  NetWorker(std::vector<PortNet> ports, rte_mempool* pool, TxFn tx, std::uint32_t pending_max,
            NetTimers timers);
  ~NetWorker();
  NetWorker(const NetWorker&) = delete;
  NetWorker& operator=(const NetWorker&) = delete;

  // Processes a received burst; replies go to the TX buffers (call flush()).
  void input(std::uint16_t port, rte_mbuf** pkts, std::uint16_t n, std::uint64_t now);
  // Hands buffered frames to the NIC, freeing (and counting) what it refuses.
  void flush();
  // Timers: retries ARP for held frames, drops those that timed out.
  void tick(std::uint64_t now);
  // RFC 5227 §2.3 announcement (gratuitous ARP request), handed to the TX
  // queue at once; false if the queue refused it (dropped, counted tx_full).
  bool announce(std::uint16_t port);
  // RFC 5227 §2.3 ANNOUNCE_NUM: announcements sent each time a link comes up.
  static constexpr std::uint8_t kAnnounceNum = 2;
  // Refusals by the TX queue (each retried after announce_interval / 16)
  // before the announcements of one link-up are given up.
  static constexpr std::uint8_t kAnnounceTries = 16;
  // The port's link as its driver reports it, polled by the worker that
  // announces. Frames sent on a down link are lost (memif before its peer
  // connects), so a link coming up (the first time too) sends kAnnounceNum
  // announcements announce_interval apart (tick() sends the later ones and
  // repeats one the queue refused) and asks for the gateway again; the
  // first time, it also starts IPv6 DAD.
  void link_state(std::uint16_t port, bool up, std::uint64_t now);
  bool link_up(std::uint16_t port) const noexcept { return links_[port].up; }
  // Sends an ARP request for `ip` (used for gateways at start and for held frames).
  bool solicit(std::uint16_t port, Ipv4Addr ip);
  // Routes an IPv4 packet whose IP header is complete: picks the next hop,
  // fills the Ethernet header from the neighbour table or holds the frame
  // while ARP resolves it. Takes ownership of `m`.
  void ip_output(std::uint16_t port, rte_mbuf* m, Ipv4Addr dst, std::uint64_t now);

  // IPv6 (ports with PortNet::v6). Starts Duplicate Address Detection of
  // the port's addresses (RFC 4862 §5.4): call from one worker per port,
  // the one that announces; tick() sends the remaining probes and makes the
  // addresses usable. Without DAD (dad_transmits 0) they are usable at once.
  void start_ipv6(std::uint16_t port, std::uint64_t now);
  // Sends a Neighbor Solicitation for `target` to its solicited-node group.
  bool solicit6(std::uint16_t port, const Ipv6Addr& target);
  // Routes an IPv6 packet whose IPv6 header is complete: multicast to its
  // group MAC, else the next hop (on-link or gateway) from the neighbour
  // cache, or held while ND resolves it. Takes ownership of `m`.
  void ip6_output(std::uint16_t port, rte_mbuf* m, const Ipv6Addr& dst, std::uint64_t now);

  void set_l4_handler(L4Fn f) { l4_ = std::move(f); }
  void set_l6_handler(L6Fn f) { l6_ = std::move(f); }
  PortStats& stats(std::uint16_t port) noexcept { return *stats_[port]; }
  const PortStats& stats(std::uint16_t port) const noexcept { return *stats_[port]; }
  std::size_t port_count() const noexcept { return ports_.size(); }
  const PortNet& port(std::uint16_t p) const noexcept { return ports_[p]; }
  // Any thread (telemetry): relaxed, a moment old at worst.
  std::uint32_t pending() const noexcept { return pending_pub_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    rte_mbuf* m;
    std::uint16_t port;
    bool v6;
    Ipv4Addr nexthop;
    Ipv6Addr nexthop6;
    std::uint64_t since;
    bool same_hop(const Pending& o) const noexcept {
      return port == o.port && v6 == o.v6 && (v6 ? nexthop6 == o.nexthop6 : nexthop == o.nexthop);
    }
  };
  struct Dad {  // DAD of one address, run by this worker
    std::uint16_t port;
    std::uint8_t addr;
    std::uint8_t sent;
    std::uint64_t next;
  };
  struct Link {  // per port, as link_state() last saw it
    bool up = false;
    bool ever_up = false;
    std::uint8_t announce_left = 0;
    std::uint8_t refused = 0;  // TX refusals since the link came up
    std::uint64_t next_announce = 0;
  };
  struct TxBuf {
    std::array<rte_mbuf*, kBurst> pkts;
    std::uint16_t n = 0;
  };

  void handle_arp(std::uint16_t port, rte_mbuf* m, const EthHdr& eth, std::uint64_t now);
  void handle_ipv4(std::uint16_t port, rte_mbuf* m, std::uint64_t now);
  void handle_icmp(std::uint16_t port, rte_mbuf* m, const Ipv4Hdr& ip, std::uint64_t now);
  void handle_ipv6(std::uint16_t port, rte_mbuf* m, const EthHdr& eth, std::uint64_t now);
  void handle_icmp6(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip, bool dst_usable, const EthHdr& eth,
                    std::uint64_t now);
  void handle_nd(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip, const EthHdr& eth, std::uint64_t now);
  bool send_dad_probe(std::uint16_t port, unsigned addr);
  void handle_mld(std::uint16_t port, rte_mbuf* m, const Ipv6Hdr& ip);
  bool send_mld_report(std::uint16_t port, const Ipv6Addr* groups, unsigned n, std::uint8_t record, bool v1);
  void tick_dad(std::uint64_t now);
  void tick_announce(std::uint64_t now);
  bool hold6(std::uint16_t port, rte_mbuf* m, const Ipv6Addr& nexthop, std::uint64_t now);
  bool resolve_pending(const Pending& e, std::uint64_t now, MacAddr& mac) const;
  void solicit_pending(const Pending& e);
  void enqueue_tx(std::uint16_t port, rte_mbuf* m);
  void drop(std::uint16_t port, rte_mbuf* m, Drop why);
  bool hold(std::uint16_t port, rte_mbuf* m, Ipv4Addr nexthop, std::uint64_t now);

  std::vector<PortNet> ports_;
  std::vector<std::unique_ptr<PortStats>> stats_;
  std::vector<TxBuf> tx_;
  rte_mempool* pool_;
  TxFn tx_fn_;
  L4Fn l4_;
  L6Fn l6_;
  NetTimers timers_;
  std::vector<Pending> pending_;
  std::vector<Dad> dad_;
  std::vector<Link> links_;
  std::uint32_t announcing_ = 0;  // ports with announcements left
  std::uint32_t pending_n_ = 0;
  std::atomic<std::uint32_t> pending_pub_{0};  // pending_n_ for readers on other threads
  std::uint64_t seen_generation_ = 0;
  std::uint64_t next_retry_ = 0;
  std::uint16_t ip_id_ = 0;
};

}  // namespace turnpike::net
