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
