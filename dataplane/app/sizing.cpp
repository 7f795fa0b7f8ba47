#include "sizing.hpp"

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "turnpike/control/vcache.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/tcp/buffer.hpp"
#include "turnpike/tcp/stack.hpp"
#include "options.hpp"

namespace turnpike::sizing {

namespace {

std::uint64_t pow2_at_least(std::uint64_t n) {
  std::uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

std::uint64_t round_up(std::uint64_t n, std::uint64_t unit) { return unit ? (n + unit - 1) / unit * unit : n; }

// "1.5 MiB", "640 KiB", "56 B": for people; exact bytes go in the machine line.
std::string human(std::uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", double(b) / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

// EAL's memory arguments: --no-huge, -m MB / -mMB, --socket-mem=a,b / --socket-mem a,b.
void eal_memory(const std::vector<std::string>& args, bool& no_huge, std::uint64_t& bytes) {
  no_huge = false;
  bytes = 0;
  auto mb_list = [](const std::string& v) {
    std::uint64_t sum = 0;
    std::stringstream ss(v);
    for (std::string part; std::getline(ss, part, ',');) sum += std::strtoull(part.c_str(), nullptr, 10);
    return sum << 20;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_next = i + 1 < args.size();
    if (a == "--no-huge") no_huge = true;
    else if (a == "-m" && has_next) bytes = std::strtoull(args[++i].c_str(), nullptr, 10) << 20;
    else if (a.rfind("-m", 0) == 0 && a.size() > 2 && a[2] != '-') bytes = std::strtoull(a.c_str() + 2, nullptr, 10) << 20;
    else if (a == "--socket-mem" && has_next) bytes = mb_list(args[++i]);
    else if (a.rfind("--socket-mem=", 0) == 0) bytes = mb_list(a.substr(13));
  }
}

std::uint32_t device_number(const std::string& device, const std::string& key, std::uint32_t dflt) {
  const std::string k = "," + key + "=";
  const std::size_t at = device.find(k);
  if (at == std::string::npos) return dflt;
  return static_cast<std::uint32_t>(std::strtoul(device.c_str() + at + k.size(), nullptr, 10));
}

}  // namespace

void parse_meminfo(const std::string& text, Host& h) {
  std::istringstream in(text);
  std::uint64_t total = 0, free = 0, size_kb = 0, avail_kb = 0;
  for (std::string line; std::getline(in, line);) {
    unsigned long long v = 0;
    if (std::sscanf(line.c_str(), "HugePages_Total: %llu", &v) == 1) total = v;
    else if (std::sscanf(line.c_str(), "HugePages_Free: %llu", &v) == 1) free = v;
    else if (std::sscanf(line.c_str(), "Hugepagesize: %llu kB", &v) == 1) size_kb = v;
    else if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &v) == 1) avail_kb = v;
  }
  h.hugepages_total = total;
  h.hugepages_free = free;
  h.hugepage_size = size_kb << 10;
  h.mem_available = avail_kb << 10;
}

Host probe_host() {
  Host h;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) h.cpu_list.push_back(c);
  h.cpus = static_cast<unsigned>(h.cpu_list.size());
  std::ifstream f("/proc/meminfo");
  std::stringstream ss;
  ss << f.rdbuf();
  parse_meminfo(ss.str(), h);
  return h;
}

