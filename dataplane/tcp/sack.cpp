// SACK-based loss recovery (RFC 6675) on the sender: a bounded scoreboard of
// SACKed ranges above SND.UNA, IsLost, Pipe and NextSeg.
#include <algorithm>

#include "turnpike/tcp/stack.hpp"

namespace turnpike::tcp {

namespace {
constexpr unsigned kDupThresh = 3;  // RFC 6675 §2
}

// Merge the peer's blocks (RFC 2018 §4), ignoring any that are not within
// (SND.UNA, SND.MAX]: D-SACKs (RFC 2883), stale or forged blocks.
void Stack::sack_update(Tcb& t, const Header& h) {
  // Drop what the cumulative ACK now covers.
  unsigned k = 0;
  for (unsigned i = 0; i < t.sacked_count; ++i) {
    if (t.sacked[i].right <= t.snd_una) continue;
    OooRange r = t.sacked[i];
    if (r.left < t.snd_una) r.left = t.snd_una;
    t.sacked[k++] = r;
  }
  t.sacked_count = static_cast<std::uint8_t>(k);
  for (unsigned b = 0; b < h.opt.sack_count; ++b) {
    Seq l = h.opt.sack[b].left, r = h.opt.sack[b].right;
    if (!(l < r) || r <= t.snd_una || r > t.snd_max || seq_dist(l, r) > t.sndbuf.capacity()) continue;
    if (l < t.snd_una) l = t.snd_una;
    OooRange out[kMaxOoo + 1];
    unsigned n = 0;
    bool placed = false;
    for (unsigned i = 0; i < t.sacked_count; ++i) {
      const OooRange& g = t.sacked[i];
      if (g.right < l) {
        out[n++] = g;
      } else if (r < g.left) {
        if (!placed) out[n++] = {l, r};
        placed = true;
        out[n++] = g;
      } else {
        l = seq_min(l, g.left);
        r = seq_max(r, g.right);
      }
    }
    if (!placed) out[n++] = {l, r};
    if (n > kMaxOoo) continue;  // bounded scoreboard: forget the block
    std::copy(out, out + n, t.sacked);
    t.sacked_count = static_cast<std::uint8_t>(n);
  }
}

// RFC 6675 §4 IsLost: every unSACKed byte below the returned edge is lost
// (DupThresh discontiguous SACKed ranges, or more than (DupThresh - 1) * SMSS
// SACKed bytes, lie above it). In recovery the hole at SND.UNA counts as
// lost once (NewReno's partial-ACK rule, RFC 6582, when SACK says nothing).
Seq Stack::sack_lost_edge(const Tcb& t) const noexcept {
  Seq edge = t.snd_una;
  std::uint32_t bytes = 0;
  for (unsigned i = t.sacked_count, n = 1; i-- > 0; ++n) {
    bytes += seq_dist(t.sacked[i].left, t.sacked[i].right);
    if (n >= kDupThresh || bytes > (kDupThresh - 1) * t.smss) {
      edge = t.sacked[i].left;
      break;
    }
  }
  if (t.in_recovery && t.high_rxt <= t.snd_una && edge <= t.snd_una) edge = t.snd_una + 1;
  return edge;
}

// RFC 6675 §4 SetPipe: unSACKed bytes not deemed lost, plus lost bytes that
// were retransmitted (below HighRxt).
std::uint32_t Stack::sack_pipe(const Tcb& t, Seq lost) const noexcept {
  std::uint32_t pipe = 0;
  auto hole = [&](Seq a, Seq b) {
    if (!(a < b)) return;
    const Seq lb = seq_min(b, seq_max(a, lost));  // [a, lb) lost, [lb, b) in flight
    pipe += seq_dist(lb, b);
    const Seq rx = seq_min(lb, seq_max(a, t.high_rxt));
    pipe += seq_dist(a, rx);
  };
  Seq cur = t.snd_una;
  for (unsigned i = 0; i < t.sacked_count; ++i) {
    hole(cur, t.sacked[i].left);
    cur = t.sacked[i].right;
  }
  hole(cur, t.snd_max);
  return pipe;
}

// RFC 6675 §4 NextSeg rule 1: the first lost, not yet retransmitted byte.
bool Stack::sack_next_lost(const Tcb& t, Seq lost, Seq& seq, std::uint32_t& len) const noexcept {
  const Seq from = seq_max(t.high_rxt, t.snd_una);
  Seq cur = t.snd_una;
  for (unsigned i = 0; i <= t.sacked_count; ++i) {
    const Seq end = i < t.sacked_count ? t.sacked[i].left : t.snd_max;
    const Seq a = seq_max(cur, from);
    if (a < end && a < lost) {
      seq = a;
      len = std::min<std::uint32_t>(seq_dist(a, end), t.smss);
      return true;
    }
    if (i < t.sacked_count) cur = t.sacked[i].right;
  }
  return false;
}

void Stack::sack_enter_recovery(Tcb& t) {
  // RFC 6675 §5 step 4: RecoveryPoint = HighData, cwnd = ssthresh, and the
  // first segment presumed lost goes out now.
  ++ctr_.fast_retransmits;
  ++ctr_.sack_recoveries;
  t.ssthresh = reduce(t);
  t.cwnd = t.ssthresh;
  t.recover = t.snd_max;
  t.in_recovery = true;
  t.high_rxt = t.snd_una;
  const Seq lo = data_lo(t);
  const Seq end = retransmit_first(t);
  t.high_rxt = end == lo ? lo + 1 : end;
}

// RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send NextSeg.
void Stack::sack_output(Tcb& t) {
  for (int guard = 0; guard < 1024; ++guard) {
    const Seq lost = sack_lost_edge(t);
    const std::uint32_t pipe = sack_pipe(t, lost);
    if (pipe + t.smss > t.cwnd) break;
    Seq s;
    std::uint32_t len;
    if (sack_next_lost(t, lost, s, len)) {
      std::uint8_t fl = flag::ack;
      if (s >= t.snd_end) {  // only the FIN is missing
        len = 0;
        fl |= flag::fin;
      } else {
        len = std::min<std::uint32_t>(len, seq_dist(s, t.snd_end));
        if (t.wr_shutdown && s + len == t.snd_end && t.snd_max > t.snd_end && len < t.smss) fl |= flag::fin;
      }
      if (!emit(t, s, len, fl)) break;
      ++ctr_.retransmits;
      ++ctr_.sack_retransmits;
      ++t.retransmits;
      t.high_rxt = s + len + ((fl & flag::fin) ? 1 : 0);
      if (t.rtt_timing && t.rtt_seq >= s) t.rtt_timing = false;  // Karn
      continue;
    }
    // Rule 2: new data the peer's window allows.
    if (t.snd_nxt != t.snd_max) t.snd_nxt = t.snd_max;
    const std::uint32_t avail = t.snd_max < t.snd_end ? seq_dist(t.snd_max, t.snd_end) : 0;
    const Seq wnd_edge = t.snd_una + t.snd_wnd;
    const std::uint32_t room = wnd_edge > t.snd_max ? seq_dist(t.snd_max, wnd_edge) : 0;
    len = std::min<std::uint32_t>({avail, room, t.smss});
    const bool fin = t.wr_shutdown && t.snd_max == t.snd_end - len && t.snd_max <= t.snd_end &&
                     !(t.snd_max > t.snd_end);
    if (len == 0 && !(fin && avail == 0)) break;
    std::uint8_t fl = flag::ack | (fin ? flag::fin : 0);
    if (!emit(t, t.snd_max, len, fl)) break;
    t.snd_max += len + (fin ? 1 : 0);
    t.snd_nxt = t.snd_max;
    if (fin) break;
  }
  if (!t.t_rexmit.armed()) arm_rto(t);
}

}  // namespace turnpike::tcp
