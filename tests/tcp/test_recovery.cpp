// Loss recovery beyond RACK-TLP's basics: the windowed RACK.min_RTT
// (RFC 8985 §6.2 step 1), D-SACK sent and used (RFC 2883, RFC 8985 §6.2
// step 4), Proportional Rate Reduction in fast recovery (RFC 6937) and the
// probe timeout on a sub-millisecond path (RFC 8985 §7.2), on the netsim
// fake wire with scripted delays and drops.
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

// --- D-SACK (RFC 2883) ------------------------------------------------------------

namespace {

// The stack under test as a receiver on a fake wire; the test plays a SACK
// sender (the harness's segments, one connection).
struct Receiver : Listener, ConnHandler {
  explicit Receiver(Config c = Config{}) : cfg(c), stack(cfg, sink, now) { stack.listen(kS, 5060, *this); }
  Config cfg;
  VecSink sink;
  std::uint64_t now = 1'000'000;
  Stack stack;
  Seq isn{5000}, iss;
  std::string got;
  ConnHandler* on_accept(Stack&, ConnId) override { return this; }
  void on_readable(Stack& s, ConnId i) override {
    for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
      got.append(reinterpret_cast<const char*>(r.data()), r.size());
      s.consume(i, r.size());
    }
  }
  void in(std::uint8_t f, Seq seq, Seq ack, std::string d = {}, OptionsOut o = {}) {
    auto b = make_segment(kC, kS, SegSpec{.sport = 40000, .dport = 5060, .seq = seq, .ack = ack, .flags = f,
                                          .data = std::move(d), .opt = o});
    stack.input(SegmentIn{.src = kC, .dst = kS, .data = b.data(), .len = b.size()}, now);
  }
  void open(bool sack) {
    OptionsOut o;
    o.sack_permitted = sack;
    in(flag::syn, isn, Seq(0), {}, o);
    iss = last().seq;
    in(flag::ack, isn + 1, iss + 1);
    sink.out.clear();
  }
  Header last() {
    EXPECT_FALSE(sink.out.empty());
    if (sink.out.empty()) return Header{};
    Header h = sink.out.back().h();
    sink.out.clear();
    return h;
  }
  // Data at stream offset `off` (the first data byte is offset 0).
  void data(std::uint32_t off, std::size_t n, char c) { in(flag::ack, isn + 1 + off, iss + 1, std::string(n, c)); }
  Seq at(std::uint32_t off) const { return isn + 1 + off; }
};

}  // namespace

// A duplicate below the cumulative ACK is the first block, reported once;
// a duplicate inside a queued range is the first block and that range the
// second (RFC 2883 §4); a segment partly old reports only the old part.
TEST(Dsack, ReceiverReportsDuplicatesInTheFirstBlock) {
  Receiver r;
  r.open(true);
  r.data(0, 100, 'a');
  r.data(0, 100, 'a');  // the whole segment again
  Header h = r.last();
  EXPECT_EQ(h.ack, r.at(100));
  ASSERT_EQ(h.opt.sack_count, 1);
  EXPECT_EQ(h.opt.sack[0].left, r.at(0));
  EXPECT_EQ(h.opt.sack[0].right, r.at(100));
  EXPECT_EQ(r.stack.counters().tx_dsacks, 1u);
  // Reported once: the next ACK (for a hole) has only the ordinary block.
  r.data(300, 100, 'c');
  h = r.last();
  ASSERT_EQ(h.opt.sack_count, 1);
  EXPECT_EQ(h.opt.sack[0].left, r.at(300));
  EXPECT_EQ(h.opt.sack[0].right, r.at(400));
  // Two queued ranges; part of the older one again: D-SACK, its range, the other.
  r.data(500, 100, 'e');
  r.last();
  r.data(320, 50, 'c');
  h = r.last();
  EXPECT_EQ(h.ack, r.at(100));
  ASSERT_EQ(h.opt.sack_count, 3);
  EXPECT_EQ(h.opt.sack[0].left, r.at(320));
  EXPECT_EQ(h.opt.sack[0].right, r.at(370));
  EXPECT_EQ(h.opt.sack[1].left, r.at(300));
  EXPECT_EQ(h.opt.sack[1].right, r.at(400));
  EXPECT_EQ(h.opt.sack[2].left, r.at(500));
  EXPECT_EQ(h.opt.sack[2].right, r.at(600));
  EXPECT_EQ(r.stack.counters().tx_dsacks, 2u);
  // Partly old, partly new: only the old part is a duplicate.
  r.data(50, 150, 'b');
  h = r.last();
  EXPECT_EQ(h.ack, r.at(200));
  ASSERT_GE(h.opt.sack_count, 1);
  EXPECT_EQ(h.opt.sack[0].left, r.at(50));
  EXPECT_EQ(h.opt.sack[0].right, r.at(100));
  EXPECT_EQ(r.stack.counters().tx_dsacks, 3u);
  EXPECT_EQ(r.got.size(), 200u);
}

