// Audit of the stores against the deployment scenarios of docs/eku-semantics.md:
// which scenario this installation is in, what works, what fails and why,
// how to fix it; plus expiry and consistency findings. Text and JSON.
//
// The sunset readiness report (issue 11 item 4) adds, per store
// certificate, its clientAuth, issuer, expiry, the roles it serves and
// whether its issuer is a public CA that has stopped issuing clientAuth
// (sunset.hpp); the configured remotes that receive the client store; the
// inbound peers seen presenting serverAuth-only certificates (the
// would-fail table); and a what-if over a staged change or a mode change.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "turnpike/control/store.hpp"
#include "turnpike/control/sunset.hpp"
#include "turnpike/control/would_fail.hpp"

namespace turnpike::control {

enum class Severity : uint8_t { Info, Warning, Error };
std::string_view to_string(Severity s);

struct Finding {
  Severity severity = Severity::Info;
  std::string code;  // stable identifier, e.g. "client-no-clientauth"
  std::string message;
  std::string fix;
};

struct ScenarioOutcome {
  std::string id;    // "1", "2", "2.1", "3", "4", or "incomplete"
  std::string name;  // "upgrade", "all public CA", ...
  std::vector<std::string> works;
  std::vector<std::string> fails;
  std::string fix;
};

// Where turnpike presents its client store (from the TLS settings).
struct AuditRemote {
  std::string role;     // "egress client" or "backend-TLS client"
  std::string name;     // e.g. "Egress Route 1 carrier.test (203.0.113.5:5061)"
  std::string address;  // "203.0.113.5:5061": matches remote_certs' last_dst
};

// What the audit knows besides the stores; all optional.
struct AuditInputs {
  bool inbound = true;  // TLS listeners: the server store serves inbound handshakes
  std::vector<AuditRemote> remotes;
  std::vector<WouldFailPeer> peers;     // inbound peers seen presenting serverAuth-only certificates
  std::vector<WouldFailPeer> remote_certs;  // remote servers' certificates as verified (last_dst: the remote)
  const SunsetTable* sunset = nullptr;  // null: the built-in table
};

// One store certificate (leaf of the server or client store, or a CA of
// the bundle).
struct CertReport {
  std::string store;  // "server", "client", "ca"
  std::string subject, issuer;
  std::string eku;  // "serverAuth, clientAuth", "no EKU (unrestricted)", ...
  bool client_auth = false, server_auth = false;
  int64_t not_after = 0;
  std::vector<std::string> roles;
  std::string public_ca;  // the table's CA name; empty: not a public CA we know
  SunsetState sunset = SunsetState::Private;
  std::string sunset_text;  // dates of that CA's cut-over
};

struct AuditReport {
  int64_t now = 0;
  EkuMode mode = EkuMode::On;
  uint64_t generation = 0;
  ScenarioOutcome scenario;
  std::vector<CertReport> certs;
  std::vector<Finding> findings;  // worst first

  bool has(std::string_view code) const;
  const Finding* find(std::string_view code) const;
  std::string to_text() const;  // one line per finding, worst first
  std::string to_json() const;  // pretty-printed
};

// now: Unix seconds; 0 = the current time.
AuditReport audit(const StoreSnapshot& s, int64_t now = 0);
AuditReport audit(const StoreSnapshot& s, const AuditInputs& in, int64_t now = 0);

// What would fail if `proposed` (a staged transaction, or the current
// stores with another mode) were committed: the inbound peers of
// in.peers, the configured remotes and backends, the inbound listeners.
struct WhatIfReport {
  int64_t now = 0;
  std::string basis;  // "EKU checking mode On", "the staged transaction (...)"
  EkuMode mode_now = EkuMode::On, mode_then = EkuMode::On;
  std::string scenario_now, scenario_then;  // ids
  std::string fix_then;
  std::vector<Finding> findings;  // worst first; "would-fail-..." codes are the failures

  bool has(std::string_view code) const;
  size_t failures() const;  // findings of severity Error
  std::string to_text() const;
  std::string to_json() const;
};
WhatIfReport what_if(const StoreSnapshot& current, const StoreSnapshot& proposed, const AuditInputs& in,
                     std::string basis, int64_t now = 0);

}  // namespace turnpike::control
