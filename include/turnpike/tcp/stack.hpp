// Per-worker TCP stack (RFC 9293): connection table, listeners, timers and
// buffers for one worker, no locks, no system calls, no allocation per segment.
//
// The packet plane drives it with three calls:
//   stack.input(SegmentIn{...}, now_us)   every received TCP segment
//   stack.poll_timers(now_us)             once per loop iteration
//   SegmentSink::alloc/send               implemented by the packet plane
// and the layer above (TLS) uses connect/listen/read/write/close with
// ConnHandler callbacks. Time is an explicit microsecond clock.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/tcp/buffer.hpp"
#include "turnpike/tcp/header.hpp"
#include "turnpike/tcp/seq.hpp"
#include "turnpike/tcp/siphash.hpp"
#include "turnpike/tcp/tcb.hpp"
#include "turnpike/tcp/timer_wheel.hpp"

namespace turnpike::tcp {

// One received segment: addresses (IPv4 in host order converts to its
// IPv4-mapped form), TCP header + payload.
struct SegmentIn {
  Addr src;
  Addr dst;
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  bool csum_verified = false;  // the NIC checked it; otherwise the stack does
};

// Where the stack puts outgoing segments. alloc() returns room for a TCP
// header + payload of up to max_len bytes (the packet plane keeps headroom
// for Ethernet and an IPv4 or IPv6 header in front) or nullptr; send()
// hands it over; the family is that of the addresses.
class SegmentSink {
 public:
  virtual ~SegmentSink() = default;
  virtual std::uint8_t* alloc(std::size_t max_len, void** handle) = 0;
  virtual void send(void* handle, const Addr& src, const Addr& dst, std::size_t tcp_len) = 0;
};

struct ConnId {
  std::uint32_t idx = UINT32_MAX;
  std::uint32_t gen = 0;
  bool valid() const noexcept { return idx != UINT32_MAX; }
  friend bool operator==(ConnId, ConnId) = default;
};

enum class Error : std::uint8_t { none, timeout, refused, reset, aborted, no_resources };
const char* error_name(Error e) noexcept;

class Stack;

// Callbacks for the layer above. on_reset, on_error and on_closed are final:
// the ConnId becomes invalid when they return (data still unread may be read
// inside them). After close() or abort() no callback comes at all.
class ConnHandler {
 public:
  virtual ~ConnHandler() = default;
  virtual void on_connected(Stack&, ConnId) {}     // active open completed
  virtual void on_readable(Stack&, ConnId) {}      // new in-order bytes
  virtual void on_writable(Stack&, ConnId) {}      // space again after a short write()
  virtual void on_peer_closed(Stack&, ConnId) {}   // FIN: no bytes after those readable
  virtual void on_reset(Stack&, ConnId) {}         // RST from the peer (final)
  virtual void on_error(Stack&, ConnId, Error) {}  // timeout, refused (final)
  virtual void on_closed(Stack&, ConnId) {}        // orderly end, both FINs done (final)
};

class Listener {
 public:
  virtual ~Listener() = default;
  // Three-way handshake completed. Return the handler, or nullptr to refuse (RST).
  virtual ConnHandler* on_accept(Stack&, ConnId) = 0;
};

enum class CongestionControl : std::uint8_t { newreno, cubic };  // RFC 5681/6582, RFC 9438

struct Config {
  std::uint16_t mss = 1460;                 // advertised on IPv4: port MTU - 40; IPv6 gets 20 less
  std::uint32_t rcvbuf = 256 * 1024;        // rounded up to 2^k chunks, at most 16 chunks
  std::uint32_t sndbuf = 256 * 1024;
  std::uint32_t chunk_size = 16 * 1024;     // buffer granule (power of two)
  std::uint32_t max_chunks = 8192;          // per-worker buffer memory bound
  std::uint32_t max_connections = 4096;     // pooled control blocks
  std::uint32_t max_half_open = 1024;       // SYN_RECEIVED bound per worker
  std::uint32_t tick_us = 1000;             // timer wheel granularity
  std::uint32_t rto_initial_us = 1'000'000; // RFC 6298 §2.1
  std::uint32_t rto_min_us = 200'000;       // RFC 6298 §2.4 says 1 s; 200 ms as Linux
  std::uint32_t rto_max_us = 60'000'000;    // RFC 6298 §2.5
  std::uint32_t delack_us = 40'000;         // RFC 5681 §4.2: < 500 ms
  // RFC 8985 §7.2 WCDelAckT: the peer's worst-case delayed ACK, added to the
  // tail loss probe timeout when one segment is in flight.
  std::uint32_t tlp_max_ack_delay_us = 200'000;
  // Floor of the probe timeout: below it a probe mostly duplicates a segment
  // whose ACK is only slow (LAN RTTs, millisecond timestamps), as FreeBSD's
  // RACK stack floors it at 10 ms. RFC 8985 §7.2 leaves the floor open.
  std::uint32_t tlp_min_pto_us = 10'000;
  // RACK.min_RTT is the minimum of the RTT samples of this long (RFC 8985
  // §6.2 step 1: windowed, so a longer path after a route change is taken
  // up instead of an all-time minimum). 300 s as Linux's tcp_min_rtt_wlen:
  // SIP connections idle between keep-alives keep their handshake minimum.
  std::uint32_t rack_min_rtt_window_us = 300'000'000;
  std::uint64_t time_wait_us = 60'000'000;  // 2 MSL (RFC 9293 §3.4.2)
  // TIME_WAIT lives in compact entries apart from the control blocks, so it
  // never costs a new connection its block; this bounds them (oldest evicted
  // when full, as Linux's tcp_max_tw_buckets). 0: no TIME_WAIT kept.
  std::uint32_t max_time_wait = 32768;
  std::uint64_t fin_wait2_us = 60'000'000;  // orphaned FIN_WAIT_2 lifetime
  std::uint64_t linger_us = 2'000'000;      // linger(): how long a closed side keeps discarding
  std::uint8_t syn_retries = 6;
  std::uint8_t synack_retries = 5;
  std::uint8_t max_retries = 15;            // RFC 1122 4.2.3.5 R2
  std::uint8_t init_cwnd_segments = 10;     // RFC 6928 IW10
  std::uint8_t max_ooo_ranges = 8;          // out-of-order holes kept (<= kMaxOoo)
  bool timestamps = true;                   // RFC 7323 §3
  bool window_scaling = true;               // RFC 7323 §2
  bool sack = true;                         // RFC 2018 (receiver blocks)
  bool dsack = true;                        // RFC 2883: duplicates reported in the first block
  bool nagle = false;                       // RFC 9293 §3.7.4, off by default
  bool tx_checksum_offload = false;         // leave pseudo-header sum for the NIC
  bool syn_cookies = true;                  // RFC 4987 when the half-open table is full
  std::uint32_t max_per_source = 0;         // passive connections per remote address (0 = no cap)
  std::uint64_t keepalive_idle_us = 0;      // RFC 1122 4.2.3.6; 0 = off
  std::uint64_t keepalive_interval_us = 75'000'000;
  std::uint8_t keepalive_probes = 9;
  std::uint32_t challenge_ack_per_sec = 1000;  // RFC 5961 §7
  CongestionControl cc = CongestionControl::newreno;
  SipKey secret{0x0123456789abcdefull, 0xfedcba9876543210ull};  // RFC 6528 key: set per boot
  std::uint16_t ephemeral_lo = 32768;
  std::uint16_t ephemeral_hi = 60999;
  // Active opens with lport 0 take only ports this accepts, e.g.
  // RssSteering::port_ok so replies hash to this worker's RX queue.
  bool (*port_ok)(void* ctx, const Addr& laddr, std::uint16_t lport, const Addr& raddr,
                  std::uint16_t rport) = nullptr;
  void* port_ok_ctx = nullptr;
};

// X(name, description): every drop and every decision has a named counter.
#define TURNPIKE_TCP_COUNTERS(X)                                                   \
  X(rx_segments, "segments handed to input()")                                     \
  X(rx_bad_checksum, "dropped: TCP checksum mismatch")                             \
  X(rx_malformed, "dropped: header shorter than 20 bytes or bad data offset")      \
  X(rx_bad_options, "segments with malformed options (options ignored)")           \
  X(rx_no_conn, "segments for no connection or listener (RST sent unless RST)")    \
  X(rx_out_of_window, "unacceptable sequence number (ACK sent, RFC 9293 §3.10.7.4)") \
  X(rx_paws, "dropped by PAWS (RFC 7323 §5.3)")                                    \
  X(rx_no_timestamp, "dropped: no timestamp after negotiation (RFC 7323 §3.2)")    \
  X(rx_ack_too_new, "ACK for data not yet sent (ACK sent, dropped)")               \
  X(rx_ack_too_old, "ACK older than the send window (RFC 5961 §5.2)")              \
  X(rx_ooo_segments, "out-of-order segments queued")                               \
  X(rx_ooo_dropped, "out-of-order segments dropped: too many holes")               \
  X(rx_holes_filled, "in-order segments that filled a hole (a loss repaired by the peer)") \
  X(rx_dup_segments, "segments carrying only data already received (peer retransmitted)") \
  X(tx_dsacks, "D-SACK blocks sent: duplicate data reported to the peer (RFC 2883 §4)") \
  X(rx_no_buffer, "segments dropped: buffer chunk pool exhausted")                 \
  X(rx_bytes, "in-order payload bytes received")                                   \
  X(rx_dup_acks, "duplicate ACKs (RFC 5681 §2)")                                   \
  X(tx_segments, "segments sent")                                                  \
  X(tx_bytes, "payload bytes sent (incl. retransmissions)")                        \
  X(tx_alloc_fail, "segments not sent: sink had no buffer")                        \
  X(tx_rst, "RST segments sent")                                                   \
  X(tx_delayed_acks, "delayed ACKs sent by the timer")                             \
  X(retransmits, "segments retransmitted (all causes)")                            \
  X(rto_timeouts, "retransmission timeouts (RFC 6298 §5.4)")                       \
  X(fast_retransmits, "fast retransmits (RFC 5681 §3.2)")                          \
  X(partial_acks, "partial ACKs in recovery (RFC 6582 §3.2)")                     \
  X(sack_recoveries, "SACK-based loss recoveries entered (RFC 6675 §5)")          \
  X(rack_marked_lost, "segments RACK marked lost (RFC 8985 §6.2 step 5)")          \
  X(rack_retransmits, "retransmissions of segments RACK marked lost (NextSeg, RFC 6675 §4)") \
  X(rack_lost_retransmits, "retransmissions found lost again by RACK, repaired without an RTO") \
  X(rack_reo_timeouts, "RACK reordering timer expirations (RFC 8985 §6.2 step 5)")  \
  X(rack_reordering, "segments delivered below RACK.fack: reordering seen (RFC 8985 §6.2)") \
  X(rack_dsacks, "D-SACK blocks received (RFC 2883): RACK.reo_wnd widened (RFC 8985 §6.2)") \
  X(spurious_retransmits, "RACK retransmissions a D-SACK showed unneeded (RFC 3708): reordering assumed") \
  X(undo_dsack, "fast recoveries undone: every retransmission D-SACKed (RFC 3708 §3); cwnd/ssthresh restored (RFC 4015)") \
  X(undo_eifel, "fast recoveries undone: the ACK of the only retransmission echoed an older TSval (RFC 3522 §3.2)") \
  X(rack_no_record, "new segments held back: transmit record ring full or record pool empty") \
  X(rto_retransmits, "retransmissions of segments an RTO marked lost (RFC 8985 §6.3)") \
  X(tlp_probes, "tail loss probes sent (RFC 8985 §7.3)")                         \
  X(tlp_recoveries, "probes that repaired a loss: cwnd reduced (RFC 8985 §7.4)")  \
  X(tlp_spurious, "probes found unnecessary by D-SACK or a duplicate ACK (RFC 8985 §7.4)") \
  X(persist_probes, "zero-window probes sent (RFC 9293 §3.8.6.1)")                 \
  X(challenge_acks, "challenge ACKs sent (RFC 5961)")                              \
  X(challenge_acks_limited, "challenge ACKs suppressed by the rate limit")         \
  X(syn_received, "SYNs accepted on listeners")                                    \
  X(syn_dropped_half_open, "SYNs dropped: half-open table full")                   \
  X(syn_dropped_no_conn, "SYNs dropped: connection pool exhausted")                \
  X(syn_dropped_no_memory, "SYNs dropped: buffer chunks above 7/8 of the pool")    \
  X(syn_cookies_sent, "SYN-ACKs with a cookie (half-open table full, RFC 4987)")  \
  X(syn_cookies_ok, "connections created by a valid cookie ACK")                  \
  X(syn_cookies_bad, "ACKs to a listener with no valid cookie while cookies are out (RST sent)") \
  X(synack_retransmits, "SYN-ACK retransmissions")                                 \
  X(accepted, "passive opens completed")                                           \
  X(refused_by_app, "handshakes refused by the listener callback")                 \
  X(connects, "active opens started")                                              \
  X(connected, "active opens completed")                                           \
  X(resets_received, "connections reset by the peer")                              \
  X(timeouts, "connections dropped after retries ran out")                         \
  X(time_wait_reused, "TIME_WAIT reused early by a new SYN (RFC 6191)")            \
  X(time_wait_reused_active, "TIME_WAIT 4-tuples taken by our own active open (timestamps, >= 1 s)") \
  X(time_wait_entered, "connections kept in TIME_WAIT (compact entries)")          \
  X(time_wait_evicted, "TIME_WAIT entries evicted early: TIME_WAIT table full")    \
  X(time_wait_skipped, "closes that left no TIME_WAIT (failed handshakes, skip_time_wait)") \
  X(time_wait_killed, "TIME_WAIT ended by the peer's RST (RFC 9293 §3.10.7.4)")    \
  X(closed, "connections released")                                                \
  X(refused_per_source, "SYNs dropped: per-source connection cap reached")        \
  X(keepalive_probes, "keep-alive probes sent (RFC 1122 4.2.3.6)")                 \
  X(keepalive_timeouts, "connections dropped: keep-alive probes unanswered")      \
  X(data_after_close, "data after close(): connection reset (RFC 1122 4.2.2.13)")   \
  X(linger_discarded, "segments discarded by a lingering close instead of a reset")     \
  X(linger_timeouts, "lingering closes that ran out of time (RST sent)")

// One writer (the worker), readers on other threads (telemetry): the
// relaxed cells of turnpike/counter.hpp.
struct Counters {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_TCP_COUNTERS)
};

