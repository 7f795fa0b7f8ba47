// Facts extraction from certificates made by pki/make-pki.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>

#include "pki_fixture.hpp"
#include "turnpike/control/certs.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_der;
using turnpike::testing::pki_facts;
using turnpike::testing::pki_file;

TEST(Facts, EkuBitsPerLeaf) {
  struct Row {
    const char* name;
    bool present;
    uint8_t eku;
  } rows[] = {
      {"client", true, kEkuClientAuth},
      {"server", true, kEkuServerAuth},
      {"both", true, kEkuServerAuth | kEkuClientAuth},
      {"noeku", false, 0},
      {"any", true, kEkuAny},
      {"codesign", true, kEkuOther},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    CertFacts f = pki_facts(r.name);
    EXPECT_EQ(f.eku_present, r.present);
    EXPECT_EQ(f.eku, r.eku);
    EXPECT_FALSE(f.is_ca);
    EXPECT_EQ(f.subject_cn, std::string(r.name) + ".test");
  }
  EXPECT_EQ(pki_facts("codesign").eku_oids, std::vector<std::string>{"1.3.6.1.5.5.7.3.3"});
  EXPECT_EQ(pki_facts("both").eku_oids, (std::vector<std::string>{"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}));
}

TEST(Facts, KeyUsage) {
  EXPECT_FALSE(pki_facts("both").ku_present);
  CertFacts d = pki_facts("ku-dsig");
  EXPECT_TRUE(d.ku_present);
  EXPECT_EQ(d.key_usage, kKuDigitalSignature);
  EXPECT_EQ(pki_facts("ku-kagree").key_usage, kKuKeyAgreement);
  EXPECT_EQ(pki_facts("ku-kenc").key_usage, kKuKeyEncipherment);
  CertFacts root = pki_facts("root");
  EXPECT_TRUE(root.is_ca);
  EXPECT_EQ(root.key_usage, kKuKeyCertSign | kKuCrlSign);
  EXPECT_TRUE(root.self_signed);
  EXPECT_FALSE(pki_facts("inter").self_signed);
}

TEST(Facts, ValidityWindow) {
  CertFacts e = pki_facts("expired");
  EXPECT_EQ(e.not_before, 1577836800);  // 2020-01-01 00:00:00 UTC
  EXPECT_EQ(e.not_after, 1609459200);   // 2021-01-01
  CertFacts n = pki_facts("notyet");
  EXPECT_EQ(format_utc(n.not_before), "2099-01-01 00:00:00");
  CertFacts b = pki_facts("both");
  int64_t now = std::time(nullptr);
  EXPECT_LE(b.not_before, now);
  EXPECT_GT(b.not_after, now);
}

TEST(Facts, NamesSansSerialKey) {
  CertFacts s = pki_facts("san");
  EXPECT_EQ(s.san_dns, std::vector<std::string>{"sip.example.test"});
  EXPECT_EQ(s.san_ip, std::vector<std::string>{"198.18.0.1"});
  EXPECT_EQ(s.subject, "CN=san.test");
  EXPECT_EQ(s.issuer, "CN=Turnpike Test Intermediate");
  EXPECT_FALSE(s.serial_hex.empty());
  EXPECT_EQ(s.key_type, KeyType::Ecdsa);
  EXPECT_EQ(s.key_bits, 256);
  EXPECT_EQ(pki_facts("p384").key_bits, 384);
  CertFacts r = pki_facts("rsa2048");
  EXPECT_EQ(r.key_type, KeyType::Rsa);
  EXPECT_EQ(r.key_bits, 2048);
  EXPECT_EQ(pki_facts("rsa4096").key_bits, 4096);
  EXPECT_EQ(pki_facts("ed25519").key_type, KeyType::Ed25519);
}

// wolfSSL 5.5.4's strict ASN parser refuses a SAN URI without "//" such as
// "sip:example.test" (RFC 5922); deploy/setup-deps.sh builds it with
// WOLFSSL_FPKI, which lifts only that check.
TEST(Facts, SipUriSanIsParsed) {
  auto r = extract_facts(pki_der("san-uri"));
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(r->san_uri, std::vector<std::string>{"sip:example.test"});
  EXPECT_EQ(r->san_dns, std::vector<std::string>{"sip.example.test"});
}

TEST(Facts, FingerprintIsSha256OfDer) {
  auto der = pki_der("both");
  CertFacts f = pki_facts("both");
  EXPECT_EQ(f.sha256, sha256(der));
  EXPECT_EQ(fingerprint_hex(f.sha256).size(), 32u * 3 - 1);
  EXPECT_NE(pki_facts("client").sha256, f.sha256);
}

TEST(Facts, ChainPemGivesLeafThenIntermediate) {
  auto v = pem_certs_to_der(pki_file("both-chain.pem"));
  ASSERT_TRUE(v) << v.error;
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ(extract_facts((*v)[1])->subject, "CN=Turnpike Test Intermediate");
  // Round trip DER -> PEM -> DER.
  auto again = pem_certs_to_der(der_cert_to_pem((*v)[0]));
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0], (*v)[0]);
}

TEST(Facts, MalformedInputIsRefused) {
  EXPECT_FALSE(extract_facts({}));
  std::vector<uint8_t> junk(100, 0x30);
  auto r = extract_facts(junk);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("malformed"), std::string::npos);
  auto der = pki_der("both");
  der.resize(der.size() / 2);  // truncated
  EXPECT_FALSE(extract_facts(der));
  EXPECT_FALSE(pem_certs_to_der("hello"));
  EXPECT_FALSE(pem_certs_to_der("-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"));
}

TEST(Keys, LoadAndMatch) {
  for (const char* n : {"both", "rsa2048", "p384", "ed25519"}) {
    SCOPED_TRACE(n);
    KeyLoad k = load_private_key(pki_file(std::string(n) + ".key"));
    ASSERT_TRUE(k.key) << k.message;
    EXPECT_TRUE(key_matches_cert(*k.key, pki_der(n)));
    EXPECT_FALSE(key_matches_cert(*k.key, pki_der("client")));
  }
  EXPECT_EQ(load_private_key(pki_file("rsa2048.key")).key->type, KeyType::Rsa);
  EXPECT_EQ(load_private_key(pki_file("ed25519.key")).key->type, KeyType::Ed25519);
}

TEST(Keys, EncryptedNeedsPassphrase) {
  for (const char* n : {"both-enc.key", "both-enc-trad.key"}) {
    SCOPED_TRACE(n);
    std::string pem = pki_file(n);
    EXPECT_EQ(load_private_key(pem).error, KeyError::Encrypted);
    EXPECT_EQ(load_private_key(pem, "wrong").error, KeyError::BadPassphrase);
    KeyLoad k = load_private_key(pem, "secret");
    ASSERT_TRUE(k.key) << k.message;
    EXPECT_TRUE(key_matches_cert(*k.key, pki_der("both")));
  }
  EXPECT_EQ(load_private_key("garbage").error, KeyError::Malformed);
  EXPECT_EQ(load_private_key(pki_file("x448.key")).error, KeyError::Unsupported);
  EXPECT_EQ(load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").error,
            KeyError::Malformed);
}
