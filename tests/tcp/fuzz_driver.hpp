// Shared by the libFuzzer target and its ctest smoke run: puts one connection
// into a chosen state on the fake wire, then feeds arbitrary segments (mostly
// aimed at that connection's 4-tuple), API calls and clock jumps. Afterwards
// everything must drain: no control block and no buffer chunk may leak.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "harness.hpp"

namespace tcptest {

class FuzzApp : public ConnHandler, public Listener {
 public:
  ConnId id;
  bool reads = true;
  ConnHandler* on_accept(Stack&, ConnId i) override {
    id = i;
    return this;
  }
  void on_readable(Stack& s, ConnId i) override {
    if (!reads) return;
    char b[2048];
    while (s.read(i, b, sizeof b) > 0) {
    }
  }
};

inline void fuzz_one(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint16_t kLp = 5061, kRp = 40000;
  if (size < 2) return;
  // data[1] bit 2: the connection runs over IPv6 (16-byte tuple, IPv6
  // pseudo-header checksum, MSS 1440).
  static const std::uint8_t k6L[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const std::uint8_t k6R[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  Addr kL(0xc6120001u), kR(0xc6120002u);
  if (data[1] & 4) {
    std::memcpy(kL.b, k6L, 16);
    std::memcpy(kR.b, k6R, 16);
  }
  Config cfg;
  cfg.max_connections = 4;
  cfg.max_chunks = 64;
  cfg.chunk_size = 2048;
  cfg.rcvbuf = cfg.sndbuf = 8192;
  cfg.time_wait_us = 500'000;
  cfg.max_time_wait = 2;  // small: eviction is exercised, and no 2 MB ring per input
  cfg.max_retries = 4;
  cfg.syn_retries = 2;
  cfg.synack_retries = 2;
  cfg.fin_wait2_us = 1'000'000;
  VecSink sink;
  std::uint64_t now = 1'000'000;
  Stack st(cfg, sink, now);
  FuzzApp app;
  st.listen(kL, kLp, app);
  app.reads = data[1] & 1;
  const Seq peer(0x7ffffff0u);
  Seq iss;
  auto in = [&](std::uint8_t f, Seq seq, Seq ack, const char* d = "") {
    auto b = make_segment(kR, kL, SegSpec{.sport = kRp, .dport = kLp, .seq = seq, .ack = ack, .flags = f,
                                          .data = d});
    st.input(SegmentIn{.src = kR, .dst = kL, .data = b.data(), .len = b.size()}, now);
  };
  auto last_seq = [&] { return sink.out.empty() ? Seq(0) : sink.out.back().h().seq; };
  // data[1] bit 1: the peer's SYN offers SACK, so RACK-TLP runs (RFC 8985).
  const bool sack = data[1] & 2;
  auto syn_in = [&] {
    SegSpec sp{.sport = kRp, .dport = kLp, .seq = peer, .ack = Seq(0), .flags = flag::syn};
    sp.opt.sack_permitted = sack;
    auto b = make_segment(kR, kL, sp);
    st.input(SegmentIn{.src = kR, .dst = kL, .data = b.data(), .len = b.size()}, now);
  };
  // Drive to the chosen state (RFC 9293 figure 5 paths).
  const unsigned target = data[0] % 10;
  if (target == 1) {
    app.id = st.connect(kL, kLp, kR, kRp, app);  // SYN_SENT
  } else if (target >= 2) {
    syn_in();  // SYN_RECEIVED
    iss = last_seq();
    if (target >= 3) in(flag::ack, peer + 1, iss + 1);  // ESTABLISHED
    switch (target) {
      case 4: st.shutdown_write(app.id); break;  // FIN_WAIT_1
      case 5: st.shutdown_write(app.id); in(flag::ack, peer + 1, iss + 2); break;  // FIN_WAIT_2
      case 6: in(flag::fin | flag::ack, peer + 1, iss + 1); break;  // CLOSE_WAIT
      case 7: in(flag::fin | flag::ack, peer + 1, iss + 1); st.shutdown_write(app.id); break;  // LAST_ACK
      case 8: st.shutdown_write(app.id); in(flag::fin | flag::ack, peer + 1, iss + 1); break;  // CLOSING
      case 9:
        st.shutdown_write(app.id);
        in(flag::ack, peer + 1, iss + 2);
        in(flag::fin | flag::ack, peer + 1, iss + 2);  // TIME_WAIT
        break;
      default: break;
    }
  }
  // The rest: records of [op][len][bytes...].
  std::size_t i = 2;
  std::vector<std::uint8_t> seg;
  while (i + 2 <= size) {
    const std::uint8_t op = data[i];
    const std::size_t len = std::min<std::size_t>(data[i + 1], size - i - 2);
    const std::uint8_t* p = data + i + 2;
    i += 2 + len;
    switch (op % 8) {
      case 3:
        if (sack && len >= 6) {  // an ACK with SACK blocks near what was sent (RACK, RFC 8985)
          SegSpec sp{.sport = kRp, .dport = kLp, .seq = peer + 1, .ack = iss + 1 + p[0] * 61u, .flags = flag::ack,
                     .window = static_cast<std::uint16_t>(p[1] << 8)};
          for (std::size_t b = 2; b + 1 < len && sp.opt.sack_count < 3; b += 2) {
            const Seq l = iss + 1 + p[b] * 97u;
            sp.opt.sack[sp.opt.sack_count++] = {l, l + 1 + p[b + 1] * 53u};
          }
          auto b = make_segment(kR, kL, sp);
          st.input(SegmentIn{.src = kR, .dst = kL, .data = b.data(), .len = b.size()}, now);
          break;
        }
        [[fallthrough]];
      case 0: case 1: case 2: {  // a segment aimed at our connection
        seg.assign(p, p + len);
        if (seg.size() >= 4) {
          turnpike::net::store_be16(seg.data(), kRp);
          turnpike::net::store_be16(seg.data() + 2, kLp);
        }
        if (op & 1 && seg.size() >= 12) {  // plausible numbers make deep paths reachable
          turnpike::net::store_be32(seg.data() + 4, (peer + 1 + seg[4]).raw());
          turnpike::net::store_be32(seg.data() + 8, (iss + seg[8] % 4).raw());
        }
        st.input(SegmentIn{.src = kR, .dst = kL, .data = seg.data(), .len = seg.size(), .csum_verified = true}, now);
        break;
      }
      case 4:  // raw bytes, checksum checked by the stack
        st.input(SegmentIn{.src = kR, .dst = kL, .data = p, .len = len}, now);
        break;
      case 5:
        now += (len + 1) * 7919;
        st.poll_timers(now);
        break;
      case 6:
        if (len) st.write(app.id, p, len);
        break;
      case 7:
        switch (len % 4) {
          case 0: st.shutdown_write(app.id); break;
          case 1: st.close(app.id); break;
          case 2: st.abort(app.id); break;
          default: { char b[64]; st.read(app.id, b, sizeof b); break; }
        }
        break;
    }
    if (sink.out.size() > 256) sink.out.clear();
  }
  st.abort(app.id);
  st.abort(st.find(kL, kLp, kR, kRp));
  for (int k = 0; k < 8; ++k) st.poll_timers(now += 100'000'000);
  if (st.connections() != 0 || st.chunks_in_use() != 0 || st.record_rings_in_use() != 0) __builtin_trap();
}

}  // namespace tcptest
