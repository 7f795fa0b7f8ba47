// The counter vocabulary (turnpike/counter.hpp) and the modules' for_each:
// what telemetry, xStatus and /metrics rely on to show every counter under
// its name, summed over workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/glue/tcp_glue.hpp"
#include "turnpike/net/counters.hpp"
#include "turnpike/proxy/backends.hpp"
#include "turnpike/proxy/sip_proxy.hpp"
#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/stats.hpp"

namespace {

using turnpike::Counter;
using turnpike::CounterTotals;
using turnpike::Gauge;

#define TEST_COUNTERS(X)           \
  X(first, "the first counter")    \
  X(second, "the second counter")  \
  X(third, "the third counter")

struct ThreeStats {
  TURNPIKE_COUNTER_FIELDS(TEST_COUNTERS)
};

struct Row {
  std::string name, description;
  std::uint64_t value;
  bool operator==(const Row&) const = default;
};

template <class S>
std::vector<Row> rows(const S& s) {
  std::vector<Row> out;
  s.for_each([&](std::string_view n, std::string_view d, std::uint64_t v) {
    out.push_back({std::string(n), std::string(d), v});
  });
  return out;
}

TEST(Counter, BothSpellingsAddAndCopiesAreSnapshots) {
  Counter c;
  EXPECT_EQ(c.load(), 0u);
  c.add();
  c.add(4);
  ++c;
  c += 10;
  EXPECT_EQ(c.load(), 16u);
  EXPECT_EQ(static_cast<std::uint64_t>(c), 16u);
  Counter copy = c;
  c.add();
  EXPECT_EQ(copy.load(), 16u);  // a copy does not follow the original
  copy = c;
  EXPECT_EQ(copy.load(), 17u);
  c.add(UINT64_MAX - 16);  // wraps like the unsigned it is, never traps
  EXPECT_EQ(c.load(), 0u);
}

TEST(Gauge, GoesUpAndDown) {
  Gauge g;
  ++g;
  ++g;
  g += 5;
  --g;
  g -= 2;
  EXPECT_EQ(g.load(), 4u);
  g = 9;
  EXPECT_EQ(static_cast<std::size_t>(g), 9u);
}

TEST(CounterFields, ForEachVisitsTheListInOrderWithDescriptions) {
  ThreeStats s;
  s.second.add(7);
  s.third.add();
  EXPECT_EQ(rows(s), (std::vector<Row>{{"first", "the first counter", 0},
                                       {"second", "the second counter", 7},
                                       {"third", "the third counter", 1}}));
}

TEST(CounterTotals, SumsSourcesByPositionAndKeepsNamesWithNoSource) {
  CounterTotals none = CounterTotals::of<ThreeStats>();
  ASSERT_EQ(none.rows().size(), 3u);  // a module no worker has still shows, at zero
  EXPECT_EQ(none.rows()[1].name, "second");
  EXPECT_EQ(none["second"], 0u);

  ThreeStats a, b;
  a.first.add(1);
  a.third.add(100);
  b.first.add(2);
  b.second.add(20);
  CounterTotals t = CounterTotals::of<ThreeStats>();
  t.add(a);
  t.add(b);
  EXPECT_EQ(t["first"], 3u);
  EXPECT_EQ(t["second"], 20u);
  EXPECT_EQ(t["third"], 100u);
  EXPECT_EQ(t["no_such_counter"], 0u);
  EXPECT_EQ(t.rows()[2].description, "the third counter");
}

TEST(PortStats, ForEachAndForEachDropCoverEveryCounterAndReason) {
  turnpike::net::PortStats s;
  s.rx_packets.add(3);
  s.drop(turnpike::net::Drop::ipv4_checksum, 2);
  s.drop(turnpike::net::Drop::tx_full);
  const auto r = rows(s);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.front(), (Row{"rx_packets", "frames received", 3}));
  std::size_t reasons = 0;
  std::uint64_t sum = 0;
  std::vector<std::string> names;
  s.for_each_drop([&](std::string_view n, std::string_view d, std::uint64_t v) {
    ++reasons;
    sum += v;
    names.emplace_back(n);
    EXPECT_FALSE(d.empty()) << n;  // every drop says what it means
    if (n == "ipv4_checksum") {
      EXPECT_EQ(v, 2u);
    }
  });
  EXPECT_EQ(reasons, turnpike::net::kDropCount);
  EXPECT_EQ(sum, s.total_drops());
  EXPECT_EQ(sum, 3u);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());  // telemetry keys: unique
}

TEST(ModuleCounters, TcpAndGlueNamesAreDistinctInTheirSharedDictionary) {
  // /turnpike/tcp shows the glue's counters and the stack's in one
  // dictionary (and /metrics under turnpike_tcp_*): no name may be in both.
  std::vector<std::string> names;
  for (const auto& r : rows(turnpike::tcp::Counters{})) names.push_back(r.name);
  for (const auto& r : rows(turnpike::glue::TcpGlueStats{})) names.push_back(r.name);
  EXPECT_GT(names.size(), 5u);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_TRUE(std::binary_search(names.begin(), names.end(), "steered_to_owner"));  // metrics.sh asks for it
  EXPECT_TRUE(std::binary_search(names.begin(), names.end(), "retransmits"));
}

TEST(ModuleCounters, TlsEngineCountersHaveDistinctNamesInTheSipDictionary) {
  // /turnpike/sip shows the SIP edge's counters, the backends' and the TLS
  // engine's (as tls_<name>; /metrics turnpike_tls_<name>_total names that
  // key in its HELP, metrics_check.py compares them): no name twice.
  std::vector<std::string> names{"connections"};
  for (const auto& r : rows(turnpike::proxy::SipProxyStats{})) names.push_back(r.name);
  for (const auto& r : rows(turnpike::proxy::BackendStats{})) names.push_back(r.name);
  std::vector<std::string> tls;
  for (const auto& r : rows(turnpike::tls::Stats{})) {
    EXPECT_FALSE(r.description.empty()) << r.name;
    tls.push_back(std::string(turnpike::tls::kTelemetryPrefix) + r.name);
  }
  EXPECT_EQ(tls, (std::vector<std::string>{"tls_hibernated", "tls_woken", "tls_wake_failures",
                                           "tls_renegotiations_refused", "tls_fast_records_in",
                                           "tls_fast_records_out"}));
  names.insert(names.end(), tls.begin(), tls.end());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

}  // namespace
