// What a configuration needs from the host -- DPDK memory (hugepages, or -m
// with --no-huge), mbufs, connection slots, memory per connection -- and
// whether this host can give it. `turnpike --check-config` prints it; the
// unit's turnpike-prepare reserves the hugepages it reports.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "turnpike/app/config.hpp"
#include "turnpike/tcp/stack.hpp"

namespace turnpike::sizing {

// Measured, not derivable from the config, without the two TCBs; bytes
// requested from the allocators per connection, 1,000 established
// connections idle after one request/response (bench/ring/bench_ring_sip
// 1000 rr: the growth of side A's live operator-new and wolfSSL bytes over
// the batch, divided by 1,000; 2026-12-05).
// Hibernated (the default, sip.tls_hibernate_ms): wolfSSL holds nothing;
// turnpike's pair 848 B, tls::Session 376 B, the exported TLS state 393 B
// (wolf_state.c: record keys, sequence numbers, TLS 1.3 traffic secrets),
// map node 24 B, allocator rounding.
inline constexpr std::uint64_t kTlsIdleBytes = 0 + 1833;
// Awake (hibernation off, or idle for less than sip.tls_hibernate_ms):
// wolfSSL 9,616 B (the WOLFSSL object 5,536 B, two AES-GCM states, small
// blocks) and turnpike's objects 1,393 B (pair 848 B, tls::Session 376 B,
// map node 24 B; the handshake's buffers, 1,988 B and 246 B, are freed
// when it opens since 2026-12-05: they made it 3,617 B).
inline constexpr std::uint64_t kTlsAwakeBytes = 9616 + 1393;
// A compact TIME_WAIT entry (tcp::Stack::TwEntry, 16-byte addresses).
inline constexpr std::uint64_t kTimeWaitEntryBytes = tcp::Stack::time_wait_entry_size();
// Allowances, not measurements: descriptor rings (NIC PMDs reserve them at
// their maximum size, 4096 descriptors: ixgbe/i40e about 100 KiB per queue
// with the software ring) and EAL/ethdev/PMD-internal memory plus heap
// slack (1.7 MiB beyond turnpike's own objects measured with net_tap).
inline constexpr std::uint64_t kQueueAllowance = 128 * 1024;
inline constexpr std::uint64_t kEalAllowance = 16ull << 20;
// DPDK's memory without hugepages when -m is not given (EAL's default).
inline constexpr std::uint64_t kNoHugeDefault = 64ull << 20;

struct Host {
  unsigned cpus = 0;                 // CPUs this process may run on
  std::vector<unsigned> cpu_list;    // their numbers
  std::uint64_t hugepage_size = 0;   // default hugepage size, bytes (0: none)
  std::uint64_t hugepages_total = 0; // default-size pages, all nodes
  std::uint64_t hugepages_free = 0;
  std::uint64_t mem_available = 0;   // MemAvailable, bytes
};
// This process's CPU affinity and /proc/meminfo.
Host probe_host();
// /proc/meminfo's fields into `h` (tests feed their own text).
void parse_meminfo(const std::string& text, Host& h);

struct Needs {
  // DPDK memory.
  bool no_huge = false;
  std::uint64_t page_size = 0;       // pages DPDK's memory comes in (4 KiB with --no-huge)
  std::uint64_t eal_memory = 0;      // -m / --socket-mem, bytes (0: not given)
  std::uint32_t mbufs = 0;           // one pool for every port and worker
  std::uint64_t mbuf_object = 0;     // bytes per mbuf: pool header, rte_mbuf, data room
  std::uint64_t mbuf_pool = 0;       // objects never span a page: per-page packing
  std::uint64_t mempool_overhead = 0;  // rte_mempool, per-lcore caches, its ring
  std::uint64_t rings = 0;           // steering rings between workers
  std::uint64_t queues = 0;          // descriptor rings (allowance)
  std::uint64_t dpdk_total = 0;      // all of the above + kEalAllowance
  std::uint64_t hugepages_needed = 0;  // bytes to reserve, whole pages; 0 with --no-huge
  // Connections, per worker.
  std::uint32_t tcbs = 0;            // tcp.max_connections
  std::uint32_t tls_connections = 0; // a SIP-over-TLS connection takes two TCBs (client + backend leg)
  std::uint64_t tcb_bytes = 0;       // one control block
  std::uint64_t tcb_table = 0;       // all control blocks + hash buckets (allocated at start)
  std::uint64_t time_wait = 0;       // TIME_WAIT ring + buckets (allocated at start)
  std::uint64_t tcp_buffers = 0;     // chunk pool limit (tcp.max_buffer_mb), taken as used
  std::uint64_t tls_idle = 0;        // kTlsIdleBytes, or kTlsAwakeBytes without hibernation
  std::uint64_t per_connection_idle = 0;  // TLS + two TCBs
  std::uint64_t per_connection_full = 0;  // + both legs' send and receive buffers full
  std::uint32_t full_windows = 0;    // connections with full buffers the chunk pool holds at once
  std::uint64_t tls_at_full_slots = 0;
  std::uint64_t per_worker = 0;      // tables + TIME_WAIT + buffers + TLS at full slots
  // Process and kernel.
  std::uint64_t verdict_cache = 0;
  std::uint64_t af_packet_kernel = 0;  // net_af_packet rings (kernel memory)
  std::uint64_t process_total = 0;     // workers x per_worker + verdict cache (+ DPDK memory with --no-huge)
};
Needs compute(const Config& c, std::uint64_t hugepage_size);
// What this host lacks for the configuration, one line each.
std::vector<std::string> warnings(const Config& c, const Needs& n, const Host& h);
// The --check-config section: figures, the host, warnings, and the line
// turnpike-prepare reads: "hugepages_needed_bytes=N".
std::string report(const Config& c, const Needs& n, const Host& h);

}  // namespace turnpike::sizing
