// Event line format, rate limiting and the rotating file sink.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "turnpike/control/event_ring.hpp"
#include "turnpike/control/events.hpp"

using namespace turnpike::control;
namespace fs = std::filesystem;

namespace {
Clock::time_point spec_time() {
  // 2026-03-29 06:54:39.839 UTC
  return Clock::time_point(std::chrono::milliseconds(1774767279839LL));
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> v;
  std::ifstream f(p);
  for (std::string l; std::getline(f, l);) v.push_back(l);
  return v;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/turnpike-events-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};
}  // namespace

TEST(EventLine, ExactSpecLine) {
  TlsErrorEvent e;
  e.src_ip = "198.18.0.2";
  e.src_port = 25046;
  e.dst_ip = "198.18.0.1";
  e.dst_port = 5061;
  e.detail = "unsupported certificate purpose";
  e.time = spec_time();
  EXPECT_EQ(format_tls_error_event(e),
            "Event=\"Inbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"198.18.0.2\" Src-port=\"25046\" "
            "Dst-ip=\"198.18.0.1\" Dst-port=\"5061\" Detail=\"unsupported certificate purpose\" Protocol=\"TLS\" "
            "Level=\"1\" UTCTime=\"2026-03-29 06:54:39.839\"");
}

// Issue 13 item 4: an IPv6 peer's address in the same fields, RFC 5952
// canonical text (lower case, "::" for the longest zero run), no brackets
// (the port has its own field).
TEST(EventLine, Ipv6AddressesInTheSpecFields) {
  TlsErrorEvent e;
  e.src_ip = "2001:db8::2";
  e.src_port = 25046;
  e.dst_ip = "2001:db8::1";
  e.dst_port = 5061;
  e.detail = "unsupported certificate purpose";
  e.time = spec_time();
  EXPECT_EQ(format_tls_error_event(e),
            "Event=\"Inbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"2001:db8::2\" Src-port=\"25046\" "
            "Dst-ip=\"2001:db8::1\" Dst-port=\"5061\" Detail=\"unsupported certificate purpose\" Protocol=\"TLS\" "
            "Level=\"1\" UTCTime=\"2026-03-29 06:54:39.839\"");
  // The longest address text still fits the fixed buffer the worker uses.
  e.src_ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  e.dst_ip = e.src_ip;
  char buf[EventSink::kMaxLine];
  const size_t n = format_tls_error_event(e, buf, sizeof buf);
  ASSERT_GT(n, 0u);
  EXPECT_NE(std::string_view(buf, n).find("Src-ip=\"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255\" Src-port=\"25046\""),
            std::string_view::npos);
}

TEST(EventLine, HostPortBracketsIpv6Only) {
  EXPECT_EQ(host_port("198.18.0.2", 25046), "198.18.0.2:25046");
  EXPECT_EQ(host_port("2001:db8::2", 5061), "[2001:db8::2]:5061");
  EXPECT_EQ(host_port("::ffff:198.18.0.2", 1), "[::ffff:198.18.0.2]:1");
}

TEST(EventLine, MillisecondsArePadded) {
  EXPECT_EQ(format_utc_millis(Clock::time_point(std::chrono::milliseconds(5))), "1970-01-01 00:00:00.005");
  EXPECT_EQ(format_utc_millis(Clock::time_point(std::chrono::milliseconds(86400000LL + 999))),
            "1970-01-02 00:00:00.999");
}

TEST(EventLine, ValuesAreEscapedAndStayOnOneLine) {
  TlsErrorEvent e;
  e.detail = "bad \"quote\" \\ and\nnewline";
  e.time = spec_time();
  std::string s = format_tls_error_event(e);
  EXPECT_NE(s.find("Detail=\"bad \\\"quote\\\" \\\\ and newline\""), std::string::npos) << s;
  EXPECT_EQ(s.find('\n'), std::string::npos);
}

TEST(EventLine, SmallBufferFailsCleanly) {
  TlsErrorEvent e;
  e.detail = "handshake timeout";
  char buf[40];
  EXPECT_EQ(format_tls_error_event(e, buf, sizeof buf), 0u);
  char big[512];
  size_t n = format_tls_error_event(e, big, sizeof big);
  EXPECT_GT(n, 0u);
  EXPECT_EQ(format_tls_error_event(e, big, n), n);  // exact fit
  EXPECT_EQ(format_tls_error_event(e, big, n - 1), 0u);
}

TEST(EventLine, GenericEvent) {
  EventLine e{kEventStoreCommit, {{"Store", "client"}, {"Old-serial", "1000"}, {"New-serial", "1001"}}};
  e.time = spec_time();
  EXPECT_EQ(format_event(e),
            "Event=\"Certificate Store Commit\" Store=\"client\" Old-serial=\"1000\" New-serial=\"1001\" "
            "Level=\"1\" UTCTime=\"2026-03-29 06:54:39.839\"");
}

