// verdict(): every row of the docs/eku-semantics.md table, both modes, both roles,
// on real certificates and on synthetic facts.
#include <gtest/gtest.h>

#include "pki_fixture.hpp"
#include "turnpike/control/policy.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_facts;

namespace {
constexpr bool A = true, R = false;
struct Row {
  const char* cert;  // file in the test PKI
  const char* why;
  bool in_on, in_off, out_on, out_off;
};
// Inbound columns are the spec table; outbound requires serverAuth (or no EKU
// / any) in both modes.
const Row kLeafTable[] = {
    {"client", "contains clientAuth", A, A, R, R},
    {"both", "contains clientAuth (+serverAuth)", A, A, A, A},
    {"server", "serverAuth only (public-CA case)", R, A, A, A},
    {"noeku", "no EKU extension: unrestricted", A, A, A, A},
    {"any", "anyExtendedKeyUsage", A, A, A, A},
    {"codesign", "neither clientAuth, serverAuth nor any", R, R, R, R},
    {"ku-dsig", "keyUsage digitalSignature", A, A, A, A},
    {"ku-kagree", "keyUsage keyAgreement", A, A, A, A},
    {"ku-kenc", "keyUsage keyEncipherment only: no SSL-client use", R, R, A, A},
};
const Row kCaTable[] = {
    {"inter", "CA without EKU", A, A, A, A},
    {"root", "root without EKU", A, A, A, A},
    {"inter-srv", "CA with serverAuth-only EKU", R, A, A, A},
};

void check(const Row& r, bool ca) {
  SCOPED_TRACE(std::string(r.cert) + ": " + r.why);
  CertFacts f = pki_facts(r.cert);
  auto v = [&](EkuMode m, Role role) { return ca ? verdict_ca(f, m, role) : verdict(f, m, role); };
  struct {
    EkuMode m;
    Role role;
    bool want;
  } cols[] = {{EkuMode::On, Role::Inbound, r.in_on},
              {EkuMode::Off, Role::Inbound, r.in_off},
              {EkuMode::On, Role::Outbound, r.out_on},
              {EkuMode::Off, Role::Outbound, r.out_off}};
  for (const auto& c : cols) {
    Verdict got = v(c.m, c.role);
    EXPECT_EQ(got.accept, c.want) << to_string(c.role) << " mode " << to_string(c.m);
    if (got.accept) {
      EXPECT_TRUE(got.detail.empty());
    } else {
      EXPECT_EQ(got.detail, "unsupported certificate purpose");
    }
  }
}
}  // namespace

TEST(Verdict, LeafTableOnRealCertificates) {
  for (const auto& r : kLeafTable) check(r, false);
}

TEST(Verdict, CaTableOnRealCertificates) {
  for (const auto& r : kCaTable) check(r, true);
}

TEST(Verdict, SyntheticCombinations) {
  CertFacts f;
  f.eku_present = true;
  f.eku = kEkuServerAuth | kEkuOther;  // serverAuth + codeSigning
  EXPECT_FALSE(verdict(f, EkuMode::On, Role::Inbound).accept);
  EXPECT_TRUE(verdict(f, EkuMode::Off, Role::Inbound).accept);
  EXPECT_TRUE(verdict(f, EkuMode::On, Role::Outbound).accept);
  f.eku = kEkuClientAuth | kEkuOther;
  EXPECT_TRUE(verdict(f, EkuMode::On, Role::Inbound).accept);
  EXPECT_FALSE(verdict(f, EkuMode::Off, Role::Outbound).accept);
  f.eku = 0;  // present but empty: nothing allowed
  EXPECT_FALSE(verdict(f, EkuMode::Off, Role::Inbound).accept);
  EXPECT_FALSE(verdict(f, EkuMode::On, Role::Outbound).accept);
  // keyUsage present but empty refuses in both roles.
  CertFacts k;
  k.ku_present = true;
  k.key_usage = 0;
  EXPECT_FALSE(verdict(k, EkuMode::Off, Role::Inbound).accept);
  EXPECT_FALSE(verdict(k, EkuMode::Off, Role::Outbound).accept);
  k.key_usage = kKuNonRepudiation;
  EXPECT_FALSE(verdict(k, EkuMode::On, Role::Inbound).accept);
  // A CA whose keyUsage lacks keyCertSign is not a CA (RFC 5280 4.2.1.3).
  CertFacts ca;
  ca.is_ca = true;
  ca.ku_present = true;
  ca.key_usage = kKuDigitalSignature;
  EXPECT_EQ(verdict_ca(ca, EkuMode::Off, Role::Inbound).detail, kDetailInvalidCa);
  ca.key_usage = kKuKeyCertSign;
  ca.eku_present = true;
  ca.eku = kEkuAny;
  EXPECT_TRUE(verdict_ca(ca, EkuMode::On, Role::Inbound).accept);
  ca.eku = kEkuClientAuth;
  EXPECT_FALSE(verdict_ca(ca, EkuMode::On, Role::Outbound).accept);
}

