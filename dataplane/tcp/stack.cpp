// Per-worker TCP: segment arrival follows RFC 9293 §3.10.7 step by step.
#include "turnpike/tcp/stack.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "turnpike/net/byteorder.hpp"

namespace turnpike::tcp {

namespace {
constexpr std::uint32_t kNil = UINT32_MAX;
constexpr std::uint8_t kEvConnected = 1, kEvAccept = 2, kEvReadable = 4, kEvWritable = 8,
                       kEvPeerClosed = 16, kEvClosed = 32;
constexpr std::uint16_t kDefaultMss = 536;  // RFC 9293 §3.7.1 / RFC 6691
constexpr std::uint64_t kPawsIdleUs = 24ull * 24 * 3600 * 1'000'000;  // RFC 7323 §5.5
// ConnIds of TIME_WAIT entries (find(), state()): never a control block index.
constexpr std::uint32_t kTwIdBit = 0x8000'0000u;
// Age of the peer's last timestamp before an active open may take a TIME_WAIT
// 4-tuple (Linux's tcp_tw_reuse waits for the next second: at most 1 s).
constexpr std::uint32_t kTwReuseAfterMs = 1000;

// Hash input of a 4-tuple. IPv4 tuples give the 12 bytes they always did
// (addresses, ports: same buckets, ISNs and cookies as before IPv6, and a
// third of the hashing); IPv6 ones both 16-byte addresses and the ports.
constexpr std::size_t kTupleKey = 36;
struct TupleKey {
  std::uint8_t b[kTupleKey];
  std::size_t n;
};
TupleKey tuple_key(const Addr& la, std::uint16_t lp, const Addr& ra, std::uint16_t rp) noexcept {
  TupleKey k;
  const std::uint32_t p = (std::uint32_t{lp} << 16) | rp;
  if (la.is_v4() && ra.is_v4()) {
    const std::uint32_t w[3] = {la.v4(), ra.v4(), p};
    std::memcpy(k.b, w, sizeof w);
    k.n = sizeof w;
  } else {
    std::memcpy(k.b, la.b, 16);
    std::memcpy(k.b + 16, ra.b, 16);
    std::memcpy(k.b + 32, &p, 4);
    k.n = kTupleKey;
  }
  return k;
}

unsigned log2_ceil(std::uint64_t v) {
  unsigned s = 0;
  while ((std::uint64_t{1} << s) < v) ++s;
  return s;
}

bool synchronized(State s) {
  return s >= State::established;
}

// Bytes of one transmit record ring (RFC 8985 §6.1): room for a full send
// buffer of MSS-sized segments plus slack, 64..4096 records.
std::size_t seg_ring_bytes(const Config& c) {
  const std::uint64_t chunk = std::uint64_t{1} << log2_ceil(c.chunk_size ? c.chunk_size : 1);
  const std::uint64_t chunks = std::min<std::uint64_t>(
      std::uint64_t{1} << log2_ceil(std::max<std::uint64_t>((c.sndbuf + chunk - 1) / chunk, 1)),
      SeqBuffer::kMaxChunks);
  const std::uint64_t segs = chunks * chunk / std::max<std::uint16_t>(c.mss, 64) + 16;
  const std::uint64_t n = std::clamp<std::uint64_t>(std::uint64_t{1} << log2_ceil(segs), 64, 4096);
  return static_cast<std::size_t>(n * sizeof(SentSeg));
}
}  // namespace

const char* state_name(State s) noexcept {
  static const char* const names[] = {"CLOSED",     "LISTEN",     "SYN_SENT",   "SYN_RECEIVED",
                                      "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
                                      "CLOSING",    "LAST_ACK",   "TIME_WAIT"};
  return names[static_cast<unsigned>(s)];
}

const char* error_name(Error e) noexcept {
  static const char* const names[] = {"none", "timeout", "refused", "reset", "aborted", "no_resources"};
  return names[static_cast<unsigned>(e)];
}

// --- construction and table ---------------------------------------------------

Stack::Stack(const Config& cfg, SegmentSink& sink, std::uint64_t now_us)
    : cfg_(cfg),
      sink_(sink),
      now_(now_us),
      wheel_(cfg.tick_us, now_us),
      pool_(cfg.chunk_size, cfg.max_chunks),
      seg_pool_(seg_ring_bytes(cfg), cfg.max_connections, 16),
      next_ephemeral_(cfg.ephemeral_lo) {
  if (cfg_.max_ooo_ranges > kMaxOoo) cfg_.max_ooo_ranges = kMaxOoo;
  seg_mask_ = static_cast<std::uint32_t>(seg_pool_.chunk_size() / sizeof(SentSeg)) - 1;
  if (cfg_.max_ooo_ranges == 0) cfg_.max_ooo_ranges = 1;
  if (cfg_.mss < 64) cfg_.mss = 64;
  auto chunks_for = [&](std::uint32_t bytes) {
    std::uint64_t n = (std::uint64_t{bytes} + pool_.chunk_size() - 1) / pool_.chunk_size();
    unsigned c = 1u << log2_ceil(n ? n : 1);
    return std::min(c, SeqBuffer::kMaxChunks);
  };
  snd_chunks_ = chunks_for(cfg_.sndbuf);
  rcv_chunks_ = chunks_for(cfg_.rcvbuf);
  // RFC 7323 §2.3: the smallest shift that lets the window cover the buffer.
  const std::uint64_t rcap = std::uint64_t{rcv_chunks_} * pool_.chunk_size();
  while (cfg_.window_scaling && rcv_wscale_ < 14 && (rcap >> rcv_wscale_) > 65535) ++rcv_wscale_;

  tcbs_.resize(cfg_.max_connections);
  free_.reserve(cfg_.max_connections);
  for (std::uint32_t i = cfg_.max_connections; i-- > 0;) {
    tcbs_[i].idx = i;
    tcbs_[i].t_rexmit.owner = tcbs_[i].t_delack.owner = tcbs_[i].t_wait.owner = i;
    tcbs_[i].t_rexmit.kind = kTimerRexmit;
    tcbs_[i].t_delack.kind = kTimerDelack;
    tcbs_[i].t_wait.kind = kTimerWait;
    free_.push_back(i);
  }
  const unsigned nb = 1u << log2_ceil(std::max<std::uint64_t>(2ull * cfg_.max_connections, 16));
  buckets_.assign(nb, kNil);
  src_buckets_.assign(nb, kNil);
  bucket_mask_ = nb - 1;
  table_key_ = SipKey{cfg_.secret.k0 ^ 0x5bd1e9955bd1e995ull, cfg_.secret.k1 + 0x9e3779b97f4a7c15ull};
  cookie_key_ = SipKey{cfg_.secret.k1 ^ 0x736f6d6570736575ull, cfg_.secret.k0 + 0x6c7967656e657261ull};
  if (cfg_.max_time_wait >= kTwIdBit) cfg_.max_time_wait = kTwIdBit - 1;
  if (cfg_.max_time_wait && cfg_.time_wait_us) {
    tw_.resize(cfg_.max_time_wait);
    const unsigned tb = 1u << log2_ceil(std::max<std::uint64_t>(2ull * cfg_.max_time_wait, 16));
    tw_buckets_.assign(tb, kNil);
    tw_mask_ = tb - 1;
  }
}

Stack::~Stack() {
  for (auto& t : tcbs_) {
    wheel_.cancel(t.t_rexmit);
    wheel_.cancel(t.t_delack);
    wheel_.cancel(t.t_wait);
    t.sndbuf.release_all(pool_);
    t.rcvbuf.release_all(pool_);
    seg_free(t);
  }
}

std::uint32_t Stack::bucket(const Addr& la, std::uint16_t lp, const Addr& ra,
                            std::uint16_t rp) const noexcept {
  const TupleKey k = tuple_key(la, lp, ra, rp);
  return static_cast<std::uint32_t>(siphash13(table_key_, k.b, k.n)) & bucket_mask_;
}

std::uint32_t Stack::src_bucket(const Addr& raddr) const noexcept {
  if (raddr.is_v4()) {
    const std::uint32_t v4 = raddr.v4();
    return static_cast<std::uint32_t>(siphash13(table_key_, &v4, sizeof v4)) & bucket_mask_;
  }
  return static_cast<std::uint32_t>(siphash13(table_key_, raddr.b, sizeof raddr.b)) & bucket_mask_;
}

// Connections from `raddr`, counted up to `limit` (the walk stops there).
std::uint32_t Stack::count_from(const Addr& raddr, std::uint32_t limit) const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = src_buckets_[src_bucket(raddr)]; i != kNil && n < limit; i = tcbs_[i].snext)
    n += tcbs_[i].raddr == raddr;
  return n;
}

Tcb* Stack::lookup(const Addr& la, std::uint16_t lp, const Addr& ra, std::uint16_t rp) {
  for (std::uint32_t i = buckets_[bucket(la, lp, ra, rp)]; i != kNil; i = tcbs_[i].hnext) {
    Tcb& t = tcbs_[i];
    if (t.laddr == la && t.raddr == ra && t.lport == lp && t.rport == rp) return &t;
  }
  return nullptr;
}

Tcb* Stack::alloc_tcb(const Addr& la, std::uint16_t lp, const Addr& ra, std::uint16_t rp) {
  if (free_.empty()) return nullptr;
  const std::uint32_t i = free_.back();
  free_.pop_back();
  Tcb& t = tcbs_[i];
  const std::uint32_t gen = t.gen;
  // Timers and buffers are already idle; reset everything else.
  t.~Tcb();
  new (&t) Tcb();
  t.idx = i;
  t.gen = gen;
  t.used = true;
  t.t_rexmit.owner = t.t_delack.owner = t.t_wait.owner = i;
  t.t_rexmit.kind = kTimerRexmit;
  t.t_delack.kind = kTimerDelack;
  t.t_wait.kind = kTimerWait;
  t.laddr = la;
  t.lport = lp;
  t.raddr = ra;
  t.rport = rp;
  t.sndbuf.configure(snd_chunks_, pool_.chunk_shift());
  t.rcvbuf.configure(rcv_chunks_, pool_.chunk_shift());
  t.rto_us = cfg_.rto_initial_us;
  t.ssthresh = 0xffffffffu;  // RFC 5681 §3.1: arbitrarily high
  const std::uint32_t b = bucket(la, lp, ra, rp);
  t.hnext = buckets_[b];
  buckets_[b] = i;
  const std::uint32_t sb = src_bucket(ra);
  t.snext = src_buckets_[sb];
  src_buckets_[sb] = i;
  ++active_;
  return &t;
}

void Stack::release(Tcb& t) {
  wheel_.cancel(t.t_rexmit);
  wheel_.cancel(t.t_delack);
  wheel_.cancel(t.t_wait);
  t.sndbuf.release_all(pool_);
  t.rcvbuf.release_all(pool_);
  seg_free(t);
  std::uint32_t* p = &buckets_[bucket(t.laddr, t.lport, t.raddr, t.rport)];
  while (*p != t.idx) p = &tcbs_[*p].hnext;
  *p = t.hnext;
  t.hnext = kNil;
  std::uint32_t* q = &src_buckets_[src_bucket(t.raddr)];
  while (*q != t.idx) q = &tcbs_[*q].snext;
  *q = t.snext;
  t.snext = kNil;
  t.state = State::closed;
  t.handler = nullptr;
  t.used = false;
  ++t.gen;
  free_.push_back(t.idx);
  --active_;
  ++ctr_.closed;
}

Tcb* Stack::get(ConnId id) noexcept {
  if (id.idx >= tcbs_.size()) return nullptr;
  Tcb& t = tcbs_[id.idx];
  // Calls from the layer above (write, peek, consume) go on to use the
  // block's hot lines: with thousands of connections they are seldom in
  // cache, so they are fetched together rather than one miss at a time.
  const char* p = reinterpret_cast<const char*>(&t);
  for (std::size_t off = 0; off < kTcbHotEnd; off += 64) __builtin_prefetch(p + off);
  __builtin_prefetch(&t.rcvbuf);
  return t.used && t.gen == id.gen ? &t : nullptr;
}

