#include "turnpike/proxy/stream.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <algorithm>

namespace turnpike::proxy {

namespace {
constexpr std::size_t kRecord = 16384;  // TLS plaintext record size (RFC 8446 §5.1)
const std::string kNoFailure;

// One record's plaintext, shared by the thread's TLS legs: a leg with
// nothing buffered decrypts into it and its owner reads the message from
// there, so the usual whole message costs no copy into the leg's own
// buffer, whose lines are seldom in cache with thousands of connections.
// What the owner leaves is moved into its own buffer (stash()) before
// another leg decrypts into it. While a leg owns it, its in_ is empty.
// One byte more than a record's content: a whole TLSInnerPlaintext (RFC
// 8446 §5.2, content, type and padding, at most 2^14 + 1 bytes) fits, so
// the session's fast path opens any record in place.
struct Scratch {
  std::uint8_t buf[kRecord + 1]{};
  Stream* owner = nullptr;
  std::size_t off = 0, len = 0;
};
// Internal linkage and constant initialisation: each use is a plain
// thread-pointer access, with no TLS init wrapper call.
constinit thread_local Scratch t_scratch;
}  // namespace

Stream::Stream(tcp::Stack& st, StreamOwner& owner, std::size_t max_buffer)
    : st_(st), owner_(owner), max_(max_buffer), read_limit_(max_buffer) {}

Stream::~Stream() {
  if (t_scratch.owner == this) t_scratch.owner = nullptr;
}

// --- set-up -----------------------------------------------------------------

void Stream::accept(tcp::ConnId id, std::shared_ptr<const tls::Context> ctx) {
  reset_connection();
  id_ = id;
  connected_ = true;
  st_.info(id, info_);
  if (ctx) {
    session_ = std::make_unique<tls::Session>(std::move(ctx));
    session_->set_transport(&io_);
  } else {
    open_ = true;
  }
}

bool Stream::connect(const tcp::Addr& laddr, const tcp::Addr& raddr, std::uint16_t rport) {
  reset_connection();
  id_ = st_.connect(laddr, 0, raddr, rport, *this);
  if (!id_.valid()) return false;
  st_.info(id_, info_);
  return true;
}

void Stream::start_tls(std::shared_ptr<const tls::Context> ctx, std::string peer_name, bool name_is_ip,
                       tls::SavedSession resume) {
  session_ = std::make_unique<tls::Session>(std::move(ctx), std::move(peer_name), name_is_ip, std::move(resume));
  session_->set_transport(&io_);
}

// Everything but the plaintext queued by write(): a retry towards another
// peer carries it on.
void Stream::reset_connection() {
  id_ = {};
  info_ = {};
  session_.reset();
  preamble_.clear();
  if (t_scratch.owner == this) t_scratch.owner = nullptr;
  in_.clear();
  in_off_ = 0;
  deadline_ = 0;
  timeout_failure_.clear();
  err_ = tcp::Error::none;
  connected_ = open_ = gone_ = fin_ = false;
  shut_pending_ = shut_ = fail_reported_ = eof_reported_ = false;
  rx_drained_ = false;
}

// --- the session's transport --------------------------------------------------

std::span<const std::uint8_t> Stream::Io::peek() { return s.gone_ ? std::span<const std::uint8_t>{} : s.st_.peek(s.id_); }
void Stream::Io::consume(std::size_t n) {
  if (!s.gone_) s.st_.consume(s.id_, n);
}
std::size_t Stream::Io::write(const std::uint8_t* p, std::size_t n) {
  if (!s.connected_ || s.gone_) return 0;
  const long w = s.st_.write(s.id_, p, n);
  return w > 0 ? static_cast<std::size_t>(w) : 0;
}

// --- plaintext in -----------------------------------------------------------

std::span<const std::uint8_t> Stream::peek() {
  if (!session_) return gone_ || !id_.valid() ? std::span<const std::uint8_t>{} : st_.peek(id_);
  pull();
  if (t_scratch.owner == this) return {t_scratch.buf + t_scratch.off, t_scratch.len - t_scratch.off};
  return {in_.data() + in_off_, in_.size() - in_off_};
}

void Stream::consume(std::size_t n) {
  if (!session_) {
    if (!gone_) st_.consume(id_, n);
    return;
  }
  if (t_scratch.owner == this) {
    t_scratch.off = std::min(t_scratch.off + n, t_scratch.len);
    if (t_scratch.off == t_scratch.len) t_scratch.owner = nullptr;
    return;
  }
  in_off_ = std::min(in_off_ + n, in_.size());
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  }
}

