// Side A's (turnpike's) busy cycles per operation for SIP over TLS on DPDK
// net_ring ports (rig: sip_ring.hpp). A's pump (NetWorker input, TcpGlue,
// TCP, TLS, SipProxy, BackendPool and their timers, TX flush) is timed with
// rte_rdtsc and counted only in rounds where A received frames or sent
// segments; B (TLS clients and the plain SIP backend) is timed apart so the
// load's own cost is visible. Prints figures; asserts nothing about speed.
//
//   bench_ring_sip [N [CASES]]   N: connections per handshake batch (default 1000;
//                                each case runs 3 batches and reports the least
//                                disturbed); CASES: floor, hs, mtls, resume,
//                                fixed or rr (default: all); rrN [PER_CONN]: the pairs
//                                over N connections alone (PER_CONN requests each, 10)
//
// Memory per idle established connection on A: every allocation made while
// A's pump runs is counted (operator new/delete here by malloc_usable_size;
// wolfSSL's allocator hooks, which go to mimalloc, by mi_usable_size); the
// figure is the growth of A's live bytes from before a batch of connections
// is opened to when they all sit idle after one request/response, divided by
// the batch size, after an identical warm-up batch has grown every pool
// (TCP chunk slabs, hash tables). To that are added the two TCP control
// blocks (client leg and backend leg; preallocated, so not in the delta) and
// the TCP buffer chunks still in use. TP_BENCH_AWAKE=1 turns hibernation
// off (sip.tls_hibernate_ms = 0) for the figure of an awake connection.
#include <malloc.h>
#include <mimalloc.h>
#include <rte_cycles.h>
#include <wolfssl/wolfcrypt/memory.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "sip_ring.hpp"

using namespace turnpike;
using ringsip::Rig;
using ringsip::RigOptions;
using ringsip::Side;

namespace {
// Live bytes allocated per Side: [0] by operator new, [1] by wolfSSL (mimalloc).
std::int64_t g_live[2][3];
inline void count(void* p, std::size_t sz, int sign, int kind = 0) {
  if (p) g_live[kind][static_cast<int>(ringsip::g_side)] += sign * static_cast<std::int64_t>(sz);
}
// Live wolfSSL blocks allocated by A, by requested size (for the memory
// breakdown): open addressing over a static table, no allocation.
struct Live {
  void* p;
  std::uint32_t size;
  std::uint32_t kind;  // 0: operator new, 1: wolfSSL
};
constexpr std::size_t kLive = 1u << 20;
Live g_tab[kLive];
bool g_track = false;
std::size_t slot(void* p) { return (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull >> 44; }
void track_add(void* p, std::size_t n, std::uint32_t kind = 1) {
  if (!g_track || !p || ringsip::g_side != Side::a) return;
  for (std::size_t i = slot(p), k = 0; k < kLive; i = (i + 1) & (kLive - 1), ++k)
    if (!g_tab[i].p || g_tab[i].p == reinterpret_cast<void*>(1)) {
      g_tab[i] = {p, static_cast<std::uint32_t>(n), kind};
      return;
    }
}
void track_del(void* p) {
  if (!g_track || !p) return;
  for (std::size_t i = slot(p), k = 0; k < kLive && g_tab[i].p; i = (i + 1) & (kLive - 1), ++k)
    if (g_tab[i].p == p) {
      g_tab[i].p = reinterpret_cast<void*>(1);  // tombstone
      return;
    }
}
void* wc_malloc(size_t n) {
  void* p = mi_malloc(n);
  count(p, p ? mi_usable_size(p) : 0, 1, 1);
  track_add(p, n);
  return p;
}
void wc_free(void* p) {
  if (!p) return;
  count(p, mi_usable_size(p), -1, 1);
  track_del(p);
  mi_free(p);
}
void* wc_realloc(void* p, size_t n) {
  if (p) count(p, mi_usable_size(p), -1, 1);
  track_del(p);
  void* q = mi_realloc(p, n);
  count(q, q ? mi_usable_size(q) : 0, 1, 1);
  track_add(q, n);
  return q;
}
// Live tracked blocks grouped by size: "size x count" for the biggest totals.
void print_live_sizes(unsigned conns, std::uint32_t kind) {
  static std::uint64_t by_size[70000];
  std::uint64_t big = 0;
  std::fill(std::begin(by_size), std::end(by_size), 0);
  for (auto& e : g_tab)
    if (e.p && e.p != reinterpret_cast<void*>(1) && e.kind == kind) {
      if (e.size < 70000) ++by_size[e.size];
      else big += e.size;
    }
  std::printf("  %s blocks live per conn on A, by requested size (bytes x blocks/conn):", kind ? "wolfSSL" : "operator new");
  for (unsigned k = 0; k < 12; ++k) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < 70000; ++i)
      if (by_size[i] * i > by_size[best] * best) best = i;
    if (!by_size[best]) break;
    std::printf(" %zu x %.2f;", best, double(by_size[best]) / conns);
    by_size[best] = 0;
  }
  std::printf(" (>=70000: %llu B)\n", (unsigned long long)big);
}
}  // namespace

