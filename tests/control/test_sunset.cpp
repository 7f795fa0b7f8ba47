// Sunset readiness report (issue 11 item 4): the public-CA table, one test
// per deployment scenario of docs/eku-semantics.md with the reported scenario
// and fix (certificates generated here: make-pki.sh for the private PKI,
// make-public-pki.sh for issuers that look like Let's Encrypt), roles,
// remotes, inbound peers, text and JSON, and the what-if.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store_testutil.hpp"
#include "turnpike/control/audit.hpp"

using namespace turnpike::control;
using namespace turnpike::testing;

namespace {

constexpr int64_t kDay = 86400;
int64_t utc(int y, int m, int d) {
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  return timegm(&tm);
}

const std::filesystem::path& public_pki() {
  static const std::filesystem::path dir = generate_pki(TURNPIKE_PUBLIC_PKI_SCRIPT, "turnpike-pubpki");
  return dir;
}

// "pub-*" leaves come from the public-looking PKI, the others from make-pki.sh.
StoredCert cert(const std::string& n) {
  const bool pub = n.rfind("pub-", 0) == 0;
  auto c = pub ? parse_stored_cert(slurp(public_pki() / (n + "-chain.pem")), slurp(public_pki() / (n + ".key")))
               : parse_stored_cert(chain(n), key(n));
  EXPECT_TRUE(c) << n << ": " << c.error;
  return *c;
}

StoreSnapshot snap(const std::string& server, const std::string& client, EkuMode m = EkuMode::On) {
  StoreSnapshot s;
  s.generation = 3;
  s.eku_mode = m;
  s.server = cert(server);
  s.client = cert(client);
  s.ca_pem = pki_file("ca.pem") + slurp(public_pki() / "pubroot.pem");
  s.ca_der = *pem_certs_to_der(s.ca_pem);
  for (auto& d : s.ca_der) s.ca_facts.push_back(*extract_facts(d));
  return s;
}

AuditInputs with_remotes() {
  AuditInputs in;
  in.remotes = {{"egress client", "Egress Route 1 carrier.test (203.0.113.5:5061)"},
                {"backend-TLS client", "SIP Backend 1 (10.0.0.5:5061)"}};
  return in;
}

WouldFailPeer peer(const std::string& subject, const std::string& issuer) {
  WouldFailPeer p;
  p.fp[0] = 0xAB;
  p.subject = subject;
  p.issuer = issuer;
  p.last_src_ip = "198.18.0.2";
  p.last_src_port = 40000;
  p.last_dst = "198.18.0.1:5061";
  p.first_seen = p.last_seen = utc(2026, 6, 1);
  p.count = 3;
  return p;
}

bool mentions(const std::vector<std::string>& v, std::string_view needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

const CertReport* cert_of(const AuditReport& r, std::string_view store) {
  for (const auto& c : r.certs)
    if (c.store == store) return &c;
  return nullptr;
}

// The certificates are made now; this VM's clock is past LE's hard stop
// (2026-05-13), so the report sees the cut-over as done. Taken once both
// PKIs exist: read at start-up, before a binary run by hand (no control_pki
// fixture) had made them, it preceded their notBefore and the audit found
// them not yet valid.
int64_t mid2026() {
  static const int64_t t = [] {
    pki_dir();
    public_pki();
    return std::max<int64_t>(std::time(nullptr), utc(2026, 6, 1));
  }();
  return t;
}

}  // namespace

// ---- the table -------------------------------------------------------------

TEST(Sunset, BuiltinTableParsesWithSources) {
  SunsetTable t;
  ASSERT_EQ(parse_sunset_table(builtin_sunset_tsv(), t), "");
  EXPECT_GE(t.rows.size(), 4u);
  EXPECT_EQ(builtin_sunset_table().rows.size(), t.rows.size());
  for (const auto& r : t.rows) {
    EXPECT_FALSE(r.source.empty()) << r.ca;
    EXPECT_TRUE(r.hard_stop) << r.ca << ": every public CA stops by the Chrome Root Program date at the latest";
    EXPECT_LE(r.hard_stop.t, utc(2027, 3, 15)) << r.ca;
  }
}

TEST(Sunset, MatchesIssuerOrganisationOrCnAnyCase) {
  const SunsetTable& t = builtin_sunset_table();
  struct Row {
    const char* issuer;
    const char* ca;
  } rows[] = {
      {"CN=R11, O=Let's Encrypt, C=US", "Let's Encrypt"},
      {"C=US, O=LET'S ENCRYPT, CN=E6", "Let's Encrypt"},
      {"CN=Sectigo RSA Domain Validation Secure Server CA, O=Sectigo Limited, L=Salford, C=GB", "Sectigo"},
      {"CN=ZeroSSL RSA Domain Secure Site CA, O=ZeroSSL, C=AT", "Sectigo"},
      {"CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US", "DigiCert"},
      {"CN=GeoTrust TLS RSA CA G1, O=DigiCert Inc, OU=www.digicert.com, C=US", "DigiCert"},
      {"CN=WR2, O=Google Trust Services, C=US", "Google Trust Services"},
      {"CN=GlobalSign GCC R6 AlphaSSL CA 2023, O=GlobalSign nv-sa, C=BE", "GlobalSign"},
  };
  for (const auto& r : rows) {
    const SunsetEntry* e = t.match(r.issuer);
    ASSERT_NE(e, nullptr) << r.issuer;
    EXPECT_EQ(e->ca, r.ca) << r.issuer;
  }
  EXPECT_EQ(t.match("CN=Turnpike Test Intermediate"), nullptr);  // a private CA is unaffected
  EXPECT_EQ(t.match(""), nullptr);
}

TEST(Sunset, StateByDateAndText) {
  const SunsetEntry* le = builtin_sunset_table().match("O=Let's Encrypt");
  ASSERT_NE(le, nullptr);
  EXPECT_EQ(SunsetTable::state(le, utc(2026, 2, 10)), SunsetState::Announced);
  EXPECT_EQ(SunsetTable::state(le, utc(2026, 2, 11)), SunsetState::DefaultOff);
  EXPECT_EQ(SunsetTable::state(le, utc(2026, 5, 13)), SunsetState::Stopped);
  EXPECT_EQ(SunsetTable::state(nullptr, mid2026()), SunsetState::Private);
  EXPECT_EQ(sunset_text(*le, utc(2026, 1, 1)),
            "Let's Encrypt: no clientAuth by default from 2026-02-11, none issued from 2026-05-13");
  EXPECT_EQ(sunset_text(*le, mid2026()), "Let's Encrypt: no clientAuth by default since 2026-02-11, none issued since 2026-05-13");
  const SunsetEntry* dc = builtin_sunset_table().match("O=DigiCert Inc");
  ASSERT_NE(dc, nullptr);
  EXPECT_EQ(dc->hard_stop.text(), "2027-03");  // known to the month only: shown so
  EXPECT_EQ(SunsetTable::state(dc, utc(2027, 2, 28)), SunsetState::DefaultOff);
  EXPECT_EQ(SunsetTable::state(dc, utc(2027, 3, 1)), SunsetState::Stopped);
}

TEST(Sunset, ParseRefusesBadRows) {
  SunsetTable t;
  EXPECT_EQ(parse_sunset_table("# only a comment\n", t), "no rows");
  EXPECT_EQ(parse_sunset_table("A\tA\t2026-01-01\t2026-02-01\n", t).rfind("line 1: expected 5", 0), 0u);
  EXPECT_EQ(parse_sunset_table("#\nA\tA\t2026-13-01\t-\tsrc\n", t).rfind("line 2: default_off", 0), 0u);
  EXPECT_EQ(parse_sunset_table("A\tA\t2026-03-01\t2026-02\tsrc\n", t), "line 1: hard_stop before default_off");
  EXPECT_EQ(parse_sunset_table("A\tA\t-\t-\tsrc\n", t), "line 1: no date at all");
  EXPECT_EQ(parse_sunset_table("A\tA\t2026-01-01\t-\t\n", t), "line 1: a row needs its source");
  EXPECT_EQ(parse_sunset_table("|\tA\t2026-01-01\t-\tsrc\n", t), "line 1: empty match column");
  ASSERT_EQ(parse_sunset_table("Foo CA|Bar\tFoo\t2026-01\t-\thttps://example.test\r\n", t), "");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_NE(t.match("O=bar trust"), nullptr);
  EXPECT_TRUE(t.rows[0].default_off.month);
}

// ---- one test per deployment scenario (docs/eku-semantics.md) ----------------------

TEST(SunsetAudit, Scenario1UpgradeDualEkuCertFromAPublicCa) {
  AuditReport r = audit(snap("pub-both", "pub-both"), with_remotes(), mid2026());
  EXPECT_EQ(r.scenario.id, "1");
  EXPECT_EQ(r.scenario.fix,
            "Before renewal, put a certificate from a private CA with clientAuth+serverAuth in the client store "
            "(scenario 2.1).");
  EXPECT_TRUE(mentions(r.scenario.fails, "already cut over (Let's Encrypt"));
  const Finding* f = r.find("client-public-ca-sunset");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::Warning);
  const CertReport* s = cert_of(r, "server");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->public_ca, "Let's Encrypt");
  EXPECT_EQ(s->sunset, SunsetState::Stopped);
  // The same certificate serves every role.
  EXPECT_EQ(s->roles, (std::vector<std::string>{"inbound server", "backend-TLS client", "egress client"}));
  // Before the cut-over it is only announced: information, not a warning.
  EXPECT_EQ(audit(snap("pub-both", "pub-both"), with_remotes(), utc(2026, 1, 1)).find("client-public-ca-sunset")->severity,
            Severity::Info);
}

