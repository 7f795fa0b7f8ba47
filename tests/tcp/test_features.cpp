// Focused behaviour tests: negotiation, buffers, back-pressure, limits and
// counters, on the fake wire or two stacks back to back.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "harness.hpp"
#include "netsim.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kLocal = 0xc6120001, kRemote = 0xc6120002;
constexpr std::uint16_t kLport = 5061;

class Sink : public ConnHandler, public Listener {
 public:
  ConnId id;
  int accepted = 0, readable = 0, writable = 0, peer_closed = 0, resets = 0, closed = 0;
  Error error = Error::none;
  bool auto_read = true;
  std::string data;
  ConnHandler* on_accept(Stack&, ConnId i) override {
    id = i;
    ++accepted;
    return this;
  }
  void on_connected(Stack&, ConnId) override {}
  void on_readable(Stack& s, ConnId i) override {
    ++readable;
    if (!auto_read) return;
    char buf[4096];
    std::size_t n;
    while ((n = s.read(i, buf, sizeof buf)) > 0) data.append(buf, n);
  }
  void on_writable(Stack&, ConnId) override { ++writable; }
  void on_peer_closed(Stack&, ConnId) override { ++peer_closed; }
  void on_reset(Stack&, ConnId) override { ++resets; }
  void on_error(Stack&, ConnId, Error e) override { error = e; }
  void on_closed(Stack&, ConnId) override { ++closed; }
};

// The stack under test on a fake wire; the test plays the peer.
struct Wire {
  explicit Wire(Config c = Config{}) : cfg(c), stack(cfg, sink, now) { stack.listen(kLocal, kLport, app); }
  Config cfg;
  VecSink sink;
  std::uint64_t now = 1'000'000;
  Stack stack;
  Sink app;
  Seq peer_isn{1000};
  Seq iss;

  void in(std::uint16_t sport, std::uint8_t f, Seq seq, Seq ack, std::string d = {}, OptionsOut o = {},
          std::uint16_t win = 65535) {
    auto b = make_segment(kRemote, kLocal,
                          SegSpec{.sport = sport, .dport = kLport, .seq = seq, .ack = ack, .flags = f,
                                  .window = win, .data = std::move(d), .opt = o});
    stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = b.data(), .len = b.size()}, now);
  }
  Header pop() {
    EXPECT_FALSE(sink.out.empty());
    if (sink.out.empty()) return Header{};
    last = sink.out.front();
    sink.out.pop_front();
    return last.h();
  }
  // Handshake from `sport` with options `o`; returns the SYN-ACK.
  Header open(std::uint16_t sport, OptionsOut o = {}) {
    in(sport, flag::syn, peer_isn, Seq(0), {}, o);
    Header sa = pop();
    iss = sa.seq;
    OptionsOut ao;
    if (o.ts) {
      ao.ts = true;
      ao.ts_val = o.ts_val + 1;
      ao.ts_ecr = sa.opt.ts_val;
    }
    in(sport, flag::ack, peer_isn + 1, iss + 1, {}, ao);
    return sa;
  }
  Captured last;
};

TEST(Negotiation, AllOptionsBothWays) {
  Config c;
  NetSim net(c, c, Impairment{}, 1);
  Sink srv, cli;
  net.b->listen(kRemote, kLport, srv);
  cli.id = net.a->connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 1'000'000));
  ConnInfo ci, si;
  ASSERT_TRUE(net.a->info(cli.id, ci));
  ASSERT_TRUE(net.b->info(srv.id, si));
  EXPECT_EQ(ci.state, State::established);
  EXPECT_TRUE(ci.timestamps && si.timestamps);
  EXPECT_TRUE(ci.sack && si.sack);
  EXPECT_EQ(ci.smss, 1460 - 12);  // RFC 6691: data per segment excludes the TS option
  EXPECT_EQ(si.smss, 1460 - 12);
  EXPECT_EQ(ci.rcv_wscale, si.snd_wscale);
  EXPECT_EQ(si.rcv_wscale, ci.snd_wscale);
  EXPECT_EQ(ci.rcv_wscale, 3);  // 256 KiB buffer needs a shift of 3 (RFC 7323 §2.3)
  EXPECT_EQ(ci.cwnd, 10u * ci.smss);  // RFC 6928 IW10
}

TEST(Negotiation, PeerWithoutOptionsAndSmallMss) {
  Config c;
  Config s;
  s.timestamps = false;
  s.window_scaling = false;
  s.sack = false;
  s.mss = 1000;
  NetSim net(c, s, Impairment{}, 1);
  Sink srv, cli;
  net.b->listen(kRemote, kLport, srv);
  cli.id = net.a->connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 1'000'000));
  ConnInfo ci;
  ASSERT_TRUE(net.a->info(cli.id, ci));
  EXPECT_FALSE(ci.timestamps);
  EXPECT_FALSE(ci.sack);
  EXPECT_EQ(ci.snd_wscale, 0);
  EXPECT_EQ(ci.rcv_wscale, 0);  // not echoed: neither side scales (RFC 7323 §2.2)
  EXPECT_EQ(ci.smss, 1000);     // the peer's MSS is honoured
}

TEST(Negotiation, WindowScaleClampedTo14AndNoMssMeans536) {
  Wire w;
  OptionsOut o;
  o.wscale = true;
  o.wscale_value = 15;
  w.open(40000, o);
  ConnInfo i;
  ASSERT_TRUE(w.stack.info(w.app.id, i));
  EXPECT_EQ(i.snd_wscale, 14);
  EXPECT_EQ(i.smss, 536);  // RFC 9293 §3.7.1 default
}

TEST(Isn, KeyedPerTupleAndClockDriven) {
  Wire w;
  w.in(40000, flag::syn, Seq(1), Seq(0));
  const Seq a = w.pop().seq;
  w.in(40001, flag::syn, Seq(1), Seq(0));
  const Seq b = w.pop().seq;
  EXPECT_NE(a, b);
  // Same tuple later: the 4 µs clock moved the ISN forward (RFC 6528 §3).
  w.in(40000, flag::rst, Seq(2), Seq(0));
  w.now += 4'000'000;
  w.in(40000, flag::syn, Seq(1), Seq(0));
  const Seq c = w.pop().seq;
  EXPECT_EQ(c - a, 1'000'000);
  // Another secret gives unrelated ISNs.
  Config k;
  k.secret = SipKey{1, 2};
  Wire w2(k);
  w2.in(40000, flag::syn, Seq(1), Seq(0));
  EXPECT_NE(w2.pop().seq, a);
}

TEST(Sack, BlocksReportHolesMostRecentFirst) {
  Wire w;
  OptionsOut o;
  o.sack_permitted = true;
  w.open(40000, o);
  const Seq base = w.peer_isn + 1;
  w.in(40000, flag::ack, base + 100, w.iss + 1, std::string(50, 'x'));
  Header h = w.pop();
  EXPECT_EQ(h.ack, base);
  ASSERT_EQ(h.opt.sack_count, 1);
  EXPECT_EQ(h.opt.sack[0].left, base + 100);
  EXPECT_EQ(h.opt.sack[0].right, base + 150);
  w.in(40000, flag::ack, base + 300, w.iss + 1, std::string(10, 'y'));
  h = w.pop();
  ASSERT_EQ(h.opt.sack_count, 2);
  EXPECT_EQ(h.opt.sack[0].left, base + 300);  // RFC 2018 §4: the newest block first
  EXPECT_EQ(h.opt.sack[1].left, base + 100);
  // Fill the first hole: the ACK jumps, one block remains.
  w.in(40000, flag::ack, base, w.iss + 1, std::string(100, 'a'));
  h = w.pop();
  EXPECT_EQ(h.ack, base + 150);
  ASSERT_EQ(h.opt.sack_count, 1);
  EXPECT_EQ(h.opt.sack[0].left, base + 300);
  EXPECT_EQ(w.app.data.size(), 150u);
}