struct ConnInfo {
  State state = State::closed;
  std::uint32_t laddr = 0, raddr = 0;  // IPv4, host order; 0 on an IPv6 connection
  Addr local, remote;                  // either family
  std::uint16_t lport = 0, rport = 0;
  std::uint32_t srtt_us = 0;
  std::uint32_t rto_us = 0;
  std::uint32_t cwnd = 0;
  std::uint32_t ssthresh = 0;
  float cubic_w_max = 0;  // CUBIC's W_max in bytes (RFC 9438 §4.2; 0 before any reduction)
  std::uint32_t snd_wnd = 0;
  std::uint16_t smss = 0;
  std::uint8_t snd_wscale = 0;
  std::uint8_t rcv_wscale = 0;
  bool timestamps = false;
  bool sack = false;
  std::uint64_t retransmits = 0;
};

class Stack {
 public:
  Stack(const Config& cfg, SegmentSink& sink, std::uint64_t now_us = 0);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // --- packet plane --------------------------------------------------------
  void input(const SegmentIn& seg, std::uint64_t now_us);
  void poll_timers(std::uint64_t now_us);

  // --- layer above -----------------------------------------------------------
  // ip 0 = any local IPv4 address, Addr::any6() (::) = any address of
  // either family (dual stack); a specific address takes only its own.
  // Returns 0, -EADDRINUSE or -EINVAL.
  int listen(const Addr& ip, std::uint16_t port, Listener& l);
  int unlisten(const Addr& ip, std::uint16_t port);
  // Active open; lport 0 picks an ephemeral port. Invalid id on failure.
  // Both addresses of one family.
  ConnId connect(const Addr& laddr, std::uint16_t lport, const Addr& raddr, std::uint16_t rport,
                 ConnHandler& h);

