// TLS engine end to end in memory: turnpike server session <-> turnpike client
// session, with the EKU matrix of docs/eku-semantics.md, chain failures, the
// verdict cache, and the outbound (client-role) rules.
#include <gtest/gtest.h>

#include <mimalloc.h>

#include <thread>

#include "tls_util.hpp"
#include "turnpike/tls/alloc.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using control::EkuMode;

namespace {

struct Outcome {
  tls::Session::State server, client;
  std::string failure;
  int alert = 0;
  bool cache_hit = false;
};

class Tls : public ::testing::Test {
 protected:
  control::VerdictCache cache{1024};

  std::shared_ptr<const tls::Context> server_ctx(EkuMode mode, std::uint64_t epoch = 1,
                                                 tls::ClientCertMode cm = tls::ClientCertMode::Require) {
    tls::Options o = leaf_options("both");
    o.client_cert = cm;
    auto r = tls::Context::make_server(o, tls::Verifier{test_trust(), &cache, mode, epoch});
    EXPECT_TRUE(r) << r.error;
    return *r;
  }
  std::shared_ptr<const tls::Context> client_ctx(const std::string& leaf, bool check_key = true,
                                                 const std::string& key = {}) {
    tls::Options o;
    if (!leaf.empty()) {
      o = leaf_options(leaf);
      if (!key.empty()) o.key_pem = pki_file(key + ".key");
    }
    o.check_key_matches = check_key;
    auto r = tls::Context::make_client(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
    EXPECT_TRUE(r) << r.error;
    return *r;
  }
  Outcome run(std::shared_ptr<const tls::Context> srv, std::shared_ptr<const tls::Context> cli,
              const std::string& name = "both.test") {
    tls::Session s(srv), c(cli, name);
    pump(c, s);
    // Application data both ways proves the session is usable.
    if (s.state() == tls::Session::State::Open && c.state() == tls::Session::State::Open) {
      const std::string msg = "OPTIONS sip:x SIP/2.0\r\n";
      EXPECT_EQ(c.write(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()), msg.size());
      pump(c, s);
      std::uint8_t buf[256];
      const std::size_t n = s.read(buf, sizeof buf);
      EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), n), msg);
    }
    return {s.state(), c.state(), s.failure(), s.alert_sent(), s.peer().cache_hit};
  }
};

struct Row {
  const char* leaf;
  bool accept_on, accept_off;
  const char* detail;  // on reject (mode On)
};

}  // namespace

// Every row of the spec's table, both modes, plus keyUsage variants.
TEST_F(Tls, InboundEkuMatrix) {
  const Row rows[] = {
      {"client", true, true, ""},
      {"both", true, true, ""},
      {"server", false, true, "unsupported certificate purpose"},  // serverAuth only: the public-CA case
      {"noeku", true, true, ""},
      {"any", true, true, ""},
      {"codesign", false, false, "unsupported certificate purpose"},
      {"ku-dsig", true, true, ""},
      {"ku-kagree", true, true, ""},
      {"ku-kenc", false, false, "unsupported certificate purpose"},
      {"rsa2048", true, true, ""},
      {"p384", true, true, ""},
  };
  for (EkuMode mode : {EkuMode::On, EkuMode::Off}) {
    auto srv = server_ctx(mode);
    for (const Row& r : rows) {
      const bool want = mode == EkuMode::On ? r.accept_on : r.accept_off;
      Outcome o = run(srv, client_ctx(r.leaf));
      SCOPED_TRACE(std::string(r.leaf) + " mode " + std::string(control::to_string(mode)));
      if (want) {
        EXPECT_EQ(o.server, tls::Session::State::Open) << o.failure;
      } else {
        EXPECT_EQ(o.server, tls::Session::State::Failed);
        EXPECT_EQ(o.failure, r.detail);
        EXPECT_EQ(o.alert, 43);  // unsupported_certificate
      }
    }
  }
}

TEST_F(Tls, ServerAuthOnlyCaChainFailsInModeOnOnly) {
  // srvsub: leaf (serverAuth) under a serverAuth-only intermediate.
  EXPECT_EQ(run(server_ctx(EkuMode::On), client_ctx("srvsub")).failure, "unsupported certificate purpose");
  EXPECT_EQ(run(server_ctx(EkuMode::Off), client_ctx("srvsub")).server, tls::Session::State::Open);
}