TEST(Reassembly, BoundedHoles) {
  Config c;
  c.max_ooo_ranges = 2;
  Wire w(c);
  w.open(40000);
  const Seq base = w.peer_isn + 1;
  w.in(40000, flag::ack, base + 10, w.iss + 1, "a");
  w.in(40000, flag::ack, base + 20, w.iss + 1, "b");
  w.in(40000, flag::ack, base + 30, w.iss + 1, "c");  // a third hole: dropped
  w.in(40000, flag::ack, base + 21, w.iss + 1, "b");  // extends a range: kept
  EXPECT_EQ(w.stack.counters().rx_ooo_segments, 3u);
  EXPECT_EQ(w.stack.counters().rx_ooo_dropped, 1u);
  std::string fill(10, 'z');
  w.in(40000, flag::ack, base, w.iss + 1, fill);
  EXPECT_EQ(w.app.data, fill + "a");
}

TEST(Buffers, IdleConnectionHoldsNoChunksAndZeroCopyPeek) {
  Config c;
  c.chunk_size = 1024;
  Wire w(c);
  w.app.auto_read = false;
  w.open(40000);
  EXPECT_EQ(w.stack.chunks_in_use(), 0u);
  const Seq base = w.peer_isn + 1;
  std::string d(1500, '\0');
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>('a' + i % 26);
  w.in(40000, flag::ack | flag::psh, base, w.iss + 1, d);
  EXPECT_EQ(w.stack.readable(w.app.id), 1500u);
  EXPECT_GE(w.stack.chunks_in_use(), 1u);
  // Zero-copy runs: the peer's bytes sit where their sequence number says, so
  // a run ends at a chunk boundary; consuming run by run gives the stream back.
  std::string got;
  for (auto run = w.stack.peek(w.app.id); !run.empty(); run = w.stack.peek(w.app.id)) {
    EXPECT_LE(run.size(), 1024u);
    got.append(reinterpret_cast<const char*>(run.data()), run.size());
    w.stack.consume(w.app.id, run.size());
  }
  EXPECT_EQ(got, d);
  EXPECT_EQ(w.stack.chunks_in_use(), 0u);  // released as soon as read
  // Sending: buffered until acknowledged, then released.
  EXPECT_EQ(w.stack.write(w.app.id, d.data(), d.size()), 1500);
  EXPECT_GE(w.stack.chunks_in_use(), 1u);
  w.in(40000, flag::ack, base + 1500, w.iss + 1 + 1500);
  EXPECT_EQ(w.stack.chunks_in_use(), 0u);
  EXPECT_LT(Stack::control_block_size(), 1024u);  // issue 4: < 1 KiB per idle connection
}

// The receiver does not read: the sender fills the window, write() pushes
// back, zero-window probes keep asking, and reading resumes everything.
TEST(FlowControl, BackPressureZeroWindowAndResume) {
  Config c;
  c.rcvbuf = 64 * 1024;
  c.sndbuf = 64 * 1024;
  NetSim net(c, c, Impairment{}, 5);
  Sink srv, cli;
  srv.auto_read = false;
  net.b->listen(kRemote, kLport, srv);
  cli.id = net.a->connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 1'000'000));
  std::string blob(300 * 1024, 'q');
  std::size_t sent = 0;
  for (int i = 0; i < 100 && sent < blob.size(); ++i) {
    const long k = net.a->write(cli.id, blob.data() + sent, blob.size() - sent);
    ASSERT_GE(k, 0);
    sent += static_cast<std::size_t>(k);
    net.run([] { return false; }, 50'000);
  }
  EXPECT_LT(sent, blob.size());                    // back-pressure visible
  EXPECT_EQ(net.a->write(cli.id, "x", 1), 0);       // full
  net.run([] { return false; }, 5'000'000);
  EXPECT_GT(net.a->counters().persist_probes, 0u);  // RFC 9293 §3.8.6.1
  EXPECT_EQ(net.a->state(cli.id), State::established);
  // Drain the receiver: the window opens, on_writable fires, data flows.
  std::size_t got = 0;
  srv.auto_read = true;
  const int w0 = cli.writable;
  ASSERT_TRUE(net.run(
      [&] {
        char buf[8192];
        std::size_t n;
        while ((n = net.b->read(srv.id, buf, sizeof buf)) > 0) got += n;
        if (cli.writable > w0 && sent < blob.size()) {
          const long k = net.a->write(cli.id, blob.data() + sent, blob.size() - sent);
          if (k > 0) sent += static_cast<std::size_t>(k);
        }
        return got + srv.data.size() == blob.size();
      },
      60'000'000));
  EXPECT_GT(cli.writable, w0);
}

TEST(Limits, HalfOpenBoundAndPoolExhaustion) {
  Config c;
  c.max_half_open = 2;
  c.max_connections = 3;
  c.syn_cookies = false;
  Wire w(c);
  w.in(40000, flag::syn, Seq(1), Seq(0));
  w.in(40001, flag::syn, Seq(1), Seq(0));
  w.in(40002, flag::syn, Seq(1), Seq(0));
  EXPECT_EQ(w.sink.out.size(), 2u);
  EXPECT_EQ(w.stack.counters().syn_dropped_half_open, 1u);
  EXPECT_EQ(w.stack.half_open(), 2u);
  // Complete one: half-open room again, the pool has 3 blocks.
  const Seq iss0 = w.pop().seq;
  const Seq iss1 = w.pop().seq;
  w.in(40000, flag::ack, Seq(2), iss0 + 1);
  w.in(40001, flag::ack, Seq(2), iss1 + 1);
  EXPECT_EQ(w.app.accepted, 2);
  EXPECT_EQ(w.stack.half_open(), 0u);
  w.in(40003, flag::syn, Seq(1), Seq(0));
  EXPECT_EQ(w.stack.connections(), 3u);
  w.in(40004, flag::syn, Seq(1), Seq(0));  // half-open has room, the pool does not
  EXPECT_EQ(w.stack.counters().syn_dropped_no_conn, 1u);
  EXPECT_EQ(w.stack.connections(), 3u);
}

