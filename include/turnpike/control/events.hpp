// Event lines (key="value" pairs, one per line) and the sink that writes them.
//
//   Event="Inbound TLS Negotiation Error" Service="SIP" Src-ip="198.18.0.2"
//   Src-port="25046" Dst-ip="198.18.0.1" Dst-port="5061"
//   Detail="unsupported certificate purpose" Protocol="TLS" Level="1"
//   UTCTime="2026-03-29 06:54:39.839"
//
// Addresses are text as the producer wrote it: dotted quad for IPv4, RFC
// 5952 canonical form for IPv6 (Src-ip="2001:db8::2"), never bracketed.
//
// Formatting into a caller buffer does not allocate, so workers can build the
// line themselves; the sink's queue never blocks a producer.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::control {

using Clock = std::chrono::system_clock;

// "YYYY-MM-DD HH:MM:SS.mmm" in UTC.
std::string format_utc_millis(Clock::time_point t);

inline constexpr std::string_view kEventInboundTlsError = "Inbound TLS Negotiation Error";
inline constexpr std::string_view kEventOutboundTlsError = "Outbound TLS Negotiation Error";

struct TlsErrorEvent {
  std::string_view event = kEventInboundTlsError;
  std::string_view service = "SIP";
  std::string_view src_ip;
  uint16_t src_port = 0;
  std::string_view dst_ip;
  uint16_t dst_port = 0;
  std::string_view detail;
  std::string_view protocol = "TLS";
  int level = 1;
  Clock::time_point time = Clock::now();
};

// An address and a port as one text, for peer records and status lines:
// "198.18.0.2:25046", or "[2001:db8::2]:25046" when the address is IPv6
// (it has a ':'; RFC 3986 §3.2.2, RFC 5952 §6). Event lines keep address
// and port in separate fields (Src-ip, Src-port), so they need no brackets.
inline std::string host_port(std::string_view ip, uint16_t port) {
  const bool v6 = ip.find(':') != std::string_view::npos;
  std::string s;
  s.reserve(ip.size() + 8);
  if (v6) s += '[';
  s += ip;
  if (v6) s += ']';
  s += ':';
  s += std::to_string(port);
  return s;
}

// Writes the line (no trailing newline) into buf; returns its length, or 0 if
// cap is too small. Values are escaped: '"' and '\' get a backslash, control
// characters become spaces, so one event is always one line.
size_t format_tls_error_event(const TlsErrorEvent& e, char* buf, size_t cap);
std::string format_tls_error_event(const TlsErrorEvent& e);

// Generic event: Event="<kind>" then fields in order, then Level and UTCTime.
struct EventLine {
  std::string_view kind;
  std::vector<std::pair<std::string_view, std::string>> fields;
  int level = 1;
  Clock::time_point time = Clock::now();
};
std::string format_event(const EventLine& e);

// Control-plane events (store changes, mode changes, migration, refusals).
inline constexpr std::string_view kEventStoreCommit = "Certificate Store Commit";
inline constexpr std::string_view kEventModeChange = "EKU Checking Mode Change";
inline constexpr std::string_view kEventMigration = "Certificate Store Migration";
inline constexpr std::string_view kEventUploadRefused = "Certificate Upload Refused";
inline constexpr std::string_view kEventDeprecatedSetting = "Deprecated Setting";
inline constexpr std::string_view kEventSuppressed = "Events Suppressed";
inline constexpr std::string_view kEventFileIgnored = "Certificate Store File Ignored";

// ---------------------------------------------------------------------------
// Per-(kind, source) rate limiter: at most `per_second` events per key per
// second. Lock-free; keys hash into a fixed table, so two keys can share a
// budget (conservative: never lets more through than configured per bucket).
class RateLimiter {
 public:
  explicit RateLimiter(uint32_t per_second, size_t buckets = 4096);
  bool allow(std::string_view kind, std::string_view source, int64_t now_sec);
  uint64_t suppressed() const { return suppressed_.load(std::memory_order_relaxed); }

 private:
  uint32_t per_second_;
  size_t mask_;
  // (second << 32) | count. Only compared and swapped as a whole.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> suppressed_{0};  // relaxed: statistic only
};

// ---------------------------------------------------------------------------
struct SinkOptions {
  std::string path;                         // log file; rotated to path.1 .. path.N
  uint64_t max_bytes = 10u << 20;           // rotate when the next line would exceed this
  unsigned max_files = 5;                   // rotated files kept
  size_t queue_capacity = 4096;             // rounded up to a power of two
  uint32_t rate_per_second = 20;            // per (kind, source)
  bool fsync_on_rotate = true;
  bool syslog = false;                      // also send each line to syslog(3) (LOG_DAEMON)
  // Instead of the file (path ignored): called on the writer thread with
  // each line. The daemon's log fallback, so producers (workers) never
  // write to stderr themselves.
  std::function<void(std::string_view)> writer;
};

struct SinkStats {
  uint64_t accepted = 0;      // queued
  uint64_t written = 0;       // lines written to the file
  uint64_t dropped_full = 0;  // queue full: producer did not wait
  uint64_t dropped_long = 0;  // line longer than a queue cell
  uint64_t suppressed = 0;    // refused by the rate limiter
  uint64_t rotations = 0;
  uint64_t write_errors = 0;
};

class EventSink {
 public:
  static constexpr size_t kMaxLine = 1000;  // bytes per queued line
  enum class Push { Queued, RateLimited, QueueFull, TooLong };

  explicit EventSink(SinkOptions opts);
  ~EventSink();  // drains the queue, then stops the writer thread
  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;

  // Never blocks. `source` is the rate-limit key besides the kind (for
  // example the peer address); empty for control-plane events.
  Push submit(std::string_view kind, std::string_view source, std::string_view line);
  Push submit(const TlsErrorEvent& e);
  Push submit(const EventLine& e, std::string_view source = {});

  // Waits until everything queued so far is written (tests, shutdown).
  void flush();
  SinkStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnpike::control
