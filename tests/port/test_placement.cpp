// Port layer without EAL: where lcores run, how the af_packet ring is sized,
// and the device strings the EAL gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "turnpike/port/port.hpp"

using namespace turnpike;

namespace {
std::vector<unsigned> cpus(unsigned n) {
  std::vector<unsigned> v(n);
  std::iota(v.begin(), v.end(), 0u);
  return v;
}
}  // namespace

// Regression: on 2 CPUs, --workers 2 put both workers on CPU 1 and left CPU 0
// to the control lcore (issue 15, part 3).
TEST(Placement, TwoCpusTwoWorkersGetDistinctCpus) {
  const port::Placement p = port::plan_placement(2, cpus(2), {});
  EXPECT_EQ(p.worker_cpu, (std::vector<unsigned>{0, 1}));
  EXPECT_FALSE(p.workers_share);
  EXPECT_TRUE(p.control_shares);
  EXPECT_EQ(p.control_cpu, 0u);
  EXPECT_EQ(p.eal_lcores(), "--lcores=0@0,1@0,2@1");
  EXPECT_EQ(p.describe(), "worker0@cpu0 worker1@cpu1 control@cpu0 (shared with worker0)");
  EXPECT_EQ(p.sharing_warning(), "");
}

TEST(Placement, EveryCpuCountAndWorkerCount) {
  for (unsigned n : {1u, 2u, 4u, 16u}) {
    for (unsigned w = 1; w <= n + 2; ++w) {
      SCOPED_TRACE("cpus=" + std::to_string(n) + " workers=" + std::to_string(w));
      const port::Placement p = port::plan_placement(w, cpus(n), {});
      ASSERT_EQ(p.worker_cpu.size(), w);
      for (unsigned c : p.worker_cpu) EXPECT_LT(c, n);
      const std::set<unsigned> distinct(p.worker_cpu.begin(), p.worker_cpu.end());
      if (w <= n) {
        // Distinct CPUs whenever there are enough of them.
        EXPECT_EQ(distinct.size(), w);
        EXPECT_FALSE(p.workers_share);
        EXPECT_TRUE(p.sharing_warning().empty());
      } else {
        // Then every CPU is used and the sharing is reported.
        EXPECT_EQ(distinct.size(), n);
        EXPECT_TRUE(p.workers_share);
        EXPECT_NE(p.sharing_warning().find("workers share a CPU"), std::string::npos);
      }
      // The control lcore has a CPU of its own when one is left.
      EXPECT_EQ(p.control_shares, w >= n);
      if (w < n) {
        EXPECT_EQ(distinct.count(p.control_cpu), 0u);
      }
      // lcore 0 is control, lcores 1..w the workers.
      std::string want = "--lcores=0@" + std::to_string(p.control_cpu);
      for (unsigned i = 0; i < w; ++i) want += "," + std::to_string(i + 1) + "@" + std::to_string(p.worker_cpu[i]);
      EXPECT_EQ(p.eal_lcores(), want);
    }
  }
}

TEST(Placement, OneCpuEverythingShares) {
  const port::Placement p = port::plan_placement(1, cpus(1), {});
  EXPECT_EQ(p.eal_lcores(), "--lcores=0@0,1@0");
  EXPECT_TRUE(p.control_shares);
  EXPECT_FALSE(p.workers_share);  // one worker: nothing to starve but the control lcore
  const port::Placement q = port::plan_placement(2, cpus(1), {});
  EXPECT_EQ(q.eal_lcores(), "--lcores=0@0,1@0,2@0");
  EXPECT_EQ(q.sharing_warning().substr(0, 47), "workers share a CPU (worker0+worker1 on cpu0): ");
}

TEST(Placement, FourCpusThreeWorkersLeaveOneForControl) {
  const port::Placement p = port::plan_placement(3, cpus(4), {});
  EXPECT_EQ(p.eal_lcores(), "--lcores=0@0,1@1,2@2,3@3");
  EXPECT_FALSE(p.control_shares);
  EXPECT_EQ(p.describe(), "worker0@cpu1 worker1@cpu2 worker2@cpu3 control@cpu0");
}

TEST(Placement, SixteenCpusEighteenWorkersReportTheSharedPairs) {
  const port::Placement p = port::plan_placement(18, cpus(16), {});
  EXPECT_EQ(p.worker_cpu[16], 0u);
  EXPECT_EQ(p.worker_cpu[17], 1u);
  const std::string w = p.sharing_warning();
  EXPECT_NE(w.find("worker0+worker16 on cpu0"), std::string::npos) << w;
  EXPECT_NE(w.find("worker1+worker17 on cpu1"), std::string::npos) << w;
}

