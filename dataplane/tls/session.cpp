// tls::Session: one TLS connection over in-memory I/O or the worker's TCP
// buffers (Session::Transport): handshake steps, the first-record checks of
// a server (not TLS at all, SNI, shared groups), peer verification through
// the control plane's check_peer, and the TLS consequences of its verdict.
#include "turnpike/tls/session.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <ctime>
#include <new>

#include "turnpike/control/peer.hpp"
#include "turnpike/tls/stats.hpp"
#include "turnpike/tls/wolf_record.hpp"
#include "turnpike/tls/wolf_state.hpp"

// wolfSSL's own alert sender: internal (WOLFSSL_LOCAL) but present in the
// static library. Used so a policy reject carries the alert the spec names
// (unsupported_certificate) instead of the one wolfSSL derives from its own,
// deliberately failing, chain check (unknown_ca).
extern "C" int SendAlert(WOLFSSL* ssl, int severity, int type);
// Also internal: frees ssl->suites and leaves it null (wolfSSL_free copes).
extern "C" void FreeSuites(WOLFSSL* ssl);

namespace turnpike::tls {

using control::ChainStatus;

// One allocation of exactly the blob's size; the getters' answers are
// wolfSSL's static strings.
struct Session::Hibernated {
  const char* version;
  const char* cipher;
  const char* group;
  WOLFSSL_SESSION* client_session;  // client role: resumption secret for later tickets
  bool resumed;
  std::uint16_t len;
  std::uint8_t blob[];
};

namespace {

constexpr int kAlertFatal = 2;

int alert_for(ChainStatus s) {
  switch (s) {
    case ChainStatus::Expired:
    case ChainStatus::NotYetValid: return certificate_expired;  // RFC 8446 §6.2
    case ChainStatus::UnknownIssuer: return unknown_ca;
    case ChainStatus::Revoked: return certificate_revoked;
    default: return bad_certificate;
  }
}

// Error codes of a failed handshake in the words the event Detail uses.
// Session-level codes are decided here; certificate and negotiation codes
// by the control plane's one mapping (control::tls_error_detail).
std::string describe_error(int err) {
  switch (err) {
    case VERIFY_SIGN_ERROR:
    case SIG_VERIFY_E: return "certificate verify failed";  // CertificateVerify: the peer lacks the key
    case VERSION_ERROR: return "unsupported protocol";
    case SOCKET_PEER_CLOSED_E:
    case SOCKET_ERROR_E: return "connection closed during handshake";
    case FATAL_ERROR: return "alert received";
    case PARSE_ERROR:
    case BUFFER_ERROR:
    case INCOMPLETE_DATA:
    case UNKNOWN_RECORD_TYPE:
    case LENGTH_ERROR: return "malformed TLS record";
    case DECRYPT_ERROR:
    case VERIFY_MAC_ERROR: return "decryption failed";
    case UNKNOWN_HANDSHAKE_TYPE:
    case OUT_OF_ORDER_E: return "unexpected message";
    default: return std::string(control::tls_error_detail(err));
  }
}

// supported_groups (RFC 8446 §4.2.7, RFC 8422 §5.1.1) of the ClientHello in
// the first record. False when the record is not a whole ClientHello or it
// carries no such extension: wolfSSL then decides alone.
bool client_groups(const std::uint8_t* p, std::size_t n, std::vector<std::uint16_t>& out) {
  auto u16 = [&](std::size_t i) { return static_cast<std::size_t>(p[i] << 8 | p[i + 1]); };
  if (n < 9 || p[0] != 22 /* handshake */) return false;
  const std::size_t end = std::min(n, 5 + u16(3));
  if (p[5] != 1 /* client_hello */) return false;
  const std::size_t body = 9 + (std::size_t(p[6]) << 16 | u16(7));
  if (body > end) return false;  // split over records
  std::size_t q = 9 + 2 + 32;      // legacy_version, random
  if (q + 1 > body) return false;
  q += 1 + p[q];  // session id
  if (q + 2 > body) return false;
  q += 2 + u16(q);  // cipher suites
  if (q + 1 > body) return false;
  q += 1 + p[q];  // compression methods
  if (q + 2 > body) return false;
  const std::size_t ext_end = std::min(body, q + 2 + u16(q));
  q += 2;
  while (q + 4 <= ext_end) {
    const std::size_t type = u16(q), len = u16(q + 2);
    q += 4;
    if (q + len > ext_end) return false;
    if (type == 10 && len >= 2) {
      const std::size_t list_end = std::min(q + len, q + 2 + u16(q));
      for (std::size_t i = q + 2; i + 2 <= list_end; i += 2) out.push_back(static_cast<std::uint16_t>(u16(i)));
      return true;
    }
    q += len;
  }
  return false;
}

// Whether the first n bytes (n may be under 5) can begin a client's first
// TLS record (RFC 8446 §5.1): content type handshake(22), or alert(21) from
// a client giving up; legacy_record_version 0x03xx (0x0301 is allowed in
// an initial ClientHello, TLS 1.2 uses 0x0303); a length of at most 2^14,
// with the 256 bytes of slack §5.2 allows for protected records, and never
// a zero-length handshake fragment.
bool first_header_plausible(const std::uint8_t* p, std::size_t n) {
  if (n >= 1 && p[0] != 22 && p[0] != 21) return false;
  if (n >= 2 && p[1] != 3) return false;
  if (n >= 5) {
    const std::size_t len = std::size_t(p[3]) << 8 | p[4];
    if (len > 16384 + 256 || (len == 0 && p[0] == 22)) return false;
  }
  return true;
}

}  // namespace

Session::Session(std::shared_ptr<const Context> ctx, std::string peer_name, bool name_is_ip, SavedSession resume)
    : ctx_(std::move(ctx)), peer_name_(std::move(peer_name)), name_is_ip_(name_is_ip), hs_(new Handshake) {
  // A server with several identities creates its WOLFSSL once the
  // ClientHello has named one (choose_identity).
  if (ctx_->is_server() && ctx_->identities() > 1) return;
  init_ssl(ctx_->raw());
  if (ssl_ && resume) {
    wolfSSL_set_session(ssl_, resume.session.get());
    hs_->resumed_peer = resume.peer;
  }
}

void Session::init_ssl(WOLFSSL_CTX* wctx) {
  ssl_ = wolfSSL_new(wctx);
  if (!ssl_) {
    state_ = State::Failed;
    failure_ = "out of memory";
    return;
  }
  wolfSSL_SSLSetIORecv(ssl_, recv_cb);
  wolfSSL_SSLSetIOSend(ssl_, send_cb);
  wolfSSL_SetIOReadCtx(ssl_, this);
  wolfSSL_SetIOWriteCtx(ssl_, this);
  wolfSSL_SetCertCbCtx(ssl_, this);
  // As server: ask for a client certificate per listener setting; as client:
  // always judge the server (docs/eku-semantics.md, outbound rule).
  int mode = WOLFSSL_VERIFY_PEER;
  if (ctx_->is_server()) {
    if (ctx_->client_cert() == ClientCertMode::None) mode = WOLFSSL_VERIFY_NONE;
    else if (ctx_->client_cert() == ClientCertMode::Require) mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  wolfSSL_set_verify(ssl_, mode, verify_cb);
  // Diagnostics key log: off, this is one relaxed load per session.
  if (KeyLog* k = ctx_->keylog_.load(std::memory_order_relaxed)) [[unlikely]] arm_keylog(k);
  if (!ctx_->is_server() && !peer_name_.empty() && !name_is_ip_)
    wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, peer_name_.data(), static_cast<unsigned short>(peer_name_.size()));
  if (!ctx_->is_server()) {
    // Key share for the preferred group (RFC 8446 §4.2.8); others by HRR.
    wolfSSL_UseKeyShare(ssl_, static_cast<word16>(ctx_->groups_.front()));
    wolfSSL_UseSessionTicket(ssl_);  // RFC 5077 §3.2: ask for a 1.2 ticket
    // RFC 5746 §3.4: a client sends the empty renegotiation_info (this
    // build never renegotiates; a server's HelloRequest gets no_renegotiation).
    wolfSSL_UseSecureRenegotiation(ssl_);
  }
}

SavedSession Session::save() const {
  if (ctx_->is_server()) return {};
  WOLFSSL_SESSION* s = nullptr;
  if (hib_) {
    if (hib_->client_session && wolfSSL_SESSION_up_ref(hib_->client_session) == WOLFSSL_SUCCESS)
      s = hib_->client_session;
  } else if (ssl_) {
    s = wolfSSL_get1_session(ssl_);
  }
  if (!s) return {};
  SavedSession out{std::shared_ptr<WOLFSSL_SESSION>(s, wolfSSL_SESSION_free), peer_};
  if (!wolfSSL_SESSION_is_resumable(s)) return {};
  return out;
}

Session::~Session() {
  if (ssl_) wolfSSL_free(ssl_);
}

// --- hibernation ------------------------------------------------------------

namespace {
// relaxed: a setting read once per idle pass; no data hangs off it.
std::atomic<std::uint64_t> g_hibernate_after{2'000'000};
// The export is ~330 bytes (options 65, keys up to ~200, specs 48) plus
// wolf_state.c's part (two TLS 1.3 secrets of at most 48 bytes, 13 more).
constexpr unsigned kBlobMax = 1024;
}  // namespace

void set_hibernate_after(std::uint64_t us) { g_hibernate_after.store(us, std::memory_order_relaxed); }
std::uint64_t hibernate_after() { return g_hibernate_after.load(std::memory_order_relaxed); }


// --- the application-data fast path ------------------------------------------

namespace {
// Checked once: wolf_record.c reads the WOLFSSL with the library's layout.
const bool g_layout_ok = tp_wolf_layout_ok() != 0;
// relaxed: a switch read per record; no data hangs off it.
std::atomic<bool> g_fast_records{true};
// Per thread, on the heap at first use: one record being sealed, and a
// whole inner plaintext for a record larger than the reader's buffer. Both
// hold ciphertext or nothing between calls (wolf_record.c zeroes what it
// leaves). Not static thread_local arrays: 32 KiB in every thread's static
// TLS block overflowed the small stacks of threads turnpike does not own
// (civetweb's /metrics thread crashed). The pointer is constant-initialised
// (no TLS init wrapper per record); the owner frees it when the thread ends.
struct FastBuffers {
  alignas(64) std::uint8_t seal[TP_TLS_SEAL_MAX];
  alignas(64) std::uint8_t bounce[TP_TLS_INNER_MAX];
};
constinit thread_local FastBuffers* t_fast = nullptr;
struct FastBuffersOwner {
  ~FastBuffersOwner() {
    delete t_fast;
    t_fast = nullptr;
  }
};
// nullptr if it cannot be had: the record goes through wolfSSL.
FastBuffers* fast_buffers() {
  if (t_fast) [[likely]] return t_fast;
  thread_local FastBuffersOwner owner;  // registered once per thread
  (void)owner;
  t_fast = new (std::nothrow) FastBuffers;
  return t_fast;
}
constexpr std::size_t kMaxFragment = 16384;  // RFC 8446 §5.1; this build has no max_fragment_length
}  // namespace

void set_fast_records(bool on) { g_fast_records.store(on, std::memory_order_relaxed); }
bool fast_records() { return g_layout_ok && g_fast_records.load(std::memory_order_relaxed); }

void Session::send_out(const std::uint8_t* p, std::size_t n) {
  std::size_t done = 0;
  // Handshake flights stay together in output() (one TCP write, fewer
  // segments); records of an open session go straight to the transport.
  if (transport_ && state_ != State::Handshaking && tx_off_ == tx_.size()) done = transport_->write(p, n);
  // What the transport did not take waits in output(), in order.
  tx_.insert(tx_.end(), p + done, p + n);
}

// The next whole record, where wolfSSL's recv_cb would take it from (fed
// bytes first, then the transport), opened here if it is application data
// (wolf_record.c decides; wolfSSL's input buffer is empty, so both sources
// start at a record boundary). A record split in the transport's ring, or
// not all here yet, is left to wolfSSL.
std::size_t Session::read_fast(std::uint8_t* buf, std::size_t n) {
  if (!fast_capable_ || !fast_records()) return 0;
  tp_wolf_prefetch(ssl_, 1);  // while the transport finds the bytes
  const bool fed = rx_off_ != rx_.size();
  std::span<const std::uint8_t> d;
  if (fed) d = {rx_.data() + rx_off_, rx_.size() - rx_off_};
  else if (transport_) d = transport_->peek();
  if (d.size() < TP_TLS_HEADER || !tp_wolf_fast_read_ok(ssl_)) return 0;
  FastBuffers* fb = fast_buffers();
  if (!fb) [[unlikely]] return 0;
  const int r = tp_wolf_open(ssl_, d.data(), static_cast<unsigned>(std::min<std::size_t>(d.size(), UINT_MAX)), buf,
                             static_cast<unsigned>(std::min<std::size_t>(n, UINT_MAX)), fb->bounce);
  if (r <= 0) return 0;
  const std::size_t used = TP_TLS_HEADER + (std::size_t(d[3]) << 8 | d[4]);
  if (fed) {
    rx_off_ += used;
    if (rx_off_ == rx_.size() && transport_) {
      std::vector<std::uint8_t>().swap(rx_);  // as recv_cb: the handshake's buffer is no longer needed
      rx_off_ = 0;
    }
  } else {
    transport_->consume(used);
  }
  ++thread_stats().fast_records_in;
  return static_cast<std::size_t>(r);
}

// Seals records of at most the fragment size wolfSSL would use while
// wolfSSL has nothing queued, no alert and no KeyUpdate pending; returns
// the bytes sent (the rest, if any, is wolfSSL's).
std::size_t Session::write_fast(const std::uint8_t* p, std::size_t n) {
  if (!fast_capable_ || !fast_records()) return 0;
  tp_wolf_prefetch(ssl_, 0);
  FastBuffers* fb = fast_buffers();
  if (!fb) [[unlikely]] return 0;
  std::size_t done = 0;
  while (done < n && tp_wolf_fast_write_ok(ssl_)) {
    const std::size_t frag = std::min(n - done, kMaxFragment);
    const int len = tp_wolf_seal(ssl_, p + done, static_cast<unsigned>(frag), fb->seal);
    if (len <= 0) break;
    send_out(fb->seal, static_cast<std::size_t>(len));
    ++thread_stats().fast_records_out;
    done += frag;
  }
  return done;
}

void Session::HibernatedFree::operator()(Hibernated* h) const noexcept {
  if (h->client_session) wolfSSL_SESSION_free(h->client_session);
  explicit_bzero(h->blob, h->len);  // traffic keys and secrets
  ::operator delete(h);
}

WOLFSSL_CTX* Session::wolf_ctx() const { return identity_ == 0 ? ctx_->raw() : ctx_->more_[identity_ - 1]; }

bool Session::bytes_waiting() const {
  if (rx_off_ != rx_.size()) return true;
  return transport_ && !transport_->peek().empty();
}

bool Session::hibernate() {
  if (hib_ || !ssl_ || state_ != State::Open || close_sent_ || keylog_ || tx_off_ != tx_.size() || bytes_waiting())
    return false;
  if (!tp_wolf_layout_ok() || !tp_wolf_quiet(ssl_)) return false;
  std::uint8_t buf[kBlobMax];
  const int n = tp_wolf_export(ssl_, buf, sizeof buf);
  if (n <= 0) {
    explicit_bzero(buf, sizeof buf);
    return false;
  }
  // Plain operator new, as for every other object of a connection.
  auto* h = static_cast<Hibernated*>(::operator new(sizeof(Hibernated) + static_cast<std::size_t>(n)));
  h->version = wolfSSL_get_version(ssl_);
  h->cipher = wolfSSL_get_cipher_name(ssl_);
  h->group = wolfSSL_get_curve_name(ssl_);
  h->resumed = wolfSSL_session_reused(ssl_);
  // A client keeps its WOLFSSL_SESSION: a NewSessionTicket after the wake
  // is bound to its resumption master secret (RFC 8446 §4.6.1).
  h->client_session = ctx_->is_server() ? nullptr : wolfSSL_get1_session(ssl_);
  h->len = static_cast<std::uint16_t>(n);
  std::memcpy(h->blob, buf, h->len);
  explicit_bzero(buf, sizeof buf);
  hib_.reset(h);
  wolfSSL_free(ssl_);
  ssl_ = nullptr;
  fast_capable_ = false;
  std::vector<std::uint8_t>().swap(rx_);
  rx_off_ = 0;
  std::vector<std::uint8_t>().swap(tx_);
  tx_off_ = 0;
  ++thread_stats().hibernated;
  return true;
}

bool Session::wake() {
  if (!hib_) return true;
  std::unique_ptr<Hibernated, HibernatedFree> h = std::move(hib_);
  ssl_ = wolfSSL_new(wolf_ctx());
  int err = ssl_ ? tp_wolf_import(ssl_, h->blob, h->len) : MEMORY_E;
  if (err == 0 && h->client_session) {
    err = tp_wolf_swap_session(ssl_, h->client_session);
    if (err == 0) h->client_session = nullptr;  // the WOLFSSL owns it now
  }
  if (err != 0) {
    if (ssl_) wolfSSL_free(ssl_);
    ssl_ = nullptr;
    state_ = State::Failed;
    failure_ = "session wake failed";
    ++thread_stats().wake_failures;
    return false;
  }
  // Only what records need: the handshake's callbacks, SNI and key share
  // were for a handshake that is over.
  wolfSSL_SSLSetIORecv(ssl_, recv_cb);
  wolfSSL_SSLSetIOSend(ssl_, send_cb);
  wolfSSL_SetIOReadCtx(ssl_, this);
  wolfSSL_SetIOWriteCtx(ssl_, this);
  fast_capable_ = g_layout_ok && tp_wolf_fast_capable(ssl_);
  ++thread_stats().woken;
  return true;
}

void Session::feed(const std::uint8_t* p, std::size_t n) {
  if (rx_off_ && rx_off_ == rx_.size()) {
    rx_.clear();
    rx_off_ = 0;
  }
  rx_.insert(rx_.end(), p, p + n);
}

void Session::consume_output(std::size_t n) {
  tx_off_ += n;
  if (tx_off_ >= tx_.size()) {
    // With a transport the queue only fills under back-pressure: give the
    // memory back (an idle connection should hold only wolfSSL's state).
    if (transport_ && state_ != State::Handshaking) std::vector<std::uint8_t>().swap(tx_);
    else tx_.clear();
    tx_off_ = 0;
  }
}

int Session::recv_cb(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* s = static_cast<Session*>(ctx);
  const std::size_t avail = s->rx_.size() - s->rx_off_;
  if (!avail && s->transport_ && s->state_ != State::Handshaking) {
    const auto d = s->transport_->peek();
    if (!d.empty()) {
      const std::size_t n = std::min<std::size_t>(d.size(), static_cast<std::size_t>(sz));
      std::memcpy(buf, d.data(), n);  // into wolfSSL's input buffer: its own copy
      s->transport_->consume(n);
      return static_cast<int>(n);
    }
  }
  if (!avail) return s->eof_ ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
  const std::size_t n = std::min<std::size_t>(avail, static_cast<std::size_t>(sz));
  std::memcpy(buf, s->rx_.data() + s->rx_off_, n);
  s->rx_off_ += n;
  if (s->rx_off_ == s->rx_.size() && s->transport_ && s->state_ != State::Handshaking) {
    std::vector<std::uint8_t>().swap(s->rx_);  // the handshake's buffer is no longer needed
    s->rx_off_ = 0;
  }
  return static_cast<int>(n);
}

int Session::send_cb(WOLFSSL*, char* buf, int sz, void* ctx) {
  static_cast<Session*>(ctx)->send_out(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(sz));
  return sz;
}

void Session::fail_from_error(int ret) {
  const int err = wolfSSL_get_error(ssl_, ret);
  const bool was_open = state_ == State::Open;
  state_ = State::Failed;
  if (!failure_.empty()) return;
  failure_ = describe_error(err);
  // A handshake message after the handshake from a TLS 1.2 client is a
  // renegotiation attempt (RFC 5246 §7.4.1.2), refused: a second full
  // handshake costs the server far more than the client (RFC 5746 makes it
  // safe, not cheap). wolfSSL answers with a fatal unexpected_message.
  if (was_open && ctx_->is_server() && wolfSSL_version(ssl_) == TLS1_2_VERSION &&
      (err == DUPLICATE_MSG_E || err == OUT_OF_ORDER_E)) {
    failure_ = "renegotiation refused";
    ++thread_stats().renegotiations_refused;
  }
  // The peer refused us: say with which alert (RFC 8446 §6.2), e.g. a
  // remote that rejects our client certificate's purpose sends 43.
  WOLFSSL_ALERT_HISTORY h{};
  if (err == FATAL_ERROR && wolfSSL_get_alert_history(ssl_, &h) == WOLFSSL_SUCCESS && h.last_rx.code > 0) {
    const char* d = wolfSSL_alert_desc_string_long(h.last_rx.code);
    std::string name = d ? d : "code " + std::to_string(h.last_rx.code);
    std::replace(name.begin(), name.end(), '_', ' ');  // Detail words, like the rest
    failure_ = "alert received: " + name;
  }
}

Session::State Session::step() {
  if (state_ != State::Handshaking) return state_;
  if (!hello_seen_ && ctx_->is_server()) {
    // Wait for the whole first record (RFC 8446 §5.1: at most 2^14 bytes
    // of fragment), once its header bytes could be TLS.
    const std::size_t avail = rx_.size() - rx_off_;
    if (!first_header_plausible(rx_.data() + rx_off_, avail)) {
      // Not TLS at all (an HTTP request, plain SIP, noise): refuse now
      // rather than wait for a record that will never parse, or for the
      // handshake timeout when its "length" looks plausible. No alert: the
      // peer does not speak TLS.
      state_ = State::Failed;
      failure_ = "malformed TLS record";
      not_tls_ = true;
      return state_;
    }
    if (!eof_) {
      if (avail < 5) return state_;
      const std::size_t rec = 5 + (std::size_t(rx_[rx_off_ + 3]) << 8 | rx_[rx_off_ + 4]);
      if (avail < rec) return state_;
    }
    hello_seen_ = true;
    if (!ssl_ && !choose_identity()) return state_;
    // No group in common: refuse here. wolfSSL's TLS 1.2 server would
    // otherwise fall back to P-256 even when the client did not offer it.
    std::vector<std::uint16_t> offered;
    if (client_groups(rx_.data() + rx_off_, avail, offered) &&
        std::none_of(offered.begin(), offered.end(), [&](std::uint16_t g) {
          return std::find(ctx_->groups_.begin(), ctx_->groups_.end(), int(g)) != ctx_->groups_.end();
        })) {
      SendAlert(ssl_, kAlertFatal, handshake_failure);
      alert_sent_ = handshake_failure;
      state_ = State::Failed;
      failure_ = "no shared group";
      return state_;
    }
  }
  const int ret = ctx_->is_server() ? wolfSSL_accept(ssl_) : wolfSSL_connect(ssl_);
  if (ctx_->is_server() && wolfSSL_version(ssl_) == TLS1_2_VERSION && !resumed()) {
    // TLS 1.2 safety net (RFC 8422 §5.1.1 leaves the curve to the server):
    // the disabled-curve mask should keep wolfSSL within the configured
    // groups; if a curve outside them was chosen anyway, the server's
    // flight is dropped before it leaves and only the alert is sent.
    const char* g = wolfSSL_get_curve_name(ssl_);
    if (g && std::find(ctx_->group_names_.begin(), ctx_->group_names_.end(), std::string_view(g)) ==
                 ctx_->group_names_.end()) {
      tx_.clear();
      tx_off_ = 0;
      SendAlert(ssl_, kAlertFatal, handshake_failure);
      alert_sent_ = handshake_failure;
      state_ = State::Failed;
      failure_ = "no shared group";
      return state_;
    }
  }
  if (ret == WOLFSSL_SUCCESS) {
    state_ = State::Open;
    on_open();
    return state_;
  }
  const int err = wolfSSL_get_error(ssl_, ret);
  if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
    if (eof_ && rx_off_ == rx_.size()) {
      state_ = State::Failed;
      failure_ = "connection closed during handshake";
    }
    return state_;
  }
  fail_from_error(ret);
  return state_;
}

