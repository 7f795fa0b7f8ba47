// TLS over any byte stream: wolfSSL with custom I/O callbacks on in-memory
// buffers (the per-core TCP feeds and drains them; tests use sockets or a
// second session). Peer verification is turnpike's, not wolfSSL's: contexts
// hold no CA, so every peer certificate reaches our verify callback, which
// validates the chain against the trust store (or takes the cached verdict)
// and applies the EKU policy of eku-semantics.md.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/policy.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"

struct WOLFSSL_CTX;
struct WOLFSSL;
struct WOLFSSL_X509_STORE_CTX;
struct WOLFSSL_SESSION;

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

// Session ticket keys, shared by every worker's server contexts (RFC 5077
// for TLS 1.2 tickets, RFC 8446 §4.6.1 for TLS 1.3 PSK tickets). The first
// key encrypts new tickets; the previous ones still decrypt, so tickets
// survive a rotation. Readers (handshakes, any thread) are lock-free: a
// seqlock over relaxed atomic words, nothing shared is written. Writers
// (rotate, load) run on the control thread.
//
// Ticket protection: ChaCha20 (RFC 8439) over the wolfSSL ticket plus 32
// bytes of turnpike binding, then HMAC-SHA256 over key name || IV ||
// length || ciphertext (encrypt-then-MAC). IV: 16 random bytes, the first
// 12 are the ChaCha20 nonce.
//
// Key file format (load / load_file): UTF-8 text, one key per line, each
// line the standard base64 (RFC 4648 §4, with padding) of exactly 80 bytes:
//   bytes  0..15  key name (sent in clear in every ticket; unique, not all
//                 zero bytes)
//   bytes 16..47  ChaCha20 encryption key
//   bytes 48..79  HMAC-SHA256 key
// The first key line encrypts new tickets; the following lines only decrypt
// (at most kMaxKeys lines). Blank lines and lines starting with '#' are
// ignored; spaces around a key are ignored. Errors name the line, e.g.
// "line 3: not 80 bytes of base64". Generate a line with
//   head -c 80 /dev/urandom | base64 -w0
// Every node sharing the file accepts every other node's tickets. A loaded
// file turns off automatic rotation: the operator rotates by putting a new
// line first and reloading on every node.
class TicketKeys {
 public:
  static constexpr std::size_t kNameBytes = 16;
  static constexpr std::size_t kSecretBytes = 32;
  static constexpr std::size_t kKeyBytes = kNameBytes + 2 * kSecretBytes;  // 80
  static constexpr std::size_t kMaxKeys = 8;

  struct Key {
    std::array<std::uint8_t, kNameBytes> name{};
    std::array<std::uint8_t, kSecretBytes> enc{};
    std::array<std::uint8_t, kSecretBytes> mac{};
  };

  // period_s: how long a generated key encrypts before rotate() replaces it;
  // keep: how many previous keys still decrypt (capped at kMaxKeys - 1).
  // Starts with one random key; its period starts at the first rotate().
  explicit TicketKeys(std::int64_t period_s = 12 * 3600, unsigned keep = 2);
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Control thread. A new random key when the current one is older than
  // the period (a first call only stamps the current key with now); older
  // keys beyond `keep` are dropped. No-op while keys come from a file.
  // Returns true when it rotated.
  bool rotate(std::int64_t now);
  // Rotates unconditionally (also after a file load; the file's keys then
  // age out like generated ones).
  void rotate_now(std::int64_t now);
  // Replaces all keys with the file's (format above). On error nothing
  // changes and the error is returned ("line N: ..."); "" on success.
  std::string load(std::string_view text);
  std::string load_file(const std::string& path);
  bool from_file() const { return from_file_.load(std::memory_order_relaxed); }
  std::size_t size() const;

  // Handshake path, any thread, lock-free.
  bool current(Key& out) const;
  // 0: no key of that name; 1: the current key; 2: a previous key.
  int find(const std::uint8_t* name, Key& out) const;

 private:
  static constexpr std::size_t kWords = kKeyBytes / 8;  // 10
  void publish(const std::vector<Key>& keys);           // writer_ held
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint32_t> count_{0};
  std::array<std::array<std::atomic<std::uint64_t>, kWords>, kMaxKeys> words_{};
  mutable std::mutex writer_;
  std::vector<Key> keys_;  // writer's copy (writer_)
  std::int64_t born_ = -1;  // birth of the current generated key; -1: unstamped
  std::int64_t period_;
  unsigned keep_;
  std::atomic<bool> from_file_{false};
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
  // mode now refuses the bound facts (eku-semantics.md), or the listener
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

// Per-session verification record, for events, PROXY v2 TLVs and counters.
// On a resumed server session (ticket) the certificate is not sent again:
// presented comes from the ticket, fp holds only the first 16 bytes of the
// fingerprint (the rest zero) and cn is empty. On a resumed client session
// the server's leaf is taken from the saved session (cn and fp complete).
struct PeerInfo {
  bool presented = false;       // the peer sent a certificate
  bool cache_hit = false;       // chain verdict came from the verdict cache
  control::Fingerprint fp{};
  std::string cn;
  // Server, EKU mode Off: accepted, but mode On would refuse the certificate
  // ("unsupported certificate purpose").
  bool would_fail = false;
  // Server, EKU mode On: refused for purpose, but mode Off would accept it
  // (issue 11 item 4: the audit's refused peers).
  bool refused_on = false;
  // Filled only for a would-fail client, a client refused for purpose, or a
  // verified server (the audit's remotes); empty on a resumed server session.
  std::string subject, issuer;
  bool eku_present = false;  // the leaf's EKU (control::EkuBit) on a full handshake
  std::uint8_t eku = 0;
};

// A client-side session to resume (Session::save()), with the server as it
// was verified on the full handshake (wolfSSL keeps no peer chain in its
// sessions in this build: SESSION_CERTS costs ~37 KiB per connection).
struct SavedSession {
  std::shared_ptr<WOLFSSL_SESSION> session;
  PeerInfo peer;
  explicit operator bool() const { return session != nullptr; }
};

class Session {
 public:
  enum class State : std::uint8_t { Handshaking, Open, Closed, Failed };

