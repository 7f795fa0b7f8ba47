// Loss recovery beyond RACK-TLP's basics: the windowed RACK.min_RTT
// (RFC 8985 §6.2 step 1), D-SACK sent and used (RFC 2883, RFC 8985 §6.2
// step 4) and Proportional Rate Reduction in fast recovery (RFC 6937), on
// the netsim fake wire with scripted delays and drops.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "netsim.hpp"
#include "turnpike/tcp/services.hpp"
#include "turnpike/tcp/win_min.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kC = 0xc6120001, kS = 0xc6120002;

Impairment clean(std::uint64_t one_way_us = 1000) {
  Impairment imp;
  imp.delay_us = one_way_us;
  return imp;
}

// Stream offset of the client's (side 0) data segments; its SYN gives ISS.
struct Offsets {
  Seq iss;
  bool have = false;
  bool of(int from, const Header& h, std::uint32_t& lo, std::uint32_t& hi) {
    if (from != 0) return false;
    if (h.has(flag::syn)) {
      iss = h.seq;
      have = true;
      return false;
    }
    if (!have || h.payload_len == 0) return false;
    lo = seq_dist(iss + 1, h.seq);
    hi = lo + static_cast<std::uint32_t>(h.payload_len);
    return true;
  }
};

// Collects what the echo service sends back.
struct Collect : ConnHandler {
  std::string got;
  void on_readable(Stack& s, ConnId i) override {
    for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
      got.append(reinterpret_cast<const char*>(r.data()), r.size());
      s.consume(i, r.size());
    }
  }
};

}  // namespace

// --- windowed minimum -----------------------------------------------------------

TEST(WindowedMin, KeepsTheMinimumOfTheWindowOnly) {
  WindowedMin m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.update(0, 100, 50), 50u);
  EXPECT_EQ(m.update(10, 100, 70), 50u);
  EXPECT_EQ(m.update(20, 100, 40), 40u);  // a new minimum replaces everything
  EXPECT_EQ(m.update(60, 100, 90), 40u);
  EXPECT_EQ(m.update(110, 100, 80), 40u);  // 40 is 90 old: still inside
  // 40 leaves the window: the best sample after it takes over, not the latest.
  EXPECT_EQ(m.update(125, 100, 95), 80u);
  // Everything old: the next sample alone.
  EXPECT_EQ(m.update(400, 100, 120), 120u);
  EXPECT_FALSE(m.empty());
}

TEST(WindowedMin, RisesStepByStepAsOldMinimaExpire) {
  WindowedMin m;
  // A falling then rising series: 30 at t=0, then 60 for a while, then 90.
  m.update(0, 100, 30);
  for (std::uint32_t t = 10; t <= 100; t += 10) EXPECT_EQ(m.update(t, 100, 60), 30u);
  std::uint32_t last = 0;
  for (std::uint32_t t = 110; t <= 400; t += 10) last = m.update(t, 100, t < 200 ? 60 : 90);
  EXPECT_EQ(last, 90u);  // 60 was last seen at 190: gone by 400
  // Wrap-around of the 32-bit clock is only a difference.
  WindowedMin w;
  w.update(0xffff'fff0u, 100, 10);
  EXPECT_EQ(w.update(0x40u, 100, 20), 10u);   // 0x50 later: inside
  EXPECT_EQ(w.update(0x100u, 100, 20), 20u);  // 0x110 later: expired
}

// A route change from a 2 ms to a 40 ms round trip, then a segment held
// back 3 ms with one segment overtaking it. RACK's reordering window is
// min_RTT/4 (RFC 8985 §6.2 step 4): with the minimum of the last second
// (the 40 ms path) it waits 10 ms and nothing is resent; with the minimum
// still from the old path (a window longer than the run) it waits 0.5 ms
// and resends the segment spuriously.
namespace {
struct RouteChange {
  std::uint64_t retransmits = 0, marked_lost = 0, recoveries = 0;
  bool echoed = false;
};

RouteChange route_change(std::uint32_t window_us) {
  Config c;
  c.time_wait_us = 1'000'000;
  c.rack_min_rtt_window_us = window_us;
  NetSim net(c, c, clean(1000), 31);
  EchoService echo;
  EXPECT_EQ(net.b->listen(kS, 7, echo), 0);
  Offsets off;
  bool moved = false;
  std::uint32_t burst = UINT32_MAX;  // stream offset of the test burst
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    const bool data = off.of(from, h, lo, hi);
    if (!moved) return 0;
    std::int64_t extra = 19'000;  // the longer path, both ways
    if (data && lo == burst + 1448) extra += 3'000;
    return extra;
  };
  Collect cl;
  const ConnId id = net.a->connect(kC, 0, kS, 7, cl);
  EXPECT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  std::string sent;
  // One-segment requests every 50 ms: RTT samples from the echo (which
  // carries the ACK), never two segments in flight (no probe before the
  // worst-case delayed ACK, RFC 8985 §7.2).
  auto exchange = [&](std::size_t n, std::uint64_t seed) {
    const std::string req = blob(n, seed);
    EXPECT_EQ(net.a->write(id, req.data(), req.size()), static_cast<long>(req.size()));
    sent += req;
    EXPECT_TRUE(net.run([&] { return cl.got.size() == sent.size(); }, 2'000'000));
    net.run([] { return false; }, 50'000);
  };
  for (int i = 0; i < 5; ++i) exchange(1000, 100 + i);  // the 2 ms path
  moved = true;
  for (int i = 0; i < 30; ++i) exchange(1000, 200 + i);  // 1.5 s on the 40 ms path
  RouteChange r;
  const Counters before = net.a->counters();
  burst = static_cast<std::uint32_t>(sent.size());
  exchange(3 * 1448, 300);
  const Counters& a = net.a->counters();
  r.retransmits = a.retransmits - before.retransmits;
  r.marked_lost = a.rack_marked_lost - before.rack_marked_lost;
  r.recoveries = a.sack_recoveries - before.sack_recoveries;
  r.echoed = cl.got == sent;
  EXPECT_EQ(a.rto_timeouts, 0u);
  EXPECT_EQ(a.tlp_probes, 0u);
  net.a->close(id);
  net.run([] { return false; }, 3'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  return r;
}
}  // namespace

TEST(RackMinRtt, WindowedMinimumFollowsARouteChange) {
  const RouteChange windowed = route_change(1'000'000);
  EXPECT_TRUE(windowed.echoed);
  EXPECT_EQ(windowed.retransmits, 0u);
  EXPECT_EQ(windowed.marked_lost, 0u);
  EXPECT_EQ(windowed.recoveries, 0u);
  // The same run with the old path's minimum still in the window.
  const RouteChange stale = route_change(300'000'000);
  EXPECT_TRUE(stale.echoed);
  EXPECT_EQ(stale.marked_lost, 1u);
  EXPECT_EQ(stale.retransmits, 1u);
}