const Tcb* Stack::get(ConnId id) const noexcept { return const_cast<Stack*>(this)->get(id); }

// The exact address first, then the wildcard of the segment's family
// (0.0.0.0 takes IPv4 only), then :: (either family).
Listener* Stack::find_listener(const Addr& ip, std::uint16_t port) const noexcept {
  Listener* any = nullptr;
  Listener* dual = nullptr;
  for (const auto& e : listeners_) {
    if (e.port != port) continue;
    if (e.ip == ip) return e.l;
    if (e.ip.v4_any() && ip.is_v4()) any = e.l;
    if (e.ip.v6_any()) dual = e.l;
  }
  return any ? any : dual;
}

// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
// M a 4 µs clock. The other half of the hash offsets the timestamp clock
// per connection (RFC 7323 §5.4).
Seq Stack::isn(const Addr& la, std::uint16_t lp, const Addr& ra, std::uint16_t rp,
               std::uint32_t* ts_offset) const noexcept {
  const TupleKey k = tuple_key(la, lp, ra, rp);
  const std::uint64_t f = siphash24(cfg_.secret, k.b, k.n);
  if (ts_offset) *ts_offset = static_cast<std::uint32_t>(f >> 32);
  return Seq(static_cast<std::uint32_t>(now_ / 4) + static_cast<std::uint32_t>(f));
}

// --- output -------------------------------------------------------------------

std::uint16_t Stack::advertise_window(Tcb& t, bool syn) {
  const Seq limit = t.rcvbuf.limit(t.read_pos);
  std::uint32_t room = limit > t.rcv_nxt ? seq_dist(t.rcv_nxt, limit) : 0;
  if (syn) {
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    room = std::min<std::uint32_t>(room, 65535);
    t.rcv_adv = t.rcv_nxt + room;
    return static_cast<std::uint16_t>(room);
  }
  room = std::min<std::uint32_t>(room, 65535u << t.rcv_wscale);
  Seq edge = t.rcv_nxt + room;
  // RFC 9293 §3.8.6.2.2 receiver SWS avoidance: move the right edge only by
  // min(buffer/2, MSS) or more.
  const std::uint32_t step = std::min<std::uint32_t>(t.rcvbuf.capacity() / 2, t.smss);
  if (t.rcv_adv > t.rcv_nxt && edge > t.rcv_adv && seq_dist(t.rcv_adv, edge) < step) edge = t.rcv_adv;
  // Never shrink an advertised window (RFC 9293 §3.8.6.2.2).
  if (edge < t.rcv_adv) edge = t.rcv_adv;
  std::uint32_t win = seq_dist(t.rcv_nxt, edge) >> t.rcv_wscale;
  if (win > 65535) win = 65535;
  const Seq adv = t.rcv_nxt + (win << t.rcv_wscale);
  if (adv > t.rcv_adv) t.rcv_adv = adv;
  return static_cast<std::uint16_t>(win);
}

bool Stack::emit(Tcb& t, Seq seq, std::uint32_t len, std::uint8_t flags) {
  OptionsOut o;
  const bool syn = flags & flag::syn;
  if (syn) {
    o.mss = true;
    o.mss_value = local_mss(t);
    // RFC 7323 §2.2 / RFC 2018 §2: offered in our SYN, echoed in the SYN-ACK
    // only when the peer offered them.
    const bool offer = t.state == State::syn_sent;
    o.wscale = offer ? cfg_.window_scaling : t.ws_offered;
    o.wscale_value = t.rcv_wscale;
    o.sack_permitted = offer ? cfg_.sack : t.sack_on;
    o.ts = offer ? cfg_.timestamps : t.ts_on;
  } else {
    o.ts = t.ts_on;
  }
  if (o.ts) {
    o.ts_val = ts_now(t);
    o.ts_ecr = (flags & flag::ack) ? t.ts_recent : 0;
  }
  // RFC 2018 §4: SACK blocks on ACKs while holes exist, most recent first;
  // a D-SACK before them (RFC 2883 §4).
  if (t.sack_on && (t.ooo_count || t.dsack_pending) && (flags & flag::ack) && !syn) {
    const std::size_t base = options_size(o);
    unsigned room = static_cast<unsigned>((40 - base - 4) / 8);
    // Data segments carry blocks only if the segment still fits the MSS.
    while (room && len && len + base + 4 + 8 * room > t.peer_mss) --room;
    if (room > kMaxSackBlocks) room = kMaxSackBlocks;
    unsigned n = 0;
    unsigned held = kMaxOoo;  // the queued range holding the duplicate, if any
    if (t.dsack_pending && room) {
      // The duplicate first, then the (larger) block it lies in, then the rest.
      t.dsack_pending = false;
      ++ctr_.tx_dsacks;
      o.sack[n++] = {t.dsack.left, t.dsack.right};
      for (unsigned i = 0; i < t.ooo_count; ++i)
        if (t.ooo[i].left <= t.dsack.left && t.dsack.right <= t.ooo[i].right) {
          held = i;
          if (n < room) o.sack[n++] = {t.ooo[i].left, t.ooo[i].right};
          break;
        }
    }
    if (n < room && t.ooo_count && t.ooo_latest != held)
      o.sack[n++] = {t.ooo[t.ooo_latest].left, t.ooo[t.ooo_latest].right};
    for (unsigned i = 0; i < t.ooo_count && n < room; ++i)
      if (i != t.ooo_latest && i != held) o.sack[n++] = {t.ooo[i].left, t.ooo[i].right};
    o.sack_count = static_cast<std::uint8_t>(n);
  }
  const std::uint16_t win = advertise_window(t, syn);
  const std::size_t hlen = kHeaderMin + options_size(o);
  void* handle = nullptr;
  std::uint8_t* p = sink_.alloc(hlen + len, &handle);
  if (!p) {
    ++ctr_.tx_alloc_fail;
    return false;
  }
  HeaderOut h{.src_port = t.lport, .dst_port = t.rport, .seq = seq, .ack = t.rcv_nxt, .flags = flags,
              .window = win};
  if (!(flags & flag::ack)) h.ack = Seq(0);
  build_header(p, h, o);
  if (len) t.sndbuf.read(seq, p + hlen, len);
  const std::size_t total = hlen + len;
  net::store_be16(p + 16, cfg_.tx_checksum_offload ? tcp_pseudo_checksum(t.laddr, t.raddr, total)
                                                   : tcp_checksum(t.laddr, t.raddr, p, total));
  sink_.send(handle, t.laddr, t.raddr, total);
  ++ctr_.tx_segments;
  ctr_.tx_bytes += len;
  if (flags & flag::ack) {
    t.last_ack_sent = t.rcv_nxt;
    t.ack_now = false;
    t.unacked_segs = 0;
    wheel_.disarm(t.t_delack);  // left linked: the next segment re-arms it in place
  }
  return true;
}

void Stack::send_rst(const Addr& src, const Addr& dst, std::uint16_t sport, std::uint16_t dport,
                     Seq seq, Seq ack, bool with_ack) {
  void* handle = nullptr;
  std::uint8_t* p = sink_.alloc(kHeaderMin, &handle);
  if (!p) {
    ++ctr_.tx_alloc_fail;
    return;
  }
  HeaderOut h{.src_port = sport, .dst_port = dport, .seq = seq, .ack = with_ack ? ack : Seq(0),
              .flags = static_cast<std::uint8_t>(flag::rst | (with_ack ? flag::ack : 0)), .window = 0};
  build_header(p, h, OptionsOut{});
  net::store_be16(p + 16, cfg_.tx_checksum_offload ? tcp_pseudo_checksum(src, dst, kHeaderMin)
                                                   : tcp_checksum(src, dst, p, kHeaderMin));
  sink_.send(handle, src, dst, kHeaderMin);
  ++ctr_.tx_segments;
  ++ctr_.tx_rst;
}

// RFC 9293 §3.10.7.1: a segment for no connection draws a RST, never one for a RST.
void Stack::reply_rst(const SegmentIn& seg, const Header& h) {
  if (h.has(flag::rst)) return;
  if (h.has(flag::ack)) {
    send_rst(seg.dst, seg.src, h.dst_port, h.src_port, h.ack, Seq(0), false);
  } else {
    const std::uint32_t seglen = static_cast<std::uint32_t>(h.payload_len) + h.has(flag::syn) +
                                 h.has(flag::fin);
    send_rst(seg.dst, seg.src, h.dst_port, h.src_port, Seq(0), h.seq + seglen, true);
  }
}

// RFC 5961 §3.2/§4/§5.2 challenge ACK, rate-limited per worker (§7).
bool Stack::challenge_allowed() noexcept {
  if (now_ - chack_window_start_ >= 1'000'000) {
    chack_window_start_ = now_;
    chack_count_ = 0;
  }
  if (++chack_count_ > cfg_.challenge_ack_per_sec) {
    ++ctr_.challenge_acks_limited;
    return false;
  }
  ++ctr_.challenge_acks;
  return true;
}

void Stack::challenge_ack(Tcb& t) {
  if (challenge_allowed()) send_ack(t);
}

void Stack::arm_rto(Tcb& t) {
  std::uint64_t rto = std::uint64_t{t.rto_us} << t.backoff;
  if (rto > cfg_.rto_max_us) rto = cfg_.rto_max_us;
  t.rto_at = now_ + rto;
  t.tmode = kModeRto;
  wheel_.arm(t.t_rexmit, t.rto_at);
}

// Sends what the windows allow (RFC 5681 §3, RFC 9293 §3.8.6.2.1 sender SWS).
void Stack::output(Tcb& t, bool force) {
  switch (t.state) {
    case State::established:
    case State::close_wait:
    case State::fin_wait_1:
    case State::closing:
    case State::last_ack:
      break;
    default:
      return;
  }
  if (t.in_recovery && t.sack_on) {
    sack_output(t);
    return;
  }
  const bool rack = rack_on(t);
  bool sent_new = false;
  for (;;) {
    if (t.snd_nxt < t.snd_una) t.snd_nxt = t.snd_una;
    if (rack) t.snd_nxt = t.snd_max;  // RACK resends by record (sack.cpp), never go-back-N
    const std::uint32_t in_flight = seq_dist(t.snd_una, t.snd_nxt);
    // RFC 3042 limited transmit: one new segment per early duplicate ACK.
    const std::uint32_t cw = t.cwnd + (t.in_recovery ? 0 : std::uint32_t{t.dupacks} * t.smss);
    const std::uint32_t win = std::min(t.snd_wnd, cw);
    const std::uint32_t usable = win > in_flight ? win - in_flight : 0;
    const std::uint32_t avail = t.snd_nxt < t.snd_end ? seq_dist(t.snd_nxt, t.snd_end) : 0;
    std::uint32_t len = std::min<std::uint32_t>({avail, t.smss, usable});
    const bool fin_pending = t.wr_shutdown && t.snd_nxt <= t.snd_end;
    const bool fin = fin_pending && t.snd_nxt + len == t.snd_end;
    if (len == 0 && !fin) break;
    if (force) {
      force = false;  // RFC 9293 §3.8.6.2.1 override timeout: send what fits
    } else if (len && len < t.smss && len < avail) {
      // Sender SWS: a partial segment only when it is at least half the
      // largest window the peer offered.
      if (len < t.max_snd_wnd / 2) break;
    } else if (len && len < t.smss && cfg_.nagle && in_flight) {
      break;  // RFC 9293 §3.7.4 Nagle: one small segment in flight
    }
    std::uint8_t fl = flag::ack;
    if (len && len == avail) fl |= flag::psh;
    if (fin) fl |= flag::fin;
    const Seq seq = t.snd_nxt;
    const bool retrans = seq < t.snd_max;
    if (rack) {
      if (!send_new(t, seq, len, fl)) break;
      sent_new = true;
    } else if (!emit(t, seq, len, fl)) {
      break;
    }
    if (retrans) {
      ++ctr_.retransmits;
      ++t.retransmits;
    }
    if (t.in_recovery && !rack) t.prr_out += len + (fin ? 1 : 0);  // NewReno's PRR (RFC 6937 §3.1)
    t.snd_nxt += len + (fin ? 1 : 0);
    if (t.snd_nxt > t.snd_max) t.snd_max = t.snd_nxt;
    // RFC 6298 §3 timing of one segment at a time when timestamps are off;
    // Karn: never time a retransmission.
    if (!t.ts_on && !t.rtt_timing && !retrans) {
      t.rtt_timing = true;
      t.rtt_seq = seq;
      t.rtt_start = now_;
    }
    if (!t.t_rexmit.armed() || t.persist) {  // RFC 6298 §5.1
      t.persist = false;
      t.backoff = 0;
      arm_rto(t);
    }
    if (fin) break;
  }
  // RFC 8985 §7.2: (re)start the probe timer after new data.
  if (sent_new && tlp_eligible(t)) tlp_arm(t);
  // RFC 9293 §3.8.6.1: nothing in flight, data waiting, window closed (or
  // too small to use): the persist timer probes or overrides.
  if (t.snd_una == t.snd_max && t.snd_nxt < t.snd_end && !t.t_rexmit.armed()) {
    t.persist = true;
    arm_rto(t);
  }
}

