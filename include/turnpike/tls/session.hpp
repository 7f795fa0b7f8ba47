// One TLS connection (session.cpp): ciphertext in and out on the transport
// side, plaintext on the application side, the peer's verification record.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/policy.hpp"
#include "turnpike/tls/context.hpp"

struct WOLFSSL;
struct WOLFSSL_CTX;
struct WOLFSSL_X509_STORE_CTX;
struct WOLFSSL_SESSION;

namespace turnpike::tls {

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

// Idle time after which an open session hibernates (Session::idle), in
// microseconds; 0 turns hibernation off. Process-wide, set at start from
// the configuration (sip.tls_hibernate_ms); default 2 s.
void set_hibernate_after(std::uint64_t us);
std::uint64_t hibernate_after();

// The application-data fast path (wolf_record.c): an open TLS 1.3 or 1.2
// AES-GCM session opens and seals plain application-data records itself,
// on the WOLFSSL's own keys, nonces and sequence numbers, with no copy into
// wolfSSL's buffers; anything else (handshake messages, alerts, a record that does
// not authenticate, wolfSSL holding bytes either way) goes through wolfSSL
// as before. Off when wolfSSL's layout check failed. Process-wide; on by
// default (tests and comparisons turn it off).
void set_fast_records(bool on);
bool fast_records();

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
  // Heap bytes of the session's own ciphertext queues (feed() and
  // output()). With a transport, an open session holds none while nothing
  // waits in them: the handshake's go when it opens (sizing.hpp
  // kTlsAwakeBytes counts on it).
  std::size_t queue_bytes() const { return rx_.capacity() + tx_.capacity(); }

  // Progresses the handshake with what has been fed; returns the new state.
  State step();
  // Application side (Open only). read: plaintext bytes copied, 0 if none yet.
  std::size_t read(std::uint8_t* buf, std::size_t n);
  // Encrypts `n` bytes into the output; returns bytes accepted.
  std::size_t write(const std::uint8_t* p, std::size_t n);
  // Sends close_notify.
  void close();

  // Hibernation (issue 12: memory per idle connection). An open session
  // with nothing pending either way exports its record-layer state
  // (wolf_state.c: keys, sequence numbers, suite, TLS 1.3 traffic secrets)
  // into a small blob and frees its WOLFSSL; the next read() with bytes to
  // read, write() or close() re-creates it from the same context and
  // imports the blob, transparently. Peer identity, SNI choice and the EKU
  // verdict are turnpike's (peer(), identity()) and stay as they were. A
  // failed wake fails the session ("session wake failed"). False: not
  // hibernated (not open, bytes pending, or the export failed).
  bool hibernate();
  bool hibernated() const { return hib_ != nullptr; }
  // The owner's idle pass: hibernates after `idle_us` of no traffic once
  // it reaches hibernate_after() (0: never).
  bool idle(std::uint64_t idle_us) {
    const std::uint64_t after = hibernate_after();
    return after && idle_us >= after && !hib_ && hibernate();
  }

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
  // Null before the first step() of a server with several identities, and
  // while hibernated.
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
  WOLFSSL_CTX* wolf_ctx() const;
  bool wake();
  // Whether the transport or the feed holds ciphertext not yet read.
  bool bytes_waiting() const;
  // Ciphertext out: to the transport when it may take it, else output().
  void send_out(const std::uint8_t* p, std::size_t n);
  // The fast path (set_fast_records): plaintext bytes read, or 0 for
  // wolfSSL to read; bytes of p sealed and sent.
  std::size_t read_fast(std::uint8_t* buf, std::size_t n);
  std::size_t write_fast(const std::uint8_t* p, std::size_t n);

  // While hibernated: the exported state and what the getters report.
  struct Hibernated;
  struct HibernatedFree {
    void operator()(Hibernated* h) const noexcept;
  };

  std::shared_ptr<const Context> ctx_;
  // What every record reads, together in the object's first lines (with
  // thousands of connections each line is likely a cache miss).
  WOLFSSL* ssl_ = nullptr;
  Transport* transport_ = nullptr;
  std::vector<std::uint8_t> rx_, tx_;
  std::size_t rx_off_ = 0, tx_off_ = 0;
  bool eof_ = false;
  State state_ = State::Handshaking;
  bool close_sent_ = false;
  bool fast_capable_ = false;  // tp_wolf_fast_capable, decided when the WOLFSSL opens or wakes
  std::unique_ptr<Hibernated, HibernatedFree> hib_;

  std::string peer_name_;
  bool name_is_ip_ = false;
  std::string failure_;
  int alert_sent_ = 0;
  PeerInfo peer_;
  std::size_t identity_ = 0;
  bool hello_seen_ = false;  // server: first record looked at (SNI, groups)
  bool not_tls_ = false;
  // What a ticket binds about the client certificate (docs/eku-semantics.md:
  // a mode change also applies to resumed sessions).
  struct Binding {
    bool presented = false;
    control::CachedFacts facts;
    control::Fingerprint fp{};
  };
  // What only the handshake needs, on the heap and released once the
  // session is open: an idle connection keeps no handshake state (issue 12,
  // memory per idle connection). Tickets are issued and read inside the
  // handshake (TLS 1.3's NewSessionTicket before wolfSSL_accept returns).
  struct Handshake {
    Binding full;          // from this handshake's verification
    Binding from_ticket;   // from the ticket the client offered
    PeerInfo resumed_peer;  // client: the server of the saved session
  };
  std::unique_ptr<Handshake> hs_;
  KeyLog* keylog_ = nullptr;  // diagnostics key log armed at creation
};


}  // namespace turnpike::tls
