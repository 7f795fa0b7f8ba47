// TLS engine features in memory: versions, cipher suites and key-exchange
// groups; SNI among several server identities; session resumption through
// turnpike's ticket keys, including the EKU mode rule on resumption
// (docs/eku-semantics.md: a resumption whose original certificate the current
// policy refuses falls back to a full handshake, and so to a reject); the
// random source of turnpike's wolfSSL build (deploy/wolfssl-rand.h).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wolfssl/wolfcrypt/random.h>

#include <array>
#include <atomic>
#include <cstring>
#include <set>
#include <thread>

#include "tls_util.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using control::EkuMode;
using State = tls::Session::State;

namespace {

constexpr int kAlertUnsupportedCertificate = 43;

tls::Verifier verifier(EkuMode mode = EkuMode::On, std::uint64_t epoch = 1) {
  return tls::Verifier{test_trust(), nullptr, mode, epoch};
}

std::shared_ptr<const tls::Context> make_server(const tls::Options& o, EkuMode mode = EkuMode::On,
                                                std::uint64_t epoch = 1) {
  auto r = tls::Context::make_server(o, verifier(mode, epoch));
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

std::shared_ptr<const tls::Context> make_client(const tls::Options& o) {
  auto r = tls::Context::make_client(o, verifier());
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

// Handshake, then let the client take in what followed it (TLS 1.3
// NewSessionTicket arrives after the handshake).
void settle(tls::Session& c, tls::Session& s) {
  pump(c, s);
  std::uint8_t buf[64];
  if (c.state() == State::Open) c.read(buf, sizeof buf);
}

control::Fingerprint leaf_fp(const std::string& name) { return control::sha256(pki_der(name)); }

}  // namespace

// ---- versions, suites, groups ---------------------------------------------

TEST(TlsNegotiation, DefaultsAreX25519AndAes128Gcm) {
  auto srv = make_server(leaf_options("both"));
  auto cli = make_client({});
  tls::Session s(srv), c(cli, "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  EXPECT_EQ(s.version(), "TLSv1.3");
  EXPECT_EQ(s.cipher(), "TLS13-AES128-GCM-SHA256");
  EXPECT_EQ(s.group(), "X25519");
  EXPECT_EQ(c.group(), "X25519");

  tls::Options o12;
  o12.tls13 = false;
  tls::Session s2(srv), c2(make_client(o12), "both.test");
  pump(c2, s2);
  ASSERT_EQ(s2.state(), State::Open) << s2.failure();
  EXPECT_EQ(s2.version(), "TLSv1.2");
  EXPECT_EQ(s2.cipher(), "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST(TlsNegotiation, ClientWithOnlyADisabledGroupFails) {
  auto srv = make_server(leaf_options("both"));  // X25519:P-256
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    tls::Options o;
    o.groups = "P-384";
    o.tls13 = tls13;
    o.tls12 = !tls13;
    tls::Session s(srv), c(make_client(o), "both.test");
    pump(c, s);
    EXPECT_EQ(s.state(), State::Failed);
    EXPECT_EQ(c.state(), State::Failed);
    EXPECT_EQ(c.failure(), "alert received: handshake failure");
    EXPECT_EQ(s.failure(), "no shared group");
    EXPECT_EQ(s.alert_sent(), 40);  // handshake_failure
  }
  // The same client against a server that enables P-384 gets it.
  tls::Options so = leaf_options("both");
  so.groups = "P-256:P-384";
  tls::Options co;
  co.groups = "P-384";
  tls::Session s(make_server(so)), c(make_client(co), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  EXPECT_EQ(s.group(), "SECP384R1");
}

TEST(TlsNegotiation, Tls12ServerKeepsToItsGroups) {
  // A 1.2-only server: the group is checked once the ClientHello named it.
  tls::Options so = leaf_options("both");
  so.tls13 = false;
  so.groups = "X25519";
  tls::Options co;
  co.groups = "P-256:X25519";
  tls::Session s(make_server(so)), c(make_client(co), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  EXPECT_EQ(s.version(), "TLSv1.2");
  EXPECT_EQ(s.group(), "X25519");
}

TEST(TlsNegotiation, ServerGroupPreferenceAndHelloRetry) {
  // Client prefers P-256 (key share for it) but also offers X25519; a
  // server that enables only X25519 asks for it with HelloRetryRequest.
  tls::Options so = leaf_options("both");
  so.groups = "X25519";
  tls::Options co;
  co.groups = "P-256:X25519";
  tls::Session s(make_server(so)), c(make_client(co), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  EXPECT_EQ(s.group(), "X25519");
}

TEST(TlsNegotiation, ClientWithOnlyADisabledSuiteFails) {
  tls::Options so = leaf_options("both");
  so.cipher_list = "TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256";
  auto srv = make_server(so);
  struct {
    bool tls13;
    const char* client_suites;
  } cases[] = {{true, "TLS_AES_256_GCM_SHA384"}, {false, "ECDHE-ECDSA-AES256-GCM-SHA384"}};
  for (auto& k : cases) {
    SCOPED_TRACE(k.client_suites);
    tls::Options co;
    co.tls13 = k.tls13;
    co.tls12 = !k.tls13;
    co.ciphersuites = k.client_suites;
    tls::Session s(srv), c(make_client(co), "both.test");
    pump(c, s);
    EXPECT_EQ(s.state(), State::Failed);
    EXPECT_EQ(c.state(), State::Failed);
  }
  // Configured suites are the ones negotiated, for each version.
  tls::Options co;
  co.cipher_list = "TLS13-CHACHA20-POLY1305-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305";
  tls::Options so2 = leaf_options("both");
  so2.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
  so2.cipher_list = "ECDHE-ECDSA-CHACHA20-POLY1305";
  auto srv2 = make_server(so2);
  tls::Session s13(srv2), c13(make_client(co), "both.test");
  pump(c13, s13);
  ASSERT_EQ(s13.state(), State::Open) << s13.failure();
  EXPECT_EQ(s13.cipher(), "TLS13-CHACHA20-POLY1305-SHA256");
  co.tls13 = false;
  tls::Session s12(srv2), c12(make_client(co), "both.test");
  pump(c12, s12);
  ASSERT_EQ(s12.state(), State::Open) << s12.failure();
  EXPECT_EQ(s12.cipher(), "ECDHE-ECDSA-CHACHA20-POLY1305");
}

TEST(TlsNegotiation, VersionSwitches) {
  tls::Options so = leaf_options("both");
  so.tls12 = false;
  tls::Options co;
  co.tls13 = false;
  tls::Session s(make_server(so)), c(make_client(co), "both.test");
  pump(c, s);
  EXPECT_EQ(s.state(), State::Failed);
  EXPECT_EQ(s.failure(), "unsupported protocol");
}

TEST(TlsNegotiation, BadNamesAreClearErrors) {
  tls::Options o = leaf_options("both");
  o.groups = "X25519:P-999";
  EXPECT_EQ(tls::Context::make_server(o, verifier()).error, "unknown key-exchange group \"P-999\"");
  EXPECT_EQ(tls::Context::make_client(o, verifier()).error, "unknown key-exchange group \"P-999\"");
  o.groups = " : ";
  EXPECT_EQ(tls::Context::make_server(o, verifier()).error, "no key-exchange group configured");
  o.groups = "x25519:prime256v1:secp384r1:P-521:ffdhe2048";
  EXPECT_TRUE(tls::Context::make_server(o, verifier()));
  o = leaf_options("both");
  o.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:NOT-A-CIPHER";
  EXPECT_EQ(tls::Context::make_server(o, verifier()).error, "unknown cipher suite \"NOT-A-CIPHER\"");
  o.cipher_list.clear();
  o.ticket_lifetime = 8 * 24 * 3600;
  EXPECT_EQ(tls::Context::make_server(o, verifier()).error, "ticket lifetime must be between 1 second and 7 days");
  o.ticket_lifetime = 3600;
  o.ciphersuites = "TLS_AES_512_GCM";
  EXPECT_EQ(tls::Context::make_client(o, verifier()).error, "unknown cipher suite \"TLS_AES_512_GCM\"");
}

// ---- SNI ---------------------------------------------------------------------

namespace {

std::shared_ptr<const tls::Context> sni_server(bool tls13 = true) {
  tls::Options o = leaf_options("both");  // default: CN both.test, no SAN
  for (const char* n : {"multi", "multi-rsa", "san"})
    o.identities.push_back({pki_file(std::string(n) + "-chain.pem"), pki_file(std::string(n) + ".key")});
  o.tls13 = tls13;
  o.client_cert = tls::ClientCertMode::None;
  return make_server(o);
}

}  // namespace

TEST(TlsSni, ServerNameChoosesTheIdentity) {
  struct {
    const char* sni;
    std::size_t identity;
    const char* leaf;
  } cases[] = {
      {"both.test", 0, "both"},         {"alpha.test", 1, "multi"},          {"beta.test", 1, "multi"},
      {"x.wild.test", 1, "multi"},      {"rsa.sni.test", 2, "multi-rsa"},    {"a.rsa-wild.test", 2, "multi-rsa"},
      {"sip.example.test", 3, "san"},
  };
  for (bool tls13 : {true, false}) {
    auto srv = sni_server(tls13);
    ASSERT_EQ(srv->identities(), 4u);
    for (auto& k : cases) {
      SCOPED_TRACE(std::string(k.sni) + (tls13 ? " TLS 1.3" : " TLS 1.2"));
      tls::Session s(srv), c(make_client({}), k.sni);
      pump(c, s);
      ASSERT_EQ(c.state(), State::Open) << c.failure() << " / server: " << int(s.state()) << " " << s.failure();
      EXPECT_EQ(s.identity(), k.identity);
      EXPECT_EQ(c.peer().fp, leaf_fp(k.leaf));
    }
  }
}

TEST(TlsSni, NoMatchOrNoSniGetsTheDefault) {
  auto srv = sni_server();
  // No SNI at all (no peer name: nothing sent, nothing checked).
  tls::Session s(srv), c(make_client({}));
  pump(c, s);
  ASSERT_EQ(c.state(), State::Open) << c.failure();
  EXPECT_EQ(s.identity(), 0u);
  EXPECT_EQ(c.peer().fp, leaf_fp("both"));
  // A name nobody has: default certificate, which the client then refuses.
  for (const char* name : {"unknown.test", "a.b.wild.test", "wild.test"}) {
    SCOPED_TRACE(name);
    tls::Session s2(srv), c2(make_client({}), name);
    pump(c2, s2);
    EXPECT_EQ(s2.identity(), 0u);
    EXPECT_EQ(c2.failure(), "hostname mismatch");
  }
}

TEST(TlsSni, ClientHelloSplitOverRecordsGetsTheDefault) {
  // RFC 8446 §5.1 allows a handshake message over several records; the
  // identity is chosen from the first record only, so such a hello gets the
  // default certificate (and the handshake itself still works).
  auto srv = sni_server();
  tls::Session s(srv), c(make_client({}), "alpha.test");
  c.step();
  auto out = c.output();
  std::vector<std::uint8_t> hello(out.begin(), out.end());
  c.consume_output(hello.size());
  ASSERT_GT(hello.size(), 105u);
  const std::size_t cut = 100;
  std::vector<std::uint8_t> split;
  for (auto [from, to] : {std::pair<std::size_t, std::size_t>{5, 5 + cut}, {5 + cut, hello.size()}}) {
    const std::size_t n = to - from;
    split.insert(split.end(), {22, hello[1], hello[2], std::uint8_t(n >> 8), std::uint8_t(n)});
    split.insert(split.end(), hello.begin() + static_cast<long>(from), hello.begin() + static_cast<long>(to));
  }
  s.feed(split.data(), split.size());
  pump(c, s);
  EXPECT_EQ(s.identity(), 0u);
  // The client got both.test's certificate, not alpha.test's.
  EXPECT_EQ(c.failure(), "hostname mismatch");
  EXPECT_EQ(c.peer().fp, leaf_fp("both"));
}

TEST(TlsSni, NameMatchingRules) {
  auto srv = sni_server();
  EXPECT_EQ(srv->select_identity("ALPHA.Test"), 1u);   // case-insensitive
  EXPECT_EQ(srv->select_identity("alpha.test."), 1u);  // absolute form
  EXPECT_EQ(srv->select_identity("X.WILD.TEST"), 1u);
  EXPECT_EQ(srv->select_identity(".wild.test"), 0u);   // empty label
  EXPECT_EQ(srv->select_identity("a.b.wild.test"), 0u);  // one label only
  EXPECT_EQ(srv->select_identity("xwild.test"), 0u);
  EXPECT_EQ(srv->select_identity(""), 0u);
  EXPECT_EQ(srv->select_identity("both.test"), 0u);
  // An exact name wins over an earlier identity's wildcard.
  tls::Options o = leaf_options("multi");  // *.wild.test
  o.identities.push_back({pki_file("both-chain.pem"), pki_file("both.key")});
  auto s2 = make_server(o);
  EXPECT_EQ(s2->select_identity("both.test"), 1u);
  EXPECT_EQ(s2->select_identity("q.wild.test"), 0u);
}

TEST(TlsSni, BadIdentityIsNamed) {
  tls::Options o = leaf_options("both");
  o.identities.push_back({pki_file("multi-chain.pem"), pki_file("both.key")});
  EXPECT_EQ(tls::Context::make_server(o, verifier()).error,
            "identity 2: private key could not be loaded or does not match the certificate");
  tls::Options only;
  only.identities.push_back({pki_file("multi-chain.pem"), pki_file("multi.key")});
  auto r = tls::Context::make_server(only, verifier());
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ((*r)->select_identity("alpha.test"), 0u);
}

// ---- resumption --------------------------------------------------------------

namespace {

struct Resumption : ::testing::Test {
  std::shared_ptr<tls::TicketKeys> keys = std::make_shared<tls::TicketKeys>(3600, 1);

  std::shared_ptr<const tls::Context> server(EkuMode mode, bool tls13, std::uint64_t epoch = 1,
                                             tls::ClientCertMode cm = tls::ClientCertMode::Require,
                                             std::shared_ptr<tls::TicketKeys> k = nullptr) {
    tls::Options o = leaf_options("both");
    o.client_cert = cm;
    o.tls13 = tls13;
    o.tickets = k ? k : keys;
    return make_server(o, mode, epoch);
  }
  std::shared_ptr<const tls::Context> client(const std::string& leaf) {
    return make_client(leaf.empty() ? tls::Options{} : leaf_options(leaf));
  }
  struct Run {
    State server, client;
    bool resumed;
    std::string failure;
    int alert;
    tls::PeerInfo peer;
    tls::SavedSession saved;
  };
  Run run(std::shared_ptr<const tls::Context> srv, std::shared_ptr<const tls::Context> cli,
          tls::SavedSession resume = {}) {
    tls::Session s(srv), c(cli, "both.test", false, resume);
    settle(c, s);
    if (s.state() == State::Open) {
      EXPECT_EQ(s.resumed(), c.resumed());
    }
    return {s.state(), c.state(), s.resumed(), s.failure(), s.alert_sent(), s.peer(), c.save()};
  }
};

}  // namespace

TEST_F(Resumption, ResumesWithTicketsIn13And12) {
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    auto srv = server(EkuMode::On, tls13);
    auto cli = client("client");
    Run full = run(srv, cli);
    ASSERT_EQ(full.server, State::Open) << full.failure;
    EXPECT_FALSE(full.resumed);
    ASSERT_TRUE(full.saved);
    Run again = run(srv, cli, full.saved);
    ASSERT_EQ(again.server, State::Open) << again.failure;
    EXPECT_TRUE(again.resumed);
    // What a resumed session knows of the client certificate.
    EXPECT_TRUE(again.peer.presented);
    const auto fp = leaf_fp("client");
    EXPECT_TRUE(std::equal(fp.begin(), fp.begin() + 16, again.peer.fp.begin()));
    EXPECT_TRUE(again.peer.cn.empty());
    // The resumed session's own ticket resumes too.
    ASSERT_TRUE(again.saved);
    EXPECT_TRUE(run(srv, cli, again.saved).resumed);
  }
}

TEST_F(Resumption, ClientSideKnowsTheServerOnResumption) {
  auto srv = server(EkuMode::On, true, 1, tls::ClientCertMode::None);
  auto cli = client("");
  Run full = run(srv, cli);
  ASSERT_TRUE(full.saved);
  tls::Session s(srv), c(cli, "both.test", false, full.saved);
  settle(c, s);
  ASSERT_TRUE(c.resumed());
  EXPECT_TRUE(c.peer().presented);
  EXPECT_EQ(c.peer().cn, "both.test");
  EXPECT_EQ(c.peer().fp, leaf_fp("both"));
  // And on the server: no certificate then, none now.
  EXPECT_FALSE(s.peer().presented);
}

TEST_F(Resumption, ModeChangeAppliesToResumption) {
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    auto cli = client("server");  // serverAuth only: the public-CA case
    Run off = run(server(EkuMode::Off, tls13), cli);
    ASSERT_EQ(off.server, State::Open) << off.failure;
    ASSERT_TRUE(off.saved);
    // Still mode Off, a new context with the same keys: resumes.
    EXPECT_TRUE(run(server(EkuMode::Off, tls13), cli, off.saved).resumed);
    // Mode On: the ticket is refused, the full handshake refuses the
    // certificate with the spec's alert and Detail.
    Run on = run(server(EkuMode::On, tls13), cli, off.saved);
    EXPECT_FALSE(on.resumed);
    EXPECT_EQ(on.server, State::Failed);
    if (tls13) {
      EXPECT_EQ(on.failure, "unsupported certificate purpose");
      EXPECT_EQ(on.alert, kAlertUnsupportedCertificate);
    } else {
      // wolfSSL 5.5.4's TLS 1.2 client takes any ServerHello as accepting
      // its ticket (DSH_CheckSessionId) and aborts the server's full
      // handshake; OpenSSL's client goes through it and gets the refusal
      // (TlsPeers.OpenSslResumptionAfterModeChange).
      EXPECT_EQ(on.failure, "alert received: unexpected message");
    }
    // A certificate the new mode accepts still resumes under it.
    auto good = client("client");
    Run g = run(server(EkuMode::Off, tls13), good);
    ASSERT_TRUE(g.saved);
    EXPECT_TRUE(run(server(EkuMode::On, tls13), good, g.saved).resumed);
  }
}

// Issue 11: a would-fail client that resumes in mode Off is still one (its
// names are not in the ticket; the first 16 bytes of its fingerprint are).
TEST_F(Resumption, WouldFailSurvivesResumptionInModeOff) {
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    auto srv = server(EkuMode::Off, tls13);
    auto cli = client("server");
    Run full = run(srv, cli);
    ASSERT_EQ(full.server, State::Open) << full.failure;
    EXPECT_TRUE(full.peer.would_fail);
    EXPECT_EQ(full.peer.subject, "CN=server.test");
    ASSERT_TRUE(full.saved);
    Run again = run(srv, cli, full.saved);
    ASSERT_TRUE(again.resumed);
    EXPECT_TRUE(again.peer.would_fail);
    EXPECT_TRUE(again.peer.subject.empty());
    EXPECT_TRUE(std::equal(again.peer.fp.begin(), again.peer.fp.begin() + 16, full.peer.fp.begin()));
    // A clientAuth certificate is never flagged, full or resumed.
    auto good = client("client");
    Run g = run(srv, good);
    ASSERT_TRUE(g.saved);
    EXPECT_FALSE(g.peer.would_fail);
    EXPECT_FALSE(run(srv, good, g.saved).peer.would_fail);
  }
}

TEST_F(Resumption, CodeSigningOnlyNeverResumes) {
  // Refused in both modes: no ticket is ever issued.
  Run r = run(server(EkuMode::Off, true), client("codesign"));
  EXPECT_EQ(r.server, State::Failed);
  EXPECT_FALSE(r.saved);
}

TEST_F(Resumption, RotatedOutKeyMeansFullHandshake) {
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    auto k = std::make_shared<tls::TicketKeys>(3600, 1);  // current + 1 previous
    auto srv = server(EkuMode::On, tls13, 1, tls::ClientCertMode::Require, k);
    auto cli = client("client");
    Run full = run(srv, cli);
    ASSERT_TRUE(full.saved);
    k->rotate_now(100);  // the ticket's key is now the previous one: still good
    Run prev = run(srv, cli, full.saved);
    EXPECT_TRUE(prev.resumed);
    ASSERT_TRUE(prev.saved);  // reissued under the current key
    k->rotate_now(200);  // the first key is gone
    Run gone = run(srv, cli, full.saved);
    EXPECT_FALSE(gone.resumed);
    if (tls13) {
      EXPECT_EQ(gone.server, State::Open) << gone.failure;
      // The ticket issued after the first rotation is still decryptable.
      EXPECT_TRUE(run(srv, cli, prev.saved).resumed);
    } else {
      // See ModeChangeAppliesToResumption: the wolfSSL 1.2 client cannot
      // follow a declined ticket (nor does it keep the reissued one).
      EXPECT_NE(gone.server, State::Open);
    }
  }
}

TEST_F(Resumption, TrustChangeAndCertificateRequirementForceFullHandshake) {
  auto cli = client("client");
  Run full = run(server(EkuMode::On, true, 5), cli);
  ASSERT_TRUE(full.saved);
  Run newepoch = run(server(EkuMode::On, true, 6), cli, full.saved);
  EXPECT_EQ(newepoch.server, State::Open);
  EXPECT_FALSE(newepoch.resumed);
  // A session without a client certificate does not resume on a listener
  // that now requires one.
  auto anon = client("");
  Run req = run(server(EkuMode::On, true, 1, tls::ClientCertMode::Request), anon);
  ASSERT_EQ(req.server, State::Open) << req.failure;
  ASSERT_TRUE(req.saved);
  EXPECT_TRUE(run(server(EkuMode::On, true, 1, tls::ClientCertMode::Request), anon, req.saved).resumed);
  Run must = run(server(EkuMode::On, true, 1, tls::ClientCertMode::Require), anon, req.saved);
  EXPECT_FALSE(must.resumed);
  EXPECT_EQ(must.failure, "peer did not return a certificate");
}

TEST_F(Resumption, NoKeysNoTickets) {
  for (bool tls13 : {true, false}) {
    tls::Options o = leaf_options("both");
    o.tls13 = tls13;
    auto srv = make_server(o);
    auto cli = client("client");
    Run full = run(srv, cli);
    ASSERT_EQ(full.server, State::Open);
    if (full.saved) {
      EXPECT_FALSE(run(srv, cli, full.saved).resumed) << tls13;
    }
  }
}

TEST_F(Resumption, ForeignKeysRejectedSharedFileAccepted) {
  auto cli = client("client");
  Run full = run(server(EkuMode::On, true), cli);
  ASSERT_TRUE(full.saved);
  // Another node with its own random keys: full handshake.
  auto other = std::make_shared<tls::TicketKeys>();
  EXPECT_FALSE(run(server(EkuMode::On, true, 1, tls::ClientCertMode::Require, other), cli, full.saved).resumed);
  // Two nodes sharing a key file accept each other's tickets.
  const std::string file =
      "# turnpike ticket keys\n"
      "  " + std::string(107, 'Q') + "=  \n\n" + std::string(104, 'B') + "AAA=\n";
  auto a = std::make_shared<tls::TicketKeys>(), b = std::make_shared<tls::TicketKeys>();
  ASSERT_EQ(a->load(file), "");
  ASSERT_EQ(b->load(file), "");
  EXPECT_EQ(a->size(), 2u);
  Run ra = run(server(EkuMode::On, false, 1, tls::ClientCertMode::Require, a), cli);
  ASSERT_TRUE(ra.saved);
  EXPECT_TRUE(run(server(EkuMode::On, false, 1, tls::ClientCertMode::Require, b), cli, ra.saved).resumed);
}

TEST(TicketKeys, FileErrorsNameTheLine) {
  tls::TicketKeys k;
  const std::string good = std::string(107, 'Q') + "=";
  EXPECT_EQ(k.load("#c\n" + good + "\nshort\n"), "line 3: not 80 bytes of base64");
  EXPECT_EQ(k.load(good + "\n" + std::string(106, 'Q') + "!=\n"), "line 2: not 80 bytes of base64");
  EXPECT_EQ(k.load(good + "\n" + good + "\n"), "line 2: key name used twice");
  EXPECT_EQ(k.load("# nothing\n\n"), "no key in the file");
  EXPECT_EQ(k.load(std::string(107, 'A') + "="), "line 1: key name is all zeros");
  EXPECT_EQ(k.load(""), "no key in the file");
  std::string many;
  for (int i = 0; i < 9; ++i) many += std::string(1, char('B' + i)) + std::string(106, 'A') + "=\n";
  EXPECT_EQ(k.load(many), "line 9: more than 8 keys");
  EXPECT_FALSE(k.from_file());  // nothing changed on errors
  EXPECT_EQ(k.size(), 1u);
  EXPECT_EQ(k.load_file("/nonexistent/keys"), "cannot read /nonexistent/keys");
}

TEST(TicketKeys, RotationSchedule) {
  tls::TicketKeys k(100, 2);
  tls::TicketKeys::Key first, cur;
  ASSERT_TRUE(k.current(first));
  EXPECT_FALSE(k.rotate(1000));  // stamps the first key's birth
  EXPECT_FALSE(k.rotate(1099));
  EXPECT_TRUE(k.rotate(1100));
  ASSERT_TRUE(k.current(cur));
  EXPECT_NE(cur.name, first.name);
  tls::TicketKeys::Key got;
  EXPECT_EQ(k.find(cur.name.data(), got), 1);
  EXPECT_EQ(k.find(first.name.data(), got), 2);
  EXPECT_EQ(got.enc, first.enc);
  EXPECT_TRUE(k.rotate(1200));
  EXPECT_TRUE(k.rotate(1300));
  EXPECT_EQ(k.size(), 3u);  // current + 2 previous
  EXPECT_EQ(k.find(first.name.data(), got), 0);
  // Keys from a file are the operator's to rotate.
  ASSERT_EQ(k.load(std::string(107, 'Q') + "="), "");
  EXPECT_FALSE(k.rotate(100000));
  EXPECT_TRUE(k.from_file());
}

TEST(TicketKeys, ReadersSeeWholeKeysWhileRotating) {
  tls::TicketKeys k(1, 3);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      tls::TicketKeys::Key a, b;
      while (!stop.load()) {
        if (!k.current(a)) continue;
        // A key found by its name must be the same whole key.
        const int w = k.find(a.name.data(), b);
        if (w != 0 && (b.enc != a.enc || b.mac != a.mac)) torn.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  for (int i = 0; i < 20000; ++i) k.rotate_now(i);
  while (reads.load() < 1000) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(k.size(), 4u);
}

TEST(TicketLifetime, ExpiredTicketMeansFullHandshake) {
  auto keys = std::make_shared<tls::TicketKeys>();
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    tls::Options o = leaf_options("both");
    o.client_cert = tls::ClientCertMode::None;
    o.tickets = keys;
    o.ticket_lifetime = 1;
    o.tls13 = tls13;
    auto srv = make_server(o);
    auto cli = make_client({});
    tls::SavedSession saved;
    {
      tls::Session s(srv), c(cli, "both.test");
      settle(c, s);
      saved = c.save();
      ASSERT_TRUE(saved);
    }
    {
      tls::Session s(srv), c(cli, "both.test", false, saved);
      settle(c, s);
      EXPECT_TRUE(s.resumed());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    tls::Session s(srv), c(cli, "both.test", false, saved);
    settle(c, s);
    EXPECT_FALSE(s.resumed());
    if (tls13) {
      EXPECT_EQ(s.state(), State::Open) << s.failure();
    }
  }
}

// deploy/wolfssl-rand.h: wolfSSL's bytes come from a per-thread buffer of
// kernel CSPRNG output. Draws of every size are fresh, and a forked child
// drops the buffer it inherited (a Hash_DRBG copied by fork, or a buffer
// kept, would make the child repeat the parent's next bytes).
TEST(TlsRandom, DrawsAreFreshAcrossBufferRefillsAndLargeRequests) {
  WC_RNG rng;
  ASSERT_EQ(wc_InitRng(&rng), 0);
  std::set<std::array<std::uint8_t, 24>> seen;
  for (int i = 0; i < 200; ++i) {  // ~9 refills of the 512-byte buffer
    std::array<std::uint8_t, 24> b{};
    ASSERT_EQ(wc_RNG_GenerateBlock(&rng, b.data(), b.size()), 0);
    EXPECT_TRUE(seen.insert(b).second) << "draw " << i << " repeated";
  }
  std::vector<std::uint8_t> big(4096), big2(4096);  // larger than the buffer
  ASSERT_EQ(wc_RNG_GenerateBlock(&rng, big.data(), static_cast<word32>(big.size())), 0);
  ASSERT_EQ(wc_RNG_GenerateBlock(&rng, big2.data(), static_cast<word32>(big2.size())), 0);
  EXPECT_NE(big, big2);
  EXPECT_NE(big, std::vector<std::uint8_t>(big.size(), 0));
  wc_FreeRng(&rng);
}

TEST(TlsRandom, ForkedChildNeverRepeatsTheParentsBytes) {
  WC_RNG rng;
  ASSERT_EQ(wc_InitRng(&rng), 0);
  std::uint8_t first[8];
  ASSERT_EQ(wc_RNG_GenerateBlock(&rng, first, sizeof first), 0);  // buffer now full
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::uint8_t b[32];
    const int ok = wc_RNG_GenerateBlock(&rng, b, sizeof b);
    const bool sent = ok == 0 && write(fds[1], b, sizeof b) == static_cast<ssize_t>(sizeof b);
    _exit(sent ? 0 : 1);
  }
  close(fds[1]);
  std::uint8_t mine[32], child[32];
  ASSERT_EQ(wc_RNG_GenerateBlock(&rng, mine, sizeof mine), 0);
  std::size_t got = 0;
  for (int i = 0; i < 100 && got < sizeof child; ++i) {
    const ssize_t n = read(fds[0], child + got, sizeof child - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(got, sizeof child);
  EXPECT_NE(std::memcmp(mine, child, sizeof mine), 0) << "the child repeated the parent's random bytes";
  wc_FreeRng(&rng);
}