TEST(SunsetAudit, Scenario2AllPublicCa) {
  AuditReport r = audit(snap("pub-server", "pub-server2"), with_remotes(), mid2026());
  EXPECT_EQ(r.scenario.id, "2");
  EXPECT_EQ(r.scenario.fix,
            "Use a client certificate from a private CA with clientAuth+serverAuth (scenario 2.1); peers that "
            "receive our public certificate must run with EKU checking Off.");
  const Finding* f = r.find("client-public-ca-no-clientauth");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::Error);  // remotes receive it
  EXPECT_NE(f->message.find("Let's Encrypt"), std::string::npos);
  EXPECT_TRUE(r.has("remote-refuses-client"));
  EXPECT_EQ(r.findings.front().severity, Severity::Error);  // worst first
  // No remote configured: the same certificate is a warning only.
  EXPECT_EQ(audit(snap("pub-server", "pub-server2"), AuditInputs{}, mid2026()).find("client-public-ca-no-clientauth")->severity,
            Severity::Warning);
}

TEST(SunsetAudit, Scenario21MixedRecommended) {
  AuditReport r = audit(snap("pub-server", "both"), with_remotes(), mid2026());
  EXPECT_EQ(r.scenario.id, "2.1");
  EXPECT_EQ(r.scenario.fix, "Nothing to change.");
  EXPECT_FALSE(r.has("remote-refuses-client"));
  EXPECT_FALSE(r.has("client-public-ca-no-clientauth"));
  EXPECT_TRUE(r.has("server-public-ca"));  // information: renewals are serverAuth-only, fine inbound
  const CertReport* c = cert_of(r, "client");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->client_auth);
  EXPECT_TRUE(c->public_ca.empty());
  EXPECT_EQ(c->roles, (std::vector<std::string>{"backend-TLS client", "egress client"}));
  EXPECT_EQ(cert_of(r, "server")->roles, (std::vector<std::string>{"inbound server"}));
}

