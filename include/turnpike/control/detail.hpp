// The words of an event's Detail field ("unsupported certificate purpose",
// "certificate has expired", ...) and the chain verdict they name. Below
// both the trust store (certs library), which maps wolfSSL's errors to
// them, and the policy, which decides with them: header-only.
#pragma once
#include <cstdint>
#include <string_view>

namespace turnpike::control {

inline constexpr std::string_view kDetailPurpose = "unsupported certificate purpose";
inline constexpr std::string_view kDetailExpired = "certificate has expired";
inline constexpr std::string_view kDetailNotYetValid = "certificate is not yet valid";
inline constexpr std::string_view kDetailUnknownIssuer = "unable to get local issuer certificate";
inline constexpr std::string_view kDetailRevoked = "certificate revoked";
inline constexpr std::string_view kDetailBadSignature = "certificate signature failure";
inline constexpr std::string_view kDetailHostname = "hostname mismatch";
inline constexpr std::string_view kDetailInvalidCa = "invalid CA certificate";
inline constexpr std::string_view kDetailHandshakeTimeout = "handshake timeout";
inline constexpr std::string_view kDetailNoSharedCipher = "no shared cipher";
inline constexpr std::string_view kDetailNoPeerCertificate = "peer did not return a certificate";
inline constexpr std::string_view kDetailSelfSigned = "self-signed certificate";
inline constexpr std::string_view kDetailVerifyFailed = "certificate verify failed";

// Outcome of chain verification, as stored in the verdict cache.
enum class ChainStatus : uint8_t { Ok, Expired, NotYetValid, UnknownIssuer, Revoked, BadSignature, Other, InvalidCa };
constexpr std::string_view chain_detail(ChainStatus s) {
  switch (s) {
    case ChainStatus::Ok: return {};
    case ChainStatus::Expired: return kDetailExpired;
    case ChainStatus::NotYetValid: return kDetailNotYetValid;
    case ChainStatus::UnknownIssuer: return kDetailUnknownIssuer;
    case ChainStatus::Revoked: return kDetailRevoked;
    case ChainStatus::BadSignature: return kDetailBadSignature;
    case ChainStatus::InvalidCa: return kDetailInvalidCa;
    case ChainStatus::Other: break;
  }
  return kDetailVerifyFailed;
}

}  // namespace turnpike::control