TEST_F(Tls, ChainFailuresHaveTheirOwnDetails) {
  auto srv = server_ctx(EkuMode::Off);  // Off: only chain problems can refuse
  struct {
    const char* leaf;
    const char* detail;
    int alert;
  } cases[] = {{"expired", "certificate has expired", 45},
               {"notyet", "certificate is not yet valid", 45},
               {"revoked", "certificate revoked", 44},
               {"wrongissuer", "unable to get local issuer certificate", 48}};
  for (auto& c : cases) {
    Outcome o = run(srv, client_ctx(c.leaf));
    EXPECT_EQ(o.server, tls::Session::State::Failed) << c.leaf;
    EXPECT_EQ(o.failure, c.detail) << c.leaf;
    EXPECT_EQ(o.alert, c.alert) << c.leaf;
  }
}

TEST_F(Tls, RequireRefusesClientWithoutCertificate) {
  Outcome o = run(server_ctx(EkuMode::On), client_ctx(""));
  EXPECT_EQ(o.server, tls::Session::State::Failed);
  EXPECT_EQ(o.failure, "peer did not return a certificate");
  // With "request", no certificate is fine.
  Outcome req = run(server_ctx(EkuMode::On, 1, tls::ClientCertMode::Request), client_ctx(""));
  EXPECT_EQ(req.server, tls::Session::State::Open) << req.failure;
}

TEST_F(Tls, VerdictCacheHitAndEpoch) {
  auto srv = server_ctx(EkuMode::On, 7);
  Outcome first = run(srv, client_ctx("client"));
  EXPECT_EQ(first.server, tls::Session::State::Open);
  EXPECT_FALSE(first.cache_hit);
  Outcome second = run(srv, client_ctx("client"));
  EXPECT_EQ(second.server, tls::Session::State::Open);
  EXPECT_TRUE(second.cache_hit);
  // Policy is applied to cached facts per handshake: a cached serverAuth-only
  // certificate is accepted in mode Off and refused in mode On.
  EXPECT_EQ(run(server_ctx(EkuMode::Off, 7), client_ctx("server")).server, tls::Session::State::Open);
  Outcome on = run(server_ctx(EkuMode::On, 7), client_ctx("server"));
  EXPECT_TRUE(on.cache_hit);
  EXPECT_EQ(on.failure, "unsupported certificate purpose");
  // A new trust epoch (CA or CRL change) makes old entries misses.
  Outcome fresh = run(server_ctx(EkuMode::On, 8), client_ctx("client"));
  EXPECT_FALSE(fresh.cache_hit);
  EXPECT_GT(cache.stats().stale, 0u);
}

TEST_F(Tls, CachedCertificateWithoutItsKeyIsRefused) {
  auto srv = server_ctx(EkuMode::On);
  ASSERT_EQ(run(srv, client_ctx("client")).server, tls::Session::State::Open);  // now cached
  // Same certificate, someone else's key: CertificateVerify must fail even
  // though the chain verdict comes from the cache.
  Outcome o = run(srv, client_ctx("client", /*check_key=*/false, "both"));
  EXPECT_TRUE(o.cache_hit);
  EXPECT_EQ(o.server, tls::Session::State::Failed);
  EXPECT_EQ(o.failure, "certificate verify failed");
}

TEST_F(Tls, PresentedRootIsNotTrusted) {
  // wrongissuer's chain file carries its self-signed root: trust must come
  // only from the trust store, never from what the peer sends.
  tls::Options o = leaf_options("wrongissuer");
  o.cert_chain_pem = pki_file("wrongissuer.pem") + pki_file("other-root.pem");
  auto cli = tls::Context::make_client(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  ASSERT_TRUE(cli) << cli.error;
  auto srv = server_ctx(EkuMode::Off);
  Outcome first = run(srv, *cli);
  EXPECT_EQ(first.failure, "unable to get local issuer certificate");
  // And it was not remembered as a signer for the next handshake either.
  EXPECT_EQ(run(srv, *cli).failure, "unable to get local issuer certificate");
}

TEST_F(Tls, OutboundRequiresServerAuthAndName) {
  auto make_srv = [&](const std::string& leaf) {
    auto r = tls::Context::make_server(leaf_options(leaf),
                                       tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
    EXPECT_TRUE(r) << r.error;
    return *r;
  };
  auto cli = client_ctx("client");
  auto connect = [&](const std::string& srv_leaf, const std::string& name) {
    tls::Session s(make_srv(srv_leaf)), c(cli, name);
    pump(c, s);
    return std::make_pair(c.state(), c.failure());
  };
  EXPECT_EQ(connect("server", "server.test").first, tls::Session::State::Open);
  EXPECT_EQ(connect("noeku", "noeku.test").first, tls::Session::State::Open);
  auto ca = connect("client", "client.test");  // clientAuth only: not a server
  EXPECT_EQ(ca.first, tls::Session::State::Failed);
  EXPECT_EQ(ca.second, "unsupported certificate purpose");
  auto name = connect("server", "elsewhere.test");
  EXPECT_EQ(name.first, tls::Session::State::Failed);
  EXPECT_EQ(name.second, "hostname mismatch");
  EXPECT_EQ(connect("san", "sip.example.test").first, tls::Session::State::Open);
}

TEST_F(Tls, BadConfigurationIsRefusedClearly) {
  tls::Options o = leaf_options("both");
  o.key_pem = pki_file("client.key");
  auto r = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error, "private key could not be loaded or does not match the certificate");
  tls::Options none;
  EXPECT_EQ(tls::Context::make_server(none, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1}).error,
            "a server context needs a certificate");
  o = leaf_options("both");
  o.tls12 = o.tls13 = false;
  EXPECT_FALSE(tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1}));
  o = leaf_options("both");
  o.cipher_list = "NOT-A-CIPHER";
  EXPECT_FALSE(tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1}));
}

