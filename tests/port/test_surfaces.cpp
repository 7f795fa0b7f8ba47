// The SIGUSR1 dump and /metrics (dataplane/worker/telemetry.cpp,
// metrics.cpp) over a Runtime with no port or worker, no EAL: the TLS
// engine's process-wide counters are on both, under the names telemetry
// gives them (/turnpike/sip tls_<name>).
#include <gtest/gtest.h>

#include <string>

#include "turnpike/tls/stats.hpp"
#include "turnpike/worker/metrics.hpp"
#include "turnpike/worker/telemetry.hpp"

using namespace turnpike;

TEST(Surfaces, TlsEngineCountersInTheDumpAndTheScrape) {
  tls::Stats& s = tls::thread_stats();
  const tls::Stats before = tls::stats_totals();
  s.hibernated += 3;
  s.woken += 2;
  ++s.wake_failures;
  ++s.renegotiations_refused;
  const tls::Stats now = tls::stats_totals();
  ASSERT_EQ(now.hibernated - before.hibernated, 3u);
  const worker::Runtime rt;
  const std::string dump = worker::format_stats(rt);
  const std::string want = "tls: tls_hibernated=" + std::to_string(now.hibernated.load()) +
                           " tls_woken=" + std::to_string(now.woken.load()) +
                           " tls_wake_failures=" + std::to_string(now.wake_failures.load()) +
                           " tls_renegotiations_refused=" + std::to_string(now.renegotiations_refused.load()) +
                           " tls_fast_records_in=" + std::to_string(now.fast_records_in.load()) +
                           " tls_fast_records_out=" + std::to_string(now.fast_records_out.load()) + "\n";
  EXPECT_NE(dump.find(want), std::string::npos) << dump;
  const std::string page = worker::render_metrics(rt);
  now.for_each([&](std::string_view n, std::string_view, std::uint64_t v) {
    const std::string fam = "turnpike_tls_" + std::string(n) + "_total";
    EXPECT_NE(page.find("\n" + fam + " " + std::to_string(v) + "\n"), std::string::npos) << fam << "\n" << page;
    // metrics_check.py pairs a family with the telemetry key its HELP names.
    EXPECT_NE(page.find("(telemetry /turnpike/sip tls_" + std::string(n) + ")"), std::string::npos) << fam;
  });
}
