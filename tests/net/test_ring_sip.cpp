// SIP over TLS through the whole per-core edge on DPDK net_ring ports:
// turnpike (side A: NetWorker, TcpGlue, BackendPool, SipProxy on 5061)
// between TLS clients and a plain SIP backend that both live on side B
// (bench/ring/sip_ring.hpp). Every response must be the backend's 200 for
// the request it answers, under loss and reordering, and A must end with no
// proxy pairs and no TCP connections. Time is virtual: runs are repeatable.
#include <gtest/gtest.h>

#include "sip_ring.hpp"

using namespace turnpike;
using turnpike::ringsip::Rig;
using turnpike::ringsip::RigOptions;

namespace {

void print_drops(Rig& r) {
  for (auto* side : {&r.ring().a(), &r.ring().b()})
    for (std::size_t d = 0; d < net::kDropCount; ++d)
      if (const auto v = side->net->stats(0).drops[d].load())
        std::printf("%s drop %s: %llu\n", side == &r.ring().a() ? "A" : "B",
                    std::string(net::drop_name(static_cast<net::Drop>(d))).c_str(), (unsigned long long)v);
}

void dump(Rig& r) {
  const auto t = r.totals();
  std::printf("clients: opened %llu handshakes %llu done %llu failed %llu answered %llu mismatched %llu\n",
              (unsigned long long)t.opened, (unsigned long long)t.handshakes, (unsigned long long)t.done,
              (unsigned long long)t.failed, (unsigned long long)t.answered, (unsigned long long)t.mismatched);
  unsigned shown = 0;
  for (auto& c : r.clients())
    if (c->st == ringsip::Client::St::failed && shown++ < 5) std::printf("client %u failed: %s\n", c->n, c->why.c_str());
  std::printf("A: pairs %zu conns %zu; B: conns %zu\n", r.proxy().live(), r.ga().stack().connections(),
              r.gb().stack().connections());
}

}  // namespace

// 1,000 TLS connections open at once (each holds its close until all have
// been answered), 4 REGISTERs of 700 bytes each, 1 % loss and 5 % reordering
// in both directions.
TEST(RingSip, ThousandConnectionsUnderLossAndReordering) {
  const unsigned conns = 1000, reqs = 4;  // about 1 s release, 2 s under ASan
  RigOptions o;
  o.tag = "sipl";
  o.impair.loss = 0.01;
  o.impair.reorder = 0.05;
  o.impair.seed = 11;
  Rig r(o);
  r.open(conns, reqs, "REGISTER", /*hold=*/true);
  const bool answered = r.run_until(
      [&] {
        const auto t = r.totals();
        return t.answered + t.mismatched == std::uint64_t(conns) * reqs || t.failed > 0;
      },
      600'000'000);
  if (!answered) dump(r);
  ASSERT_TRUE(answered);
  // All of them were alive together at A.
  EXPECT_EQ(r.max_live_pairs(), conns);
  r.release_all();
  const bool ended = r.run_until([&] { return r.idle(); }, 600'000'000);
  const bool drained = r.drain();
  const auto t = r.totals();
  if (!ended || !drained || t.failed) dump(r);
  EXPECT_TRUE(ended);
  EXPECT_EQ(t.opened, conns);
  EXPECT_EQ(t.handshakes, conns);
  EXPECT_EQ(t.done, conns);
  EXPECT_EQ(t.failed, 0u);
  EXPECT_EQ(t.answered, std::uint64_t(conns) * reqs);
  EXPECT_EQ(t.mismatched, 0u);
  EXPECT_EQ(r.backend().answered, std::uint64_t(conns) * reqs);
  EXPECT_EQ(r.backend().errors, 0u);
  EXPECT_EQ(r.backend().bytes, std::uint64_t(conns) * reqs * 700);  // forwarded whole, nothing added

  const auto& ps = r.proxy().stats();
  EXPECT_EQ(ps.accepted.load(), conns);
  EXPECT_EQ(ps.handshakes_ok.load(), conns);
  EXPECT_EQ(ps.handshakes_failed.load(), 0u);
  EXPECT_EQ(ps.requests_in.load(), std::uint64_t(conns) * reqs);
  EXPECT_EQ(ps.closed.load(), conns);
  EXPECT_EQ(ps.sip_errors.load() + ps.no_backend.load() + ps.backend_failures.load(), 0u);
  EXPECT_EQ(r.tls_events, 0u);

  // The impairment really happened, and TCP repaired it.
  const auto& ic = r.impair();
  EXPECT_GT(ic.dropped, ic.frames / 200);  // about 1 %
  EXPECT_GT(ic.held, ic.frames / 40);      // about 5 %
  EXPECT_GT(ic.overtaken, 0u);
  const auto& ca = r.ga().stack().counters();
  const auto& cb = r.gb().stack().counters();
  EXPECT_GT(ca.retransmits.load() + cb.retransmits.load(), 0u);
  EXPECT_GT(ca.rx_ooo_segments.load() + cb.rx_ooo_segments.load(), 0u);

  // No frame was lost anywhere but in the filter (rings never overflowed).
  print_drops(r);
  EXPECT_EQ(r.ring().a().net->stats(0).total_drops(), 0u);
  EXPECT_EQ(r.ring().b().net->stats(0).total_drops(), 0u);

  // Nothing left on A once closes and TIME_WAIT are over.
  EXPECT_TRUE(drained);
  EXPECT_EQ(r.proxy().live(), 0u);
  EXPECT_EQ(r.ga().stack().connections(), 0u);
  EXPECT_EQ(r.ga().stack().chunks_in_use(), 0u);
  EXPECT_EQ(r.gb().stack().connections(), 0u);
  // RFC 8446 §6.1: A's close_notify before its FIN, on every connection.
  EXPECT_EQ(t.close_notify, t.done);
  std::printf("%u conns x %u requests: %llu frames, %llu dropped, %llu held back (reordered), %llu overtook held ones; "
              "retransmits A %llu B %llu; ooo segments A %llu B %llu; %llu ms virtual\n",
              conns, reqs, (unsigned long long)ic.frames, (unsigned long long)ic.dropped, (unsigned long long)ic.held,
              (unsigned long long)ic.overtaken, (unsigned long long)ca.retransmits.load(),
              (unsigned long long)cb.retransmits.load(), (unsigned long long)ca.rx_ooo_segments.load(),
              (unsigned long long)cb.rx_ooo_segments.load(), (unsigned long long)(r.now() / 1000));
}

