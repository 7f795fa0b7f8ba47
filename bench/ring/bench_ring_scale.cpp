// 1 vs 2 share-nothing pipelines in one process: does a second turnpike
// worker add a worker's worth of SIP over TLS?
//
// A pipeline is a ringsip::Rig (sip_ring.hpp): side A is a turnpike worker
// (NetWorker, TcpGlue, TCP, TLS, SipProxy, BackendPool) on its own net_ring
// port pair, rings, stacks, TLS contexts, verdict cache and ticket keys; side
// B is its load (TLS clients and the plain SIP backend). One thread per
// pipeline, pinned to its own CPU and registered as a DPDK lcore (its own
// mbuf cache of the one shared mbuf pool, as turnpike's workers have),
// pumps A then B in turn. The box has 2 cores, so a worker and its load
// share a core; 1 pair on one core is compared with 2 pairs on two cores at
// the same time, in the same process: what they share is what turnpike's
// workers share (the process, the allocator, the wolfSSL library, the mbuf
// pool, caches and memory).
//
// Figures per case (full handshake + OPTIONS + close; the same resumed with
// a ticket; REGISTER request/response pairs over 200 held connections):
//   - ops/s by wall clock: each pair runs batches until a common deadline;
//     the 2-pair aggregate is the sum of both pairs' rates;
//   - ops per CPU-second of the pair's thread (CLOCK_THREAD_CPUTIME_ID):
//     the same without the time other processes on the shared box took;
//   - A's cost per op: its thread CPU time in its busy rounds (Rig
//     measure_cpu; the TSC figure, as bench_ring_sip gives it, is printed
//     too but counts time other processes took from a preempted round),
//     which must not rise with a second worker if nothing is shared.
// The 1-pair baseline is run on each core alone (core 0, then core 1); the
// 2-pair / 1-pair ratio is the sum over cores of each core's rate with both
// pairs running over its rate alone (2.00: nothing shared costs anything).
// On a box shared with other work the wall-clock ratio is biased against 2
// pairs (with 1 pair, the other core takes the other work; with 2, both
// pairs are preempted by it): the per-CPU-second ratio is the fair one, and
// each pair's on-CPU share is printed so that preemption shows.
// Prints figures; asserts nothing about speed.
//
//   bench_ring_scale [WINDOW_S [RUNS [CASES]]]   window per case (default 2 s),
//       runs (default 3; best and median of the ratios), CASES: full, resumed,
//       register (default: all)
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sched.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sip_ring.hpp"

using namespace turnpike;
using ringsip::Rig;
using ringsip::RigOptions;