TEST(RateLimiter, PerKeyPerSecond) {
  RateLimiter rl(3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.allow("k", "198.18.0.2", 100));
  EXPECT_FALSE(rl.allow("k", "198.18.0.2", 100));
  EXPECT_TRUE(rl.allow("k", "198.18.0.3", 100));   // other source
  EXPECT_TRUE(rl.allow("k2", "198.18.0.2", 100));  // other kind
  EXPECT_TRUE(rl.allow("k", "198.18.0.2", 101));   // next second
  EXPECT_EQ(rl.suppressed(), 1u);
}

TEST(RateLimiter, ZeroLimitSuppressesAll) {
  RateLimiter rl(0);
  EXPECT_FALSE(rl.allow("k", "", 1));
  EXPECT_EQ(rl.suppressed(), 1u);
}

TEST(EventSink, WritesLinesInOrder) {
  TempDir d;
  {
    EventSink sink({.path = (d.path / "events.log").string(), .rate_per_second = 1000});
    for (int i = 0; i < 100; ++i)
      ASSERT_EQ(sink.submit("test", "", "line " + std::to_string(i)), EventSink::Push::Queued);
    sink.flush();
    EXPECT_EQ(sink.stats().written, 100u);
  }
  auto l = lines_of(d.path / "events.log");
  ASSERT_EQ(l.size(), 100u);
  EXPECT_EQ(l[0], "line 0");
  EXPECT_EQ(l[99], "line 99");
}

TEST(EventSink, RotatesBySizeAndKeepsBoundedFiles) {
  TempDir d;
  fs::path p = d.path / "events.log";
  std::string line(99, 'x');  // 100 bytes with newline
  {
    EventSink sink({.path = p.string(), .max_bytes = 1000, .max_files = 3, .rate_per_second = 100000});
    for (int i = 0; i < 100; ++i) sink.submit("t", "", line);
    sink.flush();
    EXPECT_GE(sink.stats().rotations, 9u);
  }
  EXPECT_TRUE(fs::exists(p));
  EXPECT_TRUE(fs::exists(d.path / "events.log.1"));
  EXPECT_TRUE(fs::exists(d.path / "events.log.3"));
  EXPECT_FALSE(fs::exists(d.path / "events.log.4"));
  for (auto& e : fs::directory_iterator(d.path)) EXPECT_LE(fs::file_size(e.path()), 1000u) << e.path();
}

TEST(EventSink, FloodFromOneSourceIsRateLimited) {
  TempDir d;
  fs::path p = d.path / "events.log";
  {
    EventSink sink({.path = p.string(), .rate_per_second = 5});
    TlsErrorEvent e;
    e.src_ip = "198.18.0.9";
    e.detail = "unsupported certificate purpose";
    int queued = 0;
    for (int i = 0; i < 10000; ++i) queued += sink.submit(e) == EventSink::Push::Queued;
    // At most 5 per second; the loop may straddle one second boundary.
    EXPECT_LE(queued, 10);
    EXPECT_GE(queued, 5);
    EXPECT_EQ(sink.stats().suppressed, 10000u - queued);
    e.src_ip = "198.18.0.10";  // another source is not starved
    EXPECT_EQ(sink.submit(e), EventSink::Push::Queued);
  }
  auto l = lines_of(p);
  ASSERT_FALSE(l.empty());
  int summaries = 0;
  for (const auto& s : l) summaries += s.find("Event=\"Events Suppressed\"") != std::string::npos;
  EXPECT_GE(summaries, 1);
  EXPECT_LE(l.size(), 14u);  // the flood did not reach the disk
}

TEST(EventSink, TooLongLineIsDropped) {
  TempDir d;
  EventSink sink({.path = (d.path / "e.log").string()});
  EXPECT_EQ(sink.submit("t", "", std::string(EventSink::kMaxLine + 1, 'a')), EventSink::Push::TooLong);
  EXPECT_EQ(sink.stats().dropped_long, 1u);
}

