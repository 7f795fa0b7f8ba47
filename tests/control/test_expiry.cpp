// Expiry warnings with certificates a few days from expiry, generated here
// with openssl (issue 11 item 5): 60/30/7/1-day thresholds, once each per
// certificate, the tightest only when first seen inside one, one event
// when expired, and a replaced certificate starts afresh.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "turnpike/control/expiry.hpp"

using namespace turnpike::control;

namespace {

struct Made {
  Der der;
  CertFacts facts;
};

// A self-signed certificate valid for `days` days from now.
Made make_cert(int days, const std::string& cn) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tp-expiry-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string crt = (dir / (cn + ".pem")).string(), key = (dir / (cn + ".key")).string();
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days " +
                          std::to_string(days) + " -subj /CN=" + cn + " -keyout '" + key + "' -out '" + crt +
                          "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
  std::ifstream f(crt);
  std::ostringstream s;
  s << f.rdbuf();
  std::filesystem::remove_all(dir);
  auto ders = pem_certs_to_der(s.str());
  if (!ders) throw std::runtime_error(ders.error);
  auto facts = extract_facts((*ders)[0]);
  if (!facts) throw std::runtime_error(facts.error);
  return {(*ders)[0], *facts};
}

void put(StoredCert& sc, const Made& m) {
  sc.chain_der = {m.der};
  sc.leaf = m.facts;
}

std::string field(const EventLine& e, std::string_view k) {
  for (auto& [n, v] : e.fields)
    if (n == k) return v;
  return {};
}

constexpr int64_t kDay = 86400;

}  // namespace

TEST(Expiry, DaysLeftRoundsDown) {
  EXPECT_EQ(days_left(1000 + 3 * kDay, 1000), 3);
  EXPECT_EQ(days_left(1000 + 3 * kDay - 1, 1000), 2);
  EXPECT_EQ(days_left(1000, 1000), 0);
  EXPECT_EQ(days_left(999, 1000), -1);
  EXPECT_EQ(days_left(1000 - kDay, 1000), -1);
  EXPECT_EQ(days_left(1000 - kDay - 1, 1000), -2);
}

TEST(Expiry, ListsStoresAndTrust) {
  StoreSnapshot s;
  const Made a = make_cert(3, "server-a"), b = make_cert(90, "client-b"), c = make_cert(400, "ca-c");
  put(s.server, a);
  put(s.client, b);
  s.ca_facts = {c.facts};
  auto v = store_certificates(s);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].store, "server");
  EXPECT_EQ(v[0].serial, a.facts.serial_hex);
  EXPECT_EQ(v[0].not_after, a.facts.not_after);
  EXPECT_EQ(v[1].store, "client");
  EXPECT_EQ(v[2].store, "ca");
  EXPECT_TRUE(store_certificates(StoreSnapshot{}).empty());
}

TEST(Expiry, ThreeDaysLeftGivesTheSevenDayWarningOnce) {
  StoreSnapshot s;
  const Made a = make_cert(3, "three-days");
  put(s.server, a);
  ExpiryWatch w;
  const int64_t now = a.facts.not_after - 3 * kDay + 60;  // just under 3 days left
  auto ev = w.check(s, now);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, kEventCertExpiring);
  EXPECT_EQ(field(ev[0], "Store"), "server");
  EXPECT_EQ(field(ev[0], "Threshold-days"), "7");
  EXPECT_EQ(field(ev[0], "Days-left"), "2");
  EXPECT_EQ(field(ev[0], "Serial"), a.facts.serial_hex);
  EXPECT_NE(format_event(ev[0]).find("Subject=\"CN=three-days\""), std::string::npos) << format_event(ev[0]);
  // Every second after: nothing new until the next threshold.
  for (int i = 1; i < 5; ++i) EXPECT_TRUE(w.check(s, now + i).empty());
  // 1 day: the last warning, then expiry, each once.
  auto one = w.check(s, a.facts.not_after - kDay);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(field(one[0], "Threshold-days"), "1");
  EXPECT_TRUE(w.check(s, a.facts.not_after - 10).empty());
  auto gone = w.check(s, a.facts.not_after);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].kind, kEventCertExpired);
  EXPECT_EQ(gone[0].level, 1);
  EXPECT_TRUE(w.check(s, a.facts.not_after + kDay).empty());
}

TEST(Expiry, WalksEveryThresholdInTurn) {
  StoreSnapshot s;
  const Made c = make_cert(100, "ca-100");
  s.ca_facts = {c.facts};
  ExpiryWatch w;
  const int64_t na = c.facts.not_after;
  EXPECT_TRUE(w.check(s, na - 61 * kDay).empty());  // outside every threshold
  std::vector<std::string> seen;
  for (int64_t t = na - 61 * kDay; t <= na + kDay; t += 3600)
    for (auto& e : w.check(s, t))
      seen.push_back(e.kind == kEventCertExpired ? "expired" : field(e, "Threshold-days") + "@" + field(e, "Days-left"));
  EXPECT_EQ(seen, (std::vector<std::string>{"60@60", "30@30", "7@7", "1@1", "expired"}));
}

TEST(Expiry, EachCertificateAndStoreSeparately) {
  StoreSnapshot s;
  const Made a = make_cert(3, "srv"), b = make_cert(20, "cli"), c = make_cert(45, "ca");
  put(s.server, a);
  put(s.client, b);
  s.ca_facts = {c.facts};
  ExpiryWatch w;
  const int64_t now = a.facts.not_after - 3 * kDay + 60;
  auto ev = w.check(s, now);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(field(ev[0], "Threshold-days"), "7");
  EXPECT_EQ(field(ev[1], "Store"), "client");
  EXPECT_EQ(field(ev[1], "Threshold-days"), "30");
  EXPECT_EQ(field(ev[2], "Store"), "ca");
  EXPECT_EQ(field(ev[2], "Threshold-days"), "60");
  EXPECT_TRUE(w.check(s, now + 1).empty());
  // The same certificate in the client store too: its own warning.
  put(s.client, a);
  auto ev2 = w.check(s, now + 2);
  ASSERT_EQ(ev2.size(), 1u);
  EXPECT_EQ(field(ev2[0], "Store"), "client");
  // A renewed server certificate: quiet; the old one's warnings are spent.
  const Made renewed = make_cert(365, "srv");
  put(s.server, renewed);
  EXPECT_TRUE(w.check(s, now + 3).empty());
}

TEST(Expiry, AlreadyExpiredAtStartGivesOneExpiredEvent) {
  StoreSnapshot s;
  const Made a = make_cert(1, "short");
  put(s.server, a);
  ExpiryWatch w;
  auto ev = w.check(s, a.facts.not_after + 5 * kDay);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, kEventCertExpired);
  EXPECT_EQ(field(ev[0], "Days-left"), "-5");
  EXPECT_TRUE(w.check(s, a.facts.not_after + 6 * kDay).empty());
}