std::size_t Session::read(std::uint8_t* buf, std::size_t n) {
  if (state_ != State::Open) return 0;
  if (hib_) {
    // Nothing to decrypt: stay asleep (an owner peeks at idle legs too).
    if (!bytes_waiting()) {
      if (eof_) state_ = State::Closed;  // EOF without close_notify
      return 0;
    }
    if (!wake()) return 0;
  }
  if (const std::size_t got = read_fast(buf, n)) return got;
  const int r = wolfSSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
  if (r > 0) return static_cast<std::size_t>(r);
  const int err = wolfSSL_get_error(ssl_, r);
  if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
    if (eof_ && rx_off_ == rx_.size()) state_ = State::Closed;  // EOF without close_notify
    return 0;
  }
  if (err == WOLFSSL_ERROR_ZERO_RETURN) {
    state_ = State::Closed;  // close_notify (RFC 8446 §6.1)
    return 0;
  }
  fail_from_error(r);
  return 0;
}

std::size_t Session::write(const std::uint8_t* p, std::size_t n) {
  if (state_ != State::Open || n == 0) return 0;
  if (hib_ && !wake()) return 0;
  const std::size_t fast = write_fast(p, n);
  if (fast == n) return n;
  const int r = wolfSSL_write(ssl_, p + fast, static_cast<int>(std::min<std::size_t>(n - fast, 1 << 30)));
  if (r > 0) return fast + static_cast<std::size_t>(r);
  fail_from_error(r);
  return fast;
}

