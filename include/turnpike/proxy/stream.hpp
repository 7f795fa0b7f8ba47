// One leg of a proxied connection (Envoy's transport socket): a connection
// of the per-core TCP stack, plain or carrying a TLS session (wolfSSL
// reading records straight out of the TCP receive buffer and writing them
// into the send buffer). Its owner, a proxy's policy, sees plaintext in and
// out and one callback with uniform events; the leg keeps the TCP id, the
// handshake, the plaintext queues and the handshake deadline.
//
// Back-pressure: write_some() takes only what the leg can send now (0: it
// is full and Writable follows); write() takes everything and queues the
// rest; full() says the queue reached the leg's bound, so the owner stops
// reading the other leg until Writable.
//
// Reading: peek() is the plaintext ready now (plain: the TCP buffer's
// contiguous run, no copy; TLS: records decrypted up to read_limit, the
// first into a per-thread scratch record when nothing was buffered, the
// rest into the leg's buffer), consume() takes bytes by offset. What peek()
// returned holds until consume() or another leg's peek().
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::proxy {

enum class StreamEvent : std::uint8_t {
  Open,       // active open completed (plain) or TLS handshake done
  Readable,   // plaintext may be ready: peek()
  Writable,   // room again after a short write_some() or a full() queue
  PeerEof,    // FIN from the peer: no bytes after those still readable
  // Handshake refused, a broken record, or a hibernated session that could
  // not wake (also raised from inside write(), write_some() or shutdown());
  // failure() names it.
  TlsFailed,
  Timeout,    // handshake not done by the deadline; failure() is "handshake timeout"
  Reset,      // RST from the peer (final: the leg is gone)
  Error,      // TCP error, e.g. connect refused or retries ran out; tcp_error() (final)
  Closed,     // orderly end, both FINs done (final)
};

class Stream;

class StreamOwner {
 public:
  // May call anything on any leg, including close() on this one; the owner
  // must stay alive until the callback returns.
  virtual void on_stream(Stream&, StreamEvent) = 0;

 protected:
  ~StreamOwner() = default;
};

class Stream final : public tcp::ConnHandler {
 public:
  Stream(tcp::Stack& st, StreamOwner& owner, std::size_t max_buffer);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // --- set-up -------------------------------------------------------------
  // A connection the listener accepted; the caller returns this leg as its
  // handler. With ctx: the server side of a TLS session.
  void accept(tcp::ConnId id, std::shared_ptr<const tls::Context> ctx = {});
  // An active open (lport 0: the stack picks a port). False when the stack
  // refuses it. May be called again after an Error before Open (the next
  // backend): what write() queued is kept and goes to the new connection.
  bool connect(const tcp::Addr& laddr, const tcp::Addr& raddr, std::uint16_t rport);  // one family
  // After connect(): the client side of a TLS session over it. peer_name is
  // what the server must prove (tls::Session); resume: a session saved
  // from an earlier connection to it (its ticket is offered).
  void start_tls(std::shared_ptr<const tls::Context> ctx, std::string peer_name, bool name_is_ip,
                 tls::SavedSession resume = {});
  // Raw bytes sent first on connect, before any TLS byte (PROXY v2).
  void set_preamble(std::string bytes) { preamble_ = std::move(bytes); }
  // Not Open by then: expired() (both TCP connect and TLS handshake).
  void set_deadline(std::uint64_t at_us) { deadline_ = at_us; }
  // How much decrypted plaintext peek() holds at most (TLS legs).
  void set_read_limit(std::size_t n) { read_limit_ = n; }

  // --- plaintext in -------------------------------------------------------
  std::span<const std::uint8_t> peek();
  void consume(std::size_t n);
  // No plaintext will come after what peek() still gives: the peer's FIN,
  // its close_notify, our own close_notify (the engine reads nothing after
  // it) or a failed session.
  bool eof() const;
  std::uint64_t received() const { return received_; }  // plaintext bytes taken in

  // --- plaintext out ------------------------------------------------------
  std::size_t write_some(const void* p, std::size_t n);
  void write(const void* p, std::size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  bool full() const { return backlog() >= max_; }
  std::size_t backlog() const;  // queued and not yet in the TCP send buffer
  // Plaintext written but not yet handed to TCP or TLS; cleared.
  std::string take_unsent();

  // --- ending -------------------------------------------------------------
  // Half-close after what is queued: FIN on a plain leg, close_notify on a
  // TLS leg (RFC 8446 §6.1).
  void shutdown();
  // close_notify if the session is up, what is queued, FIN. No events after.
  // linger: what the peer still sends is discarded, not reset (after an
  // error reply to a peer that may still be sending, e.g. a 513 for a body
  // too large: a RST would make its kernel drop the reply, RFC 1122
  // 4.2.2.13).
  void close(bool linger = false);
  // For a connection refused at its handshake (it carried no application
  // byte): the alert, then FIN with no TIME_WAIT and a lingering close.
  void refuse();
  void abort();  // RST

  // --- timers and memory --------------------------------------------------
  bool expired(std::uint64_t now_us) const;
  // The handshake deadline while the leg may still expire (0: none).
  std::uint64_t deadline() const { return deadline_ && !open_ && !gone_ ? deadline_ : 0; }
  void time_out();  // Timeout event (failure() "handshake timeout")
  void trim();      // an idle leg gives its empty buffers back
  // No traffic for idle_us: a TLS leg may hibernate (tls::Session::idle).
  void idle(std::uint64_t idle_us) {
    if (session_ && !gone_) session_->idle(idle_us);
  }

  // --- state --------------------------------------------------------------
  bool started() const { return id_.valid() || gone_; }
  bool connected() const { return connected_ && !gone_; }
  bool open() const { return open_ && !gone_; }
  bool gone() const { return gone_; }
  bool tls() const { return session_ != nullptr; }
  bool tls_failed() const { return session_ && session_->state() == tls::Session::State::Failed; }
  tls::Session* session() { return session_.get(); }
  const tls::Session* session() const { return session_.get(); }
  const std::string& failure() const;
  tcp::Error tcp_error() const { return err_; }
  tcp::ConnId id() const { return id_; }
  // Addresses of the connection (kept after it is gone).
  const tcp::ConnInfo& info();

  // --- tcp::ConnHandler -----------------------------------------------------
  void on_connected(tcp::Stack&, tcp::ConnId) override;
  void on_readable(tcp::Stack&, tcp::ConnId) override;
  void on_writable(tcp::Stack&, tcp::ConnId) override;
  void on_peer_closed(tcp::Stack&, tcp::ConnId) override;
  void on_reset(tcp::Stack&, tcp::ConnId) override;
  void on_error(tcp::Stack&, tcp::ConnId, tcp::Error) override;
  void on_closed(tcp::Stack&, tcp::ConnId) override;

 private:
  // The session's transport: this leg's TCP buffers (no copies of ours).
  struct Io final : tls::Session::Transport {
    explicit Io(Stream& s) : s(s) {}
    std::span<const std::uint8_t> peek() override;
    void consume(std::size_t n) override;
    std::size_t write(const std::uint8_t* p, std::size_t n) override;
    Stream& s;
  };

  void handshake();
  void opened();
  void flush();
  void pull();
  void stash();
  void after_read();
  void report_failure();
  void emit(StreamEvent e);
  void reset_connection();

  tcp::Stack& st_;
  StreamOwner& owner_;
  std::size_t max_;
  std::size_t read_limit_;
  // What every record and event reads, together in the object's first
  // lines (with thousands of connections each line is likely a miss).
  tcp::ConnId id_;
  std::unique_ptr<tls::Session> session_;
  Io io_{*this};
  bool connected_ = false, open_ = false, gone_ = false, fin_ = false;
  bool shut_pending_ = false, shut_ = false, fail_reported_ = false, eof_reported_ = false;
  bool rx_drained_ = false;  // a read came back empty while open: no fed bytes left in the session
  std::string out_;           // plaintext queued by write(); sent from out_off_
  std::size_t out_off_ = 0;
  std::vector<std::uint8_t> in_;  // decrypted plaintext (TLS legs) not in the scratch; read from in_off_
  std::size_t in_off_ = 0;
  std::uint64_t received_ = 0;
  std::string preamble_;
  // Set-up, deadline and failure details.
  tcp::ConnInfo info_;
  std::uint64_t deadline_ = 0;
  std::string timeout_failure_;
  tcp::Error err_ = tcp::Error::none;
};

}  // namespace turnpike::proxy
