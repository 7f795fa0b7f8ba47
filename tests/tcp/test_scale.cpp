// Many connections at once over an impaired link, and a SYN flood against the
// listener while legitimate connections transfer (the in-process analogues of
// issue 4's namespace tests).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"
#include "netsim.hpp"
#include "turnpike/tcp/services.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kC = 0xc6120001, kS = 0xc6120002;

// 200 concurrent echo connections, loss 2%, reordering 5%, duplication 1%.
TEST(Scale, TwoHundredEchoConnectionsImpaired) {
  Config c;
  c.max_connections = 512;
  c.time_wait_us = 5'000'000;
  Impairment imp;
  imp.loss = 0.02;
  imp.reorder = 0.05;
  imp.duplicate = 0.01;
  imp.delay_us = 5000;
  NetSim net(c, c, imp, 77);
  EchoService echo;
  ASSERT_EQ(net.b->listen(kS, 7, echo), 0);
  std::vector<std::unique_ptr<StreamClient>> cl;
  for (int i = 0; i < 200; ++i) {
    cl.push_back(std::make_unique<StreamClient>(blob(64 * 1024 + static_cast<std::size_t>(i) * 37, 1000 + i)));
    cl.back()->id = net.a->connect(kC, 0, kS, 7, *cl.back());
    ASSERT_TRUE(cl.back()->id.valid());
  }
  ASSERT_TRUE(net.run(
      [&] {
        for (auto& x : cl)
          if (!x->closed && !x->failed) return false;
        return true;
      },
      1800'000'000));
  int good = 0;
  for (auto& x : cl) good += x->ok();
  EXPECT_EQ(good, 200);
  EXPECT_GT(net.counts.dropped, 0u);
  EXPECT_GT(net.counts.reordered, 0u);
  EXPECT_GT(net.counts.duplicated, 0u);
  net.run([] { return false; }, 10'000'000);
  EXPECT_EQ(echo.counters().finished, 200u);
  EXPECT_EQ(net.a->connections(), 0u);  // no leaked control blocks
  EXPECT_EQ(net.b->connections(), 0u);
  EXPECT_EQ(net.a->chunks_in_use(), 0u);
  EXPECT_EQ(net.b->chunks_in_use(), 0u);
  std::printf("[200 conns] retransmits %llu+%llu, sack recoveries %llu+%llu, rto %llu+%llu\n",
              (unsigned long long)net.a->counters().retransmits, (unsigned long long)net.b->counters().retransmits,
              (unsigned long long)net.a->counters().sack_recoveries,
              (unsigned long long)net.b->counters().sack_recoveries,
              (unsigned long long)net.a->counters().rto_timeouts, (unsigned long long)net.b->counters().rto_timeouts);
}