TEST_F(Tls, GarbageInsteadOfClientHello) {
  tls::Session s(server_ctx(EkuMode::On));
  const std::string junk = "REGISTER sip:example.test SIP/2.0\r\n\r\n";
  s.feed(reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size());
  EXPECT_EQ(s.step(), tls::Session::State::Failed);
  EXPECT_FALSE(s.failure().empty());
}

TEST_F(Tls, ClientHelloOneByteAtATime) {
  tls::Session s(server_ctx(EkuMode::On)), c(client_ctx("client"), "both.test");
  c.step();
  auto hello = c.output();
  std::vector<std::uint8_t> bytes(hello.begin(), hello.end());
  c.consume_output(bytes.size());
  for (std::uint8_t b : bytes) {
    s.feed(&b, 1);
    ASSERT_NE(s.step(), tls::Session::State::Failed) << s.failure();
  }
  pump(c, s);
  EXPECT_EQ(s.state(), tls::Session::State::Open) << s.failure();
}

TEST_F(Tls, TruncatedHandshakeThenEof) {
  tls::Session s(server_ctx(EkuMode::On)), c(client_ctx("client"), "both.test");
  c.step();
  auto hello = c.output();
  s.feed(hello.data(), hello.size() / 2);
  EXPECT_EQ(s.step(), tls::Session::State::Handshaking);
  s.feed_eof();
  EXPECT_EQ(s.step(), tls::Session::State::Failed);
  EXPECT_EQ(s.failure(), "connection closed during handshake");
}

TEST_F(Tls, WolfsslAllocatesOnTheWorkerHeap) {
  auto srv = server_ctx(EkuMode::On);
  auto cli = client_ctx("client");
  bool on_heap = false, handshake_ok = false;
  std::thread worker([&] {
    mi_heap_t* h = tls::bind_worker_heap();
    tls::Session s(srv), c(cli, "both.test");
    pump(c, s);
    handshake_ok = s.state() == tls::Session::State::Open;
    on_heap = mi_heap_contains_block(h, s.raw()) && mi_heap_contains_block(h, c.raw());
  });
  worker.join();
  EXPECT_TRUE(handshake_ok);
  EXPECT_TRUE(on_heap);
  EXPECT_EQ(tls::worker_heap(), nullptr);  // this thread never bound one
}

