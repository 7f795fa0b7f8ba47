// turnpike --check-config's sizing: DPDK memory and hugepages, connection
// slots, memory per connection, and the warnings about what a host lacks.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include "turnpike/app/config.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/tcp/stack.hpp"
#include "sizing.hpp"

using namespace turnpike;

namespace {
constexpr std::uint64_t MiB = 1ull << 20;
constexpr std::uint64_t k2M = 2 * MiB;

Config config(std::vector<std::string> eal, unsigned workers = 1) {
  Config c = default_config();
  c.eal_args = std::move(eal);
  c.workers = workers;
  c.ports[0].device = "0000:03:00.0";
  return c;
}

// A host with plenty of everything: no warning is the host's fault.
sizing::Host roomy() {
  sizing::Host h;
  h.cpu_list = {0, 1, 2, 3, 4, 5, 6, 7};
  h.cpus = 8;
  h.hugepage_size = k2M;
  h.hugepages_total = h.hugepages_free = 4096;
  h.mem_available = 64ull << 30;
  return h;
}

bool mentions(const std::vector<std::string>& w, const std::string& what) {
  for (auto& s : w)
    if (s.find(what) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(Sizing, NoHugeHoldsOneMbufPerSmallPage) {
  const Config c = config({"--no-huge", "-m", "256", "--no-pci"});
  const auto n = sizing::compute(c, k2M);
  EXPECT_TRUE(n.no_huge);
  EXPECT_EQ(n.page_size, 4096u);
  EXPECT_EQ(n.mbufs, c.mbufs_needed());
  EXPECT_GE(n.mbuf_object, sizeof(rte_mbuf) + c.mbuf_data_room);
  ASSERT_LE(n.mbuf_object, 4096u);
  ASSERT_GT(n.mbuf_object, 2048u);  // two never fit in a 4 KiB page
  EXPECT_EQ(n.mbuf_pool, std::uint64_t(n.mbufs) * 4096);
  EXPECT_EQ(n.hugepages_needed, 0u);
  EXPECT_EQ(n.eal_memory, 256 * MiB);
  const std::string r = sizing::report(c, n, roomy());
  EXPECT_NE(r.find("\nhugepages_needed_bytes=0\n"), std::string::npos) << r;
  EXPECT_NE(r.find("hugepages: none (--no-huge"), std::string::npos) << r;
}

TEST(Sizing, HugepagesWholePagesCoveringTheDpdkMemory) {
  const Config c = config({});
  const auto n = sizing::compute(c, k2M);
  EXPECT_FALSE(n.no_huge);
  const std::uint64_t per_page = k2M / n.mbuf_object;
  EXPECT_EQ(n.mbuf_pool, n.mbufs / per_page * k2M + n.mbufs % per_page * n.mbuf_object);
  EXPECT_EQ(n.dpdk_total, n.mbuf_pool + n.mempool_overhead + n.rings + n.queues + sizing::kEalAllowance);
  EXPECT_EQ(n.hugepages_needed % k2M, 0u);
  EXPECT_GE(n.hugepages_needed, n.dpdk_total);
  EXPECT_LT(n.hugepages_needed, n.dpdk_total + k2M);
  const std::string r = sizing::report(c, n, roomy());
  EXPECT_NE(r.find("\nhugepages_needed_bytes=" + std::to_string(n.hugepages_needed) + "\n"), std::string::npos);
  // One 1 GiB page holds it all.
  EXPECT_EQ(sizing::compute(c, 1ull << 30).hugepages_needed, 1ull << 30);
}

TEST(Sizing, MemoryArgumentsArePreallocatedSoReserved) {
  EXPECT_EQ(sizing::compute(config({"-m", "2048"}), k2M).hugepages_needed, 2048 * MiB);
  EXPECT_EQ(sizing::compute(config({"-m1024"}), k2M).hugepages_needed, 1024 * MiB);
  EXPECT_EQ(sizing::compute(config({"--socket-mem", "1024,512"}), k2M).hugepages_needed, 1536 * MiB);
  EXPECT_EQ(sizing::compute(config({"--socket-mem=300"}), k2M).hugepages_needed, 300 * MiB);
  // Less than the pool needs: the pool's figure wins (EAL grows its heap).
  const auto small = sizing::compute(config({"-m", "1"}), k2M);
  EXPECT_GE(small.hugepages_needed, small.dpdk_total);
}

TEST(Sizing, WorkersQueuesAndSteeringRings) {
  Config c = config({}, 1);
  c.ports.push_back(c.ports[0]);
  c.ports[1].device = "0000:03:00.1";
  const auto one = sizing::compute(c, k2M);
  EXPECT_EQ(one.rings, 0u);  // one worker: nothing to steer
  EXPECT_EQ(one.queues, 2 * 2 * sizing::kQueueAllowance);
  c.workers = 4;
  const auto four = sizing::compute(c, k2M);
  EXPECT_GT(four.rings, 4u * 4096 * sizeof(void*));
  EXPECT_EQ(four.queues, 2 * 4 * 2 * sizing::kQueueAllowance);
  EXPECT_EQ(four.mbufs, c.mbufs_needed());
  EXPECT_GT(four.mbufs, one.mbufs);
}

TEST(Sizing, ConnectionSlotsAndMemoryPerConnection) {
  Config c = config({});
  c.tcp_max_connections = 1000;
  c.tcp_rcvbuf = c.tcp_sndbuf = 256 * 1024;
  c.tcp_max_buffer_mb = 128;
  c.tcp_max_time_wait = 32768;
  const auto n = sizing::compute(c, k2M);
  EXPECT_EQ(n.tcbs, 1000u);
  EXPECT_EQ(n.tls_connections, 500u);  // client leg + backend leg
  EXPECT_EQ(n.tcb_bytes, tcp::Stack::control_block_size());
  EXPECT_EQ(n.tcb_table, 1000 * (n.tcb_bytes + 4) + 2 * 2048 * 4);
  EXPECT_EQ(n.time_wait, 32768 * sizing::kTimeWaitEntryBytes + 65536 * 4);
  EXPECT_EQ(n.per_connection_idle, sizing::kTlsIdleBytes + 2 * n.tcb_bytes);
  EXPECT_EQ(n.per_connection_full, n.per_connection_idle + 2 * (256 + 256) * 1024);
  EXPECT_EQ(n.tcp_buffers, 128 * MiB);
  EXPECT_EQ(n.full_windows, 128u);  // 128 MiB / 1 MiB per connection
  EXPECT_EQ(n.per_worker, n.tcb_table + n.time_wait + n.tcp_buffers + 500 * sizing::kTlsIdleBytes);
  // Issue 12 item 4: an idle connection, hibernated TLS and both TCBs,
  // fits in 6 KiB; without hibernation it is the awake figure.
  EXPECT_LE(n.per_connection_idle, 6u * 1024);
  c.sip_tls_hibernate_ms = 0;
  const auto awake = sizing::compute(c, k2M);
  EXPECT_EQ(awake.tls_idle, sizing::kTlsAwakeBytes);
  EXPECT_EQ(awake.per_connection_idle, sizing::kTlsAwakeBytes + 2 * n.tcb_bytes);
  EXPECT_EQ(awake.per_worker, n.tcb_table + n.time_wait + n.tcp_buffers + 500 * sizing::kTlsAwakeBytes);
  c.sip_tls_hibernate_ms = 2000;
  // Buffers are powers of two of 16 KiB chunks: 100,000 B takes 8 chunks.
  c.tcp_rcvbuf = c.tcp_sndbuf = 100000;
  EXPECT_EQ(sizing::compute(c, k2M).per_connection_full, n.per_connection_idle + 2 * (128 + 128) * 1024);
  c.tcp_time_wait_ms = 0;  // no TIME_WAIT kept: no ring
  EXPECT_EQ(sizing::compute(c, k2M).time_wait, 0u);
}

TEST(Sizing, AfPacketKernelRings) {
  Config c = config({"--no-huge"}, 2);
  c.ports[0].device = "net_af_packet0,iface=eth1";
  const std::uint64_t frames = port::af_packet_frames(c.tcp_max_connections, c.idle_max_sleep_us);
  EXPECT_EQ(sizing::compute(c, k2M).af_packet_kernel, 2 * frames * 2048 * 2);
  c.ports[0].device = "net_af_packet0,iface=eth1,qpairs=1,framecnt=1024,framesz=4096";
  EXPECT_EQ(sizing::compute(c, k2M).af_packet_kernel, 2ull * 1024 * 4096 * 1);
  c.ports[0].device = "net_tap0";
  EXPECT_EQ(sizing::compute(c, k2M).af_packet_kernel, 0u);
}

TEST(Sizing, WarnsAboutMissingHugepages) {
  const Config c = config({});
  const auto n = sizing::compute(c, k2M);
  EXPECT_TRUE(sizing::warnings(c, n, roomy()).empty());
  sizing::Host h = roomy();
  h.hugepages_total = 100;
  h.hugepages_free = n.hugepages_needed / k2M - 1;  // one page short
  auto w = sizing::warnings(c, n, h);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(mentions(w, "turnpike-prepare")) << w[0];
  EXPECT_TRUE(mentions(w, "hugepages: " + std::to_string(h.hugepages_free) + " of 100")) << w[0];
  h.hugepages_free += 1;
  EXPECT_TRUE(sizing::warnings(c, n, h).empty());
  h.hugepage_size = 0;  // no hugepage support at all
  EXPECT_TRUE(mentions(sizing::warnings(c, n, h), "no hugepages"));
  // --no-huge needs none, whatever the host has.
  const Config nh = config({"--no-huge", "-m", "512"});
  EXPECT_TRUE(sizing::warnings(nh, sizing::compute(nh, k2M), h).empty());
}

TEST(Sizing, WarnsWhenMinusMCannotHoldThePoolWithoutHugepages) {
  const Config c = config({"--no-huge", "-m", "16"});
  const auto w = sizing::warnings(c, sizing::compute(c, k2M), roomy());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(mentions(w, "-m 16 MiB")) << w[0];
  // Without -m EAL takes 64 MiB: too little for 8 workers' queues.
  Config big = config({"--no-huge"}, 8);
  EXPECT_TRUE(mentions(sizing::warnings(big, sizing::compute(big, k2M), roomy()), "-m 64 MiB"));
}

TEST(Sizing, WarnsAboutCpusAndMemory) {
  Config c = config({}, 2);
  sizing::Host h = roomy();
  h.cpu_list = {0};
  h.cpus = 1;
  EXPECT_TRUE(mentions(sizing::warnings(c, sizing::compute(c, k2M), h), "2 workers on 1 CPU(s): workers share a CPU"));
  h.cpu_list = {0, 1};
  h.cpus = 2;  // as many CPUs as workers: the control lcore shares, workers do not
  EXPECT_TRUE(sizing::warnings(c, sizing::compute(c, k2M), h).empty());
  c.worker_cpus = {1, 5};
  EXPECT_TRUE(mentions(sizing::warnings(c, sizing::compute(c, k2M), h), "workers.cpus: cpu5"));
  c.worker_cpus.clear();
  h.mem_available = 100 * MiB;
  const auto n = sizing::compute(c, k2M);
  ASSERT_GT(n.process_total, h.mem_available);
  EXPECT_TRUE(mentions(sizing::warnings(c, n, h), "memory: 100.0 MiB available"));
}

TEST(Sizing, ReadsMeminfo) {
  sizing::Host h;
  sizing::parse_meminfo(
      "MemTotal:       16315404 kB\nMemAvailable:    8000000 kB\nHugePages_Total:     512\n"
      "HugePages_Free:      500\nHugepagesize:       2048 kB\n",
      h);
  EXPECT_EQ(h.hugepages_total, 512u);
  EXPECT_EQ(h.hugepages_free, 500u);
  EXPECT_EQ(h.hugepage_size, k2M);
  EXPECT_EQ(h.mem_available, 8000000ull * 1024);
  sizing::Host none;
  sizing::parse_meminfo("MemTotal: 1 kB\n", none);
  EXPECT_EQ(none.hugepage_size, 0u);
}
