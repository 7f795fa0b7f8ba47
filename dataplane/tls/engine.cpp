#include "turnpike/tls/engine.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include "turnpike/control/peer.hpp"
#include "turnpike/tls/alloc.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

// wolfSSL's own alert sender: internal (WOLFSSL_LOCAL) but present in the
// static library. Used so a policy reject carries the alert the spec names
// (unsupported_certificate) instead of the one wolfSSL derives from its own,
// deliberately failing, chain check (unknown_ca).
extern "C" int SendAlert(WOLFSSL* ssl, int severity, int type);

namespace turnpike::tls {

using control::ChainStatus;

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    install_allocators();  // also done before main; this keeps alloc.o linked
    wolfSSL_Init();
  });
}

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

std::string lower(std::string_view v) {
  std::string r(v);
  for (char& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

std::vector<std::string> split(std::string_view list, char sep) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t p = list.find(sep);
    std::string_view tok = list.substr(0, p);
    while (!tok.empty() && std::isspace(static_cast<unsigned char>(tok.front()))) tok.remove_prefix(1);
    while (!tok.empty() && std::isspace(static_cast<unsigned char>(tok.back()))) tok.remove_suffix(1);
    if (!tok.empty()) out.emplace_back(tok);
    if (p == std::string_view::npos) break;
    list.remove_prefix(p + 1);
  }
  return out;
}

// Named groups (RFC 8446 §4.2.7; RFC 7919 for ffdhe).
bool group_id(std::string_view name, int& id) {
  const std::string n = lower(name);
  if (n == "x25519") id = WOLFSSL_ECC_X25519;
  else if (n == "p-256" || n == "secp256r1" || n == "prime256v1") id = WOLFSSL_ECC_SECP256R1;
  else if (n == "p-384" || n == "secp384r1") id = WOLFSSL_ECC_SECP384R1;
  else if (n == "p-521" || n == "secp521r1") id = WOLFSSL_ECC_SECP521R1;
  else if (n == "ffdhe2048") id = WOLFSSL_FFDHE_2048;
  else return false;
  return true;
}

constexpr const char* kDefaultTls13 = "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256";
constexpr const char* kDefaultTls12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// IANA TLS 1.3 names (RFC 8446 Appendix B.4) to wolfSSL's.
std::string tls13_alias(const std::string& n) {
  if (n == "TLS_AES_128_GCM_SHA256") return "TLS13-AES128-GCM-SHA256";
  if (n == "TLS_AES_256_GCM_SHA384") return "TLS13-AES256-GCM-SHA384";
  if (n == "TLS_CHACHA20_POLY1305_SHA256") return "TLS13-CHACHA20-POLY1305-SHA256";
  return n;
}

// DNS name matching for SNI (RFC 6125 §6.4.1, §6.4.3): case-insensitive;
// "*" only as the whole left-most label, matching exactly one label, and
// not directly over a single remaining label ("*.test").
bool wildcard_match(std::string_view pattern, std::string_view host) {
  if (pattern.size() < 2 || pattern.substr(0, 2) != "*.") return false;
  const std::string_view rest = pattern.substr(1);  // ".example.test"
  if (rest.find('.', 1) == std::string_view::npos) return false;
  const std::size_t dot = host.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  return host.substr(dot) == rest;
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

void set_versions(WOLFSSL_CTX* ctx, const Options& o) {
  // TLS 1.2 (RFC 5246) and 1.3 (RFC 8446) only; nothing older.
  wolfSSL_CTX_SetMinVersion(ctx, o.tls12 ? WOLFSSL_TLSV1_2 : WOLFSSL_TLSV1_3);
  if (!o.tls13) wolfSSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
}

}  // namespace

Context::~Context() {
  for (WOLFSSL_CTX* c : more_) wolfSSL_CTX_free(c);
  if (ctx_) wolfSSL_CTX_free(ctx_);
}

control::Result<std::shared_ptr<const Context>> Context::make_server(const Options& o, Verifier v) {
  return make(o, std::move(v), true);
}