// Issue 15 part 1, RFC 8446 §4.4.2: a client chain with a copy of the leaf,
// an unrelated certificate, the root, or the root first is judged like the
// plain chain (same state, Detail and alert), in both modes, both versions,
// with and without the verdict cache.
TEST_F(Tls, ExtraneousClientCertificatesGiveThePlainChainsOutcome) {
  struct Case {
    const char* leaf;
    const char* ca;
    const char* on;   // Detail in mode On ("" = accepted)
    int on_alert;
    const char* off;
    int off_alert;
  } cases[] = {
      {"client", "inter", "", 0, "", 0},
      {"server", "inter", "unsupported certificate purpose", 43, "", 0},
      {"revoked", "inter", "certificate revoked", 44, "certificate revoked", 44},
      {"srvsub-both", "inter-srv", "unsupported certificate purpose", 43, "", 0},
  };
  const std::string unrel = pki_file("unrelated.pem"), root = pki_file("root.pem");
  for (const auto& k : cases) {
    const std::string leaf = pki_file(std::string(k.leaf) + ".pem"), ca = pki_file(std::string(k.ca) + ".pem");
    const std::pair<const char*, std::string> variants[] = {
        {"chain", leaf + ca},
        {"duplicate leaf", leaf + leaf + ca},
        {"extra unrelated", leaf + ca + unrel},
        {"with root", leaf + ca + root},
        {"root first", leaf + root + ca},
    };
    for (EkuMode mode : {EkuMode::On, EkuMode::Off}) {
      for (bool with_cache : {false, true}) {
        for (bool tls13 : {true, false}) {
          tls::Options so = leaf_options("both");
          so.client_cert = tls::ClientCertMode::Require;
          auto srv = tls::Context::make_server(so, tls::Verifier{test_trust(), with_cache ? &cache : nullptr, mode, 1});
          ASSERT_TRUE(srv) << srv.error;
          for (const auto& [vname, pem] : variants) {
            SCOPED_TRACE(std::string(k.leaf) + " / " + vname + " / mode " + std::string(control::to_string(mode)) +
                         (with_cache ? " / cache" : "") + (tls13 ? " / 1.3" : " / 1.2"));
            tls::Options co;
            co.cert_chain_pem = pem;
            co.key_pem = pki_file(std::string(k.leaf) + ".key");
            co.tls13 = tls13;
            auto cli = tls::Context::make_client(co, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
            ASSERT_TRUE(cli) << cli.error;
            Outcome o = run(*srv, *cli);
            const std::string want = mode == EkuMode::On ? k.on : k.off;
            const int alert = mode == EkuMode::On ? k.on_alert : k.off_alert;
            if (want.empty()) {
              EXPECT_EQ(o.server, tls::Session::State::Open) << o.failure;
              EXPECT_EQ(o.client, tls::Session::State::Open);
            } else {
              EXPECT_EQ(o.server, tls::Session::State::Failed);
              EXPECT_EQ(o.failure, want);
              EXPECT_EQ(o.alert, alert);
            }
          }
        }
      }
    }
  }
}

TEST_F(Tls, ShuffledIntermediatesAreAccepted) {
  // deep: leaf <- inter2 <- inter <- root; sent in every order, with noise.
  const std::string leaf = pki_file("deep.pem"), i1 = pki_file("inter.pem"), i2 = pki_file("inter2.pem");
  for (const std::string& pem : {leaf + i2 + i1, leaf + i1 + i2, leaf + i1 + leaf + pki_file("unrelated.pem") + i2}) {
    tls::Options co;
    co.cert_chain_pem = pem;
    co.key_pem = pki_file("deep.key");
    auto cli = tls::Context::make_client(co, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
    ASSERT_TRUE(cli) << cli.error;
    Outcome o = run(server_ctx(EkuMode::On), *cli);
    EXPECT_EQ(o.server, tls::Session::State::Open) << o.failure;
  }
  // Without inter2 there is no path: unknown issuer, whatever else is sent.
  tls::Options co;
  co.cert_chain_pem = leaf + i1 + pki_file("root.pem") + leaf;
  co.key_pem = pki_file("deep.key");
  Outcome o = run(server_ctx(EkuMode::Off), *tls::Context::make_client(co, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1}));
  EXPECT_EQ(o.failure, "unable to get local issuer certificate");
  EXPECT_EQ(o.alert, 48);
}

// Issue 15 (end of part 4), RFC 8446 §5.1: a first record header that cannot
// be TLS is refused as soon as its bytes say so, not after the record (or
// the handshake timeout) when its "length" field happens to look plausible.
TEST_F(Tls, NonTlsFirstBytesAreRefusedAtOnce) {
  auto srv = server_ctx(EkuMode::On);
  auto refused_after = [&](const std::string& bytes) -> std::size_t {
    tls::Session s(srv);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      s.feed(reinterpret_cast<const std::uint8_t*>(&bytes[i]), 1);
      if (s.step() == tls::Session::State::Failed) {
        EXPECT_TRUE(s.not_tls());
        EXPECT_EQ(s.failure(), "malformed TLS record");
        EXPECT_EQ(s.alert_sent(), 0);
        EXPECT_TRUE(s.output().empty());  // nothing sent to a non-TLS peer
        return i + 1;
      }
    }
    return 0;  // never refused
  };
  // "GE" = 0x47 0x45: as a record header its length would be 0x202f, which
  // used to be awaited until the handshake timeout.
  EXPECT_EQ(refused_after("GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n"), 1u);
  EXPECT_EQ(refused_after("OPTIONS sip:edge.test SIP/2.0\r\nContent-Length: 0\r\n\r\n"), 1u);
  EXPECT_EQ(refused_after("\r\n\r\n"), 1u);                         // a keep-alive on the TLS port
  EXPECT_EQ(refused_after(std::string("\x16\x02\x01\x00\x10", 5)), 2u);  // not version 3.x
  EXPECT_EQ(refused_after(std::string("\x16\x03\x01\x42\x01", 5)), 5u);  // 16897 bytes > 2^14 + 256
  EXPECT_EQ(refused_after(std::string("\x16\x03\x01\x00\x00", 5)), 5u);  // empty handshake fragment
  // Random bytes (fixed seed): refused by the fifth byte at the latest.
  std::uint32_t x = 2463534242u;
  for (int round = 0; round < 200; ++round) {
    std::string noise(64, '\0');
    for (char& ch : noise) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      ch = static_cast<char>(x);
    }
    noise[0] = static_cast<char>(round % 2 ? noise[0] : 0x16);  // half of them start like a handshake
    const std::size_t at = refused_after(noise);
    SCOPED_TRACE(round);
    EXPECT_GE(at, 1u);
    EXPECT_LE(at, 5u);
  }
  // A real ClientHello (1.3 and 1.2) and a client's alert are not refused by
  // the header check; the handshake completes.
  for (bool tls13 : {true, false}) {
    tls::Options co = leaf_options("client");
    co.tls13 = tls13;
    tls::Session s(srv), c(*tls::Context::make_client(co, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1}), "both.test");
    pump(c, s);
    EXPECT_EQ(s.state(), tls::Session::State::Open) << s.failure();
    EXPECT_FALSE(s.not_tls());
  }
  tls::Session s(srv);
  const std::uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};  // fatal handshake_failure
  s.feed(alert, sizeof alert);
  EXPECT_EQ(s.step(), tls::Session::State::Failed);
  EXPECT_FALSE(s.not_tls());
}