  // Copies up to n bytes into the send buffer; returns bytes accepted (0 when
  // full: on_writable follows). Negative errno for a bad id or closed side.
  long write(ConnId id, const void* data, std::size_t n);
  std::size_t write_space(ConnId id) const;
  std::size_t readable(ConnId id) const;
  // Zero-copy read: the longest contiguous run of readable bytes; consume()
  // releases them (and opens the window).
  std::span<const std::uint8_t> peek(ConnId id) const;
  void consume(ConnId id, std::size_t n);
  std::size_t read(ConnId id, void* out, std::size_t n);
  int shutdown_write(ConnId id);  // send FIN after queued data
  int close(ConnId id);           // FIN (RST if unread data), detach the handler
  int abort(ConnId id);           // RST now, detach the handler
  int set_handler(ConnId id, ConnHandler* h);
  // The connection will not be kept in TIME_WAIT when it gets there (use for
  // connections that carried no application data, e.g. failed handshakes;
  // the caller says why that is safe). Returns 0 or -EINVAL.
  int skip_time_wait(ConnId id);
  // A lingering close (nginx's lingering_close): close() then discards what
  // is unread or still arrives instead of answering it with a RST, until the
  // peer's FIN or Config::linger_us. For refusals: a RST would make the
  // peer's kernel drop the alert or error reply we just sent.
  int linger(ConnId id);

