// RACK-TLP loss detection (RFC 8985) on connections with SACK: a segment is
// lost once a segment sent after it was delivered and a reordering window has
// passed (so a lost retransmission is found like any other loss), and a tail
// loss probe makes the peer report a lost tail before the RTO. One timer (the
// retransmission timer) stands for the RTO, the RACK reordering timer or the
// probe timer (Tcb::tmode).
#include <algorithm>

#include "turnpike/tcp/stack.hpp"

namespace turnpike::tcp {

namespace {
constexpr unsigned kDupThresh = 3;          // RFC 8985 §6.2 step 4 (RFC 6675 §2)
constexpr std::uint8_t kReoWndPersist = 16;  // recoveries a widened reo_wnd lasts
constexpr std::uint64_t kPtoNoRtt = 1'000'000;  // RFC 8985 §7.2: no SRTT yet

// A record's 32-bit transmit stamp on the 64-bit clock (stamps may run a few
// microseconds ahead of it, see Stack::stamp()).
std::uint64_t full_time(std::uint64_t now, std::uint32_t x) noexcept {
  return now - static_cast<std::int64_t>(static_cast<std::int32_t>(static_cast<std::uint32_t>(now) - x));
}

// RFC 8985 §6.2 RACK_sent_after.
bool sent_after(std::uint64_t t1, Seq e1, std::uint64_t t2, Seq e2) noexcept {
  return t1 > t2 || (t1 == t2 && e1 > e2);
}

// RFC 8985 §6.2 step 1: RACK.min_RTT over the configured window (samples in
// µs, stamped in ms so 32 bits last 49 days).
void min_rtt_sample(Tcb& t, std::uint64_t now_us, std::uint32_t window_us, std::uint32_t rtt_us) noexcept {
  t.rack_min_rtt.update(static_cast<std::uint32_t>(now_us / 1000), window_us / 1000, rtt_us);
}
}  // namespace

// RACK.min_RTT (RFC 8985 §6.2 step 1) starts from the handshake, timed in
// microseconds whatever the timestamps say (their millisecond ticks are too
// coarse on a LAN). A SYN-cookie connection has no start time: skipped.
void Stack::handshake_rtt(Tcb& t) noexcept {
  if (t.rtt_start && now_ > t.rtt_start && now_ - t.rtt_start < 60'000'000)
    min_rtt_sample(t, now_, cfg_.rack_min_rtt_window_us, static_cast<std::uint32_t>(now_ - t.rtt_start));
}

// RFC 8985 §6.2 steps 1-4 for one ACK, before SND.UNA moves: mark what it
// SACKs, advance RACK.xmit_ts/end_seq/rtt over every newly delivered segment,
// detect reordering, widen the reordering window on D-SACK, and close a TLP
// episode (§7.4).
void Stack::rack_on_ack(Tcb& t, const Header& h, Seq ack) {
  struct Block {
    Seq l, r;
  };
  Block blk[kMaxSackBlocks];
  unsigned nb = 0;
  bool dsack = false;
  Seq dsack_left, dsack_right;
  Seq top = ack;  // records above this can't be newly delivered
  for (unsigned b = 0; b < h.opt.sack_count; ++b) {
    const Seq l = h.opt.sack[b].left, r = h.opt.sack[b].right;
    if (!(l < r) || seq_dist(l, r) > t.sndbuf.capacity()) continue;
    // RFC 2883 §4: a first block below the cumulative ACK, or inside the
    // second block, reports a duplicate segment.
    if (b == 0 && (r <= ack || (h.opt.sack_count > 1 && h.opt.sack[1].left <= l &&
                                r <= h.opt.sack[1].right && l < h.opt.sack[1].right))) {
      if (r <= t.snd_max && seq_dist(r, t.snd_max) < (1u << 30)) {
        dsack = true;
        dsack_left = l;
        dsack_right = r;
        ++ctr_.rack_dsacks;
      }
      if (r <= ack) continue;
    }
    if (r <= ack || r > t.snd_max) continue;  // stale or forged
    blk[nb++] = {l, r};
    if (r > top) top = r;
  }
  // Steps 2-3 over the newly delivered records, in sequence order.
  for (std::uint32_t i = 0; i < t.seg_count; ++i) {
    SentSeg& r = seg(t, i);
    if (r.start >= top) break;
    if (r.flags & kSegSacked) continue;
    bool delivered = r.end <= ack;
    if (!delivered) {
      for (unsigned b = 0; b < nb && !delivered; ++b) delivered = blk[b].l <= r.start && r.end <= blk[b].r;
      if (!delivered) continue;
      seg_mark(t, r, kSegSacked, kSegLost | kSegRtoLost);
    }
    const std::uint64_t xt = full_time(now_, r.xmit_us);
    const std::uint64_t rtt = now_ > xt ? now_ - xt : 0;
    bool valid = true;
    if (r.flags & kSegRetrans) {
      // The ACK may be for an earlier transmission: an RTT below the minimum
      // says so, and for a cumulative ACK the echoed timestamp does too (an
      // out-of-order segment does not set TS.Recent, RFC 7323 §4.3, so the
      // echo in a SACK says nothing about it).
      const std::uint32_t sent_ms = static_cast<std::uint32_t>(xt / 1000) + t.ts_offset;
      if (r.end <= ack && t.ts_on && h.opt.has_ts && h.opt.ts_ecr && ts_before(h.opt.ts_ecr, sent_ms))
        valid = false;
      if (!t.rack_min_rtt.empty() && rtt < t.rack_min_rtt.get()) valid = false;
    }
    if (valid) {
      t.rack_rtt_us = static_cast<std::uint32_t>(std::min<std::uint64_t>(rtt, UINT32_MAX - 1));
      min_rtt_sample(t, now_, cfg_.rack_min_rtt_window_us, t.rack_rtt_us);
      if (sent_after(xt, r.end, t.rack_xmit_us, t.rack_end)) {
        t.rack_xmit_us = xt;
        t.rack_end = r.end;
      }
    }
    if (r.end > t.rack_fack) {
      t.rack_fack = r.end;
    } else if (r.end < t.rack_fack && !(r.flags & kSegRetrans)) {
      t.rack_reordering = true;
      ++ctr_.rack_reordering;
    }
  }
  // A D-SACK for data a RACK retransmission resent (not the probe's): the
  // original was late, not lost (RFC 3708 §2). That is reordering for step 4
  // (as Linux counts it when a D-SACK undoes a recovery): without it the
  // window stays 0 once DupThresh segments are SACKed and the wider window
  // below would never be used.
  if (dsack && !(t.tlp_on && t.tlp_retrans && dsack_right == t.tlp_end) && dsack_right <= t.rxt_high &&
      seq_dist(dsack_right, t.rxt_high) < (1u << 30)) {
    ++ctr_.spurious_retransmits;
    t.rack_reordering = true;
    undo_dsack(t, dsack_left, dsack_right);
  }
  // Step 4: one step wider per round trip that sees a D-SACK.
  if (t.dsack_round_on && ack >= t.dsack_round) t.dsack_round_on = false;
  if (dsack && !t.dsack_round_on) {
    t.dsack_round_on = true;
    t.dsack_round = t.snd_max;
    if (t.reo_wnd_mult < 255) ++t.reo_wnd_mult;
    t.reo_wnd_persist = kReoWndPersist;
  }
  // §7.4: did the probe repair a loss?
  if (t.tlp_on && ack >= t.tlp_end) {
    if (!t.tlp_retrans) {
      t.tlp_on = false;  // new data: RACK sees any loss as usual
    } else if (dsack && dsack_right == t.tlp_end) {
      t.tlp_on = false;  // the original and the probe both arrived
      ++ctr_.tlp_spurious;
    } else if (ack > t.tlp_end) {
      t.tlp_on = false;  // the probe plugged the only hole: a loss all the same
      ++ctr_.tlp_recoveries;
      t.undo_on = false;  // a loss all the same: no older reduction is undone past it
      t.ssthresh = reduce(t);
      t.cwnd = t.ssthresh;
      t.ca_acc = 0;
    } else if (ack == t.snd_una && h.opt.sack_count == 0 && h.payload_len == 0 &&
               (std::uint32_t{h.window} << t.snd_wscale) == t.snd_wnd) {
      t.tlp_on = false;  // a duplicate ACK without SACK: both copies arrived
      ++ctr_.tlp_spurious;
    }
  }
}

// RFC 8985 §6.2 step 4: the reordering window.
std::uint64_t Stack::rack_reo_wnd(const Tcb& t) const noexcept {
  if (!t.rack_reordering && (t.in_recovery || t.sacked_segs >= kDupThresh)) return 0;
  if (t.rack_min_rtt.empty()) return 0;
  const std::uint64_t w = std::uint64_t{t.reo_wnd_mult} * t.rack_min_rtt.get() / 4;
  return t.srtt_us ? std::min<std::uint64_t>(w, t.srtt_us) : w;
}

// RFC 8985 §6.2 step 5: every segment sent before RACK.xmit_ts that has had
// RACK.rtt + RACK.reo_wnd to arrive is lost; returns how long until the next
// one could be (0: none waiting).
std::uint64_t Stack::rack_detect_loss(Tcb& t) {
  if (!t.rack_xmit_us) return 0;
  const std::uint64_t reo = rack_reo_wnd(t);
  std::uint64_t timeout = 0;
  for (std::uint32_t i = 0; i < t.seg_count; ++i) {
    SentSeg& r = seg(t, i);
    if (r.flags & (kSegSacked | kSegLost)) continue;
    const std::uint64_t xt = full_time(now_, r.xmit_us);
    if (!sent_after(t.rack_xmit_us, t.rack_end, xt, r.end)) {
      // Records are in the order first sent: past a never retransmitted one
      // sent after RACK.xmit_ts, every later one was sent later still.
      if (!(r.flags & kSegRetrans)) break;
      continue;
    }
    const std::uint64_t due = xt + t.rack_rtt_us + reo;
    if (due <= now_) {
      seg_mark(t, r, kSegLost, 0);
      ++ctr_.rack_marked_lost;
    } else {
      timeout = std::max(timeout, due - now_);
    }
  }
  return timeout;
}

// After an ACK that delivered `delivered` bytes: losses found start
// recovery (RFC 8985 §8, one reduction per episode), PRR decides what fast
// recovery may send (RFC 6937), and the timer becomes the reordering timer,
// the probe timer or the RTO.
void Stack::rack_after_ack(Tcb& t, std::uint32_t delivered) {
  const std::uint64_t reo = rack_detect_loss(t);
  if (t.lost_bytes && !t.in_recovery) sack_enter_recovery(t);
  if (t.in_recovery && !t.rto_recovery) prr_update(t, delivered);
  rack_arm(t, reo);
}

void Stack::rack_arm(Tcb& t, std::uint64_t reo_timeout) {
  if (t.persist || t.snd_una == t.snd_max) return;  // persisting, or nothing outstanding
  if (reo_timeout) {
    t.tmode = kModeReo;
    wheel_.arm(t.t_rexmit, std::min(now_ + reo_timeout, std::max(t.rto_at, now_ + 1)));
    return;
  }
  if (tlp_eligible(t)) {
    tlp_arm(t);
    return;
  }
  if (t.tmode != kModeRto || !t.t_rexmit.armed()) {
    t.tmode = kModeRto;
    wheel_.arm(t.t_rexmit, std::max(t.rto_at, now_ + 1));
  }
}

// RFC 8985 §7.2: probe only in the open state, with nothing SACKed, and one
// probe per episode.
bool Stack::tlp_eligible(const Tcb& t) const noexcept {
  if (!rack_on(t) || t.in_recovery || t.tlp_on || t.sacked_segs || t.persist || !t.seg_count) return false;
  switch (t.state) {
    case State::established:
    case State::close_wait:
    case State::fin_wait_1:
    case State::closing:
    case State::last_ack:
      return true;
    default:
      return false;
  }
}

// PTO = 2 SRTT (+ the peer's worst-case delayed ACK when one segment is in
// flight), never after the RTO would fire (RFC 8985 §7.2). "One segment" is
// read as less than two full-sized ones: a receiver need not ACK before the
// second full-sized segment (RFC 5681 §4.2), so a full segment and a short
// one may also wait for its delayed-ACK timer (seen with Linux peers).
// §7.2 sets no floor; ours (tlp_min_pto_us, 10 ms) is longer than Linux's
// 2 SRTT + TCP_TIMEOUT_MIN (2 ms) below 4 ms of SRTT, so on a LAN the probe
// waits out host scheduling delays Linux's would not.
void Stack::tlp_arm(Tcb& t) {
  std::uint64_t pto = t.srtt_us ? 2ull * t.srtt_us : kPtoNoRtt;
  if (flight(t) < 2u * t.smss) pto += cfg_.tlp_max_ack_delay_us;
  pto = std::max<std::uint64_t>({pto, cfg_.tlp_min_pto_us, cfg_.tick_us});
  t.tmode = kModeTlp;
  wheel_.arm(t.t_rexmit, std::min(now_ + pto, std::max(t.rto_at, now_ + 1)));
}

// The retransmission timer fired for RACK or TLP (the RTO itself is rack_rto).
void Stack::rack_timer(Tcb& t) {
  const std::uint8_t mode = t.tmode;
  t.tmode = kModeRto;
  if (mode == kModeTlp) {
    tlp_send(t);
    return;
  }
  // RFC 8985 §6.2: the reordering timer runs the detection again.
  ++ctr_.rack_reo_timeouts;
  wheel_.arm(t.t_rexmit, std::max(t.rto_at, now_ + 1));  // the RTO stays due when it was
  const std::uint64_t reo = rack_detect_loss(t);
  if (t.lost_bytes && !t.in_recovery) sack_enter_recovery(t);
  // No ACK, nothing delivered: PRR lets out only what it owes, or one
  // segment once the pipe is below ssthresh (the reduction bound's SMSS),
  // so losses found by the timer cannot stall recovery until the RTO.
  if (t.in_recovery && !t.rto_recovery) prr_update(t, 0);
  output(t);
  rack_arm(t, reo);
}

// RFC 8985 §7.3: one new segment if the window allows (cwnd does not apply
// to the probe), else the last segment again; then the RTO, not another PTO.
void Stack::tlp_send(Tcb& t) {
  bool sent = false;
  const std::uint32_t avail = t.snd_max < t.snd_end ? seq_dist(t.snd_max, t.snd_end) : 0;
  const Seq wnd_edge = t.snd_una + t.snd_wnd;
  const std::uint32_t room = wnd_edge > t.snd_max ? seq_dist(t.snd_max, wnd_edge) : 0;
  const std::uint32_t len = std::min<std::uint32_t>({avail, room, t.smss});
  if (len) {
    const bool fin = t.wr_shutdown && t.snd_max + len == t.snd_end;
    const std::uint8_t fl = flag::ack | flag::psh | (fin ? flag::fin : 0);
    if (send_new(t, t.snd_max, len, fl)) {
      t.snd_max += len + (fin ? 1 : 0);
      t.snd_nxt = t.snd_max;
      sent = true;
      t.tlp_retrans = false;
    }
  }
  if (!sent && t.seg_count && resend(t, seg(t, t.seg_count - 1))) {
    sent = true;
    t.tlp_retrans = true;
  }
  if (sent) {
    ++ctr_.tlp_probes;
    t.tlp_on = true;
    t.tlp_end = t.snd_max;
  }
  arm_rto(t);
}

// RFC 8985 §6.3: after the RTO, the first unacknowledged segment and every
// one that has had RACK.rtt + reo_wnd are lost; recovery starts from one
// segment (RFC 5681 §3.1) and grows by slow start.
void Stack::rack_rto(Tcb& t) {
  ++ctr_.rto_timeouts;
  t.undo_on = false;  // RTO episodes are not undone (no F-RTO, RFC 5682)
  if (t.backoff == 0) t.ssthresh = reduce(t);
  t.cwnd = t.smss;
  t.ca_acc = 0;
  t.dupacks = 0;
  t.rtt_timing = false;  // Karn
  t.tlp_on = false;
  // A second RTO without progress: the peer may have discarded what it
  // SACKed (RFC 2018 §8); forget the SACK marks so those bytes go again.
  if (t.backoff > 0)
    for (std::uint32_t i = 0; i < t.seg_count; ++i) seg_mark(t, seg(t, i), 0, kSegSacked);
  t.in_recovery = true;
  t.rto_recovery = true;
  t.recover = t.snd_max;
  const std::uint64_t reo = rack_reo_wnd(t);
  for (std::uint32_t i = 0; i < t.seg_count; ++i) {
    SentSeg& r = seg(t, i);
    if (r.flags & (kSegSacked | kSegLost)) continue;
    const std::uint64_t xt = full_time(now_, r.xmit_us);
    if (r.start == t.snd_una || xt + t.rack_rtt_us + reo <= now_) seg_mark(t, r, kSegLost | kSegRtoLost, 0);
  }
  if (t.backoff < 30) ++t.backoff;
  // RFC 6298 §5.4: the earliest segment goes now, whatever the pipe says.
  if (SentSeg* r = first_lost(t)) {
    if (resend(t, *r)) ++ctr_.rto_retransmits;
  }
  arm_rto(t);
}

}  // namespace turnpike::tcp
