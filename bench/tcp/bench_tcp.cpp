// TCP micro-benchmarks on one core (issue 4): in-order receive cycles per
// 1448-byte segment, ACK processing cycles per ACK, open+close per second,
// bytes per idle connection, request/response over many connections.
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <cstring>
#include <deque>
#include <vector>

#include "harness.hpp"
#include "turnpike/net/byteorder.hpp"

using namespace turnpike::tcp;
using tcptest::make_segment;
using tcptest::SegSpec;

namespace {

constexpr std::uint32_t kL = 0xc6120001, kR = 0xc6120002;
constexpr std::uint16_t kLp = 5061, kRp = 40000;

// Discards output but remembers the highest sequence number sent.
class NullSink : public SegmentSink {
 public:
  std::uint8_t* alloc(std::size_t max_len, void** h) override {
    *h = nullptr;
    if (buf_.size() < max_len) buf_.resize(max_len);
    return buf_.data();
  }
  void send(void*, const Addr&, const Addr&, std::size_t len) override {
    // Two loads, not a parse: the sink should cost next to nothing.
    const Seq seq(turnpike::net::load_be32(buf_.data() + 4));
    const Seq end = seq + static_cast<std::uint32_t>(len - (buf_[12] >> 4) * 4u);
    if (!any_ || end > high) high = end;
    any_ = true;
    last_seq = seq;
    ++sent;
  }
  Seq high, last_seq;
  std::uint64_t sent = 0;

 private:
  bool any_ = false;
  std::vector<std::uint8_t> buf_;
};

class Drain : public ConnHandler, public Listener {
 public:
  ConnId id;
  ConnHandler* on_accept(Stack&, ConnId i) override {
    id = i;
    return this;
  }
  void on_readable(Stack& s, ConnId i) override {
    for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) s.consume(i, r.size());
  }
};

struct Established {
  explicit Established(Config c = Config{}, bool ts = false) : stack(c, sink, now), ts_(ts) {
    stack.listen(kL, kLp, app);
    in(flag::syn, peer, Seq(0), 0);
    iss = sink.last_seq;
    in(flag::ack, peer + 1, iss + 1, 0);
  }
  OptionsOut opts(std::uint8_t f) const {
    OptionsOut o;
    if (f & flag::syn) {
      o.mss = true;
      o.mss_value = 1460;
      o.wscale = true;
      o.wscale_value = 7;
      o.sack_permitted = true;
    }
    o.ts = ts_;
    o.ts_val = 1000;
    return o;
  }
  void in(std::uint8_t f, Seq seq, Seq ack, std::size_t len) {
    auto b = make_segment(kR, kL, SegSpec{.sport = kRp, .dport = kLp, .seq = seq, .ack = ack, .flags = f,
                                          .data = std::string(len, 'x'), .opt = opts(f)});
    stack.input(SegmentIn{.src = kR, .dst = kL, .data = b.data(), .len = b.size()}, now);
  }
  NullSink sink;
  std::uint64_t now = 1'000'000;
  Stack stack;
  Drain app;
  Seq peer{0xfff00000u};
  Seq iss;
  bool ts_;
};

void BM_RxInOrder1448(benchmark::State& state) {
  const bool ts = state.range(1) != 0;  // a Linux peer: timestamps, SACK, window scaling
  Established e(Config{}, ts);
  Seq seq = e.peer + 1;
  auto seg = make_segment(kR, kL, SegSpec{.sport = kRp, .dport = kLp, .seq = seq, .ack = e.iss + 1,
                                          .flags = flag::ack, .data = std::string(1448, 'd'),
                                          .opt = e.opts(flag::ack)});
  const bool sw_csum = state.range(0) != 0;
  std::uint64_t cycles = 0, n = 0;
  for (auto _ : state) {
    turnpike::net::store_be32(seg.data() + 4, seq.raw());
    if (sw_csum) {  // keep the checksum right: the stack verifies it
      turnpike::net::store_be16(seg.data() + 16, 0);
      turnpike::net::store_be16(seg.data() + 16, tcp_checksum(kR, kL, seg.data(), seg.size()));
    }
    const std::uint64_t t0 = __rdtsc();
    e.stack.input(SegmentIn{.src = kR, .dst = kL, .data = seg.data(), .len = seg.size(), .csum_verified = !sw_csum},
                  e.now);
    cycles += __rdtsc() - t0;
    ++n;
    seq += 1448;
  }
  state.counters["cycles/segment"] = static_cast<double>(cycles) / static_cast<double>(n);
  state.SetBytesProcessed(static_cast<std::int64_t>(n) * 1448);
  if (e.stack.counters().rx_bytes != n * 1448) state.SkipWithError("bytes lost");
}
BENCHMARK(BM_RxInOrder1448)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"sw_csum", "ts"});

