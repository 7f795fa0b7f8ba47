// Trust store: CA bundle + CRLs in a wolfSSL CertManager. Verifies a leaf
// with the intermediates the peer (or uploader) supplied; intermediates are
// never trusted by themselves, only after they verify up to a bundled CA.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/detail.hpp"

namespace turnpike::control {

struct ChainResult {
  ChainStatus status = ChainStatus::Other;
  std::string detail;  // OpenSSL-style text (chain_detail) plus wolfSSL's code
  // Positions in `presented` of the CA certificates on the leaf's path,
  // leaf's issuer first, up to the one an anchor signed (the anchor comes
  // from the store, never from the peer). On a failure: the path as far as
  // it goes (e.g. the expired intermediate). Empty when the leaf is
  // directly under an anchor or its issuer was not presented.
  std::vector<size_t> path;
};

class TrustStore {
 public:
  TrustStore();
  ~TrustStore();
  TrustStore(TrustStore&&) noexcept;
  TrustStore& operator=(TrustStore&&) noexcept;

  // Adds every certificate of a PEM bundle as a trust anchor.
  // Returns an error text (empty on success).
  std::string add_ca_bundle(std::string_view pem);
  // Adds one CRL (PEM or DER). Its issuer must already be a trusted CA.
  std::string add_crl(std::string_view pem_or_der);

  // RFC 5280 6.1 path validation as wolfSSL implements it (signatures,
  // validity, CRL status); EKU/keyUsage are turnpike's policy, not checked here.
  // `presented`: the other certificates the peer sent, in any order; the
  // path is built from them (RFC 8446 4.4.2): duplicates, copies of the
  // leaf and certificates of other hierarchies are ignored. The verdict is
  // the path's: an error of a certificate off the path does not count.
  ChainResult verify(std::span<const uint8_t> leaf, std::span<const Der> presented) const;

  size_t ca_count() const { return ca_count_; }
  size_t crl_count() const { return crl_count_; }

 private:
  struct CM;
  std::unique_ptr<CM> cm_;
  size_t ca_count_ = 0;
  size_t crl_count_ = 0;
};

// One place that turns a wolfSSL error code (wolfSSL_get_error or a
// certificate error seen in the verify callback) into the event's Detail
// text, OpenSSL wording; unknown codes give "certificate verify failed" for
// certificate errors and wolfSSL's own string otherwise.
std::string_view tls_error_detail(int wolfssl_error);

// Ensures wolfSSL_Init() ran once in this process.
void ensure_wolfssl();

// Private key DER back to PEM (for storing a decrypted upload).
std::string private_key_to_pem(const PrivateKey& k);

}  // namespace turnpike::control