Needs compute(const Config& c, std::uint64_t hugepage_size) {
  Needs n;
  eal_memory(c.eal_args, n.no_huge, n.eal_memory);
  // Without hugepages EAL's memory is 4 KiB pages, and a mempool object never
  // spans a page (IOVA-contiguous objects): one 2.3 KiB mbuf per 4 KiB page.
  n.page_size = n.no_huge ? static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE))
                          : (hugepage_size ? hugepage_size : 2ull << 20);

  // The one mbuf pool (rte_pktmbuf_pool_create in main.cpp).
  n.mbufs = c.mbufs_needed();
  const std::uint32_t elt = static_cast<std::uint32_t>(sizeof(rte_mbuf)) + c.mbuf_data_room;
  n.mbuf_object = rte_mempool_calc_obj_size(elt, 0, nullptr);
  const std::uint64_t per_page = std::max<std::uint64_t>(1, n.page_size / n.mbuf_object);
  // Full pages, then the last objects (the rest of that page serves other allocations).
  n.mbuf_pool = n.mbuf_object <= n.page_size
                    ? n.mbufs / per_page * n.page_size + n.mbufs % per_page * n.mbuf_object
                    : std::uint64_t(n.mbufs) * n.mbuf_object;
  n.mempool_overhead = sizeof(rte_mempool) + RTE_MAX_LCORE * sizeof(rte_mempool_cache) +
                       sizeof(rte_pktmbuf_pool_private) +
                       rte_ring_get_memsize(static_cast<unsigned>(pow2_at_least(n.mbufs + 1)));
  // Steering rings hand segments between workers (main.cpp: 4096 each, >1 worker).
  n.rings = c.workers > 1 ? std::uint64_t(c.workers) * rte_ring_get_memsize(4096) : 0;
  for (auto& p : c.ports) {
    (void)p;
    n.queues += std::uint64_t(c.workers) * 2 * kQueueAllowance;  // one RX and one TX queue per worker
  }
  n.dpdk_total = n.mbuf_pool + n.mempool_overhead + n.rings + n.queues + kEalAllowance;
  // With hugepages, -m/--socket-mem is preallocated at start: reserve at
  // least that. Without, -m is all DPDK gets (checked in warnings()).
  n.hugepages_needed = n.no_huge ? 0 : round_up(std::max(n.dpdk_total, n.eal_memory), n.page_size);

  // Per worker: the TCP stack's tables as tcp::Stack allocates them.
  const tcp::Config t = tcp_options(c);
  n.tcbs = t.max_connections;
  n.tls_connections = t.max_connections / 2;
  n.tcb_bytes = tcp::Stack::control_block_size();
  const std::uint64_t buckets = pow2_at_least(std::max<std::uint64_t>(2ull * t.max_connections, 16));
  n.tcb_table = std::uint64_t(t.max_connections) * (n.tcb_bytes + 4) + 2 * buckets * 4;
  if (t.max_time_wait && t.time_wait_us)
    n.time_wait = std::uint64_t(t.max_time_wait) * kTimeWaitEntryBytes +
                  pow2_at_least(std::max<std::uint64_t>(2ull * t.max_time_wait, 16)) * 4;
  n.tcp_buffers = std::uint64_t(t.max_chunks) * t.chunk_size;
  // A buffer is a power of two of chunks (at most SeqBuffer::kMaxChunks).
  auto buffer = [&](std::uint32_t bytes) {
    const std::uint64_t chunks = std::min<std::uint64_t>(
        pow2_at_least(std::max<std::uint64_t>(1, (std::uint64_t(bytes) + t.chunk_size - 1) / t.chunk_size)),
        tcp::SeqBuffer::kMaxChunks);
    return chunks * t.chunk_size;
  };
  const std::uint64_t windows = 2 * (buffer(t.rcvbuf) + buffer(t.sndbuf));  // client and backend legs
  // An idle connection hibernates its TLS session after sip.tls_hibernate_ms.
  n.tls_idle = c.sip_tls_hibernate_ms ? kTlsIdleBytes : kTlsAwakeBytes;
  n.per_connection_idle = n.tls_idle + 2 * n.tcb_bytes;
  n.per_connection_full = n.per_connection_idle + windows;
  n.full_windows = static_cast<std::uint32_t>(std::min<std::uint64_t>(n.tcp_buffers / windows, n.tls_connections));
  n.tls_at_full_slots = std::uint64_t(n.tls_connections) * n.tls_idle;
  n.per_worker = n.tcb_table + n.time_wait + n.tcp_buffers + n.tls_at_full_slots;

  n.verdict_cache = control::VerdictCache(c.verdict_cache_entries).memory_bytes();
  // net_af_packet: an RX and a TX ring of framecnt frames of framesz bytes per queue pair.
  const port::Options po = port_options(c);
  for (auto& p : c.ports) {
    if (p.device.rfind("net_af_packet", 0) != 0) continue;
    const std::string dev = port::effective_device(
        p.device, c.workers, port::af_packet_frames(po.connections_per_worker, po.max_sleep_us));
    const std::uint64_t frames = port::af_packet_framecnt(dev);
    const std::uint64_t framesz = device_number(dev, "framesz", 2048);  // PMD default
    const std::uint64_t qpairs = device_number(dev, "qpairs", c.workers);
    n.af_packet_kernel += 2 * frames * framesz * qpairs;
  }
  // Without hugepages DPDK's memory is ordinary memory, touched as it is
  // used (-m is a ceiling, not a reservation).
  n.process_total = std::uint64_t(c.workers) * n.per_worker + n.verdict_cache + (n.no_huge ? n.dpdk_total : 0);
  return n;
}