// RFC 4987 §3.6: with the half-open table full the listener answers with a
// cookie and keeps no state; the ACK that returns it creates the connection
// with the options the SYN asked for.
TEST(SynCookies, FullHalfOpenTableStillAccepts) {
  Config c;
  c.max_half_open = 1;
  Wire w(c);
  w.in(40000, flag::syn, Seq(1), Seq(0));  // fills the half-open table
  w.pop();
  OptionsOut o;
  o.mss = true;
  o.mss_value = 1400;
  o.wscale = true;
  o.wscale_value = 7;
  o.sack_permitted = true;
  o.ts = true;
  o.ts_val = 5000;
  w.in(40001, flag::syn, Seq(777), Seq(0), {}, o);
  const Header sa = w.pop();
  EXPECT_TRUE(sa.has(flag::syn) && sa.has(flag::ack));
  EXPECT_EQ(sa.ack, Seq(778));
  EXPECT_TRUE(sa.opt.has_wscale && sa.opt.sack_permitted && sa.opt.has_ts);
  EXPECT_EQ(w.stack.counters().syn_cookies_sent, 1u);
  EXPECT_EQ(w.stack.connections(), 1u);  // no state for the cookie SYN
  // A forged ACK (wrong cookie) is refused with RST.
  OptionsOut ao;
  ao.ts = true;
  ao.ts_val = 5001;
  ao.ts_ecr = sa.opt.ts_val;
  w.in(40001, flag::ack, Seq(778), sa.seq + 2, {}, ao);
  EXPECT_TRUE(w.pop().has(flag::rst));
  EXPECT_EQ(w.stack.counters().syn_cookies_bad, 1u);
  // The right one, carrying data, creates the connection.
  w.in(40001, flag::ack | flag::psh, Seq(778), sa.seq + 1, "hello", ao);
  EXPECT_EQ(w.stack.counters().syn_cookies_ok, 1u);
  EXPECT_EQ(w.app.accepted, 1);
  EXPECT_EQ(w.app.data, "hello");
  ConnInfo i;
  ASSERT_TRUE(w.stack.info(w.app.id, i));
  EXPECT_EQ(i.state, State::established);
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_TRUE(i.sack);
  EXPECT_TRUE(i.timestamps);
  EXPECT_EQ(i.smss, 1360 - 12);  // MSS rounded down to the cookie table
  EXPECT_EQ(w.stack.half_open(), 1u);
  // Too late: a cookie from more than two 64 s slots ago is refused.
  w.sink.out.clear();  // the window update that followed the read
  w.in(40002, flag::syn, Seq(5), Seq(0));
  const Header sa2 = w.pop();
  w.now += 200'000'000;
  // A fresh cookie keeps cookies out, so the old one is checked (and expired).
  w.in(40003, flag::syn, Seq(50), Seq(0));
  EXPECT_EQ(w.pop().ack, Seq(51));
  w.in(40002, flag::ack, Seq(6), sa2.seq + 1);
  EXPECT_TRUE(w.pop().has(flag::rst));
  EXPECT_EQ(w.stack.counters().syn_cookies_bad, 2u);
}

// Regression (tcp_echo counted ~120 syn_cookies_bad per run with no SYN
// flood): a late duplicate of the final ACK reaches a passive closer that
// already left LAST_ACK. It is a segment for a CLOSED connection: RST
// (RFC 9293 §3.10.7.1), counted as rx_no_conn. No cookie was sent, so it
// cannot be a cookie handshake and is not a bad cookie.
TEST(SynCookies, AckForClosedConnectionIsNoCookieAttempt) {
  Wire w;
  w.open(40000);
  w.in(40000, flag::fin | flag::ack, w.peer_isn + 1, w.iss + 1);
  w.sink.out.clear();
  w.stack.close(w.app.id);
  const Header fin = w.pop();
  ASSERT_TRUE(fin.has(flag::fin));
  ASSERT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40000)), State::last_ack);
  w.in(40000, flag::ack, w.peer_isn + 2, w.iss + 2);  // the final ACK: CLOSED
  ASSERT_EQ(w.stack.connections(), 0u);
  w.sink.out.clear();
  w.in(40000, flag::ack, w.peer_isn + 2, w.iss + 2);  // its late duplicate
  const Header rst = w.pop();
  EXPECT_TRUE(rst.has(flag::rst));
  EXPECT_EQ(rst.seq, w.iss + 2);  // <SEQ=SEG.ACK><CTL=RST>
  EXPECT_EQ(w.stack.counters().rx_no_conn, 1u);
  EXPECT_EQ(w.stack.counters().syn_cookies_bad, 0u);
  EXPECT_EQ(w.stack.counters().syn_cookies_sent, 0u);
}

TEST(SynCookies, BulkTransferOverCookieConnections) {
  Config c;
  Config s;
  s.max_half_open = 0;  // every connection goes through a cookie
  NetSim net(c, s, Impairment{}, 3);
  Sink srv, cli;
  net.b->listen(kRemote, kLport, srv);
  cli.id = net.a->connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 1'000'000));
  std::string blob(1 << 20, 'c');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 31 + (i >> 9));
  std::size_t sent = 0;
  ASSERT_TRUE(net.run(
      [&] {
        if (sent < blob.size()) {
          const long k = net.a->write(cli.id, blob.data() + sent, blob.size() - sent);
          if (k > 0) sent += static_cast<std::size_t>(k);
        }
        return srv.data.size() == blob.size();
      },
      60'000'000));
  EXPECT_EQ(srv.data, blob);
  EXPECT_EQ(net.b->counters().syn_cookies_ok, 1u);
  EXPECT_EQ(net.b->half_open(), 0u);
}

TEST(Limits, ChallengeAckRateLimited) {
  Config c;
  c.challenge_ack_per_sec = 2;
  Wire w(c);
  w.open(40000);
  for (int i = 0; i < 5; ++i) w.in(40000, flag::rst, w.peer_isn + 100 + static_cast<std::uint32_t>(i), Seq(0));
  EXPECT_EQ(w.stack.counters().challenge_acks, 2u);
  EXPECT_EQ(w.stack.counters().challenge_acks_limited, 3u);
  w.now += 1'000'000;
  w.in(40000, flag::rst, w.peer_isn + 100, Seq(0));
  EXPECT_EQ(w.stack.counters().challenge_acks, 3u);
  EXPECT_EQ(w.app.resets, 0);
}

TEST(TimeWait, NewerSynReusesEarly) {
  Wire w;
  w.open(40000);
  w.sink.out.clear();
  w.stack.close(w.app.id);
  const Header fin = w.pop();
  ASSERT_TRUE(fin.has(flag::fin));
  w.in(40000, flag::fin | flag::ack, w.peer_isn + 1, w.iss + 2);
  w.pop();  // ACK of the peer's FIN
  ASSERT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40000)), State::time_wait);
  // RFC 6191: sequence number above the old RCV.NXT (no timestamps).
  w.in(40000, flag::syn, w.peer_isn + 100000, Seq(0));
  const Header sa = w.pop();
  EXPECT_TRUE(sa.has(flag::syn) && sa.has(flag::ack));
  EXPECT_EQ(sa.ack, w.peer_isn + 100001);
  EXPECT_EQ(w.stack.counters().time_wait_reused, 1u);
  EXPECT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40000)), State::syn_received);
}

TEST(Retransmission, GivesUpAfterMaxRetriesWithTimeout) {
  Config c;
  c.max_retries = 3;
  Wire w(c);
  w.open(40000);
  ASSERT_EQ(w.stack.write(w.app.id, "data", 4), 4);
  for (int i = 0; i < 40; ++i) {
    w.now += 1'000'000;
    w.stack.poll_timers(w.now);
  }
  EXPECT_EQ(w.app.error, Error::timeout);
  EXPECT_EQ(w.stack.connections(), 0u);
  EXPECT_EQ(w.stack.counters().timeouts, 1u);
  EXPECT_EQ(w.stack.counters().rto_timeouts, 3u);
  EXPECT_TRUE(w.sink.out.back().h().has(flag::rst));
}

