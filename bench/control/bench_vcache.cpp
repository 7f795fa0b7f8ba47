// Verdict cache: hit and miss latency at 1k and 1M entries, and aggregate
// hits per second with 1 and 2 threads.
//   bench_control_vcache --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "turnpike/control/vcache.hpp"

using namespace turnpike::control;

namespace {

Fingerprint fp_of(uint64_t i) {
  uint8_t b[8];
  std::memcpy(b, &i, 8);
  return sha256(b);
}

struct Fixture {
  std::unique_ptr<VerdictCache> cache;
  std::vector<Fingerprint> present;  // random order
  std::vector<Fingerprint> absent;
};

// One filled cache per size, shared by every benchmark and thread.
Fixture& fixture(size_t n) {
  static std::mutex mu;
  static std::map<size_t, std::unique_ptr<Fixture>> all;
  std::lock_guard<std::mutex> lock(mu);
  auto& f = all[n];
  if (!f) {
    f = std::make_unique<Fixture>();
    // Twice the entries in capacity so that (almost) all n keys stay resident.
    f->cache = std::make_unique<VerdictCache>(2 * n);
    for (uint64_t i = 0; i < n; ++i) {
      Fingerprint fp = fp_of(i);
      CacheEntry e;
      e.fp = fp;
      e.epoch = f->cache->epoch();
      e.chain = ChainStatus::Ok;
      e.facts.eku_present = true;
      e.facts.eku = kEkuServerAuth | kEkuClientAuth;
      f->cache->insert(e);
      CacheEntry out;
      if (f->cache->lookup(fp, out)) f->present.push_back(fp);
    }
    std::mt19937_64 rng(42);
    std::shuffle(f->present.begin(), f->present.end(), rng);
    size_t m = std::min<size_t>(n, 1u << 16);
    for (uint64_t i = 0; i < m; ++i) f->absent.push_back(fp_of((1ull << 40) + i));
  }
  return *f;
}

void BM_Hit(benchmark::State& st) {
  Fixture& f = fixture(static_cast<size_t>(st.range(0)));
  const uint64_t ep = f.cache->epoch();
  CacheEntry out;
  size_t i = 0, n = f.present.size();
  for (auto _ : st) {
    bool hit = f.cache->lookup(f.present[i], ep, out);
    benchmark::DoNotOptimize(hit);
    benchmark::DoNotOptimize(out);
    if (++i == n) i = 0;
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["resident"] = static_cast<double>(n);
}

void BM_Miss(benchmark::State& st) {
  Fixture& f = fixture(static_cast<size_t>(st.range(0)));
  const uint64_t ep = f.cache->epoch();
  CacheEntry out;
  size_t i = 0, n = f.absent.size();
  for (auto _ : st) {
    bool hit = f.cache->lookup(f.absent[i], ep, out);
    benchmark::DoNotOptimize(hit);
    if (++i == n) i = 0;
  }
  st.SetItemsProcessed(st.iterations());
}

// Aggregate throughput: items_per_second summed over threads.
void BM_HitsThroughput(benchmark::State& st) {
  Fixture& f = fixture(static_cast<size_t>(st.range(0)));
  const uint64_t ep = f.cache->epoch();
  CacheEntry out;
  size_t n = f.present.size();
  size_t i = (static_cast<size_t>(st.thread_index()) * 7919) % n;
  for (auto _ : st) {
    bool hit = f.cache->lookup(f.present[i], ep, out);
    benchmark::DoNotOptimize(hit);
    if (++i == n) i = 0;
  }
  st.SetItemsProcessed(st.iterations());
}

}  // namespace

BENCHMARK(BM_Hit)->Arg(1000)->Arg(1000000);
BENCHMARK(BM_Miss)->Arg(1000)->Arg(1000000);
BENCHMARK(BM_HitsThroughput)->Arg(1000)->Arg(1000000)->Threads(1)->Threads(2)->UseRealTime();
