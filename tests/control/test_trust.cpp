// Chain verification against the trust store (CA bundle + CRLs).
#include <gtest/gtest.h>

#include "pki_fixture.hpp"
#include "turnpike/control/trust.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_der;
using turnpike::testing::pki_file;

namespace {
ChainResult verify_chain(const TrustStore& t, const std::string& chain_file) {
  auto v = pem_certs_to_der(pki_file(chain_file));
  EXPECT_TRUE(v) << v.error;
  std::vector<Der> inter(v->begin() + 1, v->end());
  return t.verify((*v)[0], inter);
}
TrustStore root_store(bool with_crl) {
  TrustStore t;
  EXPECT_EQ(t.add_ca_bundle(pki_file("ca.pem")), "");
  if (with_crl) {
    EXPECT_EQ(t.add_crl(pki_file("root.crl")), "");
  }
  return t;
}
}  // namespace

TEST(Trust, LeafWithIntermediateVerifies) {
  TrustStore t = root_store(false);
  EXPECT_EQ(verify_chain(t, "both-chain.pem").status, ChainStatus::Ok);
  EXPECT_EQ(verify_chain(t, "rsa2048-chain.pem").status, ChainStatus::Ok);
  EXPECT_EQ(verify_chain(t, "ed25519-chain.pem").status, ChainStatus::Ok);
}

TEST(Trust, LeafWithoutIntermediateHasUnknownIssuer) {
  TrustStore t = root_store(false);
  ChainResult r = t.verify(pki_der("both"), {});
  EXPECT_EQ(r.status, ChainStatus::UnknownIssuer);
  EXPECT_NE(r.detail.find("unable to get local issuer certificate"), std::string::npos);
}

TEST(Trust, WrongIssuerAndSelfSignedIssuerAreNotTrusted) {
  TrustStore t = root_store(false);
  EXPECT_EQ(verify_chain(t, "wrongissuer-chain.pem").status, ChainStatus::UnknownIssuer);
  // The peer presenting its own (untrusted) root does not make it trusted.
  auto leaf = pki_der("wrongissuer");
  std::vector<Der> presented{pki_der("other-root")};
  EXPECT_EQ(t.verify(leaf, presented).status, ChainStatus::UnknownIssuer);
}

TEST(Trust, ExpiredAndNotYetValid) {
  TrustStore t = root_store(false);
  EXPECT_EQ(verify_chain(t, "expired-chain.pem").status, ChainStatus::Expired);
  EXPECT_EQ(verify_chain(t, "notyet-chain.pem").status, ChainStatus::NotYetValid);
}

TEST(Trust, RevokedInCrl) {
  TrustStore t = root_store(true);
  // A CRL for the root only: the leaf's issuer has none, which is not an error.
  EXPECT_EQ(verify_chain(t, "revoked-chain.pem").status, ChainStatus::Ok);
  // inter.crl is signed by the intermediate: kept and checked per chain.
  ASSERT_EQ(t.add_crl(pki_file("inter.crl")), "");
  EXPECT_EQ(verify_chain(t, "revoked-chain.pem").status, ChainStatus::Revoked);
  EXPECT_EQ(verify_chain(t, "both-chain.pem").status, ChainStatus::Ok);
}

TEST(Trust, BadInputs) {
  TrustStore t;
  EXPECT_NE(t.add_ca_bundle("nope"), "");
  EXPECT_NE(t.add_ca_bundle(pki_file("both.pem")), "");  // not a CA
  EXPECT_NE(t.add_crl("garbage"), "");
  EXPECT_EQ(t.ca_count(), 0u);
}

TEST(Trust, DecryptedKeyRoundTripsThroughPem) {
  for (const char* n : {"both-enc.key", "both-enc-trad.key"}) {
    KeyLoad k = load_private_key(pki_file(n), "secret");
    ASSERT_TRUE(k.key);
    std::string pem = private_key_to_pem(*k.key);
    ASSERT_FALSE(pem.empty());
    EXPECT_EQ(pem.find("ENCRYPTED"), std::string::npos);
    KeyLoad again = load_private_key(pem);
    ASSERT_TRUE(again.key) << again.message << "\n" << pem;
    EXPECT_TRUE(key_matches_cert(*again.key, pki_der("both")));
  }
  for (const char* n : {"rsa2048", "ed25519"}) {
    KeyLoad k = load_private_key(pki_file(std::string(n) + ".key"));
    ASSERT_TRUE(k.key);
    KeyLoad again = load_private_key(private_key_to_pem(*k.key));
    ASSERT_TRUE(again.key) << n;
    EXPECT_TRUE(key_matches_cert(*again.key, pki_der(n)));
  }
}

// Regression guard: a certificate with CA:FALSE issued by a trusted root must
// not act as an intermediate, even if the peer sends it as one.
TEST(Trust, EndEntityCannotSignForOthers) {
  TrustStore t = root_store(false);
  EXPECT_EQ(t.verify(pki_der("rootleaf"), {}).status, ChainStatus::Ok);
  ChainResult r = verify_chain(t, "evil-chain.pem");
  EXPECT_NE(r.status, ChainStatus::Ok) << r.detail;
}

TEST(Trust, WolfsslErrorsMapToEventDetails) {
  EXPECT_EQ(tls_error_detail(-386), "unsupported certificate purpose");  // EXTKEYUSE_AUTH_E
  EXPECT_EQ(tls_error_detail(-151), "certificate has expired");          // ASN_AFTER_DATE_E
  EXPECT_EQ(tls_error_detail(-188), "unable to get local issuer certificate");
  EXPECT_EQ(tls_error_detail(-361), "certificate revoked");
  EXPECT_EQ(tls_error_detail(-501), "no shared cipher");  // MATCH_SUITE_ERROR
  EXPECT_FALSE(tls_error_detail(-308).empty());           // SOCKET_ERROR_E: wolfSSL's text
}

