// The application-data fast path (tls::set_fast_records, wolf_record.c):
// an open TLS 1.3 or 1.2 AES-GCM session opens and seals application-data
// records itself on the WOLFSSL's keys, nonces and sequence numbers. These
// tests hold it to wolfSSL's behaviour: records both ways around
// KeyUpdates from either side and a NewSessionTicket mid-stream,
// maximum-size records, a tampered tag or an oversized record failing
// exactly as with the fast path off, hibernation in between, suites it
// must leave alone, and against OpenSSL's s_client (padded records, its
// KeyUpdates; TLS 1.2) over loopback and a plain wolfSSL server (a
// NewSessionTicket whenever asked).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "tls_util.hpp"
#include "turnpike/tls/stats.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using control::EkuMode;
using State = tls::Session::State;

namespace {

std::shared_ptr<const tls::Context> server_ctx(bool tls12, bool tls13, const char* suites = "", bool tickets = false) {
  tls::Options o = leaf_options("both");
  o.client_cert = tls::ClientCertMode::Require;
  o.tls12 = tls12;
  o.tls13 = tls13;
  o.ciphersuites = suites;
  if (tickets) o.tickets = std::make_shared<tls::TicketKeys>();
  auto r = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

std::shared_ptr<const tls::Context> client_ctx() {
  auto r = tls::Context::make_client(leaf_options("client"), tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

const std::uint8_t* bytes(const std::string& s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

// The ciphertext `from` queued, moved to `to` (nothing back).
void cross(tls::Session& from, tls::Session& to) {
  auto o = from.output();
  to.feed(o.data(), o.size());
  from.consume_output(o.size());
}

// Everything `s` can read now, through a buffer of `cap` bytes.
std::string read_all(tls::Session& s, std::size_t cap = 4096) {
  std::vector<std::uint8_t> buf(cap);
  std::string got;
  for (int i = 0; i < 1000; ++i) {
    const std::size_t n = s.read(buf.data(), buf.size());
    if (!n) break;
    got.append(reinterpret_cast<char*>(buf.data()), n);
  }
  return got;
}

// `from` writes `msg`, the bytes cross, `to` reads it all; what the read
// answers (a KeyUpdate) crosses back.
std::string send(tls::Session& from, tls::Session& to, const std::string& msg, std::size_t cap = 4096) {
  EXPECT_EQ(from.write(bytes(msg), msg.size()), msg.size());
  cross(from, to);
  std::string got = read_all(to, cap);
  cross(to, from);
  got += read_all(from, cap);  // nothing: only a KeyUpdate answer, which is no data
  return got;
}

struct Fast {
  std::uint64_t in = 0, out = 0;
  static Fast now() {
    const tls::Stats t = tls::stats_totals();
    return {t.fast_records_in.load(), t.fast_records_out.load()};
  }
  Fast operator-(const Fast& o) const { return {in - o.in, out - o.out}; }
};

// Restores the process-wide switch after a test that turns it off.
struct FastSwitch {
  explicit FastSwitch(bool on) { tls::set_fast_records(on); }
  ~FastSwitch() { tls::set_fast_records(true); }
};

struct Pair {
  tls::Session s, c;
  explicit Pair(std::shared_ptr<const tls::Context> sctx) : s(std::move(sctx)), c(client_ctx(), "both.test") {
    pump(c, s);
  }
};

TEST(FastRecords, OnByDefault) { EXPECT_TRUE(tls::fast_records()); }

// RFC 8446 §4.6.3: a KeyUpdate from either side, with update_requested,
// goes through wolfSSL (inner type handshake); the records before and after
// it, under the old and the new keys, take the fast path.
TEST(FastRecords, BothWaysAroundKeyUpdatesFromEachSide) {
  Pair p(server_ctx(false, true));
  ASSERT_EQ(p.s.state(), State::Open) << p.s.failure();
  ASSERT_EQ(p.s.cipher(), "TLS13-AES128-GCM-SHA256");
  EXPECT_EQ(send(p.s, p.c, "hello"), "hello");  // and whatever the handshake left for the client
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    Fast f0 = Fast::now();
    EXPECT_EQ(send(p.c, p.s, "REGISTER " + std::to_string(round)), "REGISTER " + std::to_string(round));
    EXPECT_EQ(send(p.s, p.c, "200 OK " + std::to_string(round)), "200 OK " + std::to_string(round));
    Fast d = Fast::now() - f0;
    EXPECT_EQ(d.in, 2u);
    EXPECT_EQ(d.out, 2u);

    // Client updates: its records under the new key, the server answers
    // with its own KeyUpdate (wolfSSL), then records flow fast again.
    ASSERT_EQ(wolfSSL_update_keys(round % 2 ? p.s.raw() : p.c.raw()), WOLFSSL_SUCCESS);
    tls::Session& updater = round % 2 ? p.s : p.c;
    tls::Session& other = round % 2 ? p.c : p.s;
    // The update is in flight: the updater writes under its new key while
    // it waits for the answer (wolfSSL's path: a KeyUpdate answer is due).
    EXPECT_EQ(send(updater, other, "after update"), "after update");
    EXPECT_EQ(send(other, updater, "answer"), "answer");
    f0 = Fast::now();
    EXPECT_EQ(send(updater, other, "settled"), "settled");
    EXPECT_EQ(send(other, updater, "settled too"), "settled too");
    d = Fast::now() - f0;
    EXPECT_EQ(d.in, 2u);
    EXPECT_EQ(d.out, 2u);
  }
  EXPECT_EQ(p.s.state(), State::Open);
  EXPECT_EQ(p.c.state(), State::Open);
}

// A plain wolfSSL TLS 1.3 server over in-memory buffers: unlike a
// tls::Session (which frees its handshake state once open) it can send a
// NewSessionTicket whenever asked.
class RawServer {
 public:
  RawServer() {
    ctx_ = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
    const std::string d = pki_dir().string();
    wolfSSL_CTX_use_certificate_chain_file(ctx_, (d + "/both-chain.pem").c_str());
    wolfSSL_CTX_use_PrivateKey_file(ctx_, (d + "/both.key").c_str(), WOLFSSL_FILETYPE_PEM);
    wolfSSL_CTX_set_verify(ctx_, WOLFSSL_VERIFY_NONE, nullptr);
    wolfSSL_CTX_set_cipher_list(ctx_, "TLS13-AES128-GCM-SHA256");
    ssl_ = wolfSSL_new(ctx_);
    wolfSSL_SSLSetIORecv(ssl_, [](WOLFSSL*, char* b, int sz, void* c) -> int {
      auto* self = static_cast<RawServer*>(c);
      if (self->in.empty()) return WOLFSSL_CBIO_ERR_WANT_READ;
      const int n = std::min<int>(sz, static_cast<int>(self->in.size()));
      std::memcpy(b, self->in.data(), static_cast<std::size_t>(n));
      self->in.erase(0, static_cast<std::size_t>(n));
      return n;
    });
    wolfSSL_SSLSetIOSend(ssl_, [](WOLFSSL*, char* b, int sz, void* c) -> int {
      static_cast<RawServer*>(c)->out.append(b, static_cast<std::size_t>(sz));
      return sz;
    });
    wolfSSL_SetIOReadCtx(ssl_, this);
    wolfSSL_SetIOWriteCtx(ssl_, this);
  }
  ~RawServer() {
    wolfSSL_free(ssl_);
    wolfSSL_CTX_free(ctx_);
  }
  // Handshake with `c` (bounded).
  bool open(tls::Session& c) {
    for (int i = 0; i < 20; ++i) {
      c.step();
      to_me(c);
      const int r = wolfSSL_accept(ssl_);
      to_it(c);
      if (r == WOLFSSL_SUCCESS && c.state() == State::Open) return true;
    }
    return false;
  }
  void to_me(tls::Session& c) {
    auto o = c.output();
    in.append(reinterpret_cast<const char*>(o.data()), o.size());
    c.consume_output(o.size());
  }
  void to_it(tls::Session& c) {
    c.feed(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
    out.clear();
  }
  WOLFSSL* raw() { return ssl_; }
  std::string in, out;

 private:
  WOLFSSL_CTX* ctx_ = nullptr;
  WOLFSSL* ssl_ = nullptr;
};

std::vector<std::uint8_t> session_bytes(const tls::Session& c) {
  const tls::SavedSession s = c.save();
  if (!s) return {};
  std::vector<std::uint8_t> b(static_cast<std::size_t>(wolfSSL_i2d_SSL_SESSION(s.session.get(), nullptr)));
  unsigned char* p = b.data();
  wolfSSL_i2d_SSL_SESSION(s.session.get(), &p);
  return b;
}

// A NewSessionTicket (RFC 8446 §4.6.1) between two application records:
// the fast path opens it, sees inner type handshake, and leaves it to
// wolfSSL, which stores the new ticket; the data around it arrives in
// order, and records after it take the fast path again.
TEST(FastRecords, NewSessionTicketMidStream) {
  RawServer s;
  tls::Session c(client_ctx(), "both.test");
  ASSERT_TRUE(s.open(c)) << c.failure();
  ASSERT_EQ(wolfSSL_write(s.raw(), "first", 5), 5);
  s.to_it(c);
  EXPECT_EQ(read_all(c), "first");  // and the handshake's ticket, if one came
  const std::vector<std::uint8_t> before = session_bytes(c);
  const Fast f0 = Fast::now();
  ASSERT_EQ(wolfSSL_write(s.raw(), "before ", 7), 7);
  ASSERT_EQ(wolfSSL_send_SessionTicket(s.raw()), WOLFSSL_SUCCESS);
  ASSERT_EQ(wolfSSL_write(s.raw(), "after", 5), 5);
  s.to_it(c);
  EXPECT_EQ(read_all(c), "before after");
  EXPECT_EQ(c.state(), State::Open) << c.failure();
  EXPECT_EQ((Fast::now() - f0).in, 1u);  // "before"; wolfSSL read "after" with the ticket
  const std::vector<std::uint8_t> with_ticket = session_bytes(c);
  EXPECT_FALSE(with_ticket.empty());
  EXPECT_NE(with_ticket, before);  // the new ticket was taken
  // Both ways again, fast.
  const Fast f1 = Fast::now();
  ASSERT_EQ(c.write(bytes("REGISTER"), 8), 8u);
  s.to_me(c);
  char buf[64];
  ASSERT_EQ(wolfSSL_read(s.raw(), buf, sizeof buf), 8);
  EXPECT_EQ(std::string(buf, 8), "REGISTER");
  ASSERT_EQ(wolfSSL_write(s.raw(), "200 OK", 6), 6);
  s.to_it(c);
  EXPECT_EQ(read_all(c), "200 OK");
  const Fast d = Fast::now() - f1;
  EXPECT_EQ(d.in, 1u);
  EXPECT_EQ(d.out, 1u);
}

// Records of 2^14 bytes, the most RFC 8446 §5.1 allows, fragmented as
// wolfSSL does; read through a buffer of exactly 2^14 bytes (the inner
// plaintext, one byte longer, is opened aside) and through a larger one.
TEST(FastRecords, MaxSizeRecords) {
  Pair p(server_ctx(false, true, "TLS13-AES256-GCM-SHA384"));
  ASSERT_EQ(p.s.state(), State::Open) << p.s.failure();
  ASSERT_EQ(p.s.cipher(), "TLS13-AES256-GCM-SHA384");
  std::string big(3 * 16384 + 7, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i * 7 % 26);
  for (std::size_t cap : {std::size_t{16384}, std::size_t{20000}}) {
    SCOPED_TRACE(cap);
    const Fast f0 = Fast::now();
    ASSERT_EQ(p.c.write(bytes(big), big.size()), big.size());
    EXPECT_EQ(p.c.output().size(), 3 * (5 + 16384 + 1 + 16) + (5 + 7 + 1 + 16));  // one record per 2^14
    cross(p.c, p.s);
    EXPECT_EQ(read_all(p.s, cap), big);
    ASSERT_EQ(p.s.write(bytes(big), big.size()), big.size());
    cross(p.s, p.c);
    EXPECT_EQ(read_all(p.c, cap), big);
    const Fast d = Fast::now() - f0;
    EXPECT_EQ(d.out, 8u);
    EXPECT_EQ(d.in, 8u);
  }
  // A reader's buffer smaller than the record: wolfSSL keeps the rest, and
  // the records after it are read again once it holds none.
  const Fast f0 = Fast::now();
  ASSERT_EQ(p.c.write(bytes(big), 16384 + 500), 16384u + 500);
  cross(p.c, p.s);
  EXPECT_EQ(read_all(p.s, 1000), big.substr(0, 16384 + 500));
  EXPECT_EQ(send(p.c, p.s, "next"), "next");
  const Fast d = Fast::now() - f0;
  EXPECT_EQ(d.out, 3u);
  EXPECT_EQ(d.in, 2u);  // the 500 bytes and "next"; the first record, read in pieces, went through wolfSSL
}

struct Outcome {
  std::size_t read = 0;
  State server = State::Open, client = State::Open;
  std::string server_failure, client_failure;
  std::size_t alert_bytes = 0;
};

// The client's next record, altered by `mutate`, reaches the server.
template <class F>
Outcome broken_record(bool fast, F mutate, bool tls12 = false) {
  FastSwitch sw(fast);
  Pair p(server_ctx(tls12, !tls12));
  EXPECT_EQ(p.s.state(), State::Open);
  EXPECT_EQ(send(p.c, p.s, "good"), "good");
  p.c.write(bytes("INVITE"), 6);
  std::vector<std::uint8_t> rec(p.c.output().begin(), p.c.output().end());
  p.c.consume_output(rec.size());
  mutate(rec);
  p.s.feed(rec.data(), rec.size());
  Outcome o;
  std::uint8_t buf[16384];
  o.read = p.s.read(buf, sizeof buf);
  o.server = p.s.state();
  o.server_failure = p.s.failure();
  o.alert_bytes = p.s.output().size();
  cross(p.s, p.c);
  read_all(p.c);
  o.client = p.c.state();
  o.client_failure = p.c.failure();
  return o;
}

void expect_same(const Outcome& a, const Outcome& b) {
  EXPECT_EQ(a.read, b.read);
  EXPECT_EQ(a.server, b.server);
  EXPECT_EQ(a.server_failure, b.server_failure);
  EXPECT_EQ(a.alert_bytes, b.alert_bytes);
  EXPECT_EQ(a.client, b.client);
  EXPECT_EQ(a.client_failure, b.client_failure);
}

// RFC 8446 §5.2: a record that does not authenticate is bad_record_mac,
// from wolfSSL, as with the fast path off.
TEST(FastRecords, TamperedTagFailsAsBefore) {
  auto flip_tag = [](std::vector<std::uint8_t>& r) { r.back() ^= 0x01; };
  const Outcome on = broken_record(true, flip_tag), off = broken_record(false, flip_tag);
  EXPECT_EQ(on.read, 0u);
  EXPECT_EQ(on.server, State::Failed);
  EXPECT_FALSE(on.server_failure.empty());
  EXPECT_GT(on.alert_bytes, 0u);
  EXPECT_EQ(on.client, State::Failed);
  EXPECT_EQ(on.client_failure, "alert received: bad record mac");
  expect_same(on, off);
  // And a flipped ciphertext byte the same way.
  auto flip_body = [](std::vector<std::uint8_t>& r) { r[6] ^= 0x80; };
  expect_same(broken_record(true, flip_body), broken_record(false, flip_body));
  // TLS 1.2 (RFC 5246 §7.2.2): the same alert, through wolfSSL, for a bad
  // tag, ciphertext or explicit nonce.
  auto flip_ciphertext = [](std::vector<std::uint8_t>& r) { r[5 + 8] ^= 0x80; };
  const Outcome on12 = broken_record(true, flip_tag, true);
  EXPECT_EQ(on12.server, State::Failed);
  EXPECT_EQ(on12.client_failure, "alert received: bad record mac");
  expect_same(on12, broken_record(false, flip_tag, true));
  expect_same(broken_record(true, flip_body, true), broken_record(false, flip_body, true));
  expect_same(broken_record(true, flip_ciphertext, true), broken_record(false, flip_ciphertext, true));
}

// §5.2: more than 2^14 + 256 bytes of ciphertext is record_overflow, from
// wolfSSL; a wrong legacy_record_version is refused by wolfSSL too.
TEST(FastRecords, MalformedRecordsFailAsBefore) {
  auto overflow = [](std::vector<std::uint8_t>& r) {
    r.assign(5 + 16384 + 257, 0);
    r[0] = 23;
    r[1] = r[2] = 3;
    r[3] = static_cast<std::uint8_t>((16384 + 257) >> 8);
    r[4] = static_cast<std::uint8_t>(16384 + 257);
  };
  const Outcome on = broken_record(true, overflow);
  EXPECT_EQ(on.server, State::Failed);
  expect_same(on, broken_record(false, overflow));
  auto version = [](std::vector<std::uint8_t>& r) { r[2] = 1; };
  expect_same(broken_record(true, version), broken_record(false, version));
  auto short_record = [](std::vector<std::uint8_t>& r) {
    r.resize(5 + 16);
    r[3] = 0;
    r[4] = 16;  // a tag and no inner plaintext
  };
  expect_same(broken_record(true, short_record), broken_record(false, short_record));
  // TLS 1.2: more than 2^14 bytes of plaintext (RFC 5246 §6.2.3), a
  // record with no room for its explicit nonce and tag, a wrong version.
  auto overflow12 = [](std::vector<std::uint8_t>& r) {
    const std::size_t len = 8 + 16384 + 1 + 16;
    r.assign(5 + len, 0);
    r[0] = 23;
    r[1] = r[2] = 3;
    r[3] = static_cast<std::uint8_t>(len >> 8);
    r[4] = static_cast<std::uint8_t>(len);
  };
  const Outcome on12 = broken_record(true, overflow12, true);
  EXPECT_EQ(on12.server, State::Failed);
  expect_same(on12, broken_record(false, overflow12, true));
  expect_same(broken_record(true, short_record, true), broken_record(false, short_record, true));
  expect_same(broken_record(true, version, true), broken_record(false, version, true));
}

// The sequence numbers live in the WOLFSSL: a hibernated session exports
// what the fast path advanced, and goes on from there after the wake.
TEST(FastRecords, HibernationInBetween) {
  Pair p(server_ctx(false, true));
  ASSERT_EQ(p.s.state(), State::Open);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const Fast f0 = Fast::now();
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(send(p.c, p.s, "req"), "req");
      EXPECT_EQ(send(p.s, p.c, "resp"), "resp");
    }
    EXPECT_EQ((Fast::now() - f0).in, 6u);
    ASSERT_TRUE(p.s.hibernate());
    ASSERT_TRUE(p.c.hibernate());
  }
  EXPECT_EQ(send(p.c, p.s, "last"), "last");
}

// Suites and versions the fast path leaves alone: every record through
// wolfSSL, none counted.
TEST(FastRecords, OtherSuitesStayOnWolfSSL) {
  struct {
    const char* suite;
    bool tls13;
  } cases[] = {{"TLS13-CHACHA20-POLY1305-SHA256", true}, {"ECDHE-ECDSA-CHACHA20-POLY1305", false}};
  for (auto& k : cases) {
    SCOPED_TRACE(k.suite);
    Pair p(server_ctx(!k.tls13, k.tls13, k.suite));
    ASSERT_EQ(p.s.state(), State::Open) << p.s.failure();
    ASSERT_EQ(p.s.cipher(), k.suite);
    const Fast f0 = Fast::now();
    EXPECT_EQ(send(p.c, p.s, "REGISTER"), "REGISTER");
    EXPECT_EQ(send(p.s, p.c, "200 OK"), "200 OK");
    const Fast d = Fast::now() - f0;
    EXPECT_EQ(d.in, 0u);
    EXPECT_EQ(d.out, 0u);
  }
}

// The explicit nonces (RFC 5288 §3) of the TLS 1.2 records `s` queued,
// added to `seen`; false if one was there already.
bool nonces_unique(const tls::Session& s, std::set<std::string>& seen) {
  const auto o = s.output();
  bool unique = true;
  for (std::size_t at = 0; at + 13 <= o.size();) {
    const std::size_t len = std::size_t(o[at + 3]) << 8 | o[at + 4];
    unique &= seen.emplace(reinterpret_cast<const char*>(o.data() + at + 5), 8).second;
    at += 5 + len;
  }
  return unique;
}

// TLS 1.2 AES-GCM (RFC 5288): records both ways, of every size up to 2^14
// bytes (no inner type: a 2^14-byte buffer takes a whole record), with
// hibernation in between; records sealed here and by wolfSSL (the switch
// off) interleave on one connection and never share a nonce (§3: "MUST be
// distinct for each invocation").
TEST(FastRecords, Tls12) {
  for (const char* suite : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"}) {
    SCOPED_TRACE(suite);
    Pair p(server_ctx(true, false, suite));
    ASSERT_EQ(p.s.state(), State::Open) << p.s.failure();
    ASSERT_EQ(p.s.version(), "TLSv1.2");
    ASSERT_EQ(p.s.cipher(), suite);
    std::string big(2 * 16384 + 3, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('A' + i * 5 % 26);
    std::set<std::string> nonces;
    auto sent_by_client = [&](const std::string& m) {
      EXPECT_EQ(p.c.write(bytes(m), m.size()), m.size());
      EXPECT_TRUE(nonces_unique(p.c, nonces));
      cross(p.c, p.s);
      return read_all(p.s);
    };
    for (int round = 0; round < 3; ++round) {
      SCOPED_TRACE(round);
      Fast f0 = Fast::now();
      EXPECT_EQ(sent_by_client("REGISTER " + std::to_string(round)), "REGISTER " + std::to_string(round));
      EXPECT_EQ(send(p.s, p.c, "200 OK"), "200 OK");
      ASSERT_EQ(p.c.write(bytes(big), big.size()), big.size());
      EXPECT_EQ(p.c.output().size(), 2 * (5 + 8 + 16384 + 16) + (5 + 8 + 3 + 16));
      EXPECT_TRUE(nonces_unique(p.c, nonces));
      cross(p.c, p.s);
      EXPECT_EQ(read_all(p.s, 16384), big);
      Fast d = Fast::now() - f0;
      EXPECT_EQ(d.in, 5u);
      EXPECT_EQ(d.out, 5u);
      {
        FastSwitch off(false);  // wolfSSL's records in between
        EXPECT_EQ(sent_by_client("slow"), "slow");
        EXPECT_EQ(sent_by_client("slow again"), "slow again");
        EXPECT_EQ(send(p.s, p.c, "slow too"), "slow too");
      }
      f0 = Fast::now();
      EXPECT_EQ(sent_by_client("fast"), "fast");
      EXPECT_EQ(send(p.s, p.c, "fast too"), "fast too");
      d = Fast::now() - f0;
      EXPECT_EQ(d.in, 2u);
      EXPECT_EQ(d.out, 2u);
      ASSERT_TRUE(p.s.hibernate());
      ASSERT_TRUE(p.c.hibernate());
    }
    EXPECT_EQ(sent_by_client("last"), "last");
    // A reader's buffer smaller than the record: wolfSSL's path.
    const Fast f0 = Fast::now();
    ASSERT_EQ(p.s.write(bytes(big), 5000), 5000u);
    cross(p.s, p.c);
    EXPECT_EQ(read_all(p.c, 1000), big.substr(0, 5000));
    EXPECT_EQ((Fast::now() - f0).in, 0u);
    EXPECT_EQ(nonces.size(), 3u * 7 + 1);  // every record of the client, none twice
  }
}

// The switch: off, every record goes through wolfSSL and both sides still
// interoperate with a peer whose fast path is on (the same bytes).
TEST(FastRecords, SwitchedOff) {
  Pair p(server_ctx(false, true));
  ASSERT_EQ(p.s.state(), State::Open);
  {
    FastSwitch sw(false);
    const Fast f0 = Fast::now();
    EXPECT_EQ(send(p.c, p.s, "slow"), "slow");
    const Fast d = Fast::now() - f0;
    EXPECT_EQ(d.in + d.out, 0u);
  }
  EXPECT_EQ(send(p.c, p.s, "fast"), "fast");
}

// A transport like the worker's TCP buffers (Session::Transport): peek()
// gives at most `run` bytes at a time (a ring's contiguous run: a record
// may be split), write() takes at most `room` bytes per call (the rest
// waits in output()).
struct ChoppyTransport final : tls::Session::Transport {
  std::string rx, tx;
  std::size_t run = 0, room = 0;
  std::span<const std::uint8_t> peek() override {
    return {reinterpret_cast<const std::uint8_t*>(rx.data()), std::min(rx.size(), run)};
  }
  void consume(std::size_t n) override { rx.erase(0, n); }
  std::size_t write(const std::uint8_t* p, std::size_t n) override {
    const std::size_t w = std::min(n, room);
    tx.append(reinterpret_cast<const char*>(p), w);
    return w;
  }
};

// Records straight from and to the transport: one split by the ring goes
// to wolfSSL, the ones after it come back to the fast path; a send the
// transport takes only in part keeps its order through output().
TEST(FastRecords, OverATransport) {
  for (bool v13 : {true, false}) {
    SCOPED_TRACE(v13 ? "TLS 1.3" : "TLS 1.2");
    Pair p(server_ctx(!v13, v13));
    ASSERT_EQ(p.s.state(), State::Open) << p.s.failure();
    ChoppyTransport t;
    p.s.set_transport(&t);
    std::string sent, got;
    const Fast f0 = Fast::now();
    for (int i = 0; i < 40; ++i) {
      const std::string m = "MESSAGE " + std::to_string(i) + " " + std::string(std::size_t(i) * 37, char('a' + i % 26));
      ASSERT_EQ(p.c.write(bytes(m), m.size()), m.size());
      sent += m;
      auto o = p.c.output();
      t.rx.append(reinterpret_cast<const char*>(o.data()), o.size());
      p.c.consume_output(o.size());
      // Every fifth round the ring's run ends inside a record.
      t.run = i % 5 == 4 ? t.rx.size() / 2 + 1 : t.rx.size();
      got += read_all(p.s);
      t.run = t.rx.size();
      got += read_all(p.s);
    }
    EXPECT_EQ(got, sent);
    EXPECT_TRUE(t.rx.empty());
    const Fast d = Fast::now() - f0;
    EXPECT_GE(d.in, 30u);  // the split ones, and the records wolfSSL read after them, excepted
    EXPECT_LT(d.in, 40u);
    // The other way: a transport with little room.
    std::string back;
    for (int i = 0; i < 20; ++i) {
      const std::string m = "RESPONSE " + std::to_string(i) + std::string(std::size_t(i) * 11, 'r');
      t.room = i % 3 == 0 ? 7 : 1 << 20;
      ASSERT_EQ(p.s.write(bytes(m), m.size()), m.size());
      back += m;
    }
    // What waited in output() goes after what the transport took.
    auto o = p.s.output();
    t.tx.append(reinterpret_cast<const char*>(o.data()), o.size());
    p.s.consume_output(o.size());
    p.c.feed(reinterpret_cast<const std::uint8_t*>(t.tx.data()), t.tx.size());
    EXPECT_EQ(read_all(p.c), back);
  }
}

// --- against OpenSSL's s_client --------------------------------------------


// Echoes each line back as "echo <line>" until the peer closes. After the
// second line it sends a KeyUpdate (update_requested, TLS 1.3) and one
// more line under its new key.
class EchoServer {
 public:
  explicit EchoServer(std::shared_ptr<const tls::Context> ctx) : ctx_(std::move(ctx)) {
    fd_ = listen_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  void join() { thread_.join(); }
  std::string got, failure;
  State state = State::Handshaking;
  std::size_t lines = 0;

 private:
  static void flush(tls::Session& s, int c) {
    for (auto out = s.output(); !out.empty(); out = s.output()) {
      const ssize_t n = send(c, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.consume_output(static_cast<std::size_t>(n));
    }
  }
  void serve() {
    pollfd lp{fd_, POLLIN, 0};
    if (poll(&lp, 1, 20000) <= 0) return;
    const int c = accept(fd_, nullptr, nullptr);
    tls::Session s(ctx_);
    std::array<std::uint8_t, 16384> buf;
    std::string pending;
    for (int iter = 0; iter < 2000; ++iter) {
      s.step();
      flush(s, c);
      if (s.state() == State::Failed || s.state() == State::Closed) break;
      if (s.state() == State::Open) {
        for (std::size_t n; (n = s.read(buf.data(), buf.size())) > 0;) {
          got.append(reinterpret_cast<char*>(buf.data()), n);
          pending.append(reinterpret_cast<char*>(buf.data()), n);
        }
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
          const std::string reply = "echo " + pending.substr(0, eol + 1);
          pending.erase(0, eol + 1);
          s.write(reinterpret_cast<const std::uint8_t*>(reply.data()), reply.size());
          if (++lines == 2) {
            if (wolfSSL_version(s.raw()) == TLS1_3_VERSION) wolfSSL_update_keys(s.raw());
            const std::string more = "after server update\n";
            s.write(reinterpret_cast<const std::uint8_t*>(more.data()), more.size());
          }
        }
        flush(s, c);
        if (s.state() != State::Open) break;
      }
      pollfd pf{c, POLLIN, 0};
      if (poll(&pf, 1, 10000) <= 0) break;
      const ssize_t n = recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) {
        s.feed_eof();
        s.read(buf.data(), buf.size());
        break;
      }
      s.feed(buf.data(), static_cast<std::size_t>(n));
    }
    state = s.state();
    failure = s.failure();
    shutdown(c, SHUT_RDWR);
    close(c);
  }

  std::shared_ptr<const tls::Context> ctx_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
};

// s_client pads its records to 512-byte blocks (RFC 8446 §5.4), sends a
// KeyUpdate asking for ours ("K") and one not asking ("k") between lines,
// and reads our records (fast path) under each of our keys.
TEST(FastRecordsOpenSsl, PaddedRecordsAndKeyUpdatesBothWays) {
  auto ctx = server_ctx(false, true, "", /*tickets=*/true);
  const Fast f0 = Fast::now();
  EchoServer srv(ctx);
  const std::string d = pki_dir().string();
  // The sleeps order the lines and commands (s_client reads stdin as it
  // comes); the last one lets the echoes arrive before stdin ends.
  const std::string script =
      "(printf 'line one\\n'; sleep 0.3; printf 'line two\\n'; sleep 0.3; printf 'K\\n'; sleep 0.3; "
      "printf 'line three\\n'; sleep 0.3; printf 'k\\n'; sleep 0.3; printf 'line four\\n'; sleep 0.8)";
  const std::string out = run_cmd(
      script + " | timeout 20 openssl s_client -tls1_3 -record_padding 512 -connect 127.0.0.1:" +
      std::to_string(srv.port()) + " -servername both.test -CAfile " + d + "/ca.pem -cert " + d + "/client.pem -key " +
      d + "/client.key -cert_chain " + d + "/inter.pem");
  srv.join();
  EXPECT_EQ(srv.got, "line one\nline two\nline three\nline four\n") << out;
  EXPECT_NE(srv.state, State::Failed) << srv.failure;
  for (const char* want : {"echo line one", "echo line two", "after server update", "echo line three",
                           "echo line four", "KEYUPDATE"})
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  const Fast d1 = Fast::now() - f0;
  EXPECT_GE(d1.in, 3u);   // the lines, padded; each KeyUpdate went to wolfSSL
  EXPECT_GE(d1.out, 3u);  // the echoes not right after a KeyUpdate
}

// TLS 1.2 AES-GCM with OpenSSL: its records opened here, ours opened there.
TEST(FastRecordsOpenSsl, Tls12) {
  for (const char* suite : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"}) {
    SCOPED_TRACE(suite);
    auto ctx = server_ctx(true, false, suite);
    const Fast f0 = Fast::now();
    EchoServer srv(ctx);
    const std::string d = pki_dir().string();
    const std::string out = run_cmd(
        "(printf 'line one\\n'; sleep 0.3; printf 'line two\\n'; sleep 0.3; printf 'line three\\n'; sleep 0.6)"
        " | timeout 20 openssl s_client -tls1_2 -connect 127.0.0.1:" +
        std::to_string(srv.port()) + " -servername both.test -CAfile " + d + "/ca.pem -cert " + d +
        "/client.pem -key " + d + "/client.key -cert_chain " + d + "/inter.pem");
    srv.join();
    EXPECT_EQ(srv.got, "line one\nline two\nline three\n") << out;
    EXPECT_NE(srv.state, State::Failed) << srv.failure;
    for (const char* want : {"echo line one", "echo line two", "after server update", "echo line three"})
      EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
    const Fast d1 = Fast::now() - f0;
    EXPECT_EQ(d1.in, 3u);
    EXPECT_EQ(d1.out, 4u);
  }
}

}  // namespace