void BM_AckProcessing(benchmark::State& state) {
  Config c;
  c.tx_checksum_offload = state.range(0) != 0;
  Established e(c);
  static const std::string blob(256 * 1024, 'y');
  e.stack.write(e.app.id, blob.data(), blob.size());
  Seq acked = e.iss + 1;
  auto ack = make_segment(kR, kL, SegSpec{.sport = kRp, .dport = kLp, .seq = e.peer + 1, .ack = acked,
                                          .flags = flag::ack, .window = 65535});
  std::uint64_t cycles = 0, n = 0;
  for (auto _ : state) {
    Seq next = acked + 1448;
    if (next > e.sink.high) next = e.sink.high;
    turnpike::net::store_be32(ack.data() + 8, next.raw());
    const std::uint64_t t0 = __rdtsc();
    e.stack.input(SegmentIn{.src = kR, .dst = kL, .data = ack.data(), .len = ack.size(), .csum_verified = true},
                  e.now);
    cycles += __rdtsc() - t0;
    ++n;
    acked = next;
    if (e.stack.write_space(e.app.id) >= 64 * 1024) e.stack.write(e.app.id, blob.data(), 64 * 1024);
  }
  state.counters["cycles/ack"] = static_cast<double>(cycles) / static_cast<double>(n);
}
// Each ACK frees one segment and clocks out the next (copy + header + checksum).
BENCHMARK(BM_AckProcessing)->Arg(0)->Arg(1)->ArgNames({"tx_csum_offload"});

// Two stacks wired directly, zero delay.
class Pair {
 public:
  Pair(const Config& c) : a_(this, 1), b_(this, 0), a(c, a_, 0), b(c, b_, 0) {}
  void drain(std::uint64_t now) {
    while (!q_.empty()) {
      auto& p = q_.front();
      (p.to ? b : a).input(SegmentIn{.src = p.src, .dst = p.dst, .data = p.bytes.data(), .len = p.len}, now);
      free_.push_back(std::move(p.bytes));
      q_.pop_front();
    }
  }

 private:
  struct Pkt {
    int to;
    Addr src, dst;
    std::size_t len;
    std::vector<std::uint8_t> bytes;
  };
  class Side : public SegmentSink {
   public:
    Side(Pair* p, int to) : p_(p), to_(to) {}
    std::uint8_t* alloc(std::size_t max_len, void** h) override {
      std::vector<std::uint8_t> v;
      if (!p_->free_.empty()) {
        v = std::move(p_->free_.back());
        p_->free_.pop_back();
      }
      if (v.size() < max_len) v.resize(std::max<std::size_t>(max_len, 2048));
      p_->q_.push_back(Pkt{to_, Addr{}, Addr{}, 0, std::move(v)});
      *h = nullptr;
      return p_->q_.back().bytes.data();
    }
    void send(void*, const Addr& s, const Addr& d, std::size_t len) override {
      auto& k = p_->q_.back();
      k.src = s;
      k.dst = d;
      k.len = len;
    }

   private:
    Pair* p_;
    int to_;
  };
  std::deque<Pkt> q_;
  std::vector<std::vector<std::uint8_t>> free_;
  Side a_, b_;

 public:
  Stack a, b;
};

class Closer : public ConnHandler, public Listener {
 public:
  ConnHandler* on_accept(Stack&, ConnId) override { return this; }
  void on_peer_closed(Stack& s, ConnId i) override { s.close(i); }
};