TEST(SunsetAudit, Scenario3AllPrivateCa) {
  AuditReport r = audit(snap("both", "client"), with_remotes(), mid2026());
  EXPECT_EQ(r.scenario.id, "3");
  EXPECT_EQ(r.scenario.fix, "For public-facing services use a public-CA server certificate (scenario 2.1).");
  for (const auto& c : r.certs) EXPECT_EQ(c.sunset, SunsetState::Private) << c.subject;
  for (const auto& f : r.findings) EXPECT_NE(f.severity, Severity::Error) << f.code;
}

TEST(SunsetAudit, Scenario4PublicServerCertCopiedIntoClientStore) {
  AuditReport r = audit(snap("pub-server", "pub-server"), with_remotes(), mid2026());
  EXPECT_EQ(r.scenario.id, "4");
  EXPECT_EQ(r.scenario.fix,
            "Upload a client certificate from a private CA with clientAuth+serverAuth to the client store "
            "(scenario 2.1).");
  EXPECT_TRUE(r.has("remote-refuses-client"));
  EXPECT_TRUE(r.has("client-public-ca-no-clientauth"));
  EXPECT_FALSE(r.has("server-public-ca"));  // one certificate: said once, as the client's problem
}

// ---- roles, peers, output ------------------------------------------------------

