// EAL start-up and port set-up: one RX and one TX queue per worker, RSS with
// a symmetric Toeplitz key where the PMD supports it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/wire.hpp"

struct rte_mempool;

namespace turnpike::port {

// One port as configured ([[ports]] in the config file; app/ maps it).
struct PortOptions {
  std::string name;
  std::string device;  // PCI address (0000:03:00.0) or vdev string (net_af_packet0,iface=x)
  std::uint32_t ipv4 = 0;
  std::uint8_t prefix = 24;
  std::uint32_t gateway = 0;
  // IPv6 (net::Ipv6Options): on when `ipv6` is set; link-local from the MAC.
  net::Ipv6Addr ipv6;
  std::uint8_t ipv6_prefix = 64;
  net::Ipv6Addr ipv6_gateway;
  bool has_ipv6() const { return !ipv6.is_unspecified(); }
  std::uint16_t rx_desc = 1024;
  std::uint16_t tx_desc = 1024;
  std::uint16_t mtu = 1500;
  bool promiscuous = false;
  bool is_vdev() const { return device.rfind("net_", 0) == 0; }
  bool operator==(const PortOptions&) const = default;
};

// Which CPU each lcore runs on. Workers get distinct CPUs whenever there are
// at least as many CPUs as workers; the control lcore (lcore 0: telemetry,
// reloads, ticket rotation; it sleeps 50 ms between rounds) then gets a CPU
// of its own if one is left, else shares the first worker's CPU.
struct Placement {
  unsigned control_cpu = 0;
  std::vector<unsigned> worker_cpu;   // index: worker
  bool control_shares = false;        // control lcore on a worker's CPU
  bool workers_share = false;         // two or more workers on one CPU
  std::string eal_lcores() const;     // "--lcores=0@c,1@w0,2@w1..."
  // "worker0@cpu0 worker1@cpu1 control@cpu0 (shared with worker0)"
  std::string describe() const;
  // Empty when no two workers share a CPU, else which ones do and why.
  std::string sharing_warning() const;
};
// pinned: workers.cpus from the config (one per worker) or empty.
Placement plan_placement(unsigned workers, const std::vector<unsigned>& allowed_cpus,
                         const std::vector<unsigned>& pinned);

// net_af_packet's kernel ring: frames per queue when the device string does
// not say (framecnt=). The PMD's default of 512 frames overflows under a few
// hundred busy connections (25 % of segments retransmitted on a clean veth):
// size it for what can arrive while a worker is not polling.
//   - line rate: 10 Gb/s (af_packet reports that speed) of full frames during
//     a stall of max(4 ms, 2 x the adaptive idle sleep) -- a scheduler tick
//     when the worker shares its CPU;
//   - connections: two frames per connection slot of the worker (a data
//     segment and an ACK in flight from each).
// Rounded up to a power of two, 4096..32768.
std::uint32_t af_packet_frames(std::uint32_t connections_per_worker, std::uint32_t max_sleep_us);
// The device string the EAL gets: for net_af_packet, qpairs= (one per worker)
// and framecnt= are added where the operator did not give them.
std::string effective_device(const std::string& device, unsigned workers, std::uint32_t frames);
// One configured port may need several DPDK devices. net_af_xdp binds one
// AF_XDP socket per queue, and the 22.11 PMD refuses queue_count= above the
// interface's combined channels; a veth has separate RX/TX queues and no
// combined channels, so it takes queue_count=1 only. Then N workers get N
// devices on the same interface, "<name>q<i>,...,start_queue=<i>,queue_count=1",
// one queue each (PortInfo::queue_port). Where the interface has enough
// combined channels (a NIC), one device with queue_count=N.
// combined_channels: the interface's (iface_combined_channels).
std::vector<std::string> effective_devices(const std::string& device, unsigned workers, std::uint32_t frames,
                                           unsigned combined_channels);
// Reads the interface named by iface= of a net_af_xdp device (ETHTOOL_GCHANNELS).
std::vector<std::string> effective_devices(const std::string& device, unsigned workers, std::uint32_t frames);
// Combined channels of a kernel interface (0: none, or not readable).
unsigned iface_combined_channels(const std::string& iface);
// RX queues of a kernel interface (/sys/class/net/<iface>/queues/rx-*; 0: unknown).
unsigned iface_rx_queues(const std::string& iface);
// Inline, like af_xdp_extra_mbufs: the config library sizes the pool with
// them and links no DPDK.
inline bool is_af_xdp(const std::string& device) { return device.rfind("net_af_xdp", 0) == 0; }
// net_af_xdp (22.11 PMD) hands the kernel a fill ring of 2048 mbufs per queue
// at start and refills it one for one: an RX ring smaller than that drops
// frames while a worker is off its CPU (rx_ring_full), so the RX ring is at
// least kAfXdpFill. The pool needs the fill ring's mbufs on top of the
// descriptors: af_xdp_extra_mbufs per queue (0 for other devices).
inline constexpr std::uint16_t kAfXdpFill = 2048;
inline std::uint32_t af_xdp_extra_mbufs(const PortOptions& p) {
  if (!is_af_xdp(p.device)) return 0;
  return kAfXdpFill + (p.rx_desc < kAfXdpFill ? kAfXdpFill - p.rx_desc : 0);
}
// framecnt= of a net_af_packet device string (0: not an af_packet device);
// the PMD's default 512 when the string does not say.
std::uint32_t af_packet_framecnt(const std::string& device);

// What the EAL and the ports are started with.
struct Options {
  std::vector<std::string> eal_args{"--no-huge", "-m", "256", "--no-pci"};
  std::string file_prefix = "turnpike";
  bool debug_log = false;               // EAL log level 8 (debug) instead of 5
  unsigned workers = 1;                 // one RX and one TX queue each on every port
  std::vector<unsigned> worker_cpus;    // pinned CPUs (one per worker) or empty
  // af_packet ring sizing (af_packet_frames): what a worker may hold open
  // and how long it may sleep when idle.
  std::uint32_t connections_per_worker = 4096;
  std::uint32_t max_sleep_us = 200;
  std::vector<PortOptions> ports;
  std::uint32_t af_frames() const { return af_packet_frames(connections_per_worker, max_sleep_us); }
};

// The one mbuf pool. With a net_af_xdp port (and no PCI port) its objects are
// packed with no gap at 4 KiB page ends (RTE_MEMPOOL_F_NO_IOVA_CONTIG): the
// 22.11 PMD registers the pool as UMEM of populated_size x object size bytes
// from its first object, so objects placed past that (the gaps a page-bounded
// layout leaves without hugepages) would be invalid descriptors -- lost TX
// frames and fill-ring buffers. Null with rte_errno on failure.
rte_mempool* create_mbuf_pool(const Options& o, const char* name, unsigned n, unsigned cache,
                              std::uint16_t data_room, int socket);

// argv for rte_eal_init: EAL args, file prefix, lcore map (plan_placement)
// and one --vdev / -a per port (effective_device).
std::vector<std::string> eal_argv(const Options& o, const std::string& prog, const std::vector<unsigned>& allowed_cpus);

// Name under which DPDK registers the port: the vdev name before the first
// comma, or the PCI address.
std::string dpdk_port_name(const std::string& device);

// Symmetric Toeplitz key (0x6d5a repeated): hash(a,b) == hash(b,a), so both
// directions of a flow land on the same queue.
std::vector<std::uint8_t> symmetric_rss_key(std::size_t len);

// Losses below turnpike: what the PMD counts (rte_eth_stats) and, for
// net_af_packet, what the kernel ring dropped (PACKET_STATISTICS, which the
// 22.11 PMD does not read). A loss here shows nowhere else in turnpike.
struct LossStats {
  std::uint64_t imissed = 0;    // RX: the NIC/queue had no descriptor
  std::uint64_t ierrors = 0;    // RX: bad frames dropped by the NIC
  std::uint64_t rx_nombuf = 0;  // RX: no mbuf to refill the ring
  std::uint64_t oerrors = 0;    // TX: frames the PMD took but could not send
  std::vector<std::uint64_t> q_errors;  // per RX queue (as many as the PMD reports)
  bool kernel_ring = false;     // the fields below are known (af_packet)
  std::uint64_t ring_packets = 0;   // frames the kernel offered to the rings
  std::uint64_t ring_drops = 0;     // frames dropped: ring full
  std::uint64_t ring_rollovers = 0; // frames moved to another queue's ring (fanout rollover)
  std::vector<std::uint64_t> ring_drops_q;  // per queue
  std::uint64_t total() const { return imissed + ierrors + rx_nombuf + oerrors + ring_drops; }
};

// The af_packet PMD's sockets, found by address family and interface in this
// process's descriptors after the port started (one per queue, in queue
// order). PACKET_STATISTICS resets on read, so reads accumulate here.
// For net_af_xdp, the AF_XDP sockets (XDP_STATISTICS, cumulative): the PMD's
// imissed has rx_dropped (no fill-ring buffer) but not rx_ring_full (RX ring
// full), which read() adds to imissed: either way the queue had no descriptor.
class KernelRing {
 public:
  // Null when the port is not af_packet or its sockets are not found.
  static std::unique_ptr<KernelRing> find(const std::string& iface, unsigned queues);
  // AF_XDP sockets of this process (ascending descriptors).
  static std::vector<int> xdp_sockets();
  static std::unique_ptr<KernelRing> xdp(std::vector<int> fds);  // null when fds is empty
  const std::vector<int>& fds() const;
  void read(LossStats& out);  // thread-safe (control and telemetry threads)
  ~KernelRing();