void Session::close() {
  // A hibernated session still answers with its close_notify (RFC 8446 §6.1).
  if (hib_ && (state_ == State::Open || state_ == State::Closed) && !wake()) return;
  if (close_sent_ || !ssl_) return;
  close_sent_ = true;
  if (state_ == State::Open || state_ == State::Closed) wolfSSL_shutdown(ssl_);
  if (state_ == State::Open) state_ = State::Closed;
}

std::string Session::version() const {
  const char* v = hib_ ? hib_->version : ssl_ ? wolfSSL_get_version(ssl_) : nullptr;
  return v ? v : "";
}
std::string Session::cipher() const {
  const char* c = hib_ ? hib_->cipher : ssl_ ? wolfSSL_get_cipher_name(ssl_) : nullptr;
  return c ? c : "";
}
bool Session::resumed() const { return hib_ ? hib_->resumed : ssl_ && wolfSSL_session_reused(ssl_); }
std::string Session::group() const {
  const char* g = hib_ ? hib_->group : ssl_ ? wolfSSL_get_curve_name(ssl_) : nullptr;
  return g ? g : "";
}

void Session::on_open() {
  if (keylog_) [[unlikely]] log_keys();
  if (resumed()) {
    if (ctx_->is_server()) {
      // The certificate was judged when the ticket was first issued and its
      // facts re-judged by ticket_cb under today's policy.
      peer_.presented = hs_->from_ticket.presented;
      peer_.fp = hs_->from_ticket.fp;
      // Mode Off resumed what mode On would send back to a full handshake
      // and refuse: still a would-fail peer.
      const Verifier& v = ctx_->verifier();
      if (peer_.presented && v.mode == control::EkuMode::Off) {
        const control::Verdict on = control::CachedFacts::evaluate(
            ChainStatus::Ok, hs_->from_ticket.facts, control::EkuMode::On, control::Role::Inbound, std::time(nullptr));
        peer_.would_fail = !on.accept && on.detail == control::kDetailPurpose;
      }
    } else {
      // Client: the server as verified when the session was first made.
      peer_ = hs_->resumed_peer;
    }
  }
  // No second handshake on a connection: TLS 1.3 has none (RFC 8446
  // §4.1.2; post-handshake authentication is not built in) and this build
  // refuses a TLS 1.2 renegotiation (deploy/setup-deps.sh: renegotiation_info
  // is sent and checked, RFC 5746 §3.6, but a renegotiating ClientHello
  // ends the connection). So the handshake state goes now, and so do
  // wolfSSL's suite lists, which this build keeps after the handshake only
  // for OPENSSL_EXTRA's getters (turnpike uses none).
  hs_.reset();
  FreeSuites(ssl_);
  fast_capable_ = g_layout_ok && tp_wolf_fast_capable(ssl_);
  // The handshake's own buffers: with a transport, records go straight
  // between wolfSSL and the TCP buffers from now on, so what the handshake
  // was fed (the ClientHello or the server's flight) and the queue its
  // flights went through are not needed again. Freed now, not kept for the
  // connection's life (issue 12: ~2.2 KiB per awake connection).
  if (transport_) {
    if (rx_off_ == rx_.size()) {
      std::vector<std::uint8_t>().swap(rx_);
      rx_off_ = 0;
    }
    if (tx_off_ == tx_.size()) {
      std::vector<std::uint8_t>().swap(tx_);
      tx_off_ = 0;
    }
  }
}

