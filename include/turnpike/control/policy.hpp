// EKU / keyUsage policy of docs/eku-semantics.md as pure functions over CertFacts.
// No I/O, no clock: callers pass the time where it matters.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/detail.hpp"

namespace turnpike::control {

// "SIP TLS Certificate ExtendedKeyUsage Checking Mode", default On.
enum class EkuMode : uint8_t { On, Off };
// Inbound: turnpike is the TLS server and judges a client certificate.
// Outbound: turnpike is the TLS client and judges a server certificate.
enum class Role : uint8_t { Inbound, Outbound };

std::string_view to_string(EkuMode m);
std::string_view to_string(Role r);
bool parse_eku_mode(std::string_view s, EkuMode& out);  // "on"/"off", any case

// detail is empty on accept; on reject it is the event Detail text.
// would_fail_on: accepted only because the mode is Off; mode On would refuse
// it with "unsupported certificate purpose" (set by check_peer, inbound).
struct Verdict {
  bool accept = false;
  std::string_view detail;
  bool would_fail_on = false;
};

// Verdict on the peer's leaf certificate, given its chain is valid.
Verdict verdict(const CertFacts& leaf, EkuMode mode, Role role);
// Verdict on a CA certificate of the presented chain (RFC 5280 4.2.1.12 as
// OpenSSL applies it to CAs since 1.1.1).
Verdict verdict_ca(const CertFacts& ca, EkuMode mode, Role role);
// Leaf verdict plus the CA rule summarised over the presented CAs:
// cas_allow_client / cas_allow_server are true when every CA certificate
// with an EKU extension allows that purpose (or anyExtendedKeyUsage).
Verdict verdict_path(const CertFacts& leaf, bool cas_allow_client, bool cas_allow_server, EkuMode mode, Role role);
// Validity window (RFC 5280 4.1.2.5), now in Unix seconds.
Verdict check_validity(const CertFacts& c, int64_t now);

// Upload-time rules: does the certificate allow the role it is uploaded for?
bool allows_client_auth(const CertFacts& c);  // clientAuth, any, or no EKU
bool allows_server_auth(const CertFacts& c);  // serverAuth, any, or no EKU

// RFC 5922 7.1 peer identity for outbound connections: the SIP domain
// identities of SAN URIs "sip:<host>" when there is at least one, otherwise
// SAN DNS (SAN IP when the peer is configured by address); the subject CN
// only when the certificate has no SAN at all.
bool matches_peer_name(const CertFacts& c, std::string_view name, bool name_is_ip);

// RFC 5922 7.1: the host part of a "sip:" URI SAN, or nothing when the URI is
// not a SIP domain identity (another scheme, a user part, no host).
std::optional<std::string_view> sip_domain_identity(std::string_view uri);

}  // namespace turnpike::control
