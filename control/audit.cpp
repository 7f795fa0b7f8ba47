#include "turnpike/control/audit.hpp"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "turnpike/control/events.hpp"
#include "turnpike/control/trust.hpp"

namespace turnpike::control {
namespace {

constexpr int64_t kDay = 86400;

std::string eku_text(const CertFacts& f) {
  if (!f.eku_present) return "no EKU (unrestricted)";
  std::string s;
  auto add = [&](const char* n) { s += s.empty() ? n : std::string(", ") + n; };
  if (f.eku & kEkuServerAuth) add("serverAuth");
  if (f.eku & kEkuClientAuth) add("clientAuth");
  if (f.eku & kEkuAny) add("anyExtendedKeyUsage");
  if (f.eku & kEkuOther) add("other");
  return s.empty() ? "empty EKU" : s;
}

bool chains_to_bundle(const StoreSnapshot& s, const StoredCert& c, ChainResult* out) {
  TrustStore t;
  if (!s.ca_pem.empty() && !t.add_ca_bundle(s.ca_pem).empty()) return false;
  for (const auto& [n, d] : s.crls) t.add_crl(d);
  std::vector<Der> inter(c.chain_der.begin() + 1, c.chain_der.end());
  ChainResult r = t.verify(c.chain_der[0], inter);
  if (out) *out = r;
  return r.status == ChainStatus::Ok;
}

void expiry(std::vector<Finding>& f, const std::string& what, const CertFacts& c, int64_t now) {
  int64_t left = c.not_after - now;
  std::string until = format_utc(c.not_after) + " UTC";
  if (left < 0) {
    f.push_back({Severity::Error, "expired", what + " expired on " + until, "Renew and upload a new certificate."});
  } else if (left <= 7 * kDay) {
    f.push_back({Severity::Error, "expires-7d", what + " expires within 7 days (" + until + ")",
                 "Renew it now."});
  } else if (left <= 30 * kDay) {
    f.push_back({Severity::Warning, "expires-30d", what + " expires within 30 days (" + until + ")",
                 "Plan the renewal; a public-CA renewal will carry serverAuth only."});
  }
  if (now < c.not_before)
    f.push_back({Severity::Error, "not-yet-valid", what + " is not valid before " + format_utc(c.not_before) + " UTC",
                 "Check the clock or the certificate."});
}

ScenarioOutcome classify(const StoreSnapshot& s, const SunsetTable& table, int64_t now) {
  ScenarioOutcome o;
  const bool mode_on = s.eku_mode == EkuMode::On;
  const std::string inbound_public =
      mode_on ? "inbound mutual TLS from peers presenting public (serverAuth-only) certificates fails with "
                "\"unsupported certificate purpose\" because EKU checking mode is On here"
              : "inbound mutual TLS from peers presenting public (serverAuth-only) certificates works because EKU "
                "checking mode is Off here";
  if (!s.server.present() || !s.client.present()) {
    o.id = "incomplete";
    o.name = "store missing";
    if (!s.server.present()) o.fails.push_back("inbound TLS: the server store is empty, nothing to present");
    if (!s.client.present()) o.fails.push_back("outbound mutual TLS: the client store is empty");
    o.fix = "Upload a server certificate (serverAuth) and a client certificate (clientAuth).";
    return o;
  }
  const CertFacts& S = s.server.leaf;
  const CertFacts& C = s.client.leaf;
  const bool same = S.sha256 == C.sha256;
  const bool c_client = allows_client_auth(C);
  const bool s_client = allows_client_auth(S);
  const bool s_private = chains_to_bundle(s, s.server, nullptr);
  const bool c_private = chains_to_bundle(s, s.client, nullptr);

  if (same && c_client) {
    o.id = "1";
    o.name = "upgrade: both stores hold the same dual-EKU certificate";
    o.works = {"inbound TLS and inbound mutual TLS", "outbound mutual TLS, also to peers that enforce clientAuth"};
    o.fails = {"nothing yet: once this certificate is renewed from a public CA it will carry serverAuth only, and "
               "outbound mutual TLS to peers that enforce clientAuth will fail (\"unsupported certificate purpose\")"};
    if (const SunsetEntry* e = table.match(C.issuer); e && SunsetTable::state(e, now) != SunsetState::Announced)
      o.fails.push_back("its issuer has already cut over (" + sunset_text(*e, now) + "): the next renewal (before " +
                        format_utc(C.not_after).substr(0, 10) + ") will lack clientAuth");
    o.fix = "Before renewal, put a certificate from a private CA with clientAuth+serverAuth in the client store "
            "(scenario 2.1).";
  } else if (same) {
    o.id = "4";
    o.name = "public server certificate copied into the client store";
    o.works = {"inbound TLS", "outbound mutual TLS only with peers that disable EKU checking"};
    o.fails = {"outbound mutual TLS to every peer that enforces clientAuth (\"unsupported certificate purpose\")"};
    o.fix = "Upload a client certificate from a private CA with clientAuth+serverAuth to the client store "
            "(scenario 2.1).";
  } else if (!c_client && !s_client) {
    o.id = "2";
    o.name = "all public CA: server and client certificates are serverAuth-only";
    o.works = {"inbound TLS"};
    o.fails = {"outbound mutual TLS to every peer that enforces clientAuth (\"unsupported certificate purpose\")",
               "services that require a client EKU (for example tunnels between edge and core)"};
    o.fix = "Use a client certificate from a private CA with clientAuth+serverAuth (scenario 2.1); peers that "
            "receive our public certificate must run with EKU checking Off.";
  } else if (!c_client) {
    o.id = "4";
    o.name = "client store certificate lacks clientAuth";
    o.works = {"inbound TLS", "outbound mutual TLS only with peers that disable EKU checking"};
    o.fails = {"outbound mutual TLS to every peer that enforces clientAuth (\"unsupported certificate purpose\")"};
    o.fix = "Upload a client certificate with clientAuth (private CA, scenario 2.1).";
  } else if (s_client && s_private && c_private) {
    o.id = "3";
    o.name = "all private CA";
    o.works = {"inbound and outbound mutual TLS with peers that trust the private CA"};
    o.fails = {"public clients that do not trust the private CA see untrusted-certificate prompts"};
    o.fix = "For public-facing services use a public-CA server certificate (scenario 2.1).";
  } else {
    o.id = "2.1";
    o.name = "mixed (recommended): client certificate with clientAuth, separate server certificate";
    o.works = {"inbound TLS", "outbound mutual TLS, also to peers that enforce clientAuth",
               "works regardless of the EKU checking mode on either side"};
    o.fix = "Nothing to change.";
  }
  if (mode_on) o.fails.push_back(inbound_public);
  else o.works.push_back(inbound_public);
  return o;
}

std::string eku_bits_text(bool present, uint8_t eku) {
  CertFacts f;
  f.eku_present = present;
  f.eku = eku;
  return eku_text(f);
}

std::string days_left(int64_t not_after, int64_t now) {
  const int64_t d = (not_after - now) / kDay;
  if (not_after < now) return "expired";
  return std::to_string(d) + (d == 1 ? " day left" : " days left");
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string o;
  for (const auto& x : v) o += (o.empty() ? "" : std::string(sep)) + x;
  return o;
}

CertReport cert_report(std::string store, const CertFacts& c, const SunsetTable& table, int64_t now) {
  CertReport r;
  r.store = std::move(store);
  r.subject = c.subject;
  r.issuer = c.issuer;
  r.eku = eku_text(c);
  r.client_auth = allows_client_auth(c);
  r.server_auth = allows_server_auth(c);
  r.not_after = c.not_after;
  if (const SunsetEntry* e = table.match(c.issuer)) {
    r.public_ca = e->ca;
    r.sunset = SunsetTable::state(e, now);
    r.sunset_text = sunset_text(*e, now);
  }
  return r;
}

std::string peer_text(const WouldFailPeer& p) {
  return (p.subject.empty() ? std::string("(resumed session)") : p.subject) + " (issuer " +
         (p.issuer.empty() ? std::string("?") : p.issuer) + ", SHA-256 " + peer_fingerprint_text(p) + ", last from " +
         host_port(p.last_src_ip, p.last_src_port) + " at " + format_utc(p.last_seen) + " UTC, " +
         std::to_string(p.count) + (p.count == 1 ? " handshake)" : " handshakes)");
}

// Issue 11 item 4: certificates with their roles and the public CAs'
// cut-overs, the remotes that receive the client store, the inbound peers
// seen with serverAuth-only certificates.
void sunset_report(AuditReport& r, const StoreSnapshot& s, const AuditInputs& in, const SunsetTable& table) {
  auto& f = r.findings;
  std::set<std::string> client_roles;
  for (const auto& rm : in.remotes) client_roles.insert(rm.role);
  const bool same = s.server.present() && s.client.present() && s.server.leaf.sha256 == s.client.leaf.sha256;
  if (s.server.present()) {
    CertReport c = cert_report("server", s.server.leaf, table, r.now);
    if (in.inbound) c.roles.push_back("inbound server");
    if (same) c.roles.insert(c.roles.end(), client_roles.begin(), client_roles.end());
    if (c.roles.empty()) c.roles.push_back("none (no TLS listener)");
    r.certs.push_back(std::move(c));
  }
  if (s.client.present()) {
    CertReport c = cert_report("client", s.client.leaf, table, r.now);
    c.roles.assign(client_roles.begin(), client_roles.end());
    if (c.roles.empty()) c.roles.push_back("none (no egress route or backend TLS configured)");
    r.certs.push_back(std::move(c));
  }
  for (const auto& ca : s.ca_facts) {
    CertReport c = cert_report("ca", ca, table, r.now);
    c.roles.push_back("trust anchor (verifies peers in both roles)");
    r.certs.push_back(std::move(c));
  }

  // The client store's issuer and the sunset.
  if (s.client.present()) {
    const CertFacts& C = s.client.leaf;
    const SunsetEntry* e = table.match(C.issuer);
    const SunsetState st = SunsetTable::state(e, r.now);
    const bool used = !client_roles.empty();
    if (e && !allows_client_auth(C)) {
      f.push_back({used ? Severity::Error : Severity::Warning, "client-public-ca-no-clientauth",
                   "The client certificate (" + C.subject + ") comes from " + e->ca +
                       ", a public CA that no longer issues clientAuth (" + sunset_text(*e, r.now) +
                       "), and has none: peers that enforce clientAuth refuse it.",
                   "Put a certificate from a private CA with clientAuth+serverAuth in the client store (scenario 2.1)."});
    } else if (e && st != SunsetState::Private) {
      f.push_back({st == SunsetState::Announced ? Severity::Info : Severity::Warning, "client-public-ca-sunset",
                   "The client certificate (" + C.subject + ") still carries clientAuth, but its issuer " + e->ca +
                       " is cutting clientAuth (" + sunset_text(*e, r.now) + "): its renewal (before " +
                       format_utc(C.not_after).substr(0, 10) + ") will not carry it.",
                   "Before it expires, replace it with a private-CA certificate with clientAuth+serverAuth (scenario 2.1)."});
    }
  }
  if (s.server.present() && !same) {
    if (const SunsetEntry* e = table.match(s.server.leaf.issuer))
      f.push_back({Severity::Info, "server-public-ca",
                   "The server certificate comes from " + e->ca + " (" + sunset_text(*e, r.now) +
                       "): renewals will be serverAuth-only, which is all inbound TLS needs.",
                   "Nothing to change; do not copy it into the client store."});
  }

  // Remotes: turnpike presents the client store to each of them.
  for (const auto& rm : in.remotes) {
    if (!s.client.present()) {
      f.push_back({Severity::Error, "remote-no-client-cert",
                   rm.name + " (" + rm.role + "): the client store is empty, so mutual TLS to it cannot present a certificate.",
                   "Upload a client certificate with clientAuth."});
    } else if (!allows_client_auth(s.client.leaf)) {
      f.push_back({Severity::Error, "remote-refuses-client",
                   rm.name + " (" + rm.role + ") receives " + s.client.leaf.subject + " (" + eku_text(s.client.leaf) +
                       "): refused with \"unsupported certificate purpose\" if it enforces clientAuth.",
                   "Upload a client certificate with clientAuth from a private CA (scenario 2.1)."});
    }
  }

  // What each remote presented when turnpike last verified it: a
  // serverAuth-only certificate is fine for our outbound TLS, but the same
  // peer connecting inbound with it is refused in mode On.
  for (const auto& rm : in.remotes) {
    const WouldFailPeer* seen = nullptr;
    for (const auto& c : in.remote_certs)
      if (c.last_dst == rm.address && (!seen || c.last_seen > seen->last_seen)) seen = &c;
    if (!seen) {
      f.push_back({Severity::Info, "remote-not-seen",
                   rm.name + ": its certificate has not been verified yet (no outbound handshake since start or the "
                             "last CA change).",
                   "None; it is reported after the first connection."});
      continue;
    }
    const SunsetEntry* e = table.match(seen->issuer);
    const bool srv_only = seen->eku_present && (seen->eku & kEkuServerAuth) && !(seen->eku & (kEkuClientAuth | kEkuAny));
    const std::string who = rm.name + " presents " + seen->subject + " (issuer " + seen->issuer +
                            (e ? ", public CA " + e->ca : std::string()) + ", SHA-256 " + peer_fingerprint_text(*seen) +
                            ", " + eku_bits_text(seen->eku_present, seen->eku) + ")";
    if (srv_only)
      f.push_back({r.mode == EkuMode::On ? Severity::Warning : Severity::Info, "remote-serverauth-only",
                   who + ": fine for turnpike's outbound TLS, but if this peer connects inbound with the same "
                         "certificate, EKU checking mode On refuses it.",
                   "Keep the mode Off for it, or ask the peer for a clientAuth certificate for its inbound connections."});
    else
      f.push_back({Severity::Info, "remote-certificate", who + ".", "None."});
  }

  // Inbound peers seen presenting serverAuth-only certificates (mode Off).
  for (const auto& p : in.peers) {
    const SunsetEntry* e = table.match(p.issuer);
    const std::string why = e ? " (public CA " + e->ca + ")" : "";
    if (p.refused) {  // seen refused while the mode was On (item 4)
      if (r.mode == EkuMode::On)
        f.push_back({Severity::Error, "peer-refused",
                     "Inbound peer " + peer_text(p) + " is refused now in mode On: serverAuth-only certificate" + why +
                         " (\"unsupported certificate purpose\").",
                     "It needs a certificate with clientAuth, or mode Off accepts it."});
      else
        f.push_back({Severity::Warning, "peer-refused-earlier",
                     "Inbound peer " + peer_text(p) + " was refused while EKU checking was On: serverAuth-only "
                         "certificate" + why + "; mode Off accepts it now.",
                     "Have it present a certificate with clientAuth before setting the mode On again."});
      continue;
    }
    if (r.mode == EkuMode::On)
      f.push_back({Severity::Error, "peer-serverauth-only-refused",
                   "Inbound peer " + peer_text(p) + " presented a serverAuth-only certificate" + why +
                       ": EKU checking is On, so it is refused with \"unsupported certificate purpose\".",
                   "Set the mode Off while this peer connects, or have it present a certificate with clientAuth."});
    else
      f.push_back({Severity::Warning, "peer-serverauth-only",
                   "Inbound peer " + peer_text(p) + " presents a serverAuth-only certificate" + why +
                       ": accepted only because EKU checking is Off; mode On would refuse it.",
                   "Keep the mode Off while this peer connects, or have it present a certificate with clientAuth (private CA)."});
  }
}

nlohmann::json findings_json(const std::vector<Finding>& fs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& f : fs)
    a.push_back({{"severity", std::string(to_string(f.severity))}, {"code", f.code}, {"message", f.message}, {"fix", f.fix}});
  return a;
}

}  // namespace

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "?";
}

