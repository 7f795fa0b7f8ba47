// Counters of the TLS engine itself (stats.cpp), per thread: each worker
// writes its own cell (counter.hpp: one writer per cell); readers sum them.
#pragma once
#include <string_view>

#include "turnpike/counter.hpp"

namespace turnpike::tls {

#define TURNPIKE_TLS_COUNTERS(X)                                                           \
  X(hibernated, "idle sessions whose TLS state was exported and their WOLFSSL freed")     \
  X(woken, "hibernated sessions re-created on their next record")                         \
  X(wake_failures, "hibernated sessions that could not be re-created (connection closed)") \
  X(renegotiations_refused, "TLS 1.2 client-initiated renegotiations refused (connection closed)")  \
  X(fast_records_in, "AES-GCM application-data records (TLS 1.3, 1.2) opened by the fast path, not wolfSSL") \
  X(fast_records_out, "AES-GCM application-data records (TLS 1.3, 1.2) sealed by the fast path, not wolfSSL")

struct Stats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_TLS_COUNTERS)
};

// Telemetry shows them in /turnpike/sip, a dictionary shared with the SIP
// and backend counters, as tls_<name> (like /metrics' turnpike_tls_<name>_total).
inline constexpr std::string_view kTelemetryPrefix = "tls_";

// The calling thread's cell (claimed on first use; threads beyond the
// table's size share its last cell).
Stats& thread_stats();
// The sum over every thread's cell.
Stats stats_totals();

}  // namespace turnpike::tls