control::Result<std::shared_ptr<const Context>> Context::make_client(const Options& o, Verifier v) {
  return make(o, std::move(v), false);
}

std::size_t Context::select_identity(std::string_view host) const {
  if (names_.size() < 2 || host.empty()) return 0;
  if (host.back() == '.') host.remove_suffix(1);  // absolute form
  const std::string h = lower(host);
  for (std::size_t i = 0; i < names_.size(); ++i)
    for (const auto& n : names_[i])
      if (n == h) return i;
  for (std::size_t i = 0; i < names_.size(); ++i)
    for (const auto& n : names_[i])
      if (wildcard_match(n, h)) return i;
  return 0;
}

// Everything a context needs except its certificate.
std::string Context::configure(WOLFSSL_CTX* ctx, const Options& o) const {
  set_versions(ctx, o);
  if (wolfSSL_CTX_set_cipher_list(ctx, ciphers_.c_str()) != WOLFSSL_SUCCESS) return "cipher list refused";
  // The curve list also disables every other curve, which the TLS 1.2
  // server's ECDHE curve choice honours (set_groups alone only orders the
  // TLS 1.3 key shares and the client's supported_groups).
  std::string curves;
  for (int id : groups_) {
    const char* n = id == WOLFSSL_ECC_X25519      ? "X25519"
                    : id == WOLFSSL_ECC_SECP256R1 ? "P-256"
                    : id == WOLFSSL_ECC_SECP384R1 ? "P-384"
                    : id == WOLFSSL_ECC_SECP521R1 ? "P-521"
                                                  : nullptr;
    if (n) curves += (curves.empty() ? "" : ":") + std::string(n);
  }
  if (!curves.empty() && wolfSSL_CTX_set1_curves_list(ctx, curves.c_str()) != WOLFSSL_SUCCESS)
    return "key-exchange groups refused";
  std::vector<int> g = groups_;
  if (wolfSSL_CTX_set_groups(ctx, g.data(), static_cast<int>(g.size())) != WOLFSSL_SUCCESS)
    return "key-exchange groups refused";
  if (server_) {
    // Resumption only through turnpike's tickets, whose binding carries the
    // client certificate's facts: wolfSSL's session-ID cache would resume
    // without asking the current EKU policy (eku-semantics.md).
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_NO_INTERNAL);
    if (tickets_) {
      wolfSSL_CTX_set_TicketEncCb(ctx, &Session::ticket_cb);
      wolfSSL_CTX_set_TicketEncCtx(ctx, const_cast<Context*>(this));
      wolfSSL_CTX_set_TicketHint(ctx, static_cast<int>(ticket_lifetime_));
      wolfSSL_CTX_set_timeout(ctx, ticket_lifetime_);
    } else {
      // No keys, no tickets (1.3 sends none without a callback; 1.2 is told).
      wolfSSL_CTX_set_TicketEncCb(ctx, nullptr);
      wolfSSL_CTX_NoTicketTLSv12(ctx);
    }
  }
  return {};
}

