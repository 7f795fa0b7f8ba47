// Cost of the verify-callback path: cache hit (SHA-256 of the leaf + lookup
// + policy) against a miss (facts extraction + chain verification), on a
// leaf + intermediate chain from the test PKI (built at start-up).
#include <benchmark/benchmark.h>

#include <ctime>
#include <map>
#include <memory>

#include "pki_fixture.hpp"
#include "turnpike/control/peer.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_file;

namespace {
struct Env {
  TrustStore trust;
  VerdictCache cache{1024};
  std::vector<Der> chain;
  std::vector<std::span<const uint8_t>> spans;
  Env(const std::string& chain_file) {
    trust.add_ca_bundle(pki_file("ca.pem"));
    trust.add_crl(pki_file("inter.crl"));
    chain = *pem_certs_to_der(pki_file(chain_file));
    spans.assign(chain.begin(), chain.end());
  }
};
Env& env(const std::string& f) {
  static std::map<std::string, std::unique_ptr<Env>> m;
  auto& e = m[f];
  if (!e) e = std::make_unique<Env>(f);
  return *e;
}

void BM_PeerMiss(benchmark::State& st, const char* file) {
  Env& e = env(file);
  int64_t now = std::time(nullptr);
  for (auto _ : st) {
    PeerResult r = check_peer(e.spans, e.trust, nullptr, 1, EkuMode::On, Role::Inbound, now);
    benchmark::DoNotOptimize(r);
  }
}
void BM_PeerHit(benchmark::State& st, const char* file) {
  Env& e = env(file);
  int64_t now = std::time(nullptr);
  check_peer(e.spans, e.trust, &e.cache, e.cache.epoch(), EkuMode::On, Role::Inbound, now);
  for (auto _ : st) {
    PeerResult r = check_peer(e.spans, e.trust, &e.cache, e.cache.epoch(), EkuMode::On, Role::Inbound, now);
    if (!r.cache_hit) st.SkipWithError("expected a cache hit");
    benchmark::DoNotOptimize(r);
  }
}
void BM_ExtractFacts(benchmark::State& st) {
  Env& e = env("both-chain.pem");
  for (auto _ : st) benchmark::DoNotOptimize(extract_facts(e.chain[0]));
}
}  // namespace

BENCHMARK_CAPTURE(BM_PeerMiss, ecdsa_p256_chain, "both-chain.pem");
BENCHMARK_CAPTURE(BM_PeerMiss, rsa2048_chain, "rsa2048-chain.pem");
BENCHMARK_CAPTURE(BM_PeerHit, ecdsa_p256_chain, "both-chain.pem");
BENCHMARK(BM_ExtractFacts);