bool AuditReport::has(std::string_view code) const { return find(code) != nullptr; }

const Finding* AuditReport::find(std::string_view code) const {
  for (const auto& f : findings)
    if (f.code == code) return &f;
  return nullptr;
}

AuditReport audit(const StoreSnapshot& s, int64_t now) { return audit(s, AuditInputs{}, now); }

AuditReport audit(const StoreSnapshot& s, const AuditInputs& in, int64_t now) {
  AuditReport r;
  r.now = now ? now : static_cast<int64_t>(std::time(nullptr));
  r.mode = s.eku_mode;
  r.generation = s.generation;
  const SunsetTable& table = in.sunset ? *in.sunset : builtin_sunset_table();
  r.scenario = classify(s, table, r.now);
  auto& f = r.findings;

  for (auto [name, c] : {std::pair{"server", &s.server}, std::pair{"client", &s.client}}) {
    std::string what = std::string(name) + " certificate";
    if (!c->present()) {
      f.push_back({Severity::Error, std::string(name) + "-empty", "The " + std::string(name) + " store is empty.",
                   "Upload a certificate and key."});
      continue;
    }
    expiry(f, what + " (" + c->leaf.subject + ")", c->leaf, r.now);
    ChainResult cr;
    if (!chains_to_bundle(s, *c, &cr)) {
      if (cr.status == ChainStatus::UnknownIssuer)
        f.push_back({Severity::Warning, std::string(name) + "-issuer-not-in-bundle",
                     "The CA bundle does not cover the " + what + "'s issuer (" + c->leaf.issuer + ").",
                     "Add the issuing CA (and its root) to ca.pem."});
      else
        f.push_back({Severity::Warning, std::string(name) + "-chain", "The " + what + " chain does not verify: " + cr.detail,
                     "Check the certificate and the trust store."});
    }
  }
  if (s.server.present() && !allows_server_auth(s.server.leaf))
    f.push_back({Severity::Error, "server-no-serverauth",
                 "The server certificate does not allow serverAuth (" + eku_text(s.server.leaf) + ").",
                 "Upload a server certificate with serverAuth."});
  if (s.client.present() && !allows_client_auth(s.client.leaf))
    f.push_back({Severity::Warning, "client-no-clientauth",
                 "The client certificate has no clientAuth (" + eku_text(s.client.leaf) +
                     "): peers that enforce clientAuth refuse turnpike's outbound mutual TLS.",
                 "Upload a client certificate with clientAuth, for example from a private CA."});
  if (s.server.present() && s.client.present() && s.server.leaf.sha256 == s.client.leaf.sha256)
    f.push_back({allows_client_auth(s.client.leaf) ? Severity::Info : Severity::Warning, "client-is-server-copy",
                 "The client store holds a copy of the server certificate.",
                 "Give the client store its own certificate with clientAuth before the server certificate is "
                 "renewed from a public CA."});
  for (const auto& ca : s.ca_facts) expiry(f, "CA certificate (" + ca.subject + ")", ca, r.now);
  if (s.ca_der.empty())
    f.push_back({Severity::Warning, "ca-bundle-empty", "The CA bundle is empty: no peer certificate verifies.",
                 "Upload the CA certificates of the peers."});
  if (s.eku_mode == EkuMode::On)
    f.push_back({Severity::Info, "eku-mode-on",
                 "EKU checking mode is On: inbound peers presenting serverAuth-only (public CA) certificates are "
                 "refused with \"unsupported certificate purpose\".",
                 "Set the mode Off only if such peers must connect."});
  sunset_report(r, s, in, table);
  // Worst first; within a severity, the order above (stores, remotes, peers).
  std::stable_sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  return r;
}