namespace {

enum class Case { full, resumed, reg };
const char* case_name(Case c) {
  return c == Case::full ? "full handshake + OPTIONS + close" : c == Case::resumed ? "resumed handshake + OPTIONS + close"
                                                                                   : "REGISTER 700 B req/resp, 200 conns";
}

constexpr unsigned kBatch = 100;      // handshake cases: connections per batch
constexpr unsigned kConns = 200;      // register case: held connections
constexpr unsigned kPerBatch = 10;    // register case: requests per connection per batch

struct PairResult {
  int cpu = -1;
  std::uint64_t ops = 0, a_cycles = 0, b_cycles = 0, a_ns = 0, b_ns = 0;
  double wall_s = 0, cpu_s = 0;
  std::string error;
  double rate() const { return wall_s > 0 ? double(ops) / wall_s : 0; }
  double cpu_rate() const { return cpu_s > 0 ? double(ops) / cpu_s : 0; }
};

std::mutex g_setup;  // Rig construction and teardown (ethdev and ring creation) one at a time
unsigned g_tag = 0;
double g_tsc_hz = 1;

double thread_cpu_s() { return double(ringsip::thread_ns()) / 1e9; }
double wall_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// One pair on `cpu`: set up and warm, wait for the others, run batches
// until `window` seconds have passed, wait again, tear down.
void run_pair(Case c, int cpu, double window, std::barrier<>& sync, PairResult& out) {
  out.cpu = cpu;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) out.error = "cannot pin to CPU " + std::to_string(cpu);
  // An lcore id: the mbuf pool's per-lcore cache (a worker's, in turnpike).
  if (rte_thread_register() != 0 && out.error.empty()) out.error = std::string("rte_thread_register: ") + rte_strerror(rte_errno);
  std::unique_ptr<Rig> r;
  std::string tag;
  tls::SavedSession saved;
  try {
    std::lock_guard lk(g_setup);
    tag = "sc" + std::to_string(g_tag++);
    RigOptions o;
    o.tag = tag.c_str();
    o.open_per_round = c == Case::reg ? 32 : 16;
    o.sends_per_round = c == Case::reg ? 256 : 128;
    o.tickets = c == Case::resumed;
    r = std::make_unique<Rig>(o);
    r->measure_cpu = true;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  if (r) {
    // Warm-up: pools, the first handshake, and for resumption the ticket.
    if (c == Case::reg) {
      r->open(kConns, 1, "REGISTER", /*hold=*/true);
      if (!r->run_until([&] { return r->totals().answered >= kConns && r->live_clients() == kConns; }, 600'000'000))
        out.error = "register: connections not established";
    } else {
      r->open(c == Case::resumed ? 1 : 32, 1, "OPTIONS");
      if (!r->run_until([&] { return r->idle(); }, 60'000'000)) out.error = "warm-up did not finish";
      if (c == Case::resumed && !r->clients().empty()) saved = r->clients().front()->s.save();
      if (c == Case::resumed && !saved) out.error = "no ticket saved";
      r->reap_clients();
      r->drain();
    }
  }
  sync.arrive_and_wait();
  if (r && out.error.empty()) {
    const double t0 = wall_s(), c0 = thread_cpu_s();
    const std::uint64_t a0 = r->cycles_a, b0 = r->cycles_b, an0 = r->cpu_ns_a, bn0 = r->cpu_ns_b;
    const ringsip::Totals s0 = r->totals();
    std::uint64_t ops = 0;
    do {
      if (c == Case::reg) {
        const std::uint64_t want = r->totals().answered + std::uint64_t(kConns) * kPerBatch;
        r->request_all(kPerBatch);
        r->run_until([&] { return r->totals().answered >= want || r->totals().failed; }, 600'000'000);
        ops = r->totals().answered - s0.answered;
      } else {
        r->open(kBatch, 1, "OPTIONS", false, saved);
        r->run_until([&] { return r->idle(); }, 600'000'000);
        r->reap_clients();
        ops = r->totals().done - s0.done;
      }
      const ringsip::Totals t = r->totals();
      if (t.failed != s0.failed || t.mismatched != s0.mismatched) {
        out.error = std::to_string(t.failed - s0.failed) + " failed, " + std::to_string(t.mismatched - s0.mismatched) +
                    " mismatched";
        break;
      }
    } while (wall_s() - t0 < window);
    out.wall_s = wall_s() - t0;
    out.cpu_s = thread_cpu_s() - c0;
    out.ops = ops;
    out.a_cycles = r->cycles_a - a0;
    out.b_cycles = r->cycles_b - b0;
    out.a_ns = r->cpu_ns_a - an0;
    out.b_ns = r->cpu_ns_b - bn0;
    if (c == Case::resumed && out.error.empty()) {
      const ringsip::Totals t = r->totals();
      if (t.resumed - s0.resumed < ops) out.error = "only " + std::to_string(t.resumed - s0.resumed) + " of " +
                                                    std::to_string(ops) + " resumed";
    }
  }
  sync.arrive_and_wait();  // the other pair's window is over before teardown
  if (r) {
    if (c == Case::reg) {
      r->release_all();
      r->run_until([&] { return r->idle(); }, 600'000'000);
    }
    std::lock_guard lk(g_setup);
    r.reset();
  }
  rte_thread_unregister();
}

std::vector<PairResult> run_config(Case c, const std::vector<int>& cpus, double window) {
  std::vector<PairResult> res(cpus.size());
  std::barrier sync(static_cast<std::ptrdiff_t>(cpus.size()));
  std::vector<std::thread> th;
  for (std::size_t i = 0; i < cpus.size(); ++i)
    th.emplace_back([&, i] { run_pair(c, cpus[i], window, sync, res[i]); });
  for (auto& t : th) t.join();
  return res;
}

double us_per_op(std::uint64_t cycles, std::uint64_t ops) { return ops ? double(cycles) * 1e6 / g_tsc_hz / double(ops) : 0; }
double cpu_us_per_op(std::uint64_t ns, std::uint64_t ops) { return ops ? double(ns) / 1e3 / double(ops) : 0; }

void print_pair(const char* config, const PairResult& p) {
  // on CPU: the share of the window the thread ran (the rest went to other
  // processes on the shared box).
  std::printf("  %-8s cpu %d: %8llu ops in %5.2f s = %8.0f/s wall, %8.0f per CPU-s (on CPU %3.0f%%); "
              "A %6.1f us/op cpu (%6.1f tsc), B %6.1f cpu%s%s\n",
              config, p.cpu, (unsigned long long)p.ops, p.wall_s, p.rate(), p.cpu_rate(),
              p.wall_s > 0 ? 100 * p.cpu_s / p.wall_s : 0.0, cpu_us_per_op(p.a_ns, p.ops),
              us_per_op(p.a_cycles, p.ops), cpu_us_per_op(p.b_ns, p.ops), p.error.empty() ? "" : "  !! ", p.error.c_str());
}

struct Ratios {
  double wall = 0, cpu = 0, a_cost = 0;
  bool ok = true;
};

Ratios one_run(Case c, double window) {
  Ratios q;
  const auto s0 = run_config(c, {0}, window);
  const auto s1 = run_config(c, {1}, window);
  const auto both = run_config(c, {0, 1}, window);
  print_pair("1 pair", s0[0]);
  print_pair("1 pair", s1[0]);
  print_pair("2 pairs", both[0]);
  print_pair("2 pairs", both[1]);
  for (const auto* v : {&s0, &s1, &both})
    for (const auto& p : *v) q.ok &= p.error.empty() && p.ops > 0;
  // Each core against itself alone: sum over cores of rate(2 pairs) / rate(1 pair on that core).
  auto per_core = [](double two, double one) { return one > 0 ? two / one : 0; };
  const double single_a = (cpu_us_per_op(s0[0].a_ns, s0[0].ops) + cpu_us_per_op(s1[0].a_ns, s1[0].ops)) / 2;
  const double both_a = (cpu_us_per_op(both[0].a_ns, both[0].ops) + cpu_us_per_op(both[1].a_ns, both[1].ops)) / 2;
  q.wall = per_core(both[0].rate(), s0[0].rate()) + per_core(both[1].rate(), s1[0].rate());
  const double c0 = per_core(both[0].cpu_rate(), s0[0].cpu_rate()), c1 = per_core(both[1].cpu_rate(), s1[0].cpu_rate());
  q.cpu = c0 + c1;
  q.a_cost = single_a > 0 ? both_a / single_a : 0;
  std::printf("  => 2 pairs / 1 pair: %.2fx ops/s (wall), %.2fx ops per CPU-s (core 0 %.2f + core 1 %.2f); "
              "A's CPU per op %.2fx%s\n",
              q.wall, q.cpu, c0, c1, q.a_cost, q.ok ? "" : "  (ERRORS: not a valid run)");
  std::fflush(stdout);
  return q;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const double window = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string only = argc > 3 ? argv[3] : "";
  if (!(window > 0 && window <= 60) || runs < 1 || runs > 20) {
    std::fprintf(stderr, "usage: bench_ring_scale [WINDOW_S (0-60] [RUNS 1-20 [full|resumed|register]]]\n");
    return 2;
  }
  if (std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "bench_ring_scale: needs 2 CPUs\n");
    return 2;
  }
  testing::init_test_eal();
  // The one mbuf pool, created before any Rig looks it up (test_pool's own
  // has no per-lcore cache), with a cache per lcore as turnpike's has: each
  // pair's frames come from its own cache, not from the shared ring.
  if (!rte_pktmbuf_pool_create("test_pool", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY)) {
    std::fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  tls::init_library();
  g_tsc_hz = double(rte_get_tsc_hz());
  std::printf("1 vs 2 share-nothing pipelines (worker + its load per core, net_ring, one process); window %.1f s, "
              "%d run(s); TSC %.3f GHz\n", window, runs, g_tsc_hz / 1e9);
  bool all_ok = true;
  for (Case c : {Case::full, Case::resumed, Case::reg}) {
    const char* key = c == Case::full ? "full" : c == Case::resumed ? "resumed" : "register";
    if (!only.empty() && only != key) continue;
    std::printf("%s:\n", case_name(c));
    std::vector<double> wall, cpu, cost;
    for (int i = 0; i < runs; ++i) {
      std::printf(" run %d\n", i + 1);
      const Ratios q = one_run(c, window);
      all_ok &= q.ok;
      wall.push_back(q.wall);
      cpu.push_back(q.cpu);
      cost.push_back(q.a_cost);
    }
    std::printf("%s: 2/1 pairs ops/s (wall) best %.2fx median %.2fx; per CPU-s best %.2fx median %.2fx; "
                "A's CPU per op 2/1 best %.2fx median %.2fx\n\n",
                key, *std::max_element(wall.begin(), wall.end()), median(wall), *std::max_element(cpu.begin(), cpu.end()),
                median(cpu), *std::min_element(cost.begin(), cost.end()), median(cost));
    std::fflush(stdout);
  }
  return all_ok ? 0 : 1;
}