TEST(Placement, AllowedCpusAreNotZeroBased) {
  // A cpuset of {2, 5, 7} (taskset, systemd CPUAffinity).
  const port::Placement p = port::plan_placement(2, {2, 5, 7}, {});
  EXPECT_EQ(p.eal_lcores(), "--lcores=0@2,1@5,2@7");
  const port::Placement q = port::plan_placement(3, {2, 5, 7}, {});
  EXPECT_EQ(q.eal_lcores(), "--lcores=0@2,1@2,2@5,3@7");
}

TEST(Placement, PinnedCpusAreKept) {
  // workers.cpus given: used as is; control on a CPU no worker uses.
  const port::Placement p = port::plan_placement(2, cpus(4), {3, 2});
  EXPECT_EQ(p.eal_lcores(), "--lcores=0@0,1@3,2@2");
  EXPECT_FALSE(p.workers_share);
  // Pinned onto one CPU: honoured, but said.
  const port::Placement q = port::plan_placement(2, cpus(2), {1, 1});
  EXPECT_EQ(q.eal_lcores(), "--lcores=0@0,1@1,2@1");
  EXPECT_TRUE(q.workers_share);
  EXPECT_NE(q.sharing_warning().find("worker0+worker1 on cpu1"), std::string::npos);
  // Pinned over every CPU: control shares with worker 0's.
  const port::Placement r = port::plan_placement(2, cpus(2), {1, 0});
  EXPECT_EQ(r.eal_lcores(), "--lcores=0@1,1@1,2@0");
  EXPECT_TRUE(r.control_shares);
}

// The EAL and ports as the embedded default configuration starts them.
static port::Options demo() {
  port::Options o;
  port::PortOptions p;
  p.name = "demo0";
  p.device = "net_tap0,iface=tp-demo0";
  p.ipv4 = 0xc6120001;
  o.ports.push_back(p);
  return o;
}

TEST(Placement, EalArgvUsesThePlan) {
  port::Options c = demo();
  c.workers = 2;
  auto argv = port::eal_argv(c, "tp", cpus(2));
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--lcores=0@0,1@0,2@1"), argv.end());
  // An operator's own --lcores wins.
  c.eal_args.push_back("--lcores=0@1,1@0,2@0");
  argv = port::eal_argv(c, "tp", cpus(2));
  EXPECT_EQ(std::count_if(argv.begin(), argv.end(), [](const std::string& a) { return a.rfind("--lcores", 0) == 0; }),
            1);
}

TEST(AfPacket, RingSizedFromConnectionsAndRate) {
  // Rate term: 10 Gb/s of full frames over 4 ms is 3,250 frames -> 4096.
  EXPECT_EQ(port::af_packet_frames(0, 200), 4096u);
  EXPECT_EQ(port::af_packet_frames(1024, 200), 4096u);
  // Default config: 4,096 connection slots per worker -> 2 frames each.
  EXPECT_EQ(port::af_packet_frames(4096, 200), 8192u);
  EXPECT_EQ(port::af_packet_frames(5000, 200), 16384u);
  // Long adaptive sleeps stretch the stall the ring must absorb.
  EXPECT_EQ(port::af_packet_frames(0, 5000), 8192u);
  // Bounded: 65,536 connections do not ask for 131,072 frames.
  EXPECT_EQ(port::af_packet_frames(65536, 200), 32768u);
}

TEST(AfPacket, DeviceStringCompletedOnlyWhereSilent) {
  EXPECT_EQ(port::effective_device("net_af_packet0,iface=eth1", 2, 8192),
            "net_af_packet0,iface=eth1,qpairs=2,framecnt=8192");
  EXPECT_EQ(port::effective_device("net_af_packet0,iface=eth1,framecnt=64", 2, 8192),
            "net_af_packet0,iface=eth1,framecnt=64,qpairs=2");
  EXPECT_EQ(port::effective_device("net_af_packet0,iface=eth1,qpairs=4,framecnt=1024", 2, 8192),
            "net_af_packet0,iface=eth1,qpairs=4,framecnt=1024");
  // Other drivers are left alone.
  EXPECT_EQ(port::effective_device("net_tap0,iface=tp0", 2, 8192), "net_tap0,iface=tp0");
  EXPECT_EQ(port::effective_device("0000:03:00.0", 2, 8192), "0000:03:00.0");
  // "iface=framecnt" is not a framecnt argument.
  EXPECT_EQ(port::af_packet_framecnt("net_af_packet0,iface=framecnt"), 512u);
  EXPECT_EQ(port::af_packet_framecnt("net_af_packet0,iface=x,framecnt=4096"), 4096u);
  EXPECT_EQ(port::af_packet_framecnt("net_tap0"), 0u);
}

