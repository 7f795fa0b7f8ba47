// TLS contexts (context.cpp): what a session is made from. Peer
// verification is turnpike's, not wolfSSL's: contexts hold no CA, so every
// peer certificate reaches the verify callback (session.cpp), which takes
// the cached verdict or validates the chain against the trust store and
// applies the EKU policy of docs/eku-semantics.md.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/policy.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"
#include "turnpike/tls/tickets.hpp"

struct WOLFSSL_CTX;

namespace turnpike::tls {

class KeyLog;  // keylog.hpp

enum class ClientCertMode : std::uint8_t { None, Request, Require };

// What verification needs; immutable for the life of a context (a snapshot).
struct Verifier {
  std::shared_ptr<const control::TrustStore> trust;
  control::VerdictCache* cache = nullptr;  // optional; outlives every context
  control::EkuMode mode = control::EkuMode::On;
  std::uint64_t epoch = 1;                 // trust epoch of the snapshot
};

// One server certificate with its key (PEM).
struct Identity {
  std::string cert_chain_pem;  // leaf first, then intermediates
  std::string key_pem;
};

struct Options {
  std::string cert_chain_pem;  // leaf first, then intermediates
  std::string key_pem;
  // Server role: more identities, chosen by the ClientHello's server_name
  // (RFC 6066 §3) against each leaf's SAN DNS names (RFC 6125 §6.4: exact
  // match preferred, then a wildcard as the whole left-most label; the
  // subject CN only when the leaf has no SAN). The default identity is
  // cert_chain_pem/key_pem when set, else identities[0]; it serves a
  // ClientHello without SNI or with a name no identity matches.
  std::vector<Identity> identities;
  bool tls12 = true;
  bool tls13 = true;
  // Cipher suites, wolfSSL/OpenSSL names separated by ':'. Both fields are
  // one pool: TLS 1.3 names (TLS13-AES128-GCM-SHA256 or the IANA
  // TLS_AES_128_GCM_SHA256) restrict TLS 1.3, the others TLS 1.2. A
  // version with no suite named keeps its default set:
  //   1.3: TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256
  //   1.2: ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256, -AES256-GCM-SHA384, -CHACHA20-POLY1305
  // An unknown name is an error from make_server/make_client.
  std::string cipher_list;
  std::string ciphersuites;
  // Key-exchange groups in preference order, ':'-separated: X25519, P-256
  // (secp256r1, prime256v1), P-384 (secp384r1), P-521 (secp521r1),
  // ffdhe2048. The client sends its key share for the first one.
  std::string groups = "X25519:P-256";
  ClientCertMode client_cert = ClientCertMode::Request;  // server role only
  // Server role: session tickets (TLS 1.2 and 1.3 resumption) with these
  // keys; null: no tickets, every handshake is full. wolfSSL's own session
  // cache is always off on server contexts. Each ticket binds, encrypted
  // and MACed, whether a client certificate was presented, its EKU and
  // keyUsage facts, the CA-chain EKU summary, its notAfter, the first 16
  // bytes of its fingerprint, the trust epoch and the issue time. A ticket
  // is declined (full handshake, which re-verifies and may refuse) when its
  // key is unknown or rotated out, it is older than ticket_lifetime, the
  // trust epoch changed, the certificate has expired, the context's EKU
  // mode now refuses the bound facts (docs/eku-semantics.md), or the listener
  // now requires a certificate the original session did not present.
  std::shared_ptr<TicketKeys> tickets;
  std::uint32_t ticket_lifetime = 7200;  // seconds; at most 7 days (RFC 8446 §4.6.1)
  // Tests turn this off to impersonate a peer that has a certificate but not
  // its private key; production contexts always check.
  bool check_key_matches = true;
};

class Context {
 public:
  static control::Result<std::shared_ptr<const Context>> make_server(const Options& o, Verifier v);
  // The client role may have no certificate (plain server-auth TLS).
  static control::Result<std::shared_ptr<const Context>> make_client(const Options& o, Verifier v);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  WOLFSSL_CTX* raw() const { return ctx_; }
  const Verifier& verifier() const { return verifier_; }
  bool is_server() const { return server_; }
  ClientCertMode client_cert() const { return client_cert_; }
  const std::shared_ptr<TicketKeys>& tickets() const { return tickets_; }
  std::uint32_t ticket_lifetime() const { return ticket_lifetime_; }
  std::size_t identities() const { return names_.size(); }
  // Server role: the identity for an SNI host name (0: the default).
  std::size_t select_identity(std::string_view host) const;
  // Diagnostics: sessions created from now on log their secrets (null: off).
  void set_keylog(KeyLog* k) const { keylog_.store(k, std::memory_order_relaxed); }

 private:
  friend class Session;
  Context() = default;
  static control::Result<std::shared_ptr<const Context>> make(const Options& o, Verifier v, bool server);
  std::string configure(WOLFSSL_CTX* ctx, const Options& o) const;  // "" or an error
  WOLFSSL_CTX* ctx_ = nullptr;
  std::vector<WOLFSSL_CTX*> more_;            // identities 1.. (server role)
  std::vector<std::vector<std::string>> names_;  // per identity: DNS names (lower case)
  std::vector<int> groups_;
  std::vector<std::string> group_names_;  // wolfSSL's names of groups_
  std::string ciphers_;
  Verifier verifier_;
  bool server_ = true;
  ClientCertMode client_cert_ = ClientCertMode::Request;
  std::shared_ptr<TicketKeys> tickets_;
  std::uint32_t ticket_lifetime_ = 7200;
  // relaxed: read once per new session; KeyLog::append orders the buffer.
  mutable std::atomic<KeyLog*> keylog_{nullptr};
};

// wolfSSL_Init once per process.
void init_library();

}  // namespace turnpike::tls
