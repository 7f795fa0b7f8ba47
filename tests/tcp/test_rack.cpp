// RACK-TLP (RFC 8985) over the netsim fake wire with scripted drops and
// reordering: a lost retransmission is repaired without an RTO, a lost tail
// is repaired by a loss probe before the RTO, and reordering inside the
// reordering window causes no retransmission.
#include <gtest/gtest.h>

#include <string>

#include "netsim.hpp"
#include "turnpike/tcp/services.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kC = 0xc6120001, kS = 0xc6120002;

bool all_done(const StreamClient& c) { return c.closed || c.failed; }

void expect_drained(NetSim& net) {
  net.run([] { return false; }, 2'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  EXPECT_EQ(net.b->connections(), 0u);
  EXPECT_EQ(net.a->record_rings_in_use(), 0u);  // every transmit record ring went back
  EXPECT_EQ(net.b->record_rings_in_use(), 0u);
}

}  // namespace

// A segment is lost, and so is its first retransmission. RACK marks the
// retransmission lost once data sent after it is SACKed (RFC 8985 §2.2 / §6.2)
// and sends it again: no RTO.
TEST(Rack, LostRetransmissionRepairedWithoutRto) {
  Config c;
  c.time_wait_us = 1'000'000;
  NetSim net(c, c, clean(), 1);
  EchoService echo;
  ASSERT_EQ(net.b->listen(kS, 7, echo), 0);
  constexpr std::uint32_t kTarget = 40'000;  // a byte in the first flight's second half
  Offsets off;
  int covering = 0;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi) || !(lo <= kTarget && kTarget < hi)) return 0;
    return ++covering <= 2 ? NetSim::kDrop : 0;  // the original and the first retransmission
  };
  StreamClient cl(blob(400 * 1024, 11));
  cl.id = net.a->connect(kC, 0, kS, 7, cl);
  ASSERT_TRUE(net.run([&] { return all_done(cl); }, 30'000'000));
  EXPECT_TRUE(cl.ok());
  EXPECT_EQ(covering, 3);  // sent three times: two lost, the third delivered
  const Counters& a = net.a->counters();
  EXPECT_EQ(a.rto_timeouts, 0u);
  EXPECT_EQ(a.tlp_probes, 0u);
  EXPECT_GE(a.rack_retransmits, 2u);
  EXPECT_EQ(a.rack_lost_retransmits, 1u);
  EXPECT_EQ(a.sack_recoveries, 1u);  // one episode, one reduction
  EXPECT_EQ(net.b->counters().rto_timeouts, 0u);
  expect_drained(net);
}

// The last two segments of a burst are lost and nothing follows them: the
// loss probe (the last segment again, RFC 8985 §7.3) draws a SACK, RACK then
// marks the other one lost. Both are repaired long before the 200 ms RTO.
TEST(Tlp, TailLossRepairedByProbeBeforeRto) {
  Config c;
  c.time_wait_us = 1'000'000;
  NetSim net(c, c, clean(), 2);
  DiscardService sink;
  ASSERT_EQ(net.b->listen(kS, 9, sink), 0);
  const std::string out = blob(8 * 1448, 12);  // 8 full segments, within IW10
  Offsets off;
  int dropped = 0;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi) || lo < 6 * 1448 || dropped >= 2) return 0;
    ++dropped;
    return NetSim::kDrop;
  };
  ConnHandler quiet;
  const ConnId id = net.a->connect(kC, 0, kS, 9, quiet);
  ASSERT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  ASSERT_EQ(net.a->write(id, out.data(), out.size()), static_cast<long>(out.size()));
  const std::uint64_t t0 = net.now();
  ASSERT_TRUE(net.run([&] { return sink.counters().bytes == out.size(); }, 1'000'000));
  EXPECT_LT(net.now() - t0, 50'000u);  // a few RTTs, not the 200 ms minimum RTO
  EXPECT_EQ(dropped, 2);
  const Counters& a = net.a->counters();
  EXPECT_EQ(a.rto_timeouts, 0u);
  EXPECT_EQ(a.tlp_probes, 1u);
  EXPECT_EQ(a.retransmits, 2u);  // the probe and the segment RACK marked lost
  EXPECT_EQ(a.rack_retransmits, 1u);
  EXPECT_EQ(a.rack_marked_lost, 1u);
  net.a->close(id);
  expect_drained(net);
}

