// Audit: scenario classification of docs/eku-semantics.md and findings.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "store_testutil.hpp"
#include "turnpike/control/audit.hpp"

using namespace turnpike::control;
using namespace turnpike::testing;

namespace {
StoredCert cert(const std::string& n) {
  auto c = parse_stored_cert(chain(n), key(n));
  EXPECT_TRUE(c) << c.error;
  return *c;
}
StoreSnapshot snap(const std::string& server, const std::string& client, bool with_ca, EkuMode m = EkuMode::On) {
  StoreSnapshot s;
  s.generation = 7;
  s.eku_mode = m;
  if (!server.empty()) s.server = cert(server);
  if (!client.empty()) s.client = cert(client);
  if (with_ca) {
    s.ca_pem = pki_file("ca.pem");
    s.ca_der = *pem_certs_to_der(s.ca_pem);
    for (auto& d : s.ca_der) s.ca_facts.push_back(*extract_facts(d));
  }
  return s;
}
bool mentions(const std::vector<std::string>& v, std::string_view needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(Audit, Scenario1UpgradeSameDualEkuCertificate) {
  AuditReport r = audit(snap("both", "both", true));
  EXPECT_EQ(r.scenario.id, "1");
  EXPECT_TRUE(mentions(r.scenario.fails, "renewed from a public CA"));
  EXPECT_TRUE(r.has("client-is-server-copy"));
  EXPECT_FALSE(r.has("client-no-clientauth"));
}

TEST(Audit, Scenario2AllPublic) {
  StoreSnapshot s = snap("server", "", true);
  s.client = cert("srvsub");  // another serverAuth-only certificate
  AuditReport r = audit(s);
  EXPECT_EQ(r.scenario.id, "2");
  EXPECT_TRUE(mentions(r.scenario.fails, "unsupported certificate purpose"));
  EXPECT_TRUE(mentions(r.scenario.fails, "client EKU"));
  EXPECT_TRUE(r.has("client-no-clientauth"));
}

TEST(Audit, Scenario21MixedIsRecommended) {
  AuditReport r = audit(snap("server", "both", true));
  EXPECT_EQ(r.scenario.id, "2.1");
  EXPECT_TRUE(mentions(r.scenario.works, "regardless of the EKU checking mode"));
  EXPECT_FALSE(r.has("client-no-clientauth"));
  EXPECT_FALSE(r.has("client-is-server-copy"));
}

TEST(Audit, Scenario3AllPrivate) {
  AuditReport r = audit(snap("both", "client", true));
  EXPECT_EQ(r.scenario.id, "3");
  EXPECT_TRUE(mentions(r.scenario.fails, "untrusted-certificate prompts"));
}

TEST(Audit, Scenario4PublicServerCertCopiedToClient) {
  AuditReport r = audit(snap("server", "server", true));
  EXPECT_EQ(r.scenario.id, "4");
  EXPECT_TRUE(mentions(r.scenario.works, "disable EKU checking"));
  EXPECT_TRUE(r.has("client-no-clientauth"));
  EXPECT_TRUE(r.has("client-is-server-copy"));
}

TEST(Audit, ModeDecidesInboundFromPublicPeers) {
  AuditReport on = audit(snap("server", "both", true, EkuMode::On));
  EXPECT_TRUE(mentions(on.scenario.fails, "EKU checking mode is On"));
  EXPECT_TRUE(on.has("eku-mode-on"));
  AuditReport off = audit(snap("server", "both", true, EkuMode::Off));
  EXPECT_TRUE(mentions(off.scenario.works, "EKU checking mode is Off"));
  EXPECT_FALSE(off.has("eku-mode-on"));
}

TEST(Audit, MissingIssuerAndEmptyStores) {
  AuditReport r = audit(snap("server", "both", false));
  EXPECT_TRUE(r.has("server-issuer-not-in-bundle"));
  EXPECT_TRUE(r.has("client-issuer-not-in-bundle"));
  EXPECT_TRUE(r.has("ca-bundle-empty"));
  AuditReport e = audit(StoreSnapshot{});
  EXPECT_EQ(e.scenario.id, "incomplete");
  EXPECT_TRUE(e.has("server-empty"));
  EXPECT_TRUE(e.has("client-empty"));
}

TEST(Audit, ExpiryWarningsAt30And7Days) {
  StoreSnapshot s = snap("server", "both", true);
  int64_t end = s.server.leaf.not_after;
  EXPECT_FALSE(audit(s, end - 40 * 86400).has("expires-30d"));
  EXPECT_TRUE(audit(s, end - 20 * 86400).has("expires-30d"));
  AuditReport r7 = audit(s, end - 3 * 86400);
  EXPECT_TRUE(r7.has("expires-7d"));
  EXPECT_FALSE(r7.has("expires-30d") && !r7.has("expires-7d"));
  EXPECT_TRUE(audit(s, end + 1).has("expired"));
}

TEST(Audit, TextAndJson) {
  AuditReport r = audit(snap("server", "server", true));
  std::string t = r.to_text();
  EXPECT_NE(t.find("Scenario 4:"), std::string::npos) << t;
  EXPECT_NE(t.find("[warning] client-no-clientauth"), std::string::npos) << t;
  auto j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j["scenario"]["id"], "4");
  EXPECT_EQ(j["eku_mode"], "On");
  EXPECT_EQ(j["generation"], 7);
  bool found = false;
  for (const auto& f : j["findings"]) found |= f["code"] == "client-no-clientauth" && f["severity"] == "warning";
  EXPECT_TRUE(found);
}
