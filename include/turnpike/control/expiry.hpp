// Certificate expiry: which store and trust certificates expire when, and
// the warnings at 60, 30, 7 and 1 days before (issue 11 item 5). Pure: the
// caller passes the time, so tests use certificates a few days from expiry.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "turnpike/control/events.hpp"
#include "turnpike/control/store.hpp"

namespace turnpike::control {

inline constexpr int kExpiryThresholdsDays[] = {60, 30, 7, 1};
inline constexpr std::string_view kEventCertExpiring = "Certificate Expiry Warning";
inline constexpr std::string_view kEventCertExpired = "Certificate Expired";

struct StoreCert {
  std::string store;   // "server" | "client" | "ca"
  std::string serial;  // upper-case hex
  std::string subject;
  std::string fingerprint;  // SHA-256 "AB:CD:..."
  int64_t not_after = 0;
};

// Server and client leaves, then every trust-store certificate.
std::vector<StoreCert> store_certificates(const StoreSnapshot& s);

// Whole days left, rounded down; negative once expired.
int64_t days_left(int64_t not_after, int64_t now);

// Remembers, per certificate (store + fingerprint) and threshold, which
// warnings were given, so each is emitted once. A certificate first seen
// inside a threshold gets only the tightest one (3 days left: the 7-day
// warning, not 60 and 30 as well); an expired one gets one "Certificate
// Expired" event.
class ExpiryWatch {
 public:
  std::vector<EventLine> check(const StoreSnapshot& s, int64_t now);

 private:
  std::set<std::tuple<std::string, std::string, int>> given_;  // store, fingerprint, threshold (0 = expired)
};

}  // namespace turnpike::control