// RFC 6298 §5.4 / RFC 5681 §3.2: the earliest segment not acknowledged, but
// only as far as it was sent (SND.MAX). Bytes queued behind it are new data
// for output() under the windows; sending them here would leave SND.MAX
// behind, and the peer's ACK for them would be dropped as "too new" (RFC 5961
// §5.2) at every RTO until the connection times out.
Seq Stack::retransmit_first(Tcb& t) {
  std::uint32_t len = 0;
  const Seq lo = data_lo(t);
  const Seq sent = seq_min(t.snd_max, t.snd_end);
  if (lo < sent) len = std::min<std::uint32_t>(seq_dist(lo, sent), t.smss);
  const bool fin = t.wr_shutdown && lo + len == t.snd_end && t.snd_max > t.snd_end;
  std::uint8_t fl = flag::ack | (fin ? flag::fin : 0);
  if (len == 0 && !fin) return lo;
  if (emit(t, lo, len, fl)) {
    ++ctr_.retransmits;
    ++t.retransmits;
  }
  if (t.rtt_timing && t.rtt_seq >= t.snd_una) t.rtt_timing = false;  // Karn
  return lo + len + (fin ? 1 : 0);
}

void Stack::maybe_window_update(Tcb& t) {
  if (!synchronized(t.state) || t.peer_fin) return;
  const Seq limit = t.rcvbuf.limit(t.read_pos);
  const Seq edge = seq_min(limit, t.rcv_nxt + (65535u << t.rcv_wscale));
  // RFC 9293 §3.8.6.2.2 / RFC 1122 4.2.3.3: a window update only moves the
  // edge by min(buffer/2, MSS) or more. It is worth its own segment only when
  // the window the peer still sees has shrunk to half the buffer or less and
  // the update at least doubles it; otherwise the next (delayed) ACK carries it.
  if (!(edge > t.rcv_adv)) return;
  const std::uint32_t step = std::min<std::uint32_t>(t.rcvbuf.capacity() / 2, t.smss);
  if (seq_dist(t.rcv_adv, edge) < step) return;
  const std::uint32_t remaining = t.rcv_adv > t.rcv_nxt ? seq_dist(t.rcv_nxt, t.rcv_adv) : 0;
  const std::uint32_t offered = seq_dist(t.rcv_nxt, edge);
  if (remaining <= t.rcvbuf.capacity() / 2 && offered >= 2 * remaining) t.ack_now = true;
}

// --- timers -------------------------------------------------------------------

void Stack::poll_timers(std::uint64_t now_us) {
  if (now_us > now_) now_ = now_us;
  wheel_.advance(now_, [this](Timer& tm) { on_timer(tm); });
  if (tw_count_) tw_expire();
}

void Stack::on_timer(Timer& tm) {
  Tcb& t = tcbs_[tm.owner];
  switch (tm.kind) {
    case kTimerDelack:
      if (t.ack_now || t.unacked_segs) {
        ++ctr_.tx_delayed_acks;
        send_ack(t);
      }
      break;
    case kTimerWait:
      if (t.linger && t.app_closed && t.state != State::time_wait) {
        // The peer had its time to read our last words and close: reset.
        ++ctr_.linger_timeouts;
        do_abort(t, Term::aborted);
        break;
      }
      // TIME_WAIT 2MSL (RFC 9293 §3.10.8) or an orphaned FIN_WAIT_2.
      if (t.state == State::time_wait || t.state == State::fin_wait_2)
        to_closed(t, Term::closed);
      else if (t.state == State::established || t.state == State::close_wait)
        on_keepalive(t);
      break;
    case kTimerRexmit:
      on_rto(t);
      break;
  }
  finish(t);
}

void Stack::on_rto(Tcb& t) {
  if (t.state == State::syn_sent || t.state == State::syn_received) {
    const unsigned limit = t.state == State::syn_sent ? cfg_.syn_retries : cfg_.synack_retries;
    if (t.backoff >= limit) {
      ++ctr_.timeouts;
      to_closed(t, t.state == State::syn_sent ? Term::timeout : Term::closed);
      return;
    }
    ++t.backoff;
    if (t.state == State::syn_received) ++ctr_.synack_retransmits;
    ++ctr_.retransmits;
    ++t.retransmits;
    t.rtt_timing = false;  // Karn
    emit(t, t.iss, 0, t.state == State::syn_sent ? flag::syn : flag::syn | flag::ack);
    arm_rto(t);
    return;
  }
  if (t.persist) {
    // RFC 9293 §3.8.6.1 zero-window probe. An old sequence number makes any
    // receiver answer with an ACK carrying its window (§3.10.7.4).
    if (t.snd_wnd > 0) {  // window open but below the SWS threshold
      t.persist = false;
      t.backoff = 0;
      output(t, true);
      return;
    }
    ++ctr_.persist_probes;
    emit(t, t.snd_una - 1, 0, flag::ack);
    if (t.backoff < 12) ++t.backoff;
    arm_rto(t);
    return;
  }
  if (t.snd_una == t.snd_max) return;  // nothing outstanding
  if (rack_on(t) && t.tmode != kModeRto) {
    rack_timer(t);
    return;
  }
  if (t.backoff >= cfg_.max_retries) {
    ++ctr_.timeouts;
    do_abort(t, Term::timeout);
    return;
  }
  if (rack_on(t)) {
    rack_rto(t);
    return;
  }
  ++ctr_.rto_timeouts;
  t.undo_on = false;  // RTO episodes are not undone (no F-RTO, RFC 5682)
  // RFC 5681 §3.1 eq. (4) on the first timeout; RFC 6298 §5.5 back off.
  if (t.backoff == 0) t.ssthresh = reduce(t);
  t.cwnd = t.smss;  // loss window
  t.ca_acc = 0;
  t.in_recovery = false;
  t.dupacks = 0;
  t.recover = t.snd_max;  // RFC 6582 §3.2 step 4
  t.rtt_timing = false;   // Karn
  if (t.backoff < 30) ++t.backoff;
  // Go back: resend from the oldest unacknowledged byte (RFC 6298 §5.4).
  t.snd_nxt = seq_max(retransmit_first(t), t.snd_una);
  arm_rto(t);
}

// RFC 1122 4.2.3.6 keep-alive: after an idle period, probe with an old
// sequence number (any live peer answers with an ACK); give up after N probes.
void Stack::on_keepalive(Tcb& t) {
  if (cfg_.keepalive_idle_us == 0) return;
  if (t.snd_una != t.snd_max || now_ - t.last_rx_us < cfg_.keepalive_idle_us) {
    // Busy (the RTO watches outstanding data) or heard from recently.
    if (t.snd_una == t.snd_max) t.ka_probes = 0;
    wheel_.arm(t.t_wait, std::max(now_ + 1, t.last_rx_us + cfg_.keepalive_idle_us));
    return;
  }
  if (t.ka_probes >= cfg_.keepalive_probes) {
    ++ctr_.keepalive_timeouts;
    do_abort(t, Term::timeout);
    return;
  }
  ++t.ka_probes;
  ++ctr_.keepalive_probes;
  emit(t, t.snd_una - 1, 0, flag::ack);
  wheel_.arm(t.t_wait, now_ + cfg_.keepalive_interval_us);
}

void Stack::established(Tcb& t) {
  t.state = State::established;
  t.last_rx_us = now_;
  if (cfg_.keepalive_idle_us) wheel_.arm(t.t_wait, now_ + cfg_.keepalive_idle_us);
}

// ssthresh after a congestion event: RFC 5681 eq. (4), or CUBIC's beta (RFC 9438 §4.6).
std::uint32_t Stack::reduce(Tcb& t) {
  if (cfg_.cc == CongestionControl::cubic) return t.cubic.on_congestion(t.cwnd, t.smss);
  return std::max<std::uint32_t>(flight(t) / 2, 2u * t.smss);
}

// RFC 6298 §2.2-2.4.
void Stack::rtt_sample(Tcb& t, std::uint64_t r) {
  if (r > 60'000'000) return;
  const std::uint32_t r32 = static_cast<std::uint32_t>(r);
  if (t.srtt_us == 0) {
    t.srtt_us = r32 ? r32 : 1;
    t.rttvar_us = r32 / 2;
  } else {
    const std::uint32_t diff = t.srtt_us > r32 ? t.srtt_us - r32 : r32 - t.srtt_us;
    t.rttvar_us = (3 * t.rttvar_us + diff) / 4;
    t.srtt_us = (7 * t.srtt_us + r32) / 8;
    if (t.srtt_us == 0) t.srtt_us = 1;
  }
  std::uint64_t rto = t.srtt_us + std::max<std::uint64_t>(cfg_.tick_us, 4ull * t.rttvar_us);
  rto = std::clamp<std::uint64_t>(rto, cfg_.rto_min_us, cfg_.rto_max_us);
  t.rto_us = static_cast<std::uint32_t>(rto);
}

void Stack::enter_time_wait(Tcb& t) {
  t.state = State::time_wait;
  t.events |= kEvClosed;
  wheel_.cancel(t.t_rexmit);
  wheel_.cancel(t.t_delack);
  t.sndbuf.release_all(pool_);
  seg_free(t);
  wheel_.arm(t.t_wait, now_ + cfg_.time_wait_us);
}

void Stack::to_closed(Tcb& t, Term why) {
  if (t.state == State::syn_received && t.passive && half_open_) --half_open_;
  t.state = State::closed;
  if (t.term == Term::none) t.term = why;
  wheel_.cancel(t.t_rexmit);
  wheel_.cancel(t.t_delack);
  wheel_.cancel(t.t_wait);
  t.ack_now = false;
}

void Stack::do_abort(Tcb& t, Term why) {
  // RFC 9293 §3.10.5: RST from synchronized states and SYN_RECEIVED.
  if (t.state != State::syn_sent && t.state != State::closed && t.state != State::time_wait)
    send_rst(t.laddr, t.raddr, t.lport, t.rport, t.snd_max, Seq(0), false);
  to_closed(t, why);
}