// RFC 6298 §5.4 retransmits the earliest unacknowledged segment: what was
// sent, never bytes queued behind it. Sending queued bytes without moving
// SND.MAX made the peer's ACK for them "too new" (RFC 5961 §5.2); the ACK was
// dropped, the same segment went out at every RTO and the connection timed
// out (the net_ring 5 % loss + corruption run, where a zero window had left
// less than one MSS in flight).
TEST(Retransmission, RtoResendsOnlyWhatWasSent) {
  Config c;
  c.nagle = true;  // holds the second small write behind the first
  Wire w(c);
  w.open(40000);
  w.sink.out.clear();
  ASSERT_EQ(w.stack.write(w.app.id, std::string(100, 'a').data(), 100), 100);
  ASSERT_EQ(w.stack.write(w.app.id, std::string(200, 'b').data(), 200), 200);
  ASSERT_EQ(w.sink.out.size(), 1u);
  EXPECT_EQ(w.pop().payload_len, 100u);  // lost on the wire
  w.now += 1'100'000;                    // past the initial RTO
  w.stack.poll_timers(w.now);
  ASSERT_EQ(w.stack.counters().rto_timeouts, 1u);
  ASSERT_FALSE(w.sink.out.empty());
  const Header rx = w.pop();
  EXPECT_EQ(rx.seq, w.iss + 1);
  EXPECT_EQ(rx.payload_len, 100u);
  // The peer ACKs everything the retransmission carried: it must be accepted.
  const Seq got = rx.seq + static_cast<std::uint32_t>(rx.payload_len);
  w.in(40000, flag::ack, w.peer_isn + 1, got);
  EXPECT_EQ(w.stack.counters().rx_ack_too_new, 0u);
  // The held bytes follow as new data, and their ACK completes the transfer.
  std::uint32_t total = seq_dist(w.iss + 1, got);
  while (!w.sink.out.empty()) {
    const Header d = w.pop();
    if (!d.payload_len) continue;
    EXPECT_EQ(d.seq, w.iss + 1 + total);
    total += static_cast<std::uint32_t>(d.payload_len);
    w.in(40000, flag::ack, w.peer_isn + 1, d.seq + static_cast<std::uint32_t>(d.payload_len));
  }
  EXPECT_EQ(total, 300u);
  EXPECT_EQ(w.stack.counters().rx_ack_too_new, 0u);
  EXPECT_EQ(w.stack.counters().rto_timeouts, 1u);
}

TEST(Retransmission, RtoStaysWithinBounds) {
  Config c;
  c.rto_min_us = 50'000;
  c.rto_max_us = 1'500'000;
  Impairment slow;
  slow.delay_us = 400'000;  // RTT 800 ms
  NetSim net(c, c, slow, 9);
  Sink srv, cli;
  net.b->listen(kRemote, kLport, srv);
  cli.id = net.a->connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 10'000'000));
  ConnInfo i;
  ASSERT_TRUE(net.a->info(cli.id, i));
  // srtt + 4 * rttvar = 2.4 s, clamped to the maximum (RFC 6298 §2.5).
  EXPECT_EQ(i.rto_us, 1'500'000u);
  EXPECT_GT(i.srtt_us, 700'000u);
  EXPECT_EQ(i.retransmits, 0u);
}

TEST(Retransmission, RtoFloorOnFastPath) {
  Config c;
  c.rto_min_us = 50'000;
  NetSim net(c, c, Impairment{}, 9);  // RTT ~2 ms
  Sink srv, cli;
  net.b->listen(kRemote, kLport, srv);
  cli.id = net.a->connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(net.run([&] { return srv.accepted == 1; }, 10'000'000));
  ConnInfo i;
  ASSERT_TRUE(net.a->info(cli.id, i));
  EXPECT_EQ(i.rto_us, 50'000u);  // RFC 6298 §2.4 minimum
}

TEST(Input, ChecksumAndMalformedCounted) {
  Wire w;
  auto b = make_segment(kRemote, kLocal, SegSpec{.sport = 40000, .dport = kLport, .seq = Seq(1), .flags = flag::syn});
  b[4] ^= 1;
  w.stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = b.data(), .len = b.size()}, w.now);
  EXPECT_EQ(w.stack.counters().rx_bad_checksum, 1u);
  EXPECT_TRUE(w.sink.out.empty());
  // The NIC said the checksum was fine: the stack does not look again.
  w.stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = b.data(), .len = b.size(), .csum_verified = true},
                w.now);
  EXPECT_EQ(w.sink.out.size(), 1u);
  std::uint8_t tiny[12] = {};
  w.stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = tiny, .len = sizeof tiny, .csum_verified = true},
                w.now);
  EXPECT_EQ(w.stack.counters().rx_malformed, 1u);
}

TEST(Output, SinkOutOfBuffersIsCountedAndRecovered) {
  Wire w;
  w.open(40000);
  w.sink.out.clear();
  w.sink.fail_alloc = true;
  EXPECT_EQ(w.stack.write(w.app.id, "abc", 3), 3);
  EXPECT_EQ(w.stack.counters().tx_alloc_fail, 1u);
  w.sink.fail_alloc = false;
  w.now += 1'000'000;
  w.stack.poll_timers(w.now);  // RTO sends it
  const Header h = w.pop();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.payload), h.payload_len), "abc");
}

TEST(Output, ChecksumOffloadLeavesPseudoHeaderSum) {
  Config c;
  c.tx_checksum_offload = true;
  Wire w(c);
  w.in(40000, flag::syn, Seq(1), Seq(0));
  const Header sa = w.pop();
  EXPECT_EQ(sa.checksum, tcp_pseudo_checksum(kLocal, kRemote, w.last.bytes.size()));
}

TEST(Nagle, OnHoldsSecondSmallSegment) {
  Config c;
  c.nagle = true;
  Wire w(c);
  w.open(40000);
  w.sink.out.clear();
  w.stack.write(w.app.id, "a", 1);
  w.stack.write(w.app.id, "b", 1);
  EXPECT_EQ(w.sink.out.size(), 1u);  // RFC 9293 §3.7.4: one small segment in flight
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 2);
  EXPECT_EQ(w.sink.out.size(), 2u);
}

TEST(Api, BadIdsAndClosedSides) {
  Wire w;
  ConnId bogus{3, 77};
  EXPECT_EQ(w.stack.write(bogus, "x", 1), -ENOTCONN);
  EXPECT_EQ(w.stack.close(bogus), -ENOTCONN);
  EXPECT_EQ(w.stack.abort(ConnId{}), -ENOTCONN);
  EXPECT_EQ(w.stack.readable(bogus), 0u);
  EXPECT_TRUE(w.stack.peek(bogus).empty());
  EXPECT_EQ(w.stack.listen(kLocal, 0, w.app), -EINVAL);
  w.open(40000);
  EXPECT_EQ(w.stack.shutdown_write(w.app.id), 0);
  EXPECT_EQ(w.stack.write(w.app.id, "x", 1), -EPIPE);
  const ConnId old = w.app.id;
  w.stack.abort(old);
  EXPECT_EQ(w.stack.write(old, "x", 1), -ENOTCONN);  // stale generation
}

}  // namespace

namespace {

// RFC 6675 on the fake wire: SACK blocks, not three duplicate ACKs, decide
// that a hole is lost, and only the holes are sent again.
struct SackSender {
  Wire w;
  Seq d0;  // first data byte
  SackSender() {
    OptionsOut o;
    o.sack_permitted = true;
    o.mss = true;
    o.mss_value = 1000;
    w.open(40000, o);
    w.sink.out.clear();
    d0 = w.iss + 1;
    std::string blob(10000, 'z');
    EXPECT_EQ(w.stack.write(w.app.id, blob.data(), blob.size()), 10000);
    EXPECT_EQ(w.sink.out.size(), 10u);  // IW10
    w.sink.out.clear();
  }
  void ack_with_sack(std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> blocks, std::uint32_t acked = 0) {
    OptionsOut o;
    for (auto [l, r] : blocks) o.sack[o.sack_count++] = {d0 + l, d0 + r};
    w.in(40000, flag::ack, w.peer_isn + 1, d0 + acked, {}, o);
  }
};

}  // namespace

