// Certificate facts extraction on top of wolfSSL's DER parser.
#include "turnpike/control/certs.hpp"

#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <memory>

namespace turnpike::control {
namespace {

// RAII for DecodedCert.
struct Decoded {
  DecodedCert cert;
  explicit Decoded(std::span<const uint8_t> der) {
    InitDecodedCert(&cert, der.data(), static_cast<word32>(der.size()), nullptr);
  }
  ~Decoded() { FreeDecodedCert(&cert); }
  Decoded(const Decoded&) = delete;
  Decoded& operator=(const Decoded&) = delete;
};

// Reads one DER length at p (short or long form). Returns false if malformed.
bool der_len(const uint8_t*& p, const uint8_t* end, size_t& len) {
  if (p >= end) return false;
  uint8_t b = *p++;
  if (b < 0x80) {
    len = b;
  } else {
    int n = b & 0x7f;
    if (n == 0 || n > 4 || end - p < n) return false;
    len = 0;
    while (n--) len = (len << 8) | *p++;
  }
  return static_cast<size_t>(end - p) >= len;
}

std::string oid_to_dotted(const uint8_t* p, size_t n) {
  if (n == 0) return {};
  std::string s = std::to_string(p[0] / 40) + "." + std::to_string(p[0] % 40);
  uint64_t v = 0;
  for (size_t i = 1; i < n; ++i) {
    v = (v << 7) | (p[i] & 0x7f);
    if (!(p[i] & 0x80)) {
      s += "." + std::to_string(v);
      v = 0;
    }
  }
  return s;
}

// RFC 5280 4.2.1.12: ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId.
// wolfSSL keeps a pointer to the raw extension value; we classify every OID
// ourselves so that unknown purposes are visible ("other").
void classify_eku(const uint8_t* src, size_t sz, CertFacts& f) {
  const uint8_t* p = src;
  const uint8_t* end = src + sz;
  if (p < end && *p == 0x30) {  // outer SEQUENCE present: step inside
    ++p;
    size_t len;
    if (!der_len(p, end, len)) return;
    end = p + len;
  }
  while (p < end && *p == 0x06) {
    ++p;
    size_t len;
    if (!der_len(p, end, len)) return;
    std::string oid = oid_to_dotted(p, len);
    p += len;
    if (oid == "1.3.6.1.5.5.7.3.1") f.eku |= kEkuServerAuth;
    else if (oid == "1.3.6.1.5.5.7.3.2") f.eku |= kEkuClientAuth;
    else if (oid == "2.5.29.37.0") f.eku |= kEkuAny;
    else f.eku |= kEkuOther;
    f.eku_oids.push_back(std::move(oid));
  }
}

uint16_t map_key_usage(word16 w) {
  uint16_t k = 0;
  if (w & KEYUSE_DIGITAL_SIG) k |= kKuDigitalSignature;
  if (w & KEYUSE_CONTENT_COMMIT) k |= kKuNonRepudiation;
  if (w & KEYUSE_KEY_ENCIPHER) k |= kKuKeyEncipherment;
  if (w & KEYUSE_DATA_ENCIPHER) k |= kKuDataEncipherment;
  if (w & KEYUSE_KEY_AGREE) k |= kKuKeyAgreement;
  if (w & KEYUSE_KEY_CERT_SIGN) k |= kKuKeyCertSign;
  if (w & KEYUSE_CRL_SIGN) k |= kKuCrlSign;
  if (w & KEYUSE_ENCIPHER_ONLY) k |= kKuEncipherOnly;
  if (w & KEYUSE_DECIPHER_ONLY) k |= kKuDecipherOnly;
  return k;
}

bool parse_date(const byte* raw, int raw_len, int64_t& out) {
  const byte* d = nullptr;
  byte fmt = 0;
  int len = 0;
  if (raw == nullptr || wc_GetDateInfo(raw, raw_len, &d, &fmt, &len) != 0) return false;
  struct tm tm {};
  if (wc_GetDateAsCalendarTime(d, len, fmt, &tm) != 0) return false;
  out = static_cast<int64_t>(timegm(&tm));
  return true;
}

// wolfSSL renders names as "/C=US/O=x/CN=y"; turn that into "C=US, O=x, CN=y".
std::string one_line_name(const char* s) {
  std::string out;
  std::string_view v(s);
  size_t i = 0;
  while (i < v.size()) {
    if (v[i] == '/' && i + 1 < v.size() && v.find('=', i) != std::string_view::npos) {
      size_t next = v.find('=', i + 1);
      size_t slash = v.find('/', i + 1);
      // A '/' starts a new RDN only when "key=" follows before the next '/'.
      if (next != std::string_view::npos && (slash == std::string_view::npos || next < slash)) {
        if (!out.empty()) out += ", ";
        ++i;
        continue;
      }
    }
    out += v[i++];
  }
  return out;
}

std::string ip_text(const char* raw, int len) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (len == 4) inet_ntop(AF_INET, raw, buf, sizeof buf);
  else if (len == 16) inet_ntop(AF_INET6, raw, buf, sizeof buf);
  else return {};
  return buf;
}

// wolfSSL (built without WOLFSSL_IP_ALT_NAME) drops iPAddress names, so read
// them from the subjectAltName extension ourselves (RFC 5280 4.2.1.6:
// GeneralName [7] OCTET STRING of 4 or 16 bytes).
void san_ips(std::span<const uint8_t> der, std::vector<std::string>& out) {
  static constexpr uint8_t kSanOid[] = {0x06, 0x03, 0x55, 0x1d, 0x11};
  auto it = std::search(der.begin(), der.end(), std::begin(kSanOid), std::end(kSanOid));
  if (it == der.end()) return;
  const uint8_t* p = &*it + sizeof kSanOid;
  const uint8_t* end = der.data() + der.size();
  size_t len = 0;
  if (p < end && *p == 0x01) {  // critical BOOLEAN
    ++p;
    if (!der_len(p, end, len)) return;
    p += len;
  }
  if (p >= end || *p++ != 0x04 || !der_len(p, end, len)) return;  // extnValue OCTET STRING
  end = p + len;
  if (p >= end || *p++ != 0x30 || !der_len(p, end, len)) return;  // GeneralNames
  end = p + len;
  while (p < end) {
    uint8_t tag = *p++;
    if (!der_len(p, end, len)) return;
    if (tag == 0x87) out.push_back(ip_text(reinterpret_cast<const char*>(p), static_cast<int>(len)));
    p += len;
  }
}

}  // namespace

