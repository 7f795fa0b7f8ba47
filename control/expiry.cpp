#include "turnpike/control/expiry.hpp"

namespace turnpike::control {

std::vector<StoreCert> store_certificates(const StoreSnapshot& s) {
  std::vector<StoreCert> out;
  auto add = [&](std::string store, const CertFacts& f) {
    out.push_back({std::move(store), f.serial_hex, f.subject, fingerprint_hex(f.sha256), f.not_after});
  };
  if (s.server.present()) add("server", s.server.leaf);
  if (s.client.present()) add("client", s.client.leaf);
  for (auto& f : s.ca_facts) add("ca", f);
  return out;
}

int64_t days_left(int64_t not_after, int64_t now) {
  const int64_t d = not_after - now;
  return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);  // floor, also below zero
}

std::vector<EventLine> ExpiryWatch::check(const StoreSnapshot& s, int64_t now) {
  std::vector<EventLine> out;
  for (auto& c : store_certificates(s)) {
    const int64_t left_s = c.not_after - now;
    int threshold = -1;  // tightest threshold the certificate is inside
    if (left_s <= 0) {
      threshold = 0;
    } else {
      for (int t : kExpiryThresholdsDays)
        if (left_s <= int64_t(t) * 86400) threshold = t;
    }
    if (threshold < 0) continue;
    // Given already at this threshold or a tighter one: nothing new.
    bool given = false;
    for (auto& [st, fp, t] : given_)
      if (st == c.store && fp == c.fingerprint && t <= threshold) given = true;
    if (given) continue;
    given_.insert({c.store, c.fingerprint, threshold});
    const std::string days = std::to_string(days_left(c.not_after, now));
    if (threshold == 0) {
      out.push_back({kEventCertExpired,
                     {{"Store", c.store}, {"Subject", c.subject}, {"Serial", c.serial},
                      {"Not-after", format_utc(c.not_after)}, {"Days-left", days}},
                     1});
    } else {
      out.push_back({kEventCertExpiring,
                     {{"Store", c.store}, {"Subject", c.subject}, {"Serial", c.serial},
                      {"Not-after", format_utc(c.not_after)}, {"Days-left", days},
                      {"Threshold-days", std::to_string(threshold)}},
                     threshold <= 7 ? 2 : 3});
    }
  }
  return out;
}

}  // namespace turnpike::control