// Delivers pending events, then releases a closed block. Re-entrant: API calls
// made from callbacks only mark state; the outermost call finishes.
void Stack::finish(Tcb& t) {
  if (t.in_dispatch) return;
  t.in_dispatch = true;
  const ConnId id = id_of(t);
  while (t.events) {
    const std::uint8_t ev = t.events;
    t.events = 0;
    if (ev & kEvAccept) {
      ConnHandler* h = t.listener ? t.listener->on_accept(*this, id) : nullptr;
      if (!h) {
        ++ctr_.refused_by_app;
        do_abort(t, Term::aborted);
        break;
      }
      if (t.state != State::closed && !t.app_closed) t.handler = h;
    }
    if (!t.handler) continue;
    if (ev & kEvConnected) t.handler->on_connected(*this, id);
    if (t.handler && (ev & kEvReadable)) t.handler->on_readable(*this, id);
    if (t.handler && (ev & kEvPeerClosed)) t.handler->on_peer_closed(*this, id);
    if (t.handler && (ev & kEvWritable)) t.handler->on_writable(*this, id);
    if (t.handler && (ev & kEvClosed)) {  // both directions done (TIME_WAIT)
      ConnHandler* h = t.handler;
      t.handler = nullptr;
      h->on_closed(*this, id);
    }
  }
  if (t.state != State::closed && t.ack_now) send_ack(t);
  if (t.state == State::time_wait && !t.handler && !t.events) {
    // Nobody reads this connection any more: from here on TIME_WAIT needs
    // only the 4-tuple, sequence numbers and timestamps. Hand the control
    // block back so TIME_WAIT never costs a new connection its block.
    if (t.skip_tw)
      ++ctr_.time_wait_skipped;
    else if (!tw_.empty())
      tw_insert(t);
    release(t);
  } else if (t.state == State::closed) {
    if (ConnHandler* h = t.handler) {
      t.handler = nullptr;
      switch (t.term) {
        case Term::reset: h->on_reset(*this, id); break;
        case Term::timeout: h->on_error(*this, id, Error::timeout); break;
        case Term::refused: h->on_error(*this, id, Error::refused); break;
        case Term::aborted: h->on_error(*this, id, Error::aborted); break;
        default: h->on_closed(*this, id); break;
      }
    }
    release(t);
  }
  t.in_dispatch = false;
}

// --- input --------------------------------------------------------------------

void Stack::input(const SegmentIn& seg, std::uint64_t now_us) {
  if (now_us > now_) now_ = now_us;
  ++ctr_.rx_segments;
  // With thousands of connections their state is seldom in cache: the hash
  // chain's head is fetched while the checksum is summed and the header
  // parsed (the ports are the segment's first 4 bytes).
  std::uint32_t b = kNil;
  if (seg.len >= 4) {
    b = bucket(seg.dst, net::load_be16(seg.data + 2), seg.src, net::load_be16(seg.data));
    __builtin_prefetch(&buckets_[b]);
  }
  if (!seg.csum_verified && !tcp_checksum_ok(seg.src, seg.dst, seg.data, seg.len)) {
    ++ctr_.rx_bad_checksum;
    return;
  }
  Header h;
  if (parse_header(seg.data, seg.len, h) != ParseError::ok) {
    ++ctr_.rx_malformed;
    return;
  }
  if (h.opt.malformed) ++ctr_.rx_bad_options;
  Tcb* t = nullptr;  // lookup() in the chain already fetched (a parsed header is >= 20 bytes)
  for (std::uint32_t i = buckets_[b]; i != kNil; i = tcbs_[i].hnext)
    if (tcbs_[i].laddr == seg.dst && tcbs_[i].raddr == seg.src && tcbs_[i].lport == h.dst_port &&
        tcbs_[i].rport == h.src_port) {
      t = &tcbs_[i];
      // The record of the oldest segment in flight (the ACK's RACK and RTT
      // work), the handler (data, events) and the hot rest of its control
      // block (tcb.hpp) are fetched together, not one miss after the other;
      // the first two from pointers in the line just compared. The cold
      // lines are left alone.
      if (t->seg_count) __builtin_prefetch(&this->seg(*t, 0));
      if (t->handler) {
        __builtin_prefetch(t->handler);
        __builtin_prefetch(reinterpret_cast<const char*>(t->handler) + 64);
      }
      const char* tcb = reinterpret_cast<const char*>(t);
      for (std::size_t off = 64; off < kTcbHotEnd; off += 64) __builtin_prefetch(tcb + off);
      __builtin_prefetch(&t->rcvbuf);
      break;
    }
  if (!t && tw_live_) {
    const std::uint32_t w = tw_lookup(seg.dst, h.dst_port, seg.src, h.src_port);
    if (w != kNil) {
      on_time_wait(w, seg, h);
      return;
    }
  }
  if (!t) {
    if (Listener* l = find_listener(seg.dst, h.dst_port)) {
      on_listen(*l, seg, h);
    } else {
      ++ctr_.rx_no_conn;
      reply_rst(seg, h);
    }
    return;
  }
  if (t->state == State::syn_sent)
    on_syn_sent(*t, h);
  else
    on_segment(*t, h);
  output(*t);
  finish(*t);
}

// Window scale, SACK, timestamps and MSS from a SYN (RFC 7323 §2.2, §3.2;
// RFC 2018 §2; RFC 9293 §3.7.1).
void Stack::negotiate(Tcb& t, const Header& h) {
  std::uint16_t mss = h.opt.has_mss ? h.opt.mss : kDefaultMss;
  if (mss < 64) mss = 64;  // a tiny MSS is a resource attack; floor it
  t.peer_mss = std::min(mss, local_mss(t));
  if (h.opt.has_wscale && cfg_.window_scaling) {
    t.snd_wscale = std::min<std::uint8_t>(h.opt.wscale, 14);  // RFC 7323 §2.3
    t.rcv_wscale = rcv_wscale_;
    t.ws_offered = true;
  } else {
    t.snd_wscale = t.rcv_wscale = 0;
  }
  t.sack_on = h.opt.sack_permitted && cfg_.sack;
  t.ts_on = h.opt.has_ts && cfg_.timestamps;
  if (t.ts_on) {
    t.ts_recent = h.opt.ts_val;
    t.ts_recent_us = now_;
  }
  // RFC 6691: data per segment is the MSS less the options we always send.
  t.smss = static_cast<std::uint16_t>(t.peer_mss - (t.ts_on ? 12 : 0));
  // RFC 5681 §3.1 / RFC 6928: IW10.
  t.cwnd = std::uint32_t{cfg_.init_cwnd_segments} * t.smss;
}

// A passive block in SYN_RECEIVED for the SYN `syn` (real, or rebuilt from a cookie).
void Stack::init_passive(Tcb& t, Listener& l, const Header& syn, Seq iss) {
  t.passive = true;
  t.listener = &l;
  t.state = State::syn_received;
  t.irs = syn.seq;
  t.rcv_nxt = t.rcv_data = t.read_pos = syn.seq + 1;
  // What the SYN-ACK offers (unscaled, RFC 7323 §2.2); emit() recomputes it.
  t.rcv_adv = t.rcv_nxt + std::min<std::uint32_t>(65535, t.rcvbuf.capacity());
  std::uint32_t ts_off = 0;
  const Seq fresh = isn(t.laddr, t.lport, t.raddr, t.rport, &ts_off);
  t.ts_offset = ts_off;
  t.iss = iss == Seq(0) ? fresh : iss;
  t.snd_una = t.iss;
  t.snd_nxt = t.snd_max = t.iss + 1;
  t.snd_end = t.iss + 1;
  t.recover = t.iss;
  t.rtt_start = now_;
  negotiate(t, syn);
  t.snd_wnd = syn.window;  // RFC 7323 §2.2: unscaled in a SYN
  t.max_snd_wnd = t.snd_wnd;
  t.snd_wl1 = syn.seq;
  t.snd_wl2 = t.iss;
}

// SYN cookies (RFC 4987 §3.6). 32 bits of ISN:
//   5 bits time slot (64 s) | 3 bits MSS index | 4 bits peer window shift
//   (15 = none) | 1 bit SACK-permitted | 19 bits MAC over the 4-tuple, the
//   peer's ISN, the slot and those option bits.
// Timestamps need no bit: the peer echoes them in the ACK only if both sides
// offered them, and our TS clock offset is a function of the 4-tuple.
namespace {
constexpr std::uint16_t kCookieMss[8] = {216, 536, 1024, 1200, 1360, 1440, 1452, 1460};
constexpr std::uint64_t kCookieSlotUs = 64'000'000;
}  // namespace

std::uint32_t Stack::cookie_mac(const SegmentIn& seg, const Header& h, Seq peer_isn, std::uint32_t slot,
                                std::uint32_t bits) const noexcept {
  // The 16-byte addresses of either family (IPv4-mapped for IPv4).
  std::uint8_t k[kTupleKey + 12];
  const TupleKey tk = tuple_key(seg.dst, h.dst_port, seg.src, h.src_port);
  std::memcpy(k, tk.b, tk.n);
  const std::uint32_t w[3] = {peer_isn.raw(), slot, bits};
  std::memcpy(k + tk.n, w, sizeof w);
  return static_cast<std::uint32_t>(siphash24(cookie_key_, k, tk.n + sizeof w)) & 0x7ffff;
}

Seq Stack::make_cookie(const SegmentIn& seg, const Header& h) const noexcept {
  const std::uint16_t mss = h.opt.has_mss ? h.opt.mss : kDefaultMss;
  std::uint32_t mi = 0;
  while (mi < 7 && kCookieMss[mi + 1] <= mss) ++mi;
  const std::uint32_t ws = h.opt.has_wscale && cfg_.window_scaling ? std::min<std::uint8_t>(h.opt.wscale, 14) : 15;
  const std::uint32_t sack = h.opt.sack_permitted && cfg_.sack ? 1 : 0;
  const std::uint32_t bits = mi | (ws << 3) | (sack << 7);
  const std::uint32_t slot = static_cast<std::uint32_t>(now_ / kCookieSlotUs);
  return Seq(((slot & 31) << 27) | (bits << 19) | cookie_mac(seg, h, h.seq, slot, bits));
}

bool Stack::check_cookie(const SegmentIn& seg, const Header& h, Header& syn) const noexcept {
  const std::uint32_t c = (h.ack - 1).raw();
  const std::uint32_t bits = (c >> 19) & 0xff;
  const std::uint32_t cur = static_cast<std::uint32_t>(now_ / kCookieSlotUs);
  for (std::uint32_t slot : {cur, cur - 1}) {  // valid for 64 to 128 s
    if ((slot & 31) != (c >> 27) || cookie_mac(seg, h, h.seq - 1, slot, bits) != (c & 0x7ffff)) continue;
    syn = Header{};
    syn.src_port = h.src_port;
    syn.dst_port = h.dst_port;
    syn.seq = h.seq - 1;
    syn.flags = flag::syn;
    syn.window = h.window;
    syn.opt.has_mss = true;
    syn.opt.mss = kCookieMss[bits & 7];
    syn.opt.has_wscale = ((bits >> 3) & 15) != 15;
    syn.opt.wscale = static_cast<std::uint8_t>((bits >> 3) & 15);
    syn.opt.sack_permitted = (bits >> 7) & 1;
    syn.opt.has_ts = h.opt.has_ts && cfg_.timestamps;
    syn.opt.ts_val = h.opt.ts_val;
    return true;
  }
  return false;
}

