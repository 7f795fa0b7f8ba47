// Table-driven state-transition test on a fake wire (docs/style.md 17): each case
// plays the remote peer segment by segment and checks, field by field, every
// segment the stack emits and the state it ends in (RFC 9293 §3.10).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kLocal = 0xc6120001;   // 198.18.0.1
constexpr std::uint32_t kRemote = 0xc6120002;  // 198.18.0.2
constexpr std::uint16_t kLport = 5061, kRport = 40000;
constexpr std::uint32_t kPeerIsn = 0xfffffff0u;  // the peer's sequence space wraps mid-case

constexpr std::uint8_t S = flag::syn, A = flag::ack, F = flag::fin, R = flag::rst, P = flag::psh;

enum class Op { In, Out, None, St, Conns, Adv, Connect, Write, Read, Shutdown, Close, Abort, Events, Counter };

struct Step {
  Op op;
  std::uint8_t flags = 0;
  std::int64_t seq = 0;  // In: relative to the peer ISN; Out: relative to our ISS
  std::int64_t ack = 0;  // In: relative to our ISS; Out: relative to the peer ISN
  std::string data;
  State state = State::closed;
  std::uint64_t n = 0;  // Adv: microseconds; Conns: count; In: window
  std::uint32_t ts = 0;   // In: timestamp value (0 = no TS option)
  bool abs = false;       // Out: seq is absolute; In: sent to a port nobody listens on
  bool relearn = false;   // Out: a new ISS (new incarnation)
};

Step in(std::uint8_t f, std::int64_t seq, std::int64_t ack, std::string d = {}, std::uint64_t win = 65535,
        std::uint32_t ts = 0) {
  return Step{.op = Op::In, .flags = f, .seq = seq, .ack = ack, .data = std::move(d), .n = win, .ts = ts};
}
Step out(std::uint8_t f, std::int64_t seq, std::int64_t ack, std::string d = {}) {
  return Step{.op = Op::Out, .flags = f, .seq = seq, .ack = ack, .data = std::move(d)};
}
Step none() { return Step{.op = Op::None}; }
Step st(State s) { return Step{.op = Op::St, .state = s}; }
Step conns(std::uint64_t n) { return Step{.op = Op::Conns, .n = n}; }
Step adv(std::uint64_t us) { return Step{.op = Op::Adv, .n = us}; }
Step api(Op o, std::string d = {}) { return Step{.op = o, .data = std::move(d)}; }
Step events(std::string e) { return Step{.op = Op::Events, .data = std::move(e)}; }

struct Case {
  const char* name;
  std::vector<std::vector<Step>> parts;
};

std::vector<Step> join(const std::vector<std::vector<Step>>& parts) {
  std::vector<Step> v;
  for (const auto& p : parts) v.insert(v.end(), p.begin(), p.end());
  return v;
}

// Common prefixes.
const std::vector<Step> kPassiveEst = {in(S, 0, 0), out(S | A, 0, 1), st(State::syn_received), in(A, 1, 1),
                                       st(State::established)};
const std::vector<Step> kActiveClose = {api(Op::Close), out(F | A, 1, 1), st(State::fin_wait_1),
                                        in(A, 1, 2), st(State::fin_wait_2), in(F | A, 1, 2),
                                        out(A, 2, 2), st(State::time_wait)};
const std::vector<Step> kPassiveClose = {in(F | A, 1, 1), out(A, 1, 2), st(State::close_wait),
                                         api(Op::Close), out(F | A, 1, 2), st(State::last_ack)};
const std::vector<Step> kSimClose = {api(Op::Close), out(F | A, 1, 1), st(State::fin_wait_1), in(F | A, 1, 1),
                                     out(A, 2, 2), st(State::closing)};