TEST(SunsetAudit, NoListenerNoRemoteRoles) {
  AuditInputs in;
  in.inbound = false;
  AuditReport r = audit(snap("both", "client"), in, mid2026());
  EXPECT_EQ(cert_of(r, "server")->roles, (std::vector<std::string>{"none (no TLS listener)"}));
  EXPECT_EQ(cert_of(r, "client")->roles,
            (std::vector<std::string>{"none (no egress route or backend TLS configured)"}));
  EXPECT_EQ(cert_of(r, "ca")->roles, (std::vector<std::string>{"trust anchor (verifies peers in both roles)"}));
}

TEST(SunsetAudit, InboundServerAuthOnlyPeers) {
  AuditInputs in;
  in.peers = {peer("CN=trunk.example", "CN=R11, O=Let's Encrypt, C=US")};
  AuditReport off = audit(snap("pub-server", "both", EkuMode::Off), in, mid2026());
  const Finding* f = off.find("peer-serverauth-only");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::Warning);
  EXPECT_NE(f->message.find("CN=trunk.example"), std::string::npos);
  EXPECT_NE(f->message.find("SHA-256 AB:00:"), std::string::npos);
  EXPECT_NE(f->message.find("public CA Let's Encrypt"), std::string::npos);
  EXPECT_NE(f->message.find("3 handshakes"), std::string::npos);
  AuditReport on = audit(snap("pub-server", "both", EkuMode::On), in, mid2026());
  ASSERT_NE(on.find("peer-serverauth-only-refused"), nullptr);
  EXPECT_EQ(on.find("peer-serverauth-only-refused")->severity, Severity::Error);
}

// Issue 11 item 4: a peer refused in mode On is named as refused, worst
// first; with the mode Off it is a reminder, and a what-if to Off accepts it.
TEST(SunsetAudit, PeersRefusedInModeOn) {
  AuditInputs in = with_remotes();
  in.peers = {peer("CN=trunk.example", "CN=R11, O=Let's Encrypt, C=US")};
  in.peers[0].refused = true;
  StoreSnapshot on_snap = snap("pub-server", "both", EkuMode::On);
  AuditReport on = audit(on_snap, in, mid2026());
  const Finding* f = on.find("peer-refused");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::Error);
  EXPECT_EQ(on.findings[0].severity, Severity::Error);
  EXPECT_NE(f->message.find("Inbound peer CN=trunk.example"), std::string::npos);
  EXPECT_NE(f->message.find("is refused now in mode On: serverAuth-only certificate"), std::string::npos);
  EXPECT_NE(f->fix.find("clientAuth"), std::string::npos);
  EXPECT_NE(f->fix.find("mode Off accepts it"), std::string::npos);
  EXPECT_FALSE(on.has("peer-serverauth-only-refused"));  // not the mode Off sighting's finding
  AuditReport off = audit(snap("pub-server", "both", EkuMode::Off), in, mid2026());
  ASSERT_NE(off.find("peer-refused-earlier"), nullptr);
  EXPECT_EQ(off.find("peer-refused-earlier")->severity, Severity::Warning);
  StoreSnapshot off_snap = on_snap;
  off_snap.eku_mode = EkuMode::Off;
  WhatIfReport w = what_if(on_snap, off_snap, in, "EKU checking mode Off", mid2026());
  EXPECT_EQ(w.failures(), 0u);
  EXPECT_TRUE(w.has("peer-accepted"));
  WhatIfReport stay = what_if(on_snap, on_snap, in, "EKU checking mode On", mid2026());
  EXPECT_EQ(stay.failures(), 1u);
  EXPECT_NE(stay.to_text().find("already refused in mode On"), std::string::npos);
}

