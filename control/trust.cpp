#include "turnpike/control/trust.hpp"

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <mutex>

namespace turnpike::control {

void ensure_wolfssl() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

struct TrustStore::CM {
  struct Crl {
    std::string data;
    int type;
  };
  WOLFSSL_CERT_MANAGER* cm = nullptr;
  std::vector<Crl> deferred_crls;  // issuer not an anchor (intermediate CA)
  ~CM() {
    if (cm) wolfSSL_CertManagerFree(cm);
  }
};

TrustStore::TrustStore() : cm_(std::make_unique<CM>()) {
  ensure_wolfssl();
  cm_->cm = wolfSSL_CertManagerNew();
}
TrustStore::~TrustStore() = default;
TrustStore::TrustStore(TrustStore&&) noexcept = default;
TrustStore& TrustStore::operator=(TrustStore&&) noexcept = default;

std::string TrustStore::add_ca_bundle(std::string_view pem) {
  auto ders = pem_certs_to_der(pem);
  if (!ders) return ders.error;
  for (const Der& d : *ders) {
    auto f = extract_facts(d);
    if (!f) return f.error;
    // RFC 5280 4.2.1.9: only CA certificates may be trust anchors here.
    if (!f->is_ca) return "not a CA certificate: " + f->subject;
    int rc = wolfSSL_CertManagerLoadCABuffer(cm_->cm, d.data(), static_cast<long>(d.size()), WOLFSSL_FILETYPE_ASN1);
    if (rc != WOLFSSL_SUCCESS)
      return "CA certificate " + f->subject + " not accepted: " + wc_GetErrorString(rc);
    ++ca_count_;
  }
  return {};
}

namespace {
// Syntax check of a CRL without its issuer (RFC 5280 5.1), via wolfSSL's
// parser with signature verification off.
bool crl_parses(std::string_view data, bool pem) {
  DerBuffer* der = nullptr;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
  int len = static_cast<int>(data.size());
  if (pem) {
    if (wc_PemToDer(p, static_cast<long>(data.size()), CRL_TYPE, &der, nullptr, nullptr, nullptr) != 0) {
      if (der) wc_FreeDer(&der);  // wolfSSL may allocate before failing
      return false;
    }
    p = der->buffer;
    len = static_cast<int>(der->length);
  }
  WOLFSSL_X509_CRL* crl = wolfSSL_d2i_X509_CRL(nullptr, p, len);
  bool ok = crl != nullptr;
  if (crl) wolfSSL_X509_CRL_free(crl);
  if (der) wc_FreeDer(&der);
  return ok;
}
}  // namespace

std::string TrustStore::add_crl(std::string_view data) {
  bool pem = data.find("-----BEGIN X509 CRL-----") != std::string_view::npos;
  int type = pem ? WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
  if (!crl_parses(data, pem)) return "malformed CRL";
  if (crl_count_ == 0) wolfSSL_CertManagerEnableCRL(cm_->cm, 0);
  int rc = wolfSSL_CertManagerLoadCRLBuffer(cm_->cm, reinterpret_cast<const unsigned char*>(data.data()),
                                            static_cast<long>(data.size()), type);
  if (rc == ASN_CRL_NO_SIGNER_E) {
    // Issued by an intermediate: kept and loaded (and signature-checked) in
    // the per-call manager once that intermediate has verified.
    cm_->deferred_crls.push_back({std::string(data), type});
  } else if (rc != WOLFSSL_SUCCESS) {
    return std::string("CRL not accepted: ") + wc_GetErrorString(rc);
  } else {
  }
  ++crl_count_;
  return {};
}

namespace {
ChainStatus map_error(int rc) {
  switch (rc) {
    case ASN_AFTER_DATE_E: return ChainStatus::Expired;
    case ASN_BEFORE_DATE_E: return ChainStatus::NotYetValid;
    case ASN_NO_SIGNER_E: return ChainStatus::UnknownIssuer;
    case CRL_CERT_REVOKED: return ChainStatus::Revoked;
    case ASN_SIG_CONFIRM_E: return ChainStatus::BadSignature;
    default: return ChainStatus::Other;
  }
}
}  // namespace

ChainResult TrustStore::verify(std::span<const uint8_t> leaf, std::span<const Der> intermediates) const {
  auto verify_in = [](WOLFSSL_CERT_MANAGER* m, std::span<const uint8_t> d) {
    int rc = wolfSSL_CertManagerVerifyBuffer(m, d.data(), static_cast<long>(d.size()), WOLFSSL_FILETYPE_ASN1);
    // wolfSSL checks CRLs only after the signature verified; no CRL for this
    // issuer means "not known to be revoked" (CRLs are optional per CA).
    return rc == CRL_MISSING ? WOLFSSL_SUCCESS : rc;
  };
  // Directly under an anchor (or no usable intermediates): one lookup.
  int rc = verify_in(cm_->cm, leaf);
  if (rc == ASN_NO_SIGNER_E && !intermediates.empty()) {
    // RFC 5280 6.1: build the path top-down. Each presented intermediate must
    // verify against an anchor or an intermediate verified before it; only
    // then is it loaded, into a small per-call manager (the anchors stay in
    // the shared one and are not copied).
    WOLFSSL_CERT_MANAGER* path = wolfSSL_CertManagerNew();
    bool loaded = false;
    for (size_t i = intermediates.size(); i-- > 0;) {
      std::span<const uint8_t> d = intermediates[i];
      // RFC 5280 6.1.4 (k), (n): only a CA (basicConstraints cA, keyCertSign
      // if keyUsage is present) may sign the next certificate. wolfSSL's
      // CertManager would accept an end-entity certificate as a signer.
      auto f = extract_facts(d);
      if (!f || !f->is_ca || (f->ku_present && !(f->key_usage & kKuKeyCertSign))) continue;
      int irc = verify_in(cm_->cm, d);
      if (irc == ASN_NO_SIGNER_E && loaded) irc = verify_in(path, d);
      if (irc == WOLFSSL_SUCCESS) {
        loaded |= wolfSSL_CertManagerLoadCABuffer(path, d.data(), static_cast<long>(d.size()),
                                                  WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
      } else if (irc != ASN_NO_SIGNER_E) {
        rc = irc;  // an intermediate of our hierarchy is expired, revoked, ...
        loaded = false;
        break;
      }
    }
    if (loaded) {
      // CRLs issued by intermediates: their signatures are checked now,
      // against the verified intermediates; one that does not verify is ignored.
      if (!cm_->deferred_crls.empty()) wolfSSL_CertManagerEnableCRL(path, 0);
      for (const auto& c : cm_->deferred_crls)
        wolfSSL_CertManagerLoadCRLBuffer(path, reinterpret_cast<const unsigned char*>(c.data.data()),
                                         static_cast<long>(c.data.size()), c.type);
      rc = verify_in(path, leaf);
    }
    wolfSSL_CertManagerFree(path);
  }
  ChainResult r;
  if (rc == WOLFSSL_SUCCESS) {
    r.status = ChainStatus::Ok;
    return r;
  }
  r.status = map_error(rc);
  r.detail = std::string(chain_detail(r.status)) + " (" + wc_GetErrorString(rc) + ")";
  return r;
}

std::string_view tls_error_detail(int e) {
  switch (e) {
    case ASN_AFTER_DATE_E: return kDetailExpired;
    case ASN_BEFORE_DATE_E: return kDetailNotYetValid;
    case ASN_NO_SIGNER_E: return kDetailUnknownIssuer;
    case ASN_SELF_SIGNED_E: return kDetailSelfSigned;
    case CRL_CERT_REVOKED: return kDetailRevoked;
    case ASN_SIG_CONFIRM_E:
    case SIG_VERIFY_E: return kDetailBadSignature;
    case EXTKEYUSE_AUTH_E:
    case KEYUSE_SIGNATURE_E:
    case KEYUSE_ENCIPHER_E: return kDetailPurpose;
    case DOMAIN_NAME_MISMATCH:
    case IPADDR_MISMATCH: return kDetailHostname;
    case MATCH_SUITE_ERROR: return kDetailNoSharedCipher;
    case NO_PEER_CERT: return kDetailNoPeerCertificate;
    case ASN_PATHLEN_INV_E:
    case ASN_PATHLEN_SIZE_E: return kDetailInvalidCa;
    case VERIFY_CERT_ERROR:
    case CRL_MISSING:
    case CRL_CERT_DATE_ERR: return kDetailVerifyFailed;
    default: break;
  }
  return wolfSSL_ERR_reason_error_string(static_cast<unsigned long>(e));
}

std::string private_key_to_pem(const PrivateKey& k) {
  // PKCS#8 has an AlgorithmIdentifier SEQUENCE after the version INTEGER;
  // traditional RSA/EC keys have an INTEGER / OCTET STRING there.
  int type = PKCS8_PRIVATEKEY_TYPE;
  const Der& d = k.der;
  size_t i = 1;
  if (d.size() > 4 && d[0] == 0x30) {
    if (d[i] & 0x80) i += 1 + (d[i] & 0x7f);
    else i += 1;
    // version INTEGER
    if (i + 2 < d.size() && d[i] == 0x02) {
      size_t after = i + 2 + d[i + 1];
      bool pkcs8 = after < d.size() && d[after] == 0x30;
      if (!pkcs8) type = k.type == KeyType::Rsa ? PRIVATEKEY_TYPE : k.type == KeyType::Ecdsa ? ECC_PRIVATEKEY_TYPE
                                                                                             : EDDSA_PRIVATEKEY_TYPE;
    }
  }
  std::string pem(d.size() * 2 + 128, '\0');
  int n = wc_DerToPem(d.data(), static_cast<word32>(d.size()), reinterpret_cast<byte*>(pem.data()),
                      static_cast<word32>(pem.size()), type);
  if (n <= 0) return {};
  pem.resize(static_cast<size_t>(n));
  return pem;
}

}  // namespace turnpike::control