// Clean link, client certificates required: the first connection verifies
// the client's chain, the next ones with the same certificate take the
// verdict from the cache.
TEST(RingSip, MutualTlsVerdictCacheHits) {
  RigOptions o;
  o.tag = "sipm";
  o.client_cert = tls::ClientCertMode::Require;
  o.client_leaf = "client";
  Rig r(o);
  r.open(1, 2, "REGISTER");
  ASSERT_TRUE(r.run_until([&] { return r.idle(); }, 60'000'000));
  EXPECT_EQ(r.proxy().stats().verdict_cache_hits.load(), 0u);  // fresh cache: a miss
  r.open(3, 2, "REGISTER");
  ASSERT_TRUE(r.run_until([&] { return r.idle(); }, 60'000'000));
  const auto t = r.totals();
  EXPECT_EQ(t.done, 4u);
  EXPECT_EQ(t.failed, 0u);
  EXPECT_EQ(t.answered, 8u);
  EXPECT_EQ(t.mismatched, 0u);
  const auto& ps = r.proxy().stats();
  EXPECT_EQ(ps.handshakes_ok.load(), 4u);
  EXPECT_EQ(ps.verdict_cache_hits.load(), 3u);
  const auto cs = r.server_cache()->stats();
  EXPECT_EQ(cs.hits, 3u);
  EXPECT_GE(cs.inserts, 1u);
  EXPECT_TRUE(r.drain());
  EXPECT_EQ(r.proxy().live(), 0u);
  EXPECT_EQ(r.ga().stack().connections(), 0u);
  EXPECT_EQ(r.ga().stack().counters().retransmits.load(), 0u);  // clean link
}

// Without the client certificate the same server refuses the handshake, and
// A still ends with nothing left (the refusal path frees its pair).
TEST(RingSip, MutualTlsRefusedWithoutCertificate) {
  RigOptions o;
  o.tag = "sipn";
  o.client_cert = tls::ClientCertMode::Require;
  Rig r(o);
  r.open(2, 1, "REGISTER");
  ASSERT_TRUE(r.run_until([&] { return r.idle(); }, 60'000'000));
  const auto t = r.totals();
  EXPECT_EQ(t.done, 0u);
  EXPECT_EQ(t.failed, 2u);
  EXPECT_EQ(t.answered, 0u);
  EXPECT_EQ(r.proxy().stats().handshakes_failed.load(), 2u);
  EXPECT_EQ(r.tls_events, 2u);
  EXPECT_EQ(r.backend().answered, 0u);
  EXPECT_TRUE(r.drain());
  EXPECT_EQ(r.proxy().live(), 0u);
  EXPECT_EQ(r.ga().stack().connections(), 0u);
}
