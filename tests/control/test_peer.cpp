// check_peer(): the verify-callback path on real certificate chains, with
// and without the verdict cache.
#include <gtest/gtest.h>

#include <ctime>

#include "pki_fixture.hpp"
#include "turnpike/control/peer.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_der;
using turnpike::testing::pki_file;

namespace {
struct Peer : ::testing::Test {
  TrustStore trust;
  VerdictCache cache{1024};
  int64_t now = std::time(nullptr);
  void SetUp() override {
    ASSERT_EQ(trust.add_ca_bundle(pki_file("ca.pem")), "");
    ASSERT_EQ(trust.add_crl(pki_file("inter.crl")), "");
  }
  std::vector<Der> load(const std::string& chain_file) { return *pem_certs_to_der(pki_file(chain_file)); }
  PeerResult check(const std::vector<Der>& chain, EkuMode m, Role r, VerdictCache* c) {
    std::vector<std::span<const uint8_t>> spans(chain.begin(), chain.end());
    return check_peer(spans, trust, c, cache.epoch(), m, r, now);
  }
};
}  // namespace

TEST_F(Peer, LeafTableInboundThroughCache) {
  struct Row {
    const char* chain;
    bool on, off;
  } rows[] = {{"client-chain.pem", true, true},   {"both-chain.pem", true, true},
              {"server-chain.pem", false, true},  {"noeku-chain.pem", true, true},
              {"any-chain.pem", true, true},      {"codesign-chain.pem", false, false}};
  for (const auto& row : rows) {
    SCOPED_TRACE(row.chain);
    auto chain = load(row.chain);
    PeerResult miss = check(chain, EkuMode::On, Role::Inbound, &cache);
    EXPECT_FALSE(miss.cache_hit);
    EXPECT_EQ(miss.verdict.accept, row.on);
    if (!row.on) {
      EXPECT_EQ(miss.verdict.detail, "unsupported certificate purpose");
    }
    // The mode is applied to cached facts: no invalidation, same answers.
    PeerResult hit_on = check(chain, EkuMode::On, Role::Inbound, &cache);
    PeerResult hit_off = check(chain, EkuMode::Off, Role::Inbound, &cache);
    EXPECT_TRUE(hit_on.cache_hit);
    EXPECT_TRUE(hit_off.cache_hit);
    EXPECT_EQ(hit_on.verdict.accept, row.on);
    EXPECT_EQ(hit_off.verdict.accept, row.off);
    EXPECT_EQ(check(chain, EkuMode::Off, Role::Inbound, nullptr).verdict.accept, row.off);
  }
}

TEST_F(Peer, OutboundRequiresServerAuth) {
  EXPECT_TRUE(check(load("server-chain.pem"), EkuMode::On, Role::Outbound, &cache).verdict.accept);
  PeerResult c = check(load("client-chain.pem"), EkuMode::Off, Role::Outbound, &cache);
  EXPECT_FALSE(c.verdict.accept);
  EXPECT_EQ(c.verdict.detail, "unsupported certificate purpose");
}

TEST_F(Peer, ServerAuthOnlyIntermediateFailsInboundInModeOnOnly) {
  auto chain = load("srvsub-both-chain.pem");  // leaf has clientAuth, CA is serverAuth-only
  for (int pass = 0; pass < 2; ++pass) {     // miss, then hit
    SCOPED_TRACE(pass);
    PeerResult on = check(chain, EkuMode::On, Role::Inbound, &cache);
    EXPECT_EQ(on.cache_hit, pass == 1);
    EXPECT_FALSE(on.verdict.accept);
    EXPECT_EQ(on.verdict.detail, "unsupported certificate purpose");
    EXPECT_TRUE(check(chain, EkuMode::Off, Role::Inbound, &cache).verdict.accept);
    EXPECT_TRUE(check(chain, EkuMode::On, Role::Outbound, &cache).verdict.accept);
  }
}

