// Certificate facts: what turnpike's policy needs to know about one X.509
// certificate, extracted once (wolfSSL does the DER parsing) and then cached.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::control {

using Fingerprint = std::array<uint8_t, 32>;  // SHA-256 of the DER encoding

// Extended key usage bits (RFC 5280 4.2.1.12).
enum EkuBit : uint8_t {
  kEkuServerAuth = 1u << 0,
  kEkuClientAuth = 1u << 1,
  kEkuAny = 1u << 2,     // anyExtendedKeyUsage 2.5.29.37.0
  kEkuOther = 1u << 3,   // any other purpose (codeSigning, emailProtection, ...)
};

// keyUsage bits as in RFC 5280 4.2.1.3, bit 0 = digitalSignature.
enum KeyUsageBit : uint16_t {
  kKuDigitalSignature = 1u << 0,
  kKuNonRepudiation = 1u << 1,
  kKuKeyEncipherment = 1u << 2,
  kKuDataEncipherment = 1u << 3,
  kKuKeyAgreement = 1u << 4,
  kKuKeyCertSign = 1u << 5,
  kKuCrlSign = 1u << 6,
  kKuEncipherOnly = 1u << 7,
  kKuDecipherOnly = 1u << 8,
};

enum class KeyType : uint8_t { Unknown, Rsa, Ecdsa, Ed25519 };

struct CertFacts {
  Fingerprint sha256{};
  bool eku_present = false;  // false: no EKU extension (unrestricted)
  uint8_t eku = 0;           // EkuBit mask, meaningful when eku_present
  std::vector<std::string> eku_oids;  // dotted OIDs as listed in the extension
  bool ku_present = false;
  uint16_t key_usage = 0;  // KeyUsageBit mask, meaningful when ku_present
  bool is_ca = false;
  int64_t not_before = 0;  // Unix seconds (UTC)
  int64_t not_after = 0;
  std::string subject;  // one-line, e.g. "CN=a.test, O=x"
  std::string issuer;
  std::string subject_cn;
  std::vector<std::string> san_dns;
  std::vector<std::string> san_uri;
  std::vector<std::string> san_ip;  // textual (198.18.0.1, 2001:db8::1)
  std::string serial_hex;           // upper-case hex, no separators
  KeyType key_type = KeyType::Unknown;
  int key_bits = 0;  // RSA modulus bits, EC curve bits, 256 for Ed25519
  bool self_signed = false;  // subject == issuer

  bool has_san() const { return !san_dns.empty() || !san_uri.empty() || !san_ip.empty(); }
};

// Either a value or a human-readable error.
template <class T>
struct Result {
  std::optional<T> value;
  std::string error;
  bool ok() const { return value.has_value(); }
  explicit operator bool() const { return ok(); }
  const T& operator*() const { return *value; }
  T& operator*() { return *value; }
  const T* operator->() const { return &*value; }
  static Result fail(std::string e) { return Result{std::nullopt, std::move(e)}; }
};

// Parses one DER certificate. Does not check signatures or dates.
Result<CertFacts> extract_facts(std::span<const uint8_t> der);

Fingerprint sha256(std::span<const uint8_t> data);
std::string to_hex(std::span<const uint8_t> bytes, char sep = 0);
std::string fingerprint_hex(const Fingerprint& fp);  // "AB:CD:..."

// PEM helpers. A PEM bundle may hold several certificates (leaf first).
using Der = std::vector<uint8_t>;
Result<std::vector<Der>> pem_certs_to_der(std::string_view pem);
std::string der_cert_to_pem(std::span<const uint8_t> der);

// Private key loaded from PEM (optionally encrypted) to unencrypted DER.
struct PrivateKey {
  Der der;  // PKCS#8 or traditional DER as wolfSSL decoded it
  KeyType type = KeyType::Unknown;
};
enum class KeyError { None, Malformed, Encrypted, BadPassphrase, Unsupported };
struct KeyLoad {
  std::optional<PrivateKey> key;
  KeyError error = KeyError::None;
  std::string message;
};
KeyLoad load_private_key(std::string_view pem, std::string_view passphrase = {});

// True when the private key belongs to the certificate (public keys equal).
bool key_matches_cert(const PrivateKey& key, std::span<const uint8_t> cert_der);

// Formats Unix seconds as "YYYY-MM-DD HH:MM:SS" UTC.
std::string format_utc(int64_t unix_seconds);

}  // namespace turnpike::control