control::Result<std::shared_ptr<const Context>> Context::make(const Options& o, Verifier v, bool server) {
  using R = control::Result<std::shared_ptr<const Context>>;
  init_library();
  if (!v.trust) return R::fail("no trust store");
  if (!o.tls12 && !o.tls13) return R::fail("at least one of TLS 1.2 and TLS 1.3 must be enabled");
  if (o.ticket_lifetime == 0 || o.ticket_lifetime > 7 * 24 * 3600)
    return R::fail("ticket lifetime must be between 1 second and 7 days");
  std::shared_ptr<Context> c(new Context());
  c->verifier_ = std::move(v);
  c->server_ = server;
  c->client_cert_ = o.client_cert;
  c->tickets_ = server ? o.tickets : nullptr;
  c->ticket_lifetime_ = o.ticket_lifetime;
  auto new_ctx = [server] { return wolfSSL_CTX_new(server ? wolfSSLv23_server_method() : wolfSSLv23_client_method()); };
  // No CA is ever loaded into the context: peer chains are verified by
  // turnpike's trust store in verify_cb (architecture.md, verdict cache).
  c->ctx_ = new_ctx();
  WOLFSSL_CTX* ctx = c->ctx_;
  if (!ctx) return R::fail("wolfSSL_CTX_new failed");

  // Groups: our own parser, so that a typo is an error rather than a
  // silently shorter list.
  for (const std::string& name : split(o.groups, ':')) {
    int id = 0;
    if (!group_id(name, id)) return R::fail("unknown key-exchange group \"" + name + "\"");
    if (std::find(c->groups_.begin(), c->groups_.end(), id) != c->groups_.end()) continue;
    c->groups_.push_back(id);
    // As wolfSSL_get_curve_name() names them.
    switch (id) {
      case WOLFSSL_ECC_X25519: c->group_names_.push_back("X25519"); break;
      case WOLFSSL_ECC_SECP256R1: c->group_names_.push_back("SECP256R1"); break;
      case WOLFSSL_ECC_SECP384R1: c->group_names_.push_back("SECP384R1"); break;
      case WOLFSSL_ECC_SECP521R1: c->group_names_.push_back("SECP521R1"); break;
      default: c->group_names_.push_back("FFDHE_2048"); break;
    }
  }
  if (c->groups_.empty()) return R::fail("no key-exchange group configured");

  // Cipher suites: every name is checked on its own (wolfSSL only refuses a
  // list where nothing matched), then TLS 1.3 and 1.2 parts are completed
  // with their defaults.
  std::string l13, l12;
  for (const std::string& field : {o.ciphersuites, o.cipher_list}) {
    for (std::string name : split(field, ':')) {
      name = tls13_alias(name);
      if (wolfSSL_CTX_set_cipher_list(ctx, name.c_str()) != WOLFSSL_SUCCESS)
        return R::fail("unknown cipher suite \"" + name + "\"");
      std::string& dst = name.rfind("TLS13-", 0) == 0 ? l13 : l12;
      dst += (dst.empty() ? "" : ":") + name;
    }
  }
  if (l13.empty()) l13 = kDefaultTls13;
  if (l12.empty()) l12 = kDefaultTls12;
  c->ciphers_ = l13 + ":" + l12;

  std::vector<Identity> ids;
  if (!o.cert_chain_pem.empty()) ids.push_back({o.cert_chain_pem, o.key_pem});
  for (const auto& id : o.identities) ids.push_back(id);
  if (ids.empty() && server) return R::fail("a server context needs a certificate");
  if (ids.size() > 1 && !server) return R::fail("a client context takes one certificate");

  // One WOLFSSL_CTX per identity, configured alike (this wolfSSL build has
  // no SNI callback to switch contexts, so sessions pick one up front).
  for (std::size_t i = 0; i < ids.size(); ++i) {
    WOLFSSL_CTX* x = ctx;
    if (i > 0) {
      x = new_ctx();
      if (!x) return R::fail("wolfSSL_CTX_new failed");
      c->more_.push_back(x);
    }
    const std::string which = ids.size() > 1 ? "identity " + std::to_string(i + 1) + ": " : "";
    const Identity& id = ids[i];
    if (wolfSSL_CTX_use_certificate_chain_buffer_format(
            x, reinterpret_cast<const unsigned char*>(id.cert_chain_pem.data()),
            static_cast<long>(id.cert_chain_pem.size()), WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
      return R::fail(which + "certificate chain could not be loaded");
    if (wolfSSL_CTX_use_PrivateKey_buffer(x, reinterpret_cast<const unsigned char*>(id.key_pem.data()),
                                          static_cast<long>(id.key_pem.size()), WOLFSSL_FILETYPE_PEM) !=
            WOLFSSL_SUCCESS ||
        (o.check_key_matches && wolfSSL_CTX_check_private_key(x) != WOLFSSL_SUCCESS))
      return R::fail(which + "private key could not be loaded or does not match the certificate");
    // Names the identity answers to: SAN DNS, else (no SAN at all) the CN.
    std::vector<std::string> names;
    if (server) {
      auto ders = control::pem_certs_to_der(id.cert_chain_pem);
      if (!ders || ders->empty()) return R::fail(which + "certificate chain could not be loaded");
      auto f = control::extract_facts((*ders)[0]);
      if (!f) return R::fail(which + "certificate could not be parsed: " + f.error);
      if (!f->has_san()) {
        if (!f->subject_cn.empty()) names.push_back(lower(f->subject_cn));
      } else {
        for (const auto& d : f->san_dns) names.push_back(lower(d));
      }
    }
    c->names_.push_back(std::move(names));
  }
  if (auto e = c->configure(ctx, o); !e.empty()) return R::fail(e);
  for (WOLFSSL_CTX* x : c->more_)
    if (auto e = c->configure(x, o); !e.empty()) return R::fail(e);
  return R{std::shared_ptr<const Context>(std::move(c)), {}};
}

Session::Session(std::shared_ptr<const Context> ctx, std::string peer_name, bool name_is_ip, SavedSession resume)
    : ctx_(std::move(ctx)), peer_name_(std::move(peer_name)), name_is_ip_(name_is_ip) {
  // A server with several identities creates its WOLFSSL once the
  // ClientHello has named one (choose_identity).
  if (ctx_->is_server() && ctx_->identities() > 1) return;
  init_ssl(ctx_->raw());
  if (ssl_ && resume) {
    wolfSSL_set_session(ssl_, resume.session.get());
    resumed_peer_ = resume.peer;
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
  // always judge the server (eku-semantics.md, outbound rule).
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
  }
}

SavedSession Session::save() const {
  if (!ssl_ || ctx_->is_server()) return {};
  WOLFSSL_SESSION* s = wolfSSL_get1_session(ssl_);
  if (!s) return {};
  SavedSession out{std::shared_ptr<WOLFSSL_SESSION>(s, wolfSSL_SESSION_free), peer_};
  if (!wolfSSL_SESSION_is_resumable(s)) return {};
  return out;
}

Session::~Session() {
  if (ssl_) wolfSSL_free(ssl_);
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
  auto* s = static_cast<Session*>(ctx);
  std::size_t done = 0;
  // Handshake flights stay together in output() (one TCP write, fewer
  // segments); records of an open session go straight to the transport.
  if (s->transport_ && s->state_ != State::Handshaking && s->tx_off_ == s->tx_.size())
    done = s->transport_->write(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(sz));
  // What the transport did not take waits in output(), in order.
  s->tx_.insert(s->tx_.end(), buf + done, buf + sz);
  return sz;
}

void Session::fail_from_error(int ret) {
  const int err = wolfSSL_get_error(ssl_, ret);
  state_ = State::Failed;
  if (!failure_.empty()) return;
  failure_ = describe_error(err);
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
  const int r = wolfSSL_write(ssl_, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
  if (r > 0) return static_cast<std::size_t>(r);
  fail_from_error(r);
  return 0;
}

void Session::close() {
  if (close_sent_ || !ssl_) return;
  close_sent_ = true;
  if (state_ == State::Open || state_ == State::Closed) wolfSSL_shutdown(ssl_);
  if (state_ == State::Open) state_ = State::Closed;
}

std::string Session::version() const { return ssl_ ? wolfSSL_get_version(ssl_) : ""; }
std::string Session::cipher() const {
  const char* c = ssl_ ? wolfSSL_get_cipher_name(ssl_) : nullptr;
  return c ? c : "";
}
bool Session::resumed() const { return ssl_ && wolfSSL_session_reused(ssl_); }
std::string Session::group() const {
  const char* g = ssl_ ? wolfSSL_get_curve_name(ssl_) : nullptr;
  return g ? g : "";
}

void Session::on_open() {
  if (keylog_) [[unlikely]] log_keys();
  if (!resumed()) return;
  if (ctx_->is_server()) {
    // The certificate was judged when the ticket was first issued and its
    // facts re-judged by ticket_cb under today's policy.
    peer_.presented = from_ticket_.presented;
    peer_.fp = from_ticket_.fp;
    // Mode Off resumed what mode On would send back to a full handshake
    // and refuse: still a would-fail peer.
    const Verifier& v = ctx_->verifier();
    if (peer_.presented && v.mode == control::EkuMode::Off) {
      const control::Verdict on = control::CachedFacts::evaluate(
          ChainStatus::Ok, from_ticket_.facts, control::EkuMode::On, control::Role::Inbound, std::time(nullptr));
      peer_.would_fail = !on.accept && on.detail == control::kDetailPurpose;
    }
    return;
  }
  // Client: the server as verified when the session was first made.
  peer_ = resumed_peer_;
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
  full_.presented = true;
  full_.facts = r.entry.facts;
  full_.fp = r.leaf_fp;
  if (!r.verdict.accept) {
    int alert = unsupported_certificate;  // purpose refusals (eku-semantics.md)
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

// ---- Session tickets -------------------------------------------------------

namespace {

// Random bytes for IVs and keys: one DRBG per thread, seeded once.
bool random_bytes(std::uint8_t* p, std::size_t n) {
  struct Rng {
    WC_RNG rng{};
    bool ok = false;
    Rng() { ok = wc_InitRng(&rng) == 0; }
    ~Rng() {
      if (ok) wc_FreeRng(&rng);
    }
  };
  thread_local Rng r;
  return r.ok && wc_RNG_GenerateBlock(&r.rng, p, static_cast<word32>(n)) == 0;
}

// The 32 bytes turnpike appends to wolfSSL's ticket plaintext (wolfSSL
// leaves exactly WOLFSSL_TICKET_EXTRA_PADDING_SZ = 32 bytes of room). They
// are encrypted and MACed with the rest, so a client cannot alter them.
//   0     version (high 2 bits, = 1) | flags
//   1     EKU bits (control::EkuBit)
//   2..3  keyUsage bits, big-endian
//   4..7  trust epoch (low 32 bits) of the verification
//   8..11 issue time, Unix seconds
//   12..15 leaf notAfter, Unix seconds (clamped)
//   16..31 first 16 bytes of the leaf's SHA-256 fingerprint
constexpr int kBindingBytes = 32;
constexpr std::uint8_t kBindingVersion = 1u << 6;
enum : std::uint8_t {
  kBPresented = 1u << 0, kBEkuPresent = 1u << 1, kBKuPresent = 1u << 2,
  kBIsCa = 1u << 3, kBCasClient = 1u << 4, kBCasServer = 1u << 5,
};

void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 24); p[1] = std::uint8_t(v >> 16); p[2] = std::uint8_t(v >> 8); p[3] = std::uint8_t(v);
}
std::uint32_t get32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
std::uint32_t clamp32(std::int64_t v) { return static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, 0, 0xffffffffLL)); }

bool ticket_mac(const TicketKeys::Key& k, const std::uint8_t* iv, const std::uint8_t* ct, int len, std::uint8_t* out) {
  Hmac h;
  if (wc_HmacInit(&h, nullptr, INVALID_DEVID) != 0) return false;
  std::uint8_t l[2] = {std::uint8_t(len >> 8), std::uint8_t(len)};
  const bool ok = wc_HmacSetKey(&h, WC_SHA256, k.mac.data(), k.mac.size()) == 0 &&
                  wc_HmacUpdate(&h, k.name.data(), k.name.size()) == 0 && wc_HmacUpdate(&h, iv, 16) == 0 &&
                  wc_HmacUpdate(&h, l, 2) == 0 && wc_HmacUpdate(&h, ct, static_cast<word32>(len)) == 0 &&
                  wc_HmacFinal(&h, out) == 0;
  wc_HmacFree(&h);
  return ok;
}

// Constant time, so a forger learns nothing from timing.
bool equal_ct(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  std::uint8_t d = 0;
  for (std::size_t i = 0; i < n; ++i) d |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  return d == 0;
}

bool ticket_crypt(const TicketKeys::Key& k, const std::uint8_t* iv, std::uint8_t* p, int len) {
  ChaCha cc;
  const bool ok = wc_Chacha_SetKey(&cc, k.enc.data(), k.enc.size()) == 0 && wc_Chacha_SetIV(&cc, iv, 0) == 0 &&
                  wc_Chacha_Process(&cc, p, p, static_cast<word32>(len)) == 0;
  std::memset(&cc, 0, sizeof cc);
  return ok;
}

}  // namespace

int Session::ticket_cb(WOLFSSL* ssl, unsigned char* name, unsigned char* iv, unsigned char* mac, int enc,
                       unsigned char* ticket, int in_len, int* out_len, void* arg) {
  const auto* c = static_cast<const Context*>(arg);
  auto* s = static_cast<Session*>(wolfSSL_GetIOReadCtx(ssl));
  if (!c || !s || !c->tickets_) return WOLFSSL_TICKET_RET_FATAL;
  const TicketKeys& keys = *c->tickets_;
  const std::int64_t now = std::time(nullptr);
  TicketKeys::Key k;
  if (enc) {
    if (*out_len - in_len < kBindingBytes || !keys.current(k)) return WOLFSSL_TICKET_RET_FATAL;
    // A resumed session passes on what its own ticket bound.
    const Binding& b = wolfSSL_session_reused(ssl) ? s->from_ticket_ : s->full_;
    std::uint8_t* bind = ticket + in_len;
    std::memset(bind, 0, kBindingBytes);
    std::uint8_t flags = kBindingVersion;
    if (b.presented) {
      flags |= kBPresented;
      if (b.facts.eku_present) flags |= kBEkuPresent;
      if (b.facts.ku_present) flags |= kBKuPresent;
      if (b.facts.is_ca) flags |= kBIsCa;
      if (b.facts.cas_allow_client) flags |= kBCasClient;
      if (b.facts.cas_allow_server) flags |= kBCasServer;
      bind[1] = b.facts.eku;
      bind[2] = std::uint8_t(b.facts.key_usage >> 8);
      bind[3] = std::uint8_t(b.facts.key_usage);
      put32(bind + 12, clamp32(b.facts.not_after));
      std::memcpy(bind + 16, b.fp.data(), 16);
    }
    bind[0] = flags;
    put32(bind + 4, static_cast<std::uint32_t>(c->verifier_.epoch));
    put32(bind + 8, clamp32(now));
    const int len = in_len + kBindingBytes;
    if (!random_bytes(iv, 16)) return WOLFSSL_TICKET_RET_FATAL;
    std::memcpy(name, k.name.data(), k.name.size());
    if (!ticket_crypt(k, iv, ticket, len) || !ticket_mac(k, iv, ticket, len, mac)) return WOLFSSL_TICKET_RET_FATAL;
    *out_len = len;
    return WOLFSSL_TICKET_RET_OK;
  }

  // Decrypt. Anything wrong means a full handshake, never a failure
  // (RFC 5077 §3.3, RFC 8446 §4.2.11: the server may ignore a PSK).
  const int which = keys.find(name, k);
  if (which == 0 || in_len < kBindingBytes) return WOLFSSL_TICKET_RET_REJECT;
  std::uint8_t want[WC_SHA256_DIGEST_SIZE];
  if (!ticket_mac(k, iv, ticket, in_len, want) || !equal_ct(want, mac, sizeof want))
    return WOLFSSL_TICKET_RET_REJECT;
  if (!ticket_crypt(k, iv, ticket, in_len)) return WOLFSSL_TICKET_RET_REJECT;
  const std::uint8_t* bind = ticket + in_len - kBindingBytes;
  const std::uint8_t flags = bind[0];
  if ((flags & 0xc0) != kBindingVersion) return WOLFSSL_TICKET_RET_REJECT;
  const std::int64_t issued = get32(bind + 8);
  if (now - issued > c->ticket_lifetime_ || issued - now > 60) return WOLFSSL_TICKET_RET_REJECT;
  // A trust change (CA, CRL) since the verification: verify again.
  if (get32(bind + 4) != static_cast<std::uint32_t>(c->verifier_.epoch)) return WOLFSSL_TICKET_RET_REJECT;
  Binding b;
  b.presented = flags & kBPresented;
  if (b.presented) {
    b.facts.eku_present = flags & kBEkuPresent;
    b.facts.ku_present = flags & kBKuPresent;
    b.facts.is_ca = flags & kBIsCa;
    b.facts.cas_allow_client = flags & kBCasClient;
    b.facts.cas_allow_server = flags & kBCasServer;
    b.facts.eku = bind[1];
    b.facts.key_usage = static_cast<std::uint16_t>(bind[2] << 8 | bind[3]);
    b.facts.not_before = 0;  // it was valid at issue; notAfter still counts
    b.facts.not_after = get32(bind + 12);
    std::memcpy(b.fp.data(), bind + 16, 16);
    // eku-semantics.md: the current mode decides, for resumptions too; a
    // refusal here sends the client through a full handshake, where the
    // certificate is refused with its alert and Detail.
    if (!control::CachedFacts::evaluate(control::ChainStatus::Ok, b.facts, c->verifier_.mode, control::Role::Inbound, now)
             .accept)
      return WOLFSSL_TICKET_RET_REJECT;
  } else if (c->client_cert_ == ClientCertMode::Require) {
    return WOLFSSL_TICKET_RET_REJECT;  // the listener now requires a certificate
  }
  s->from_ticket_ = b;
  *out_len = in_len - kBindingBytes;
  // An older key: TLS 1.2 reissues under the current key (RET_CREATE);
  // TLS 1.3 only resumes on RET_OK and always sends a fresh ticket anyway.
  if (which == 2 && wolfSSL_version(ssl) != TLS1_3_VERSION) return WOLFSSL_TICKET_RET_CREATE;
  return WOLFSSL_TICKET_RET_OK;
}

TicketKeys::TicketKeys(std::int64_t period_s, unsigned keep)
    : period_(period_s), keep_(std::min<unsigned>(keep, kMaxKeys - 1)) {
  init_library();
  std::lock_guard<std::mutex> g(writer_);
  Key k;
  random_bytes(reinterpret_cast<std::uint8_t*>(&k), sizeof k);
  keys_ = {k};
  publish(keys_);
}

void TicketKeys::publish(const std::vector<Key>& keys) {
  // Seqlock writer: odd sequence while the words change.
  const std::uint64_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  const std::size_t n = std::min(keys.size(), kMaxKeys);
  static_assert(sizeof(Key) == kWords * 8);
  // Word by word (no local copy of the key: GCC 12 with AVX-512 emitted an
  // aligned store to a red-zone array that was not aligned).
  for (std::size_t i = 0; i < n; ++i) {
    const auto* src = reinterpret_cast<const unsigned char*>(&keys[i]);
    for (std::size_t j = 0; j < kWords; ++j) {
      std::uint64_t v;
      std::memcpy(&v, src + 8 * j, 8);
      words_[i][j].store(v, std::memory_order_relaxed);
    }
  }
  count_.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
  seq_.store(s + 2, std::memory_order_release);
}

bool TicketKeys::current(Key& out) const {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t s = seq_.load(std::memory_order_acquire);
    if (s & 1) continue;
    auto* dst = reinterpret_cast<unsigned char*>(&out);
    for (std::size_t j = 0; j < kWords; ++j) {
      const std::uint64_t v = words_[0][j].load(std::memory_order_relaxed);
      std::memcpy(dst + 8 * j, &v, 8);
    }
    const bool any = count_.load(std::memory_order_relaxed) > 0;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s) continue;  // torn: read again
    return any;
  }
  return false;
}