TEST_F(Peer, ChainErrorsAreCachedUnderTheEpoch) {
  PeerResult r = check(load("revoked-chain.pem"), EkuMode::Off, Role::Inbound, &cache);
  EXPECT_EQ(r.verdict.detail, "certificate revoked");
  r = check(load("revoked-chain.pem"), EkuMode::Off, Role::Inbound, &cache);
  EXPECT_TRUE(r.cache_hit);
  EXPECT_EQ(r.verdict.detail, "certificate revoked");
  EXPECT_EQ(check(load("expired-chain.pem"), EkuMode::Off, Role::Inbound, &cache).verdict.detail,
            "certificate has expired");
  EXPECT_EQ(check(load("notyet-chain.pem"), EkuMode::Off, Role::Inbound, &cache).verdict.detail,
            "certificate is not yet valid");
  // A trust change bumps the epoch: the next check recomputes.
  cache.bump_epoch();
  EXPECT_FALSE(check(load("revoked-chain.pem"), EkuMode::Off, Role::Inbound, &cache).cache_hit);
}

TEST_F(Peer, UntrustedLeafWithItsOwnRootIsRefused) {
  std::vector<Der> chain{pki_der("wrongissuer"), pki_der("other-root")};
  PeerResult r = check(chain, EkuMode::Off, Role::Inbound, &cache);
  EXPECT_FALSE(r.verdict.accept);
  EXPECT_EQ(r.verdict.detail, "unable to get local issuer certificate");
  // Leaf sent without its intermediate.
  EXPECT_EQ(check({pki_der("both")}, EkuMode::Off, Role::Inbound, nullptr).verdict.detail,
            "unable to get local issuer certificate");
}

TEST_F(Peer, EndEntityPresentedAsIntermediateIsRefused) {
  PeerResult r = check(load("evil-chain.pem"), EkuMode::Off, Role::Inbound, &cache);
  EXPECT_FALSE(r.verdict.accept);
  EXPECT_EQ(r.verdict.detail, "unable to get local issuer certificate");
}

TEST_F(Peer, ValidityIsCheckedOnEveryHit) {
  auto chain = load("both-chain.pem");
  ASSERT_TRUE(check(chain, EkuMode::On, Role::Inbound, &cache).verdict.accept);
  int64_t saved = now;
  now = 0xfffffff0LL;  // far future
  PeerResult r = check(chain, EkuMode::On, Role::Inbound, &cache);
  EXPECT_TRUE(r.cache_hit);
  EXPECT_EQ(r.verdict.detail, "certificate has expired");
  now = saved;
}

TEST_F(Peer, EmptyAndMalformedChains) {
  EXPECT_FALSE(check({}, EkuMode::Off, Role::Inbound, &cache).verdict.accept);
  std::vector<Der> junk{Der(40, 0x30)};
  EXPECT_FALSE(check(junk, EkuMode::Off, Role::Inbound, &cache).verdict.accept);
}

// Issue 15: extraneous certificates and any order after the leaf (RFC 8446
// 4.4.2) give the plain chain's verdict and Detail, in both modes, with and
// without the cache, and whether the plain chain or a variant came first.
namespace {
struct Variant {
  const char* name;
  std::vector<Der> (*make)(const Der& leaf, const std::vector<Der>& cas);
};
const Variant kVariants[] = {
    {"chain", [](const Der& l, const std::vector<Der>& c) { auto v = std::vector<Der>{l}; v.insert(v.end(), c.begin(), c.end()); return v; }},
    {"duplicate leaf", [](const Der& l, const std::vector<Der>& c) { auto v = std::vector<Der>{l, l}; v.insert(v.end(), c.begin(), c.end()); return v; }},
    {"extra unrelated", [](const Der& l, const std::vector<Der>& c) { auto v = std::vector<Der>{l}; v.insert(v.end(), c.begin(), c.end()); v.push_back(pki_der("unrelated")); return v; }},
    {"with root", [](const Der& l, const std::vector<Der>& c) { auto v = std::vector<Der>{l}; v.insert(v.end(), c.begin(), c.end()); v.push_back(pki_der("root")); return v; }},
    {"root first", [](const Der& l, const std::vector<Der>& c) { auto v = std::vector<Der>{l, pki_der("root")}; v.insert(v.end(), c.begin(), c.end()); return v; }},
    {"shuffled", [](const Der& l, const std::vector<Der>& c) { auto v = std::vector<Der>{l}; v.insert(v.end(), c.rbegin(), c.rend()); v.push_back(l); return v; }},
};
struct Case {
  const char* leaf;
  std::vector<const char*> cas;  // intermediates, issuer first
  const char* on;                // Detail in mode On ("" = accept)
  const char* off;               // Detail in mode Off
};
}  // namespace

