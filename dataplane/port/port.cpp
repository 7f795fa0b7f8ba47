#include "turnpike/port/port.hpp"

#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>

namespace turnpike::port {

std::string dpdk_port_name(const std::string& device) { return device.substr(0, device.find(',')); }

std::vector<std::uint8_t> symmetric_rss_key(std::size_t len) {
  std::vector<std::uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = (i & 1) ? 0x5a : 0x6d;
  return k;
}

Placement plan_placement(unsigned workers, const std::vector<unsigned>& allowed,
                         const std::vector<unsigned>& pinned) {
  Placement p;
  const std::vector<unsigned> cpus = allowed.empty() ? std::vector<unsigned>{0} : allowed;
  const std::size_t n = cpus.size();
  if (!pinned.empty()) {
    p.worker_cpu = pinned;
  } else if (n > workers) {
    for (unsigned w = 0; w < workers; ++w) p.worker_cpu.push_back(cpus[1 + w]);
  } else {
    // As many workers as CPUs or more: one worker per CPU first; more than
    // that must share (round-robin).
    for (unsigned w = 0; w < workers; ++w) p.worker_cpu.push_back(cpus[w % n]);
  }
  // The control lcore takes an allowed CPU no worker runs on, else the first
  // worker's: it wakes every 50 ms for a few microseconds, so a worker loses
  // little, and two busy workers never share because of it.
  p.control_cpu = p.worker_cpu.empty() ? cpus[0] : p.worker_cpu[0];
  p.control_shares = !p.worker_cpu.empty();
  for (unsigned c : cpus)
    if (std::find(p.worker_cpu.begin(), p.worker_cpu.end(), c) == p.worker_cpu.end()) {
      p.control_cpu = c;
      p.control_shares = false;
      break;
    }
  std::vector<unsigned> sorted = p.worker_cpu;
  std::sort(sorted.begin(), sorted.end());
  p.workers_share = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  return p;
}

std::string Placement::eal_lcores() const {
  std::string m = "--lcores=0@" + std::to_string(control_cpu);
  for (std::size_t w = 0; w < worker_cpu.size(); ++w)
    m += "," + std::to_string(w + 1) + "@" + std::to_string(worker_cpu[w]);
  return m;
}

std::string Placement::describe() const {
  std::string s;
  for (std::size_t w = 0; w < worker_cpu.size(); ++w)
    s += "worker" + std::to_string(w) + "@cpu" + std::to_string(worker_cpu[w]) + " ";
  s += "control@cpu" + std::to_string(control_cpu);
  if (control_shares) {
    for (std::size_t w = 0; w < worker_cpu.size(); ++w)
      if (worker_cpu[w] == control_cpu) {
        s += " (shared with worker" + std::to_string(w) + ")";
        break;
      }
  }
  return s;
}

std::string Placement::sharing_warning() const {
  if (!workers_share) return {};
  std::map<unsigned, std::string> by_cpu;  // cpu -> "worker0+worker2"
  std::map<unsigned, unsigned> count;
  for (std::size_t w = 0; w < worker_cpu.size(); ++w) {
    std::string& g = by_cpu[worker_cpu[w]];
    g += (g.empty() ? "worker" : "+worker") + std::to_string(w);
    ++count[worker_cpu[w]];
  }
  std::string s;
  for (auto& [cpu, g] : by_cpu)
    if (count[cpu] > 1) s += (s.empty() ? "" : ", ") + g + " on cpu" + std::to_string(cpu);
  return "workers share a CPU (" + s +
         "): more workers than CPUs, or workers.cpus repeats one; each gets a fraction of its CPU "
         "(with idle.policy=poll they starve each other)";
}

namespace {
// "a=1,b=2" device arguments after the driver name.
std::string device_arg(const std::string& device, const std::string& key) {
  std::size_t pos = device.find(',');
  while (pos != std::string::npos) {
    const std::size_t next = device.find(',', pos + 1);
    const std::string kv = device.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    pos = next;
  }
  return {};
}
bool is_af_packet(const std::string& device) { return device.rfind("net_af_packet", 0) == 0; }
}  // namespace


unsigned iface_combined_channels(const std::string& iface) {
  if (iface.empty() || iface.size() >= IFNAMSIZ) return 0;
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  iface.copy(ifr.ifr_name, IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  const int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  close(fd);
  return rc == 0 ? ch.combined_count : 0;
}

unsigned iface_rx_queues(const std::string& iface) {
  if (iface.empty() || iface.find('/') != std::string::npos) return 0;
  DIR* d = opendir(("/sys/class/net/" + iface + "/queues").c_str());
  if (!d) return 0;
  unsigned n = 0;
  while (dirent* e = readdir(d)) n += std::string(e->d_name).rfind("rx-", 0) == 0;
  closedir(d);
  return n;
}

std::uint32_t af_packet_frames(std::uint32_t connections_per_worker, std::uint32_t max_sleep_us) {
  constexpr std::uint64_t kLineBitsPerUs = 10'000;        // 10 Gb/s
  constexpr std::uint64_t kFrameBits = (1514 + 24) * 8;   // frame + preamble, FCS, gap
  const std::uint64_t stall_us = std::max<std::uint64_t>(4000, 2ull * max_sleep_us);
  const std::uint64_t by_rate = stall_us * kLineBitsPerUs / kFrameBits;
  const std::uint64_t by_conns = 2ull * connections_per_worker;
  std::uint64_t want = std::clamp<std::uint64_t>(std::max(by_rate, by_conns), 4096, 32768);
  std::uint32_t f = 4096;
  while (f < want) f <<= 1;
  return f;
}

std::uint32_t af_packet_framecnt(const std::string& device) {
  if (!is_af_packet(device)) return 0;
  const std::string v = device_arg(device, "framecnt");
  if (v.empty()) return 512;  // DPDK 22.11 PMD default
  return static_cast<std::uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
}

std::string effective_device(const std::string& device, unsigned workers, std::uint32_t frames) {
  if (!is_af_packet(device)) return device;
  std::string d = device;
  if (device_arg(d, "qpairs").empty()) d += ",qpairs=" + std::to_string(workers);
  if (device_arg(d, "framecnt").empty()) d += ",framecnt=" + std::to_string(frames);
  return d;
}

std::vector<std::string> effective_devices(const std::string& device, unsigned workers, std::uint32_t frames,
                                           unsigned combined_channels) {
  if (!is_af_xdp(device)) return {effective_device(device, workers, frames)};
  // The operator's queue_count= or start_queue= is taken as said (one device).
  if (!device_arg(device, "queue_count").empty() || workers <= 1)
    return {device_arg(device, "queue_count").empty() ? device + ",queue_count=" + std::to_string(std::max(workers, 1u))
                                                     : device};
  if (combined_channels >= workers) return {device + ",queue_count=" + std::to_string(workers)};
  const std::string name = dpdk_port_name(device), rest = device.substr(name.size());
  const unsigned first = device_arg(device, "start_queue").empty()
                             ? 0
                             : static_cast<unsigned>(std::strtoul(device_arg(device, "start_queue").c_str(), nullptr, 10));
  std::string args;  // the operator's arguments minus start_queue=
  for (std::size_t pos = 0; pos < rest.size();) {
    std::size_t next = rest.find(',', pos + 1);
    if (next == std::string::npos) next = rest.size();
    const std::string kv = rest.substr(pos, next - pos);  // ",key=value"
    if (kv.rfind(",start_queue=", 0) != 0) args += kv;
    pos = next;
  }
  std::vector<std::string> out;
  for (unsigned q = 0; q < workers; ++q)
    out.push_back(name + "q" + std::to_string(q) + args + ",start_queue=" + std::to_string(first + q) +
                  ",queue_count=1");
  return out;
}

std::vector<std::string> effective_devices(const std::string& device, unsigned workers, std::uint32_t frames) {
  return effective_devices(device, workers, frames,
                           is_af_xdp(device) ? iface_combined_channels(device_arg(device, "iface")) : 0);
}

std::vector<std::string> eal_argv(const Options& o, const std::string& prog, const std::vector<unsigned>& cpus) {
  std::vector<std::string> a{prog};
  bool need_pci = false;
  for (auto& p : o.ports) need_pci |= !p.is_vdev();
  for (auto& x : o.eal_args)
    if (!(need_pci && x == "--no-pci")) a.push_back(x);
  a.push_back("--file-prefix=" + o.file_prefix);
  a.push_back("--log-level=" + std::string(o.debug_log ? "8" : "5"));
  bool has_lcores = false;
  for (auto& x : o.eal_args) has_lcores |= x.rfind("--lcores", 0) == 0 || x == "-l" || x == "-c";
  if (!has_lcores && !cpus.empty()) a.push_back(plan_placement(o.workers, cpus, o.worker_cpus).eal_lcores());
  const std::uint32_t frames = o.af_frames();
  for (auto& p : o.ports) {
    if (p.is_vdev()) {
      for (auto& d : effective_devices(p.device, o.workers, frames)) a.push_back("--vdev=" + d);
    } else {
      a.push_back("--allow=" + p.device);
    }
  }
  return a;
}

rte_mempool* create_mbuf_pool(const Options& o, const char* name, unsigned n, unsigned cache,
                              std::uint16_t data_room, int socket) {
  bool xdp = false, pci = false;
  for (auto& p : o.ports) {
    xdp |= is_af_xdp(p.device);
    pci |= !p.is_vdev();
  }
  if (!xdp || pci) return rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
  rte_mempool* mp = rte_mempool_create_empty(name, n, sizeof(rte_mbuf) + data_room, cache,
                                             sizeof(rte_pktmbuf_pool_private), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (!mp) return nullptr;
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = data_room;
  priv.mbuf_priv_size = 0;
  rte_pktmbuf_pool_init(mp, &priv);
  if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr) != 0 ||
      rte_mempool_populate_default(mp) < 0) {
    const int err = rte_errno;
    rte_mempool_free(mp);
    rte_errno = err;
    return nullptr;
  }
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

// ---- losses below turnpike ---------------------------------------------------

struct KernelRing::Impl {
  std::mutex m;
  std::vector<int> fds;  // queue order
  std::vector<std::uint64_t> packets, drops;
  bool xdp = false;  // AF_XDP sockets, not af_packet
};

KernelRing::KernelRing(std::unique_ptr<Impl> i) : impl_(std::move(i)) {}
KernelRing::~KernelRing() = default;
const std::vector<int>& KernelRing::fds() const { return impl_->fds; }

namespace {
// This process's sockets of one address family, ascending (the PMDs open
// their queue sockets in order and descriptors are allocated lowest-first,
// so ascending numbers are queue order).
std::vector<int> sockets_of(int family) {
  std::vector<int> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (*end || fd < 0 || fd == dirfd(d)) continue;
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(int(fd), SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == family) out.push_back(int(fd));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::vector<int> KernelRing::xdp_sockets() { return sockets_of(AF_XDP); }

std::unique_ptr<KernelRing> KernelRing::xdp(std::vector<int> fds) {
  if (fds.empty()) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->xdp = true;
  impl->fds = std::move(fds);
  return std::unique_ptr<KernelRing>(new KernelRing(std::move(impl)));
}

std::unique_ptr<KernelRing> KernelRing::find(const std::string& iface, unsigned queues) {
  const unsigned ifindex = if_nametoindex(iface.c_str());
  if (!ifindex) return nullptr;
  auto impl = std::make_unique<Impl>();
  for (const int fd : sockets_of(AF_PACKET)) {
    sockaddr_ll sll{};
    socklen_t len = sizeof sll;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&sll), &len) == 0 && unsigned(sll.sll_ifindex) == ifindex)
      impl->fds.push_back(fd);
  }
  if (impl->fds.size() != queues) return nullptr;
  impl->packets.assign(queues, 0);
  impl->drops.assign(queues, 0);
  return std::unique_ptr<KernelRing>(new KernelRing(std::move(impl)));
}

void KernelRing::read(LossStats& out) {
  std::lock_guard<std::mutex> g(impl_->m);
  if (impl_->xdp) {
    for (int fd : impl_->fds) {
      xdp_statistics st{};
      socklen_t len = sizeof st;
      if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0) out.imissed += st.rx_ring_full;
    }
    return;
  }
  out.kernel_ring = true;
  out.ring_drops_q.assign(impl_->fds.size(), 0);
  for (std::size_t q = 0; q < impl_->fds.size(); ++q) {
    tpacket_stats st{};
    socklen_t len = sizeof st;
    // Reading resets the kernel's counters (packet(7)): accumulate.
    if (getsockopt(impl_->fds[q], SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      impl_->packets[q] += st.tp_packets;
      impl_->drops[q] += st.tp_drops;
    }
    tpacket_rollover_stats ro{};
    len = sizeof ro;
    if (getsockopt(impl_->fds[q], SOL_PACKET, PACKET_ROLLOVER_STATS, &ro, &len) == 0)
      out.ring_rollovers += ro.tp_all;  // cumulative in the kernel
    out.ring_packets += impl_->packets[q];
    out.ring_drops += impl_->drops[q];
    out.ring_drops_q[q] = impl_->drops[q];
  }
}

LossStats read_loss(const PortInfo& p) {
  LossStats l;
  if (!p.queue_port.empty()) {
    // One device per queue: its queue 0 is our queue q.
    l.q_errors.assign(p.queue_port.size(), 0);
    for (std::size_t q = 0; q < p.queue_port.size(); ++q) {
      rte_eth_stats st{};
      if (rte_eth_stats_get(p.queue_port[q], &st) != 0) continue;
      l.imissed += st.imissed;
      l.ierrors += st.ierrors;
      l.rx_nombuf += st.rx_nombuf;
      l.oerrors += st.oerrors;
      l.q_errors[q] = st.q_errors[0];
    }
    if (p.kernel_ring) p.kernel_ring->read(l);
    return l;
  }
  rte_eth_stats st{};
  if (rte_eth_stats_get(p.port_id, &st) == 0) {
    l.imissed = st.imissed;
    l.ierrors = st.ierrors;
    l.rx_nombuf = st.rx_nombuf;
    l.oerrors = st.oerrors;
    const unsigned nq = std::min<unsigned>(p.queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
    l.q_errors.assign(st.q_errors, st.q_errors + nq);
  }
  if (p.kernel_ring) p.kernel_ring->read(l);
  return l;
}

PortInfo setup_port(const PortOptions& pc, const std::string& device, std::uint16_t queues, rte_mempool* pool) {
  PortInfo info;
  info.name = pc.name;
  info.queues = queues;
  info.device = device;
  if (rte_eth_dev_get_port_by_name(dpdk_port_name(device).c_str(), &info.port_id) != 0)
    throw std::runtime_error("port " + pc.name + ": device \"" + device + "\" did not probe (check the vdev/PCI string)");
  rte_eth_dev_info di;
  if (int rc = rte_eth_dev_info_get(info.port_id, &di); rc != 0)
    throw std::runtime_error("port " + pc.name + ": dev_info_get: " + rte_strerror(-rc));
  info.driver = di.driver_name ? di.driver_name : "?";
  if (di.max_rx_queues < queues || di.max_tx_queues < queues)
    throw std::runtime_error("port " + pc.name + ": " + info.driver + " offers " + std::to_string(di.max_rx_queues) +
                             " RX queues, " + std::to_string(queues) +
                             " workers need one each (af_packet: add qpairs=N to the vdev string; af_xdp: queue_count=N)");
  rte_eth_conf conf{};
  std::vector<std::uint8_t> key;
  // IPv6 TCP hashes over both 16-byte addresses and the ports, as
  // tcp::Toeplitz::hash_v6_tcp does for flow ownership.
  const std::uint64_t want_hf = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                                RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP;
  if (queues > 1) {
    const std::uint64_t hf = di.flow_type_rss_offloads & want_hf;
    if (hf && di.hash_key_size) {
      key = symmetric_rss_key(di.hash_key_size);
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = key.data();
      conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(key.size());
      conf.rx_adv_conf.rss_conf.rss_hf = hf;
      info.rss = true;
    } else {
      // af_packet spreads by the kernel's fanout hash (rolling over to another
      // queue when one is nearly full), af_xdp by the sender's queue choice:
      // a segment may reach any worker; TcpGlue hands it to the owner.
      info.rss_note = "unavailable on " + info.driver + " (PMD's own spreading)";
    }
  } else {
    info.rss_note = "single queue";
  }
  conf.rxmode.mtu = pc.mtu;
  // Checksum offloads where the port has them; software otherwise.
  constexpr std::uint64_t kTxCsum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  constexpr std::uint64_t kRxCsum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  if ((di.tx_offload_capa & kTxCsum) == kTxCsum) {
    conf.txmode.offloads |= kTxCsum;
    info.tx_csum_offload = true;
  }
  if ((di.rx_offload_capa & kRxCsum) == kRxCsum) {
    conf.rxmode.offloads |= kRxCsum;
    info.rx_csum_offload = true;
  }
  if (int rc = rte_eth_dev_configure(info.port_id, queues, queues, &conf); rc != 0)
    throw std::runtime_error("port " + pc.name + ": configure: " + rte_strerror(-rc));
  std::uint16_t rxd = pc.rx_desc, txd = pc.tx_desc;
  if (is_af_xdp(device)) rxd = std::max(rxd, kAfXdpFill);  // af_xdp_extra_mbufs
  rte_eth_dev_adjust_nb_rx_tx_desc(info.port_id, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(info.port_id);
  // net_af_xdp opens its sockets in rx_queue_setup: the new ones are this device's.
  const std::vector<int> xsk_before = is_af_xdp(device) ? KernelRing::xdp_sockets() : std::vector<int>{};
  for (std::uint16_t q = 0; q < queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(info.port_id, q, rxd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr, pool); rc)
      throw std::runtime_error("port " + pc.name + ": rx queue " + std::to_string(q) + ": " + rte_strerror(-rc));
    if (int rc = rte_eth_tx_queue_setup(info.port_id, q, txd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr); rc)
      throw std::runtime_error("port " + pc.name + ": tx queue " + std::to_string(q) + ": " + rte_strerror(-rc));
  }
  rte_ether_addr mac;
  rte_eth_macaddr_get(info.port_id, &mac);
  for (int i = 0; i < 6; ++i) info.mac.b[i] = mac.addr_bytes[i];
  if (int rc = rte_eth_dev_start(info.port_id); rc != 0)
    throw std::runtime_error("port " + pc.name + ": start: " + rte_strerror(-rc));
  // Promiscuous off unless asked: we filter by MAC in software too.
  if (pc.promiscuous) rte_eth_promiscuous_enable(info.port_id);
  else rte_eth_promiscuous_disable(info.port_id);
  if (info.rss) {
    // Verify what the PMD actually took: some accept the conf and ignore the key.
    std::vector<std::uint8_t> got(di.hash_key_size);
    rte_eth_rss_conf rc{};
    rc.rss_key = got.data();
    rc.rss_key_len = static_cast<std::uint8_t>(got.size());
    if (rte_eth_dev_rss_hash_conf_get(info.port_id, &rc) != 0 || got != key) {
      info.rss = false;
      info.rss_note = info.driver + " did not keep the symmetric RSS key";
    }
  }
  if (info.rss && di.reta_size) {
    // Program the redirection table explicitly (entry i -> queue i % queues)
    // so software can compute a flow's queue exactly (TcpGlue::owner_of).
    std::vector<rte_eth_rss_reta_entry64> reta(di.reta_size / RTE_ETH_RETA_GROUP_SIZE);
    for (std::uint16_t i = 0; i < di.reta_size; ++i) {
      auto& g = reta[i / RTE_ETH_RETA_GROUP_SIZE];
      g.mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
      g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<std::uint16_t>(i % queues);
    }
    if (rte_eth_dev_rss_reta_update(info.port_id, reta.data(), di.reta_size) == 0) {
      info.reta_size = di.reta_size;
    } else {
      info.rss = false;
      info.rss_note = info.driver + " refused the redirection table";
    }
  }
  rte_eth_link link{};
  rte_eth_link_get_nowait(info.port_id, &link);
  info.link_up = link.link_status == RTE_ETH_LINK_UP;
  info.link_speed_mbps = link.link_speed;
  if (is_af_packet(device)) {
    info.af_frames = af_packet_framecnt(device);
    info.kernel_ring = KernelRing::find(device_arg(device, "iface"), queues);
  }
  if (is_af_xdp(device)) {
    std::vector<int> mine;
    for (int fd : KernelRing::xdp_sockets())
      if (!std::binary_search(xsk_before.begin(), xsk_before.end(), fd)) mine.push_back(fd);
    info.kernel_ring = KernelRing::xdp(std::move(mine));
  }
  return info;
}

void stop_port(std::uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

void stop_port(const PortInfo& p) {
  if (p.queue_port.empty()) return stop_port(p.port_id);
  for (std::uint16_t id : p.queue_port) stop_port(id);
}

PortInfo setup_port(const PortOptions& pc, const std::vector<std::string>& devices, std::uint16_t queues,
                    rte_mempool* pool) {
  if (devices.empty()) throw std::runtime_error("port " + pc.name + ": no device");
  if (is_af_xdp(devices[0])) {
    // An AF_XDP socket binds one queue of the interface: it must exist, and
    // a veth has one unless created with numrxqueues/numtxqueues.
    const std::string iface = device_arg(devices[0], "iface");
    const std::string sq = device_arg(devices[0], "start_queue");
    const unsigned need = (sq.empty() ? 0 : static_cast<unsigned>(std::strtoul(sq.c_str(), nullptr, 10))) + queues;
    const unsigned have = iface_rx_queues(iface);
    if (have && have < need)
      throw std::runtime_error("port " + pc.name + ": " + iface + " has " + std::to_string(have) +
                               " RX queue(s), net_af_xdp needs " + std::to_string(need) +
                               " (one per worker; a veth: ip link add ... numrxqueues N numtxqueues N)");
  }
  if (is_af_xdp(devices[0]) && pool->nb_mem_chunks != 1)
    throw std::runtime_error("port " + pc.name + ": net_af_xdp registers the mbuf pool as its UMEM and needs it in one "
                             "memory chunk; it has " + std::to_string(pool->nb_mem_chunks));
  if (devices.size() == 1) return setup_port(pc, devices[0], queues, pool);
  if (devices.size() != queues)
    throw std::runtime_error("port " + pc.name + ": " + std::to_string(devices.size()) + " devices for " +
                             std::to_string(queues) + " queues");
  PortInfo info;
  std::vector<int> xsk;  // every device's AF_XDP sockets, for read_loss
  for (std::uint16_t q = 0; q < queues; ++q) {
    PortInfo one = setup_port(pc, devices[q], 1, pool);
    if (q == 0) {
      info = one;
      info.device.clear();
    }
    info.device += (q ? " + " : "") + one.device;
    if (one.kernel_ring) xsk.insert(xsk.end(), one.kernel_ring->fds().begin(), one.kernel_ring->fds().end());
    info.queue_port.push_back(one.port_id);
    info.queue_id.push_back(0);
  }
  info.queues = queues;
  info.kernel_ring = KernelRing::xdp(std::move(xsk));
  info.rss = false;
  info.rss_note = "unavailable on " + info.driver + " (one device per queue; the sender picks the queue)";
  return info;
}

}  // namespace turnpike::port