  State state(ConnId id) const;
  // The connection for a 4-tuple (diagnostics, tests); invalid if none. A
  // TIME_WAIT entry has an id that state() knows and every other call refuses.
  ConnId find(const Addr& laddr, std::uint16_t lport, const Addr& raddr, std::uint16_t rport);
  bool info(ConnId id, ConnInfo& out) const;
  const Counters& counters() const noexcept { return ctr_; }
  // Any thread (telemetry): relaxed single-writer cells, a moment old at worst.
  std::size_t connections() const noexcept { return active_.load(); }
  std::size_t half_open() const noexcept { return half_open_.load(); }
  std::size_t time_wait() const noexcept { return tw_live_.load(); }  // compact TIME_WAIT entries
  std::size_t chunks_in_use() const noexcept { return pool_.in_use(); }
  std::size_t chunk_size() const noexcept { return pool_.chunk_size(); }
  // Transmit record rings held (RACK, RFC 8985 §6.1): one per connection with data in flight.
  std::size_t record_rings_in_use() const noexcept { return seg_pool_.in_use(); }
  std::uint64_t now() const noexcept { return now_; }
  const Config& config() const noexcept { return cfg_; }
  static constexpr std::size_t control_block_size() noexcept { return sizeof(Tcb); }
  static constexpr std::size_t time_wait_entry_size() noexcept { return sizeof(TwEntry); }

