#include <cstdio>
#include <cstring>
#include <ctime>

#include "turnpike/control/events.hpp"

namespace turnpike::control {
namespace {

// Bounded writer over a caller buffer; `ok` turns false on overflow.
struct Out {
  char* p;
  size_t cap;
  size_t n = 0;
  bool ok = true;
  void put(char c) {
    if (n < cap) p[n++] = c;
    else ok = false;
  }
  void raw(std::string_view s) {
    for (char c : s) put(c);
  }
  void escaped(std::string_view s) {
    for (char c : s) {
      if (c == '"' || c == '\\') {
        put('\\');
        put(c);
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        put(' ');
      } else {
        put(c);
      }
    }
  }
  void field(std::string_view key, std::string_view value, bool first = false) {
    if (!first) put(' ');
    raw(key);
    raw("=\"");
    escaped(value);
    put('"');
  }
};

size_t utc_millis(Clock::time_point t, char* buf, size_t cap) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ms / 1000);
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  struct tm tm {};
  gmtime_r(&secs, &tm);
  int n = std::snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return n > 0 && static_cast<size_t>(n) < cap ? static_cast<size_t>(n) : 0;
}

uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string format_utc_millis(Clock::time_point t) {
  char buf[40];
  size_t n = utc_millis(t, buf, sizeof buf);
  return std::string(buf, n);
}

size_t format_tls_error_event(const TlsErrorEvent& e, char* buf, size_t cap) {
  char port[8], level[12], ts[40];
  Out o{buf, cap};
  o.field("Event", e.event, true);
  o.field("Service", e.service);
  o.field("Src-ip", e.src_ip);
  std::snprintf(port, sizeof port, "%u", e.src_port);
  o.field("Src-port", port);
  o.field("Dst-ip", e.dst_ip);
  std::snprintf(port, sizeof port, "%u", e.dst_port);
  o.field("Dst-port", port);
  o.field("Detail", e.detail);
  o.field("Protocol", e.protocol);
  std::snprintf(level, sizeof level, "%d", e.level);
  o.field("Level", level);
  size_t tn = utc_millis(e.time, ts, sizeof ts);
  o.field("UTCTime", {ts, tn});
  return o.ok ? o.n : 0;
}

std::string format_tls_error_event(const TlsErrorEvent& e) {
  char buf[EventSink::kMaxLine];
  size_t n = format_tls_error_event(e, buf, sizeof buf);
  return std::string(buf, n);
}

std::string format_event(const EventLine& e) {
  size_t need = 64 + e.kind.size();
  for (const auto& [k, v] : e.fields) need += k.size() + 2 * v.size() + 4;
  std::string s(need, '\0');
  Out o{s.data(), s.size()};
  o.field("Event", e.kind, true);
  for (const auto& [k, v] : e.fields) o.field(k, v);
  char level[12], ts[40];
  std::snprintf(level, sizeof level, "%d", e.level);
  o.field("Level", level);
  size_t tn = utc_millis(e.time, ts, sizeof ts);
  o.field("UTCTime", {ts, tn});
  s.resize(o.n);
  return s;
}

// ---------------------------------------------------------------------------
RateLimiter::RateLimiter(uint32_t per_second, size_t buckets) : per_second_(per_second) {
  size_t n = 1;
  while (n < buckets) n <<= 1;
  mask_ = n - 1;
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (size_t i = 0; i < n; ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

bool RateLimiter::allow(std::string_view kind, std::string_view source, int64_t now_sec) {
  std::atomic<uint64_t>& b = buckets_[fnv1a(source, fnv1a(kind)) & mask_];
  const uint64_t sec = static_cast<uint32_t>(now_sec);
  // relaxed: the bucket word is self-contained (no other data is published
  // through it); the CAS makes each increment exact.
  uint64_t cur = b.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next;
    if ((cur >> 32) != sec && per_second_ > 0) {
      next = (sec << 32) | 1;  // new one-second window
    } else if ((cur >> 32) == sec && (cur & 0xffffffffu) < per_second_) {
      next = cur + 1;
    } else {
      suppressed_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      return false;
    }
    if (b.compare_exchange_weak(cur, next, std::memory_order_relaxed, std::memory_order_relaxed)) return true;
  }
}

}  // namespace turnpike::control