// RFC 9293 §3.10.7.2 LISTEN.
void Stack::on_listen(Listener& l, const SegmentIn& seg, Header& h) {
  if (h.has(flag::rst)) return;  // first: ignore RST
  if (h.has(flag::ack)) {
    // An ACK may complete a cookie handshake (RFC 4987 §3.6); otherwise it
    // draws RST <SEQ=SEG.ACK> (second check).
    // Only while cookies are out (one sent in the last two slots) can an ACK
    // be a cookie answer; otherwise it is a segment for a CLOSED connection
    // (RFC 9293 §3.10.7.1: late duplicates after a passive close), counted
    // as rx_no_conn only. Blind cookie guesses need a flood to try against.
    const bool cookie_ack = cfg_.syn_cookies && !h.has(flag::syn) && now_ < cookies_until_;
    Header syn;
    if (cookie_ack && check_cookie(seg, h, syn)) {
      if (cfg_.max_per_source && count_from(seg.src, cfg_.max_per_source) >= cfg_.max_per_source) {
        ++ctr_.refused_per_source;
        return;
      }
      Tcb* tp = alloc_tcb(seg.dst, h.dst_port, seg.src, h.src_port);
      if (!tp) {
        ++ctr_.syn_dropped_no_conn;
        return;
      }
      ++ctr_.syn_cookies_ok;
      ++half_open_;  // SYN_RECEIVED for the length of this segment
      init_passive(*tp, l, syn, h.ack - 1);
      on_segment(*tp, h);
      output(*tp);
      finish(*tp);
      return;
    }
    if (cookie_ack) ++ctr_.syn_cookies_bad;
    ++ctr_.rx_no_conn;
    reply_rst(seg, h);
    return;
  }
  if (!h.has(flag::syn)) return;  // fourth: anything else is dropped
  // Issue 4 item 9: when buffer memory runs low, new connections are refused
  // so that established ones keep the chunks they need.
  if (pool_.in_use() >= pool_.limit() - pool_.limit() / 8) {
    ++ctr_.syn_dropped_no_memory;
    return;
  }
  // Issue 4 item 9: a per-source cap keeps one peer from taking the pool.
  if (cfg_.max_per_source && count_from(seg.src, cfg_.max_per_source) >= cfg_.max_per_source) {
    ++ctr_.refused_per_source;
    return;
  }
  if (half_open_ >= cfg_.max_half_open) {
    if (!cfg_.syn_cookies) {
      ++ctr_.syn_dropped_half_open;
      return;
    }
    // Stateless answer: a scratch block only carries the fields emit() reads.
    Tcb& t = scratch_;
    t = Tcb{};
    t.laddr = seg.dst;
    t.lport = h.dst_port;
    t.raddr = seg.src;
    t.rport = h.src_port;
    t.rcvbuf.configure(rcv_chunks_, pool_.chunk_shift());
    init_passive(t, l, h, make_cookie(seg, h));
    // check_cookie() takes this slot and the next one.
    cookies_until_ = (now_ / kCookieSlotUs + 2) * kCookieSlotUs;
    ++ctr_.syn_cookies_sent;
    emit(t, t.iss, 0, flag::syn | flag::ack);
    return;
  }
  Tcb* tp = alloc_tcb(seg.dst, h.dst_port, seg.src, h.src_port);
  if (!tp) {
    ++ctr_.syn_dropped_no_conn;  // issue 4 item 9: refuse new, keep the rest running
    return;
  }
  Tcb& t = *tp;
  ++ctr_.syn_received;
  ++half_open_;
  init_passive(t, l, h, Seq(0));
  // Data and FIN on a SYN are not queued: the peer will send them again.
  emit(t, t.iss, 0, flag::syn | flag::ack);
  arm_rto(t);
}

// RFC 9293 §3.10.7.3 SYN-SENT.
void Stack::on_syn_sent(Tcb& t, const Header& h) {
  bool ack_ok = false;
  if (h.has(flag::ack)) {  // first: check the ACK
    if (h.ack <= t.iss || h.ack > t.snd_max) {
      if (!h.has(flag::rst)) send_rst(t.laddr, t.raddr, t.lport, t.rport, h.ack, Seq(0), false);
      return;
    }
    ack_ok = true;
  }
  if (h.has(flag::rst)) {  // second: RST
    if (ack_ok) {
      ++ctr_.resets_received;
      to_closed(t, Term::refused);
    }
    return;
  }
  if (!h.has(flag::syn)) return;  // fourth: neither SYN nor RST
  t.irs = h.seq;
  t.rcv_nxt = t.rcv_data = t.read_pos = t.rcv_adv = h.seq + 1;
  negotiate(t, h);
  if (!h.opt.has_wscale || !cfg_.window_scaling) t.snd_wscale = t.rcv_wscale = 0;
  t.snd_wnd = h.window;
  t.max_snd_wnd = t.snd_wnd;
  t.snd_wl1 = h.seq;
  if (ack_ok) {
    t.snd_una = h.ack;
    t.snd_wl2 = h.ack;
    if (t.backoff == 0) rtt_sample(t, now_ - t.rtt_start);  // Karn: SYN not retransmitted
    if (t.backoff == 0) handshake_rtt(t);
    t.backoff = 0;
    wheel_.cancel(t.t_rexmit);
    established(t);
    ++ctr_.connected;
    t.events |= kEvConnected;
    send_ack(t);
  } else {
    // Simultaneous open: SYN_RECEIVED, answer with SYN-ACK <SEQ=ISS>.
    t.state = State::syn_received;
    emit(t, t.iss, 0, flag::syn | flag::ack);
    arm_rto(t);
  }
}

bool Stack::ooo_insert(Tcb& t, Seq l, Seq r) {
  OooRange out[kMaxOoo + 1];
  unsigned n = 0;
  bool placed = false;
  for (unsigned i = 0; i < t.ooo_count; ++i) {
    const OooRange& g = t.ooo[i];
    if (g.right < l) {
      out[n++] = g;
    } else if (r < g.left) {
      if (!placed) {
        out[n++] = {l, r};
        placed = true;
      }
      out[n++] = g;
    } else {  // overlaps or touches: merge
      l = seq_min(l, g.left);
      r = seq_max(r, g.right);
    }
  }
  if (!placed) out[n++] = {l, r};
  if (n > cfg_.max_ooo_ranges) return false;
  t.ooo_count = static_cast<std::uint8_t>(n);
  for (unsigned i = 0; i < n; ++i) {
    t.ooo[i] = out[i];
    if (out[i].left == l) t.ooo_latest = static_cast<std::uint8_t>(i);
  }
  return true;
}

// rcv_data moved: absorb queued ranges that now touch it, then a queued FIN.
void Stack::deliver_in_order(Tcb& t) {
  unsigned k = 0;
  while (k < t.ooo_count && t.ooo[k].left <= t.rcv_data) {
    t.rcv_data = seq_max(t.rcv_data, t.ooo[k].right);
    ++k;
  }
  if (k) {
    for (unsigned i = k; i < t.ooo_count; ++i) t.ooo[i - k] = t.ooo[i];
    t.ooo_count = static_cast<std::uint8_t>(t.ooo_count - k);
    t.ooo_latest = 0;
  }
  t.rcv_nxt = t.rcv_data;
  if (t.ooo_fin && t.fin_seq_in == t.rcv_data) on_fin(t);
}

// RFC 9293 §3.10.7.4 seventh: segment text.
void Stack::on_data(Tcb& t, const Header& h) {
  const Seq seq = h.seq;
  const std::uint32_t len = static_cast<std::uint32_t>(h.payload_len);
  if (t.app_closed && !t.linger) {
    // RFC 1122 4.2.2.13 / RFC 9293 §3.10.4: nobody will read it: reset.
    ++ctr_.data_after_close;
    do_abort(t, Term::aborted);
    return;
  }
  if (t.ooo_count && t.sack_on) {
    // RFC 2883 §4: bytes of a queued out-of-order range arrived again.
    for (unsigned i = 0; i < t.ooo_count; ++i)
      if (t.ooo[i].left < seq + len && seq < t.ooo[i].right) {
        dsack_note(t, seq_max(seq, t.ooo[i].left), seq_min(seq + len, t.ooo[i].right));
        break;
      }
  }
  if (!t.rcvbuf.write(pool_, seq, h.payload, len)) {
    ++ctr_.rx_no_buffer;
    t.ack_now = true;
    return;
  }
  if (seq == t.rcv_data) {
    const bool had_holes = t.ooo_count != 0;
    const std::uint8_t holes = t.ooo_count;
    t.rcv_data = seq + len;
    ctr_.rx_bytes += len;
    const Seq before = t.rcv_data;
    deliver_in_order(t);
    if (t.ooo_count < holes) ++ctr_.rx_holes_filled;  // evidence of loss towards us
    ctr_.rx_bytes += seq_dist(before, t.rcv_data);
    t.events |= kEvReadable;
    // RFC 5681 §4.2: ACK at least every second full segment and at once when
    // a hole is filled; otherwise delay.
    if (had_holes || ++t.unacked_segs >= 2) t.ack_now = true;
    else if (!t.t_delack.armed()) wheel_.arm(t.t_delack, now_ + cfg_.delack_us);
  } else {
    // RFC 5681 §4.2: an out-of-order segment is ACKed at once. A pure ACK,
    // not one riding on data, so the sender can count it (RFC 5681 §2).
    if (ooo_insert(t, seq, seq + len))
      ++ctr_.rx_ooo_segments;
    else
      ++ctr_.rx_ooo_dropped;
    send_ack(t);
  }
  if (t.app_closed && t.linger && t.read_pos != t.rcv_data) {
    // Lingering close: acknowledged, then thrown away (nobody reads it).
    ++ctr_.linger_discarded;
    const Seq old = t.read_pos;
    t.read_pos = t.rcv_data;
    t.rcvbuf.release(pool_, old, t.read_pos, t.ooo_count == 0);
    t.ack_now = true;
  }
}

// RFC 9293 §3.10.7.4 eighth: FIN at rcv_data.
void Stack::on_fin(Tcb& t) {
  t.ooo_fin = false;
  t.peer_fin = true;
  t.rcv_nxt = t.rcv_data + 1;
  t.ack_now = true;
  t.events |= kEvPeerClosed;
  switch (t.state) {
    case State::syn_received:
    case State::established:
      t.state = State::close_wait;
      break;
    case State::fin_wait_1:
      // Our FIN acked already would have moved us to FIN_WAIT_2.
      t.state = State::closing;
      break;
    case State::fin_wait_2:
      enter_time_wait(t);
      break;
    default:
      break;
  }
}

void Stack::on_dup_ack(Tcb& t) {
  ++ctr_.rx_dup_acks;
  if (t.sack_on) {
    // RACK decides what is lost (RFC 8985 replaces DupThresh); the first two
    // still let a new segment out each (RFC 3042 limited transmit).
    if (!t.in_recovery && t.dupacks < 2) ++t.dupacks;
    return;
  }
  if (t.in_recovery) return;  // PRR counts it (on_ack), no cwnd inflation
  if (++t.dupacks < 3) return;  // RFC 3042 limited transmit handled in output()
  if (t.dupacks > 3) return;
  // RFC 6582 §3.2 step 2: enter only if the ACK covers more than recover.
  if (t.snd_una < t.recover) return;  // recover is one past the highest byte sent
  // Fast retransmit, then PRR (RFC 6937, which applies to NewReno too)
  // instead of cwnd = ssthresh + 3 SMSS at once and inflation (RFC 6582
  // §3.2 steps 2-3): nothing would go out for half a round trip, then one
  // segment per duplicate ACK. The two earlier duplicate ACKs count as
  // delivered data the cumulative ACK will cover; this one is counted in
  // on_ack.
  ++ctr_.fast_retransmits;
  undo_start(t);
  t.ssthresh = reduce(t);
  t.recover = t.snd_max;
  t.in_recovery = true;
  t.prr_recover_fs = flight(t);
  t.prr_delivered = t.prr_out = t.prr_sndcnt = 0;
  t.prr_dup_bytes = 2u * t.smss;
  const Seq lo = data_lo(t);
  const Seq hi = retransmit_first(t);
  undo_note_rxt(t, lo, hi);
  t.prr_out += seq_dist(lo, hi);
}