// RFC 8446 4.4.2: after the leaf, any order and extraneous certificates.
// The verdict and the path are those of the plain chain.
namespace {
std::vector<Der> ders(std::initializer_list<const char*> names) {
  std::vector<Der> v;
  for (const char* n : names) v.push_back(pki_der(n));
  return v;
}
}  // namespace

TEST(TrustPath, ExtraneousCertificatesAndOrderDoNotChangeTheVerdict) {
  TrustStore t = root_store(false);
  ASSERT_EQ(t.add_crl(pki_file("inter.crl")), "");
  struct Row {
    const char* leaf;
    ChainStatus want;
  } rows[] = {{"client", ChainStatus::Ok},          {"server", ChainStatus::Ok},
              {"revoked", ChainStatus::Revoked},    {"expired", ChainStatus::Expired},
              {"srvsub-both", ChainStatus::Ok}};
  for (const auto& row : rows) {
    SCOPED_TRACE(row.leaf);
    const std::string ca = std::string(row.leaf).rfind("srvsub", 0) == 0 ? "inter-srv" : "inter";
    const Der leaf = pki_der(row.leaf), inter = pki_der(ca), root = pki_der("root"), unrel = pki_der("unrelated");
    const std::vector<std::vector<Der>> variants = {
        {inter},                                   // plain chain
        {leaf, inter},                             // duplicate leaf (s_client -cert F -cert_chain F)
        {inter, leaf},                             // duplicate leaf last
        {inter, unrel},                            // unrelated self-signed end-entity
        {inter, pki_der("other-root")},            // unrelated CA
        {inter, pki_der("wrongissuer")},           // leaf of another hierarchy
        {inter, root},                             // with the root
        {root, inter},                             // root first
        {unrel, root, leaf, inter, inter, unrel},  // all of it
    };
    for (size_t v = 0; v < variants.size(); ++v) {
      SCOPED_TRACE(v);
      ChainResult r = t.verify(leaf, variants[v]);
      EXPECT_EQ(r.status, row.want) << r.detail;
      ASSERT_EQ(r.path.size(), 1u);
      EXPECT_EQ(variants[v][r.path[0]], inter);
    }
  }
}

TEST(TrustPath, ShuffledIntermediatesBuildTheSamePath) {
  TrustStore t = root_store(false);
  const Der leaf = pki_der("deep"), i1 = pki_der("inter"), i2 = pki_der("inter2");
  for (const auto& presented : {std::vector<Der>{i2, i1}, std::vector<Der>{i1, i2}, std::vector<Der>{i1, leaf, i2, i1},
                                std::vector<Der>{pki_der("root"), i1, pki_der("unrelated"), i2}}) {
    ChainResult r = t.verify(leaf, presented);
    EXPECT_EQ(r.status, ChainStatus::Ok) << r.detail;
    ASSERT_EQ(r.path.size(), 2u);
    EXPECT_EQ(presented[r.path[0]], i2);  // leaf's issuer first
    EXPECT_EQ(presented[r.path[1]], i1);
  }
  // A missing link stays a missing link, whatever else is sent.
  EXPECT_EQ(t.verify(leaf, ders({"inter", "unrelated", "root"})).status, ChainStatus::UnknownIssuer);
  EXPECT_EQ(t.verify(leaf, ders({"deep", "deep"})).status, ChainStatus::UnknownIssuer);
}

TEST(TrustPath, UntrustedRootAndEndEntitiesStayUntrusted) {
  TrustStore t = root_store(false);
  // Its own root, first or last, with noise: still no anchor.
  EXPECT_EQ(t.verify(pki_der("wrongissuer"), ders({"other-root", "inter", "unrelated"})).status,
            ChainStatus::UnknownIssuer);
  EXPECT_EQ(t.verify(pki_der("unrelated"), ders({"unrelated", "root"})).status, ChainStatus::UnknownIssuer);
  // An end-entity certificate never signs, in any position.
  EXPECT_NE(t.verify(pki_der("evil"), ders({"root", "rootleaf", "inter"})).status, ChainStatus::Ok);
  // Directly under the anchor: extras change nothing.
  ChainResult r = t.verify(pki_der("rootleaf"), ders({"rootleaf", "unrelated", "root", "inter"}));
  EXPECT_EQ(r.status, ChainStatus::Ok);
  EXPECT_TRUE(r.path.empty());
}

TEST(TrustPath, AFailingCaCountsOnlyOnThePath) {
  TrustStore t = root_store(false);
  // On the path: the expired intermediate is the reason.
  ChainResult r = t.verify(pki_der("oldsub"), ders({"inter-old"}));
  EXPECT_EQ(r.status, ChainStatus::Expired) << r.detail;
  ASSERT_EQ(r.path.size(), 1u);
  EXPECT_EQ(r.path[0], 0u);
  EXPECT_EQ(t.verify(pki_der("oldsub"), ders({"unrelated", "oldsub", "root", "inter-old"})).status,
            ChainStatus::Expired);
  // Off the path: ignored, in any position.
  EXPECT_EQ(t.verify(pki_der("client"), ders({"inter-old", "inter"})).status, ChainStatus::Ok);
  EXPECT_EQ(t.verify(pki_der("client"), ders({"inter", "inter-old"})).status, ChainStatus::Ok);
}
