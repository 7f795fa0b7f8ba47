#include "turnpike/tls/engine.hpp"

#include <wolfssl/ssl.h>

#include "turnpike/control/peer.hpp"
#include "turnpike/tls/alloc.hpp"

#include <cstring>
#include <ctime>
#include <mutex>

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

void set_versions(WOLFSSL_CTX* ctx, const Options& o) {
  // TLS 1.2 (RFC 5246) and 1.3 (RFC 8446) only; nothing older.
  wolfSSL_CTX_SetMinVersion(ctx, o.tls12 ? WOLFSSL_TLSV1_2 : WOLFSSL_TLSV1_3);
  if (!o.tls13) wolfSSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
}

}  // namespace

Context::~Context() {
  if (ctx_) wolfSSL_CTX_free(ctx_);
}

control::Result<std::shared_ptr<const Context>> Context::make_server(const Options& o, Verifier v) {
  return make(o, std::move(v), true);
}

control::Result<std::shared_ptr<const Context>> Context::make_client(const Options& o, Verifier v) {
  return make(o, std::move(v), false);
}

control::Result<std::shared_ptr<const Context>> Context::make(const Options& o, Verifier v, bool server) {
  using R = control::Result<std::shared_ptr<const Context>>;
  init_library();
  if (!v.trust) return R::fail("no trust store");
  if (!o.tls12 && !o.tls13) return R::fail("at least one of TLS 1.2 and TLS 1.3 must be enabled");
  std::shared_ptr<Context> c(new Context());
  c->verifier_ = std::move(v);
  c->server_ = server;
  c->client_cert_ = o.client_cert;
  // No CA is ever loaded into the context: peer chains are verified by
  // turnpike's trust store in verify_cb (architecture.md, verdict cache).
  c->ctx_ = wolfSSL_CTX_new(server ? wolfSSLv23_server_method() : wolfSSLv23_client_method());
  WOLFSSL_CTX* ctx = c->ctx_;
  if (!ctx) return R::fail("wolfSSL_CTX_new failed");
  set_versions(ctx, o);
  if (!o.cipher_list.empty() && wolfSSL_CTX_set_cipher_list(ctx, o.cipher_list.c_str()) != WOLFSSL_SUCCESS)
    return R::fail("cipher list \"" + o.cipher_list + "\" names no supported suite");
  // X25519 first, then P-256 (RFC 8446 §4.2.7 preference order).
  int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
  wolfSSL_CTX_set_groups(ctx, groups, 3);
  if (!o.cert_chain_pem.empty()) {
    if (wolfSSL_CTX_use_certificate_chain_buffer_format(
            ctx, reinterpret_cast<const unsigned char*>(o.cert_chain_pem.data()),
            static_cast<long>(o.cert_chain_pem.size()), WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
      return R::fail("certificate chain could not be loaded");
    if (wolfSSL_CTX_use_PrivateKey_buffer(ctx, reinterpret_cast<const unsigned char*>(o.key_pem.data()),
                                          static_cast<long>(o.key_pem.size()), WOLFSSL_FILETYPE_PEM) !=
            WOLFSSL_SUCCESS ||
        (o.check_key_matches && wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS))
      return R::fail("private key could not be loaded or does not match the certificate");
  } else if (server) {
    return R::fail("a server context needs a certificate");
  }
  return R{std::shared_ptr<const Context>(std::move(c)), {}};
}

Session::Session(std::shared_ptr<const Context> ctx, std::string peer_name, bool name_is_ip)
    : ctx_(std::move(ctx)), peer_name_(std::move(peer_name)), name_is_ip_(name_is_ip) {
  ssl_ = wolfSSL_new(ctx_->raw());
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
  if (!ctx_->is_server() && !peer_name_.empty() && !name_is_ip_)
    wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, peer_name_.data(), static_cast<unsigned short>(peer_name_.size()));
  if (!ctx_->is_server()) wolfSSL_UseKeyShare(ssl_, WOLFSSL_ECC_X25519);
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
    tx_.clear();
    tx_off_ = 0;
  }
}

int Session::recv_cb(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* s = static_cast<Session*>(ctx);
  const std::size_t avail = s->rx_.size() - s->rx_off_;
  if (!avail) return s->eof_ ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
  const std::size_t n = std::min<std::size_t>(avail, static_cast<std::size_t>(sz));
  std::memcpy(buf, s->rx_.data() + s->rx_off_, n);
  s->rx_off_ += n;
  return static_cast<int>(n);
}

int Session::send_cb(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* s = static_cast<Session*>(ctx);
  s->tx_.insert(s->tx_.end(), buf, buf + sz);
  return sz;
}

void Session::fail_from_error(int ret) {
  const int err = wolfSSL_get_error(ssl_, ret);
  state_ = State::Failed;
  if (failure_.empty()) failure_ = describe_error(err);
}

Session::State Session::step() {
  if (state_ != State::Handshaking) return state_;
  const int ret = ctx_->is_server() ? wolfSSL_accept(ssl_) : wolfSSL_connect(ssl_);
  if (ret == WOLFSSL_SUCCESS) {
    state_ = State::Open;
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
  if (state_ == State::Open || state_ == State::Closed) wolfSSL_shutdown(ssl_);
  if (state_ == State::Open) state_ = State::Closed;
}

std::string Session::version() const { return ssl_ ? wolfSSL_get_version(ssl_) : ""; }
std::string Session::cipher() const {
  const char* c = ssl_ ? wolfSSL_get_cipher_name(ssl_) : nullptr;
  return c ? c : "";
}
bool Session::resumed() const { return ssl_ && wolfSSL_session_reused(ssl_); }

int Session::verify_cb(int preverify, WOLFSSL_X509_STORE_CTX* store) {
  auto* s = static_cast<Session*>(store->userCtx);
  if (!s) return 0;
  // CA certificates of the presented chain: with alternate chains wolfSSL
  // clears "no signer" for them and never adds them as signers; our chain
  // walk at depth 0 decides. Other errors on a CA certificate stand.
  if (store->error_depth > 0) return preverify;
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
  peer_.fp = r.entry.fp;
  if (!r.verdict.accept) {
    int alert = unsupported_certificate;  // purpose refusals (eku-semantics.md)
    if (r.entry.chain != ChainStatus::Ok) alert = alert_for(r.entry.chain);
    else if (r.verdict.detail == control::kDetailExpired || r.verdict.detail == control::kDetailNotYetValid)
      alert = certificate_expired;
    else if (r.verdict.detail != control::kDetailPurpose) alert = bad_certificate;
    return reject(r.verdict.detail, alert);
  }
  // Names are not part of the cached facts: parse the leaf for the CN (PROXY
  // v2, logs) and, as a client, the RFC 5922 §7.1 identity check.
  auto facts = control::extract_facts(leaf);
  if (!facts) return reject("unable to decode certificate", bad_certificate);
  peer_.cn = facts->subject_cn;
  if (role == control::Role::Outbound && !peer_name_.empty() &&
      !control::matches_peer_name(*facts, peer_name_, name_is_ip_))
    return reject(control::kDetailHostname, bad_certificate);
  return true;
}

}  // namespace turnpike::tls