void* operator new(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  count(p, malloc_usable_size(p), 1);
  track_add(p, n, 0);
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  void* p = std::aligned_alloc(static_cast<std::size_t>(a), (n + static_cast<std::size_t>(a) - 1) & ~(static_cast<std::size_t>(a) - 1));
  if (!p) throw std::bad_alloc();
  count(p, malloc_usable_size(p), 1);
  return p;
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept {
  if (!p) return;
  count(p, malloc_usable_size(p), -1);
  track_del(p);
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }
void operator delete(void* p, std::align_val_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::align_val_t) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { operator delete(p); }

namespace {

double g_tsc_hz = 1;
constexpr int kReps = 3;  // measured batches per case; the least disturbed one is reported
double us(double cycles) { return cycles * 1e6 / g_tsc_hz; }

struct Snap {
  std::uint64_t ca, cb, na, nb;
  explicit Snap(const Rig& r) : ca(r.cycles_a), cb(r.cycles_b), na(r.cpu_ns_a), nb(r.cpu_ns_b) {}
};

// Per-operation figures of one measured batch.
struct Fig {
  double a = 1e300, a_cpu = 0, b = 0, b_cpu = 0;
  void take(const Snap& s0, const Rig& r, std::uint64_t n) {
    const double x = us(double(r.cycles_a - s0.ca) / double(n));
    if (x >= a) return;  // keep the least disturbed batch (the box is shared)
    a = x;
    a_cpu = double(r.cpu_ns_a - s0.na) / 1e3 / double(n);
    b = us(double(r.cycles_b - s0.cb) / double(n));
    b_cpu = double(r.cpu_ns_b - s0.nb) / 1e3 / double(n);
  }
};

void row(const std::string& what, const std::string& group, std::uint64_t n, const Fig& f, const char* floor,
         const std::string& note) {
  std::printf("| %-46s | %-6s | %5llu | %7.1f | %7.1f | %7.1f | %7.1f | %-16s | %s\n", what.c_str(), group.c_str(),
              (unsigned long long)n, f.a, f.a_cpu, f.b, f.b_cpu, floor, note.c_str());
  std::fflush(stdout);
}

// Frames the NetWorkers dropped (ring overflow would show here): must stay 0.
std::uint64_t drop_count(Rig& r) {
  return r.ring().a().net->stats(0).total_drops() + r.ring().b().net->stats(0).total_drops();
}
std::string drops(Rig& r, std::uint64_t before = 0) {
  const auto n = drop_count(r) - before;
  if (!n) return "";
  std::string why;
  for (auto* side : {&r.ring().a(), &r.ring().b()})
    for (std::size_t d = 0; d < net::kDropCount; ++d)
      if (const auto v = side->net->stats(0).drops[d].load())
        why += std::string(side == &r.ring().a() ? " A " : " B ") +
               std::string(net::drop_name(static_cast<net::Drop>(d))) + " " + std::to_string(v);
  return ", NETWORKER DROPS " + std::to_string(n) + " (since start:" + why + ")";
}

bool check(bool ok, const char* what) {
  if (!ok) std::printf("!! %s\n", what);
  return ok;
}

// One full cycle per connection: TLS 1.3 handshake, one OPTIONS and its
// 200, close (client close_notify + FIN; A closes both legs).
void handshakes(const std::string& what, RigOptions o, unsigned n, const char* floor, bool resume) {
  o.open_per_round = 16;
  Rig r(o);
  r.measure_cpu = true;
  tls::SavedSession saved;
  // Warm-up (and, for the verdict cache, the first miss; for resumption, the ticket).
  r.open(resume ? 1 : 32, 1, "OPTIONS");
  check(r.run_until([&] { return r.idle(); }, 60'000'000), "warm-up");
  if (resume) {
    if (!r.clients().empty()) saved = r.clients().front()->s.save();
    if (!check(static_cast<bool>(saved), "no ticket saved")) return;
  }
  r.reap_clients();
  check(r.drain(), "drain");
  const auto t0 = r.totals();
  const auto st0 = r.proxy().stats().verdict_cache_hits.load();
  const auto rs0 = r.proxy().stats().resumed.load();
  const auto seg0 = r.ga().stack().counters().tx_segments.load(), rseg0 = r.ga().stack().counters().rx_segments.load();
  Fig f;
  for (int rep = 0; rep < kReps; ++rep) {
    const Snap s0(r);
    r.open(n, 1, "OPTIONS", false, saved);
    check(r.run_until([&] { return r.idle(); }, 600'000'000), "run");
    check(r.drain(), "drain");
    f.take(s0, r, n);
    if (rep + 1 < kReps) r.reap_clients();
  }
  const auto t = r.totals();
  std::string note = "ok " + std::to_string(t.done - t0.done) + "/" + std::to_string(n * kReps);
  if (t.failed != t0.failed) note += ", FAILED " + std::to_string(t.failed - t0.failed);
  if (t.mismatched) note += ", MISMATCHED";
  note += ", cache hits " + std::to_string(r.proxy().stats().verdict_cache_hits.load() - st0);
  note += ", resumed " + std::to_string(r.proxy().stats().resumed.load() - rs0);
  char segs[96];
  std::snprintf(segs, sizeof segs, ", A TCP segs/op out %.1f in %.1f",
                double(r.ga().stack().counters().tx_segments.load() - seg0) / (n * kReps),
                double(r.ga().stack().counters().rx_segments.load() - rseg0) / (n * kReps));
  note += segs;
  if (!r.clients().empty()) note += ", " + r.clients().back()->s.cipher() + " " + r.clients().back()->s.group();
  note += drops(r);
  row(what, o.groups, n, f, floor, note);
}

// Request/response pairs over `conns` established connections, and the
// memory of an idle established connection on A.
void reqresp(unsigned conns, unsigned per_conn, bool memory) {
  RigOptions o;
  o.tag = conns > 1000 ? "rr2" : "rr1";
  o.open_per_round = 32;
  o.sends_per_round = 256;
  Rig r(o);
  auto establish = [&] {
    r.open(conns, 1, "REGISTER", /*hold=*/true);
    const bool ok = r.run_until([&] { return r.totals().answered >= r.totals().opened && r.live_clients() == conns; },
                                600'000'000);
    // Delayed ACKs and timers settle, and connections idle long enough for
    // SipProxy to give their message buffers back (after 1 s idle).
    r.run_until([] { return false; }, 2'500'000);
    return ok;
  };
  std::int64_t per_conn_bytes = 0;
  if (memory) {
    // Warm-up batch of the same size: pools and tables reach their size.
    check(establish(), "establish (warm-up)");
    r.release_all();
    check(r.run_until([&] { return r.idle(); }, 600'000'000), "close (warm-up)");
    r.reap_clients();
    check(r.drain(), "drain (warm-up)");
    const int A = static_cast<int>(Side::a);
    const std::int64_t before_new = g_live[0][A], before_wolf = g_live[1][A];
    g_track = true;
    check(establish(), "establish");
    g_track = false;
    const std::int64_t d_new = (g_live[0][A] - before_new) / conns, d_wolf = (g_live[1][A] - before_wolf) / conns;
    per_conn_bytes = d_new + d_wolf;
    const std::size_t chunks = r.ga().stack().chunks_in_use();
    const std::size_t tcb = tcp::Stack::control_block_size();
    const double total = double(per_conn_bytes) + 2.0 * tcb + double(chunks * r.ga().stack().chunk_size()) / conns;
    std::printf("memory per idle established TLS connection on A (%u conns): operator new %lld B (Pair, tls::Session,"
                " strings, map node) + wolfSSL %lld B + 2 TCB x %zu B + chunks in use %zu x %zu B / conn"
                " = %.0f B = %.2f KiB (target <= 8 KiB)\n",
                conns, (long long)d_new, (long long)d_wolf, tcb, chunks, r.ga().stack().chunk_size(), total, total / 1024);
    print_live_sizes(conns, 1);
    print_live_sizes(conns, 0);
  } else {
    check(establish(), "establish");
  }
  r.measure_cpu = true;
  // TP_BENCH_SPANS=file: A's busy rounds of the measured batches, one
  // "start end" line (CLOCK_MONOTONIC ns) each, for bench/ring/perf_a.sh.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  const char* spans_file = std::getenv("TP_BENCH_SPANS");
  if (spans_file) r.spans_a = &spans;
  Fig f;
  std::uint64_t pairs = 0;
  const std::uint64_t drops0 = drop_count(r);
  const auto seg0 = r.ga().stack().counters().tx_segments.load(), rseg0 = r.ga().stack().counters().rx_segments.load();
  const std::string setup_drops = drops(r);
  for (int rep = 0; rep < kReps; ++rep) {
    const auto t0 = r.totals();
    const Snap s0(r);
    r.request_all(per_conn);
    const std::uint64_t want = t0.answered + std::uint64_t(conns) * per_conn;
    check(r.run_until([&] { return r.totals().answered >= want || r.totals().failed; }, 600'000'000), "requests");
    pairs = r.totals().answered - t0.answered;
    f.take(s0, r, pairs);
  }
  r.spans_a = nullptr;
  if (spans_file)
    if (FILE* fp = std::fopen(spans_file, "a")) {
      for (auto [b, e] : spans) std::fprintf(fp, "%llu %llu\n", (unsigned long long)b, (unsigned long long)e);
      std::fclose(fp);
    }
  const auto t = r.totals();
  std::string note = "A alone: " + std::to_string(static_cast<long long>(1e6 / f.a)) + " pairs/s per core (tsc), " +
                     std::to_string(static_cast<long long>(1e6 / f.a_cpu)) + " (cpu)";
  if (t.mismatched || t.failed) note += ", ERRORS";
  char segs[96];
  std::snprintf(segs, sizeof segs, ", A TCP segs/pair out %.2f in %.2f",
                double(r.ga().stack().counters().tx_segments.load() - seg0) / double(pairs * kReps),
                double(r.ga().stack().counters().rx_segments.load() - rseg0) / double(pairs * kReps));
  note += segs;
  note += drops(r, drops0);
  if (!setup_drops.empty()) note += " (set-up" + setup_drops + ")";
  const std::string what = "REGISTER 700 B req/resp, " + std::to_string(conns) + " TLS conns";
  row(what, o.groups, pairs, f, "~2 AES-GCM rec", note);
  r.release_all();
  check(r.run_until([&] { return r.idle(); }, 600'000'000), "close");
  check(r.drain(), "drain");
}

// The crypto floor measured in this run (the box is shared: the reference
// figures of bench/crypto were taken at another time): best of 3 x 300.
void crypto_floor() {
  WC_RNG rng;
  if (wc_InitRng(&rng) != 0) return;
  auto best = [](auto&& op) {
    double b = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      const std::uint64_t t0 = rte_rdtsc();
      for (int i = 0; i < 300; ++i) op();
      b = std::min(b, us(double(rte_rdtsc() - t0) / 300));
    }
    return b;
  };
  ecc_key k, peer;
  wc_ecc_init(&k);
  wc_ecc_init(&peer);
  wc_ecc_make_key_ex(&rng, 32, &k, ECC_SECP256R1);
  wc_ecc_make_key_ex(&rng, 32, &peer, ECC_SECP256R1);
  wc_ecc_set_rng(&k, &rng);
  std::uint8_t hash[32] = {1, 2, 3}, sig[80], sec[66];
  word32 sig_len = sizeof sig;
  wc_ecc_sign_hash(hash, sizeof hash, sig, &sig_len, &rng, &k);
  const double sign = best([&] {
    word32 l = sizeof sig;
    wc_ecc_sign_hash(hash, sizeof hash, sig, &l, &rng, &k);
  });
  sig_len = sizeof sig;
  wc_ecc_sign_hash(hash, sizeof hash, sig, &sig_len, &rng, &k);
  int ok = 0;
  const double verify = best([&] { wc_ecc_verify_hash(sig, sig_len, hash, sizeof hash, &ok, &k); });
  const double p256_gen = best([&] {
    ecc_key e;
    wc_ecc_init(&e);
    wc_ecc_make_key_ex(&rng, 32, &e, ECC_SECP256R1);
    wc_ecc_free(&e);
  });
  const double p256_agree = best([&] {
    word32 l = sizeof sec;
    wc_ecc_shared_secret(&k, &peer, sec, &l);
  });
  curve25519_key xk, xp;
  wc_curve25519_init(&xk);
  wc_curve25519_init(&xp);
  wc_curve25519_make_key(&rng, 32, &xk);
  wc_curve25519_make_key(&rng, 32, &xp);
  const double x_gen = best([&] {
    curve25519_key e;
    wc_curve25519_init(&e);
    wc_curve25519_make_key(&rng, 32, &e);
    wc_curve25519_free(&e);
  });
  const double x_agree = best([&] {
    word32 l = sizeof sec;
    wc_curve25519_shared_secret(&xk, &xp, sec, &l);
  });
  const double ecdh = p256_gen + p256_agree, x25519 = x_gen + x_agree;
  std::printf("crypto floor in this run: ECDSA P-256 sign %.1f us, verify %.1f us (verified %d); ephemeral key + "
              "shared secret: P-256 %.1f + %.1f us, X25519 %.1f + %.1f us\n",
              sign, verify, ok, p256_gen, p256_agree, x_gen, x_agree);
  std::printf("  so A's floor: full handshake P-256 %.0f, X25519 %.0f; mTLS +1 verify (cache hit) %.0f, +3 verify "
              "(miss) %.0f; resumed P-256 %.0f, X25519 %.0f us\n",
              sign + ecdh, sign + x25519, sign + ecdh + verify, sign + ecdh + 3 * verify, ecdh, x25519);
  wc_curve25519_free(&xk);
  wc_curve25519_free(&xp);
  wc_ecc_free(&k);
  wc_ecc_free(&peer);
  wc_FreeRng(&rng);
}

// Fixed per-connection costs inside the engine, outside any handshake: the
// WC_RNG wolfSSL sets up for every WOLFSSL object (a Hash_DRBG with OS seed
// and health test before deploy/wolfssl-rand.h; now an empty shell over the
// per-thread kernel CSPRNG buffer), and a whole tls::Session
// (wolfSSL_new/free) on the server context.
void fixed_costs() {
  constexpr int kN = 2000;
  std::uint64_t t0 = rte_rdtsc();
  for (int i = 0; i < kN; ++i) {
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) return (void)std::printf("!! wc_InitRng failed\n");
    wc_FreeRng(&rng);
  }
  const double rng_us = us(double(rte_rdtsc() - t0) / kN);
  RigOptions o;
  o.tag = "fx";
  Rig r(o);
  auto ctx = r.proxy_context();
  t0 = rte_rdtsc();
  for (int i = 0; i < kN; ++i) tls::Session s(ctx);
  const double sess_us = us(double(rte_rdtsc() - t0) / kN);
  std::printf("per-session fixed costs: wc_InitRng+wc_FreeRng %.1f us (wolfSSL_new does one per connection; "
              "9-13 us while it built a Hash_DRBG); tls::Session ctor+dtor (server) %.1f us\n",
              rng_us, sess_us);
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned n = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 1000;
  const std::string only = argc > 2 ? argv[2] : "";  // hs, mtls, resume, rr: one group of cases
  auto want = [&](const char* k) { return only.empty() || only == k; };
  testing::init_test_eal();
  tls::init_library();
  wolfSSL_SetAllocators(wc_malloc, wc_free, wc_realloc);  // count wolfSSL's blocks (still mimalloc)
  // TP_BENCH_AWAKE=1: idle sessions never hibernate (sip.tls_hibernate_ms = 0),
  // so the memory figure is that of an awake connection.
  if (const char* a = std::getenv("TP_BENCH_AWAKE"); a && *a == '1') tls::set_hibernate_after(0);
  g_tsc_hz = double(rte_get_tsc_hz());
  std::printf("TSC %.3f GHz; virtual time; A busy cycles per operation in us (B = load: TLS clients + SIP backend)\n",
              g_tsc_hz / 1e9);
  std::printf("| %-46s | %-6s | %5s | %7s | %7s | %7s | %7s | %-16s | %s\n", "operation", "group", "n", "A tsc", "A cpu",
              "B tsc", "B cpu", "A crypto floor", "notes");
  if (want("floor") || only.empty()) crypto_floor();
  for (const char* g : {"P-256", "X25519"}) {
    if (!want("hs")) break;
    RigOptions o;
    o.tag = g[0] == 'P' ? "hp" : "hx";
    o.groups = g;
    handshakes("full handshake + OPTIONS + close, no cert", o, n,
               g[0] == 'P' ? "91 (sign+ECDH)" : "66 (sign+X25519)", false);
  }
  if (want("mtls")) {
    RigOptions o;
    o.tag = "mh";
    o.client_cert = tls::ClientCertMode::Require;
    o.client_leaf = "client";
    handshakes("mTLS, verdict cache hit", o, n, "165 (+1 verify)", false);
    o.tag = "mm";
    o.server_cache = false;
    handshakes("mTLS, verdict cache miss (no cache)", o, n, "313 (+3 verify)", false);
  }
  for (const char* g : {"P-256", "X25519"}) {
    if (!want("resume")) break;
    RigOptions f;  // the same with tickets issued: the fair baseline for resumption
    f.tag = g[0] == 'P' ? "tp" : "tx";
    f.groups = g;
    f.tickets = true;
    handshakes("full handshake, tickets on (baseline)", f, n, g[0] == 'P' ? "91 (sign+ECDH)" : "66 (sign+X25519)",
               false);
    RigOptions o;
    o.tag = g[0] == 'P' ? "rp" : "rx";
    o.groups = g;
    o.tickets = true;
    handshakes("resumed (ticket, psk_dhe_ke) + OPTIONS + close", o, n, g[0] == 'P' ? "62 (ECDH)" : "37 (X25519)", true);
  }
  if (want("fixed")) fixed_costs();
  if (want("rr")) {
    reqresp(1000, 20, true);
    reqresp(2000, 10, false);
  }
  // rrN [PER_CONN]: the pairs over N connections alone (e.g. rr100, rr2000).
  if (only.size() > 2 && only.rfind("rr", 0) == 0 && std::isdigit(static_cast<unsigned char>(only[2])))
    reqresp(static_cast<unsigned>(std::atoi(only.c_str() + 2)), argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 10,
            false);
  return 0;
}
