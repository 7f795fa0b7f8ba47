#include "turnpike/control/trust.hpp"

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <algorithm>
#include <climits>
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

namespace {
int verify_in(WOLFSSL_CERT_MANAGER* m, std::span<const uint8_t> d) {
  int rc = wolfSSL_CertManagerVerifyBuffer(m, d.data(), static_cast<long>(d.size()), WOLFSSL_FILETYPE_ASN1);
  // wolfSSL checks CRLs only after the signature verified; no CRL for this
  // issuer means "not known to be revoked" (CRLs are optional per CA).
  return rc == CRL_MISSING ? WOLFSSL_SUCCESS : rc;
}

struct CmGuard {
  WOLFSSL_CERT_MANAGER* cm = nullptr;
  ~CmGuard() {
    if (cm) wolfSSL_CertManagerFree(cm);
  }
};

// A presented certificate other than the leaf.
struct Cand {
  size_t idx;     // position in the presented list
  CertFacts f;
  bool signer;    // RFC 5280 6.1.4 (k), (n): cA and, with keyUsage, keyCertSign
  int rc;         // ASN_NO_SIGNER_E while unresolved; else its own verification
  bool under_anchor = false;  // verified directly against an anchor
};
// Verified, but the path manager refused it as a signer (e.g. a key size
// wolfSSL does not accept): not a wolfSSL code, never retried.
constexpr int kUnusable = INT_MIN;
}  // namespace