TEST(Verdict, ValidityWindow) {
  CertFacts f;
  f.not_before = 1000;
  f.not_after = 2000;
  EXPECT_EQ(check_validity(f, 999).detail, kDetailNotYetValid);
  EXPECT_TRUE(check_validity(f, 1000).accept);
  EXPECT_TRUE(check_validity(f, 2000).accept);
  EXPECT_EQ(check_validity(f, 2001).detail, kDetailExpired);
  EXPECT_FALSE(check_validity(pki_facts("expired"), std::time(nullptr)).accept);
  EXPECT_FALSE(check_validity(pki_facts("notyet"), std::time(nullptr)).accept);
}

TEST(Verdict, ModeParsing) {
  EkuMode m = EkuMode::On;
  EXPECT_TRUE(parse_eku_mode("off", m));
  EXPECT_EQ(m, EkuMode::Off);
  EXPECT_TRUE(parse_eku_mode("ON", m));
  EXPECT_EQ(m, EkuMode::On);
  EXPECT_FALSE(parse_eku_mode("maybe", m));
  EXPECT_EQ(chain_detail(ChainStatus::Revoked), "certificate revoked");
  EXPECT_EQ(chain_detail(ChainStatus::UnknownIssuer), "unable to get local issuer certificate");
}

TEST(PeerName, Rfc5922Order) {
  CertFacts s = pki_facts("san");
  EXPECT_TRUE(matches_peer_name(s, "SIP.example.test", false));   // SAN DNS, case-insensitive
  EXPECT_TRUE(matches_peer_name(s, "198.18.0.1", true));          // SAN IP
  EXPECT_FALSE(matches_peer_name(s, "198.18.0.2", true));
  EXPECT_FALSE(matches_peer_name(s, "198.18.0", true));
  CertFacts v6;  // SAN IP as certs.cpp writes it (inet_ntop); the remote as configured
  v6.san_ip = {"2001:db8::1"};
  EXPECT_TRUE(matches_peer_name(v6, "2001:db8::1", true));
  EXPECT_TRUE(matches_peer_name(v6, "2001:DB8:0:0::1", true));  // same address, other spelling
  EXPECT_FALSE(matches_peer_name(v6, "2001:db8::2", true));
  EXPECT_FALSE(matches_peer_name(v6, "::ffff:198.18.0.1", true));
  EXPECT_FALSE(matches_peer_name(s, "::ffff:198.18.0.1", true));  // an IPv4-mapped address is IPv6
  EXPECT_FALSE(matches_peer_name(v6, "2001:db8::1%eth0", true));
  EXPECT_FALSE(matches_peer_name(s, "san.test", false));          // CN ignored when SAN exists
  EXPECT_FALSE(matches_peer_name(s, "other.test", false));
  CertFacts n = pki_facts("both");                                // no SAN: CN is used
  EXPECT_TRUE(matches_peer_name(n, "both.test", false));
  CertFacts u;
  u.san_uri = {"sip:example.test"};
  u.san_dns = {"other.test"};
  EXPECT_TRUE(matches_peer_name(u, "example.test", false));
  EXPECT_TRUE(matches_peer_name(u, "EXAMPLE.test", false));
  // RFC 5922 7.1: a DNS SAN counts only when no sip URI identity exists.
  EXPECT_FALSE(matches_peer_name(u, "other.test", false));
  CertFacts parsed = pki_facts("san-uri");  // URI:sip:example.test, DNS:sip.example.test
  EXPECT_TRUE(matches_peer_name(parsed, "example.test", false));
  EXPECT_FALSE(matches_peer_name(parsed, "sip.example.test", false));
  // URIs that are not identities leave the DNS SANs in force.
  CertFacts nu;
  nu.san_uri = {"sip:alice@example.test", "sips:example.test", "https://example.test/"};
  nu.san_dns = {"other.test"};
  EXPECT_FALSE(matches_peer_name(nu, "example.test", false));
  EXPECT_TRUE(matches_peer_name(nu, "other.test", false));
  EXPECT_FALSE(matches_peer_name(nu, "nu.test", false));  // SANs present: no CN
  // 7.2: whole names, no wildcard or suffix in a sip URI.
  CertFacts wu;
  wu.san_uri = {"sip:*.example.test"};
  EXPECT_FALSE(matches_peer_name(wu, "a.example.test", false));
  EXPECT_TRUE(matches_peer_name(wu, "*.example.test", false));
  CertFacts w;
  w.san_dns = {"*.example.test"};
  EXPECT_TRUE(matches_peer_name(w, "a.example.test", false));
  EXPECT_FALSE(matches_peer_name(w, "a.b.example.test", false));
  EXPECT_FALSE(matches_peer_name(w, "example.test", false));
}

