// Session tickets: the shared, rotating TicketKeys and the wolfSSL ticket
// callback that seals turnpike's binding (client certificate facts, trust
// epoch, issue time) into every ticket and re-judges it on resumption.
#include "turnpike/tls/tickets.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

#include "turnpike/tls/context.hpp"
#include "turnpike/tls/session.hpp"
#include "turnpike/text.hpp"

namespace turnpike::tls {

namespace {

// Random bytes for IVs and keys: one DRBG per thread, seeded once.
bool random_bytes(std::uint8_t* p, std::size_t n) {
  struct Rng {
    WC_RNG rng{};
    bool ok = false;
    Rng() { ok = wc_InitRng(&rng) == 0; }
    ~Rng() {
      if (ok) wc_FreeRng(&rng);
    }
  };
  thread_local Rng r;
  return r.ok && wc_RNG_GenerateBlock(&r.rng, p, static_cast<word32>(n)) == 0;
}

// The 32 bytes turnpike appends to wolfSSL's ticket plaintext (wolfSSL
// leaves exactly WOLFSSL_TICKET_EXTRA_PADDING_SZ = 32 bytes of room). They
// are encrypted and MACed with the rest, so a client cannot alter them.
//   0     version (high 2 bits, = 1) | flags
//   1     EKU bits (control::EkuBit)
//   2..3  keyUsage bits, big-endian
//   4..7  trust epoch (low 32 bits) of the verification
//   8..11 issue time, Unix seconds
//   12..15 leaf notAfter, Unix seconds (clamped)
//   16..31 first 16 bytes of the leaf's SHA-256 fingerprint
constexpr int kBindingBytes = 32;
constexpr std::uint8_t kBindingVersion = 1u << 6;
enum : std::uint8_t {
  kBPresented = 1u << 0, kBEkuPresent = 1u << 1, kBKuPresent = 1u << 2,
  kBIsCa = 1u << 3, kBCasClient = 1u << 4, kBCasServer = 1u << 5,
};

void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 24); p[1] = std::uint8_t(v >> 16); p[2] = std::uint8_t(v >> 8); p[3] = std::uint8_t(v);
}
std::uint32_t get32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
std::uint32_t clamp32(std::int64_t v) { return static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, 0, 0xffffffffLL)); }

bool ticket_mac(const TicketKeys::Key& k, const std::uint8_t* iv, const std::uint8_t* ct, int len, std::uint8_t* out) {
  Hmac h;
  if (wc_HmacInit(&h, nullptr, INVALID_DEVID) != 0) return false;
  std::uint8_t l[2] = {std::uint8_t(len >> 8), std::uint8_t(len)};
  const bool ok = wc_HmacSetKey(&h, WC_SHA256, k.mac.data(), k.mac.size()) == 0 &&
                  wc_HmacUpdate(&h, k.name.data(), k.name.size()) == 0 && wc_HmacUpdate(&h, iv, 16) == 0 &&
                  wc_HmacUpdate(&h, l, 2) == 0 && wc_HmacUpdate(&h, ct, static_cast<word32>(len)) == 0 &&
                  wc_HmacFinal(&h, out) == 0;
  wc_HmacFree(&h);
  return ok;
}

// Constant time, so a forger learns nothing from timing.
bool equal_ct(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  std::uint8_t d = 0;
  for (std::size_t i = 0; i < n; ++i) d |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  return d == 0;
}

bool ticket_crypt(const TicketKeys::Key& k, const std::uint8_t* iv, std::uint8_t* p, int len) {
  ChaCha cc;
  const bool ok = wc_Chacha_SetKey(&cc, k.enc.data(), k.enc.size()) == 0 && wc_Chacha_SetIV(&cc, iv, 0) == 0 &&
                  wc_Chacha_Process(&cc, p, p, static_cast<word32>(len)) == 0;
  std::memset(&cc, 0, sizeof cc);
  return ok;
}

}  // namespace