ChainResult TrustStore::verify(std::span<const uint8_t> leaf, std::span<const Der> presented) const {
  ChainResult r;
  auto done = [&r](int rc) {
    if (rc == WOLFSSL_SUCCESS) {
      r.status = ChainStatus::Ok;
      r.detail.clear();
      return r;
    }
    r.status = map_error(rc);
    r.detail = std::string(chain_detail(r.status)) + " (" + wc_GetErrorString(rc) + ")";
    return r;
  };
  // Directly under an anchor (or failing under one): one lookup.
  int rc = verify_in(cm_->cm, leaf);
  if (rc != ASN_NO_SIGNER_E || presented.empty()) return done(rc);
  auto leaf_facts = extract_facts(leaf);
  if (!leaf_facts) return done(rc);

  // RFC 8446 4.4.2: after the leaf, certificates may come in any order and
  // may include ones not needed for the path (duplicates, other
  // hierarchies); they are ignored rather than refused. Copies of the leaf
  // and of each other are dropped; unparseable extras are ignored.
  const Fingerprint leaf_fp = sha256(leaf);
  std::vector<Cand> cands;
  std::vector<Fingerprint> seen{leaf_fp};
  for (size_t i = 0; i < presented.size(); ++i) {
    Fingerprint fp = sha256(presented[i]);
    if (std::find(seen.begin(), seen.end(), fp) != seen.end()) continue;
    seen.push_back(fp);
    auto f = extract_facts(presented[i]);
    if (!f) continue;
    const bool signer = f->is_ca && (!f->ku_present || (f->key_usage & kKuKeyCertSign));
    cands.push_back({i, std::move(*f), signer, ASN_NO_SIGNER_E});
  }

  // Top-down to a fixed point, whatever the order: a presented CA is
  // trusted only once it verifies against an anchor or a CA verified
  // before it; then it goes into a small per-call manager (the anchors
  // stay in the shared one and are not copied), followed by the CRLs it
  // issued (their signatures checked against it). A CA whose signer is
  // known but which fails itself (expired, revoked, bad signature) keeps
  // its error; it matters only if it lies on the leaf's path.
  CmGuard path;
  std::vector<bool> crl_loaded(cm_->deferred_crls.size(), false);
  bool loaded = false;
  for (bool changed = true; changed;) {
    changed = false;
    for (Cand& c : cands) {
      if (!c.signer || c.rc != ASN_NO_SIGNER_E) continue;
      int crc = verify_in(cm_->cm, presented[c.idx]);
      const bool anchor = crc != ASN_NO_SIGNER_E;
      if (!anchor && loaded) crc = verify_in(path.cm, presented[c.idx]);
      if (crc == ASN_NO_SIGNER_E) continue;
      c.rc = crc;
      c.under_anchor = anchor;
      changed = true;
      if (crc != WOLFSSL_SUCCESS) continue;
      if (!path.cm) {
        path.cm = wolfSSL_CertManagerNew();
        if (!path.cm) return done(MEMORY_E);
        if (!cm_->deferred_crls.empty()) wolfSSL_CertManagerEnableCRL(path.cm, 0);
      }
      const Der& d = presented[c.idx];
      if (wolfSSL_CertManagerLoadCABuffer(path.cm, d.data(), static_cast<long>(d.size()), WOLFSSL_FILETYPE_ASN1) !=
          WOLFSSL_SUCCESS) {
        c.rc = kUnusable;
        continue;
      }
      loaded = true;
      // CRLs issued by intermediates: one that does not verify is ignored.
      for (size_t k = 0; k < crl_loaded.size(); ++k) {
        if (crl_loaded[k]) continue;
        const auto& crl = cm_->deferred_crls[k];
        crl_loaded[k] = wolfSSL_CertManagerLoadCRLBuffer(path.cm, reinterpret_cast<const unsigned char*>(crl.data.data()),
                                                         static_cast<long>(crl.data.size()), crl.type) == WOLFSSL_SUCCESS;
      }
    }
  }
  if (loaded) rc = verify_in(path.cm, leaf);

  // The issuer of `child` among the presented CAs with the given outcome,
  // by name; when several share the name, the one whose key verifies the
  // child's signature.
  auto issuer_of = [&](std::span<const uint8_t> child, const CertFacts& cf, bool want_ok) -> const Cand* {
    std::vector<const Cand*> named;
    for (const Cand& c : cands)
      if (c.signer && c.f.subject == cf.issuer && (c.rc == WOLFSSL_SUCCESS) == want_ok && c.rc != ASN_NO_SIGNER_E &&
          &c.f != &cf)
        named.push_back(&c);
    if (named.size() <= 1) return named.empty() ? nullptr : named[0];
    for (const Cand* c : named) {
      CmGuard one;
      one.cm = wolfSSL_CertManagerNew();
      if (!one.cm) break;
      const Der& d = presented[c->idx];
      if (wolfSSL_CertManagerLoadCABuffer(one.cm, d.data(), static_cast<long>(d.size()), WOLFSSL_FILETYPE_ASN1) !=
          WOLFSSL_SUCCESS)
        continue;
      const int x = wolfSSL_CertManagerVerifyBuffer(one.cm, child.data(), static_cast<long>(child.size()),
                                                    WOLFSSL_FILETYPE_ASN1);
      if (x != ASN_NO_SIGNER_E && x != ASN_SIG_CONFIRM_E) return c;
    }
    return named[0];
  };
  // Walks up from the leaf through verified CAs until one whose signer is
  // an anchor; records the path for the CA EKU rule (applied to these only).
  auto walk = [&](const Cand* c) {
    for (size_t guard = 0; c && guard < cands.size(); ++guard) {
      r.path.push_back(c->idx);
      if (c->under_anchor) break;
      c = issuer_of(presented[c->idx], c->f, true);
    }
  };

  if (rc != ASN_NO_SIGNER_E) {
    walk(issuer_of(leaf, *leaf_facts, true));
    return done(rc);
  }
  // No path to an anchor. If the leaf's issuer was presented but fails
  // itself, its error is the reason (OpenSSL reports the same); a CA that
  // may not sign certificates is an invalid CA; otherwise the issuer is
  // unknown.
  if (const Cand* bad = issuer_of(leaf, *leaf_facts, false)) {
    r.path.push_back(bad->idx);
    return done(bad->rc == kUnusable ? ASN_NO_SIGNER_E : bad->rc);
  }
  for (const Cand& c : cands)
    if (!c.signer && c.f.is_ca && c.f.subject == leaf_facts->issuer) {
      r.path.push_back(c.idx);
      r.status = ChainStatus::InvalidCa;
      r.detail = std::string(chain_detail(r.status));
      return r;
    }
  return done(ASN_NO_SIGNER_E);
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