int TicketKeys::find(const std::uint8_t* name, Key& out) const {
  std::uint64_t n[2];
  std::memcpy(n, name, sizeof n);
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t s = seq_.load(std::memory_order_acquire);
    if (s & 1) continue;
    const std::uint32_t count = std::min<std::uint32_t>(count_.load(std::memory_order_relaxed), kMaxKeys);
    int found = 0;
    auto* dst = reinterpret_cast<unsigned char*>(&out);
    for (std::uint32_t i = 0; i < count && !found; ++i) {
      if (words_[i][0].load(std::memory_order_relaxed) != n[0] || words_[i][1].load(std::memory_order_relaxed) != n[1])
        continue;
      for (std::size_t j = 0; j < kWords; ++j) {
        const std::uint64_t v = words_[i][j].load(std::memory_order_relaxed);
        std::memcpy(dst + 8 * j, &v, 8);
      }
      found = i == 0 ? 1 : 2;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s) continue;
    return found;
  }
  return 0;
}

std::size_t TicketKeys::size() const { return count_.load(std::memory_order_relaxed); }

bool TicketKeys::rotate(std::int64_t now) {
  std::lock_guard<std::mutex> g(writer_);
  if (from_file_.load(std::memory_order_relaxed) || period_ <= 0) return false;
  if (born_ < 0) {
    born_ = now;  // the constructor's key starts its period now
    return false;
  }
  if (now - born_ < period_) return false;
  Key k;
  if (!random_bytes(reinterpret_cast<std::uint8_t*>(&k), sizeof k)) return false;
  keys_.insert(keys_.begin(), k);
  if (keys_.size() > keep_ + 1u) keys_.resize(keep_ + 1u);
  born_ = now;
  publish(keys_);
  return true;
}

