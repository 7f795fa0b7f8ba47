#include "turnpike/control/audit.hpp"

#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

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

ScenarioOutcome classify(const StoreSnapshot& s) {
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

}  // namespace

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "?";
}

bool AuditReport::has(std::string_view code) const {
  for (const auto& f : findings)
    if (f.code == code) return true;
  return false;
}

AuditReport audit(const StoreSnapshot& s, int64_t now) {
  AuditReport r;
  r.now = now ? now : static_cast<int64_t>(std::time(nullptr));
  r.mode = s.eku_mode;
  r.generation = s.generation;
  r.scenario = classify(s);
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
  o << "Findings:\n";
  if (findings.empty()) o << "  none\n";
  for (const auto& f : findings)
    o << "  [" << to_string(f.severity) << "] " << f.code << ": " << f.message << "\n      fix: " << f.fix << "\n";
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
  j["findings"] = nlohmann::json::array();
  for (const auto& f : findings)
    j["findings"].push_back(
        {{"severity", std::string(to_string(f.severity))}, {"code", f.code}, {"message", f.message}, {"fix", f.fix}});
  return j.dump(2);
}

}  // namespace turnpike::control
