// The transmission control block (RFC 9293 §3.3.1): types only; behaviour
// lives in Stack. Pooled per worker; ~750 bytes, buffers held only while they
// carry bytes.
#pragma once
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

struct Tcb {
  // identity and table linkage (either family, IPv4-mapped for IPv4)
  Addr laddr, raddr;
  std::uint16_t lport = 0, rport = 0;
  std::uint32_t idx = 0;
  std::uint32_t gen = 0;
  std::uint32_t hnext = UINT32_MAX;
  std::uint32_t snext = UINT32_MAX;  // chain by remote address

  State state = State::closed;
  Term term = Term::none;
  bool used = false;
  bool passive = false;
  bool app_closed = false;   // close(): handler detached, FIN queued
  bool wr_shutdown = false;  // FIN queued at snd_end
  bool peer_fin = false;     // FIN received in order
  bool ooo_fin = false;      // FIN received ahead of a hole
  bool ts_on = false, sack_on = false;
  bool ws_offered = false;   // peer sent window scale in its SYN
  bool in_recovery = false;
  bool rtt_timing = false;
  bool persist = false;      // rexmit timer is the persist timer
  bool ack_now = false;
  bool dsack_pending = false;
  bool want_write = false;   // a write() came back short
  bool in_dispatch = false;
  bool skip_tw = false;      // skip_time_wait(): no TIME_WAIT entry at the end
  bool linger = false;       // linger(): after close(), discard input instead of RST
  std::uint8_t events = 0;
  std::uint8_t backoff = 0;
  std::uint8_t snd_wscale = 0, rcv_wscale = 0;
  std::uint8_t unacked_segs = 0;
  std::uint8_t dupacks = 0;
  std::uint8_t ka_probes = 0;
  std::uint8_t ooo_count = 0;
  std::uint8_t ooo_latest = 0;

  ConnHandler* handler = nullptr;
  Listener* listener = nullptr;

  // send sequence space (RFC 9293 §3.3.1)
  Seq iss, snd_una, snd_nxt, snd_max, snd_end, snd_wl1, snd_wl2, recover, rtt_seq;
  std::uint32_t snd_wnd = 0, max_snd_wnd = 0;
  std::uint32_t cwnd = 0, ssthresh = 0, ca_acc = 0;
  std::uint16_t smss = 536;  // payload bytes per segment after options
  std::uint16_t peer_mss = 536;
  Cubic cubic;  // used when Config::cc is cubic

  // RTT (RFC 6298)
  std::uint32_t srtt_us = 0, rttvar_us = 0, rto_us = 0;
  std::uint64_t rtt_start = 0;
  std::uint64_t retransmits = 0;

  // receive sequence space
  Seq irs, rcv_nxt, rcv_data, rcv_adv, read_pos, last_ack_sent, fin_seq_in;
  std::uint32_t ts_recent = 0, ts_offset = 0;
  std::uint64_t ts_recent_us = 0;
  std::uint64_t last_rx_us = 0;  // keep-alive idleness
  OooRange ooo[kMaxOoo];
  OooRange dsack;  // RFC 2883: a duplicate to report first in the next ACK (dsack_pending)

  // Sender scoreboard (RFC 6675 with RACK's IsLost, RFC 8985): a ring of
  // transmit records held only while data is in flight (SACK connections).
  SentSeg* segs = nullptr;
  std::uint32_t seg_head = 0, seg_count = 0;
  std::uint32_t sacked_bytes = 0, lost_bytes = 0, sacked_segs = 0;
  // RACK (RFC 8985 §6.1)
  std::uint64_t rack_xmit_us = 0;  // send time of the most recently sent delivered segment
  Seq rack_end, rack_fack, dsack_round;
  Seq rxt_high;  // end of the highest RACK retransmission (RFC 6675 HighRxt), for D-SACKs
  std::uint32_t rack_rtt_us = 0;
  WindowedMin rack_min_rtt;  // µs over Config::rack_min_rtt_window_us, stamped in ms (§6.2 step 1)
  std::uint32_t xmit_last = 0;  // latest transmit stamp given out
  std::uint64_t rto_at = 0;  // when the RTO is due (the timer may stand for TLP/REO first)
  bool rack_init = false;
  bool rack_reordering = false;
  bool dsack_round_on = false;
  bool rto_recovery = false;  // loss recovery after an RTO (slow start, RFC 8985 §6.3)
  std::uint8_t reo_wnd_mult = 1, reo_wnd_persist = 0;
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
  Cubic undo_cubic;  // CUBIC's W_max, K, W_est and epoch before the episode (RFC 9438 §4.9)
  std::uint16_t undo_segs = 0;
  bool undo_on = false, undo_eifel_done = false;
  std::uint8_t tmode = kModeRto;
  // TLP (RFC 8985 §7): one probe per episode
  bool tlp_on = false, tlp_retrans = false;
  Seq tlp_end;

  SeqBuffer sndbuf, rcvbuf;
  Timer t_rexmit, t_delack, t_wait;
};

}  // namespace turnpike::tcp
