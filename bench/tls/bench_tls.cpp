// Server-side CPU per TLS operation, in memory: a turnpike client session
// drives a turnpike server session in one thread and only the server's work
// (feed, step, read/write, output) is timed with the TSC. Compare with the
// crypto floor (bench_crypto) and with the reference figures of issue 5.
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <chrono>
#include <thread>

#include "../../tests/tls/tls_util.hpp"

using namespace turnpike;
using namespace turnpike::testing;

namespace {

double tsc_hz() {
  static const double hz = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::uint64_t c1 = __rdtsc();
    const auto t1 = std::chrono::steady_clock::now();
    return double(c1 - c0) / std::chrono::duration<double>(t1 - t0).count();
  }();
  return hz;
}

// Like pump(), but accumulates the cycles spent inside the server session.
void pump_timed(tls::Session& c, tls::Session& s, std::uint64_t& server_cycles) {
  for (int i = 0; i < 50; ++i) {
    c.step();
    std::uint64_t t0 = __rdtsc();
    s.step();
    server_cycles += __rdtsc() - t0;
    auto oc = c.output();
    auto os = s.output();
    if (oc.empty() && os.empty()) break;
    t0 = __rdtsc();
    s.feed(oc.data(), oc.size());
    s.consume_output(os.size());
    server_cycles += __rdtsc() - t0;
    c.consume_output(oc.size());
    c.feed(os.data(), os.size());
  }
}

std::shared_ptr<const tls::Context> server_ctx(tls::ClientCertMode cm, control::VerdictCache* cache,
                                              std::shared_ptr<tls::TicketKeys> keys = nullptr, bool tls13 = true) {
  tls::Options o = leaf_options("both");
  o.client_cert = cm;
  o.tickets = std::move(keys);
  o.tls13 = tls13;
  return *tls::Context::make_server(o, tls::Verifier{test_trust(), cache, control::EkuMode::On, 1});
}

std::shared_ptr<const tls::Context> client_ctx(bool with_cert, bool tls13 = true) {
  tls::Options o = with_cert ? leaf_options("client") : tls::Options{};
  o.tls13 = tls13;
  return *tls::Context::make_client(o, tls::Verifier{test_trust(), nullptr, control::EkuMode::On, 1});
}

void report(benchmark::State& state, std::uint64_t cycles, std::uint64_t n) {
  state.counters["server_cycles/op"] = n ? double(cycles) / double(n) : 0;
  state.counters["server_us/op"] = n ? double(cycles) / double(n) / tsc_hz() * 1e6 : 0;
}

// Arg 0: no client certificate; 1: mTLS, verdict cache off (full chain
// verification every time); 2: mTLS, verdict cache hit.
void BM_Handshake(benchmark::State& state) {
  control::VerdictCache cache(1024);
  const bool mtls = state.range(0) > 0;
  auto srv = server_ctx(mtls ? tls::ClientCertMode::Require : tls::ClientCertMode::None,
                        state.range(0) == 2 ? &cache : nullptr);
  auto cli = client_ctx(mtls);
  std::uint64_t cycles = 0, n = 0;
  for (auto _ : state) {
    tls::Session s(srv), c(cli, "both.test");
    pump_timed(c, s, cycles);
    if (s.state() != tls::Session::State::Open) {
      state.SkipWithError(("handshake failed: " + s.failure()).c_str());
      break;
    }
    ++n;
    if (state.range(0) == 2 && n > 1 && !s.peer().cache_hit) state.SkipWithError("expected a cache hit");
  }
  report(state, cycles, n);
}
BENCHMARK(BM_Handshake)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// Full handshakes over TLS 1.2 (ECDHE-ECDSA-AES128-GCM), mTLS with a
// verdict cache hit, to set the resumption figures against.
void BM_Handshake12(benchmark::State& state) {
  control::VerdictCache cache(1024);
  auto srv = server_ctx(tls::ClientCertMode::Require, &cache, nullptr, false);
  auto cli = client_ctx(true, false);
  std::uint64_t cycles = 0, n = 0;
  for (auto _ : state) {
    tls::Session s(srv), c(cli, "both.test");
    pump_timed(c, s, cycles);
    if (s.state() != tls::Session::State::Open) {
      state.SkipWithError(("handshake failed: " + s.failure()).c_str());
      break;
    }
    ++n;
  }
  report(state, cycles, n);
}
BENCHMARK(BM_Handshake12)->Unit(benchmark::kMicrosecond);