  // peer_name: for the client role, the name the server must prove (RFC 5922
  // §7.1 via control::matches_peer_name); also sent as SNI unless an address.
  // resume (client role): a session saved from an earlier connection to the
  // same peer (same peer_name: the server is not re-verified on
  // resumption); its ticket is offered, and the server may still decide on
  // a full handshake (resumed() tells). Limitation of wolfSSL 5.5.4: over
  // TLS 1.2 the client treats any ServerHello as accepting its ticket, so a
  // 1.2 server that declines it makes the handshake fail ("unexpected
  // message"); callers retry once without the saved session. TLS 1.3 falls
  // back to a full handshake properly.
  explicit Session(std::shared_ptr<const Context> ctx, std::string peer_name = {}, bool name_is_ip = false,
                   SavedSession resume = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Transport side: ciphertext in and out.
  void feed(const std::uint8_t* p, std::size_t n);
  void feed_eof() { eof_ = true; }
  std::span<const std::uint8_t> output() const { return {tx_.data() + tx_off_, tx_.size() - tx_off_}; }
  void consume_output(std::size_t n);

  // Zero-copy transport (the worker's TCP buffers): once the handshake is
  // done, wolfSSL's I/O callbacks read records straight out of the receive
  // buffer and write them straight into the send buffer, so the only copies
  // are wolfSSL's own. Bytes already fed or queued in output() go first; a
  // send the transport cannot take whole is queued in output() (flush it
  // when the transport has room again).
  struct Transport {
    virtual std::span<const std::uint8_t> peek() = 0;
    virtual void consume(std::size_t n) = 0;
    virtual std::size_t write(const std::uint8_t* p, std::size_t n) = 0;  // bytes accepted

   protected:
    ~Transport() = default;
  };
  void set_transport(Transport* t) { transport_ = t; }

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
  // Server: refused because the first bytes cannot start a TLS record
  // (RFC 8446 §5.1: content type, legacy version, length), decided as soon
  // as those header bytes arrive, without waiting for the record or the
  // handshake timeout. failure() is then "malformed TLS record".
  bool not_tls() const { return not_tls_; }
  const PeerInfo& peer() const { return peer_; }
  std::string version() const;
  std::string cipher() const;
  bool resumed() const;
  std::string group() const;  // negotiated key-exchange group, e.g. "X25519"
  // Server role: the identity chosen by SNI (0: the default).
  std::size_t identity() const { return identity_; }
  // Client role: the session to pass to a later Session for resumption, or
  // null if the server sent no ticket. With TLS 1.3 the ticket arrives after
  // the handshake: call read() once the server's bytes are fed.
  SavedSession save() const;
  // Null before the first step() of a server with several identities.
  WOLFSSL* raw() const { return ssl_; }

 private:
  friend class Context;
  static int recv_cb(WOLFSSL*, char* buf, int sz, void* ctx);
  static int send_cb(WOLFSSL*, char* buf, int sz, void* ctx);
  static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX* store);
  bool choose_identity();
  void init_ssl(WOLFSSL_CTX* ctx);
  static int ticket_cb(WOLFSSL* ssl, unsigned char* name, unsigned char* iv, unsigned char* mac, int enc,
                       unsigned char* ticket, int in_len, int* out_len, void* arg);
  void on_open();
  void arm_keylog(KeyLog* k);  // keylog.cpp
  void log_keys();
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
  std::size_t identity_ = 0;
  bool hello_seen_ = false;  // server: first record looked at (SNI, groups)
  bool not_tls_ = false;
  Transport* transport_ = nullptr;
  PeerInfo resumed_peer_;  // client: the server of the saved session
  bool close_sent_ = false;
  // What a ticket binds about the client certificate (eku-semantics.md:
  // a mode change also applies to resumed sessions).
  struct Binding {
    bool presented = false;
    control::CachedFacts facts;
    control::Fingerprint fp{};
  };
  Binding full_;             // from this handshake's verification
  Binding from_ticket_;      // from the ticket the client offered
  KeyLog* keylog_ = nullptr;  // diagnostics key log armed at creation
};

// wolfSSL_Init once per process.
void init_library();

}  // namespace turnpike::tls
