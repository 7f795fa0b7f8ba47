#include "turnpike/control/policy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "turnpike/text.hpp"

namespace turnpike::control {
namespace {

constexpr Verdict kAccept{true, {}};
constexpr Verdict kRejectPurpose{false, kDetailPurpose};

}  // namespace

std::string_view to_string(EkuMode m) { return m == EkuMode::On ? "On" : "Off"; }
std::string_view to_string(Role r) { return r == Role::Inbound ? "inbound" : "outbound"; }

bool parse_eku_mode(std::string_view s, EkuMode& out) {
  if (iequals(s, "on")) out = EkuMode::On;
  else if (iequals(s, "off")) out = EkuMode::Off;
  else return false;
  return true;
}

bool allows_client_auth(const CertFacts& c) {
  return !c.eku_present || (c.eku & (kEkuClientAuth | kEkuAny));
}
bool allows_server_auth(const CertFacts& c) {
  return !c.eku_present || (c.eku & (kEkuServerAuth | kEkuAny));
}

Verdict verdict(const CertFacts& c, EkuMode mode, Role role) {
  if (role == Role::Inbound) {
    // RFC 5280 4.2.1.3 as OpenSSL's SSL-client purpose applies it: the key
    // must be usable for the handshake signature or key agreement.
    if (c.ku_present && !(c.key_usage & (kKuDigitalSignature | kKuKeyAgreement))) return kRejectPurpose;
    // RFC 5280 4.2.1.12: no EKU extension means no restriction.
    if (!c.eku_present) return kAccept;
    if (c.eku & (kEkuClientAuth | kEkuAny)) return kAccept;
    // serverAuth only: the public-CA profile. Mode Off tolerates it; other
    // purposes (codeSigning, ...) are refused in both modes.
    if ((c.eku & kEkuServerAuth) && mode == EkuMode::Off) return kAccept;
    return kRejectPurpose;
  }
  // Outbound: the remote server must allow serverAuth whatever the mode.
  if (c.ku_present &&
      !(c.key_usage & (kKuDigitalSignature | kKuKeyEncipherment | kKuKeyAgreement)))
    return kRejectPurpose;
  return allows_server_auth(c) ? kAccept : kRejectPurpose;
}

Verdict verdict_ca(const CertFacts& c, EkuMode mode, Role role) {
  // RFC 5280 4.2.1.3: a CA that signs certificates needs keyCertSign.
  if (c.ku_present && !(c.key_usage & kKuKeyCertSign)) return {false, kDetailInvalidCa};
  if (!c.eku_present) return kAccept;
  if (role == Role::Inbound) {
    if (mode == EkuMode::Off) return kAccept;
    return (c.eku & (kEkuClientAuth | kEkuAny)) ? kAccept : kRejectPurpose;
  }
  return (c.eku & (kEkuServerAuth | kEkuAny)) ? kAccept : kRejectPurpose;
}

Verdict verdict_path(const CertFacts& leaf, bool cas_allow_client, bool cas_allow_server, EkuMode mode, Role role) {
  Verdict v = verdict(leaf, mode, role);
  if (!v.accept) return v;
  // RFC 5280 4.2.1.12 applied to CAs as OpenSSL does since 1.1.1; mode Off
  // drops the clientAuth check on CAs as well as on the leaf.
  if (role == Role::Inbound && mode == EkuMode::On && !cas_allow_client) return kRejectPurpose;
  if (role == Role::Outbound && !cas_allow_server) return kRejectPurpose;
  return kAccept;
}

Verdict check_validity(const CertFacts& c, int64_t now) {
  if (now < c.not_before) return {false, kDetailNotYetValid};
  if (now > c.not_after) return {false, kDetailExpired};
  return kAccept;
}

namespace {
// RFC 6125 6.4.3 wildcard: "*" only as the whole left-most label.
bool dns_match(std::string_view pattern, std::string_view name) {
  if (iequals(pattern, name)) return true;
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    size_t dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 && iequals(pattern.substr(1), name.substr(dot));
  }
  return false;
}
}  // namespace

std::optional<std::string_view> sip_domain_identity(std::string_view uri) {
  if (uri.size() < 5 || !iequals(uri.substr(0, 4), "sip:")) return std::nullopt;  // "sips:", "https:"...
  std::string_view rest = uri.substr(4);
  // No valid SIP URI has '@' outside its userinfo (RFC 3261 §25.1: neither
  // parameters nor headers allow it), so any '@' means a user part.
  if (rest.find('@') != std::string_view::npos) return std::nullopt;
  size_t end = rest.front() == '[' ? rest.find(']') : rest.find_first_of(":;?");
  if (rest.front() == '[') {
    if (end == std::string_view::npos) return std::nullopt;
    ++end;
  }
  std::string_view host = rest.substr(0, end);
  if (host.empty()) return std::nullopt;
  if (end < rest.size() && rest[end] != ':' && rest[end] != ';' && rest[end] != '?') return std::nullopt;
  return host;
}

namespace {
// An IPv4 or IPv6 address in binary (16 bytes, IPv4 in the first 4), so
// that "2001:DB8::1" and "2001:db8:0::1" name the same SAN IP.
bool ip_bytes(std::string_view text, std::array<unsigned char, 17>& out) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  out = {};
  const bool v6 = text.find(':') != std::string_view::npos;
  out[16] = v6;
  return inet_pton(v6 ? AF_INET6 : AF_INET, buf, out.data()) == 1;
}
}  // namespace

bool matches_peer_name(const CertFacts& c, std::string_view name, bool name_is_ip) {
  if (name_is_ip) {
    std::array<unsigned char, 17> want, have;
    if (!ip_bytes(name, want)) return false;
    return std::any_of(c.san_ip.begin(), c.san_ip.end(),
                       [&](const std::string& ip) { return ip_bytes(ip, have) && have == want; });
  }
  // RFC 5922 7.1: the host part of each "sip:" URI SAN without a user part is
  // an identity, compared whole and case-insensitively (7.2, no wildcards).
  bool have_sip_identity = false;
  for (const auto& u : c.san_uri) {
    if (auto host = sip_domain_identity(u)) {
      if (iequals(*host, name)) return true;
      have_sip_identity = true;
    }
  }
  // 7.1: a DNS SAN counts if and only if no sip URI identity was found.
  if (have_sip_identity) return false;
  for (const auto& d : c.san_dns)
    if (dns_match(d, name)) return true;
  if (!c.has_san()) return iequals(c.subject_cn, name);
  return false;
}

}  // namespace turnpike::control