int Session::ticket_cb(WOLFSSL* ssl, unsigned char* name, unsigned char* iv, unsigned char* mac, int enc,
                       unsigned char* ticket, int in_len, int* out_len, void* arg) {
  const auto* c = static_cast<const Context*>(arg);
  auto* s = static_cast<Session*>(wolfSSL_GetIOReadCtx(ssl));
  if (!c || !s || !c->tickets_) return WOLFSSL_TICKET_RET_FATAL;
  const TicketKeys& keys = *c->tickets_;
  const std::int64_t now = std::time(nullptr);
  TicketKeys::Key k;
  if (enc) {
    // No handshake state: a ticket asked for after the handshake, which
    // turnpike never does; refuse rather than bind nothing.
    if (!s->hs_ || *out_len - in_len < kBindingBytes || !keys.current(k)) return WOLFSSL_TICKET_RET_FATAL;
    // A resumed session passes on what its own ticket bound.
    const Binding& b = wolfSSL_session_reused(ssl) ? s->hs_->from_ticket : s->hs_->full;
    std::uint8_t* bind = ticket + in_len;
    std::memset(bind, 0, kBindingBytes);
    std::uint8_t flags = kBindingVersion;
    if (b.presented) {
      flags |= kBPresented;
      if (b.facts.eku_present) flags |= kBEkuPresent;
      if (b.facts.ku_present) flags |= kBKuPresent;
      if (b.facts.is_ca) flags |= kBIsCa;
      if (b.facts.cas_allow_client) flags |= kBCasClient;
      if (b.facts.cas_allow_server) flags |= kBCasServer;
      bind[1] = b.facts.eku;
      bind[2] = std::uint8_t(b.facts.key_usage >> 8);
      bind[3] = std::uint8_t(b.facts.key_usage);
      put32(bind + 12, clamp32(b.facts.not_after));
      std::memcpy(bind + 16, b.fp.data(), 16);
    }
    bind[0] = flags;
    put32(bind + 4, static_cast<std::uint32_t>(c->verifier_.epoch));
    put32(bind + 8, clamp32(now));
    const int len = in_len + kBindingBytes;
    if (!random_bytes(iv, 16)) return WOLFSSL_TICKET_RET_FATAL;
    std::memcpy(name, k.name.data(), k.name.size());
    if (!ticket_crypt(k, iv, ticket, len) || !ticket_mac(k, iv, ticket, len, mac)) return WOLFSSL_TICKET_RET_FATAL;
    *out_len = len;
    return WOLFSSL_TICKET_RET_OK;
  }

  // Decrypt. Anything wrong means a full handshake, never a failure
  // (RFC 5077 §3.3, RFC 8446 §4.2.11: the server may ignore a PSK).
  const int which = keys.find(name, k);
  if (which == 0 || in_len < kBindingBytes) return WOLFSSL_TICKET_RET_REJECT;
  std::uint8_t want[WC_SHA256_DIGEST_SIZE];
  if (!ticket_mac(k, iv, ticket, in_len, want) || !equal_ct(want, mac, sizeof want))
    return WOLFSSL_TICKET_RET_REJECT;
  if (!ticket_crypt(k, iv, ticket, in_len)) return WOLFSSL_TICKET_RET_REJECT;
  const std::uint8_t* bind = ticket + in_len - kBindingBytes;
  const std::uint8_t flags = bind[0];
  if ((flags & 0xc0) != kBindingVersion) return WOLFSSL_TICKET_RET_REJECT;
  const std::int64_t issued = get32(bind + 8);
  if (now - issued > c->ticket_lifetime_ || issued - now > 60) return WOLFSSL_TICKET_RET_REJECT;
  // A trust change (CA, CRL) since the verification: verify again.
  if (get32(bind + 4) != static_cast<std::uint32_t>(c->verifier_.epoch)) return WOLFSSL_TICKET_RET_REJECT;
  Binding b;
  b.presented = flags & kBPresented;
  if (b.presented) {
    b.facts.eku_present = flags & kBEkuPresent;
    b.facts.ku_present = flags & kBKuPresent;
    b.facts.is_ca = flags & kBIsCa;
    b.facts.cas_allow_client = flags & kBCasClient;
    b.facts.cas_allow_server = flags & kBCasServer;
    b.facts.eku = bind[1];
    b.facts.key_usage = static_cast<std::uint16_t>(bind[2] << 8 | bind[3]);
    b.facts.not_before = 0;  // it was valid at issue; notAfter still counts
    b.facts.not_after = get32(bind + 12);
    std::memcpy(b.fp.data(), bind + 16, 16);
    // docs/eku-semantics.md: the current mode decides, for resumptions too; a
    // refusal here sends the client through a full handshake, where the
    // certificate is refused with its alert and Detail.
    if (!control::CachedFacts::evaluate(control::ChainStatus::Ok, b.facts, c->verifier_.mode, control::Role::Inbound, now)
             .accept)
      return WOLFSSL_TICKET_RET_REJECT;
  } else if (c->client_cert_ == ClientCertMode::Require) {
    return WOLFSSL_TICKET_RET_REJECT;  // the listener now requires a certificate
  }
  if (!s->hs_) return WOLFSSL_TICKET_RET_REJECT;  // not in a handshake: cannot happen
  s->hs_->from_ticket = b;
  *out_len = in_len - kBindingBytes;
  // An older key: TLS 1.2 reissues under the current key (RET_CREATE);
  // TLS 1.3 only resumes on RET_OK and always sends a fresh ticket anyway.
  if (which == 2 && wolfSSL_version(ssl) != TLS1_3_VERSION) return WOLFSSL_TICKET_RET_CREATE;
  return WOLFSSL_TICKET_RET_OK;
}

TicketKeys::TicketKeys(std::int64_t period_s, unsigned keep)
    : period_(period_s), keep_(std::min<unsigned>(keep, kMaxKeys - 1)) {
  init_library();
  std::lock_guard<std::mutex> g(writer_);
  Key k;
  random_bytes(reinterpret_cast<std::uint8_t*>(&k), sizeof k);
  keys_ = {k};
  publish(keys_);
}

