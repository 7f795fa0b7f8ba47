// Audit of the stores against the deployment scenarios of eku-semantics.md:
// which scenario this installation is in, what works, what fails and why,
// how to fix it; plus expiry and consistency findings. Text and JSON.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "turnpike/control/store.hpp"

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

struct AuditReport {
  int64_t now = 0;
  EkuMode mode = EkuMode::On;
  uint64_t generation = 0;
  ScenarioOutcome scenario;
  std::vector<Finding> findings;

  bool has(std::string_view code) const;
  std::string to_text() const;
  std::string to_json() const;  // pretty-printed
};

// now: Unix seconds; 0 = the current time.
AuditReport audit(const StoreSnapshot& s, int64_t now = 0);

}  // namespace turnpike::control