void BM_OpenClose(benchmark::State& state) {
  Config c;
  c.time_wait_us = 1000;
  Pair p(c);
  Closer srv, cli;
  p.b.listen(kR, kLp, srv);
  std::uint64_t now = 0;
  for (auto _ : state) {
    const ConnId id = p.a.connect(kL, 0, kR, kLp, cli);
    p.drain(now);  // SYN, SYN-ACK, ACK
    p.a.close(id);
    p.drain(now);  // FIN, ACK, FIN, ACK
    now += 2000;
    p.a.poll_timers(now);  // TIME_WAIT ends
    p.b.poll_timers(now);
  }
  state.SetItemsProcessed(state.iterations());
  if (p.a.connections() || p.b.connections()) state.SkipWithError("leak");
}
BENCHMARK(BM_OpenClose);

// Memory an idle established connection holds: its control block, its share
// of the table (two bucket heads, one free-list slot) and no buffer chunk.
void BM_IdleConnectionBytes(benchmark::State& state) {
  Config c;
  c.max_connections = 1000;
  Pair p(c);
  Drain srv, cli;
  p.b.listen(kR, kLp, srv);
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) p.a.connect(kL, 0, kR, kLp, cli);
    p.drain(0);
  }
  state.counters["bytes/idle_conn"] = static_cast<double>(Stack::control_block_size() + 2 * 4 + 4);
  state.counters["chunks_held"] = static_cast<double>(p.a.chunks_in_use() + p.b.chunks_in_use());
  state.counters["conns"] = static_cast<double>(p.b.connections());
}
BENCHMARK(BM_IdleConnectionBytes)->Iterations(1);

// 700-byte request, 700-byte response, over 1000 established connections.
class Echo700 : public ConnHandler, public Listener {
 public:
  std::uint64_t done = 0;
  bool server = false;
  ConnHandler* on_accept(Stack&, ConnId) override { return this; }
  void on_readable(Stack& s, ConnId i) override {
    std::uint8_t buf[2048];
    const std::size_t n = s.read(i, buf, sizeof buf);
    if (server) {
      s.write(i, buf, n);
    } else {
      done += n;
    }
  }
};

void BM_RequestResponse700(benchmark::State& state) {
  Config c;
  c.max_connections = 1024;
  Pair p(c);
  Echo700 srv, cli;
  srv.server = true;
  p.b.listen(kR, kLp, srv);
  std::vector<ConnId> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(p.a.connect(kL, 0, kR, kLp, cli));
  p.drain(0);
  std::uint8_t req[700];
  std::memset(req, 'r', sizeof req);
  std::uint64_t now = 0;
  std::size_t k = 0;
  for (auto _ : state) {
    p.a.write(ids[k], req, sizeof req);
    p.drain(now);
    if (++k == ids.size()) {
      k = 0;
      now += 50'000;  // delayed ACKs fire now and then
      p.a.poll_timers(now);
      p.b.poll_timers(now);
      p.drain(now);
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (cli.done != static_cast<std::uint64_t>(state.iterations()) * 700) state.SkipWithError("lost responses");
}
BENCHMARK(BM_RequestResponse700);

// O(1) arm + cancel on a wheel already holding 100k timers.
void BM_TimerArmCancel(benchmark::State& state) {
  TimerWheel w(1000, 0);
  std::vector<Timer> bg(100000);
  for (std::size_t i = 0; i < bg.size(); ++i) w.arm(bg[i], (i * 7919) % 100'000'000);
  Timer t;
  std::uint64_t at = 12345;
  for (auto _ : state) {
    w.arm(t, at);
    w.cancel(t);
    at = (at * 31 + 7) % 500'000'000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerArmCancel);

void BM_Checksum1468(benchmark::State& state) {
  std::vector<std::uint8_t> b(1468, 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(tcp_checksum(kL, kR, b.data(), b.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 1468);
}
BENCHMARK(BM_Checksum1468);

}  // namespace

BENCHMARK_MAIN();