// This leg's rest in the scratch goes to its own buffer.
void Stream::stash() {
  if (t_scratch.owner != this) return;
  in_.insert(in_.end(), t_scratch.buf + t_scratch.off, t_scratch.buf + t_scratch.len);
  t_scratch.owner = nullptr;
}

// Decrypts records up to the read limit: the first into the scratch when
// nothing is buffered, any more into in_ after it. Consumed bytes are
// dropped from in_'s front only once they are at least half the buffer, so
// a pipelining peer costs linear, not quadratic, copying.
void Stream::pull() {
  if (!session_ || !open_ || session_->state() != tls::Session::State::Open) return;
  for (;;) {
    const std::size_t held = (t_scratch.owner == this ? t_scratch.len - t_scratch.off : 0) + in_.size() - in_off_;
    if (held >= read_limit_) break;
    // A read that can only end in WANT_READ is not made: wolfSSL (built
    // with its OpenSSL layer) formats an error string for every one. It is
    // certain once no fed handshake bytes are left (a read came back empty
    // since the session opened), wolfSSL holds no decrypted rest (it reads
    // TLS records exactly, never past one) and the TCP buffer is empty; a
    // FIN still gets its read (the session sees the EOF there).
    if (rx_drained_ && !fin_ && (gone_ || st_.peek(id_).empty()) && !wolfSSL_has_pending(session_->raw())) break;
    if (t_scratch.owner == this) stash();  // a second record: in order, both in in_
    else if (t_scratch.owner) t_scratch.owner->stash();
    const std::size_t n = session_->read(t_scratch.buf, sizeof t_scratch.buf);
    if (!n) {
      rx_drained_ = true;
      break;
    }
    received_ += n;
    if (in_.empty()) {
      t_scratch.owner = this;
      t_scratch.off = 0;
      t_scratch.len = n;
      continue;
    }
    if (in_off_ && in_off_ >= in_.size() / 2) {
      in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_off_));
      in_off_ = 0;
    }
    in_.insert(in_.end(), t_scratch.buf, t_scratch.buf + n);
  }
}

bool Stream::eof() const {
  if (fin_) return true;
  if (!session_) return false;
  const auto s = session_->state();
  return s == tls::Session::State::Closed || s == tls::Session::State::Failed;
}

// --- plaintext out ----------------------------------------------------------

std::size_t Stream::backlog() const {
  return out_.size() - out_off_ + preamble_.size() + (session_ ? session_->output().size() : 0);
}

std::size_t Stream::write_some(const void* p, std::size_t n) {
  if (!open() || !n || out_off_ != out_.size() || !preamble_.empty()) return 0;
  if (!session_) {
    const long w = st_.write(id_, p, n);
    return w > 0 ? static_cast<std::size_t>(w) : 0;
  }
  // Records go straight into the TCP send buffer; what it cannot take waits
  // in the session's output, bounded here.
  if (session_->state() != tls::Session::State::Open) {
    report_failure();  // failed in a flush that could not say so
    return 0;
  }
  if (session_->output().size() >= max_) return 0;
  const std::size_t w = session_->write(static_cast<const std::uint8_t*>(p), std::min(n, kRecord));
  if (!w) report_failure();
  return w;
}

void Stream::write(const void* p, std::size_t n) {
  auto* b = static_cast<const char*>(p);
  while (n) {
    const std::size_t w = write_some(b, n);
    if (!w) break;
    b += w;
    n -= w;
  }
  if (n) {
    // Sent bytes leave the front only once they are half the queue: a
    // queue that never quite empties stays bounded, copying stays linear.
    if (out_off_ && out_off_ >= out_.size() / 2) {
      out_.erase(0, out_off_);
      out_off_ = 0;
    }
    out_.append(b, n);
  }
  flush();
  report_failure();
}

