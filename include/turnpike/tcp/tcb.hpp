// The transmission control block (RFC 9293 §3.3.1): types only; behaviour
// lives in Stack. Pooled per worker; 960 bytes (15 cache lines, 7 of them
// touched per segment), buffers held only while they carry bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "turnpike/tcp/addr.hpp"
#include "turnpike/tcp/buffer.hpp"
#include "turnpike/tcp/cubic.hpp"
#include "turnpike/tcp/seq.hpp"
#include "turnpike/tcp/timer_wheel.hpp"
#include "turnpike/tcp/win_min.hpp"

namespace turnpike::tcp {

enum class State : std::uint8_t {
  closed,
  listen,
  syn_sent,
  syn_received,
  established,
  fin_wait_1,
  fin_wait_2,
  close_wait,
  closing,
  last_ack,
  time_wait,
};
const char* state_name(State s) noexcept;

// Why a connection went to CLOSED (which final callback the handler gets).
enum class Term : std::uint8_t { none, closed, reset, timeout, refused, aborted };

enum TimerKind : std::uint8_t { kTimerRexmit = 1, kTimerDelack = 2, kTimerWait = 3 };

class ConnHandler;
class Listener;

inline constexpr unsigned kMaxOoo = 8;

struct OooRange {
  Seq left;
  Seq right;
};

// One transmitted segment on the send side, for RACK (RFC 8985 §6.1:
// per-segment transmit time and SACK/lost/retransmitted state). Records cover
// [SND.UNA, SND.MAX) in sequence order; a FIN counts as one byte of `end`.
inline constexpr std::uint8_t kSegSacked = 1, kSegLost = 2, kSegRetrans = 4, kSegRtoLost = 8;
struct SentSeg {
  Seq start, end;
  std::uint32_t xmit_us = 0;  // last transmission, low 32 bits of the microsecond clock
  std::uint8_t flags = 0;
};

// What the retransmission timer currently stands for (one timer, RFC 8985 §8).
enum TimerMode : std::uint8_t { kModeRto = 0, kModeReo = 1, kModeTlp = 2 };

// Hot first: what every segment of an established connection reads or
// writes (lookup, sequence space, windows, RTT, RACK, the retransmission and
// delayed-ACK timers, both buffers' heads) lies in the lines up to
// kTcbHotEnd plus the receive buffer's head; handshake, recovery, undo,
// out-of-order and closing state come after. Stack::input() prefetches only
// the hot lines. With 2,000 connections a worker's control blocks are
// several MiB, more than its L2: each line not touched is a miss saved.
struct alignas(64) Tcb {
  // --- line 0: lookup, and what the prefetches after it need (the handler,
  // the transmit records): with them here those misses overlap the rest
  // of the block's instead of following them.
  Addr laddr, raddr;  // either family, IPv4-mapped for IPv4
  std::uint16_t lport = 0, rport = 0;
  std::uint32_t hnext = UINT32_MAX;
  ConnHandler* handler = nullptr;
  // Sender scoreboard (RFC 6675 with RACK's IsLost, RFC 8985): a ring of
  // transmit records held only while data is in flight (SACK connections).
  SentSeg* segs = nullptr;
  std::uint32_t seg_head = 0, seg_count = 0;

  // --- line 1: the flags every segment tests, send sequence space (RFC 9293 §3.3.1)
  std::uint32_t gen = 0;
  State state = State::closed;
  bool used = false;
  bool ts_on = false, sack_on = false;
  bool in_recovery = false;
  bool ack_now = false;
  bool in_dispatch = false;
  std::uint8_t events = 0;
  bool peer_fin = false;     // FIN received in order
  bool app_closed = false;   // close(): handler detached, FIN queued
  bool wr_shutdown = false;  // FIN queued at snd_end
  bool persist = false;      // rexmit timer is the persist timer
  bool want_write = false;   // a write() came back short
  bool linger = false;       // linger(): after close(), discard input instead of RST
  bool tlp_on = false;       // TLP (RFC 8985 §7): one probe per episode
  bool undo_on = false;
  bool rack_init = false;
  bool rack_reordering = false;
  bool dsack_round_on = false;
  bool rto_recovery = false;  // loss recovery after an RTO (slow start, RFC 8985 §6.3)
  Seq iss, snd_una, snd_nxt, snd_max, snd_end, snd_wl1, snd_wl2, recover;
  std::uint32_t snd_wnd = 0, max_snd_wnd = 0;

  // --- line 2: congestion window, receive sequence space, timestamps, RTT (RFC 6298)
  std::uint32_t cwnd = 0, ssthresh = 0;
  std::uint16_t smss = 536;  // payload bytes per segment after options
  std::uint8_t snd_wscale = 0, rcv_wscale = 0;
  std::uint8_t backoff = 0;
  std::uint8_t dupacks = 0;
  std::uint8_t unacked_segs = 0;
  std::uint8_t ka_probes = 0;
  Seq rcv_nxt, rcv_data, rcv_adv, read_pos, last_ack_sent;
  std::uint32_t ts_recent = 0, ts_offset = 0;
  std::uint32_t srtt_us = 0, rttvar_us = 0, rto_us = 0;
  std::uint32_t ca_acc = 0;
  std::uint8_t ooo_count = 0;
  bool ooo_fin = false;  // FIN received ahead of a hole
  bool rtt_timing = false;
  bool dsack_pending = false;