TEST(SunsetAudit, TextOneLinePerFindingWorstFirstAndJson) {
  AuditInputs in = with_remotes();
  in.peers = {peer("CN=trunk.example", "CN=Other")};
  AuditReport r = audit(snap("pub-server", "pub-server", EkuMode::Off), in, mid2026());
  std::istringstream t(r.to_text());
  int last = 3, lines = 0;
  bool in_findings = false;
  for (std::string l; std::getline(t, l);) {
    if (l == "Findings (worst first):") in_findings = true;
    if (!in_findings || l.rfind("  [", 0) != 0) continue;
    ++lines;
    EXPECT_NE(l.find(" Fix: "), std::string::npos) << l;
    const int sev = l.rfind("  [error]", 0) == 0 ? 2 : l.rfind("  [warning]", 0) == 0 ? 1 : 0;
    EXPECT_LE(sev, last) << l;
    last = sev;
  }
  EXPECT_EQ(lines, static_cast<int>(r.findings.size()));
  EXPECT_NE(r.to_text().find("  client: CN=pub-server.example; issuer C=US, O=Let's Encrypt, CN=R11 Test (public CA: Let's Encrypt"),
            std::string::npos)
      << r.to_text();
  auto j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j["scenario"]["id"], "4");
  EXPECT_EQ(j["certificates"][0]["store"], "server");
  EXPECT_EQ(j["certificates"][0]["public_ca"], "Let's Encrypt");
  EXPECT_EQ(j["certificates"][0]["client_auth"], false);
  EXPECT_EQ(j["certificates"][0]["sunset"], "stopped");
  EXPECT_EQ(j["findings"][0]["severity"], "error");
}

// ---- what-if ----------------------------------------------------------------------

TEST(SunsetWhatIf, ModeOnListsTheSeenPeers) {
  AuditInputs in = with_remotes();
  in.peers = {peer("CN=trunk.example", "CN=R11, O=Let's Encrypt, C=US"), peer("CN=pbx.example", "CN=Other")};
  in.peers[1].fp[0] = 0xCD;
  StoreSnapshot cur = snap("pub-server", "both", EkuMode::Off);
  StoreSnapshot next = cur;
  next.eku_mode = EkuMode::On;
  WhatIfReport w = what_if(cur, next, in, "EKU checking mode On", mid2026());
  EXPECT_EQ(w.failures(), 2u);
  EXPECT_EQ(w.mode_now, EkuMode::Off);
  EXPECT_EQ(w.mode_then, EkuMode::On);
  EXPECT_EQ(w.findings[0].code, "would-fail-peer");
  EXPECT_NE(w.to_text().find("Would fail: 2"), std::string::npos);
  EXPECT_NE(w.to_text().find("inbound peer CN=pbx.example"), std::string::npos);
  EXPECT_TRUE(w.has("remote-ok"));  // the client store is unchanged and has clientAuth
  // Back to Off: nobody fails.
  WhatIfReport off = what_if(next, cur, in, "EKU checking mode Off", mid2026());
  EXPECT_EQ(off.failures(), 0u);
  EXPECT_TRUE(off.has("peer-accepted"));
  auto j = nlohmann::json::parse(w.to_json());
  EXPECT_EQ(j["would_fail"], 2);
  EXPECT_EQ(j["eku_mode"]["then"], "On");
}