// Resumed mTLS handshakes with turnpike's tickets. Arg 0: TLS 1.3 PSK with
// (EC)DHE (psk_dhe_ke, RFC 8446 §4.2.9, the only mode wolfSSL offers by
// default), including the new ticket the server sends after it; arg 1:
// TLS 1.2 session ticket (RFC 5077, abbreviated handshake). The server's
// work includes ticket decryption, the EKU policy re-check and, in 1.3,
// encrypting the next ticket.
void BM_Resume(benchmark::State& state) {
  const bool tls13 = state.range(0) == 0;
  control::VerdictCache cache(1024);
  auto keys = std::make_shared<tls::TicketKeys>();
  auto srv = server_ctx(tls::ClientCertMode::Require, &cache, keys, tls13);
  auto cli = client_ctx(true, tls13);
  tls::SavedSession saved;
  {
    tls::Session s(srv), c(cli, "both.test");
    pump(c, s);
    std::uint8_t buf[16];
    c.read(buf, sizeof buf);  // takes in the 1.3 NewSessionTicket
    saved = c.save();
  }
  if (!saved) {
    state.SkipWithError("no ticket");
    return;
  }
  std::uint64_t cycles = 0, n = 0;
  for (auto _ : state) {
    tls::Session s(srv), c(cli, "both.test", false, saved);
    pump_timed(c, s, cycles);
    if (s.state() != tls::Session::State::Open || !s.resumed()) {
      state.SkipWithError(("not resumed: " + s.failure()).c_str());
      break;
    }
    ++n;
  }
  report(state, cycles, n);
}
BENCHMARK(BM_Resume)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// One SIP request (700 bytes) in and a response (400 bytes) out over an
// established session: the record layer cost per message pair. Arg: fast
// path on (1) or off (0, every record through wolfSSL); TLS 1.3, and the
// same over TLS 1.2 (BM_MessagePair12).
void message_pair(benchmark::State& state, bool tls13) {
  tls::set_fast_records(state.range(0) != 0);
  auto srv = server_ctx(tls::ClientCertMode::None, nullptr, nullptr, tls13);
  auto cli = client_ctx(false, tls13);
  tls::Session s(srv), c(cli, "both.test");
  pump(c, s);
  const std::string req(700, 'R'), resp(400, 'A');
  std::uint8_t buf[4096];
  std::uint64_t cycles = 0, n = 0;
  for (auto _ : state) {
    c.write(reinterpret_cast<const std::uint8_t*>(req.data()), req.size());
    auto oc = c.output();
    const std::uint64_t t0 = __rdtsc();
    s.feed(oc.data(), oc.size());
    std::size_t got = s.read(buf, sizeof buf);
    s.write(reinterpret_cast<const std::uint8_t*>(resp.data()), resp.size());
    auto os = s.output();
    const std::size_t out = os.size();
    cycles += __rdtsc() - t0;
    c.consume_output(oc.size());
    c.feed(os.data(), out);
    s.consume_output(out);
    c.read(buf, sizeof buf);
    if (got != req.size()) {
      state.SkipWithError("short read");
      break;
    }
    ++n;
  }
  tls::set_fast_records(true);
  report(state, cycles, n);
}
void BM_MessagePair(benchmark::State& state) { message_pair(state, true); }
void BM_MessagePair12(benchmark::State& state) { message_pair(state, false); }
BENCHMARK(BM_MessagePair)->Arg(1)->Arg(0);
BENCHMARK(BM_MessagePair12)->Arg(1)->Arg(0);

// Hibernation (issue 12 item 4): the server's cycles to export and free an
// idle session (Arg 1 = hibernate) and to re-create it on the next request
// (the wake alone: the message pair's record work is timed apart and
// subtracted by comparing with BM_MessagePair). Arg 0: TLS 1.2, 1: TLS 1.3.
void BM_HibernateWake(benchmark::State& state) {
  const bool tls13 = state.range(0) != 0;
  auto srv = server_ctx(tls::ClientCertMode::None, nullptr, nullptr, tls13);
  auto cli = client_ctx(false, tls13);
  tls::Session s(srv), c(cli, "both.test");
  pump(c, s);
  const std::string req(700, 'R');
  std::uint8_t buf[4096];
  std::uint64_t hib = 0, wake = 0, n = 0;
  for (auto _ : state) {
    std::uint64_t t0 = __rdtsc();
    const bool slept = s.hibernate();
    hib += __rdtsc() - t0;
    c.write(reinterpret_cast<const std::uint8_t*>(req.data()), req.size());
    auto oc = c.output();
    s.feed(oc.data(), oc.size());
    c.consume_output(oc.size());
    t0 = __rdtsc();
    const std::size_t got = s.read(buf, sizeof buf);  // wake + one record
    wake += __rdtsc() - t0;
    if (!slept || got != req.size()) {
      state.SkipWithError("no hibernation or short read");
      break;
    }
    ++n;
  }
  const double hz = tsc_hz();
  state.counters["hibernate_us"] = n ? double(hib) / double(n) / hz * 1e6 : 0;
  state.counters["wake_read_us"] = n ? double(wake) / double(n) / hz * 1e6 : 0;
}
BENCHMARK(BM_HibernateWake)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
