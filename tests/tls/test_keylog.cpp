// The diagnostics key log in memory: a listener context armed for the key
// log arms the sessions created after it (not before), a TLS 1.2 handshake
// writes one CLIENT_RANDOM line whose random is the client's, nothing is
// written once the log ended, and TLS 1.3 writes its traffic secrets only
// when wolfSSL has HAVE_SECRET_CALLBACK.
#include <gtest/gtest.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tls_util.hpp"
#include "turnpike/tls/keylog.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using State = tls::Session::State;

namespace {

tls::Verifier verifier() { return tls::Verifier{test_trust(), nullptr, control::EkuMode::On, 1}; }

std::shared_ptr<const tls::Context> server() {
  auto r = tls::Context::make_server(leaf_options("both"), verifier());
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

std::shared_ptr<const tls::Context> client(bool tls13) {
  tls::Options o;
  o.tls13 = tls13;
  auto r = tls::Context::make_client(o, verifier());
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

std::string hex(const unsigned char* p, std::size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += {k[p[i] >> 4], k[p[i] & 15]};
  return s;
}

}  // namespace

TEST(KeyLog, Tls12WritesClientRandomForArmedSessionsOnly) {
  tls::KeyLog& k = tls::KeyLog::instance();
  auto srv = server();
  auto cli = client(false);
  k.begin();
  tls::Session before(srv), cb(cli, "both.test");  // created before the listener is armed
  srv->set_keylog(&k);
  tls::Session s(srv), c(cli, "both.test");
  wolfSSL_KeepArrays(c.raw());  // so the test can read the client's random afterwards
  pump(c, s);
  pump(cb, before);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  ASSERT_EQ(before.state(), State::Open) << before.failure();
  ASSERT_EQ(s.version(), "TLSv1.2");
  srv->set_keylog(nullptr);
  k.end();
  unsigned char cr[32];
  ASSERT_EQ(wolfSSL_get_client_random(c.raw(), cr, sizeof cr), 32u);
  const std::string log = k.contents();
  EXPECT_EQ(k.lines(), 1u) << log;
  EXPECT_EQ(log.rfind("CLIENT_RANDOM " + hex(cr, 32) + " ", 0), 0u) << log;
  EXPECT_EQ(log.size(), std::string("CLIENT_RANDOM ").size() + 64 + 1 + 96 + 1) << log;
  // The session still works after its arrays were freed.
  const std::uint8_t msg[] = "OPTIONS";
  EXPECT_EQ(c.write(msg, sizeof msg), sizeof msg);
  pump(c, s);
  std::uint8_t buf[16];
  EXPECT_EQ(s.read(buf, sizeof buf), sizeof msg);
}

TEST(KeyLog, NothingIsWrittenAfterTheEnd) {
  tls::KeyLog& k = tls::KeyLog::instance();
  auto srv = server();
  k.begin();
  srv->set_keylog(&k);
  tls::Session s(srv), c(client(false), "both.test");  // armed
  k.end();                                              // the window closes mid-handshake
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  EXPECT_EQ(k.lines(), 0u);
  EXPECT_EQ(k.contents(), "");
}

TEST(KeyLog, Tls13SecretsNeedTheSecretCallback) {
  tls::KeyLog& k = tls::KeyLog::instance();
  auto srv = server();
  k.begin();
  srv->set_keylog(&k);
  tls::Session s(srv), c(client(true), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  ASSERT_EQ(s.version(), "TLSv1.3");
  k.end();
  const std::string log = k.contents();
#if defined(HAVE_SECRET_CALLBACK)
  for (const char* l : {"CLIENT_HANDSHAKE_TRAFFIC_SECRET ", "SERVER_HANDSHAKE_TRAFFIC_SECRET ",
                        "CLIENT_TRAFFIC_SECRET_0 ", "SERVER_TRAFFIC_SECRET_0 "})
    EXPECT_NE(log.find(l), std::string::npos) << l << "\n" << log;
#else
  EXPECT_EQ(log, "") << "wolfSSL without HAVE_SECRET_CALLBACK cannot hand over TLS 1.3 secrets";
#endif
}