const Case kCases[] = {
    {"passive_open", {kPassiveEst, {none(), events("accept"), conns(1)}}},
    {"active_open",
     {{api(Op::Connect), out(S, 0, 0), st(State::syn_sent), in(S | A, 0, 1), out(A, 1, 1),
       st(State::established), events("connected")}}},
    {"simultaneous_open",
     {{api(Op::Connect), out(S, 0, 0), in(S, 0, 0), out(S | A, 0, 1), st(State::syn_received),
       in(S | A, 0, 1), st(State::established), none(), events("connected")}}},
    {"active_close_to_time_wait_then_closed",
     {kPassiveEst, kActiveClose, {adv(999'000), st(State::time_wait), adv(2'000), conns(0)}}},
    {"passive_close", {kPassiveEst, kPassiveClose, {in(A, 2, 2), conns(0), events("accept,peer_closed")}}},
    {"simultaneous_close",
     {kPassiveEst, kSimClose, {in(A, 2, 2), st(State::time_wait), adv(1'001'000), conns(0)}}},
    {"half_close_then_receive",
     {kPassiveEst,
      {api(Op::Shutdown), out(F | A, 1, 1), st(State::fin_wait_1), in(A, 1, 2), st(State::fin_wait_2),
       in(A | P, 1, 2, "late"), none(), adv(40'000), out(A, 2, 5), api(Op::Read, "late"), in(F | A, 5, 2),
       out(A, 2, 6), st(State::time_wait), events("accept,readable,peer_closed,closed")}}},
    {"data_in_then_delayed_ack",
     {kPassiveEst, {in(A | P, 1, 1, "hello"), none(), adv(39'000), none(), adv(1'000), out(A, 1, 6),
                    api(Op::Read, "hello")}}},
    {"two_segments_ack_at_once",
     {kPassiveEst, {in(A, 1, 1, "aaaa"), none(), in(A, 5, 1, "bbbb"), out(A, 1, 9)}}},
    {"out_of_order_acked_at_once_then_filled",
     {kPassiveEst, {in(A, 5, 1, "bbbb"), out(A, 1, 1), in(A, 1, 1, "aaaa"), out(A, 1, 9),
                    api(Op::Read, "aaaabbbb")}}},
    {"duplicate_data_draws_ack",
     {kPassiveEst, {in(A, 1, 1, "abc"), adv(40'000), out(A, 1, 4), in(A, 1, 1, "abc"), out(A, 1, 4)}}},
    {"write_and_ack",
     {kPassiveEst, {api(Op::Write, "hello"), out(A | P, 1, 1, "hello"), in(A, 1, 6), none()}}},
    {"rto_retransmits_with_backoff",
     {kPassiveEst, {api(Op::Write, "hello"), out(A | P, 1, 1, "hello"), adv(199'000), none(), adv(1'000),
                    out(A, 1, 1, "hello"), adv(399'000), none(), adv(1'000), out(A, 1, 1, "hello"),
                    in(A, 1, 6), adv(2'000'000), none()}}},
    {"zero_window_persist_probe",
     {{in(S, 0, 0), out(S | A, 0, 1), in(A, 1, 1, {}, 0), st(State::established), api(Op::Write, "hi"),
       none(), adv(200'000), out(A, 0, 1), in(A, 1, 1, {}, 100), out(A | P, 1, 1, "hi")}}},
    {"rst_in_syn_received_returns_to_listen",
     {{in(S, 0, 0), out(S | A, 0, 1), in(R, 1, 0), conns(0), none(), events("")}}},
    {"rst_exact_in_established_resets", {kPassiveEst, {in(R, 1, 0), conns(0), events("accept,reset")}}},
    {"rst_in_window_draws_challenge_ack",
     {kPassiveEst, {in(R, 100, 0), out(A, 1, 1), st(State::established)}}},
    {"rst_out_of_window_ignored", {kPassiveEst, {in(R, 1'000'000, 0), none(), st(State::established)}}},
    {"syn_in_established_draws_challenge_ack",
     {kPassiveEst, {in(S, 50, 0), out(A, 1, 1), st(State::established)}}},
    {"rst_acceptable_in_syn_sent_refuses",
     {{api(Op::Connect), out(S, 0, 0), in(R | A, 0, 1), conns(0), events("error:refused")}}},
    {"rst_without_ack_in_syn_sent_ignored",
     {{api(Op::Connect), out(S, 0, 0), in(R, 0, 0), st(State::syn_sent), none()}}},
    {"bad_ack_in_syn_sent_draws_rst",
     {{api(Op::Connect), out(S, 0, 0), in(S | A, 0, 5), out(R, 5, 0), st(State::syn_sent)}}},
    {"ack_too_new_draws_ack", {kPassiveEst, {in(A, 1, 50), out(A, 1, 1), st(State::established)}}},
    {"time_wait_acks_retransmitted_fin",
     {kPassiveEst, kActiveClose, {in(F | A, 1, 2), out(A, 2, 2), st(State::time_wait)}}},
    {"rst_in_fin_wait_1",
     {kPassiveEst, {api(Op::Shutdown), out(F | A, 1, 1), st(State::fin_wait_1), in(R, 1, 0), conns(0),
                    events("accept,reset")}}},
    {"fin_wait_1_fin_and_ack_together_to_time_wait",
     {kPassiveEst, {api(Op::Shutdown), out(F | A, 1, 1), in(F | A, 1, 2), out(A, 2, 2), st(State::time_wait),
                    events("accept,peer_closed,closed")}}},
    {"rst_in_fin_wait_2",
     {kPassiveEst, {api(Op::Shutdown), out(F | A, 1, 1), in(A, 1, 2), st(State::fin_wait_2), in(R, 1, 0),
                    conns(0), events("accept,reset")}}},
    {"rst_in_close_wait",
     {kPassiveEst, {in(F | A, 1, 1), out(A, 1, 2), in(R, 2, 0), conns(0), events("accept,peer_closed,reset")}}},
    {"rst_in_last_ack", {kPassiveEst, kPassiveClose, {in(R, 2, 0), conns(0)}}},
    {"rst_in_closing", {kPassiveEst, kSimClose, {in(R, 2, 0), conns(0)}}},
    {"rst_in_time_wait", {kPassiveEst, kActiveClose, {in(R, 2, 0), conns(0)}}},
    {"data_after_close_resets",
     {kPassiveEst, {api(Op::Close), out(F | A, 1, 1), in(A | P, 1, 2, "x"), out(R, 2, 0), conns(0)}}},
    {"close_with_unread_data_resets",
     {kPassiveEst, {in(A, 1, 1, "abc"), api(Op::Close), out(R, 1, 0), conns(0)}}},
    {"abort_sends_rst", {kPassiveEst, {api(Op::Abort), out(R, 1, 0), conns(0), events("accept")}}},
    {"retransmitted_syn_redraws_syn_ack", {{in(S, 0, 0), out(S | A, 0, 1), in(S, 0, 0), out(S | A, 0, 1)}}},
    {"syn_ack_timer", {{in(S, 0, 0), out(S | A, 0, 1), adv(1'000'000), out(S | A, 0, 1), adv(1'999'000), none(),
                        adv(1'000), out(S | A, 0, 1)}}},
    {"paws_drops_old_timestamp",
     {{in(S, 0, 0, {}, 65535, 1000), out(S | A, 0, 1), in(A, 1, 1, {}, 65535, 1001), st(State::established),
       in(A, 1, 1, "old", 65535, 900), out(A, 1, 1), in(A, 1, 1, "new", 65535, 1002), adv(40'000),
       out(A, 1, 4)}}},
    {"missing_timestamp_dropped_after_negotiation",
     {{in(S, 0, 0, {}, 65535, 1000), out(S | A, 0, 1), in(A, 1, 1, {}, 65535, 1001), in(A, 1, 1, "x"), none(),
       adv(100'000), none()}}},
};

class Recorder : public ConnHandler, public Listener {
 public:
  std::string log;
  ConnId id;
  void add(const char* e) {
    if (!log.empty()) log += ",";
    log += e;
  }
  ConnHandler* on_accept(Stack&, ConnId i) override {
    id = i;
    add("accept");
    return this;
  }
  void on_connected(Stack&, ConnId) override { add("connected"); }
  void on_readable(Stack&, ConnId) override { add("readable"); }
  void on_peer_closed(Stack&, ConnId) override { add("peer_closed"); }
  void on_reset(Stack&, ConnId) override { add("reset"); }
  void on_error(Stack&, ConnId, Error e) override {
    add("error:");
    log += error_name(e);
  }
  void on_closed(Stack&, ConnId) override { add("closed"); }
};

std::string flags_str(std::uint8_t f) {
  std::string s;
  if (f & flag::syn) s += "S";
  if (f & flag::fin) s += "F";
  if (f & flag::rst) s += "R";
  if (f & flag::psh) s += "P";
  if (f & flag::ack) s += "A";
  return s.empty() ? "." : s;
}

class StateMachine : public ::testing::TestWithParam<Case> {};

TEST_P(StateMachine, Script) {
  const Case& c = GetParam();
  Config cfg;
  cfg.time_wait_us = 1'000'000;
  cfg.max_connections = 8;
  VecSink sink;
  std::uint64_t now = 1'000'000;
  Stack stack(cfg, sink, now);
  Recorder rec;
  ASSERT_EQ(stack.listen(kLocal, kLport, rec), 0);
  ASSERT_EQ(stack.listen(kLocal, kLport, rec), -EADDRINUSE);
  Seq iss;
  bool iss_known = false;
  int i = 0;
  for (const Step& s : join(c.parts)) {
    SCOPED_TRACE(testing::Message() << c.name << " step " << i++);
    switch (s.op) {
      case Op::In: {
        SegSpec sp{.sport = kRport, .dport = s.abs ? std::uint16_t{9} : kLport,
                   .seq = Seq(kPeerIsn) + static_cast<std::uint32_t>(s.seq),
                   .ack = iss + static_cast<std::uint32_t>(s.ack), .flags = s.flags,
                   .window = static_cast<std::uint16_t>(s.n), .data = s.data};
        if (s.flags & flag::syn) {
          sp.opt.mss = true;
          sp.opt.mss_value = 1400;
        }
        if (s.ts) {
          sp.opt.ts = true;
          sp.opt.ts_val = s.ts;
        }
        auto b = make_segment(kRemote, kLocal, sp);
        stack.input(SegmentIn{.src = kRemote, .dst = kLocal, .data = b.data(), .len = b.size()}, now);
        break;
      }
      case Op::Out: {
        ASSERT_FALSE(sink.out.empty()) << "expected a segment";
        Captured o = sink.out.front();
        sink.out.pop_front();
        EXPECT_EQ(o.src, kLocal);
        EXPECT_EQ(o.dst, kRemote);
        EXPECT_TRUE(tcp_checksum_ok(o.src, o.dst, o.bytes.data(), o.bytes.size()));
        Header h = o.h();
        EXPECT_EQ(h.src_port, kLport);
        EXPECT_EQ(h.dst_port, kRport);
        EXPECT_EQ(flags_str(h.flags), flags_str(s.flags));
        if (!iss_known || s.relearn) {
          iss = h.seq - static_cast<std::uint32_t>(s.seq);
          iss_known = true;
        }
        EXPECT_EQ(h.seq - iss, s.seq) << "seq";
        if (s.flags & flag::ack) {
          EXPECT_EQ(h.ack - Seq(kPeerIsn), s.ack) << "ack";
        }
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.payload), h.payload_len), s.data);
        if (h.has(flag::syn)) {
          EXPECT_TRUE(h.opt.has_mss);
          EXPECT_EQ(h.opt.mss, 1460);
        }
        break;
      }
      case Op::None:
        EXPECT_TRUE(sink.out.empty()) << "unexpected " << flags_str(sink.out.front().h().flags);
        break;
      case Op::St:
        EXPECT_STREQ(state_name(stack.state(stack.find(kLocal, kLport, kRemote, kRport))), state_name(s.state));
        break;
      case Op::Conns:
        EXPECT_EQ(stack.connections(), s.n);
        break;
      case Op::Adv:
        now += s.n;
        stack.poll_timers(now);
        break;
      case Op::Connect:
        rec.id = stack.connect(kLocal, kLport, kRemote, kRport, rec);
        ASSERT_TRUE(rec.id.valid());
        break;
      case Op::Write:
        EXPECT_EQ(stack.write(rec.id, s.data.data(), s.data.size()), static_cast<long>(s.data.size()));
        break;
      case Op::Read: {
        std::string got(s.data.size() + 8, '\0');
        got.resize(stack.read(rec.id, got.data(), got.size()));
        EXPECT_EQ(got, s.data);
        break;
      }
      case Op::Shutdown:
        EXPECT_EQ(stack.shutdown_write(rec.id), 0);
        break;
      case Op::Close:
        EXPECT_EQ(stack.close(rec.id), 0);
        break;
      case Op::Abort:
        EXPECT_EQ(stack.abort(rec.id), 0);
        break;
      case Op::Events:
        EXPECT_EQ(rec.log, s.data);
        break;
      case Op::Counter:
        break;
    }
  }
  // Whatever the case did, nothing may stay behind once everything times out.
  stack.abort(rec.id);
  now += 200'000'000;
  for (int k = 0; k < 10; ++k) stack.poll_timers(now += 60'000'000);
  EXPECT_EQ(stack.connections(), 0u);
  EXPECT_EQ(stack.chunks_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Rfc9293, StateMachine, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