// Producers never block: with a tiny queue and many producers, every submit
// returns at once and each line is either written or counted as dropped.
TEST(EventSinkConcurrency, ManyProducersNeverBlockAndNothingIsLost) {
  TempDir d;
  fs::path p = d.path / "events.log";
  constexpr int kThreads = 4, kEach = 5000;
  uint64_t accepted = 0, dropped = 0;
  {
    EventSink sink({.path = p.string(), .queue_capacity = 64, .rate_per_second = 1u << 30});
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) sink.submit("t", "", "p" + std::to_string(t) + " " + std::to_string(i));
      });
    for (auto& t : ts) t.join();
    sink.flush();
    SinkStats s = sink.stats();
    accepted = s.accepted;
    dropped = s.dropped_full;
    EXPECT_EQ(s.accepted + s.dropped_full, uint64_t(kThreads) * kEach);
    EXPECT_EQ(s.written, s.accepted);
  }
  auto l = lines_of(p);
  EXPECT_EQ(l.size(), accepted);
  // Per producer, lines keep their submission order.
  std::vector<int> last(kThreads, -1);
  for (const auto& s : l) {
    int t = s[1] - '0';
    int i = std::stoi(s.substr(3));
    EXPECT_GT(i, last[t]);
    last[t] = i;
  }
  (void)dropped;
}

TEST(EventSink, SuppressionSummaryIsWrittenWithoutFurtherEvents) {
  TempDir d;
  fs::path p = d.path / "events.log";
  EventSink sink({.path = p.string(), .rate_per_second = 1});
  for (int i = 0; i < 50; ++i) sink.submit("k", "198.18.0.7", "flood");
  bool found = false;
  for (int i = 0; i < 200 && !found; ++i) {  // up to 2 s
    for (const auto& l : lines_of(p)) found |= l.find("Event=\"Events Suppressed\"") != std::string::npos;
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(found);
}

TEST(EventSink, UnwritablePathCountsErrorsAndNeverBlocks) {
  EventSink sink({.path = "/nonexistent-dir/turnpike/events.log"});
  EXPECT_EQ(sink.submit("t", "", "line"), EventSink::Push::Queued);
  sink.flush();
  EXPECT_GE(sink.stats().write_errors, 1u);
  EXPECT_EQ(sink.stats().written, 0u);
}

// --- Per-worker event rings (worker -> control thread) ---------------------------

TEST(EventRing, DrainsInOrderAndCountsWhatItRefuses) {
  turnpike::control::EventRing r(4);
  EXPECT_EQ(r.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.push("Kind", "198.18.0.2", "line " + std::to_string(i)));
  EXPECT_FALSE(r.push("Kind", "198.18.0.2", "line 4"));  // full: refused, counted, never waits
  EXPECT_EQ(r.dropped_full(), 1u);
  EXPECT_FALSE(r.push("Kind", "", std::string(turnpike::control::EventRing::kCellBytes, 'x')));
  EXPECT_EQ(r.dropped_long(), 1u);
  std::vector<std::string> got;
  EXPECT_EQ(r.drain([&](std::string_view k, std::string_view s, std::string_view l) {
    got.push_back(std::string(k) + "|" + std::string(s) + "|" + std::string(l));
  }), 4u);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "Kind|198.18.0.2|line 0");
  EXPECT_EQ(got[3], "Kind|198.18.0.2|line 3");
  EXPECT_TRUE(r.push("Kind", "", "again"));  // room again after the drain
  EXPECT_EQ(r.drain([](auto, auto, auto) {}), 1u);
  EXPECT_EQ(r.drain([](auto, auto, auto) {}), 0u);
}

// A full-length line from an IPv6 peer (the longest address text as the
// source key, the longest event kind) fits one cell.
TEST(EventRing, Ipv6SourceWithAFullLineFits) {
  turnpike::control::EventRing r(2);
  const std::string src = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  ASSERT_EQ(src.size(), turnpike::control::EventRing::kMaxSourceBytes);
  const std::string line(EventSink::kMaxLine, 'x');
  EXPECT_TRUE(r.push(kEventOutboundTlsError, src, line));
  EXPECT_EQ(r.dropped_long(), 0u);
  std::string got_src;
  std::size_t got_len = 0;
  EXPECT_EQ(r.drain([&](std::string_view, std::string_view s, std::string_view l) {
    got_src = s;
    got_len = l.size();
  }), 1u);
  EXPECT_EQ(got_src, src);
  EXPECT_EQ(got_len, line.size());
}

// One worker pushing while the control thread drains (run under TSan too):
// every event arrives once, in order, or is counted as dropped.
TEST(EventSinkConcurrency, EventRingOneProducerOneConsumer) {
  turnpike::control::EventRing r(64);
  constexpr int kN = 200000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) r.push("K", "src", std::to_string(i));
    done.store(true, std::memory_order_release);
  });
  long expect_at_least = 0, received = 0;
  bool ordered = true;
  auto take = [&](std::string_view, std::string_view s, std::string_view l) {
    const long v = std::stol(std::string(l));
    ordered = ordered && v >= expect_at_least && s == "src";
    expect_at_least = v + 1;
    ++received;
  };
  while (!done.load(std::memory_order_acquire)) r.drain(take);
  r.drain(take);
  producer.join();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(received + static_cast<long>(r.dropped_full()), kN);
  EXPECT_GT(received, 0);
}