TEST_F(Peer, ExtraneousCertificatesGiveThePlainChainsVerdict) {
  const Case cases[] = {
      {"client", {"inter"}, "", ""},
      {"deep", {"inter2", "inter"}, "", ""},
      {"server", {"inter"}, "unsupported certificate purpose", ""},
      {"revoked", {"inter"}, "certificate revoked", "certificate revoked"},
      {"expired", {"inter"}, "certificate has expired", "certificate has expired"},
      {"srvsub-both", {"inter-srv"}, "unsupported certificate purpose", ""},
      {"srvsub", {"inter-srv"}, "unsupported certificate purpose", ""},
      {"rootleaf", {}, "", ""},
      {"wrongissuer", {"other-root"}, "unable to get local issuer certificate", "unable to get local issuer certificate"},
  };
  for (bool cached_first_plain : {true, false}) {
    VerdictCache c{1024};
    for (const auto& k : cases) {
      std::vector<Der> cas;
      for (const char* n : k.cas) cas.push_back(pki_der(n));
      const Der leaf = pki_der(k.leaf);
      std::vector<size_t> order(std::size(kVariants));
      for (size_t i = 0; i < order.size(); ++i) order[i] = cached_first_plain ? i : order.size() - 1 - i;
      for (size_t vi : order) {
        const Variant& v = kVariants[vi];
        SCOPED_TRACE(std::string(k.leaf) + " / " + v.name + (cached_first_plain ? " (plain first)" : " (plain last)"));
        const auto chain = v.make(leaf, cas);
        for (int pass = 0; pass < 2; ++pass) {  // miss, then hit
          for (EkuMode m : {EkuMode::On, EkuMode::Off}) {
            PeerResult r = check(chain, m, Role::Inbound, &c);
            const std::string want = m == EkuMode::On ? k.on : k.off;
            EXPECT_EQ(r.verdict.accept, want.empty()) << "mode " << to_string(m) << " pass " << pass;
            EXPECT_EQ(std::string(r.verdict.detail), want) << "mode " << to_string(m) << " pass " << pass;
            EXPECT_EQ(r.leaf_fp, sha256(leaf));
            if (pass == 1) {
              EXPECT_TRUE(r.cache_hit);
            }
          }
        }
        // Without a cache: the same.
        PeerResult r = check(chain, EkuMode::On, Role::Inbound, nullptr);
        EXPECT_EQ(std::string(r.verdict.detail), k.on);
      }
    }
  }
}