std::vector<std::string> warnings(const Config& c, const Needs& n, const Host& h) {
  std::vector<std::string> w;
  if (n.no_huge) {
    const std::uint64_t have = n.eal_memory ? n.eal_memory : kNoHugeDefault;
    if (have < n.dpdk_total)
      w.push_back("eal.args: --no-huge with -m " + std::to_string(have >> 20) + " MiB, but the mbuf pool and rings need " +
                  human(n.dpdk_total) + " (4 KiB pages hold one mbuf each): raise -m or lower the descriptors/workers");
  } else if (h.hugepage_size == 0) {
    w.push_back("this host has no hugepages (no Hugepagesize in /proc/meminfo): " + human(n.hugepages_needed) +
                " needed, or run with --no-huge (vdev ports only)");
  } else if (h.hugepages_free * h.hugepage_size < n.hugepages_needed) {
    w.push_back("hugepages: " + std::to_string(h.hugepages_free) + " of " + std::to_string(h.hugepages_total) + " x " +
                human(h.hugepage_size) + " free (" + human(h.hugepages_free * h.hugepage_size) + "), " +
                human(n.hugepages_needed) +
                " needed: the systemd unit's turnpike-prepare reserves them; by hand: dpdk-hugepages.py --reserve " +
                std::to_string(((h.hugepages_total - h.hugepages_free) * h.hugepage_size + n.hugepages_needed) >> 20) +
                "M");
  }
  if (h.mem_available && h.mem_available < n.process_total + n.af_packet_kernel)
    w.push_back("memory: " + human(h.mem_available) + " available, the configuration may use " +
                human(n.process_total + n.af_packet_kernel) +
                " outside hugepages at full connection slots and buffers: lower tcp.max_connections or "
                "tcp.max_buffer_mb, or add memory");
  if (h.cpus) {
    const port::Placement p = port::plan_placement(c.workers, h.cpu_list, c.worker_cpus);
    if (const std::string s = p.sharing_warning(); !s.empty())
      w.push_back(std::to_string(c.workers) + " workers on " + std::to_string(h.cpus) + " CPU(s): " + s);
    for (unsigned cpu : c.worker_cpus)
      if (std::find(h.cpu_list.begin(), h.cpu_list.end(), cpu) == h.cpu_list.end())
        w.push_back("workers.cpus: cpu" + std::to_string(cpu) + " is not one this process may run on");
  }
  return w;
}

std::string report(const Config& c, const Needs& n, const Host& h) {
  std::ostringstream o;
  o << "sizing (" << c.workers << " worker" << (c.workers == 1 ? "" : "s") << "):\n";
  o << "  mbufs: " << n.mbufs << " x " << n.mbuf_object << " B in one pool = " << human(n.mbuf_pool) << " in "
    << human(n.page_size) << " pages (+ " << human(n.mempool_overhead) << " pool header, per-lcore caches, ring)\n";
  o << "  DPDK memory: " << human(n.dpdk_total) << " = mbufs + steering rings " << human(n.rings)
    << " + descriptor rings " << human(n.queues) << " (allowance, " << human(kQueueAllowance)
    << " per queue) + EAL/PMD allowance " << human(kEalAllowance) << "\n";
  if (n.no_huge)
    o << "  hugepages: none (--no-huge; DPDK memory comes from -m "
      << ((n.eal_memory ? n.eal_memory : kNoHugeDefault) >> 20) << " MiB of ordinary memory)\n";
  else
    o << "  hugepages: " << human(n.hugepages_needed) << " (" << n.hugepages_needed / n.page_size << " x "
      << human(n.page_size) << (n.eal_memory > n.dpdk_total ? ", the -m/--socket-mem preallocation" : "")
      << ")\n";
  o << "  connection slots: " << n.tcbs << " TCBs per worker = " << n.tls_connections
    << " SIP-over-TLS connections with their backend leg (" << std::uint64_t(n.tls_connections) * c.workers
    << " in all); TIME_WAIT entries apart (" << c.tcp_max_time_wait << " x " << kTimeWaitEntryBytes << " B per worker)\n";
  o << "  memory per connection: " << human(n.per_connection_idle) << " idle (TLS " << human(n.tls_idle)
    << (c.sip_tls_hibernate_ms ? " hibernated, " + human(kTlsAwakeBytes) + " awake" : std::string(" awake"))
    << " measured, 2 TCBs x " << n.tcb_bytes << " B); up to " << human(n.per_connection_full)
    << " with both legs' buffers full (tcp.rcvbuf + tcp.sndbuf each); " << n.full_windows
    << " connections per worker can have them full at once (tcp.max_buffer_mb)\n";
  o << "  per worker: TCB table " << human(n.tcb_table) << ", TIME_WAIT " << human(n.time_wait)
    << ", TCP buffers up to " << human(n.tcp_buffers) << ", TLS at full slots " << human(n.tls_at_full_slots)
    << " = " << human(n.per_worker) << "\n";
  o << "  process memory outside hugepages: up to " << human(n.process_total) << " (verdict cache "
    << human(n.verdict_cache) << (n.no_huge ? ", DPDK memory" : "") << ")";
  if (n.af_packet_kernel) o << "; kernel af_packet rings " << human(n.af_packet_kernel);
  o << "\n";
  o << "  host: " << h.cpus << " CPU(s) for " << c.workers << " worker(s) and the control lcore; hugepages "
    << h.hugepages_free << "/" << h.hugepages_total << " free x " << human(h.hugepage_size) << "; "
    << human(h.mem_available) << " memory available\n";
  for (auto& w : warnings(c, n, h)) o << "warning: " << w << "\n";
  o << "hugepages_needed_bytes=" << n.hugepages_needed << "\n";
  return o.str();
}

}  // namespace turnpike::sizing