// Server with several identities: read server_name (RFC 6066 §3) from the
// first record, which holds the ClientHello, and load the chosen identity
// into this session before wolfSSL sees the hello. A ClientHello split over
// several records, or none at all, gets the default identity.
bool Session::choose_identity() {
  const std::size_t avail = rx_.size() - rx_off_;
  unsigned char name[256];
  unsigned int sz = sizeof name;
  std::string host;
  if (wolfSSL_SNI_GetFromBuffer(rx_.data() + rx_off_, static_cast<unsigned int>(avail), WOLFSSL_SNI_HOST_NAME, name,
                                &sz) == WOLFSSL_SUCCESS)
    host.assign(reinterpret_cast<char*>(name), std::min<std::size_t>(sz, sizeof name));
  identity_ = ctx_->select_identity(host);
  // Each identity has its own, identically configured, WOLFSSL_CTX: the
  // certificate's key type then shapes suites and signature algorithms
  // exactly as for a single-identity server.
  init_ssl(identity_ == 0 ? ctx_->raw() : ctx_->more_[identity_ - 1]);
  return ssl_ != nullptr;
}

int Session::verify_cb(int /*preverify: never decisive, see below*/, WOLFSSL_X509_STORE_CTX* store) {
  auto* s = static_cast<Session*>(store->userCtx);
  if (!s) return 0;
  // Certificates after the leaf: wolfSSL judges each one alone (no CA is
  // loaded, so each fails with "no signer"; a duplicate of the leaf or an
  // unrelated end-entity certificate would fail the handshake with that
  // error). RFC 8446 4.4.2 asks us to tolerate extraneous certificates and
  // any order after the leaf, so their verdict is deferred to depth 0,
  // where check_peer builds the leaf's path from the whole list and
  // decides. Overriding here adds no signer to the context: wolfSSL adds a
  // chain CA only when it verified with no error before this callback, which
  // needs a signer already in the (empty) context, and with alternate chains
  // a CA that had an error is never added.
  if (store->error_depth > 0) return 1;
  if (!store->certs || store->totalCerts < 1) {
    // No certificate: fine for a server that only requests one (wolfSSL
    // itself refuses with NO_PEER_CERT under "require"); a server must
    // always prove itself to us.
    return s->ctx_->is_server() && s->ctx_->client_cert() != ClientCertMode::Require ? 1 : 0;
  }
  const std::span<const std::uint8_t> leaf(store->certs[0].buffer, store->certs[0].length);
  std::vector<control::Der> chain;
  for (int i = 1; i < store->totalCerts; ++i)
    chain.emplace_back(store->certs[i].buffer, store->certs[i].buffer + store->certs[i].length);
  return s->verify_peer(leaf, chain) ? 1 : 0;
}