TEST(SackRecovery, OneHoleRetransmittedOnceOnFirstSack) {
  SackSender s;
  s.ack_with_sack({{1000, 10000}});
  ASSERT_EQ(s.w.sink.out.size(), 1u);
  const Header h = s.w.pop();
  EXPECT_EQ(h.seq, s.d0);
  EXPECT_EQ(h.payload_len, 1000u);
  EXPECT_EQ(s.w.stack.counters().sack_recoveries, 1u);
  // A repeat of the same SACK sends nothing more (HighRxt passed the hole).
  s.ack_with_sack({{1000, 10000}});
  EXPECT_TRUE(s.w.sink.out.empty());
  // The hole fills: everything acknowledged, recovery over.
  s.ack_with_sack({}, 10000);
  EXPECT_TRUE(s.w.sink.out.empty());
  EXPECT_EQ(s.w.stack.counters().rto_timeouts, 0u);
}

TEST(SackRecovery, TwoHolesOnlyHolesResent) {
  SackSender s;
  s.ack_with_sack({{1000, 5000}, {6000, 10000}});
  ASSERT_EQ(s.w.sink.out.size(), 2u);
  const Header a = s.w.pop();
  const Header b = s.w.pop();
  EXPECT_EQ(a.seq, s.d0);
  EXPECT_EQ(b.seq, s.d0 + 5000);
  EXPECT_EQ(a.payload_len, 1000u);
  EXPECT_EQ(b.payload_len, 1000u);
  // Partial ACK up to the second hole: nothing new to send, nothing resent.
  s.ack_with_sack({{6000, 10000}}, 5000);
  EXPECT_TRUE(s.w.sink.out.empty());
  s.ack_with_sack({}, 10000);
  EXPECT_EQ(s.w.stack.counters().rack_retransmits, 2u);  // both holes: the first by entry, the second by NextSeg
}

// RFC 8985 §7.4 on the fake wire: a D-SACK for the probe says the original
// arrived too (no cwnd cut); an ACK past the probe without one says the probe
// repaired a loss (cwnd cut once).
TEST(TailLossProbe, DsackForTheProbeIsSpurious) {
  SackSender s;
  s.w.now += 10'000;  // the 10 ms floor of the probe timeout (no RTT yet on this wire)
  s.w.stack.poll_timers(s.w.now);
  ASSERT_EQ(s.w.sink.out.size(), 1u);
  const Header probe = s.w.pop();
  EXPECT_EQ(probe.seq, s.d0 + 9000);  // the last segment again: no new data to send
  EXPECT_EQ(probe.payload_len, 1000u);
  EXPECT_EQ(s.w.stack.counters().tlp_probes, 1u);
  ConnInfo before;
  ASSERT_TRUE(s.w.stack.info(s.w.app.id, before));
  s.ack_with_sack({}, 10000);
  s.ack_with_sack({{9000, 10000}}, 10000);  // D-SACK: below the cumulative ACK (RFC 2883)
  EXPECT_EQ(s.w.stack.counters().tlp_spurious, 1u);
  EXPECT_EQ(s.w.stack.counters().tlp_recoveries, 0u);
  EXPECT_EQ(s.w.stack.counters().rack_dsacks, 1u);
  ConnInfo after;
  ASSERT_TRUE(s.w.stack.info(s.w.app.id, after));
  EXPECT_GE(after.cwnd, before.cwnd);
  EXPECT_EQ(s.w.stack.counters().rto_timeouts, 0u);
}

TEST(TailLossProbe, AckPastTheProbeCountsARepairedLoss) {
  SackSender s;
  s.w.now += 10'000;
  s.w.stack.poll_timers(s.w.now);
  ASSERT_EQ(s.w.sink.out.size(), 1u);
  s.w.pop();
  s.ack_with_sack({}, 10000);  // the probe filled the hole: nothing to tell yet
  EXPECT_EQ(s.w.stack.counters().tlp_recoveries, 0u);
  ConnInfo before;
  ASSERT_TRUE(s.w.stack.info(s.w.app.id, before));
  ASSERT_EQ(s.w.stack.write(s.w.app.id, "more", 4), 4);
  ASSERT_EQ(s.w.sink.out.size(), 1u);
  s.w.pop();
  s.ack_with_sack({}, 10004);
  EXPECT_EQ(s.w.stack.counters().tlp_recoveries, 1u);
  EXPECT_EQ(s.w.stack.counters().tlp_spurious, 0u);
  ConnInfo after;
  ASSERT_TRUE(s.w.stack.info(s.w.app.id, after));
  EXPECT_LT(after.cwnd, before.cwnd);
  EXPECT_EQ(after.ssthresh, after.cwnd);
}

// RFC 8985 §6.3: after the RTO only the first segment goes at once; the
// others follow as the window grows, and a SACKed one never goes again.
TEST(RackRto, ResendsLostSegmentsNotSackedOnes) {
  SackSender s;
  s.w.now += 10'000;
  s.w.stack.poll_timers(s.w.now);  // the probe, also lost
  ASSERT_EQ(s.w.sink.out.size(), 1u);
  s.w.pop();
  s.w.now += 300'000;  // past the 200 ms RTO
  s.w.stack.poll_timers(s.w.now);
  EXPECT_EQ(s.w.stack.counters().rto_timeouts, 1u);
  ASSERT_EQ(s.w.sink.out.size(), 1u);
  const Header head = s.w.pop();
  EXPECT_EQ(head.seq, s.d0);
  EXPECT_EQ(head.payload_len, 1000u);
  // The head arrives; so did segment 6 long ago.
  s.ack_with_sack({{6000, 7000}}, 1000);
  std::vector<std::uint32_t> resent;
  for (int round = 0; round < 10 && !s.w.sink.out.empty(); ++round) {
    std::uint32_t top = 0;
    while (!s.w.sink.out.empty()) {
      const Header h = s.w.pop();
      const std::uint32_t off = seq_dist(s.d0, h.seq);
      resent.push_back(off);
      top = std::max(top, off + static_cast<std::uint32_t>(h.payload_len));
    }
    if (top == 6000) top = 7000;  // the hole below the SACKed segment is filled
    if (top < 7000)
      s.ack_with_sack({{6000, 7000}}, top);
    else
      s.ack_with_sack({}, top);
  }
  EXPECT_EQ(resent, (std::vector<std::uint32_t>{1000, 2000, 3000, 4000, 5000, 7000, 8000, 9000}));
  EXPECT_EQ(s.w.stack.counters().rto_timeouts, 1u);
  EXPECT_EQ(s.w.stack.counters().rto_retransmits, 9u);  // the head and the eight after it
}

TEST(SackRecovery, BogusBlocksIgnored) {
  SackSender s;
  // Beyond what was sent, inverted, and below SND.UNA (D-SACK): none count.
  s.ack_with_sack({{20000, 30000}, {5000, 4000}});
  s.ack_with_sack({{0xffff0000u, 0xffff1000u}});
  EXPECT_TRUE(s.w.sink.out.empty());
  EXPECT_EQ(s.w.stack.counters().sack_recoveries, 0u);
}