TEST(PeerName, SipDomainIdentity) {
  EXPECT_EQ(sip_domain_identity("sip:example.test"), "example.test");
  EXPECT_EQ(sip_domain_identity("SIP:Example.test"), "Example.test");
  EXPECT_EQ(sip_domain_identity("sip:example.test:5061"), "example.test");
  EXPECT_EQ(sip_domain_identity("sip:example.test;transport=tls"), "example.test");
  EXPECT_EQ(sip_domain_identity("sip:example.test?subject=x"), "example.test");
  EXPECT_EQ(sip_domain_identity("sip:[2001:db8::1]:5061"), "[2001:db8::1]");
  EXPECT_FALSE(sip_domain_identity("sip:alice@example.test"));  // user part
  EXPECT_FALSE(sip_domain_identity("sip:alice:pw@example.test"));
  EXPECT_FALSE(sip_domain_identity("sips:example.test"));
  EXPECT_FALSE(sip_domain_identity("http://example.test"));
  EXPECT_FALSE(sip_domain_identity("sip:"));
  EXPECT_FALSE(sip_domain_identity("sip:;x"));
  EXPECT_FALSE(sip_domain_identity("sip:[2001:db8::1"));
  EXPECT_FALSE(sip_domain_identity("sip:[::1]x"));
  EXPECT_FALSE(sip_domain_identity("si"));
}

TEST(Verdict, PathCombinesLeafAndCaRule) {
  CertFacts both = pki_facts("both");
  // Every CA allows both purposes: the leaf decides.
  EXPECT_TRUE(verdict_path(both, true, true, EkuMode::On, Role::Inbound).accept);
  // A serverAuth-only CA: refused inbound in mode On only, fine outbound.
  EXPECT_FALSE(verdict_path(both, false, true, EkuMode::On, Role::Inbound).accept);
  EXPECT_TRUE(verdict_path(both, false, true, EkuMode::Off, Role::Inbound).accept);
  EXPECT_TRUE(verdict_path(both, false, true, EkuMode::On, Role::Outbound).accept);
  // A clientAuth-only CA breaks outbound in both modes.
  EXPECT_FALSE(verdict_path(both, true, false, EkuMode::Off, Role::Outbound).accept);
  // The leaf rule still applies first.
  EXPECT_FALSE(verdict_path(pki_facts("codesign"), true, true, EkuMode::Off, Role::Inbound).accept);
  EXPECT_EQ(chain_detail(ChainStatus::InvalidCa), "invalid CA certificate");
}