 private:
  // A connection in TIME_WAIT after its handler is gone: what RFC 9293
  // §3.10.7.4 and RFC 6191 need (4-tuple, both sequence numbers, timestamps),
  // 80 bytes instead of a control block. Kept in a FIFO ring: every
  // entry lives the same 2MSL, so the head is always the oldest.
  struct TwEntry {
    Addr laddr, raddr;
    std::uint16_t lport = 0, rport = 0;
    Seq snd_nxt, rcv_nxt;
    std::uint32_t rcv_wnd = 0;  // bytes we last offered beyond rcv_nxt
    std::uint32_t ts_recent = 0, ts_offset = 0;
    std::uint64_t expires = 0;
    std::uint32_t hnext = UINT32_MAX;
    std::uint32_t gen = 0;
    std::uint32_t ts_recent_ms = 0;  // when ts_recent was recorded (now_ / 1000, wraps)
    std::uint8_t rcv_wscale = 0;
    bool live = false;
    bool ts_on = false;
    bool restarted = false;  // 2MSL restarted by a FIN: requeue at the tail
  };
  struct ListenerEntry {
    Addr ip;
    std::uint16_t port;
    Listener* l;
  };

  // table
  Tcb* lookup(const Addr& laddr, std::uint16_t lport, const Addr& raddr, std::uint16_t rport);
  std::uint32_t bucket(const Addr& laddr, std::uint16_t lport, const Addr& raddr,
                       std::uint16_t rport) const noexcept;
  Tcb* alloc_tcb(const Addr& laddr, std::uint16_t lport, const Addr& raddr, std::uint16_t rport);
  void release(Tcb& t);
  Tcb* get(ConnId id) noexcept;
  const Tcb* get(ConnId id) const noexcept;
  ConnId id_of(const Tcb& t) const noexcept { return ConnId{t.idx, t.gen}; }
  Listener* find_listener(const Addr& ip, std::uint16_t port) const noexcept;

