// Prometheus exposition writer: names, escaping, HELP/TYPE once per family,
// bad input dropped (never an invalid page), and the listen-address parser.
#include <gtest/gtest.h>

#include "turnpike/control/metrics.hpp"

using namespace turnpike::control::metrics;

TEST(MetricsNames, ValidAndInvalid) {
  EXPECT_TRUE(valid_metric_name("turnpike_tls_handshakes_total"));
  EXPECT_TRUE(valid_metric_name("a:b_c9"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9abc"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_metric_name("a b"));
  EXPECT_TRUE(valid_label_name("detail"));
  EXPECT_FALSE(valid_label_name("__name__"));  // reserved
  EXPECT_FALSE(valid_label_name("a:b"));       // colons only in metric names
  EXPECT_FALSE(valid_label_name("1a"));
  EXPECT_FALSE(valid_label_name(""));
}

TEST(MetricsEscape, LabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value(R"(a"b\c)" "\n"), R"(a\"b\\c\n)");
  EXPECT_EQ(escape_label_value("unsupported certificate purpose"), "unsupported certificate purpose");
  EXPECT_EQ(escape_help("x\\y\n\"z\""), "x\\\\y\\n\"z\"");  // quotes stay in HELP
}

TEST(MetricsValue, Formats) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(1700000000), "1700000000");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(MetricsWriter, HelpAndTypeOncePerFamilyGroupedInOrder) {
  Writer w;
  w.counter("t_a_total", "first", {{"worker", "0"}}, std::uint64_t{1});
  w.gauge("t_b", "second", {}, 2.5);
  w.counter("t_a_total", "ignored second help", {{"worker", "1"}}, std::uint64_t{18446744073709551615ull});
  EXPECT_EQ(w.render(),
            "# HELP t_a_total first\n"
            "# TYPE t_a_total counter\n"
            "t_a_total{worker=\"0\"} 1\n"
            "t_a_total{worker=\"1\"} 18446744073709551615\n"
            "# HELP t_b second\n"
            "# TYPE t_b gauge\n"
            "t_b 2.5\n");
  EXPECT_EQ(w.families(), 2u);
  EXPECT_EQ(w.rejected(), 0u);
}

TEST(MetricsWriter, DeclaredFamilyWithoutSamplesStillHasHelpAndType) {
  Writer w;
  w.family("t_none_total", Type::Counter, "nothing yet");
  EXPECT_EQ(w.render(), "# HELP t_none_total nothing yet\n# TYPE t_none_total counter\n");
}

TEST(MetricsWriter, LabelValuesEscapedInSamples) {
  Writer w;
  w.counter("t_fail_total", "h", {{"listener", "0.0.0.0:5061"}, {"detail", "bad \"x\"\\\n"}}, std::uint64_t{2});
  EXPECT_NE(w.render().find("t_fail_total{listener=\"0.0.0.0:5061\",detail=\"bad \\\"x\\\"\\\\\\n\"} 2\n"),
            std::string::npos);
}

TEST(MetricsWriter, InvalidInputIsDroppedAndCounted) {
  Writer w;
  w.family("bad-name", Type::Gauge, "h");                             // invalid metric name
  w.sample("bad-name", {}, 1.0);                                      // its sample too
  w.sample("undeclared", {}, 1.0);                                    // no family
  w.gauge("ok", "h", {{"bad-label", "v"}}, 1);                        // invalid label name
  w.family("ok", Type::Counter, "h");                                 // same name, other type
  w.gauge("ok", "h", {{"good", "v"}}, 1);
  EXPECT_EQ(w.rejected(), 5u);
  EXPECT_EQ(w.render(), "# HELP ok h\n# TYPE ok gauge\nok{good=\"v\"} 1\n");
}

TEST(MetricsWriter, EmptyWriterRendersNothing) { EXPECT_EQ(Writer().render(), ""); }

TEST(MetricsListen, Parses) {
  std::string ip, why;
  std::uint16_t port = 1;
  EXPECT_TRUE(parse_listen("127.0.0.1:9661", ip, port, why));
  EXPECT_EQ(ip, "127.0.0.1");
  EXPECT_EQ(port, 9661);
  EXPECT_TRUE(parse_listen("off", ip, port, why));
  EXPECT_TRUE(ip.empty());
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(parse_listen("", ip, port, why));
  EXPECT_TRUE(parse_listen("0.0.0.0:1", ip, port, why));
  EXPECT_TRUE(parse_listen("255.255.255.255:65535", ip, port, why));
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":9661", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:96x",
                          "256.0.0.1:1", "1.2.3:1", "1.2.3.4.5:1", "a.b.c.d:1", "1..2.3:1", "localhost:9661",
                          "1.2.3.4:-1", "[::1]:9661"}) {
    why.clear();
    EXPECT_FALSE(parse_listen(bad, ip, port, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}