std::string AuditReport::to_text() const {
  std::ostringstream o;
  o << "turnpike certificate audit (" << format_utc(now) << " UTC, store generation " << generation << ")\n";
  o << "EKU checking mode: " << to_string(mode) << "\n";
  o << "Scenario " << scenario.id << ": " << scenario.name << "\n";
  for (const auto& w : scenario.works) o << "  works: " << w << "\n";
  for (const auto& w : scenario.fails) o << "  fails: " << w << "\n";
  o << "  fix:   " << scenario.fix << "\n";
  if (!certs.empty()) o << "Certificates:\n";
  for (const auto& c : certs)
    o << "  " << c.store << ": " << c.subject << "; issuer " << c.issuer
      << (c.public_ca.empty() ? std::string(" (private or unknown CA)") : " (public CA: " + c.sunset_text + ")")
      << "; clientAuth " << (c.client_auth ? "yes" : "no") << " [" << c.eku << "]; expires "
      << format_utc(c.not_after).substr(0, 10) << " (" << days_left(c.not_after, now) << "); roles: " << join(c.roles, ", ")
      << "\n";
  o << "Findings (worst first):\n";
  if (findings.empty()) o << "  none\n";
  for (const auto& f : findings)
    o << "  [" << to_string(f.severity) << "] " << f.code << ": " << f.message << " Fix: " << f.fix << "\n";
  return o.str();
}