TEST(SunsetWhatIf, StagedClientWithoutClientAuthFailsTheRemotes) {
  StoreSnapshot cur = snap("pub-server", "both");
  StoreSnapshot next = cur;
  next.client = cert("pub-server");  // "upload server certificate file as client certificate"
  WhatIfReport w = what_if(cur, next, with_remotes(), "the staged transaction", mid2026());
  EXPECT_EQ(w.failures(), 2u);  // the egress route and the TLS backend
  EXPECT_EQ(w.scenario_now, "2.1");
  EXPECT_EQ(w.scenario_then, "4");
  ASSERT_TRUE(w.has("would-fail-remote"));
  EXPECT_NE(w.findings[0].message.find("which replaces a certificate with clientAuth"), std::string::npos);
  EXPECT_TRUE(w.has("no-peers-seen"));
}

TEST(SunsetWhatIf, StagedServerWithoutServerAuthAndCaRemoval) {
  AuditInputs in;
  in.peers = {peer("CN=trunk.example", "CN=Turnpike Test Root")};  // issued straight by the bundled root
  StoreSnapshot cur = snap("both", "client", EkuMode::Off);
  StoreSnapshot next = cur;
  next.server = cert("client");  // clientAuth only: no serverAuth
  next.ca_facts.erase(next.ca_facts.begin());  // the private root leaves the bundle
  WhatIfReport w = what_if(cur, next, in, "the staged transaction", mid2026());
  EXPECT_TRUE(w.has("would-fail-inbound"));
  EXPECT_TRUE(w.has("would-fail-peer-untrusted"));
  EXPECT_FALSE(w.has("would-fail-peer"));  // mode stays Off
  // Unchanged stores, unchanged mode: nothing fails.
  EXPECT_EQ(what_if(cur, cur, in, "nothing", mid2026()).failures(), 0u);
}

TEST(SunsetAudit, RemotesByTheCertificateTheyPresented) {
  AuditInputs in;
  in.remotes = {{"egress client", "Egress Route 1 carrier.test (203.0.113.5:5061)", "203.0.113.5:5061"},
                {"egress client", "Egress Route 2 (203.0.113.6:5061)", "203.0.113.6:5061"},
                {"backend-TLS client", "SIP Backend 1 (10.0.0.5:5061)", "10.0.0.5:5061"}};
  WouldFailPeer pub = peer("CN=carrier.test", "CN=R11, O=Let's Encrypt, C=US");
  pub.last_dst = "203.0.113.5:5061";
  pub.eku_present = true;
  pub.eku = kEkuServerAuth;
  WouldFailPeer old = pub;  // an earlier certificate of the same remote
  old.subject = "CN=old.carrier.test";
  old.eku = kEkuServerAuth | kEkuClientAuth;
  old.last_seen -= kDay;
  WouldFailPeer be = peer("CN=backend.test", "CN=Turnpike Test Intermediate");
  be.last_dst = "10.0.0.5:5061";
  be.eku_present = true;
  be.eku = kEkuServerAuth | kEkuClientAuth;
  in.remote_certs = {old, pub, be};
  AuditReport on = audit(snap("pub-server", "both"), in, mid2026());
  const Finding* f = on.find("remote-serverauth-only");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::Warning);
  EXPECT_NE(f->message.find("Egress Route 1 carrier.test (203.0.113.5:5061) presents CN=carrier.test"), std::string::npos)
      << f->message;
  EXPECT_NE(f->message.find("public CA Let's Encrypt"), std::string::npos);
  const Finding* b = on.find("remote-certificate");
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b->message.find("SIP Backend 1 (10.0.0.5:5061) presents CN=backend.test"), std::string::npos);
  const Finding* n = on.find("remote-not-seen");
  ASSERT_NE(n, nullptr);
  EXPECT_NE(n->message.find("Egress Route 2"), std::string::npos);
  AuditReport off = audit(snap("pub-server", "both", EkuMode::Off), in, mid2026());
  EXPECT_EQ(off.find("remote-serverauth-only")->severity, Severity::Info);
}
