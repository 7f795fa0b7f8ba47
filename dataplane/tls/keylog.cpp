// The key log buffer and the Session's part of it: arm at session creation
// (only when the listener's context carries the log), log at handshake end.
#include "turnpike/tls/keylog.hpp"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <cstring>

#include "turnpike/tls/session.hpp"

namespace turnpike::tls {

KeyLog& KeyLog::instance() {
  static KeyLog k;
  return k;
}

KeyLog::KeyLog() : buf_(new char[kCapacity]()) {}

void KeyLog::begin() {
  std::memset(buf_.get(), 0, kCapacity);
  used_.store(0, std::memory_order_relaxed);
  lines_.store(0, std::memory_order_relaxed);
  dropped_.store(0, std::memory_order_relaxed);
  active_.store(true, std::memory_order_release);
}

void KeyLog::end() { active_.store(false, std::memory_order_relaxed); }

std::string KeyLog::contents() const {
  const std::size_t n = std::min(used_.load(std::memory_order_relaxed), kCapacity);
  std::string s(buf_.get(), n);
  // A line that did not fit left zeros; keep complete lines only.
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  if (auto nl = s.rfind('\n'); nl != std::string::npos) s.resize(nl + 1);
  else s.clear();
  return s;
}

void KeyLog::append(std::string_view label, std::span<const std::uint8_t> client_random,
                    std::span<const std::uint8_t> secret) noexcept {
  if (!active_.load(std::memory_order_acquire)) return;
  char line[512];
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = 0;
  if (label.size() + 2 * (client_random.size() + secret.size()) + 3 > sizeof line) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::memcpy(line, label.data(), label.size());
  n = label.size();
  line[n++] = ' ';
  for (auto b : client_random) {
    line[n++] = kHex[b >> 4];
    line[n++] = kHex[b & 15];
  }
  line[n++] = ' ';
  for (auto b : secret) {
    line[n++] = kHex[b >> 4];
    line[n++] = kHex[b & 15];
  }
  line[n++] = '\n';
  const std::size_t off = used_.fetch_add(n, std::memory_order_relaxed);
  if (off + n > kCapacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::memcpy(buf_.get() + off, line, n);
  lines_.fetch_add(1, std::memory_order_relaxed);
}

#if defined(HAVE_SECRET_CALLBACK) && defined(WOLFSSL_TLS13)
namespace {
// RFC 8446 §7.1 secrets, named as NSS names them.
int tls13_secret(WOLFSSL* ssl, int id, const unsigned char* secret, int size, void* arg) {
  const char* label = nullptr;
  switch (id) {
    case CLIENT_HANDSHAKE_TRAFFIC_SECRET: label = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"; break;
    case SERVER_HANDSHAKE_TRAFFIC_SECRET: label = "SERVER_HANDSHAKE_TRAFFIC_SECRET"; break;
    case CLIENT_TRAFFIC_SECRET: label = "CLIENT_TRAFFIC_SECRET_0"; break;
    case SERVER_TRAFFIC_SECRET: label = "SERVER_TRAFFIC_SECRET_0"; break;
    case EXPORTER_SECRET: label = "EXPORTER_SECRET"; break;
    default: return 0;
  }
  unsigned char cr[32];
  const std::size_t crn = wolfSSL_get_client_random(ssl, cr, sizeof cr);
  static_cast<KeyLog*>(arg)->append(label, {cr, crn}, {secret, static_cast<std::size_t>(size)});
  return 0;
}
}  // namespace
#endif

void Session::arm_keylog(KeyLog* k) {
  keylog_ = k;
  // TLS 1.2: keep the handshake arrays so the master secret can be read at
  // the end (freed in log_keys). TLS 1.3: wolfSSL hands each secret over.
  wolfSSL_KeepArrays(ssl_);
#if defined(HAVE_SECRET_CALLBACK) && defined(WOLFSSL_TLS13)
  wolfSSL_set_tls13_secret_cb(ssl_, tls13_secret, k);
#endif
}

void Session::log_keys() {
  if (wolfSSL_version(ssl_) != TLS1_3_VERSION) {
    unsigned char *ms = nullptr, *sr = nullptr, *cr = nullptr;
    unsigned int msn = 0, srn = 0, crn = 0;
    if (wolfSSL_get_keys(ssl_, &ms, &msn, &sr, &srn, &cr, &crn) == WOLFSSL_SUCCESS && ms && cr)
      keylog_->append("CLIENT_RANDOM", {cr, crn}, {ms, msn});
  }
  wolfSSL_FreeArrays(ssl_);
  keylog_ = nullptr;
}

}  // namespace turnpike::tls