TEST(Keepalive, ProbesIdlePeerAndGivesUp) {
  Config c;
  c.keepalive_idle_us = 10'000'000;
  c.keepalive_interval_us = 1'000'000;
  c.keepalive_probes = 3;
  Wire w(c);
  w.open(40000);
  w.sink.out.clear();
  auto tick_to = [&](std::uint64_t t) {
    while (w.now < t) {
      w.now += 100'000;
      w.stack.poll_timers(w.now);
    }
  };
  const std::uint64_t t0 = w.now;
  tick_to(t0 + 9'900'000);
  EXPECT_TRUE(w.sink.out.empty());
  tick_to(t0 + 10'100'000);
  ASSERT_EQ(w.sink.out.size(), 1u);
  Header p = w.pop();
  EXPECT_EQ(p.seq, w.iss);  // SND.UNA - 1: any live peer must answer
  EXPECT_EQ(p.payload_len, 0u);
  // The peer answers: idle again for a full period.
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 1);
  tick_to(t0 + 19'900'000);
  EXPECT_TRUE(w.sink.out.empty());
  // Now silent: three probes a second apart, then the connection is dropped.
  tick_to(t0 + 30'000'000);
  int probes = 0;
  bool rst = false;
  while (!w.sink.out.empty()) {
    const Header h = w.pop();
    if (h.has(flag::rst)) rst = true;
    else ++probes;
  }
  EXPECT_EQ(probes, 3);
  EXPECT_TRUE(rst);
  EXPECT_EQ(w.app.error, Error::timeout);
  EXPECT_EQ(w.stack.counters().keepalive_timeouts, 1u);
  EXPECT_EQ(w.stack.connections(), 0u);
}

TEST(Limits, PerSourceCap) {
  Config c;
  c.max_per_source = 2;
  Wire w(c);
  auto syn_from = [&](std::uint32_t ip, std::uint16_t port) {
    auto b = make_segment(ip, kLocal, SegSpec{.sport = port, .dport = kLport, .seq = Seq(1), .flags = flag::syn});
    w.stack.input(SegmentIn{.src = ip, .dst = kLocal, .data = b.data(), .len = b.size()}, w.now);
  };
  syn_from(kRemote, 1);
  syn_from(kRemote, 2);
  syn_from(kRemote, 3);
  syn_from(kRemote + 1, 1);
  EXPECT_EQ(w.stack.connections(), 3u);
  EXPECT_EQ(w.stack.counters().refused_per_source, 1u);
  // One goes away: the source may connect again.
  w.stack.input(SegmentIn{}, w.now);  // empty input: dropped and counted, nothing else
  auto rst = make_segment(kRemote, kLocal, SegSpec{.sport = 1, .dport = kLport, .seq = Seq(2), .flags = flag::rst});
  w.stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = rst.data(), .len = rst.size()}, w.now);
  syn_from(kRemote, 4);
  EXPECT_EQ(w.stack.connections(), 3u);
  EXPECT_EQ(w.stack.counters().refused_per_source, 1u);
}

TEST(Api, UnlistenDropsHalfOpenKeepsEstablished) {
  Wire w;
  w.open(40000);
  w.in(40001, flag::syn, Seq(1), Seq(0));
  EXPECT_EQ(w.stack.connections(), 2u);
  EXPECT_EQ(w.stack.unlisten(kLocal, kLport), 0);
  EXPECT_EQ(w.stack.unlisten(kLocal, kLport), -ENOENT);
  EXPECT_EQ(w.stack.connections(), 1u);
  EXPECT_EQ(w.stack.half_open(), 0u);
  EXPECT_EQ(w.stack.state(w.app.id), State::established);
  w.sink.out.clear();
  w.in(40002, flag::syn, Seq(1), Seq(0));  // nobody listens: RST
  EXPECT_TRUE(w.pop().has(flag::rst));
}

// RFC 6191: with timestamps, only a SYN whose TSval is newer than the old
// connection's TS.Recent may end TIME_WAIT early.
TEST(TimeWait, TimestampDecidesEarlyReuse) {
  Wire w;
  OptionsOut o;
  o.ts = true;
  o.ts_val = 5000;
  w.open(40000, o);
  w.sink.out.clear();
  w.stack.close(w.app.id);
  const Header fin = w.pop();
  OptionsOut fo;
  fo.ts = true;
  fo.ts_val = 5010;
  fo.ts_ecr = fin.opt.ts_val;
  w.in(40000, flag::fin | flag::ack, w.peer_isn + 1, w.iss + 2, {}, fo);
  w.pop();
  ASSERT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40000)), State::time_wait);
  OptionsOut old;
  old.ts = true;
  old.ts_val = 4000;  // older than TS.Recent: must not reuse
  w.in(40000, flag::syn, w.peer_isn + 100000, Seq(0), {}, old);
  EXPECT_EQ(w.stack.counters().time_wait_reused, 0u);
  EXPECT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40000)), State::time_wait);
  w.sink.out.clear();
  OptionsOut fresh;
  fresh.ts = true;
  fresh.ts_val = 6000;
  w.in(40000, flag::syn, w.peer_isn + 5, Seq(0), {}, fresh);  // even a lower sequence number is fine
  EXPECT_EQ(w.stack.counters().time_wait_reused, 1u);
  const Header sa = w.pop();
  EXPECT_TRUE(sa.has(flag::syn) && sa.has(flag::ack));
  EXPECT_EQ(sa.opt.ts_ecr, 6000u);
}

TEST(Counters, EveryCounterNamedAndDescribed) {
  Wire w;
  w.open(40000);
  int n = 0;
  bool saw_accepted = false;
  w.stack.counters().for_each([&](const char* name, const char* desc, std::uint64_t v) {
    ++n;
    EXPECT_GT(std::strlen(desc), 10u) << name;
    if (std::string(name) == "accepted") {
      saw_accepted = true;
      EXPECT_EQ(v, 1u);
    }
  });
  EXPECT_GT(n, 40);
  EXPECT_TRUE(saw_accepted);
  const Counters snapshot = w.stack.counters();  // copyable snapshot
  EXPECT_EQ(snapshot.syn_received, 1u);
}

TEST(Timeouts, SynSentGivesUpAndOrphanedFinWait2Expires) {
  Config c;
  c.syn_retries = 2;
  c.fin_wait2_us = 5'000'000;
  Wire w(c);
  Sink cli;
  cli.id = w.stack.connect(kLocal, 1234, kRemote, 80, cli);
  for (int i = 0; i < 20; ++i) w.stack.poll_timers(w.now += 1'000'000);
  EXPECT_EQ(cli.error, Error::timeout);
  int syns = 0;
  while (!w.sink.out.empty()) syns += w.pop().has(flag::syn);
  EXPECT_EQ(syns, 3);  // first SYN and two retries (1 s, then 2 s later)
  // Orphaned FIN_WAIT_2: closed by the app, the peer never sends its FIN.
  w.open(40000);
  w.stack.close(w.app.id);
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 2);
  const ConnId id = w.stack.find(kLocal, kLport, kRemote, 40000);
  EXPECT_EQ(w.stack.state(id), State::fin_wait_2);
  w.stack.poll_timers(w.now += 4'900'000);
  EXPECT_EQ(w.stack.state(id), State::fin_wait_2);
  w.stack.poll_timers(w.now += 200'000);
  EXPECT_EQ(w.stack.connections(), 0u);
}

TEST(Limits, LowBufferMemoryRefusesNewConnectionsOnly) {
  Config c;
  c.chunk_size = 1024;
  c.max_chunks = 8;
  Wire w(c);
  w.app.auto_read = false;
  w.open(40000);
  // Unread data pins 7 of the 8 chunks.
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 1, std::string(7 * 1024 - 200, 'm'));
  EXPECT_GE(w.stack.chunks_in_use(), 7u);
  w.sink.out.clear();
  w.in(40001, flag::syn, Seq(1), Seq(0));
  EXPECT_TRUE(w.sink.out.empty());
  EXPECT_EQ(w.stack.counters().syn_dropped_no_memory, 1u);
  // Reading frees memory; new connections are welcome again.
  char buf[8192];
  while (w.stack.read(w.app.id, buf, sizeof buf) > 0) {
  }
  w.sink.out.clear();
  w.in(40001, flag::syn, Seq(1), Seq(0));
  ASSERT_FALSE(w.sink.out.empty());
  EXPECT_TRUE(w.pop().has(flag::syn));
}