  // --- line 3: RACK (RFC 8985 §6.1) and the scoreboard's sums
  std::uint8_t tmode = kModeRto;
  std::uint8_t reo_wnd_mult = 1;
  std::uint32_t idx = 0;  // in the ConnId the callbacks get
  std::uint64_t ts_recent_us = 0;
  std::uint64_t last_rx_us = 0;  // keep-alive idleness
  std::uint32_t sacked_bytes = 0, lost_bytes = 0, sacked_segs = 0;
  std::uint32_t rack_rtt_us = 0;
  std::uint32_t xmit_last = 0;  // latest transmit stamp given out
  Seq rack_end, rack_fack;
  Seq rxt_high;  // end of the highest RACK retransmission (RFC 6675 HighRxt), for D-SACKs
  std::uint64_t rto_at = 0;  // when the RTO is due (the timer may stand for TLP/REO first)

  // --- lines 4-5
  std::uint64_t rack_xmit_us = 0;  // send time of the most recently sent delivered segment
  WindowedMin rack_min_rtt;  // µs over Config::rack_min_rtt_window_us, stamped in ms (§6.2 step 1)
  Timer t_rexmit, t_delack;
  SeqBuffer sndbuf;  // its head (rotation, first chunk) hot, the other chunks not

  // --- cold from here, but for rcvbuf's head
  std::uint32_t snext = UINT32_MAX;  // chain by remote address
  SeqBuffer rcvbuf;

  Term term = Term::none;  // why it went to CLOSED (which final callback)
  bool passive = false;
  bool ws_offered = false;  // peer sent window scale in its SYN
  bool skip_tw = false;     // skip_time_wait(): no TIME_WAIT entry at the end
  bool tlp_retrans = false;
  std::uint8_t ooo_latest = 0;
  std::uint8_t reo_wnd_persist = 0;
  std::uint16_t peer_mss = 536;
  Listener* listener = nullptr;
  Seq irs, fin_seq_in, rtt_seq;
  Seq dsack_round;
  Seq tlp_end;
  std::uint64_t rtt_start = 0;
  std::uint64_t retransmits = 0;
  OooRange ooo[kMaxOoo];
  OooRange dsack;  // RFC 2883: a duplicate to report first in the next ACK (dsack_pending)
  Cubic cubic;     // used when Config::cc is cubic
  // PRR in fast recovery (RFC 6937 §3.1): bytes delivered and sent since it
  // started, FlightSize then, and what the latest ACK lets out.
  std::uint32_t prr_delivered = 0, prr_out = 0, prr_recover_fs = 0, prr_sndcnt = 0;
  // Without SACK (RFC 6937 §3): bytes counted as delivered by duplicate ACKs
  // that the cumulative ACK has not covered yet.
  std::uint32_t prr_dup_bytes = 0;
  // Undo of a spurious fast recovery (RFC 3708 / RFC 3522 detection, RFC 4015
  // response): cwnd and ssthresh before the episode, the bytes it resent that
  // no D-SACK has reported yet, the range they lie in, the TSval of its first
  // retransmission and where that one ended (for the Eifel check).
  std::uint32_t undo_cwnd = 0, undo_ssthresh = 0, undo_bytes = 0, undo_ts = 0;
  Seq undo_lo, undo_hi, undo_first_end;
  std::uint16_t undo_segs = 0;
  bool undo_eifel_done = false;
  Cubic undo_cubic;  // CUBIC's W_max, K, W_est and epoch before the episode (RFC 9438 §4.9)
  Timer t_wait;
};

// The lines Stack::input() prefetches: all before kTcbHotEnd (the send
// buffer's head included) and the receive buffer's head.
inline constexpr std::size_t kTcbHotEnd = 6 * 64;
static_assert(offsetof(Tcb, sndbuf) + SeqBuffer::kHeadBytes <= kTcbHotEnd, "send buffer head not hot");
static_assert(offsetof(Tcb, seg_count) < 64 && offsetof(Tcb, handler) < 64, "prefetch sources not in line 0");
static_assert(offsetof(Tcb, idx) < kTcbHotEnd && offsetof(Tcb, t_delack) + sizeof(Timer) <= kTcbHotEnd,
              "per-segment fields not hot");
static_assert(offsetof(Tcb, rcvbuf) / 64 == (offsetof(Tcb, rcvbuf) + SeqBuffer::kHeadBytes - 1) / 64,
              "receive buffer head straddles two lines");


}  // namespace turnpike::tcp