void TicketKeys::rotate_now(std::int64_t now) {
  std::lock_guard<std::mutex> g(writer_);
  Key k;
  if (!random_bytes(reinterpret_cast<std::uint8_t*>(&k), sizeof k)) return;
  keys_.insert(keys_.begin(), k);
  if (keys_.size() > keep_ + 1u) keys_.resize(keep_ + 1u);
  born_ = now;
  from_file_.store(false, std::memory_order_relaxed);
  publish(keys_);
}

std::string TicketKeys::load(std::string_view text) {
  std::vector<Key> keys;
  std::size_t line_no = 0;
  while (!text.empty() || line_no == 0) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') {
      if (text.empty()) break;
      continue;
    }
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (line.size() != 108)  // 80 bytes in base64
      return where + "not 80 bytes of base64";
    std::uint8_t raw[96];
    word32 n = sizeof raw;
    if (Base64_Decode(reinterpret_cast<const byte*>(line.data()), static_cast<word32>(line.size()), raw, &n) != 0 ||
        n != kKeyBytes)
      return where + "not 80 bytes of base64";
    if (keys.size() == kMaxKeys) return where + "more than " + std::to_string(kMaxKeys) + " keys";
    Key k;
    std::memcpy(&k, raw, sizeof k);
    if (std::all_of(k.name.begin(), k.name.end(), [](std::uint8_t b) { return b == 0; }))
      return where + "key name is all zeros";  // wolfSSL refuses such tickets
    for (const Key& o : keys)
      if (o.name == k.name) return where + "key name used twice";
    keys.push_back(k);
    if (text.empty()) break;
  }
  if (keys.empty()) return "no key in the file";
  std::lock_guard<std::mutex> g(writer_);
  keys_ = std::move(keys);
  from_file_.store(true, std::memory_order_relaxed);
  publish(keys_);
  return {};
}

std::string TicketKeys::load_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "cannot read " + path;
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string e = load(ss.str());
  return e.empty() ? e : path + ": " + e;
}

}  // namespace turnpike::tls