// Only the very last segment is lost: the probe repairs it alone. The
// episode ends when a later ACK passes the probe without a D-SACK, and the
// congestion window is cut once (RFC 8985 §7.4).
TEST(Tlp, SingleTailLossCountsAsRecoveredLoss) {
  Config c;
  c.time_wait_us = 1'000'000;
  NetSim net(c, c, clean(), 3);
  EchoService echo;
  ASSERT_EQ(net.b->listen(kS, 7, echo), 0);
  // Two requests, the second written after the first is echoed: the first
  // one's last segment is lost once.
  struct Client : ConnHandler {
    std::string got;
    bool closed = false, failed = false;
    void on_readable(Stack& s, ConnId i) override {
      for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
        got.append(reinterpret_cast<const char*>(r.data()), r.size());
        s.consume(i, r.size());
      }
    }
    void on_closed(Stack&, ConnId) override { closed = true; }
    void on_reset(Stack&, ConnId) override { failed = true; }
    void on_error(Stack&, ConnId, Error) override { failed = true; }
  } cl;
  const std::string req1 = blob(3 * 1448, 21), req2 = blob(2000, 22);
  Offsets off;
  int dropped = 0;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi) || lo != 2 * 1448 || dropped) return 0;
    ++dropped;
    return NetSim::kDrop;
  };
  const ConnId id = net.a->connect(kC, 0, kS, 7, cl);
  ASSERT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  ASSERT_EQ(net.a->write(id, req1.data(), req1.size()), static_cast<long>(req1.size()));
  ASSERT_TRUE(net.run([&] { return cl.got.size() == req1.size(); }, 1'000'000));
  EXPECT_EQ(net.a->counters().tlp_probes, 1u);
  EXPECT_EQ(net.a->counters().tlp_recoveries, 0u);  // not known yet: the ACK only reached the probe
  ASSERT_EQ(net.a->write(id, req2.data(), req2.size()), static_cast<long>(req2.size()));
  ASSERT_TRUE(net.run([&] { return cl.got.size() == req1.size() + req2.size(); }, 1'000'000));
  EXPECT_EQ(cl.got, req1 + req2);
  const Counters& a = net.a->counters();
  EXPECT_EQ(a.tlp_recoveries, 1u);
  EXPECT_EQ(a.tlp_spurious, 0u);
  EXPECT_EQ(a.rto_timeouts, 0u);
  EXPECT_EQ(a.retransmits, 1u);
  net.a->close(id);
  ASSERT_TRUE(net.run([&] { return cl.closed || net.a->state(id) == State::closed; }, 5'000'000));
  expect_drained(net);
}

// Segments overtaken by one or two later ones (less than DupThresh SACKed)
// wait out the reordering window instead of being resent; once reordering
// has been seen, a deeper reordering (five overtaking) is tolerated too
// (RFC 8985 §6.2 step 4), where three duplicate ACKs would have resent.
TEST(Rack, ReorderingInsideTheWindowIsNotRetransmitted) {
  Config c;
  c.time_wait_us = 1'000'000;
  NetSim net(c, c, clean(), 4);
  DiscardService sink;
  ASSERT_EQ(net.b->listen(kS, 9, sink), 0);
  Offsets off;
  int held = 0;
  // At 1 Gbit/s a full segment takes 13 us on the wire: 20 us lets one
  // later segment overtake, 70 us five.
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi)) return 0;
    auto covers = [&](std::uint32_t x) { return lo <= x && x < hi; };
    if (covers(20 * 1448)) return ++held, 20;
    if (covers(120 * 1448) || covers(200 * 1448)) return ++held, 70;
    return 0;
  };
  const std::string out = blob(300 * 1448, 13);
  StreamClient cl(out);
  cl.id = net.a->connect(kC, 0, kS, 9, cl);
  ASSERT_TRUE(net.run([&] { return all_done(cl); }, 10'000'000));
  EXPECT_TRUE(cl.closed);
  EXPECT_EQ(held, 3);
  EXPECT_EQ(sink.counters().bytes, out.size());
  const Counters& a = net.a->counters();
  EXPECT_GE(a.rack_reordering, 3u);
  EXPECT_EQ(a.retransmits, 0u);
  EXPECT_EQ(a.rack_marked_lost, 0u);
  EXPECT_EQ(a.sack_recoveries, 0u);
  expect_drained(net);
}
