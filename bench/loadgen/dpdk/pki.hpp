// Phone certificates made at start with the openssl CLI (one `openssl ca`
// run per profile signs them all): a private root the target is told to
// trust (DIR/ca.pem), an unrelated root for the untrusted profile, and per
// phone a leaf with its own serial (so its own fingerprint and verdict-cache
// entry) on one shared P-256 key. Profiles follow docs/eku-semantics.md.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::loadgen {

enum class Profile : std::uint8_t { Client, Server, NoEku, Expired, Untrusted, NoCert };
inline constexpr unsigned kProfiles = 6;
inline constexpr std::array<std::string_view, kProfiles> kProfileNames{"clientauth", "serverauth", "noeku",
                                                                      "expired",    "untrusted",  "nocert"};

// Whether a target that verifies client certificates (client_cert request
// or require) accepts the profile; eku_on: EKU mode On (docs/eku-semantics.md:
// a serverAuth-only leaf is refused for purpose in mode On, accepted Off).
// require: a phone without a certificate is refused too.
bool expect_accepted(Profile p, bool eku_on, bool require);

struct PhonePki {
  std::string dir;
  std::string ca_pem;   // the root the target must trust for client certificates
  std::string key_pem;  // the leaves' key (PEM text)
  // Per profile: the leaves (PEM text), one per phone of that profile.
  std::array<std::vector<std::string>, kProfiles> leaves;
};

// Makes `count[p]` leaves of each profile in `dir` (created; kept; roots
// and the leaf key already there are reused). Throws
// std::runtime_error when openssl fails.
PhonePki make_pki(const std::string& dir, const std::array<unsigned, kProfiles>& count);

}  // namespace turnpike::loadgen