 private:
  struct Impl;
  explicit KernelRing(std::unique_ptr<Impl> i);
  std::unique_ptr<Impl> impl_;
};

struct PortInfo {
  std::uint16_t port_id = 0;
  std::string name, driver;
  net::MacAddr mac;
  bool rss = false;        // symmetric Toeplitz configured
  std::string rss_note;    // why not, when not
  std::uint16_t reta_size = 0;  // redirection table entries (programmed i -> i % queues)
  bool tx_csum_offload = false; // the NIC fills IPv4 and TCP checksums
  bool rx_csum_offload = false; // the NIC checks them and flags the mbuf
  bool link_up = false;
  std::uint32_t link_speed_mbps = 0;
  std::uint16_t queues = 0;
  std::string device;               // what the EAL got (effective_devices, joined by " + ")
  // DPDK port and queue id behind each queue q (worker q): port_id/q on one
  // device; (device q's port, 0) when a net_af_xdp port is one device per queue.
  std::vector<std::uint16_t> queue_port, queue_id;
  std::uint16_t port_of(unsigned q) const { return q < queue_port.size() ? queue_port[q] : port_id; }
  std::uint16_t queue_of(unsigned q) const { return q < queue_id.size() ? queue_id[q] : static_cast<std::uint16_t>(q); }
  std::uint32_t af_frames = 0;      // af_packet ring frames per queue (0: not af_packet)
  std::shared_ptr<KernelRing> kernel_ring;  // af_packet only
};

LossStats read_loss(const PortInfo& p);

// Configures and starts the port; throws std::runtime_error with the reason.
// `device` is the effective device string (what eal_argv passed).
PortInfo setup_port(const PortOptions& pc, const std::string& device, std::uint16_t queues, rte_mempool* pool);
// Several devices (effective_devices): one queue on each, queue q on devices[q].
PortInfo setup_port(const PortOptions& pc, const std::vector<std::string>& devices, std::uint16_t queues,
                    rte_mempool* pool);
void stop_port(std::uint16_t port_id);
void stop_port(const PortInfo& p);  // every device behind it

}  // namespace turnpike::port