  // input
  void on_listen(Listener& l, const SegmentIn& seg, Header& h);
  void init_passive(Tcb& t, Listener& l, const Header& syn, Seq iss);
  std::uint32_t cookie_mac(const SegmentIn& seg, const Header& h, Seq peer_isn, std::uint32_t slot,
                           std::uint32_t bits) const noexcept;
  Seq make_cookie(const SegmentIn& seg, const Header& h) const noexcept;
  bool check_cookie(const SegmentIn& seg, const Header& h, Header& syn) const noexcept;
  void on_syn_sent(Tcb& t, const Header& h);
  void on_segment(Tcb& t, Header& h);
  bool on_ack(Tcb& t, const Header& h);
  void on_new_ack(Tcb& t, const Header& h, Seq ack);
  void on_dup_ack(Tcb& t);
  void on_data(Tcb& t, const Header& h);
  void on_fin(Tcb& t);
  void negotiate(Tcb& t, const Header& h);
  bool ooo_insert(Tcb& t, Seq l, Seq r);
  void deliver_in_order(Tcb& t);

  // output
  bool emit(Tcb& t, Seq seq, std::uint32_t len, std::uint8_t flags);
  void output(Tcb& t, bool force = false);
  void send_ack(Tcb& t) { emit(t, t.snd_max, 0, flag::ack); }
  void challenge_ack(Tcb& t);
  void send_rst(const Addr& src, const Addr& dst, std::uint16_t sport, std::uint16_t dport, Seq seq,
                Seq ack, bool with_ack);
  void reply_rst(const SegmentIn& seg, const Header& h);
  // Resends the oldest unacknowledged segment; returns the sequence number
  // just past what it covered.
  Seq retransmit_first(Tcb& t);
  std::uint16_t advertise_window(Tcb& t, bool syn);
  void maybe_window_update(Tcb& t);
  std::uint32_t ts_now(const Tcb& t) const noexcept {
    return static_cast<std::uint32_t>(now_ / 1000) + t.ts_offset;
  }

