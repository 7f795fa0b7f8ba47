// SACK-based loss recovery (RFC 6675) on the sender, over a ring of transmit
// records (one per segment sent, RFC 8985 §6.1): SACKed and lost marks, Pipe,
// NextSeg and the recovery output loop. Which segments are lost is RACK's
// call (rack.cpp, RFC 8985 replaces RFC 6675's DupThresh IsLost).
#include <algorithm>

#include "turnpike/tcp/stack.hpp"

namespace turnpike::tcp {

// A ring for the connection, taken from the record pool on first use. False
// when it is full (or the pool is empty): new data then waits for ACKs, like
// a full congestion window.
bool Stack::seg_room(Tcb& t) {
  if (!t.segs) {
    t.segs = reinterpret_cast<SentSeg*>(seg_pool_.get());
    t.seg_head = t.seg_count = 0;
    if (!t.segs) return false;
    // Rings are pool chunks (power-of-two size, 4 KiB at the defaults): the
    // first record of each would fall in the same few cache sets, and with
    // thousands of connections in flight the ACK's record load missed L2.
    // Each ring starts one line further on (the ring wraps anyway), so
    // neighbouring rings' live records spread over all sets.
    const std::uintptr_t ring = reinterpret_cast<std::uintptr_t>(t.segs) / seg_pool_.chunk_size();
    t.seg_head = static_cast<std::uint32_t>(ring * (64 / sizeof(SentSeg))) & seg_mask_;
  }
  return t.seg_count <= seg_mask_;
}

void Stack::seg_push(Tcb& t, Seq start, Seq end) {
  if (!t.rack_init) {  // RACK.fack and RACK.end_seq start at the first data byte
    t.rack_init = true;
    t.rack_fack = t.rack_end = t.rxt_high = start;
    t.xmit_last = static_cast<std::uint32_t>(now_);
  }
  SentSeg& r = seg(t, t.seg_count++);
  r.start = start;
  r.end = end;
  r.xmit_us = stamp(t, false);
  r.flags = 0;
}

// Transmit stamps never go back, and a retransmission is stamped after
// everything sent before it even within one microsecond, so RACK_sent_after
// (RFC 8985 §6.2) orders it after the originals it follows.
std::uint32_t Stack::stamp(Tcb& t, bool retransmission) noexcept {
  std::uint32_t x = static_cast<std::uint32_t>(now_);
  const auto ahead = static_cast<std::int32_t>(x - t.xmit_last);
  if ((ahead < 0 || (retransmission && ahead == 0))) x = t.xmit_last + (retransmission ? 1 : 0);
  t.xmit_last = x;
  return x;
}

void Stack::seg_mark(Tcb& t, SentSeg& r, std::uint8_t set, std::uint8_t clear) noexcept {
  const std::uint32_t len = seq_dist(r.start, r.end);
  const std::uint8_t f = static_cast<std::uint8_t>((r.flags | set) & ~clear);
  if ((f ^ r.flags) & kSegSacked) {
    const bool on = f & kSegSacked;
    t.sacked_bytes = on ? t.sacked_bytes + len : t.sacked_bytes - len;
    t.sacked_segs = on ? t.sacked_segs + 1 : t.sacked_segs - 1;
  }
  if ((f ^ r.flags) & kSegLost) t.lost_bytes = (f & kSegLost) ? t.lost_bytes + len : t.lost_bytes - len;
  r.flags = f;
}

// The cumulative ACK moved to `ack`: drop records below it, trim a record it
// cuts, and hand the ring back once nothing is in flight.
void Stack::seg_acked(Tcb& t, Seq ack) {
  if (t.rack_init && t.rack_fack < ack) t.rack_fack = ack;
  while (t.seg_count) {
    SentSeg& r = seg(t, 0);
    if (r.end <= ack) {
      seg_mark(t, r, 0, kSegSacked | kSegLost);
      t.seg_head = (t.seg_head + 1) & seg_mask_;
      --t.seg_count;
      continue;
    }
    if (r.start < ack) {
      const std::uint8_t f = r.flags & (kSegSacked | kSegLost);
      seg_mark(t, r, 0, f);
      r.start = ack;
      seg_mark(t, r, f, 0);
    }
    break;
  }
  if (!t.seg_count) seg_free(t);
}

void Stack::seg_free(Tcb& t) {
  if (t.segs) seg_pool_.put(reinterpret_cast<std::uint8_t*>(t.segs));
  t.segs = nullptr;
  t.seg_head = t.seg_count = 0;
  t.sacked_bytes = t.lost_bytes = t.sacked_segs = 0;
}

// RFC 6675 §4 NextSeg rule 1 with RACK's marks: the first lost segment.
SentSeg* Stack::first_lost(Tcb& t) noexcept {
  if (!t.lost_bytes) return nullptr;
  for (std::uint32_t i = 0; i < t.seg_count; ++i)
    if (seg(t, i).flags & kSegLost) return &seg(t, i);
  return nullptr;
}

// RFC 6675 §4 SetPipe: what is neither SACKed nor lost is in the network
// (a retransmitted segment is no longer lost: it is in flight again).
std::uint32_t Stack::sack_pipe(const Tcb& t) const noexcept {
  const std::uint32_t out = t.sacked_bytes + t.lost_bytes;
  const std::uint32_t fl = flight(t);
  return fl > out ? fl - out : 0;
}

// A segment that was never sent: the record goes in with it.
bool Stack::send_new(Tcb& t, Seq seq, std::uint32_t len, std::uint8_t flags) {
  if (!seg_room(t)) {
    ++ctr_.rack_no_record;
    return false;
  }
  if (!emit(t, seq, len, flags)) return false;
  seg_push(t, seq, seq + len + ((flags & flag::fin) ? 1 : 0));
  return true;
}

// Sends a record again, whole (records never exceed one SMSS).
bool Stack::resend(Tcb& t, SentSeg& r) {
  std::uint32_t len = seq_dist(r.start, r.end);
  std::uint8_t fl = flag::ack;
  if (t.wr_shutdown && r.end == t.snd_end + 1) {
    fl |= flag::fin;
    --len;
  }
  if (!emit(t, r.start, len, fl)) return false;
  ++ctr_.retransmits;
  ++t.retransmits;
  seg_mark(t, r, kSegRetrans, kSegLost | kSegRtoLost);
  r.xmit_us = stamp(t, true);
  if (t.rtt_timing && t.rtt_seq >= r.start) t.rtt_timing = false;  // Karn
  return true;
}

void Stack::sack_enter_recovery(Tcb& t) {
  // RFC 6675 §5 step 4 (entered on RACK's loss marks, RFC 8985 §8):
  // RecoveryPoint = HighData and the first lost segment goes out now
  // whatever the pipe says. From here PRR (RFC 6937 §3.1) brings the
  // flight down to ssthresh in step with what the peer delivers, instead
  // of cwnd = ssthresh at once (silence for half a round trip, then a
  // burst as the SACKs drain the pipe).
  ++ctr_.fast_retransmits;
  ++ctr_.sack_recoveries;
  undo_start(t);
  t.ssthresh = reduce(t);
  t.prr_recover_fs = flight(t);
  t.prr_delivered = t.prr_out = t.prr_sndcnt = 0;
  t.cwnd = t.ssthresh;
  t.recover = t.snd_max;
  t.in_recovery = true;
  t.rto_recovery = false;
  t.dupacks = 0;
  t.tlp_on = false;  // this reduction answers the TLP episode too
  if (SentSeg* r = first_lost(t)) {
    const bool again = r->flags & kSegRetrans;
    if (resend(t, *r)) {
      ++ctr_.rack_retransmits;
      if (again) ++ctr_.rack_lost_retransmits;
      if (r->end > t.rxt_high) t.rxt_high = r->end;
      t.prr_out += seq_dist(r->start, r->end);
      undo_note_rxt(t, r->start, r->end);
    }
  }
}

// RFC 6937 §3.1 on an ACK (or, with nothing delivered, the reordering
// timer) in fast recovery: sndcnt, what may be sent now, with the Slow
// Start Reduction Bound (the RFC's recommended variant). Above ssthresh
// the sending is prr_delivered * ssthresh / RecoverFS, so the flight falls
// to ssthresh by the end of the round; at or below it, the flight grows
// back to ssthresh no faster than slow start. cwnd = pipe + sndcnt.
// Without SACK, pipe is estimated as the flight less what duplicate ACKs
// said arrived (RFC 6937 §5), and cwnd = flight + sndcnt (output() counts
// the flight, not the pipe).
void Stack::prr_update(Tcb& t, std::uint32_t delivered) noexcept {
  t.prr_delivered += delivered;
  const std::uint32_t fl = flight(t);
  const std::uint32_t pipe = t.sack_on ? sack_pipe(t) : fl - std::min(fl, t.prr_dup_bytes);
  std::int64_t sndcnt;
  if (pipe > t.ssthresh) {
    const std::uint64_t fs = std::max<std::uint32_t>(t.prr_recover_fs, 1);
    const std::uint64_t share = (std::uint64_t{t.prr_delivered} * t.ssthresh + fs - 1) / fs;  // CEIL
    sndcnt = static_cast<std::int64_t>(share) - t.prr_out;
  } else {
    const std::int64_t owed = std::int64_t{t.prr_delivered} - t.prr_out;
    const std::int64_t limit = std::max<std::int64_t>(owed, delivered) + t.smss;
    sndcnt = std::min<std::int64_t>(std::int64_t{t.ssthresh} - pipe, limit);
  }
  t.prr_sndcnt = sndcnt > 0 ? static_cast<std::uint32_t>(sndcnt) : 0;
  t.cwnd = (t.sack_on ? pipe : fl) + t.prr_sndcnt;
}

// RFC 6675 §5 step (C): send NextSeg, lost segments first, then new data
// the peer's window allows, as far as PRR's sndcnt goes (RFC 6937 §3.1) in
// fast recovery, or while cwnd - pipe >= 1 SMSS in slow start after an RTO
// (RFC 8985 §6.3).
void Stack::sack_output(Tcb& t) {
  const bool prr = !t.rto_recovery;
  for (int guard = 0; guard < 1024; ++guard) {
    if (!prr && sack_pipe(t) + t.smss > t.cwnd) break;
    if (SentSeg* r = first_lost(t)) {
      const std::uint8_t was = r->flags;
      const std::uint32_t len = seq_dist(r->start, r->end);
      if (prr && len > t.prr_sndcnt) break;
      if (!resend(t, *r)) break;
      if (prr) {
        t.prr_out += len;
        t.prr_sndcnt -= len;
      }
      if (was & kSegRtoLost) {
        ++ctr_.rto_retransmits;
      } else {
        ++ctr_.rack_retransmits;
        if (was & kSegRetrans) ++ctr_.rack_lost_retransmits;
        if (r->end > t.rxt_high) t.rxt_high = r->end;
        undo_note_rxt(t, r->start, r->end);
      }
      continue;
    }
    // Rule 2: new data the peer's window allows.
    if (t.snd_nxt != t.snd_max) t.snd_nxt = t.snd_max;
    const std::uint32_t avail = t.snd_max < t.snd_end ? seq_dist(t.snd_max, t.snd_end) : 0;
    const Seq wnd_edge = t.snd_una + t.snd_wnd;
    const std::uint32_t room = wnd_edge > t.snd_max ? seq_dist(t.snd_max, wnd_edge) : 0;
    const std::uint32_t len = std::min<std::uint32_t>({avail, room, t.smss});
    const bool fin = t.wr_shutdown && t.snd_max + len == t.snd_end;
    if (len == 0 && !fin) break;
    const std::uint32_t cost = len + (fin ? 1 : 0);
    if (prr && cost > t.prr_sndcnt) break;
    const std::uint8_t fl = flag::ack | (fin ? flag::fin : 0);
    if (!send_new(t, t.snd_max, len, fl)) break;
    if (prr) {
      t.prr_out += cost;
      t.prr_sndcnt -= cost;
    }
    t.snd_max += len + (fin ? 1 : 0);
    t.snd_nxt = t.snd_max;
    if (fin) break;
  }
  if (!t.t_rexmit.armed()) arm_rto(t);
}

// --- Undo of a spurious fast recovery ------------------------------------------
//
// A fast recovery (RACK's or NewReno's) whose retransmissions all turn out
// unneeded was reordering, not congestion: cwnd and ssthresh go back to what
// they were before it (RFC 4015 §3's response, as Linux's
// tcp_undo_cwnd_reduction: the larger of now and then). Evidence, either:
// every byte the episode resent comes back in a D-SACK (RFC 3708 §3,
// RFC 2883 §4), or, with timestamps, the episode resent one segment and the
// ACK that first covers it echoes a TSval older than the retransmission's
// (RFC 3522 §3.2: the original arrived). RTO episodes are never undone here:
// telling a spurious timeout apart needs F-RTO (RFC 5682) or Eifel's
// response to timeouts, out of scope; an RTO cancels a pending undo.
// CUBIC's W_max, K and epoch are restored with them (RFC 9438 §4.9).

void Stack::undo_start(Tcb& t) noexcept {
  t.undo_on = true;
  t.undo_cwnd = t.cwnd;
  t.undo_ssthresh = t.ssthresh;
  t.undo_cubic = t.cubic;
  t.undo_bytes = 0;
  t.undo_segs = 0;
  t.undo_eifel_done = false;
  t.undo_lo = t.undo_hi = t.snd_una;
}

// A retransmission of the episode under way.
void Stack::undo_note_rxt(Tcb& t, Seq start, Seq end) noexcept {
  if (!t.undo_on || !(start < end)) return;
  if (t.undo_segs == 0) {
    t.undo_ts = ts_now(t);  // the TSval it carried (RFC 3522 §3.1 RetransmitTS)
    t.undo_first_end = end;
    t.undo_lo = start;
    t.undo_hi = end;
  }
  if (start < t.undo_lo) t.undo_lo = start;
  if (end > t.undo_hi) t.undo_hi = end;
  if (t.undo_segs < UINT16_MAX) ++t.undo_segs;
  t.undo_bytes += seq_dist(start, end);
}

// A D-SACK for [l, r) (RFC 2883 §4): the part of it the episode resent
// arrived twice.
void Stack::undo_dsack(Tcb& t, Seq l, Seq r) noexcept {
  if (!t.undo_on || !t.undo_segs) return;
  const Seq lo = seq_max(l, t.undo_lo), hi = seq_min(r, t.undo_hi);
  if (!(lo < hi)) return;
  const std::uint32_t n = seq_dist(lo, hi);
  t.undo_bytes = n < t.undo_bytes ? t.undo_bytes - n : 0;
}

// After an ACK's SACK/D-SACK and cumulative parts are taken in, before RACK
// looks for new losses: undo once the evidence is complete and nothing
// marked lost is still waiting to be resent.
void Stack::undo_check(Tcb& t, const Header& h) {
  if (!t.undo_on || !t.undo_segs || t.lost_bytes) return;
  bool eifel = false;
  if (!t.undo_eifel_done && t.snd_una >= t.undo_first_end) {
    // RFC 3522 §3.2 steps 3-4: the first ACK covering the retransmission.
    t.undo_eifel_done = true;
    eifel = t.undo_segs == 1 && t.ts_on && h.opt.has_ts && h.opt.ts_ecr &&
            ts_before(h.opt.ts_ecr, t.undo_ts);
  }
  if (t.undo_bytes && !eifel) return;
  if (t.undo_bytes == 0)
    ++ctr_.undo_dsack;
  else
    ++ctr_.undo_eifel;
  t.undo_on = false;
  t.ssthresh = std::max(t.ssthresh, t.undo_ssthresh);
  t.cwnd = std::max(t.cwnd, t.undo_cwnd);
  // RFC 9438 §4.9: CUBIC's state before the congestion event comes back
  // too, or the next epoch would start from the reduced W_max (a spurious
  // event would still cost the growth curve its plateau).
  t.cubic = t.undo_cubic;
  t.ca_acc = 0;
  if (t.in_recovery && !t.rto_recovery) {
    t.in_recovery = false;  // what is left in flight is the old window's
    t.dupacks = 0;
  }
}

// Receiver side, RFC 2883 §4: a segment brought data we already hold (below
// RCV.NXT or inside a queued out-of-order range). The next ACK, sent at
// once, reports it in its first SACK block so the sender can tell a
// spurious retransmission (RFC 8985 §6.2 step 4 widens its reordering
// window on it). Only the latest duplicate is kept: each is reported once.
void Stack::dsack_note(Tcb& t, Seq l, Seq r) noexcept {
  if (!t.sack_on || !cfg_.dsack || !(l < r)) return;
  t.dsack = {l, r};
  t.dsack_pending = true;
  t.ack_now = true;
}

}  // namespace turnpike::tcp
