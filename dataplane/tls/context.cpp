// tls::Context: wolfSSL contexts for the server and client roles (versions,
// suites, groups, identities chosen by SNI, the ticket callback), built once
// per snapshot and shared by every session made from them.
#include "turnpike/tls/context.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <mutex>

#include "turnpike/tls/alloc.hpp"
#include "turnpike/tls/session.hpp"
#include "turnpike/text.hpp"

namespace turnpike::tls {

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    install_allocators();  // also done before main; this keeps alloc.o linked
    wolfSSL_Init();
  });
}

namespace {

// Named groups (RFC 8446 §4.2.7; RFC 7919 for ffdhe).
bool group_id(std::string_view name, int& id) {
  const std::string n = ascii_lower(name);
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
  const std::string h = ascii_lower(host);
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
    // without asking the current EKU policy (docs/eku-semantics.md).
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
  // turnpike's trust store in verify_cb (docs/architecture.md, verdict cache).
  c->ctx_ = new_ctx();
  WOLFSSL_CTX* ctx = c->ctx_;
  if (!ctx) return R::fail("wolfSSL_CTX_new failed");

  // Groups: our own parser, so that a typo is an error rather than a
  // silently shorter list.
  for (const std::string_view name : split_list(o.groups, ':')) {
    int id = 0;
    if (!group_id(name, id)) return R::fail("unknown key-exchange group \"" + std::string(name) + "\"");
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
    for (const std::string_view field_name : split_list(field, ':')) {
      const std::string name = tls13_alias(std::string(field_name));
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
        if (!f->subject_cn.empty()) names.push_back(ascii_lower(f->subject_cn));
      } else {
        for (const auto& d : f->san_dns) names.push_back(ascii_lower(d));
      }
    }
    c->names_.push_back(std::move(names));
  }
  if (auto e = c->configure(ctx, o); !e.empty()) return R::fail(e);
  for (WOLFSSL_CTX* x : c->more_)
    if (auto e = c->configure(x, o); !e.empty()) return R::fail(e);
  return R{std::shared_ptr<const Context>(std::move(c)), {}};
}

}  // namespace turnpike::tls