// 1,000 request/response connections (a 4 KiB first flight, then four
// 700-byte requests, each echoed before the next), 1 % loss and 5 %
// reordering both ways: the in-process analogue of the SIP integrity run,
// where every message is a tail and a lost one used to wait for the RTO.
TEST(Scale, ThousandRequestResponseConnectionsImpaired) {
  struct Caller : ConnHandler {
    ConnId id;
    std::string sent, got;
    unsigned step = 0;
    bool closed = false, failed = false;
    void next(Stack& s) {
      if (step == 5) {
        s.close(id);
        closed = true;  // close() ends the callbacks; the stack finishes the FIN exchange
        return;
      }
      const std::string m = blob(step == 0 ? 4096 : 700, 7000 + id.idx * 8 + step);
      ++step;
      sent += m;
      if (s.write(id, m.data(), m.size()) != static_cast<long>(m.size())) failed = true;
    }
    void on_connected(Stack& s, ConnId) override { next(s); }
    void on_readable(Stack& s, ConnId i) override {
      for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
        got.append(reinterpret_cast<const char*>(r.data()), r.size());
        s.consume(i, r.size());
      }
      if (got.size() == sent.size()) next(s);
    }
    void on_reset(Stack&, ConnId) override { failed = true; }
    void on_error(Stack&, ConnId, Error) override { failed = true; }
  };
  Config c;
  c.max_connections = 2048;
  c.time_wait_us = 2'000'000;
  Impairment imp;
  imp.loss = 0.01;
  imp.reorder = 0.05;
  NetSim net(c, c, imp, 79);
  EchoService echo;
  ASSERT_EQ(net.b->listen(kS, 7, echo), 0);
  std::vector<std::unique_ptr<Caller>> cl;
  for (int i = 0; i < 1000; ++i) {
    cl.push_back(std::make_unique<Caller>());
    cl.back()->id = net.a->connect(kC, 0, kS, 7, *cl.back());
    ASSERT_TRUE(cl.back()->id.valid());
  }
  const bool done = net.run(
      [&] {
        for (auto& x : cl)
          if (!x->closed && !x->failed) return false;
        return true;
      },
      600'000'000);
  const std::uint64_t took_ms = net.now() / 1000;
  ASSERT_TRUE(done);
  int good = 0;
  for (auto& x : cl) good += !x->failed && x->got == x->sent && x->step == 5;
  EXPECT_EQ(good, 1000);
  EXPECT_GT(net.counts.dropped, 0u);
  net.run([] { return false; }, 20'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  EXPECT_EQ(net.b->connections(), 0u);
  EXPECT_EQ(net.a->record_rings_in_use(), 0u);
  EXPECT_EQ(net.b->record_rings_in_use(), 0u);
  const Counters& a = net.a->counters();
  const Counters& b = net.b->counters();
  const auto u = [](const auto& v) { return static_cast<unsigned long long>(v); };
  std::printf("[1000 req/resp] %llu ms simulated; dropped %llu; retransmits %llu+%llu, rto %llu+%llu, "
              "fast %llu+%llu\n",
              u(took_ms), u(net.counts.dropped), u(a.retransmits), u(b.retransmits), u(a.rto_timeouts),
              u(b.rto_timeouts), u(a.fast_retransmits), u(b.fast_retransmits));
  std::printf("[1000 req/resp] rto retransmits %llu+%llu, rack %llu+%llu (lost retransmissions %llu+%llu), "
              "tlp probes %llu+%llu (repaired %llu+%llu, spurious %llu+%llu)\n",
              u(a.rto_retransmits), u(b.rto_retransmits), u(a.rack_retransmits), u(b.rack_retransmits),
              u(a.rack_lost_retransmits), u(b.rack_lost_retransmits), u(a.tlp_probes), u(b.tlp_probes),
              u(a.tlp_recoveries), u(b.tlp_recoveries), u(a.tlp_spurious), u(b.tlp_spurious));
  std::printf("[1000 req/resp] recoveries %llu+%llu, spurious rack retransmits %llu+%llu, undone by d-sack "
              "%llu+%llu, by timestamps %llu+%llu\n",
              u(a.sack_recoveries), u(b.sack_recoveries), u(a.spurious_retransmits), u(b.spurious_retransmits),
              u(a.undo_dsack), u(b.undo_dsack), u(a.undo_eifel), u(b.undo_eifel));
}

// Spoofed SYNs fill the half-open table; cookies keep the listener open to
// 50 legitimate clients, whose transfers complete byte-exact.
TEST(Scale, SynFloodWhileLegitimateTransfersComplete) {
  Config c;
  Config s;
  s.max_half_open = 64;
  s.max_connections = 256;
  NetSim net(c, s, Impairment{}, 78);
  net.blackhole_lo = 0xc6130000;  // 198.19.0.0/16: the spoofed sources
  net.blackhole_hi = 0xc6140000;
  DiscardService sink;
  ASSERT_EQ(net.b->listen(kS, 9, sink), 0);
  Prng rng(5);
  auto flood = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::uint32_t src = 0xc6130000 | static_cast<std::uint32_t>(rng.next() & 0xffff);
      auto seg = make_segment(src, kS, SegSpec{.sport = static_cast<std::uint16_t>(1024 + rng.next() % 60000),
                                               .dport = 9, .seq = Seq(static_cast<std::uint32_t>(rng.next())),
                                               .flags = flag::syn});
      net.inject(1, src, kS, seg);
    }
  };
  flood(500);  // table full before anyone legitimate arrives
  std::vector<std::unique_ptr<StreamClient>> cl;
  for (int i = 0; i < 50; ++i) {
    cl.push_back(std::make_unique<StreamClient>(blob(100 * 1024, 50 + i)));
    cl.back()->id = net.a->connect(kC, 0, kS, 9, *cl.back());
  }
  std::uint64_t bytes_goal = 50ull * 100 * 1024;
  ASSERT_TRUE(net.run(
      [&] {
        flood(20);  // 20 spoofed SYNs per step, all along
        return sink.counters().bytes == bytes_goal;
      },
      120'000'000));
  const Counters& k = net.b->counters();
  EXPECT_GT(k.syn_cookies_sent, 1000u);
  EXPECT_EQ(k.syn_cookies_ok, 50u);  // every legitimate client came in through a cookie
  EXPECT_EQ(net.b->half_open(), 64u);
  EXPECT_EQ(sink.counters().accepted, 50u);
  std::printf("[syn flood] cookies sent %llu, ok %llu, half-open %zu, SYN-ACKs blackholed %llu\n",
              (unsigned long long)k.syn_cookies_sent, (unsigned long long)k.syn_cookies_ok, net.b->half_open(),
              (unsigned long long)net.blackholed);
}

}  // namespace