TEST(AfPacket, EalArgvSizesTheDefaultRing) {
  port::Options c = demo();
  c.workers = 2;
  c.ports[0].device = "net_af_packet0,iface=veth0";
  auto argv = port::eal_argv(c, "tp", cpus(2));
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--vdev=net_af_packet0,iface=veth0,qpairs=2,framecnt=8192"),
            argv.end());
}

// net_af_xdp: one AF_XDP socket per queue. The 22.11 PMD takes queue_count= up
// to the interface's combined channels; a veth has none, so N workers get N
// devices, one queue each.
TEST(AfXdp, OneDevicePerQueueWithoutCombinedChannels) {
  EXPECT_EQ(port::effective_devices("net_af_xdp0,iface=veth0", 2, 8192, 0),
            (std::vector<std::string>{"net_af_xdp0q0,iface=veth0,start_queue=0,queue_count=1",
                                      "net_af_xdp0q1,iface=veth0,start_queue=1,queue_count=1"}));
  // start_queue= given: the devices count from there.
  EXPECT_EQ(port::effective_devices("net_af_xdp0,iface=veth0,start_queue=2,busy_budget=0", 2, 8192, 0),
            (std::vector<std::string>{"net_af_xdp0q0,iface=veth0,busy_budget=0,start_queue=2,queue_count=1",
                                      "net_af_xdp0q1,iface=veth0,busy_budget=0,start_queue=3,queue_count=1"}));
  // Enough combined channels (a NIC): one device with one queue per worker.
  EXPECT_EQ(port::effective_devices("net_af_xdp0,iface=eth1", 4, 8192, 8),
            (std::vector<std::string>{"net_af_xdp0,iface=eth1,queue_count=4"}));
  // One worker, or the operator's queue_count=: one device, as given.
  EXPECT_EQ(port::effective_devices("net_af_xdp0,iface=eth1", 1, 8192, 0),
            (std::vector<std::string>{"net_af_xdp0,iface=eth1,queue_count=1"}));
  EXPECT_EQ(port::effective_devices("net_af_xdp0,iface=eth1,queue_count=2", 2, 8192, 0),
            (std::vector<std::string>{"net_af_xdp0,iface=eth1,queue_count=2"}));
  // Other drivers: effective_device.
  EXPECT_EQ(port::effective_devices("net_af_packet0,iface=eth1", 2, 8192, 0),
            (std::vector<std::string>{"net_af_packet0,iface=eth1,qpairs=2,framecnt=8192"}));
  EXPECT_TRUE(port::is_af_xdp("net_af_xdp0,iface=x"));
  EXPECT_FALSE(port::is_af_xdp("net_af_packet0,iface=x"));
}

TEST(AfXdp, EalGetsOneVdevPerDevice) {
  port::Options c;
  c.workers = 2;
  port::PortOptions p;
  p.name = "x";
  p.device = "net_af_xdp0,iface=tp-no-such-if";  // no combined channels readable: per-queue devices
  c.ports.push_back(p);
  const auto argv = port::eal_argv(c, "tp", {0, 1});
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--vdev=net_af_xdp0q0,iface=tp-no-such-if,start_queue=0,queue_count=1"), 1);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--vdev=net_af_xdp0q1,iface=tp-no-such-if,start_queue=1,queue_count=1"), 1);
}

TEST(AfXdp, PoolHoldsTheFillRing) {
  port::PortOptions p;
  p.device = "net_af_xdp0,iface=x";
  p.rx_desc = 1024;
  // The fill ring's 2048 mbufs, and the RX ring raised from 1024 to 2048.
  EXPECT_EQ(port::af_xdp_extra_mbufs(p), 2048u + 1024u);
  p.rx_desc = 4096;
  EXPECT_EQ(port::af_xdp_extra_mbufs(p), 2048u);
  p.device = "net_af_packet0,iface=x";
  EXPECT_EQ(port::af_xdp_extra_mbufs(p), 0u);
  // No such interface: nothing known.
  EXPECT_EQ(port::iface_rx_queues("tp-no-such-if"), 0u);
  EXPECT_EQ(port::iface_rx_queues("../x"), 0u);
  EXPECT_EQ(port::iface_combined_channels("tp-no-such-if"), 0u);
}