  // timers and state
  void on_timer(Timer& tm);
  void on_rto(Tcb& t);
  void arm_rto(Tcb& t);
  void rtt_sample(Tcb& t, std::uint64_t r_us);
  std::uint32_t reduce(Tcb& t);
  // SACK loss recovery (RFC 6675) on transmit records, sack.cpp
  SentSeg& seg(Tcb& t, std::uint32_t i) noexcept { return t.segs[(t.seg_head + i) & seg_mask_]; }
  bool seg_room(Tcb& t);
  void seg_push(Tcb& t, Seq start, Seq end);
  void seg_acked(Tcb& t, Seq ack);
  void seg_free(Tcb& t);
  void seg_mark(Tcb& t, SentSeg& r, std::uint8_t set, std::uint8_t clear) noexcept;
  std::uint32_t stamp(Tcb& t, bool retransmission) noexcept;
  SentSeg* first_lost(Tcb& t) noexcept;
  bool send_new(Tcb& t, Seq seq, std::uint32_t len, std::uint8_t flags);
  bool resend(Tcb& t, SentSeg& r);
  std::uint32_t sack_pipe(const Tcb& t) const noexcept;
  void sack_enter_recovery(Tcb& t);
  // Undo of a spurious fast recovery (sack.cpp).
  void undo_start(Tcb& t) noexcept;
  void undo_note_rxt(Tcb& t, Seq start, Seq end) noexcept;
  void undo_dsack(Tcb& t, Seq l, Seq r) noexcept;
  void undo_check(Tcb& t, const Header& h);
  void sack_output(Tcb& t);
  void dsack_note(Tcb& t, Seq l, Seq r) noexcept;
  void prr_update(Tcb& t, std::uint32_t delivered) noexcept;
  // RACK-TLP (RFC 8985), rack.cpp; on connections with SACK
  bool rack_on(const Tcb& t) const noexcept { return t.sack_on; }
  void rack_on_ack(Tcb& t, const Header& h, Seq ack);
  void handshake_rtt(Tcb& t) noexcept;
  void rack_after_ack(Tcb& t, std::uint32_t delivered);
  std::uint64_t rack_reo_wnd(const Tcb& t) const noexcept;
  std::uint64_t rack_detect_loss(Tcb& t);
  void rack_arm(Tcb& t, std::uint64_t reo_timeout);
  bool tlp_eligible(const Tcb& t) const noexcept;
  void tlp_arm(Tcb& t);
  void rack_timer(Tcb& t);
  void rack_rto(Tcb& t);
  void tlp_send(Tcb& t);
  void enter_time_wait(Tcb& t);
  void tw_insert(const Tcb& t);
  std::uint32_t tw_lookup(const Addr& laddr, std::uint16_t lport, const Addr& raddr,
                          std::uint16_t rport) const noexcept;
  void tw_unlink(std::uint32_t i) noexcept;
  void tw_pop_head() noexcept;
  void tw_expire() noexcept;
  void on_time_wait(std::uint32_t i, const SegmentIn& seg, Header& h);
  void tw_ack(const TwEntry& e);
  // An active open may take this entry's 4-tuple (tcp_tw_reuse's rule).
  bool tw_reusable(const TwEntry& e) const noexcept;
  bool challenge_allowed() noexcept;
  void established(Tcb& t);
  void on_keepalive(Tcb& t);
  std::uint32_t src_bucket(const Addr& raddr) const noexcept;
  std::uint32_t count_from(const Addr& raddr, std::uint32_t limit) const noexcept;
  // Advertised MSS: Config::mss on IPv4, 20 less on IPv6 (its header is 40
  // bytes, not 20: 1440 on a 1500 MTU).
  std::uint16_t local_mss(const Tcb& t) const noexcept {
    return static_cast<std::uint16_t>(t.raddr.is_v4() ? cfg_.mss : cfg_.mss - 20);
  }
  void to_closed(Tcb& t, Term why);
  void finish(Tcb& t);
  void do_abort(Tcb& t, Term why);
  Seq isn(const Addr& laddr, std::uint16_t lport, const Addr& raddr, std::uint16_t rport,
          std::uint32_t* ts_offset) const noexcept;
  std::uint32_t flight(const Tcb& t) const noexcept { return seq_dist(t.snd_una, t.snd_max); }
  // Oldest unacknowledged data byte. Compared with SND.UNA only: comparisons
  // against ISS stop being meaningful after 2 GiB (RFC 9293 §3.4).
  Seq data_lo(const Tcb& t) const noexcept {
    return seq_min(t.snd_una == t.iss ? t.iss + 1 : t.snd_una, t.snd_end);
  }

  Config cfg_;
  SegmentSink& sink_;
  std::uint64_t now_;
  TimerWheel wheel_;
  ChunkPool pool_;
  ChunkPool seg_pool_;  // transmit record rings, one per connection with data in flight
  std::uint32_t seg_mask_ = 0;
  std::vector<Tcb> tcbs_;
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> buckets_;
  std::vector<std::uint32_t> src_buckets_;  // chains by remote address (per-source cap)
  std::uint32_t bucket_mask_ = 0;
  std::vector<ListenerEntry> listeners_;
  SipKey table_key_;
  SipKey cookie_key_;
  Tcb scratch_;  // stateless SYN-ACKs (cookies)
  std::uint64_t cookies_until_ = 0;  // end of the last cookie's validity (us)
  std::vector<TwEntry> tw_;               // ring of max_time_wait slots
  std::vector<std::uint32_t> tw_buckets_;
  std::uint32_t tw_mask_ = 0;
  std::uint32_t tw_head_ = 0;
  std::uint32_t tw_count_ = 0;  // slots in use, dead ones included
  Gauge tw_live_;
  Gauge active_;
  Gauge half_open_;
  std::uint16_t next_ephemeral_;
  unsigned snd_chunks_ = 1;
  unsigned rcv_chunks_ = 1;
  std::uint8_t rcv_wscale_ = 0;
  std::uint64_t chack_window_start_ = 0;
  std::uint32_t chack_count_ = 0;
  Counters ctr_;
};

}  // namespace turnpike::tcp
