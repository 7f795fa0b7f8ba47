// TLS over any byte stream: wolfSSL with custom I/O callbacks on in-memory
// buffers (the per-core TCP feeds and drains them; tests use sockets or a
// second session). Peer verification is turnpike's, not wolfSSL's: contexts
// hold no CA, so every peer certificate reaches our verify callback, which
// validates the chain against the trust store (or takes the cached verdict)
// and applies the EKU policy of eku-semantics.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/policy.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"

struct WOLFSSL_CTX;
struct WOLFSSL;
struct WOLFSSL_X509_STORE_CTX;

namespace turnpike::tls {

enum class ClientCertMode : std::uint8_t { None, Request, Require };

// What verification needs; immutable for the life of a context (a snapshot).
struct Verifier {
  std::shared_ptr<const control::TrustStore> trust;
  control::VerdictCache* cache = nullptr;  // optional; outlives every context
  control::EkuMode mode = control::EkuMode::On;
  std::uint64_t epoch = 1;                 // trust epoch of the snapshot
};

struct Options {
  std::string cert_chain_pem;  // leaf first, then intermediates
  std::string key_pem;
  bool tls12 = true;
  bool tls13 = true;
  std::string cipher_list;     // wolfSSL/OpenSSL names; empty: built-in default
  ClientCertMode client_cert = ClientCertMode::Request;  // server role only
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

 private:
  Context() = default;
  static control::Result<std::shared_ptr<const Context>> make(const Options& o, Verifier v, bool server);
  WOLFSSL_CTX* ctx_ = nullptr;
  Verifier verifier_;
  bool server_ = true;
  ClientCertMode client_cert_ = ClientCertMode::Request;
};

// Per-session verification record, for events, PROXY v2 TLVs and counters.
struct PeerInfo {
  bool presented = false;       // the peer sent a certificate
  bool cache_hit = false;       // chain verdict came from the verdict cache
  control::Fingerprint fp{};
  std::string cn;
};

class Session {
 public:
  enum class State : std::uint8_t { Handshaking, Open, Closed, Failed };

  // peer_name: for the client role, the name the server must prove (RFC 5922
  // §7.1 via control::matches_peer_name); also sent as SNI unless an address.
  explicit Session(std::shared_ptr<const Context> ctx, std::string peer_name = {}, bool name_is_ip = false);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Transport side: ciphertext in and out.
  void feed(const std::uint8_t* p, std::size_t n);
  void feed_eof() { eof_ = true; }
  std::span<const std::uint8_t> output() const { return {tx_.data() + tx_off_, tx_.size() - tx_off_}; }
  void consume_output(std::size_t n);

  // Progresses the handshake with what has been fed; returns the new state.
  State step();
  // Application side (Open only). read: plaintext bytes copied, 0 if none yet.
  std::size_t read(std::uint8_t* buf, std::size_t n);
  // Encrypts `n` bytes into the output; returns bytes accepted.
  std::size_t write(const std::uint8_t* p, std::size_t n);
  // Sends close_notify.
  void close();

  State state() const { return state_; }
  // Why the session failed, in the words of the event Detail field.
  const std::string& failure() const { return failure_; }
  int alert_sent() const { return alert_sent_; }
  const PeerInfo& peer() const { return peer_; }
  std::string version() const;
  std::string cipher() const;
  bool resumed() const;
  WOLFSSL* raw() const { return ssl_; }

 private:
  static int recv_cb(WOLFSSL*, char* buf, int sz, void* ctx);
  static int send_cb(WOLFSSL*, char* buf, int sz, void* ctx);
  static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX* store);
  void fail_from_error(int ret);
  bool verify_peer(std::span<const std::uint8_t> leaf, std::span<const control::Der> chain);

  std::shared_ptr<const Context> ctx_;
  WOLFSSL* ssl_ = nullptr;
  std::string peer_name_;
  bool name_is_ip_ = false;
  std::vector<std::uint8_t> rx_, tx_;
  std::size_t rx_off_ = 0, tx_off_ = 0;
  bool eof_ = false;
  State state_ = State::Handshaking;
  std::string failure_;
  int alert_sent_ = 0;
  PeerInfo peer_;
};

// wolfSSL_Init once per process.
void init_library();

}  // namespace turnpike::tls