void TicketKeys::publish(const std::vector<Key>& keys) {
  // Seqlock writer: odd sequence while the words change.
  const std::uint64_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  const std::size_t n = std::min(keys.size(), kMaxKeys);
  static_assert(sizeof(Key) == kWords * 8);
  // Word by word (no local copy of the key: GCC 12 with AVX-512 emitted an
  // aligned store to a red-zone array that was not aligned).
  for (std::size_t i = 0; i < n; ++i) {
    const auto* src = reinterpret_cast<const unsigned char*>(&keys[i]);
    for (std::size_t j = 0; j < kWords; ++j) {
      std::uint64_t v;
      std::memcpy(&v, src + 8 * j, 8);
      words_[i][j].store(v, std::memory_order_relaxed);
    }
  }
  count_.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
  seq_.store(s + 2, std::memory_order_release);
}

bool TicketKeys::current(Key& out) const {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t s = seq_.load(std::memory_order_acquire);
    if (s & 1) continue;
    auto* dst = reinterpret_cast<unsigned char*>(&out);
    for (std::size_t j = 0; j < kWords; ++j) {
      const std::uint64_t v = words_[0][j].load(std::memory_order_relaxed);
      std::memcpy(dst + 8 * j, &v, 8);
    }
    const bool any = count_.load(std::memory_order_relaxed) > 0;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s) continue;  // torn: read again
    return any;
  }
  return false;
}

int TicketKeys::find(const std::uint8_t* name, Key& out) const {
  std::uint64_t n[2];
  std::memcpy(n, name, sizeof n);
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t s = seq_.load(std::memory_order_acquire);
    if (s & 1) continue;
    const std::uint32_t count = std::min<std::uint32_t>(count_.load(std::memory_order_relaxed), kMaxKeys);
    int found = 0;
    auto* dst = reinterpret_cast<unsigned char*>(&out);
    for (std::uint32_t i = 0; i < count && !found; ++i) {
      if (words_[i][0].load(std::memory_order_relaxed) != n[0] || words_[i][1].load(std::memory_order_relaxed) != n[1])
        continue;
      for (std::size_t j = 0; j < kWords; ++j) {
        const std::uint64_t v = words_[i][j].load(std::memory_order_relaxed);
        std::memcpy(dst + 8 * j, &v, 8);
      }
      found = i == 0 ? 1 : 2;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s) continue;
    return found;
  }
  return 0;
}

std::size_t TicketKeys::size() const { return count_.load(std::memory_order_relaxed); }

bool TicketKeys::rotate(std::int64_t now) {
  std::lock_guard<std::mutex> g(writer_);
  if (from_file_.load(std::memory_order_relaxed) || period_ <= 0) return false;
  if (born_ < 0) {
    born_ = now;  // the constructor's key starts its period now
    return false;
  }
  if (now - born_ < period_) return false;
  Key k;
  if (!random_bytes(reinterpret_cast<std::uint8_t*>(&k), sizeof k)) return false;
  keys_.insert(keys_.begin(), k);
  if (keys_.size() > keep_ + 1u) keys_.resize(keep_ + 1u);
  born_ = now;
  publish(keys_);
  return true;
}

void TicketKeys::rotate_now(std::int64_t now) {
  std::lock_guard<std::mutex> g(writer_);
  Key k;
  if (!random_bytes(reinterpret_cast<std::uint8_t*>(&k), sizeof k)) return;
  keys_.insert(keys_.begin(), k);
  if (keys_.size() > keep_ + 1u) keys_.resize(keep_ + 1u);
  born_ = now;
  from_file_.store(false, std::memory_order_relaxed);
  publish(keys_);
}

std::string TicketKeys::load(std::string_view text) {
  std::vector<Key> keys;
  std::size_t line_no = 0;
  while (!text.empty() || line_no == 0) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    line = trim(line);
    if (line.empty() || line.front() == '#') {
      if (text.empty()) break;
      continue;
    }
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (line.size() != 108)  // 80 bytes in base64
      return where + "not 80 bytes of base64";
    std::uint8_t raw[96];
    word32 n = sizeof raw;
    if (Base64_Decode(reinterpret_cast<const byte*>(line.data()), static_cast<word32>(line.size()), raw, &n) != 0 ||
        n != kKeyBytes)
      return where + "not 80 bytes of base64";
    if (keys.size() == kMaxKeys) return where + "more than " + std::to_string(kMaxKeys) + " keys";
    Key k;
    std::memcpy(&k, raw, sizeof k);
    if (std::all_of(k.name.begin(), k.name.end(), [](std::uint8_t b) { return b == 0; }))
      return where + "key name is all zeros";  // wolfSSL refuses such tickets
    for (const Key& o : keys)
      if (o.name == k.name) return where + "key name used twice";
    keys.push_back(k);
    if (text.empty()) break;
  }
  if (keys.empty()) return "no key in the file";
  std::lock_guard<std::mutex> g(writer_);
  keys_ = std::move(keys);
  from_file_.store(true, std::memory_order_relaxed);
  publish(keys_);
  return {};
}

std::string TicketKeys::load_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "cannot read " + path;
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string e = load(ss.str());
  return e.empty() ? e : path + ": " + e;
}

}  // namespace turnpike::tls