namespace {
// Keeps only the last segment and the highest sequence number sent.
class LastSink : public SegmentSink {
 public:
  std::uint8_t* alloc(std::size_t max_len, void** h) override {
    *h = nullptr;
    if (buf.size() < max_len) buf.resize(max_len);
    return buf.data();
  }
  void send(void*, const Addr&, const Addr&, std::size_t len) override {
    Header h;
    parse_header(buf.data(), len, h);
    last_seq = h.seq;
    last_len = h.payload_len;
    last_payload.assign(h.payload, h.payload + h.payload_len);
    const Seq end = h.seq + static_cast<std::uint32_t>(h.payload_len);
    if (!any || end > high) high = end;
    any = true;
    ++count;
  }
  std::vector<std::uint8_t> buf, last_payload;
  Seq last_seq, high;
  std::size_t last_len = 0;
  std::uint64_t count = 0;
  bool any = false;
};
}  // namespace

// Regression: after 2 GiB on one connection, comparisons against ISS flipped
// (RFC 9293 §3.4 holds only within 2^31): the oldest unacknowledged byte was
// computed wrong and the send buffer read a released chunk; `recover` went
// stale and could block fast retransmit. 2.5 GiB then one loss.
TEST(LongConnection, SequenceSpaceBeyondTwoGiB) {
  Config c;
  c.mss = 60000;
  LastSink sink;
  std::uint64_t now = 1'000'000;
  Stack st(c, sink, now);
  Sink app;
  st.listen(kLocal, kLport, app);
  const Seq peer(1000);
  auto in = [&](std::uint8_t f, Seq ack, OptionsOut o = {}) {
    auto b = make_segment(kRemote, kLocal, SegSpec{.sport = 40000, .dport = kLport, .seq = f & flag::syn ? peer : peer + 1,
                                                   .ack = ack, .flags = f, .window = 65535, .opt = o});
    st.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = b.data(), .len = b.size(), .csum_verified = true}, now);
  };
  OptionsOut syn;
  syn.mss = true;
  syn.mss_value = 60000;
  syn.wscale = true;
  syn.wscale_value = 7;
  in(flag::syn, Seq(0), syn);
  const Seq iss = sink.last_seq;
  in(flag::ack, iss + 1);
  ASSERT_TRUE(app.id.valid());
  Pattern pat(99);
  std::uint64_t written = 0;
  constexpr std::uint64_t kTarget = 5ull << 29;  // 2.5 GiB
  while (written < kTarget) {
    std::size_t n;
    const std::uint8_t* p = pat.at(written, st.write_space(app.id), &n);
    const long k = st.write(app.id, p, n);
    ASSERT_GE(k, 0);
    written += static_cast<std::uint64_t>(k);
    in(flag::ack, sink.high);  // everything sent is acknowledged
  }
  // Now a loss: the peer holds its ACK at `hole` and repeats it.
  std::size_t n = 0;
  const std::uint8_t* more = pat.at(written, st.write_space(app.id), &n);
  st.write(app.id, more, n);
  const Seq hole = sink.high - 3 * static_cast<std::uint32_t>(sink.last_len);
  in(flag::ack, hole);
  const std::uint64_t before = st.counters().fast_retransmits;
  for (int i = 0; i < 3; ++i) in(flag::ack, hole);
  EXPECT_EQ(st.counters().fast_retransmits, before + 1);
  EXPECT_EQ(sink.last_seq, hole);
  // The retransmitted bytes are the stream's bytes at that offset (the whole
  // stream is under 4 GiB, so the 32-bit distance is the offset).
  ASSERT_GT(sink.last_payload.size(), 0u);
  std::size_t m = 0;
  const std::uint8_t* want = pat.at(seq_dist(iss + 1, hole), sink.last_payload.size(), &m);
  EXPECT_EQ(std::memcmp(want, sink.last_payload.data(), std::min(m, sink.last_payload.size())), 0);
}

// --- Compact TIME_WAIT (issue 15 item 4) -----------------------------------------
namespace {
// Our side closes first and the peer answers with its FIN: TIME_WAIT.
void close_to_time_wait(Wire& w, std::uint16_t sport) {
  w.open(sport);
  const ConnId id = w.app.id;
  w.sink.out.clear();
  w.stack.close(id);
  const Header fin = w.pop();
  ASSERT_TRUE(fin.has(flag::fin));
  w.in(sport, flag::fin | flag::ack, w.peer_isn + 1, w.iss + 2);
  w.pop();  // ACK of the peer's FIN
}
}  // namespace

// Regression: TIME_WAIT used to keep a whole control block for 2MSL, so
// short connections filled the table and new SYNs were dropped.
TEST(TimeWait, NeverCostsANewConnectionItsControlBlock) {
  Config c;
  c.max_connections = 4;
  Wire w(c);
  for (std::uint16_t p = 40000; p < 40020; ++p) close_to_time_wait(w, p);
  EXPECT_EQ(w.stack.connections(), 0u);
  EXPECT_EQ(w.stack.time_wait(), 20u);
  EXPECT_EQ(w.stack.counters().time_wait_entered, 20u);
  EXPECT_EQ(w.stack.counters().syn_dropped_no_conn, 0u);
  EXPECT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40007)), State::time_wait);
  // Every connection is answered although 20 are in TIME_WAIT and only 4 blocks exist.
  for (std::uint16_t p = 41000; p < 41004; ++p) w.open(p);
  EXPECT_EQ(w.stack.connections(), 4u);
  EXPECT_EQ(w.app.accepted, 24);
}

TEST(TimeWait, OldestEvictedWhenFullAndCounted) {
  Config c;
  c.max_time_wait = 4;
  Wire w(c);
  for (std::uint16_t p = 40000; p < 40006; ++p) close_to_time_wait(w, p);
  EXPECT_EQ(w.stack.time_wait(), 4u);
  EXPECT_EQ(w.stack.counters().time_wait_evicted, 2u);
  EXPECT_FALSE(w.stack.find(kLocal, kLport, kRemote, 40000).valid());
  EXPECT_FALSE(w.stack.find(kLocal, kLport, kRemote, 40001).valid());
  for (std::uint16_t p = 40002; p < 40006; ++p)
    EXPECT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, p)), State::time_wait) << p;
  // A segment for an evicted entry finds no connection: RST, as for any stray.
  w.sink.out.clear();
  w.in(40000, flag::ack, w.peer_isn + 2, w.iss + 2);
  EXPECT_TRUE(w.pop().has(flag::rst));
}

