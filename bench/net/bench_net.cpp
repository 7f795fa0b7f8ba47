// Cycles per packet of the eth -> ipv4 -> icmp echo path (parse, validate
// both checksums, build the reply in place, neighbour lookup, TX batching) on
// synthetic mbufs in bursts of 32, one core. The TX side is a sink, so only
// turnpike's own work is timed (rdtsc around input + flush).
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <cstring>
#include <vector>

#include "eal_env.hpp"
#include "turnpike/net/checksum.hpp"
#include "turnpike/net/stack.hpp"

using namespace turnpike::net;

namespace {

const MacAddr kOurMac{{2, 0, 0, 0, 0, 1}}, kPeerMac{{2, 0, 0, 0, 0, 2}};
constexpr Ipv4Addr kOurIp = 0xc6120001, kPeerIp = 0xc6120002;

std::vector<std::uint8_t> echo_request(std::size_t payload) {
  std::vector<std::uint8_t> f(kEthHdrLen + 28 + payload);
  write_eth(f.data(), kOurMac, kPeerMac, kEtherTypeIpv4);
  write_ipv4_hdr(f.data() + kEthHdrLen, static_cast<std::uint16_t>(28 + payload), 1, 64, kIpProtoIcmp, kPeerIp, kOurIp);
  std::uint8_t* icmp = f.data() + kEthHdrLen + 20;
  icmp[0] = kIcmpEchoRequest;
  store_be16(icmp + 4, 0x1234);
  store_be16(icmp + 6, 1);
  for (std::size_t i = 0; i < payload; ++i) icmp[8 + i] = static_cast<std::uint8_t>(i);
  store_be16(icmp + 2, inet_checksum(icmp, 8 + payload));
  return f;
}

void BM_EchoPath(benchmark::State& state) {
  constexpr std::uint16_t kBurst = 32;
  rte_mempool* pool = turnpike::testing::test_pool("bench_pool", 4095);
  NeighborTable neigh(1024, ~0ull >> 2);
  neigh.update(kPeerIp, kPeerMac, 0, true);
  std::vector<rte_mbuf*> out;
  out.reserve(kBurst);
  PortNet pn;
  pn.mac = kOurMac;
  pn.ip = kOurIp;
  pn.prefix = 24;
  pn.neigh = &neigh;
  NetWorker nw({pn}, pool,
               [&](std::uint16_t, rte_mbuf** pkts, std::uint16_t n) {
                 out.insert(out.end(), pkts, pkts + n);
                 return n;
               },
               64, NetTimers{1, 1});
  const auto tmpl = echo_request(static_cast<std::size_t>(state.range(0)));
  rte_mbuf* burst[kBurst];
  if (rte_pktmbuf_alloc_bulk(pool, burst, kBurst)) {
    state.SkipWithError("mbuf alloc");
    return;
  }
  std::uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    for (auto* m : burst) {  // re-arm the same mbufs with a fresh request (untimed)
      rte_pktmbuf_reset(m);
      std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(tmpl.size())), tmpl.data(), tmpl.size());
    }
    out.clear();
    const std::uint64_t t0 = rte_rdtsc_precise();
    nw.input(0, burst, kBurst, 0);
    nw.flush();
    const std::uint64_t t1 = rte_rdtsc_precise();
    cycles += t1 - t0;
    packets += kBurst;
    if (out.size() != kBurst) {
      state.SkipWithError("not every request was answered");
      break;
    }
    state.SetIterationTime(double(t1 - t0) / double(rte_get_tsc_hz()));
  }
  state.counters["cycles/pkt"] = packets ? double(cycles) / double(packets) : 0;
  state.counters["pkts"] = benchmark::Counter(double(packets), benchmark::Counter::kIsRate);
  rte_pktmbuf_free_bulk(burst, kBurst);
}
BENCHMARK(BM_EchoPath)->Arg(56)->Arg(1400)->UseManualTime();

void BM_NeighborLookupHit(benchmark::State& state) {
  NeighborTable t(1024, ~0ull >> 2);
  for (Ipv4Addr i = 1; i <= 500; ++i) t.update(0xc6120000 + i, kPeerMac, 0, true);
  Ipv4Addr ip = 0xc6120001;
  MacAddr m;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.lookup(ip, 1, m));
    ip = 0xc6120001 + (ip + 7) % 500;
  }
}
BENCHMARK(BM_NeighborLookupHit);

}  // namespace

int main(int argc, char** argv) {
  turnpike::testing::init_test_eal();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