void Stack::on_new_ack(Tcb& t, const Header& h, Seq ack) {
  std::uint32_t acked = seq_dist(t.snd_una, ack);
  if (t.snd_una == t.iss) --acked;  // the SYN is not data
  // RTT: RFC 7323 §4.2 from the echoed timestamp, else the timed segment (RFC 6298 §3).
  if (t.ts_on && h.opt.has_ts && h.opt.ts_ecr) {
    const std::uint32_t d = ts_now(t) - h.opt.ts_ecr;
    if (d < 0x80000000u) rtt_sample(t, std::uint64_t{d} * 1000);
  } else if (t.rtt_timing && ack > t.rtt_seq) {
    rtt_sample(t, now_ - t.rtt_start);
    t.rtt_timing = false;
  }
  t.backoff = 0;
  // Congestion control: RFC 5681 §3.1, RFC 6582 §3.2 steps 3-5.
  if (t.in_recovery && (ack >= t.recover || !t.rto_recovery)) {
    if (ack >= t.recover) {  // full ACK
      t.in_recovery = false;
      t.dupacks = 0;
      // RFC 8985 §6.2 step 4: a widened reordering window lasts 16 recoveries.
      if (t.reo_wnd_persist && --t.reo_wnd_persist == 0) t.reo_wnd_mult = 1;
      const std::uint32_t fl = seq_dist(ack, t.snd_max);
      if (t.rto_recovery)
        t.rto_recovery = false;  // slow start goes on from the loss window
      else
        t.cwnd = std::min(t.ssthresh, std::max(fl, std::uint32_t{t.smss}) + t.smss);
    } else if (t.sack_on) {  // RFC 6675: pipe decides what goes out next
      ++ctr_.partial_acks;
    } else {  // partial ACK: retransmit the next hole (RFC 6582 §3.2 step 3); PRR sets cwnd (on_ack)
      ++ctr_.partial_acks;
      const Seq old = t.snd_una;
      t.snd_una = ack;
      const Seq lo = data_lo(t);
      const Seq hi = retransmit_first(t);
      t.snd_una = old;
      undo_note_rxt(t, lo, hi);
      t.prr_out += seq_dist(lo, hi);
    }
  } else if (acked) {
    t.dupacks = 0;
    if (t.cwnd < t.ssthresh) {
      t.cwnd += std::min<std::uint32_t>(acked, t.smss);  // slow start, L = 1 SMSS
    } else if (cfg_.cc == CongestionControl::cubic) {
      t.cwnd = t.cubic.on_ack(t.cwnd, acked, t.smss, now_, t.srtt_us);
    } else {
      t.ca_acc += acked;  // congestion avoidance: one SMSS per cwnd acked
      if (t.ca_acc >= t.cwnd) {
        t.ca_acc -= t.cwnd;
        t.cwnd += t.smss;
      }
    }
  }
  const Seq old_lo = data_lo(t);
  if (t.segs) seg_acked(t, ack);
  t.snd_una = ack;
  // Keep `recover` trailing SND.UNA outside recovery so the RFC 6582 test
  // (SND.UNA >= recover) stays within 2^31 of it on long connections.
  if (!t.in_recovery && t.recover < t.snd_una) t.recover = t.snd_una;
  const Seq new_lo = data_lo(t);
  if (new_lo != old_lo || new_lo == t.snd_end) t.sndbuf.release(pool_, old_lo, new_lo, new_lo == t.snd_end);
  if (t.snd_nxt < t.snd_una) t.snd_nxt = t.snd_una;
  // RFC 6298 §5.2/5.3: stop the timer when all is acked, else restart it.
  t.persist = false;
  if (t.snd_una == t.snd_max)
    wheel_.disarm(t.t_rexmit);  // left linked: the next flight re-arms it in place
  else
    arm_rto(t);
  if (t.want_write && t.handler && !t.wr_shutdown) {
    t.want_write = false;
    t.events |= kEvWritable;
  }
}