std::string AuditReport::to_json() const {
  nlohmann::json j;
  j["time"] = format_utc(now) + "Z";
  j["generation"] = generation;
  j["eku_mode"] = std::string(to_string(mode));
  j["scenario"] = {{"id", scenario.id},
                   {"name", scenario.name},
                   {"works", scenario.works},
                   {"fails", scenario.fails},
                   {"fix", scenario.fix}};
  j["certificates"] = nlohmann::json::array();
  for (const auto& c : certs)
    j["certificates"].push_back({{"store", c.store},
                                 {"subject", c.subject},
                                 {"issuer", c.issuer},
                                 {"eku", c.eku},
                                 {"client_auth", c.client_auth},
                                 {"server_auth", c.server_auth},
                                 {"not_after", format_utc(c.not_after) + "Z"},
                                 {"days_left", (c.not_after - now) / kDay},
                                 {"roles", c.roles},
                                 {"public_ca", c.public_ca},
                                 {"sunset", std::string(to_string(c.sunset))},
                                 {"sunset_dates", c.sunset_text}});
  j["findings"] = findings_json(findings);
  return j.dump(2);
}

bool WhatIfReport::has(std::string_view code) const {
  for (const auto& f : findings)
    if (f.code == code) return true;
  return false;
}

size_t WhatIfReport::failures() const {
  return static_cast<size_t>(
      std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::Error; }));
}