// RFC 9293 §3.10.7.4: a retransmitted FIN is ACKed and restarts the 2MSL
// timeout; the entry goes when 2MSL has passed without one.
TEST(TimeWait, RetransmittedFinRestartsTwoMsl) {
  Config c;
  c.time_wait_us = 1'000'000;
  Wire w(c);
  close_to_time_wait(w, 40001);
  close_to_time_wait(w, 40000);  // last: w.iss is this one's
  w.now += 600'000;
  w.stack.poll_timers(w.now);
  w.sink.out.clear();
  w.in(40000, flag::fin | flag::ack, w.peer_isn + 1, w.iss + 2);
  const Header a = w.pop();
  EXPECT_TRUE(a.has(flag::ack) && !a.has(flag::rst));
  EXPECT_EQ(a.seq, w.iss + 2);
  EXPECT_EQ(a.ack, w.peer_isn + 2);
  // A bare in-window ACK is dropped silently.
  w.in(40000, flag::ack, w.peer_isn + 2, w.iss + 2);
  EXPECT_TRUE(w.sink.out.empty());
  w.now += 600'000;  // 1.2 s after the first: 40001 is over, 40000 was restarted
  w.stack.poll_timers(w.now);
  EXPECT_EQ(w.stack.state(w.stack.find(kLocal, kLport, kRemote, 40000)), State::time_wait);
  EXPECT_FALSE(w.stack.find(kLocal, kLport, kRemote, 40001).valid());
  w.now += 500'000;
  w.stack.poll_timers(w.now);
  EXPECT_EQ(w.stack.time_wait(), 0u);
}

// RFC 5961 §3.2 in TIME_WAIT: only the exact RST ends it.
TEST(TimeWait, OnlyExactRstEndsIt) {
  Wire w;
  close_to_time_wait(w, 40000);
  w.sink.out.clear();
  w.in(40000, flag::rst, w.peer_isn + 100, Seq(0));  // in window, not exact: challenge
  EXPECT_EQ(w.stack.time_wait(), 1u);
  EXPECT_EQ(w.stack.counters().challenge_acks, 1u);
  w.in(40000, flag::rst, w.peer_isn + 2, Seq(0));
  EXPECT_EQ(w.stack.time_wait(), 0u);
  EXPECT_EQ(w.stack.counters().time_wait_killed, 1u);
}

// A failed handshake marked by the layer above leaves no TIME_WAIT.
TEST(TimeWait, SkippedWhenTheLayerAboveSaysSo) {
  Wire w;
  w.open(40000);
  const ConnId id = w.app.id;
  ASSERT_EQ(w.stack.skip_time_wait(id), 0);
  w.sink.out.clear();
  w.stack.close(id);
  ASSERT_TRUE(w.pop().has(flag::fin));
  w.in(40000, flag::fin | flag::ack, w.peer_isn + 1, w.iss + 2);
  EXPECT_TRUE(w.pop().has(flag::ack));  // the peer's FIN is still acknowledged
  EXPECT_EQ(w.stack.time_wait(), 0u);
  EXPECT_EQ(w.stack.connections(), 0u);
  EXPECT_EQ(w.stack.counters().time_wait_skipped, 1u);
  EXPECT_EQ(w.stack.skip_time_wait(id), -EINVAL);
}

// An active open does not pick the 4-tuple of a TIME_WAIT entry without
// timestamps (here) or whose peer timestamp is under 1 s old (reuse:
// test_time_wait_reuse.cpp).
TEST(TimeWait, EphemeralPortSkipsTimeWaitTuples) {
  Config c;
  c.ephemeral_lo = c.ephemeral_hi = 40000;
  Wire w(c);
  // Passive side's TIME_WAIT is keyed by (kLocal, kLport, kRemote, 40000);
  // an active open from kLocal:40000 to kRemote:5061 is another tuple, so
  // make the clash with a connection we open ourselves.
  Sink cli;
  ConnId id = w.stack.connect(kLocal, 0, kRemote, kLport, cli);
  ASSERT_TRUE(id.valid());
  const Header syn = w.pop();
  Seq our = syn.seq;
  auto b = make_segment(kRemote, kLocal, SegSpec{.sport = kLport, .dport = 40000, .seq = Seq(7000), .ack = our + 1,
                                                  .flags = flag::syn | flag::ack, .window = 65535});
  w.stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = b.data(), .len = b.size()}, w.now);
  w.sink.out.clear();
  w.stack.close(id);
  ASSERT_TRUE(w.pop().has(flag::fin));
  auto f = make_segment(kRemote, kLocal, SegSpec{.sport = kLport, .dport = 40000, .seq = Seq(7001), .ack = our + 2,
                                                  .flags = flag::fin | flag::ack, .window = 65535});
  w.stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = f.data(), .len = f.size()}, w.now);
  ASSERT_EQ(w.stack.time_wait(), 1u);
  EXPECT_FALSE(w.stack.connect(kLocal, 0, kRemote, kLport, cli).valid());  // the only port is in TIME_WAIT
  EXPECT_FALSE(w.stack.connect(kLocal, 40000, kRemote, kLport, cli).valid());
}

// Evidence of loss towards us on any port: holes filled and duplicate data.
TEST(LossEvidence, HolesFilledAndDuplicatesCounted) {
  Wire w;
  w.open(40000);
  const std::string a(100, 'a'), b(100, 'b');
  w.in(40000, flag::ack, w.peer_isn + 101, w.iss + 1, b);  // ahead of a hole
  EXPECT_EQ(w.stack.counters().rx_ooo_segments, 1u);
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 1, a);  // the retransmission fills it
  EXPECT_EQ(w.stack.counters().rx_holes_filled, 1u);
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 1, a);  // and once more: a duplicate
  EXPECT_EQ(w.stack.counters().rx_dup_segments, 1u);
  EXPECT_EQ(w.app.data, a + b);
}

// A lingering close (for refusals): data that is unread or still arrives is
// ACKed and dropped instead of drawing a RST that would make the peer's
// kernel discard what we sent last (a TLS alert, an error reply).
TEST(Linger, DiscardsInsteadOfResetThenClosesOnPeerFin) {
  Wire w;
  w.open(40000);
  const ConnId id = w.app.id;
  w.app.auto_read = false;
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 1, "unread");
  ASSERT_EQ(w.stack.linger(id), 0);
  w.sink.out.clear();
  w.stack.close(id);  // with unread data: no RST when lingering
  Header f = w.pop();
  EXPECT_TRUE(f.has(flag::fin));
  EXPECT_FALSE(f.has(flag::rst));
  w.in(40000, flag::ack, w.peer_isn + 7, w.iss + 2, "more data after our FIN");
  const Header a = w.pop();
  EXPECT_FALSE(a.has(flag::rst));
  EXPECT_EQ(a.ack, w.peer_isn + 7 + 23);  // acknowledged, then thrown away
  EXPECT_EQ(w.stack.counters().linger_discarded, 1u);
  EXPECT_EQ(w.stack.counters().data_after_close, 0u);
  w.in(40000, flag::fin | flag::ack, w.peer_isn + 30, w.iss + 2);
  EXPECT_TRUE(w.pop().has(flag::ack));
  EXPECT_EQ(w.stack.connections(), 0u);
  EXPECT_EQ(w.stack.chunks_in_use(), 0u);
}

TEST(Linger, ResetsWhenThePeerNeverCloses) {
  Config c;
  c.linger_us = 500'000;
  Wire w(c);
  w.open(40000);
  const ConnId id = w.app.id;
  w.stack.linger(id);
  w.stack.close(id);
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 2);  // our FIN acked: FIN_WAIT_2
  w.sink.out.clear();
  w.now += 600'000;
  w.stack.poll_timers(w.now);
  EXPECT_TRUE(w.pop().has(flag::rst));
  EXPECT_EQ(w.stack.counters().linger_timeouts, 1u);
  EXPECT_EQ(w.stack.connections(), 0u);
}

// Without linger(): unread data at close() still resets (RFC 1122 4.2.2.13).
TEST(Linger, OffByDefault) {
  Wire w;
  w.open(40000);
  w.app.auto_read = false;
  w.in(40000, flag::ack, w.peer_isn + 1, w.iss + 1, "unread");
  w.sink.out.clear();
  w.stack.close(w.app.id);
  EXPECT_TRUE(w.pop().has(flag::rst));
}