bool Session::verify_peer(std::span<const std::uint8_t> leaf, std::span<const control::Der> chain) {
  const Verifier& v = ctx_->verifier();
  const control::Role role = ctx_->is_server() ? control::Role::Inbound : control::Role::Outbound;
  peer_.presented = true;
  auto reject = [&](std::string_view detail, int alert) {
    failure_ = std::string(detail);
    alert_sent_ = alert;
    SendAlert(ssl_, kAlertFatal, alert);
    return false;
  };
  // The whole verdict (cache, chain, validity, leaf and CA purpose) is the
  // control plane's check_peer; here only the TLS consequences are decided.
  std::vector<std::span<const std::uint8_t>> certs{leaf};
  for (const auto& der : chain) certs.emplace_back(der);
  const control::PeerResult r =
      control::check_peer(certs, *v.trust, v.cache, v.epoch, v.mode, role, std::time(nullptr));
  peer_.cache_hit = r.cache_hit;
  peer_.fp = r.leaf_fp;
  if (!hs_) hs_ = std::make_unique<Handshake>();  // never: there is no second handshake
  hs_->full.presented = true;
  hs_->full.facts = r.entry.facts;
  hs_->full.fp = r.leaf_fp;
  if (!r.verdict.accept) {
    int alert = unsupported_certificate;  // purpose refusals (docs/eku-semantics.md)
    if (r.entry.chain != ChainStatus::Ok) alert = alert_for(r.entry.chain);
    else if (r.verdict.detail == control::kDetailExpired || r.verdict.detail == control::kDetailNotYetValid)
      alert = certificate_expired;
    else if (r.verdict.detail != control::kDetailPurpose) alert = bad_certificate;
    // Issue 11 item 4: an inbound peer mode On refuses for purpose but mode
    // Off would accept (serverAuth-only) is named in the audit; the check
    // and the parse cost only this refusal path.
    if (role == control::Role::Inbound && v.mode == control::EkuMode::On &&
        r.verdict.detail == control::kDetailPurpose &&
        control::CachedFacts::evaluate(r.entry.chain, r.entry.facts, control::EkuMode::Off, role, std::time(nullptr))
            .accept)
      if (auto f = control::extract_facts(leaf)) {
        peer_.refused_on = true;
        peer_.cn = f->subject_cn;
        peer_.subject = f->subject;
        peer_.issuer = f->issuer;
        peer_.eku_present = f->eku_present;
        peer_.eku = f->eku;
      }
    return reject(r.verdict.detail, alert);
  }
  // Names are not part of the cached facts: parse the leaf for the CN (PROXY
  // v2, logs) and, as a client, the RFC 5922 §7.1 identity check.
  auto facts = control::extract_facts(leaf);
  if (!facts) return reject("unable to decode certificate", bad_certificate);
  peer_.cn = facts->subject_cn;
  peer_.eku_present = facts->eku_present;
  peer_.eku = facts->eku;
  peer_.would_fail = r.verdict.would_fail_on;
  if (r.verdict.would_fail_on || role == control::Role::Outbound) {
    peer_.subject = facts->subject;
    peer_.issuer = facts->issuer;
  }
  if (role == control::Role::Outbound && !peer_name_.empty() &&
      !control::matches_peer_name(*facts, peer_name_, name_is_ip_))
    return reject(control::kDetailHostname, bad_certificate);
  return true;
}

}  // namespace turnpike::tls