// Issue 11: mode Off flags the handshakes mode On would refuse for their
// purpose (and names the certificate for the would-fail table); nothing is
// flagged in mode On, nor a certificate both modes accept. Item 4: mode On
// names the certificates it refuses for their purpose (the audit's refused
// peers), and only those.
TEST_F(Tls, WouldFailFlagInModeOffOnly) {
  const struct {
    const char* leaf;
    bool flagged_off;
  } rows[] = {{"client", false}, {"both", false}, {"noeku", false}, {"any", false},
              {"server", true},  // serverAuth-only leaf
              {"srvsub", true}};  // under a serverAuth-only intermediate
  for (EkuMode mode : {EkuMode::On, EkuMode::Off}) {
    auto srv = server_ctx(mode);
    for (const auto& r : rows) {
      SCOPED_TRACE(std::string(r.leaf) + " mode " + std::string(control::to_string(mode)));
      tls::Session s(srv), c(client_ctx(r.leaf), "both.test");
      pump(c, s);
      const bool flagged = mode == EkuMode::Off && r.flagged_off;
      if (mode == EkuMode::Off) {
        EXPECT_EQ(s.state(), tls::Session::State::Open) << s.failure();
      }
      EXPECT_EQ(s.peer().would_fail, flagged);
      if (flagged || r.flagged_off) {  // mode On: refused for purpose, still named
        if (!flagged) {
          EXPECT_EQ(s.failure(), control::kDetailPurpose);
        }
        EXPECT_EQ(s.peer().refused_on, !flagged);
        EXPECT_EQ(s.peer().subject, "CN=" + std::string(r.leaf) + ".test");
        EXPECT_FALSE(s.peer().issuer.empty());
      } else {
        EXPECT_TRUE(s.peer().subject.empty());  // no names copied for a certificate both modes accept
        EXPECT_FALSE(s.peer().refused_on);
      }
    }
  }
}

// Item 4: a certificate refused for its purpose in both modes (codeSigning
// only) is not one mode Off would accept: not flagged refused_on.
TEST_F(Tls, RefusedOnOnlyForWhatModeOffAccepts) {
  for (EkuMode mode : {EkuMode::On, EkuMode::Off}) {
    SCOPED_TRACE(std::string(control::to_string(mode)));
    auto srv = server_ctx(mode);
    tls::Session s(srv), c(client_ctx("codesign"), "both.test");
    pump(c, s);
    EXPECT_EQ(s.state(), tls::Session::State::Failed);
    EXPECT_EQ(s.failure(), control::kDetailPurpose);
    EXPECT_FALSE(s.peer().refused_on);
    EXPECT_FALSE(s.peer().would_fail);
  }
}
