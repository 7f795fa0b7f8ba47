// Two stacks wired back to back through a deterministic impairment shim
// (docs/architecture.md "net_ring" rig, in-process): a seeded PRNG decides loss,
// reordering, duplication and corruption, and the shim counts what it did so
// a test can prove the impairment happened. Time is simulated.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "turnpike/tcp/stack.hpp"

namespace tcptest {

using namespace turnpike::tcp;

struct Impairment {
  double loss = 0, reorder = 0, duplicate = 0, corrupt = 0;
  std::uint64_t delay_us = 1000;        // one way
  std::uint64_t reorder_extra_us = 2500;
  double bits_per_us = 1000;            // 1 Gbit/s serialisation
};

struct ShimCounts {
  std::uint64_t sent = 0, delivered = 0, dropped = 0, reordered = 0, duplicated = 0, corrupted = 0;
  std::uint64_t corrupted_delivered = 0;  // copies of corrupted segments handed to a stack
};

// xoshiro256** seeded by splitmix64: deterministic across platforms.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) {
    for (auto& x : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      x = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

class NetSim {
 public:
  NetSim(const Config& ca, const Config& cb, const Impairment& imp, std::uint64_t seed)
      : imp_(imp), rng_(seed), side_{Side(this, 0), Side(this, 1)} {
    a = std::make_unique<Stack>(ca, side_[0], now_);
    b = std::make_unique<Stack>(cb, side_[1], now_);
  }

  std::unique_ptr<Stack> a, b;
  ShimCounts counts;
  // A scripted wire on top of the random one: called for every segment a
  // stack sends (from 0 = a, 1 = b); returns kDrop, 0 (deliver) or an extra
  // delay in microseconds (reordering). Counted like the random impairments.
  static constexpr std::int64_t kDrop = -1;
  std::function<std::int64_t(int from, const Header& h)> script;
  // Destinations nobody answers for (e.g. spoofed flood sources): dropped.
  std::uint32_t blackhole_lo = 0, blackhole_hi = 0;
  std::uint64_t blackholed = 0;
  // Injects a segment into stack `to` (0 = a, 1 = b) right now, bypassing the shim.
  void inject(int to, const Addr& src, const Addr& dst, const std::vector<std::uint8_t>& seg) {
    (to == 0 ? *a : *b).input(SegmentIn{.src = src, .dst = dst, .data = seg.data(), .len = seg.size()}, now_);
  }
  std::uint64_t now() const { return now_; }

  // Runs until done() or the simulated deadline; returns done().
  template <class Done>
  bool run(Done&& done, std::uint64_t max_us, std::uint64_t step_us = 1000) {
    const std::uint64_t end = now_ + max_us;
    while (now_ < end) {
      deliver();
      a->poll_timers(now_);
      b->poll_timers(now_);
      if (done()) return true;
      std::uint64_t next = now_ + step_us;
      if (!q_.empty() && q_.top().at < next) next = q_.top().at;
      now_ = next > now_ ? next : now_ + 1;
    }
    return done();
  }

 private:
  struct Pkt {
    std::uint64_t at, order;
    int to;
    bool corrupt;
    Addr src, dst;
    std::vector<std::uint8_t> bytes;
    bool operator>(const Pkt& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  class Side : public SegmentSink {
   public:
    Side(NetSim* n, int i) : net_(n), idx_(i) {}
    std::uint8_t* alloc(std::size_t max_len, void** handle) override {
      buf_.resize(max_len);
      *handle = nullptr;
      return buf_.data();
    }
    void send(void*, const Addr& src, const Addr& dst, std::size_t len) override {
      net_->transmit(idx_, src, dst, buf_.data(), len);
    }

   private:
    NetSim* net_;
    int idx_;
    std::vector<std::uint8_t> buf_;
  };

  void transmit(int from, const Addr& src, const Addr& dst, const std::uint8_t* p, std::size_t len) {
    if (dst.is_v4() && dst.v4() >= blackhole_lo && dst.v4() < blackhole_hi) {
      ++blackholed;
      return;
    }
    ++counts.sent;
    std::int64_t extra = 0;
    if (script) {
      Header h;
      if (parse_header(p, len, h) == ParseError::ok) extra = script(from, h);
      if (extra == kDrop) {
        ++counts.dropped;
        return;
      }
      if (extra > 0) ++counts.reordered;
    }
    if (rng_.uniform() < imp_.loss) {
      ++counts.dropped;
      return;
    }
    std::uint64_t& free_at = link_free_[from];
    const std::uint64_t ser = static_cast<std::uint64_t>((len + 40) * 8 / imp_.bits_per_us) + 1;
    free_at = (free_at > now_ ? free_at : now_) + ser;
    Pkt k{free_at + imp_.delay_us + static_cast<std::uint64_t>(extra > 0 ? extra : 0), order_++, 1 - from, false, src, dst, std::vector<std::uint8_t>(p, p + len)};
    if (rng_.uniform() < imp_.corrupt) {
      ++counts.corrupted;  // one byte flipped after the checksum was computed
      k.corrupt = true;
      k.bytes[rng_.next() % len] ^= static_cast<std::uint8_t>(1 + rng_.next() % 255);
    }
    if (rng_.uniform() < imp_.reorder) {
      ++counts.reordered;
      k.at += imp_.reorder_extra_us;
    }
    if (rng_.uniform() < imp_.duplicate) {
      ++counts.duplicated;
      Pkt d = k;
      d.order = order_++;
      d.at += 50;
      q_.push(std::move(d));
    }
    q_.push(std::move(k));
  }

  void deliver() {
    while (!q_.empty() && q_.top().at <= now_) {
      Pkt k = std::move(const_cast<Pkt&>(q_.top()));
      q_.pop();
      ++counts.delivered;
      counts.corrupted_delivered += k.corrupt;
      Stack& s = k.to == 0 ? *a : *b;
      s.input(SegmentIn{.src = k.src, .dst = k.dst, .data = k.bytes.data(), .len = k.bytes.size()}, now_);
    }
  }

  Impairment imp_;
  Prng rng_;
  Side side_[2];
  std::uint64_t now_ = 1'000'000;
  std::uint64_t order_ = 0;
  std::uint64_t link_free_[2] = {0, 0};
  std::priority_queue<Pkt, std::vector<Pkt>, std::greater<>> q_;
};

// A deterministic byte stream: byte i is pattern[(i + shift) % kPeriod]; the
// prime period never lines up with segment or chunk sizes.
class Pattern {
 public:
  static constexpr std::size_t kPeriod = 65521;
  explicit Pattern(std::uint64_t seed) : bytes_(kPeriod) {
    Prng r(seed);
    for (auto& b : bytes_) b = static_cast<std::uint8_t>(r.next());
  }
  // Contiguous pattern bytes from stream offset `off`, at most `max`.
  const std::uint8_t* at(std::uint64_t off, std::size_t max, std::size_t* n) const {
    const std::size_t i = off % kPeriod;
    *n = std::min(max, kPeriod - i);
    return bytes_.data() + i;
  }

 private:
  std::vector<std::uint8_t> bytes_;
};

// A client that sends `out`, half-closes, and collects what comes back (the
// echo tests of test_services.cpp and test_scale.cpp share it).
class StreamClient : public ConnHandler {
 public:
  explicit StreamClient(std::string out) : out_(std::move(out)) {}
  ConnId id;
  std::string in;
  bool peer_closed = false, closed = false, failed = false;
  void on_connected(Stack& s, ConnId) override { pump(s); }
  void on_writable(Stack& s, ConnId) override { pump(s); }
  void on_readable(Stack& s, ConnId i) override {
    for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
      in.append(reinterpret_cast<const char*>(r.data()), r.size());
      s.consume(i, r.size());
    }
  }
  void on_peer_closed(Stack&, ConnId) override { peer_closed = true; }
  void on_closed(Stack&, ConnId) override { closed = true; }
  void on_reset(Stack&, ConnId) override { failed = true; }
  void on_error(Stack&, ConnId, Error) override { failed = true; }
  bool ok() const { return closed && in == out_; }
  void pump(Stack& s) {
    while (sent_ < out_.size()) {
      const long k = s.write(id, out_.data() + sent_, out_.size() - sent_);
      if (k <= 0) return;
      sent_ += static_cast<std::size_t>(k);
    }
    if (!shut_) {
      shut_ = true;
      s.shutdown_write(id);
    }
  }

 private:
  std::string out_;
  std::size_t sent_ = 0;
  bool shut_ = false;
};

// n pseudo-random bytes from `seed`.
inline std::string blob(std::size_t n, std::uint64_t seed) {
  std::string b(n, '\0');
  Prng r(seed);
  for (auto& c : b) c = static_cast<char>(r.next());
  return b;
}

// A clean path: only a one-way delay.
inline Impairment clean(std::uint64_t one_way_us = 1000) {
  Impairment imp;
  imp.delay_us = one_way_us;
  return imp;
}

// Stream offsets [lo, hi) of the client's (side 0) data segments on the
// wire, for scripts that drop or hold a given byte range; its SYN gives ISS.
struct Offsets {
  turnpike::tcp::Seq iss;
  bool have = false;
  bool of(int from, const turnpike::tcp::Header& h, std::uint32_t& lo, std::uint32_t& hi) {
    if (from != 0) return false;
    if (h.has(turnpike::tcp::flag::syn)) {
      iss = h.seq;
      have = true;
      return false;
    }
    if (!have || h.payload_len == 0) return false;
    lo = turnpike::tcp::seq_dist(iss + 1, h.seq);
    hi = lo + static_cast<std::uint32_t>(h.payload_len);
    return true;
  }
};

}  // namespace tcptest