Fingerprint sha256(std::span<const uint8_t> data) {
  Fingerprint fp{};
  wc_Sha256Hash(data.data(), static_cast<word32>(data.size()), fp.data());
  return fp;
}

std::string to_hex(std::span<const uint8_t> bytes, char sep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s;
  s.reserve(bytes.size() * 3);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (sep && i) s += sep;
    s += kHex[bytes[i] >> 4];
    s += kHex[bytes[i] & 15];
  }
  return s;
}

std::string fingerprint_hex(const Fingerprint& fp) { return to_hex(fp, ':'); }

std::string format_utc(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Result<CertFacts> extract_facts(std::span<const uint8_t> der) {
  using R = Result<CertFacts>;
  if (der.empty()) return R::fail("empty certificate");
  Decoded d(der);
  DecodedCert& c = d.cert;
  int rc = ParseCert(&c, CERT_TYPE, NO_VERIFY, nullptr);
  if (rc != 0) return R::fail(std::string("malformed certificate: ") + wc_GetErrorString(rc));

  CertFacts f;
  f.sha256 = sha256(der);
  f.is_ca = c.isCA;
  f.eku_present = c.extExtKeyUsageSet;
  if (f.eku_present && c.extExtKeyUsageSrc != nullptr)
    classify_eku(c.extExtKeyUsageSrc, c.extExtKeyUsageSz, f);
  f.ku_present = c.extKeyUsageSet;
  if (f.ku_present) f.key_usage = map_key_usage(c.extKeyUsage);
  if (!parse_date(c.beforeDate, c.beforeDateLen, f.not_before) ||
      !parse_date(c.afterDate, c.afterDateLen, f.not_after))
    return R::fail("malformed certificate: bad validity dates");
  f.subject = one_line_name(c.subject);
  f.issuer = one_line_name(c.issuer);
  f.self_signed = std::strcmp(c.subject, c.issuer) == 0;
  if (c.subjectCN != nullptr && c.subjectCNLen > 0) f.subject_cn.assign(c.subjectCN, c.subjectCNLen);
  for (DNS_entry* e = c.altNames; e != nullptr; e = e->next) {
    std::string v(e->name, e->len);
    if (e->type == ASN_DNS_TYPE) f.san_dns.push_back(std::move(v));
    else if (e->type == ASN_URI_TYPE) f.san_uri.push_back(std::move(v));
  }
  san_ips(der, f.san_ip);
  f.serial_hex = to_hex({c.serial, static_cast<size_t>(c.serialSz)});

  switch (c.keyOID) {
    case RSAk: {
      f.key_type = KeyType::Rsa;
      RsaKey key;
      if (wc_InitRsaKey(&key, nullptr) == 0) {
        word32 idx = 0;
        if (wc_RsaPublicKeyDecode(c.publicKey, &idx, &key, c.pubKeySize) == 0)
          f.key_bits = wc_RsaEncryptSize(&key) * 8;
        wc_FreeRsaKey(&key);
      }
      break;
    }
    case ECDSAk:
      f.key_type = KeyType::Ecdsa;
      if (c.pkCurveOID == ECC_SECP256R1_OID) f.key_bits = 256;
      else if (c.pkCurveOID == ECC_SECP384R1_OID) f.key_bits = 384;
      else if (c.pkCurveOID == ECC_SECP521R1_OID) f.key_bits = 521;
      break;
    case ED25519k:
      f.key_type = KeyType::Ed25519;
      f.key_bits = 256;
      break;
    default:
      break;
  }
  return R{std::move(f), {}};
}

Result<std::vector<Der>> pem_certs_to_der(std::string_view pem) {
  using R = Result<std::vector<Der>>;
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::vector<Der> out;
  size_t pos = 0;
  while ((pos = pem.find(kBegin, pos)) != std::string_view::npos) {
    size_t end = pem.find(kEnd, pos);
    if (end == std::string_view::npos) return R::fail("malformed PEM: missing END CERTIFICATE");
    end += kEnd.size();
    std::string_view block = pem.substr(pos, end - pos);
    Der der(block.size());
    int n = wc_CertPemToDer(reinterpret_cast<const unsigned char*>(block.data()),
                            static_cast<int>(block.size()), der.data(),
                            static_cast<int>(der.size()), CERT_TYPE);
    if (n <= 0) return R::fail("malformed PEM: certificate block does not decode");
    der.resize(static_cast<size_t>(n));
    out.push_back(std::move(der));
    pos = end;
  }
  if (out.empty()) return R::fail("malformed PEM: no certificate found");
  return R{std::move(out), {}};
}

std::string der_cert_to_pem(std::span<const uint8_t> der) {
  std::string pem(der.size() * 2 + 128, '\0');
  int n = wc_DerToPem(der.data(), static_cast<word32>(der.size()),
                      reinterpret_cast<byte*>(pem.data()), static_cast<word32>(pem.size()),
                      CERT_TYPE);
  if (n <= 0) return {};
  pem.resize(static_cast<size_t>(n));
  return pem;
}

KeyLoad load_private_key(std::string_view pem, std::string_view passphrase) {
  KeyLoad r;
  if (pem.find("-----BEGIN") == std::string_view::npos || pem.find("PRIVATE KEY-----") == std::string_view::npos) {
    r.error = KeyError::Malformed;
    r.message = "malformed PEM: no private key found";
    return r;
  }
  bool encrypted = pem.find("ENCRYPTED") != std::string_view::npos;
  if (encrypted && passphrase.empty()) {
    r.error = KeyError::Encrypted;
    r.message = "the private key is encrypted: a passphrase is required";
    return r;
  }
  std::string pass(passphrase);
  Der der(pem.size());
  int n = wc_KeyPemToDer(reinterpret_cast<const unsigned char*>(pem.data()), static_cast<int>(pem.size()),
                         der.data(), static_cast<int>(der.size()), encrypted ? pass.c_str() : nullptr);
  if (n <= 0) {
    r.error = encrypted ? KeyError::BadPassphrase : KeyError::Malformed;
    r.message = encrypted ? "the private key could not be decrypted: wrong passphrase or unsupported encryption"
                          : "malformed PEM: the private key does not decode";
    return r;
  }
  der.resize(static_cast<size_t>(n));

  // Identify the algorithm by trying each decoder (they accept PKCS#8 too).
  PrivateKey k;
  k.der = std::move(der);
  {
    RsaKey rsa;
    if (wc_InitRsaKey(&rsa, nullptr) == 0) {
      word32 idx = 0;
      if (wc_RsaPrivateKeyDecode(k.der.data(), &idx, &rsa, static_cast<word32>(k.der.size())) == 0)
        k.type = KeyType::Rsa;
      wc_FreeRsaKey(&rsa);
    }
  }
  if (k.type == KeyType::Unknown) {
    ecc_key ecc;
    if (wc_ecc_init(&ecc) == 0) {
      word32 idx = 0;
      if (wc_EccPrivateKeyDecode(k.der.data(), &idx, &ecc, static_cast<word32>(k.der.size())) == 0)
        k.type = KeyType::Ecdsa;
      wc_ecc_free(&ecc);
    }
  }
  if (k.type == KeyType::Unknown) {
    ed25519_key ed;
    if (wc_ed25519_init(&ed) == 0) {
      word32 idx = 0;
      if (wc_Ed25519PrivateKeyDecode(k.der.data(), &idx, &ed, static_cast<word32>(k.der.size())) == 0)
        k.type = KeyType::Ed25519;
      wc_ed25519_free(&ed);
    }
  }
  if (k.type == KeyType::Unknown) {
    // A wrong passphrase on a traditional PEM can still "decrypt" (CBC padding
    // matches by chance); a well-formed SEQUENCE we cannot decode is an
    // algorithm we do not support.
    const uint8_t* p = k.der.data();
    const uint8_t* end = p + k.der.size();
    size_t len = 0;
    bool wellformed = k.der.size() > 2 && *p++ == 0x30 && der_len(p, end, len) && p + len == end;
    if (encrypted) {
      r.error = KeyError::BadPassphrase;
      r.message = "the private key could not be decrypted: wrong passphrase or unsupported encryption";
    } else if (!wellformed) {
      r.error = KeyError::Malformed;
      r.message = "malformed PEM: the private key does not decode";
    } else {
      r.error = KeyError::Unsupported;
      r.message = "unsupported private key type (RSA 2048-4096, ECDSA P-256/P-384 and Ed25519 are supported)";
    }
    return r;
  }
  r.key = std::move(k);
  return r;
}

bool key_matches_cert(const PrivateKey& key, std::span<const uint8_t> cert_der) {
  Decoded d(cert_der);
  if (ParseCert(&d.cert, CERT_TYPE, NO_VERIFY, nullptr) != 0) return false;
  return wc_CheckPrivateKeyCert(key.der.data(), static_cast<word32>(key.der.size()), &d.cert) == 1;
}

}  // namespace turnpike::control