WhatIfReport what_if(const StoreSnapshot& cur, const StoreSnapshot& next, const AuditInputs& in, std::string basis,
                     int64_t now) {
  WhatIfReport w;
  w.now = now ? now : static_cast<int64_t>(std::time(nullptr));
  w.basis = std::move(basis);
  w.mode_now = cur.eku_mode;
  w.mode_then = next.eku_mode;
  const SunsetTable& table = in.sunset ? *in.sunset : builtin_sunset_table();
  w.scenario_now = classify(cur, table, w.now).id;
  const ScenarioOutcome then = classify(next, table, w.now);
  w.scenario_then = then.id;
  w.fix_then = then.fix;
  auto& f = w.findings;
  const bool on = next.eku_mode == EkuMode::On;

  // Inbound peers seen presenting serverAuth-only certificates.
  auto issuer_in_bundle = [](const StoreSnapshot& s, const std::string& issuer) {
    return std::any_of(s.ca_facts.begin(), s.ca_facts.end(), [&](const CertFacts& c) { return c.subject == issuer; });
  };
  for (const auto& p : in.peers) {
    if (on)
      f.push_back({Severity::Error, "would-fail-peer",
                   "would fail: inbound peer " + peer_text(p) + " presents a serverAuth-only certificate: " +
                       (p.refused ? "already refused in mode On" : "refused") +
                       " with \"unsupported certificate purpose\".",
                   "Keep the mode Off, or have the peer present a certificate with clientAuth first."});
    else
      f.push_back({Severity::Info, "peer-accepted",
                   "accepted: inbound peer " + peer_text(p) + " (serverAuth-only certificate, EKU checking Off" +
                       (p.refused ? "; refused now in mode On" : "") + ").",
                   "None."});
    if (!p.issuer.empty() && issuer_in_bundle(cur, p.issuer) && !issuer_in_bundle(next, p.issuer))
      f.push_back({Severity::Error, "would-fail-peer-untrusted",
                   "would fail: inbound peer " + peer_text(p) + ": its issuer leaves the CA bundle "
                       "(\"unable to get local issuer certificate\").",
                   "Keep " + p.issuer + " in the CA bundle."});
  }
  // Inbound listeners present the server store.
  if (in.inbound) {
    if (!next.server.present())
      f.push_back({Severity::Error, "would-fail-inbound", "would fail: every inbound handshake (the server store is empty).",
                   "Stage a server certificate."});
    else if (!allows_server_auth(next.server.leaf))
      f.push_back({Severity::Error, "would-fail-inbound",
                   "would fail: inbound TLS: the server certificate " + next.server.leaf.subject + " does not allow serverAuth.",
                   "Stage a server certificate with serverAuth."});
    else if (next.server.leaf.not_after < w.now)
      f.push_back({Severity::Error, "would-fail-inbound",
                   "would fail: inbound TLS: the server certificate " + next.server.leaf.subject + " has expired.",
                   "Stage a valid server certificate."});
  }
  // Remotes and backends receive the client store.
  for (const auto& rm : in.remotes) {
    const bool had = cur.client.present() && allows_client_auth(cur.client.leaf);
    if (!next.client.present()) {
      f.push_back({Severity::Error, "would-fail-remote",
                   "would fail: " + rm.name + " (" + rm.role + "): no client certificate to present.",
                   "Stage a client certificate with clientAuth."});
    } else if (!allows_client_auth(next.client.leaf)) {
      f.push_back({Severity::Error, "would-fail-remote",
                   "would fail: " + rm.name + " (" + rm.role + ") if it enforces clientAuth: it would receive " +
                       next.client.leaf.subject + " (" + eku_text(next.client.leaf) + ")" +
                       (had ? ", which replaces a certificate with clientAuth" : "") + ".",
                   "Stage a client certificate with clientAuth (private CA, scenario 2.1)."});
    } else if (next.client.leaf.not_after < w.now) {
      f.push_back({Severity::Error, "would-fail-remote",
                   "would fail: " + rm.name + " (" + rm.role + "): the client certificate has expired.",
                   "Stage a valid client certificate."});
    } else {
      f.push_back({Severity::Info, "remote-ok",
                   "works: " + rm.name + " (" + rm.role + ") receives " + next.client.leaf.subject + " (clientAuth).",
                   "None."});
    }
  }
  if (in.peers.empty())
    f.push_back({Severity::Info, "no-peers-seen",
                 "No inbound peer has been seen presenting a serverAuth-only certificate (xStatus EkuWouldFail; "
                 "recorded while EKU checking is Off, and refusals while it is On).",
                 "Run with the mode Off for a while before switching On to learn who would fail."});
  std::stable_sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  return w;
}

std::string WhatIfReport::to_text() const {
  std::ostringstream o;
  o << "turnpike what-if (" << format_utc(now) << " UTC): " << basis << "\n";
  o << "EKU checking mode: " << to_string(mode_now) << " -> " << to_string(mode_then) << "; scenario " << scenario_now
    << " -> " << scenario_then << "\n";
  o << "Would fail: " << failures() << "\n";
  for (const auto& f : findings)
    o << "  [" << to_string(f.severity) << "] " << f.code << ": " << f.message << " Fix: " << f.fix << "\n";
  return o.str();
}

std::string WhatIfReport::to_json() const {
  nlohmann::json j;
  j["time"] = format_utc(now) + "Z";
  j["basis"] = basis;
  j["eku_mode"] = {{"now", std::string(to_string(mode_now))}, {"then", std::string(to_string(mode_then))}};
  j["scenario"] = {{"now", scenario_now}, {"then", scenario_then}, {"fix", fix_then}};
  j["would_fail"] = failures();
  j["findings"] = findings_json(findings);
  return j.dump(2);
}

}  // namespace turnpike::control