// RFC 9293 §3.10.7.4 fifth: the ACK field. Returns false to drop the segment.
bool Stack::on_ack(Tcb& t, const Header& h) {
  const Seq ack = h.ack;
  if (t.state == State::syn_received) {
    if (!(t.snd_una < ack && ack <= t.snd_max)) {
      send_rst(t.laddr, t.raddr, t.lport, t.rport, ack, Seq(0), false);
      return false;
    }
    if (half_open_) --half_open_;
    established(t);
    t.snd_wnd = std::uint32_t{h.window} << t.snd_wscale;
    t.max_snd_wnd = std::max(t.max_snd_wnd, t.snd_wnd);
    t.snd_wl1 = h.seq;
    t.snd_wl2 = ack;
    if (t.backoff == 0 && !t.ts_on) rtt_sample(t, now_ - t.rtt_start);
    if (t.backoff == 0) handshake_rtt(t);
    if (t.passive) {
      ++ctr_.accepted;
      t.events |= kEvAccept;
    } else {
      ++ctr_.connected;
      t.events |= kEvConnected;
    }
    // fall through to ESTABLISHED processing of the same ACK
  }
  // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (ack > t.snd_max) {
    ++ctr_.rx_ack_too_new;
    t.ack_now = true;
    return false;
  }
  if (ack < t.snd_una - t.max_snd_wnd) {
    ++ctr_.rx_ack_too_old;
    t.ack_now = true;
    return false;
  }
  const std::uint32_t new_wnd = std::uint32_t{h.window} << t.snd_wscale;
  const Seq una0 = t.snd_una;
  const std::uint32_t sacked0 = t.sacked_bytes;
  // (A D-SACK may come when nothing is in flight any more.)
  if (rack_on(t) && (t.seg_count || t.tlp_on || h.opt.sack_count)) rack_on_ack(t, h, ack);
  bool dup = false;
  if (ack > t.snd_una) {
    on_new_ack(t, h, ack);
  } else if (ack == t.snd_una && h.payload_len == 0 && !h.has(flag::syn) && !h.has(flag::fin) &&
             new_wnd == t.snd_wnd && t.snd_una != t.snd_max) {
    on_dup_ack(t);  // RFC 5681 §2 duplicate ACK definition
    dup = true;
  }
  if (t.undo_on) undo_check(t, h);
  if (!t.sack_on && t.in_recovery) {
    // RFC 6937 §3 without SACK: DeliveredData is one SMSS per duplicate
    // ACK, and what the cumulative ACK covers beyond the bytes those
    // already counted.
    std::uint32_t d = 0;
    if (t.snd_una != una0) {
      const std::uint32_t acked = seq_dist(una0, t.snd_una);
      const std::uint32_t known = std::min(acked, t.prr_dup_bytes);
      t.prr_dup_bytes -= known;
      d = acked - known;
    } else if (dup) {
      t.prr_dup_bytes += t.smss;
      d = t.smss;
    }
    prr_update(t, d);
  }
  if (rack_on(t)) {
    // RFC 6937 DeliveredData: what this ACK newly acknowledged or SACKed.
    const std::int64_t d = std::int64_t{seq_dist(una0, t.snd_una)} + t.sacked_bytes - sacked0;
    rack_after_ack(t, d > 0 ? static_cast<std::uint32_t>(d) : 0);
  }
  // Window update (RFC 9293 §3.10.7.4: SND.WL1/SND.WL2 guard old segments).
  if (t.snd_wl1 < h.seq || (t.snd_wl1 == h.seq && t.snd_wl2 <= ack)) {
    t.snd_wnd = new_wnd;
    t.max_snd_wnd = std::max(t.max_snd_wnd, new_wnd);
    t.snd_wl1 = h.seq;
    t.snd_wl2 = ack;
  }
  // Our FIN is acknowledged once SND.UNA passes it.
  const bool fin_acked = t.wr_shutdown && t.snd_una == t.snd_end + 1;
  switch (t.state) {
    case State::fin_wait_1:
      if (fin_acked) {
        t.state = State::fin_wait_2;
        if (t.app_closed && !t.linger) wheel_.arm(t.t_wait, now_ + cfg_.fin_wait2_us);
      }
      break;
    case State::closing:
      if (fin_acked) enter_time_wait(t);
      break;
    case State::last_ack:
      if (fin_acked) {
        to_closed(t, Term::closed);
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

// RFC 9293 §3.10.7.4 "Otherwise": SYN_RECEIVED and the synchronized states.
void Stack::on_segment(Tcb& t, Header& h) {
  const bool rst = h.has(flag::rst);
  // RFC 7323 §3.2: once negotiated, a segment without TSopt is dropped.
  if (t.ts_on && !h.opt.has_ts && !rst) {
    ++ctr_.rx_no_timestamp;
    return;
  }
  // RFC 7323 §5.3 R1 (PAWS), before the sequence check.
  if (t.ts_on && h.opt.has_ts && !rst && ts_before(h.opt.ts_val, t.ts_recent)) {
    if (now_ - t.ts_recent_us > kPawsIdleUs) {
      t.ts_recent = h.opt.ts_val;  // §5.5: ts_recent too old to trust
    } else {
      ++ctr_.rx_paws;
      t.ack_now = true;
      return;
    }
  }
  // A retransmitted SYN in SYN_RECEIVED: our SYN-ACK was lost.
  if (t.state == State::syn_received && h.has(flag::syn) && !h.has(flag::ack) && h.seq == t.irs) {
    ++ctr_.synack_retransmits;
    emit(t, t.iss, 0, flag::syn | flag::ack);
    return;
  }
  // Simultaneous open (RFC 9293 §3.5 figure 7): the peer's SYN-ACK repeats its
  // SYN, already counted; what matters is its ACK.
  if (t.state == State::syn_received && h.has(flag::syn) && h.has(flag::ack) && h.seq == t.irs) {
    h.flags &= static_cast<std::uint8_t>(~flag::syn);
    h.seq += 1;
  }

  // first: sequence number acceptability (RFC 9293 §3.10.7.4 table).
  const Seq orig_seq = h.seq;
  std::uint32_t seglen = static_cast<std::uint32_t>(h.payload_len) + h.has(flag::syn) + h.has(flag::fin);
  const Seq wnd_end = seq_max(t.rcv_adv, t.rcv_nxt);
  const std::uint32_t wnd = seq_dist(t.rcv_nxt, wnd_end);
  bool ok;
  if (seglen == 0)
    ok = wnd == 0 ? h.seq == t.rcv_nxt : (t.rcv_nxt <= h.seq && h.seq <= wnd_end);
  else if (wnd == 0)
    ok = h.seq == t.rcv_nxt;  // zero window: take the ACK, the text is trimmed away
  else
    ok = seq_in(h.seq, t.rcv_nxt, wnd_end) || seq_in(h.seq + (seglen - 1), t.rcv_nxt, wnd_end);
  if (!ok) {
    ++ctr_.rx_out_of_window;
    // Data wholly below RCV.NXT: the peer resent what we had (its ACK or ours was lost).
    if (h.payload_len && seq_dist(h.seq, t.rcv_nxt) < (1u << 30) &&
        h.seq + static_cast<std::uint32_t>(h.payload_len) <= t.rcv_nxt) {
      ++ctr_.rx_dup_segments;
      dsack_note(t, h.seq, h.seq + static_cast<std::uint32_t>(h.payload_len));  // RFC 2883 §4
    }
    if (!rst) {
      t.ack_now = true;
      if (t.state == State::time_wait && h.has(flag::fin))
        wheel_.arm(t.t_wait, now_ + cfg_.time_wait_us);  // §3.10.7.4: restart 2MSL
    }
    return;
  }
  t.last_rx_us = now_;  // a live peer (keep-alive)
  if (t.ka_probes && t.snd_una == t.snd_max) t.ka_probes = 0;
  // Trim to the window: old bytes (and an old SYN) at the front, excess at the end.
  if (h.seq < t.rcv_nxt) {
    std::uint32_t d = seq_dist(h.seq, t.rcv_nxt);
    if (h.has(flag::syn)) {
      h.flags &= static_cast<std::uint8_t>(~flag::syn);
      h.seq += 1;
      --d;
    }
    const std::uint32_t cut = std::min<std::uint32_t>(d, static_cast<std::uint32_t>(h.payload_len));
    if (cut && cut == h.payload_len) ++ctr_.rx_dup_segments;
    if (cut) dsack_note(t, h.seq, h.seq + cut);  // RFC 2883 §4: the part we had
    h.payload += cut;
    h.payload_len -= cut;
    h.seq += cut;
  }
  if (h.payload_len && h.seq + static_cast<std::uint32_t>(h.payload_len) > wnd_end) {
    h.payload_len = seq_dist(h.seq, wnd_end);
    h.flags &= static_cast<std::uint8_t>(~flag::fin);
  }

  // second: RST (RFC 5961 §3.2): exact match resets, in-window challenges.
  if (rst) {
    if (orig_seq != t.rcv_nxt) {
      challenge_ack(t);
      return;
    }
    ++ctr_.resets_received;
    // SYN_RECEIVED from a passive open returns to LISTEN: nothing to tell.
    to_closed(t, t.state == State::syn_received && !t.passive ? Term::refused : Term::reset);
    return;
  }
  // fourth: SYN in window (RFC 5961 §4.2 challenge ACK; RFC 9293 §3.10.7.4).
  if (h.has(flag::syn)) {
    if (t.state == State::syn_received && t.passive) {
      to_closed(t, Term::closed);
      return;
    }
    challenge_ack(t);
    return;
  }
  // fifth: ACK.
  if (!h.has(flag::ack)) return;
  if (!on_ack(t, h)) return;
  if (t.state == State::closed) return;

  // RFC 7323 §4.3: TS.Recent from a segment covering Last.ACK.sent.
  if (t.ts_on && h.opt.has_ts && orig_seq <= t.last_ack_sent && !ts_before(h.opt.ts_val, t.ts_recent)) {
    t.ts_recent = h.opt.ts_val;
    t.ts_recent_us = now_;
  }

  // seventh: text, only while the peer may still send.
  if (h.payload_len) {
    if (t.peer_fin) {
      // Text beyond the peer's own FIN is nonsense; ignore (and ACK).
      t.ack_now = true;
    } else if (t.state == State::established || t.state == State::fin_wait_1 ||
               t.state == State::fin_wait_2) {
      on_data(t, h);
      if (t.state == State::closed) return;
    }
  }
  // eighth: FIN.
  if (h.has(flag::fin)) {
    if (t.state == State::time_wait) {
      t.ack_now = true;
      wheel_.arm(t.t_wait, now_ + cfg_.time_wait_us);
    } else if (!t.peer_fin) {
      const Seq fin_at = h.seq + static_cast<std::uint32_t>(h.payload_len);
      if (fin_at == t.rcv_data) {
        on_fin(t);
      } else {
        t.ooo_fin = true;  // reached when the hole before it fills
        t.fin_seq_in = fin_at;
        t.ack_now = true;
      }
    }
  }
}

// --- TIME_WAIT (compact entries) --------------------------------------------------

std::uint32_t Stack::tw_lookup(const Addr& la, std::uint16_t lp, const Addr& ra,
                               std::uint16_t rp) const noexcept {
  if (!tw_live_) return kNil;
  for (std::uint32_t i = tw_buckets_[bucket(la, lp, ra, rp) & tw_mask_]; i != kNil; i = tw_[i].hnext) {
    const TwEntry& e = tw_[i];
    if (e.laddr == la && e.raddr == ra && e.lport == lp && e.rport == rp) return i;
  }
  return kNil;
}

void Stack::tw_unlink(std::uint32_t i) noexcept {
  TwEntry& e = tw_[i];
  if (!e.live) return;
  std::uint32_t* p = &tw_buckets_[bucket(e.laddr, e.lport, e.raddr, e.rport) & tw_mask_];
  while (*p != i) p = &tw_[*p].hnext;
  *p = e.hnext;
  e.hnext = kNil;
  e.live = false;
  ++e.gen;
  --tw_live_;
}

void Stack::tw_pop_head() noexcept {
  tw_unlink(tw_head_);
  tw_head_ = tw_head_ + 1 == tw_.size() ? 0 : tw_head_ + 1;
  --tw_count_;
}

void Stack::tw_insert(const Tcb& t) {
  if (tw_count_ == tw_.size()) {
    if (tw_[tw_head_].live) ++ctr_.time_wait_evicted;  // the oldest goes first, as Linux does
    tw_pop_head();
  }
  std::uint32_t i = tw_head_ + tw_count_;
  if (i >= tw_.size()) i -= static_cast<std::uint32_t>(tw_.size());
  TwEntry& e = tw_[i];
  const std::uint32_t gen = e.gen;
  e = TwEntry{};
  e.gen = gen;
  e.laddr = t.laddr;
  e.raddr = t.raddr;
  e.lport = t.lport;
  e.rport = t.rport;
  e.snd_nxt = t.snd_max;
  e.rcv_nxt = t.rcv_nxt;
  e.rcv_wnd = t.rcv_adv > t.rcv_nxt ? seq_dist(t.rcv_nxt, t.rcv_adv) : 0;
  e.rcv_wscale = t.rcv_wscale;
  e.ts_on = t.ts_on;
  e.ts_recent = t.ts_recent;
  e.ts_recent_ms = static_cast<std::uint32_t>(t.ts_recent_us / 1000);
  e.ts_offset = t.ts_offset;
  e.expires = now_ + cfg_.time_wait_us;
  e.live = true;
  std::uint32_t& b = tw_buckets_[bucket(e.laddr, e.lport, e.raddr, e.rport) & tw_mask_];
  e.hnext = b;
  b = i;
  ++tw_count_;
  ++tw_live_;
  ++ctr_.time_wait_entered;
}

// 2MSL over (RFC 9293 §3.10.8): the ring's head is the oldest entry.
void Stack::tw_expire() noexcept {
  while (tw_count_) {
    TwEntry& e = tw_[tw_head_];
    if (!e.live) {
      tw_pop_head();
    } else if (e.restarted) {
      // A retransmitted FIN restarted its 2MSL: move it behind the others.
      const TwEntry copy = e;
      tw_unlink(tw_head_);
      tw_head_ = tw_head_ + 1 == tw_.size() ? 0 : tw_head_ + 1;
      std::uint32_t i = tw_head_ + tw_count_ - 1;
      if (i >= tw_.size()) i -= static_cast<std::uint32_t>(tw_.size());
      TwEntry& n = tw_[i];
      const std::uint32_t gen = n.gen;
      n = copy;
      n.gen = gen;
      n.restarted = false;
      std::uint32_t& b = tw_buckets_[bucket(n.laddr, n.lport, n.raddr, n.rport) & tw_mask_];
      n.hnext = b;
      b = i;
      ++tw_live_;
      if (tw_count_ == 1) break;
    } else if (e.expires <= now_) {
      tw_pop_head();
    } else {
      break;
    }
  }
}

void Stack::tw_ack(const TwEntry& e) {
  OptionsOut o;
  o.ts = e.ts_on;
  if (o.ts) {
    o.ts_val = static_cast<std::uint32_t>(now_ / 1000) + e.ts_offset;
    o.ts_ecr = e.ts_recent;
  }
  const std::size_t hlen = kHeaderMin + options_size(o);
  void* handle = nullptr;
  std::uint8_t* p = sink_.alloc(hlen, &handle);
  if (!p) {
    ++ctr_.tx_alloc_fail;
    return;
  }
  const std::uint32_t win = std::min<std::uint32_t>(e.rcv_wnd >> e.rcv_wscale, 65535);
  HeaderOut h{.src_port = e.lport, .dst_port = e.rport, .seq = e.snd_nxt, .ack = e.rcv_nxt, .flags = flag::ack,
              .window = static_cast<std::uint16_t>(win)};
  build_header(p, h, o);
  net::store_be16(p + 16, cfg_.tx_checksum_offload ? tcp_pseudo_checksum(e.laddr, e.raddr, hlen)
                                                   : tcp_checksum(e.laddr, e.raddr, p, hlen));
  sink_.send(handle, e.laddr, e.raddr, hlen);
  ++ctr_.tx_segments;
}

// RFC 9293 §3.10.7.4 for TIME-WAIT, on the compact entry.
void Stack::on_time_wait(std::uint32_t i, const SegmentIn& seg, Header& h) {
  TwEntry& e = tw_[i];
  const bool rst = h.has(flag::rst);
  if (h.has(flag::syn) && !h.has(flag::ack) && !rst) {
    // RFC 6191 §2: a new SYN ends TIME_WAIT early when its timestamp (or,
    // without timestamps, its sequence number) is newer than the old
    // incarnation's, so the two cannot be confused.
    const bool newer = e.ts_on && h.opt.has_ts ? ts_before(e.ts_recent, h.opt.ts_val)
                                               : (!e.ts_on && h.seq > e.rcv_nxt);
    Listener* l = newer ? find_listener(seg.dst, h.dst_port) : nullptr;
    if (l) {
      ++ctr_.time_wait_reused;
      tw_unlink(i);
      on_listen(*l, seg, h);
      return;
    }
    if (challenge_allowed()) tw_ack(e);  // RFC 5961 §4.2
    return;
  }
  // RFC 7323 §3.2 and §5.3 (PAWS), as for a full control block.
  if (e.ts_on && !h.opt.has_ts && !rst) {
    ++ctr_.rx_no_timestamp;
    return;
  }
  if (e.ts_on && h.opt.has_ts && !rst && ts_before(h.opt.ts_val, e.ts_recent)) {
    ++ctr_.rx_paws;
    tw_ack(e);
    return;
  }
  const std::uint32_t seglen = static_cast<std::uint32_t>(h.payload_len) + h.has(flag::fin);
  const Seq wnd_end = e.rcv_nxt + e.rcv_wnd;
  const bool in_window = seglen == 0 ? (e.rcv_nxt <= h.seq && h.seq <= wnd_end)
                                     : (e.rcv_wnd && seq_in(h.seq, e.rcv_nxt, wnd_end));
  if (rst) {
    // RFC 5961 §3.2: an exact RST ends it, an in-window one draws a challenge.
    if (h.seq == e.rcv_nxt) {
      ++ctr_.time_wait_killed;
      tw_unlink(i);
    } else if (in_window && challenge_allowed()) {
      tw_ack(e);
    }
    return;
  }
  if (!in_window) ++ctr_.rx_out_of_window;
  // The only thing that should arrive is a retransmission of the peer's FIN:
  // acknowledge it and restart the 2MSL timeout. Anything carrying data or
  // out of the window is answered with an ACK too; a bare in-window ACK is
  // dropped silently.
  if (h.has(flag::fin)) {
    e.expires = now_ + cfg_.time_wait_us;
    e.restarted = true;
  }
  if (seglen || !in_window) tw_ack(e);
}

// Active-side TIME_WAIT reuse, Linux's tcp_tw_reuse rule (RFC 6191 §2's
// reasoning turned around): the old incarnation used timestamps and the
// peer's last one is at least 1 s old. The new connection keeps the tuple's
// timestamp offset (RFC 7323 §5.4), so everything it sends carries a TSval
// above every one of the old incarnation: the peer's PAWS (RFC 7323 §5.3)
// drops old duplicates of ours; ours drops the peer's by its new TS.Recent.
bool Stack::tw_reusable(const TwEntry& e) const noexcept {
  const std::uint32_t age_ms = static_cast<std::uint32_t>(now_ / 1000) - e.ts_recent_ms;
  return e.ts_on && cfg_.timestamps && age_ms >= kTwReuseAfterMs;
}

// --- API ------------------------------------------------------------------------

int Stack::listen(const Addr& ip, std::uint16_t port, Listener& l) {
  if (port == 0) return -EINVAL;
  for (const auto& e : listeners_)
    if (e.ip == ip && e.port == port) return -EADDRINUSE;
  listeners_.push_back({ip, port, &l});
  return 0;
}

// Established connections stay; half-open ones die with their listener (the
// Listener object may go away after this returns).
int Stack::unlisten(const Addr& ip, std::uint16_t port) {
  for (auto it = listeners_.begin(); it != listeners_.end(); ++it)
    if (it->ip == ip && it->port == port) {
      Listener* l = it->l;
      listeners_.erase(it);
      for (auto& t : tcbs_) {
        if (!t.used || t.listener != l) continue;
        if (t.state == State::syn_received) {
          do_abort(t, Term::aborted);
          finish(t);
        } else {
          t.listener = nullptr;
        }
      }
      return 0;
    }
  return -ENOENT;
}

ConnId Stack::connect(const Addr& laddr, std::uint16_t lport, const Addr& raddr, std::uint16_t rport,
                      ConnHandler& h) {
  if (laddr.is_v4() != raddr.is_v4()) return ConnId{};  // one family per connection
  // A 4-tuple in TIME_WAIT is taken only when tw_reusable() says so. Ports
  // go round in order, so the first port the scan meets is the one used
  // longest ago: below about span / 2MSL opens per second to one peer its
  // TIME_WAIT is over and nothing is reused; above, its entry is the oldest
  // for that peer, the safest to take, and the scan stays O(1) per open
  // instead of visiting the whole range for a free port that is not there.
  std::uint32_t reuse = kNil;
  if (lport == 0) {
    const unsigned span = cfg_.ephemeral_hi - cfg_.ephemeral_lo + 1u;
    for (unsigned i = 0; i < span; ++i) {
      const std::uint16_t p = next_ephemeral_;
      next_ephemeral_ = p >= cfg_.ephemeral_hi ? cfg_.ephemeral_lo : static_cast<std::uint16_t>(p + 1);
      if (cfg_.port_ok && !cfg_.port_ok(cfg_.port_ok_ctx, laddr, p, raddr, rport)) continue;
      if (lookup(laddr, p, raddr, rport)) continue;
      const std::uint32_t w = tw_lookup(laddr, p, raddr, rport);
      if (w == kNil || tw_reusable(tw_[w])) {
        lport = p;
        reuse = w;
        break;
      }
    }
    if (lport == 0) return ConnId{};
  } else if (lookup(laddr, lport, raddr, rport)) {
    return ConnId{};
  } else if ((reuse = tw_lookup(laddr, lport, raddr, rport)) != kNil && !tw_reusable(tw_[reuse])) {
    return ConnId{};
  }
  Tcb* tp = alloc_tcb(laddr, lport, raddr, rport);
  if (!tp) return ConnId{};
  Tcb& t = *tp;
  ++ctr_.connects;
  t.handler = &h;
  t.state = State::syn_sent;
  t.iss = isn(laddr, lport, raddr, rport, &t.ts_offset);
  if (reuse != kNil) {
    const TwEntry& e = tw_[reuse];
    // The old incarnation's offset (the same keyed value today; kept so the
    // TSvals go on rising whatever isn() becomes). The ISN goes above all
    // it sent, past an unscaled window, as Linux does: old segments fall
    // below the peer's new window, and a peer still in LAST_ACK answers
    // our SYN with an ACK SYN_SENT finds unacceptable, so our RST ends it.
    t.ts_offset = e.ts_offset;
    if (!(t.iss > e.snd_nxt + 65536)) t.iss = e.snd_nxt + 65537;
    tw_unlink(reuse);
    ++ctr_.time_wait_reused_active;
  }
  t.snd_una = t.iss;
  t.snd_nxt = t.snd_max = t.snd_end = t.iss + 1;
  t.recover = t.iss;
  t.rcv_wscale = rcv_wscale_;  // offered; cleared if the peer does not echo it
  t.rtt_start = now_;
  emit(t, t.iss, 0, flag::syn);
  arm_rto(t);
  return id_of(t);
}

long Stack::write(ConnId id, const void* data, std::size_t n) {
  Tcb* t = get(id);
  if (!t || t->state == State::closed) return -ENOTCONN;
  if (t->wr_shutdown || t->app_closed) return -EPIPE;
  if (t->state != State::established && t->state != State::close_wait && t->state != State::syn_sent &&
      t->state != State::syn_received)
    return -ENOTCONN;
  const Seq limit = t->sndbuf.limit(data_lo(*t));
  const std::uint32_t cap = t->sndbuf.capacity();
  std::uint32_t space = limit > t->snd_end ? seq_dist(t->snd_end, limit) : 0;
  const std::uint32_t used = seq_dist(data_lo(*t), t->snd_end);
  space = std::min(space, cap - std::min(cap, used));
  const std::uint32_t k = static_cast<std::uint32_t>(std::min<std::size_t>(n, space));
  if (k && !t->sndbuf.write(pool_, t->snd_end, static_cast<const std::uint8_t*>(data), k)) {
    t->want_write = true;
    return 0;  // chunk pool exhausted: back-pressure
  }
  t->snd_end += k;
  if (k < n) t->want_write = true;
  output(*t);
  finish(*t);
  return static_cast<long>(k);
}

std::size_t Stack::write_space(ConnId id) const {
  const Tcb* t = get(id);
  if (!t || t->wr_shutdown) return 0;
  const Seq lo = data_lo(*t);
  const Seq limit = t->sndbuf.limit(lo);
  return limit > t->snd_end ? seq_dist(t->snd_end, limit) : 0;
}

std::size_t Stack::readable(ConnId id) const {
  const Tcb* t = get(id);
  if (!t) return 0;
  return seq_dist(t->read_pos, t->rcv_data);
}

std::span<const std::uint8_t> Stack::peek(ConnId id) const {
  const Tcb* t = get(id);
  if (!t || t->read_pos == t->rcv_data) return {};
  return t->rcvbuf.contiguous(t->read_pos, seq_dist(t->read_pos, t->rcv_data));
}

void Stack::consume(ConnId id, std::size_t n) {
  Tcb* t = get(id);
  if (!t) return;
  n = std::min<std::size_t>(n, seq_dist(t->read_pos, t->rcv_data));
  if (n == 0) return;
  const Seq old = t->read_pos;
  t->read_pos += static_cast<std::uint32_t>(n);
  t->rcvbuf.release(pool_, old, t->read_pos, t->read_pos == t->rcv_data && t->ooo_count == 0);
  maybe_window_update(*t);
  finish(*t);
}

std::size_t Stack::read(ConnId id, void* out, std::size_t n) {
  auto* o = static_cast<std::uint8_t*>(out);
  std::size_t done = 0;
  while (done < n) {
    auto s = peek(id);
    if (s.empty()) break;
    const std::size_t k = std::min(s.size(), n - done);
    std::memcpy(o + done, s.data(), k);
    done += k;
    Tcb* t = get(id);
    const Seq old = t->read_pos;
    t->read_pos += static_cast<std::uint32_t>(k);
    t->rcvbuf.release(pool_, old, t->read_pos, t->read_pos == t->rcv_data && t->ooo_count == 0);
  }
  if (done) {
    Tcb* t = get(id);
    maybe_window_update(*t);
    finish(*t);
  }
  return done;
}

int Stack::shutdown_write(ConnId id) {
  Tcb* t = get(id);
  if (!t || t->state == State::closed) return -ENOTCONN;
  if (t->wr_shutdown) return 0;
  switch (t->state) {
    case State::syn_sent:
      to_closed(*t, Term::closed);
      finish(*t);
      return 0;
    case State::syn_received:
    case State::established:
      t->wr_shutdown = true;
      t->state = State::fin_wait_1;  // RFC 9293 §3.10.4: FIN queued after the data
      break;
    case State::close_wait:
      t->wr_shutdown = true;
      t->state = State::last_ack;
      break;
    default:
      return -ENOTCONN;
  }
  output(*t);
  finish(*t);
  return 0;
}

int Stack::close(ConnId id) {
  Tcb* t = get(id);
  if (!t) return -ENOTCONN;
  t->handler = nullptr;
  t->events = 0;
  if (t->state == State::closed) return 0;
  if (t->linger && t->read_pos != t->rcv_data) {
    const Seq old = t->read_pos;  // a lingering close discards it instead
    t->read_pos = t->rcv_data;
    t->rcvbuf.release(pool_, old, t->read_pos, t->ooo_count == 0);
  }
  // RFC 1122 4.2.2.13: closing with unread data resets the connection.
  if (t->read_pos != t->rcv_data) {
    do_abort(*t, Term::aborted);
    finish(*t);
    return 0;
  }
  t->app_closed = true;
  if (t->linger) wheel_.arm(t->t_wait, now_ + std::min(cfg_.linger_us, cfg_.fin_wait2_us));
  else if (t->state == State::fin_wait_2) wheel_.arm(t->t_wait, now_ + cfg_.fin_wait2_us);
  if (!t->wr_shutdown && t->state != State::time_wait) {
    if (t->state == State::syn_sent) {
      to_closed(*t, Term::closed);
      finish(*t);
      return 0;
    }
    shutdown_write(id);
  } else {
    finish(*t);
  }
  return 0;
}

int Stack::abort(ConnId id) {
  Tcb* t = get(id);
  if (!t) return -ENOTCONN;
  t->handler = nullptr;
  t->events = 0;
  if (t->state != State::closed) do_abort(*t, Term::aborted);
  finish(*t);
  return 0;
}

int Stack::set_handler(ConnId id, ConnHandler* h) {
  Tcb* t = get(id);
  if (!t || t->app_closed) return -ENOTCONN;
  t->handler = h;
  return 0;
}

int Stack::linger(ConnId id) {
  Tcb* t = get(id);
  if (!t) return -EINVAL;
  t->linger = true;
  return 0;
}

int Stack::skip_time_wait(ConnId id) {
  Tcb* t = get(id);
  if (!t) return -EINVAL;
  t->skip_tw = true;
  return 0;
}

State Stack::state(ConnId id) const {
  if (id.valid() && (id.idx & kTwIdBit)) {
    const std::uint32_t i = id.idx & ~kTwIdBit;
    return i < tw_.size() && tw_[i].live && tw_[i].gen == id.gen ? State::time_wait : State::closed;
  }
  const Tcb* t = get(id);
  return t ? t->state : State::closed;
}

ConnId Stack::find(const Addr& la, std::uint16_t lp, const Addr& ra, std::uint16_t rp) {
  if (Tcb* t = lookup(la, lp, ra, rp)) return id_of(*t);
  const std::uint32_t w = tw_lookup(la, lp, ra, rp);
  return w == kNil ? ConnId{} : ConnId{w | kTwIdBit, tw_[w].gen};
}

bool Stack::info(ConnId id, ConnInfo& o) const {
  const Tcb* t = get(id);
  if (!t) return false;
  o.state = t->state;
  o.laddr = t->laddr.v4();
  o.raddr = t->raddr.v4();
  o.local = t->laddr;
  o.remote = t->raddr;
  o.lport = t->lport;
  o.rport = t->rport;
  o.srtt_us = t->srtt_us;
  o.rto_us = t->rto_us;
  o.cwnd = t->cwnd;
  o.ssthresh = t->ssthresh;
  o.cubic_w_max = t->cubic.w_max;
  o.snd_wnd = t->snd_wnd;
  o.smss = t->smss;
  o.snd_wscale = t->snd_wscale;
  o.rcv_wscale = t->rcv_wscale;
  o.timestamps = t->ts_on;
  o.sack = t->sack_on;
  o.retransmits = t->retransmits;
  return true;
}

}  // namespace turnpike::tcp