TEST_F(Peer, CacheKeyCoversThePresentedSetButNotOrderOrDuplicates) {
  const Der leaf = pki_der("client"), inter = pki_der("inter");
  auto key = [&](std::vector<Der> chain) {
    std::vector<std::span<const uint8_t>> spans(chain.begin() + 1, chain.end());
    return verdict_key(sha256(chain[0]), spans);
  };
  EXPECT_EQ(key({leaf}), sha256(leaf));
  EXPECT_EQ(key({leaf, leaf}), sha256(leaf));  // a copy of the leaf adds nothing
  EXPECT_EQ(key({leaf, inter}), key({leaf, inter, leaf, inter}));
  EXPECT_EQ(key({leaf, inter, pki_der("root")}), key({leaf, pki_der("root"), inter}));
  EXPECT_NE(key({leaf, inter}), key({leaf}));
  EXPECT_NE(key({leaf, inter}), key({leaf, inter, pki_der("root")}));

  // A leaf sent alone, then with its intermediate (and the other way): each
  // gets its own verdict, never the other's cached one.
  for (bool alone_first : {true, false}) {
    VerdictCache c{64};
    std::vector<Der> alone{leaf}, chain{leaf, inter};
    auto run = [&](const std::vector<Der>& ch) { return check(ch, EkuMode::On, Role::Inbound, &c).verdict; };
    if (alone_first) {
      EXPECT_EQ(run(alone).detail, "unable to get local issuer certificate");
    }
    EXPECT_TRUE(run(chain).accept);
    EXPECT_EQ(run(alone).detail, "unable to get local issuer certificate");
    EXPECT_TRUE(run(chain).accept);
  }
}

TEST_F(Peer, CaRuleAppliesToThePathOnly) {
  // A serverAuth-only CA that is not on the client's path has no say.
  std::vector<Der> chain{pki_der("client"), pki_der("inter-srv"), pki_der("inter")};
  for (VerdictCache* c : {&cache, &cache, static_cast<VerdictCache*>(nullptr)}) {
    PeerResult r = check(chain, EkuMode::On, Role::Inbound, c);
    EXPECT_TRUE(r.verdict.accept) << r.verdict.detail;
    EXPECT_TRUE(r.entry.facts.cas_allow_client);
  }
  // On the path it does (srvsub-both, issued by inter-srv), even next to
  // the unrestricted intermediate.
  std::vector<Der> bad{pki_der("srvsub-both"), pki_der("inter"), pki_der("inter-srv")};
  EXPECT_EQ(check(bad, EkuMode::On, Role::Inbound, &cache).verdict.detail, "unsupported certificate purpose");
  EXPECT_TRUE(check(bad, EkuMode::Off, Role::Inbound, &cache).verdict.accept);
}

TEST_F(Peer, HitRechecksTheIntermediatesValidity) {
  // The entry's window is the leaf's narrowed by its path's CAs.
  auto deep = load("deep-chain.pem");
  PeerResult r = check(deep, EkuMode::On, Role::Inbound, &cache);
  ASSERT_TRUE(r.verdict.accept) << r.verdict.detail;
  const CertFacts i1 = turnpike::testing::pki_facts("inter"), i2 = turnpike::testing::pki_facts("inter2"),
                  lf = turnpike::testing::pki_facts("deep");
  EXPECT_EQ(r.entry.facts.not_after, std::min({i1.not_after, i2.not_after, lf.not_after}));
  EXPECT_EQ(r.entry.facts.not_before, std::max({i1.not_before, i2.not_before, lf.not_before}));
  // Past the first intermediate's notAfter, the hit says so.
  now = std::min(i1.not_after, i2.not_after) + 1;
  PeerResult later = check(deep, EkuMode::On, Role::Inbound, &cache);
  EXPECT_TRUE(later.cache_hit);
  EXPECT_EQ(later.verdict.detail, "certificate has expired");
  now = std::time(nullptr);
}

TEST_F(Peer, ExpiredIntermediateOnThePathOnly) {
  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_EQ(check({pki_der("oldsub"), pki_der("inter-old")}, EkuMode::Off, Role::Inbound, &cache).verdict.detail,
              "certificate has expired");
    EXPECT_TRUE(check({pki_der("client"), pki_der("inter-old"), pki_der("inter")}, EkuMode::On, Role::Inbound, &cache)
                    .verdict.accept);
  }
}