TEST(Dsack, NoneWithoutSackOrWhenTurnedOff) {
  Receiver plain;
  plain.open(false);
  plain.data(0, 100, 'a');
  plain.data(0, 100, 'a');
  EXPECT_EQ(plain.last().opt.sack_count, 0);
  EXPECT_EQ(plain.stack.counters().tx_dsacks, 0u);
  EXPECT_EQ(plain.stack.counters().rx_dup_segments, 1u);
  Config c;
  c.dsack = false;
  Receiver off(c);
  off.open(true);
  off.data(0, 100, 'a');
  off.data(0, 100, 'a');
  EXPECT_EQ(off.last().opt.sack_count, 0);
  EXPECT_EQ(off.stack.counters().tx_dsacks, 0u);
}

// Two stacks, 20 ms apart. First a segment held back 8 ms with one segment
// overtaking it: RACK's window (min_RTT/4 = 5 ms) runs out and it is resent,
// spuriously. The peer reports the copy it got twice in a D-SACK; the
// sender counts it, takes it as reordering and doubles reo_wnd (RFC 8985
// §6.2 step 4). Then the same 8 ms with nine segments overtaking, past
// DupThresh: waited out, no retransmission, no recovery. Without D-SACKs
// from the receiver the second episode is resent as well.
namespace {
struct DsackRun {
  Counters a, b;
  std::uint64_t first_retransmits = 0, second_retransmits = 0, second_recoveries = 0;
  bool delivered = false;
};

DsackRun dsack_run(bool receiver_dsack) {
  Config ca, cb;
  ca.time_wait_us = cb.time_wait_us = 1'000'000;
  cb.dsack = receiver_dsack;
  NetSim net(ca, cb, clean(10'000), 41);
  DiscardService sink;
  EXPECT_EQ(net.b->listen(kS, 9, sink), 0);
  Offsets off;
  std::uint32_t held_at = UINT32_MAX;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi) || lo != held_at) return 0;
    held_at = UINT32_MAX;  // the original only, never its retransmission
    return 8'000;
  };
  ConnHandler quiet;
  const ConnId id = net.a->connect(kC, 0, kS, 9, quiet);
  EXPECT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  std::uint32_t total = 0;
  auto episode = [&](std::uint32_t segments, std::uint64_t seed) {
    const std::string out = blob(segments * 1448, seed);
    held_at = total;
    EXPECT_EQ(net.a->write(id, out.data(), out.size()), static_cast<long>(out.size()));
    total += static_cast<std::uint32_t>(out.size());
    EXPECT_TRUE(net.run([&] { return sink.counters().bytes == total; }, 2'000'000));
    net.run([] { return false; }, 200'000);  // the D-SACK comes back, everything settles
  };
  DsackRun r;
  episode(2, 1);
  r.first_retransmits = net.a->counters().retransmits;
  const std::uint64_t rec = net.a->counters().sack_recoveries;
  episode(10, 2);
  r.second_retransmits = net.a->counters().retransmits - r.first_retransmits;
  r.second_recoveries = net.a->counters().sack_recoveries - rec;
  r.delivered = sink.counters().bytes == total;
  r.a = net.a->counters();
  r.b = net.b->counters();
  net.a->close(id);
  net.run([] { return false; }, 3'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  EXPECT_EQ(net.b->connections(), 0u);
  return r;
}
}  // namespace

TEST(Dsack, SpuriousRetransmissionWidensTheReorderingWindow) {
  const DsackRun r = dsack_run(true);
  EXPECT_TRUE(r.delivered);
  EXPECT_EQ(r.first_retransmits, 1u);  // the held-back segment, resent by RACK
  EXPECT_EQ(r.b.rx_dup_segments, 1u);  // ... arrived twice
  EXPECT_EQ(r.b.tx_dsacks, 1u);        // ... and was reported
  EXPECT_EQ(r.a.rack_dsacks, 1u);
  EXPECT_EQ(r.a.spurious_retransmits, 1u);
  EXPECT_EQ(r.second_retransmits, 0u);
  EXPECT_EQ(r.second_recoveries, 0u);
  EXPECT_EQ(r.a.rto_timeouts, 0u);
  EXPECT_EQ(r.a.tlp_probes, 0u);
  // The receiver that stays silent about duplicates: the sender learns nothing.
  const DsackRun quiet = dsack_run(false);
  EXPECT_TRUE(quiet.delivered);
  EXPECT_EQ(quiet.first_retransmits, 1u);
  EXPECT_EQ(quiet.b.tx_dsacks, 0u);
  EXPECT_EQ(quiet.a.rack_dsacks, 0u);
  EXPECT_EQ(quiet.second_retransmits, 1u);
  EXPECT_EQ(quiet.second_recoveries, 1u);
}

// --- PRR (RFC 6937) -----------------------------------------------------------------

// IW40 from a to b, the first `burst` segments lost once. Fast recovery
// starts at the third SACK (DupThresh: reo_wnd 0, every hole below it lost)
// with RecoverFS = FlightSize and ssthresh = RecoverFS / 2 (RFC 5681 eq. 4).
// From then on every ACK may let out only PRR's sndcnt (RFC 6937 §3.1 with
// the slow-start reduction bound): ceil(prr_delivered * ssthresh /
// RecoverFS) - prr_out while pipe > ssthresh, else min(ssthresh - pipe,
// max(prr_delivered - prr_out, DeliveredData) + MSS). The replay
// recomputes sndcnt from what crossed the wire only (b's ACKs in the order
// a took them in, what a sent after each) and checks that each ACK let out
// whole segments up to sndcnt and no more.
namespace {
struct PrrReplay {
  std::uint32_t recover_fs = 0, ssthresh = 0, info_ssthresh = 0;
  std::uint64_t delivered_at_entry = 0;
  std::uint32_t acks = 0, proportional = 0, bounded = 0;
  std::uint32_t new_segments = 0, retransmissions = 0;  // sent in recovery, after the entry's one
  std::uint32_t max_per_ack = 0;
  Counters a;
};

PrrReplay prr_replay(std::uint32_t burst) {
  constexpr std::uint32_t kMss = 1448;
  Config c;
  c.time_wait_us = 1'000'000;
  c.init_cwnd_segments = 40;
  NetSim net(c, c, clean(5'000), 51);
  DiscardService sink;
  EXPECT_EQ(net.b->listen(kS, 9, sink), 0);
  struct Sent {
    std::uint32_t lo, hi;
    std::uint64_t after_rx;  // segments a had taken in when it sent this
  };
  struct Ack {
    std::uint32_t ack = 0;          // offset acknowledged
    std::uint32_t l = 0, r = 0;     // the SACK block above it (one hole at a time here)
  };
  std::vector<Sent> sent;
  std::vector<Ack> acks;  // every segment b sent, in order (the wire keeps it)
  std::vector<bool> dropped(burst, false);
  Offsets off;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    if (from == 1) {
      Ack k;
      if (off.have && h.has(flag::ack)) {
        k.ack = h.ack > off.iss + 1 ? seq_dist(off.iss + 1, h.ack) : 0;
        EXPECT_LE(h.opt.sack_count, 1u);
        if (h.opt.sack_count == 1 && h.opt.sack[0].right > h.ack) {
          k.l = seq_dist(off.iss + 1, h.opt.sack[0].left);
          k.r = seq_dist(off.iss + 1, h.opt.sack[0].right);
        }
      }
      acks.push_back(k);
      return 0;
    }
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi)) return 0;
    sent.push_back({lo, hi, net.a->counters().rx_segments});
    const std::uint32_t i = lo / kMss;
    if (i < burst && !dropped[i]) {
      dropped[i] = true;
      return NetSim::kDrop;
    }
    return 0;
  };
  PrrReplay rp;
  ConnHandler quiet;
  const ConnId id = net.a->connect(kC, 0, kS, 9, quiet);
  EXPECT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  EXPECT_EQ(net.a->counters().rx_segments, 1u);  // b's SYN-ACK
  const std::string out = blob(120 * kMss, 7);
  EXPECT_EQ(net.a->write(id, out.data(), out.size()), static_cast<long>(out.size()));
  EXPECT_EQ(sent.size(), 40u);  // IW40
  EXPECT_TRUE(net.run([&] { return sink.counters().bytes == out.size(); }, 5'000'000));
  rp.a = net.a->counters();
  // Recovery starts with the first retransmission, on ACK number `entry`.
  std::size_t first = 0;
  std::uint32_t snd_max = 0;
  for (std::size_t i = 0; i < sent.size() && !first; ++i) {
    if (sent[i].lo < snd_max) first = i;
    snd_max = std::max(snd_max, sent[i].hi);
  }
  EXPECT_NE(first, 0u);
  if (!first) return rp;
  snd_max = 0;
  for (std::size_t i = 0; i < first; ++i) snd_max = std::max(snd_max, sent[i].hi);
  const std::uint64_t entry = sent[first].after_rx;
  EXPECT_GE(entry, 2u);
  auto delivered = [&](std::uint64_t n) {  // after a took in n of b's segments
    const Ack& k = acks[n - 1];
    return std::uint64_t{k.ack} + (k.r - k.l);
  };
  rp.recover_fs = snd_max - acks[entry - 1].ack;
  rp.ssthresh = rp.recover_fs / 2;
  rp.delivered_at_entry = delivered(entry);
  std::vector<bool> resent(snd_max / kMss + 1, false);
  resent[sent[first].lo / kMss] = true;
  std::uint64_t prr_delivered = 0, prr_out = sent[first].hi - sent[first].lo;  // the entry's retransmission
  std::size_t next = first + 1;
  std::uint32_t high = snd_max;
  for (std::uint64_t n = entry; n <= acks.size(); ++n) {
    const Ack& k = acks[n - 1];
    if (k.ack >= snd_max) break;  // the full ACK ends recovery
    const std::uint64_t dd = delivered(n) - delivered(n - 1);
    prr_delivered += dd;
    // pipe = in flight - SACKed - lost; lost: the holes below the SACK
    // block not sent again (all marked at the entry, reo_wnd 0).
    std::int64_t lost = 0;
    for (std::uint32_t o = k.ack; o < k.l; o += kMss) lost += resent[o / kMss] ? 0 : kMss;
    const std::int64_t pipe = std::int64_t{high} - k.ack - (k.r - k.l) - lost;
    std::int64_t sndcnt;
    if (pipe > rp.ssthresh) {
      sndcnt = static_cast<std::int64_t>((prr_delivered * rp.ssthresh + rp.recover_fs - 1) / rp.recover_fs) -
               static_cast<std::int64_t>(prr_out);
      ++rp.proportional;
    } else {
      sndcnt = std::min<std::int64_t>(std::int64_t{rp.ssthresh} - pipe,
                                      std::max<std::int64_t>(static_cast<std::int64_t>(prr_delivered - prr_out),
                                                             static_cast<std::int64_t>(dd)) + kMss);
      ++rp.bounded;
    }
    std::uint64_t now_sent = 0;
    for (; next < sent.size() && sent[next].after_rx == n; ++next) {
      const Sent& x = sent[next];
      if (x.lo < high) {
        EXPECT_FALSE(resent[x.lo / kMss]) << "sent twice in one recovery: " << x.lo;
        EXPECT_LT(x.lo, k.l) << "a SACKed segment resent";
        resent[x.lo / kMss] = true;
        ++rp.retransmissions;
      } else {
        EXPECT_EQ(lost, 0) << "new data before the lost segments (RFC 6675 NextSeg)";
        ++rp.new_segments;
      }
      now_sent += x.hi - x.lo;
      high = std::max(high, x.hi);
    }
    EXPECT_EQ(now_sent % kMss, 0u);
    EXPECT_LE(static_cast<std::int64_t>(now_sent), std::max<std::int64_t>(sndcnt, 0)) << "ACK " << n;
    EXPECT_LT(sndcnt - static_cast<std::int64_t>(now_sent), static_cast<std::int64_t>(kMss)) << "ACK " << n;
    prr_out += now_sent;
    rp.max_per_ack = std::max(rp.max_per_ack, static_cast<std::uint32_t>(now_sent / kMss));
    ++rp.acks;
  }
  ConnInfo ci;
  EXPECT_TRUE(net.a->info(id, ci));
  rp.info_ssthresh = ci.ssthresh;
  net.a->close(id);
  net.run([] { return false; }, 3'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  return rp;
}
}  // namespace

// One segment lost: the pipe stays above ssthresh almost to the end, and a
// sends one new segment for every two delivered, so the flight falls from
// 41 segments to ssthresh over the round trip. Before PRR, cwnd fell to
// ssthresh at once: nothing went out for the first 19 ACKs (half the round
// trip), then one segment per ACK.
TEST(Prr, OneLossSendsInProportionToWhatIsDelivered) {
  const PrrReplay r = prr_replay(1);
  EXPECT_EQ(r.a.sack_recoveries, 1u);
  EXPECT_EQ(r.a.retransmits, 1u);
  EXPECT_EQ(r.a.rto_timeouts, 0u);
  EXPECT_EQ(r.recover_fs, 41u * 1448);  // IW40 and one segment of limited transmit (RFC 3042)
  EXPECT_EQ(r.delivered_at_entry, 3u * 1448);  // the third SACKed segment: DupThresh
  EXPECT_EQ(r.info_ssthresh, r.ssthresh);
  EXPECT_EQ(r.acks, 38u);  // the SACKs after the entry, up to the full ACK
  EXPECT_GT(r.proportional, 30u);
  EXPECT_GT(r.bounded, 0u);  // the pipe reached ssthresh just before the full ACK
  EXPECT_EQ(r.retransmissions, 0u);
  EXPECT_GE(r.new_segments, 18u);  // about half of the 38 delivered
  EXPECT_LE(r.new_segments, 20u);
  EXPECT_LE(r.max_per_ack, 2u);
}

// The first 25 of 40 segments lost: at the entry the pipe (13 segments) is
// already below ssthresh (20), and the slow-start reduction bound lets each
// ACK out at most what it delivered plus one segment: the lost segments go
// again two per SACK, not all at once as cwnd = ssthresh allowed.
TEST(Prr, BurstLossCatchesUpNoFasterThanSlowStart) {
  const PrrReplay r = prr_replay(25);
  EXPECT_EQ(r.a.sack_recoveries, 1u);
  EXPECT_EQ(r.a.rto_timeouts, 0u);
  EXPECT_EQ(r.a.retransmits, 25u);  // each lost segment once
  EXPECT_EQ(r.info_ssthresh, r.ssthresh);
  EXPECT_GT(r.bounded, 0u);
  EXPECT_EQ(r.proportional, 0u);
  EXPECT_EQ(r.retransmissions, 24u);  // after the one on entry
  EXPECT_LE(r.max_per_ack, 2u);
}

// --- probe timeout on a sub-millisecond path (RFC 8985 §7.2) -------------------

namespace {

// The receiving side: echoes while `echo` is set (the echo carries the ACK
// at once, so the sender's SRTT is the 0.2 ms path), else reads silently and
// leaves the ACK to its delayed-ACK timer or the wire script.
struct Responder : Listener, ConnHandler {
  bool echo = true;
  std::uint64_t bytes = 0;
  ConnHandler* on_accept(Stack&, ConnId) override { return this; }
  void on_readable(Stack& s, ConnId i) override {
    for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
      bytes += r.size();
      if (echo) s.write(i, r.data(), r.size());
      s.consume(i, r.size());
    }
  }
  void on_peer_closed(Stack& s, ConnId i) override { s.close(i); }
};

struct ProbeRun {
  std::uint64_t probes = 0, spurious = 0, tlp_recoveries = 0, retransmits = 0, rtos = 0, rack_retransmits = 0;
  std::uint64_t ack_at_us = 0;    // the first ACK after the flight reaches the sender (from the flight)
  std::uint64_t probe_at_us = 0;  // the first segment sent twice (from the flight; 0: none)
  std::uint64_t acked_at_us = 0;  // everything ACKed (from the flight)
  std::uint32_t srtt_us = 0;      // the sender's SRTT before the flight
};

// One app-limited flight (segments of `sizes` bytes, written one by one)
// after a warm-up on a 0.2 ms round trip. The receiver's delayed-ACK timer
// is `delack_us`; its pure ACKs after the flight are held `hold_us` more on
// the wire (a Linux receiver whose application has not read yet ACKs only
// when it reads or its delayed-ACK timer fires, however many segments came);
// the flight's segments at the indexes in `drop` are lost once.
ProbeRun probe_flight(const std::vector<std::uint32_t>& sizes, std::uint32_t delack_us, std::int64_t hold_us,
                      const std::vector<unsigned>& drop) {
  Config ca, cb;
  ca.time_wait_us = cb.time_wait_us = 1'000'000;
  cb.delack_us = delack_us;
  NetSim net(ca, cb, clean(100), 41);
  Responder resp;
  EXPECT_EQ(net.b->listen(kS, 7, resp), 0);
  Collect cl;
  const ConnId id = net.a->connect(kC, 0, kS, 7, cl);
  EXPECT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  std::size_t echoed = 0;
  for (int i = 0; i < 8; ++i) {  // RTT samples from the echoes
    const std::string req = blob(300, 500 + i);
    EXPECT_EQ(net.a->write(id, req.data(), req.size()), static_cast<long>(req.size()));
    echoed += req.size();
    EXPECT_TRUE(net.run([&] { return cl.got.size() == echoed; }, 1'000'000));
    net.run([] { return false; }, 5'000);
  }
  resp.echo = false;
  ProbeRun r;
  ConnInfo info;
  EXPECT_TRUE(net.a->info(id, info));
  r.srtt_us = info.srtt_us;
  const Counters before = net.a->counters();
  std::uint32_t total = 0;
  for (std::uint32_t s : sizes) total += s;
  const std::uint64_t t0 = net.now();
  bool started = false;
  Seq first;  // the flight's first sequence number
  std::vector<int> sends(sizes.size(), 0);
  net.script = [&](int from, const Header& h) -> std::int64_t {
    if (from == 1) {
      if (h.payload_len) return 0;
      const std::uint64_t arrives = net.now() + static_cast<std::uint64_t>(hold_us) + 100 - t0;
      if (!r.ack_at_us) r.ack_at_us = arrives;
      if (started && !r.acked_at_us && h.ack >= first + total) r.acked_at_us = arrives;
      return hold_us;
    }
    if (h.payload_len == 0) return 0;
    if (!started) {
      started = true;
      first = h.seq;
    }
    const std::uint32_t at = seq_dist(first, h.seq);
    unsigned k = 0;
    for (std::uint32_t lo = 0; k < sizes.size() && lo + sizes[k] <= at; lo += sizes[k++]) {
    }
    if (k == sizes.size()) return 0;
    if (++sends[k] > 1 && !r.probe_at_us) r.probe_at_us = net.now() - t0;
    for (unsigned d : drop)
      if (d == k && sends[k] == 1) return NetSim::kDrop;
    return 0;
  };
  const std::string data = blob(total, 777);
  std::uint32_t o = 0;
  for (std::uint32_t s : sizes) {
    EXPECT_EQ(net.a->write(id, data.data() + o, s), static_cast<long>(s));
    o += s;
  }
  EXPECT_TRUE(net.run([&] { return resp.bytes == echoed + total && r.acked_at_us && net.now() - t0 > r.acked_at_us; },
                      2'000'000));
  net.run([] { return false; }, 300'000);  // anything late (a probe, an RTO) would show now
  const Counters& a = net.a->counters();
  r.probes = a.tlp_probes - before.tlp_probes;
  r.spurious = a.tlp_spurious - before.tlp_spurious;
  r.tlp_recoveries = a.tlp_recoveries - before.tlp_recoveries;
  r.retransmits = a.retransmits - before.retransmits;
  r.rtos = a.rto_timeouts - before.rto_timeouts;
  r.rack_retransmits = a.rack_retransmits - before.rack_retransmits;
  net.script = nullptr;
  net.a->close(id);
  net.run([] { return false; }, 3'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  return r;
}

}  // namespace

// One segment on a 0.2 ms round trip whose ACK the receiver delays 30 ms:
// PTO = 2 SRTT + WCDelAckT, capped by the RTO (RFC 8985 §7.2), so no probe
// goes before the delayed ACK.
TEST(TlpTimeout, OneSegmentWaitsForTheDelayedAck) {
  const ProbeRun r = probe_flight({1000}, 30'000, 0, {});
  EXPECT_LT(r.srtt_us, 5'000u);        // 2 SRTT alone would fire well before the ACK
  EXPECT_GE(r.ack_at_us, 30'000u);     // the ACK really came late
  EXPECT_EQ(r.probes, 0u);
  EXPECT_EQ(r.retransmits, 0u);
  EXPECT_EQ(r.rtos, 0u);
}

// A full and a short segment whose ACK comes 30 ms late (a receiver need not
// ACK before the second full-sized segment, RFC 5681 §4.2; Linux holds it
// until the application reads): read as "one segment" for the delayed-ACK
// allowance, so no probe either. Counting segments (FlightSize == 2) would
// probe at the floor, 10 ms.
TEST(TlpTimeout, FullAndShortSegmentWaitForALateAck) {
  const ProbeRun r = probe_flight({1448, 500}, 40'000, 30'000, {});
  EXPECT_LT(r.srtt_us, 5'000u);
  EXPECT_GE(r.ack_at_us, 30'000u);
  EXPECT_EQ(r.probes, 0u);
  EXPECT_EQ(r.retransmits, 0u);
  EXPECT_EQ(r.rtos, 0u);
}

// Three full segments whose ACKs are held 30 ms: RFC 8985 §7.2 gives 2 SRTT
// (0.4 ms); the 10 ms floor (Config::tlp_min_pto_us) delays the probe to
// 10 ms, and then exactly one goes (the last segment again, nothing new to
// send). The receiver's D-SACK shows it was not needed: no cwnd cut, no RTO.
TEST(TlpTimeout, HeldAcksOfAFullFlightDrawOneProbeAtTheFloor) {
  const ProbeRun r = probe_flight({1448, 1448, 1448}, 40'000, 30'000, {});
  EXPECT_LT(r.srtt_us, 5'000u);
  EXPECT_EQ(r.probes, 1u);
  EXPECT_GE(r.probe_at_us, 10'000u);
  EXPECT_LT(r.probe_at_us, r.ack_at_us);
  EXPECT_EQ(r.spurious, 1u);
  EXPECT_EQ(r.tlp_recoveries, 0u);
  EXPECT_EQ(r.retransmits, 1u);
  EXPECT_EQ(r.rtos, 0u);
}

// A real tail loss on the same path (the last two of four segments): the
// first two are ACKed at once, the probe goes at the 10 ms floor and its SACK
// lets RACK resend the other; all is repaired long before the 200 ms RTO.
TEST(TlpTimeout, TailLossOnAShortPathIsProbedAtTheFloor) {
  const ProbeRun r = probe_flight({1448, 1448, 1448, 1448}, 40'000, 0, {2, 3});
  EXPECT_LT(r.srtt_us, 5'000u);
  EXPECT_EQ(r.probes, 1u);
  EXPECT_GE(r.probe_at_us, 10'000u);
  EXPECT_LT(r.probe_at_us, 13'000u);
  EXPECT_EQ(r.rack_retransmits, 1u);
  EXPECT_EQ(r.retransmits, 2u);
  EXPECT_EQ(r.rtos, 0u);
  EXPECT_LT(r.acked_at_us, 20'000u);
}

// --- undo of a spurious fast recovery (RFC 3708, RFC 3522, RFC 4015) ----------------

// Two stacks 20 ms apart; ten segments, the first held back 8 ms (or lost
// once). Nine overtake it: NewReno's three duplicate ACKs or RACK with
// DupThresh SACKed (no reordering seen yet, reo_wnd 0) resend it at once,
// and fast recovery halves ssthresh. When the original was only late, the
// peer's D-SACK for the copy (RFC 3708 §3) or the echo of the original's
// older TSval (RFC 3522 §3.2) proves the episode spurious, and cwnd and
// ssthresh go back to their values before it (RFC 4015 §3).
namespace {
struct UndoRun {
  Counters a;
  ConnInfo before, after;
  bool delivered = false;
};

UndoRun undo_run(bool sack, bool ts, bool dsack, bool lost,
                 CongestionControl cc = CongestionControl::newreno) {
  Config ca, cb;
  ca.cc = cc;
  ca.time_wait_us = cb.time_wait_us = 1'000'000;
  ca.sack = cb.sack = sack;
  ca.timestamps = cb.timestamps = ts;
  cb.dsack = dsack;
  NetSim net(ca, cb, clean(10'000), 43);
  DiscardService sink;
  EXPECT_EQ(net.b->listen(kS, 9, sink), 0);
  Offsets off;
  bool hold = false;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi) || lo != 0 || !hold) return 0;
    hold = false;  // the original only, never its retransmission
    return lost ? NetSim::kDrop : 8'000;
  };
  ConnHandler quiet;
  const ConnId id = net.a->connect(kC, 0, kS, 9, quiet);
  EXPECT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  UndoRun r;
  EXPECT_TRUE(net.a->info(id, r.before));
  const std::string out = blob(10 * 1448, 7);
  hold = true;
  EXPECT_EQ(net.a->write(id, out.data(), out.size()), static_cast<long>(out.size()));
  r.delivered = net.run([&] { return sink.counters().bytes == out.size(); }, 2'000'000);
  net.run([] { return false; }, 200'000);  // the D-SACK comes back, everything settles
  EXPECT_TRUE(net.a->info(id, r.after));
  r.a = net.a->counters();
  net.a->close(id);
  net.run([] { return false; }, 3'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  EXPECT_EQ(net.b->connections(), 0u);
  return r;
}
}  // namespace

TEST(Undo, DsackOfEveryRetransmissionRestoresCwndAndSsthresh) {
  const UndoRun r = undo_run(/*sack=*/true, /*ts=*/false, /*dsack=*/true, /*lost=*/false);
  EXPECT_TRUE(r.delivered);
  EXPECT_EQ(r.a.sack_recoveries, 1u);
  EXPECT_EQ(r.a.rack_retransmits, 1u);
  EXPECT_EQ(r.a.spurious_retransmits, 1u);
  EXPECT_EQ(r.a.undo_dsack, 1u);
  EXPECT_EQ(r.a.undo_eifel, 0u);
  EXPECT_EQ(r.after.ssthresh, r.before.ssthresh);
  EXPECT_GE(r.after.cwnd, 10u * r.before.smss);
}

TEST(Undo, EifelTimestampEchoRestoresCwndAndSsthresh) {
  // No D-SACK from the receiver: the timestamps alone tell.
  for (const bool sack : {true, false}) {
    SCOPED_TRACE(sack ? "SACK" : "NewReno");
    const UndoRun r = undo_run(sack, /*ts=*/true, /*dsack=*/false, /*lost=*/false);
    EXPECT_TRUE(r.delivered);
    EXPECT_EQ(r.a.fast_retransmits, 1u);
    EXPECT_EQ(r.a.retransmits, 1u);
    EXPECT_EQ(r.a.undo_eifel, 1u);
    EXPECT_EQ(r.a.undo_dsack, 0u);
    EXPECT_EQ(r.after.ssthresh, r.before.ssthresh);
    EXPECT_GE(r.after.cwnd, 10u * r.before.smss);
  }
}

TEST(Undo, NoUndoWithoutEvidenceOrAfterARealLoss) {
  // Late, but neither D-SACK nor timestamps: the reduction stands.
  const UndoRun blind = undo_run(/*sack=*/true, /*ts=*/false, /*dsack=*/false, /*lost=*/false);
  EXPECT_TRUE(blind.delivered);
  EXPECT_EQ(blind.a.fast_retransmits, 1u);
  EXPECT_EQ(blind.a.undo_dsack + blind.a.undo_eifel, 0u);
  EXPECT_LT(blind.after.ssthresh, blind.before.ssthresh);
  EXPECT_LE(blind.after.ssthresh, 5u * blind.before.smss);
  // Really lost: the retransmission's own TSval comes back, no D-SACK.
  for (const bool sack : {true, false}) {
    SCOPED_TRACE(sack ? "SACK" : "NewReno");
    const UndoRun r = undo_run(sack, /*ts=*/true, /*dsack=*/true, /*lost=*/true);
    EXPECT_TRUE(r.delivered);
    EXPECT_EQ(r.a.fast_retransmits, 1u);
    EXPECT_EQ(r.a.undo_dsack + r.a.undo_eifel, 0u);
    EXPECT_LE(r.after.ssthresh, 5u * r.before.smss);
  }
}

TEST(Undo, CubicStateRestoredWithTheWindow) {
  // RFC 9438 §4.9: W_max (and K, the epoch) from before the spurious event
  // come back with cwnd and ssthresh. Before it the connection is in slow
  // start (no reduction yet, W_max 0); the reduction sets W_max to the
  // window at the event, and the undo must take it back.
  for (const bool sack : {true, false}) {
    SCOPED_TRACE(sack ? "SACK" : "NewReno");
    const UndoRun r = undo_run(sack, /*ts=*/true, /*dsack=*/false, /*lost=*/false, CongestionControl::cubic);
    EXPECT_TRUE(r.delivered);
    EXPECT_EQ(r.a.fast_retransmits, 1u);
    EXPECT_EQ(r.a.undo_eifel, 1u);
    EXPECT_EQ(r.after.ssthresh, r.before.ssthresh);
    EXPECT_EQ(r.after.cubic_w_max, r.before.cubic_w_max);
  }
  // A reduction that stands keeps its W_max (the check above can fail).
  const UndoRun lost = undo_run(/*sack=*/true, /*ts=*/true, /*dsack=*/true, /*lost=*/true, CongestionControl::cubic);
  EXPECT_TRUE(lost.delivered);
  EXPECT_EQ(lost.a.undo_dsack + lost.a.undo_eifel, 0u);
  EXPECT_GT(lost.after.cubic_w_max, 0.0f);
  EXPECT_EQ(lost.before.cubic_w_max, 0.0f);
}

// --- PRR without SACK (RFC 6937 §3, §5) --------------------------------------------

// IW40 without SACK, the first segment lost once. Three duplicate ACKs
// start NewReno's fast recovery (ssthresh = 20.5 segments); PRR then counts
// each further duplicate ACK as one segment delivered and lets out
// ceil(prr_delivered * ssthresh / RecoverFS) - prr_out: about one new
// segment per two duplicate ACKs from the start. Before, cwnd became
// ssthresh + 3 SMSS at once and grew one SMSS per duplicate ACK: nothing
// went out until the inflated cwnd passed the 41 segments in flight, then
// one segment per duplicate ACK.
namespace {
struct RenoPrr {
  std::uint32_t dup_acks = 0;             // duplicate ACKs a took in after the entry
  std::uint32_t new_first_half = 0;       // new segments sent on the first half of them
  std::uint32_t new_total = 0, max_per_ack = 0;
  std::uint32_t after_ssthresh = 0, smss = 0;
  Counters a;
};

RenoPrr reno_prr(std::uint32_t second_loss = 0) {
  constexpr std::uint32_t kMss = 1448;
  Config c;
  c.time_wait_us = 1'000'000;
  c.init_cwnd_segments = 40;
  c.sack = false;
  NetSim net(c, c, clean(5'000), 53);
  DiscardService sink;
  EXPECT_EQ(net.b->listen(kS, 9, sink), 0);
  struct Sent {
    std::uint32_t lo, hi;
    std::uint64_t after_rx;
  };
  std::vector<Sent> sent;
  std::vector<std::uint32_t> acks;  // b's cumulative ACK offsets, in order
  bool dropped = false;
  Offsets off;
  net.script = [&](int from, const Header& h) -> std::int64_t {
    if (from == 1) {
      acks.push_back(off.have && h.ack > off.iss + 1 ? seq_dist(off.iss + 1, h.ack) : 0);
      return 0;
    }
    std::uint32_t lo, hi;
    if (!off.of(from, h, lo, hi)) return 0;
    sent.push_back({lo, hi, net.a->counters().rx_segments});
    if (lo == 0 && !dropped) {
      dropped = true;
      return NetSim::kDrop;
    }
    if (second_loss && lo == second_loss * kMss) {
      second_loss = 0;
      return NetSim::kDrop;
    }
    return 0;
  };
  RenoPrr rp;
  ConnHandler quiet;
  const ConnId id = net.a->connect(kC, 0, kS, 9, quiet);
  EXPECT_TRUE(net.run([&] { return net.a->state(id) == State::established; }, 1'000'000));
  const std::string out = blob(120 * kMss, 9);
  EXPECT_EQ(net.a->write(id, out.data(), out.size()), static_cast<long>(out.size()));
  EXPECT_TRUE(net.run([&] { return sink.counters().bytes == out.size(); }, 5'000'000));
  rp.a = net.a->counters();
  // The retransmission, and the ACK a had taken in when it went.
  std::size_t first = 0;
  std::uint32_t snd_max = 0;
  for (std::size_t i = 0; i < sent.size() && !first; ++i) {
    if (sent[i].lo < snd_max) first = i;
    snd_max = std::max(snd_max, sent[i].hi);
  }
  EXPECT_NE(first, 0u);
  if (!first) return rp;
  const std::uint64_t entry = sent[first].after_rx;
  std::uint64_t end = entry;  // the first ACK past the loss (it ends recovery)
  while (end < acks.size() && acks[end] == 0) ++end;
  rp.dup_acks = static_cast<std::uint32_t>(end - entry);
  std::size_t next = first + 1;
  for (std::uint64_t n = entry + 1; n <= end; ++n) {
    std::uint32_t now_sent = 0;
    for (; next < sent.size() && sent[next].after_rx == n; ++next) {
      EXPECT_GE(sent[next].lo, snd_max) << "only new data until the full ACK";
      ++now_sent;
    }
    rp.new_total += now_sent;
    if (n <= entry + rp.dup_acks / 2) rp.new_first_half += now_sent;
    rp.max_per_ack = std::max(rp.max_per_ack, now_sent);
  }
  ConnInfo ci;
  EXPECT_TRUE(net.a->info(id, ci));
  rp.after_ssthresh = ci.ssthresh;
  rp.smss = ci.smss;
  net.a->close(id);
  net.run([] { return false; }, 3'000'000);
  EXPECT_EQ(net.a->connections(), 0u);
  return rp;
}
}  // namespace

TEST(Prr, NewRenoSendsInProportionFromTheFirstDuplicateAck) {
  const RenoPrr r = reno_prr();
  EXPECT_EQ(r.a.fast_retransmits, 1u);
  EXPECT_EQ(r.a.retransmits, 1u);
  EXPECT_EQ(r.a.rto_timeouts, 0u);
  EXPECT_EQ(r.a.sack_recoveries, 0u);
  EXPECT_GE(r.dup_acks, 36u);
  EXPECT_GE(r.new_first_half, r.dup_acks / 4 - 1);  // about one per two duplicate ACKs
  EXPECT_LE(r.new_first_half, r.dup_acks / 4 + 1);
  EXPECT_LE(r.new_total, r.dup_acks / 2 + 2);
  EXPECT_LE(r.max_per_ack, 2u);
}

// A second loss in the same window: the partial ACK resends it at once
// (RFC 6582 §3.2 step 3) and PRR goes on to the full ACK, no RTO.
TEST(Prr, NewRenoPartialAckResendsTheNextHole) {
  const RenoPrr r = reno_prr(20);
  EXPECT_EQ(r.a.fast_retransmits, 1u);
  EXPECT_EQ(r.a.partial_acks, 1u);
  EXPECT_EQ(r.a.retransmits, 2u);
  EXPECT_EQ(r.a.rto_timeouts, 0u);
  EXPECT_LE(r.max_per_ack, 2u);
}
