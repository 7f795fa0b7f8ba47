// Hibernation of idle sessions (issue 12 item 4): an open session's
// WOLFSSL is exported and freed, and re-created on the next record. A woken
// session must behave exactly like one never hibernated: records both ways
// in order, TLS 1.3 KeyUpdate in both directions (the traffic secrets the
// export leaves out), the peer record and getters, resumption tickets
// issued to a woken client, and a TLS 1.2 renegotiation refused the same
// way before and after (OpenSSL's s_client "R" over loopback).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/memory.h>

#include <array>
#include <cstdio>
#include <span>
#include <thread>
#include <vector>

#include "tls_util.hpp"
#include "turnpike/tls/stats.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using control::EkuMode;
using State = tls::Session::State;

namespace {

std::shared_ptr<const tls::Context> server_ctx(bool tls12, bool tls13, bool tickets = false) {
  tls::Options o = leaf_options("both");
  o.client_cert = tls::ClientCertMode::Require;
  o.tls12 = tls12;
  o.tls13 = tls13;
  if (tickets) o.tickets = std::make_shared<tls::TicketKeys>();
  auto r = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

std::shared_ptr<const tls::Context> client_ctx() {
  auto r = tls::Context::make_client(leaf_options("client"), tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

// `from` writes `msg`, the bytes cross, `to` reads it all back.
std::string send(tls::Session& from, tls::Session& to, const std::string& msg) {
  EXPECT_EQ(from.write(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()), msg.size());
  pump(from, to);
  std::string got;
  std::uint8_t buf[4096];
  for (std::size_t n; (n = to.read(buf, sizeof buf)) > 0;) got.append(reinterpret_cast<char*>(buf), n);
  pump(from, to);  // anything the read answered (a KeyUpdate)
  return got;
}

class Hibernate : public ::testing::TestWithParam<int> {};

TEST_P(Hibernate, WokenSessionsCarryRecordsBothWays) {
  const bool v13 = GetParam() == 13;
  tls::Session s(server_ctx(!v13, v13)), c(client_ctx(), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  ASSERT_EQ(c.state(), State::Open) << c.failure();
  EXPECT_EQ(send(c, s, "first"), "first");
  const std::string version = s.version(), cipher = s.cipher(), group = s.group(), cn = s.peer().cn;
  ASSERT_FALSE(group.empty());
  const tls::Stats before = tls::stats_totals();

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    ASSERT_TRUE(s.hibernate());
    ASSERT_TRUE(c.hibernate());
    EXPECT_TRUE(s.hibernated());
    EXPECT_EQ(s.raw(), nullptr);
    EXPECT_FALSE(s.hibernate());  // once
    // What the proxy and the events read stays the same while asleep.
    EXPECT_EQ(s.version(), version);
    EXPECT_EQ(s.cipher(), cipher);
    EXPECT_EQ(s.group(), group);
    EXPECT_EQ(s.peer().cn, cn);
    EXPECT_FALSE(s.resumed());
    // A read with nothing to read does not wake it.
    std::uint8_t b[16];
    EXPECT_EQ(s.read(b, sizeof b), 0u);
    EXPECT_TRUE(s.hibernated());
    // The client writes first (wakes it), the server wakes on the record.
    const std::string req = "REGISTER " + std::to_string(round) + std::string(3000, 'x');
    EXPECT_EQ(send(c, s, req), req);
    EXPECT_FALSE(s.hibernated());
    EXPECT_EQ(s.group(), group);  // restored in the woken WOLFSSL
    EXPECT_EQ(s.version(), version);
    EXPECT_EQ(send(s, c, "200 OK " + std::to_string(round)), "200 OK " + std::to_string(round));
  }
  const tls::Stats after = tls::stats_totals();
  EXPECT_EQ(after.hibernated - before.hibernated, 6u);
  EXPECT_EQ(after.woken - before.woken, 6u);
  EXPECT_EQ(after.wake_failures, before.wake_failures);

  // The server hibernates again and the client ends the connection: the
  // woken server reads the close_notify (RFC 8446 §6.1).
  ASSERT_TRUE(s.hibernate());
  c.close();
  pump(c, s);
  std::uint8_t b[16];
  EXPECT_EQ(s.read(b, sizeof b), 0u);
  EXPECT_EQ(s.state(), State::Closed);
}

TEST_P(Hibernate, NotWhilePendingOrHandshaking) {
  const bool v13 = GetParam() == 13;
  tls::Session s(server_ctx(!v13, v13)), c(client_ctx(), "both.test");
  EXPECT_FALSE(s.hibernate());  // handshaking
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open);
  // Ciphertext fed but not read yet: no.
  const std::string m = "INVITE";
  c.write(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());
  auto o = c.output();
  s.feed(o.data(), o.size());
  c.consume_output(o.size());
  EXPECT_FALSE(s.hibernate());
  std::uint8_t b[64];
  EXPECT_EQ(s.read(b, sizeof b), m.size());
  // Ciphertext queued for the peer and not yet taken: no.
  s.write(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());
  EXPECT_FALSE(s.hibernate());
  o = s.output();
  c.feed(o.data(), o.size());
  s.consume_output(o.size());
  EXPECT_TRUE(s.hibernate());
  // Closed sessions stay as they are.
  tls::Session s2(server_ctx(!v13, v13)), c2(client_ctx(), "both.test");
  pump(c2, s2);
  s2.close();
  EXPECT_FALSE(s2.hibernate());
}

TEST_P(Hibernate, IdleFollowsTheSetting) {
  const bool v13 = GetParam() == 13;
  tls::Session s(server_ctx(!v13, v13)), c(client_ctx(), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open);
  const std::uint64_t saved = tls::hibernate_after();
  tls::set_hibernate_after(2'000'000);
  EXPECT_FALSE(s.idle(1'999'999));
  EXPECT_TRUE(s.idle(2'000'000));
  EXPECT_TRUE(s.hibernated());
  EXPECT_EQ(send(c, s, "x"), "x");
  tls::set_hibernate_after(0);  // off
  EXPECT_FALSE(s.idle(3'600'000'000));
  EXPECT_FALSE(s.hibernated());
  tls::set_hibernate_after(saved);
}

INSTANTIATE_TEST_SUITE_P(Tls, Hibernate, ::testing::Values(12, 13),
                         [](const auto& i) { return "TLS1" + std::to_string(i.param % 10); });

// RFC 8446 §4.6.3: each side's KeyUpdate ratchets its traffic secret; a
// woken session must still hold the secrets to follow (and answer with
// update_requested).
TEST(Hibernate13, KeyUpdateAfterWake) {
  tls::Session s(server_ctx(false, true)), c(client_ctx(), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open);
  EXPECT_EQ(send(c, s, "a"), "a");
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    // Client updates its keys while the server sleeps.
    ASSERT_TRUE(s.hibernate());
    ASSERT_EQ(wolfSSL_update_keys(c.raw()), WOLFSSL_SUCCESS);
    EXPECT_EQ(send(c, s, "after client update"), "after client update");
    EXPECT_EQ(send(s, c, "reply"), "reply");
    // Server updates its keys while the client sleeps.
    ASSERT_TRUE(c.hibernate());
    ASSERT_TRUE(s.hibernate());
    EXPECT_EQ(send(c, s, "wake"), "wake");  // wakes both
    ASSERT_EQ(wolfSSL_update_keys(s.raw()), WOLFSSL_SUCCESS);
    EXPECT_EQ(send(s, c, "after server update"), "after server update");
    EXPECT_EQ(send(c, s, "and back"), "and back");
  }
  EXPECT_EQ(s.state(), State::Open);
  EXPECT_EQ(c.state(), State::Open);
}

// A client woken after the handshake still takes the server's tickets
// with the right resumption secret: the next connection resumes.
TEST(Hibernate13, ClientResumesWithTicketAfterWake) {
  auto sctx = server_ctx(false, true, /*tickets=*/true);
  auto cctx = client_ctx();
  tls::Session s(sctx), c(cctx, "both.test");
  pump(c, s);
  ASSERT_EQ(c.state(), State::Open);
  EXPECT_EQ(send(s, c, "hello"), "hello");  // the NewSessionTicket came with it
  ASSERT_TRUE(c.hibernate());
  tls::SavedSession saved = c.save();  // from the hibernated client
  ASSERT_TRUE(saved);
  EXPECT_EQ(send(s, c, "more"), "more");  // wakes the client
  tls::SavedSession again = c.save();
  ASSERT_TRUE(again);
  for (auto* sv : {&saved, &again}) {
    tls::Session s2(sctx), c2(cctx, "both.test", false, *sv);
    pump(c2, s2);
    ASSERT_EQ(s2.state(), State::Open) << s2.failure();
    EXPECT_TRUE(s2.resumed());
    EXPECT_TRUE(c2.resumed());
  }
}

// Every AEAD suite turnpike offers wakes the same way (ChaCha20-Poly1305's
// state and SHA-384's 48-byte traffic secrets included).
TEST(Hibernate, EverySuiteWakes) {
  struct {
    const char* suite;
    bool tls13;
  } cases[] = {{"TLS13-AES128-GCM-SHA256", true},         {"TLS13-AES256-GCM-SHA384", true},
               {"TLS13-CHACHA20-POLY1305-SHA256", true},  {"ECDHE-ECDSA-AES128-GCM-SHA256", false},
               {"ECDHE-ECDSA-AES256-GCM-SHA384", false},  {"ECDHE-ECDSA-CHACHA20-POLY1305", false}};
  for (auto& k : cases) {
    SCOPED_TRACE(k.suite);
    tls::Options o = leaf_options("both");
    o.client_cert = tls::ClientCertMode::None;
    o.tls12 = !k.tls13;
    o.tls13 = k.tls13;
    o.ciphersuites = k.suite;
    auto srv = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
    ASSERT_TRUE(srv) << srv.error;
    tls::Session s(*srv), c(client_ctx(), "both.test");
    pump(c, s);
    ASSERT_EQ(s.state(), State::Open) << s.failure();
    const std::string cipher = s.cipher();
    EXPECT_EQ(cipher, k.suite);
    for (int round = 0; round < 2; ++round) {
      ASSERT_TRUE(s.hibernate());
      ASSERT_TRUE(c.hibernate());
      EXPECT_EQ(s.cipher(), cipher);
      EXPECT_EQ(send(c, s, "REGISTER " + std::to_string(round)), "REGISTER " + std::to_string(round));
      EXPECT_EQ(send(s, c, "200 " + std::to_string(round)), "200 " + std::to_string(round));
      if (k.tls13) {
        ASSERT_EQ(wolfSSL_update_keys(s.raw()), WOLFSSL_SUCCESS);
        EXPECT_EQ(send(s, c, "updated"), "updated");
        EXPECT_EQ(send(c, s, "seen"), "seen");
      }
    }
    EXPECT_EQ(s.cipher(), cipher);
  }
}

// A server with several identities wakes from the context SNI chose
// (here an RSA certificate: ECDHE-RSA suites over TLS 1.2).
TEST(Hibernate, SniIdentityKeptAcrossTheWake) {
  for (bool tls13 : {true, false}) {
    SCOPED_TRACE(tls13 ? "TLS 1.3" : "TLS 1.2");
    tls::Options o = leaf_options("both");
    for (const char* n : {"multi", "multi-rsa"})
      o.identities.push_back({pki_file(std::string(n) + "-chain.pem"), pki_file(std::string(n) + ".key")});
    o.tls13 = tls13;
    o.client_cert = tls::ClientCertMode::None;
    auto srv = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
    ASSERT_TRUE(srv) << srv.error;
    auto cli = tls::Context::make_client(tls::Options{}, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
    ASSERT_TRUE(cli) << cli.error;
    tls::Session s(*srv), c(*cli, "rsa.sni.test");
    pump(c, s);
    ASSERT_EQ(c.state(), State::Open) << c.failure();
    ASSERT_EQ(s.identity(), 2u);
    const std::string cipher = s.cipher();
    ASSERT_TRUE(s.hibernate());
    EXPECT_EQ(send(c, s, "REGISTER"), "REGISTER");
    EXPECT_EQ(send(s, c, "SIP/2.0 200 OK"), "SIP/2.0 200 OK");
    EXPECT_EQ(s.identity(), 2u);
    EXPECT_EQ(s.cipher(), cipher);
  }
}

// A wake that cannot re-create its WOLFSSL (here: wolfSSL's allocator
// fails) fails the session with a named reason and a count; it never goes
// on half made.
TEST(Hibernate13, FailedWakeFailsTheSessionWithAReason) {
  tls::Session s(server_ctx(false, true)), c(client_ctx(), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open);
  ASSERT_TRUE(s.hibernate());
  const std::string m = "OPTIONS";
  c.write(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());
  auto o = c.output();
  s.feed(o.data(), o.size());
  c.consume_output(o.size());
  wolfSSL_Malloc_cb mf = nullptr;
  wolfSSL_Free_cb ff = nullptr;
  wolfSSL_Realloc_cb rf = nullptr;
  ASSERT_EQ(wolfSSL_GetAllocators(&mf, &ff, &rf), 0);
  const std::uint64_t failed0 = tls::stats_totals().wake_failures;
  wolfSSL_SetAllocators([](size_t) -> void* { return nullptr; }, ff, [](void*, size_t) -> void* { return nullptr; });
  std::uint8_t b[64];
  const std::size_t n = s.read(b, sizeof b);
  wolfSSL_SetAllocators(mf, ff, rf);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(s.state(), State::Failed);
  EXPECT_EQ(s.failure(), "session wake failed");
  EXPECT_FALSE(s.hibernated());
  EXPECT_EQ(s.raw(), nullptr);
  EXPECT_EQ(tls::stats_totals().wake_failures - failed0, 1u);
  s.close();  // nothing to send, nothing to crash on
  EXPECT_TRUE(s.output().empty());
}

// RFC 5746 §3.4/§3.6: turnpike's client sends the empty renegotiation_info
// and its server answers it, so both ends know renegotiation would be
// secure (and both refuse to do one).
TEST(Renegotiation, IndicationBothWays) {
  tls::Session s(server_ctx(true, false)), c(client_ctx(), "both.test");
  pump(c, s);
  ASSERT_EQ(s.state(), State::Open) << s.failure();
  EXPECT_EQ(wolfSSL_SSL_get_secure_renegotiation_support(s.raw()), 1);
  EXPECT_EQ(wolfSSL_SSL_get_secure_renegotiation_support(c.raw()), 1);
}

// --- renegotiation, against OpenSSL's s_client -------------------------------


struct Served {
  State state = State::Handshaking;
  std::string failure, request;
  int hibernations = 0;
};

// One connection over loopback; the session hibernates whenever the
// socket has been quiet for 50 ms (when `hibernate`).
Served serve_one(std::shared_ptr<const tls::Context> ctx, int lfd, bool hibernate) {
  Served r;
  pollfd lp{lfd, POLLIN, 0};
  if (poll(&lp, 1, 20000) <= 0) return r;
  const int c = accept(lfd, nullptr, nullptr);
  tls::Session s(std::move(ctx));
  std::array<std::uint8_t, 16384> buf;
  auto flush = [&] {
    for (auto o = s.output(); !o.empty(); o = s.output()) {
      const ssize_t n = send(c, o.data(), o.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.consume_output(static_cast<std::size_t>(n));
    }
  };
  std::size_t answered = 0;
  for (int iter = 0; iter < 400; ++iter) {
    s.step();
    if (s.state() == State::Open)
      for (std::size_t n; (n = s.read(buf.data(), buf.size())) > 0;)
        r.request.append(reinterpret_cast<char*>(buf.data()), n);
    // One answer per request (blank line): records from a woken session.
    for (std::size_t at = 0, k = 0; (at = r.request.find("\r\n\r\n", at)) != std::string::npos; at += 4, ++k)
      if (k == answered && s.state() == State::Open) {
        const std::string ok = "SIP/2.0 200 OK #" + std::to_string(++answered) + "\r\n\r\n";
        s.write(reinterpret_cast<const std::uint8_t*>(ok.data()), ok.size());
      }
    flush();
    if (s.state() == State::Failed || s.state() == State::Closed) break;
    pollfd p{c, POLLIN, 0};
    const int ready = poll(&p, 1, 50);
    if (ready < 0) break;
    if (ready == 0) {
      if (hibernate && s.hibernate()) ++r.hibernations;
      continue;
    }
    const ssize_t n = recv(c, buf.data(), buf.size(), 0);
    if (n <= 0) {
      s.feed_eof();
      s.step();
      break;
    }
    s.feed(buf.data(), static_cast<std::size_t>(n));
  }
  r.state = s.state();
  r.failure = s.failure();
  shutdown(c, SHUT_RDWR);
  close(c);
  return r;
}

// RFC 5746: the server still signals secure renegotiation (§3.6), but a
// client-initiated renegotiation is refused: the connection ends with a
// named failure and a count, never a second handshake. Same answer from a
// session that was hibernated when the renegotiating ClientHello came.
TEST(Renegotiation, ClientInitiatedIsRefused) {
  for (bool hibernate : {false, true}) {
    SCOPED_TRACE(hibernate ? "hibernated" : "awake");
    int port = 0;
    const int lfd = listen_loopback(port);
    ASSERT_GE(lfd, 0);
    Served res;
    std::thread t([&] { res = serve_one(server_ctx(true, false), lfd, hibernate); });
    const std::string d = pki_dir().string();
    const std::uint64_t refused0 = tls::stats_totals().renegotiations_refused;
    // A request, a pause (the server hibernates), a second request (it
    // wakes, answers, sleeps again), then "R": renegotiate (s_client takes
    // commands only without -ign_eof).
    const std::string out = run_cmd(
        "(printf 'OPTIONS sip:both.test SIP/2.0\\r\\n\\r\\n'; sleep 0.5; printf 'OPTIONS 2\\r\\n\\r\\n'; sleep 0.5; "
        "printf 'R\\n'; sleep 1) | timeout 20 "
        "openssl s_client -tls1_2 -connect 127.0.0.1:" + std::to_string(port) +
        " -servername both.test -CAfile " + d + "/ca.pem -cert " + d + "/client.pem -key " + d +
        "/client.key -cert_chain " + d + "/inter.pem");
    t.join();
    close(lfd);
    EXPECT_NE(out.find("Secure Renegotiation IS supported"), std::string::npos) << out;
    EXPECT_NE(out.find("RENEGOTIATING"), std::string::npos) << out;
    EXPECT_EQ(res.request, "OPTIONS sip:both.test SIP/2.0\r\n\r\nOPTIONS 2\r\n\r\n");
    EXPECT_NE(out.find("SIP/2.0 200 OK #1"), std::string::npos) << out;
    EXPECT_NE(out.find("SIP/2.0 200 OK #2"), std::string::npos) << out;
    EXPECT_EQ(res.state, State::Failed);
    EXPECT_EQ(res.failure, "renegotiation refused");
    // Asleep before the second request and before the "R".
    if (hibernate) EXPECT_GE(res.hibernations, 2);
    else EXPECT_EQ(res.hibernations, 0);
    EXPECT_EQ(tls::stats_totals().renegotiations_refused - refused0, 1u);
    EXPECT_NE(out.find("alert unexpected message"), std::string::npos) << out;
  }
}

}  // namespace

namespace {
// A transport over two in-memory queues (the worker's TCP buffers).
struct Wire final : tls::Session::Transport {
  std::vector<std::uint8_t> in, out;
  std::span<const std::uint8_t> peek() override { return in; }
  void consume(std::size_t n) override { in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n)); }
  std::size_t write(const std::uint8_t* p, std::size_t n) override {
    out.insert(out.end(), p, p + n);
    return n;
  }
};
}  // namespace

// An awake session over a transport keeps no handshake buffer once open:
// what it was fed (the peer's flights) and the queue its own flights went
// through are freed, on both roles, TLS 1.2 (whose server sends its last
// flight after it opens) and 1.3, and stay freed as records cross.
// Regression: ~2.2 KiB per awake connection stayed for its life
// (bench_ring_sip's 1,988 B and 246 B blocks).
TEST(AwakeMemory, HandshakeBuffersGoWhenTheSessionOpens) {
  for (const int v : {12, 13}) {
    SCOPED_TRACE(v);
    tls::Session s(server_ctx(v == 12, v == 13)), c(client_ctx(), "both.test");
    Wire sw, cw;
    s.set_transport(&sw);
    c.set_transport(&cw);
    pump(c, s);
    ASSERT_EQ(s.state(), State::Open) << s.failure();
    ASSERT_EQ(c.state(), State::Open) << c.failure();
    EXPECT_TRUE(s.output().empty());
    EXPECT_TRUE(c.output().empty());
    EXPECT_EQ(s.queue_bytes(), 0u);
    EXPECT_EQ(c.queue_bytes(), 0u);
    // Records now go between the transports, not through the queues.
    const std::string req = "OPTIONS sip:both.test SIP/2.0\r\n\r\n", resp = "SIP/2.0 200 OK\r\n\r\n";
    ASSERT_EQ(c.write(reinterpret_cast<const std::uint8_t*>(req.data()), req.size()), req.size());
    sw.in.insert(sw.in.end(), cw.out.begin(), cw.out.end());
    cw.out.clear();
    std::uint8_t buf[256];
    std::string got(reinterpret_cast<char*>(buf), s.read(buf, sizeof buf));
    EXPECT_EQ(got, req);
    ASSERT_EQ(s.write(reinterpret_cast<const std::uint8_t*>(resp.data()), resp.size()), resp.size());
    cw.in.insert(cw.in.end(), sw.out.begin(), sw.out.end());
    sw.out.clear();
    std::string back;
    for (std::size_t n; (n = c.read(buf, sizeof buf)) > 0;) back.append(reinterpret_cast<char*>(buf), n);
    EXPECT_EQ(back, resp);
    EXPECT_EQ(s.queue_bytes(), 0u);
    EXPECT_EQ(c.queue_bytes(), 0u);
  }
}