std::string Stream::take_unsent() {
  std::string r = out_.substr(out_off_);
  out_.clear();
  out_off_ = 0;
  return r;
}

// Order on the wire: the preamble, the session's own output (handshake,
// alerts, records the transport could not take), then queued plaintext.
void Stream::flush() {
  if (gone_ || !connected_) return;
  if (!preamble_.empty()) {
    const long w = st_.write(id_, preamble_.data(), preamble_.size());
    if (w > 0) preamble_.erase(0, static_cast<std::size_t>(w));
    if (!preamble_.empty()) return;  // on_writable resumes
  }
  if (session_) {
    auto o = session_->output();
    if (!o.empty()) {
      const long w = st_.write(id_, o.data(), o.size());
      if (w > 0) session_->consume_output(static_cast<std::size_t>(w));
    }
    if (open_ && session_->state() == tls::Session::State::Open)
      while (out_off_ < out_.size() && session_->output().size() < max_) {
        const std::size_t w = session_->write(reinterpret_cast<const std::uint8_t*>(out_.data()) + out_off_,
                                              std::min(out_.size() - out_off_, kRecord));
        if (!w) break;
        out_off_ += w;
      }
  } else if (open_) {
    while (out_off_ < out_.size()) {
      const long w = st_.write(id_, out_.data() + out_off_, out_.size() - out_off_);
      if (w <= 0) break;
      out_off_ += static_cast<std::size_t>(w);
    }
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  if (shut_pending_ && !shut_ && open_ && out_.empty()) {
    shut_ = true;
    if (session_) {
      session_->close();  // close_notify (RFC 8446 §6.1)
      auto o = session_->output();
      if (!o.empty()) {
        const long w = st_.write(id_, o.data(), o.size());
        if (w > 0) session_->consume_output(static_cast<std::size_t>(w));
      }
    } else {
      st_.shutdown_write(id_);  // FIN after what is queued
    }
  }
}

// --- ending -----------------------------------------------------------------

void Stream::shutdown() {
  if (gone_ || shut_) return;
  shut_pending_ = true;
  flush();
  report_failure();  // a hibernated session that could not wake for its close_notify
}

void Stream::close(bool linger) {
  if (gone_ || !id_.valid()) {
    gone_ = true;
    return;
  }
  if (linger) st_.linger(id_);
  flush();
  if (session_) {
    const auto s = session_->state();
    if (s == tls::Session::State::Open || s == tls::Session::State::Closed) {
      session_->close();  // close_notify before the FIN (RFC 8446 §6.1)
      flush();
    }
  }
  st_.close(id_);  // FIN after what is queued
  gone_ = true;
}

void Stream::refuse() {
  if (gone_ || !id_.valid()) {
    gone_ = true;
    return;
  }
  // The handshake never completed, so no application byte crossed: no
  // TIME_WAIT on our side. Safe: TIME_WAIT guards a later incarnation of
  // this 4-tuple against old data segments (RFC 9293 §3.6.1) and resends
  // the last ACK; the peer that sent garbage or failed its handshake has no
  // data of ours to confuse with a new connection's, and at worst its
  // retransmitted FIN draws a RST after a refusal it already has. A refused
  // scanner or misconfigured phone no longer costs 2MSL of state.
  st_.skip_time_wait(id_);
  // And what the peer sends after our alert (a TLS 1.3 client writes its
  // request right after its Finished, before it sees the refusal) is
  // discarded, not reset: a RST would make its kernel drop the alert.
  st_.linger(id_);
  flush();  // the alert
  st_.close(id_);
  gone_ = true;
}

void Stream::abort() {
  if (!gone_ && id_.valid()) st_.abort(id_);
  gone_ = true;
}

// --- timers and memory --------------------------------------------------------

bool Stream::expired(std::uint64_t now_us) const {
  if (!deadline_ || open_ || gone_ || !id_.valid() || now_us <= deadline_) return false;
  return !session_ || session_->state() == tls::Session::State::Handshaking;
}

void Stream::time_out() {
  timeout_failure_ = "handshake timeout";
  emit(StreamEvent::Timeout);
}

void Stream::trim() {
  if (in_off_ == in_.size() && in_.capacity()) {
    std::vector<std::uint8_t>().swap(in_);
    in_off_ = 0;
  }
  if (out_off_ == out_.size() && out_.capacity()) {
    std::string().swap(out_);
    out_off_ = 0;
  }
}

const std::string& Stream::failure() const {
  if (!timeout_failure_.empty()) return timeout_failure_;
  return session_ ? session_->failure() : kNoFailure;
}

const tcp::ConnInfo& Stream::info() {
  if (!gone_ && id_.valid()) st_.info(id_, info_);
  return info_;
}

// --- events -------------------------------------------------------------------

void Stream::emit(StreamEvent e) { owner_.on_stream(*this, e); }

void Stream::opened() {
  open_ = true;
  flush();
  emit(StreamEvent::Open);
}

// The handshake is fed through the session's own buffer (a server looks at
// the whole ClientHello first); once open, records come straight from the
// TCP buffer through the transport.
void Stream::handshake() {
  for (;;) {
    const auto d = st_.peek(id_);
    if (d.empty()) break;
    session_->feed(d.data(), d.size());
    st_.consume(id_, d.size());
  }
  session_->step();
  flush();  // our flight, or the alert
  if (session_->state() == tls::Session::State::Failed) {
    fail_reported_ = true;
    emit(StreamEvent::TlsFailed);
  } else if (session_->state() == tls::Session::State::Open) {
    opened();
  }
}

// A session that failed on the way out (a hibernated one that could not
// wake to encrypt, tls::Session::wake): the owner hears it now, not at the
// leg's next inbound byte, which may never come on an idle leg.
void Stream::report_failure() {
  if (gone_ || !open_ || fail_reported_ || !tls_failed()) return;
  fail_reported_ = true;
  flush();  // an alert, if the session queued one
  emit(StreamEvent::TlsFailed);
}

// After the owner read: a session that failed (an alert after the
// handshake, a broken record) or the peer's close_notify.
void Stream::after_read() {
  if (gone_ || !session_ || !open_) return;
  const auto s = session_->state();
  if (s == tls::Session::State::Failed && !fail_reported_) {
    fail_reported_ = true;
    flush();
    emit(StreamEvent::TlsFailed);
  } else if (s == tls::Session::State::Closed && !shut_ && !eof_reported_) {
    eof_reported_ = true;
    emit(StreamEvent::PeerEof);
  }
}

void Stream::on_connected(tcp::Stack&, tcp::ConnId) {
  connected_ = true;
  st_.info(id_, info_);
  if (session_) {
    flush();          // the preamble goes before the ClientHello
    session_->step();  // ClientHello
    flush();
    return;
  }
  opened();
}

void Stream::on_readable(tcp::Stack&, tcp::ConnId) {
  if (gone_) return;
  if (session_ && session_->state() == tls::Session::State::Handshaking) {
    handshake();
    if (gone_ || !open_) return;
  }
  emit(StreamEvent::Readable);
  after_read();
}

void Stream::on_writable(tcp::Stack&, tcp::ConnId) {
  if (gone_) return;
  flush();  // queued plaintext: may wake a hibernated session
  report_failure();
  if (gone_) return;
  emit(StreamEvent::Writable);
}

void Stream::on_peer_closed(tcp::Stack&, tcp::ConnId) {
  if (gone_) return;
  fin_ = true;
  if (session_) {
    session_->feed_eof();
    if (session_->state() == tls::Session::State::Handshaking) {
      handshake();
      if (gone_ || fail_reported_) return;
    }
  }
  eof_reported_ = true;
  emit(StreamEvent::PeerEof);
}

void Stream::on_reset(tcp::Stack&, tcp::ConnId) {
  gone_ = true;
  emit(StreamEvent::Reset);
}

void Stream::on_error(tcp::Stack&, tcp::ConnId, tcp::Error e) {
  gone_ = true;
  err_ = e;
  emit(StreamEvent::Error);  // the owner may connect() again from here
}

void Stream::on_closed(tcp::Stack&, tcp::ConnId) {
  gone_ = true;
  emit(StreamEvent::Closed);
}

}  // namespace turnpike::proxy
