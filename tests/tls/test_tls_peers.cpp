// The TLS engine against TLS stacks nobody here wrote: OpenSSL's s_client and
// Python's ssl module connect over loopback to a test server that carries
// the engine's bytes on a kernel socket (the data plane uses turnpike's own
// TCP; here only the TLS and policy logic is under test). Each client
// certificate of the spec's table in both modes: accept, or refuse with
// unsupported_certificate and the right Detail.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <thread>

#include "tls_util.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using control::EkuMode;

namespace {

struct ServerResult {
  tls::Session::State state = tls::Session::State::Handshaking;
  std::string failure;
  std::string request;
};

// Accepts one connection, runs a session over it, answers one SIP request.
class OneShotServer {
 public:
  explicit OneShotServer(std::shared_ptr<const tls::Context> ctx) : ctx_(std::move(ctx)) {
    fd_ = listen_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  ServerResult result() {
    thread_.join();
    return res_;
  }

 private:
  void flush(tls::Session& s, int c) {
    auto out = s.output();
    while (!out.empty()) {
      const ssize_t n = send(c, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.consume_output(static_cast<std::size_t>(n));
      out = s.output();
    }
  }
  void serve() {
    pollfd lp{fd_, POLLIN, 0};
    if (poll(&lp, 1, 20000) <= 0) return;
    const int c = accept(fd_, nullptr, nullptr);
    tls::Session s(ctx_);
    std::array<std::uint8_t, 16384> buf;
    for (int iter = 0; iter < 2000; ++iter) {
      s.step();
      flush(s, c);
      if (s.state() == tls::Session::State::Failed || s.state() == tls::Session::State::Closed) break;
      if (s.state() == tls::Session::State::Open) {
        std::size_t n;
        while ((n = s.read(buf.data(), buf.size())) > 0) res_.request.append(reinterpret_cast<char*>(buf.data()), n);
        if (res_.request.find("\r\n\r\n") != std::string::npos) {
          const std::string ok = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
          s.write(reinterpret_cast<const std::uint8_t*>(ok.data()), ok.size());
          s.close();
          flush(s, c);
          break;
        }
      }
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0) break;
      const ssize_t n = recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) {
        s.feed_eof();
        s.step();
        break;
      }
      s.feed(buf.data(), static_cast<std::size_t>(n));
    }
    res_.state = s.state();
    res_.failure = s.failure();
    shutdown(c, SHUT_RDWR);
    close(c);
  }

  std::shared_ptr<const tls::Context> ctx_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
  ServerResult res_;
};


std::shared_ptr<const tls::Context> server(EkuMode mode) {
  tls::Options o = leaf_options("both");
  o.client_cert = tls::ClientCertMode::Require;
  auto r = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, mode, 1});
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

std::string s_client(int port, const std::string& leaf, const char* extra = "") {
  const std::string d = pki_dir().string();
  return run_cmd("printf 'OPTIONS sip:both.test SIP/2.0\\r\\nContent-Length: 0\\r\\n\\r\\n' | timeout 20 openssl s_client "
                 "-connect 127.0.0.1:" + std::to_string(port) + " -servername both.test -CAfile " + d + "/ca.pem -cert " +
                 d + "/" + leaf + ".pem -key " + d + "/" + leaf + ".key -cert_chain " + d + "/inter.pem -ign_eof " +
                 extra);
}

struct Row {
  const char* leaf;
  bool on, off;
};
const Row kRows[] = {{"client", true, true},   {"server", false, true},    {"noeku", true, true},
                     {"any", true, true},      {"codesign", false, false}, {"ku-kenc", false, false},
                     {"rsa2048", true, true}};

}  // namespace

TEST(TlsPeers, OpenSslClientEkuMatrix) {
  for (EkuMode mode : {EkuMode::On, EkuMode::Off}) {
    auto ctx = server(mode);
    for (const Row& r : kRows) {
      SCOPED_TRACE(std::string(r.leaf) + " mode " + std::string(control::to_string(mode)));
      OneShotServer srv(ctx);
      const std::string out = s_client(srv.port(), r.leaf);
      ServerResult res = srv.result();
      const bool want = mode == EkuMode::On ? r.on : r.off;
      if (want) {
        EXPECT_EQ(res.request.rfind("OPTIONS sip:both.test SIP/2.0", 0), 0u) << out;
        EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
      } else {
        EXPECT_EQ(res.state, tls::Session::State::Failed);
        EXPECT_EQ(res.failure, "unsupported certificate purpose");
        EXPECT_NE(out.find("alert unsupported certificate"), std::string::npos) << out;
        EXPECT_EQ(out.find("SIP/2.0 200 OK"), std::string::npos);
      }
    }
  }
}

TEST(TlsPeers, OpenSslClientOverTls12) {
  OneShotServer srv(server(EkuMode::On));
  const std::string out = s_client(srv.port(), "client", "-tls1_2");
  EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("TLSv1.2"), std::string::npos) << out;
  OneShotServer srv2(server(EkuMode::On));
  const std::string bad = s_client(srv2.port(), "server", "-tls1_2");
  EXPECT_NE(bad.find("alert unsupported certificate"), std::string::npos) << bad;
  EXPECT_EQ(srv2.result().failure, "unsupported certificate purpose");
}

TEST(TlsPeers, OpenSslClientChainFailures) {
  auto ctx = server(EkuMode::Off);
  struct {
    const char* leaf;
    const char* detail;
    const char* alert;
  } cases[] = {{"expired", "certificate has expired", "alert certificate expired"},
               {"revoked", "certificate revoked", "alert certificate revoked"},
               {"wrongissuer", "unable to get local issuer certificate", "alert unknown ca"}};
  for (auto& c : cases) {
    OneShotServer srv(ctx);
    const std::string out = s_client(srv.port(), c.leaf);
    ServerResult res = srv.result();
    EXPECT_EQ(res.failure, c.detail) << c.leaf;
    EXPECT_NE(out.find(c.alert), std::string::npos) << c.leaf << "\n" << out;
  }
}

TEST(TlsPeers, PythonSslClient) {
  const std::string d = pki_dir().string();
  for (auto [leaf, want_ok] : {std::pair{"client", true}, std::pair{"server", false}}) {
    OneShotServer srv(server(EkuMode::On));
    const std::string py =
        "import socket, ssl, sys\n"
        "c = ssl.create_default_context(cafile='" + d + "/ca.pem')\n"
        "c.load_cert_chain('" + d + "/" + leaf + "-chain.pem', '" + d + "/" + leaf + ".key')\n"
        "s = c.wrap_socket(socket.create_connection(('127.0.0.1', " + std::to_string(srv.port()) +
        ")), server_hostname='both.test')\n"
        "try:\n"
        "  s.sendall(b'OPTIONS sip:both.test SIP/2.0\\r\\nContent-Length: 0\\r\\n\\r\\n')\n"
        "  print(s.recv(4096).decode())\n"
        "except ssl.SSLError as e:\n"
        "  print('SSLError', e)\n";
    const std::string out = run_cmd("timeout 20 python3 -c \"" + py + "\"");
    ServerResult res = srv.result();
    if (want_ok) {
      EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
    } else {
      EXPECT_NE(out.find("UNSUPPORTED_CERTIFICATE"), std::string::npos) << out;
      EXPECT_EQ(res.failure, "unsupported certificate purpose");
    }
  }
}

// ---- resumption, groups and SNI against OpenSSL ----------------------------

namespace {

std::shared_ptr<const tls::Context> ticket_server(EkuMode mode, std::shared_ptr<tls::TicketKeys> keys) {
  tls::Options o = leaf_options("both");
  o.client_cert = tls::ClientCertMode::Require;
  o.tickets = std::move(keys);
  auto r = tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, mode, 1});
  if (!r) throw std::runtime_error(r.error);
  return *r;
}

struct TempFile {
  std::string path;
  TempFile() {
    char t[] = "/tmp/turnpike-sess-XXXXXX";
    const int fd = mkstemp(t);
    if (fd >= 0) ::close(fd);
    path = t;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

// OpenSSL's client resumes with turnpike's tickets in both versions; after
// the mode changes to On, a serverAuth-only certificate's ticket is declined
// and the full handshake ends in unsupported_certificate (docs/eku-semantics.md).
TEST(TlsPeers, OpenSslResumptionAfterModeChange) {
  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    SCOPED_TRACE(version);
    auto keys = std::make_shared<tls::TicketKeys>();
    for (const char* leaf : {"client", "server"}) {
      SCOPED_TRACE(leaf);
      TempFile sess;
      {
        OneShotServer srv(ticket_server(EkuMode::Off, keys));
        const std::string out = s_client(srv.port(), leaf, (std::string(version) + " -sess_out " + sess.path).c_str());
        EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
        EXPECT_NE(out.find("New, TLSv1."), std::string::npos) << out;
      }
      {
        OneShotServer srv(ticket_server(EkuMode::Off, keys));
        const std::string out = s_client(srv.port(), leaf, (std::string(version) + " -sess_in " + sess.path).c_str());
        EXPECT_NE(out.find("Reused, TLSv1."), std::string::npos) << out;
        EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
      }
      OneShotServer srv(ticket_server(EkuMode::On, keys));
      const std::string out = s_client(srv.port(), leaf, (std::string(version) + " -sess_in " + sess.path).c_str());
      ServerResult res = srv.result();
      if (std::string(leaf) == "client") {  // clientAuth: fine in mode On too
        EXPECT_NE(out.find("Reused, TLSv1."), std::string::npos) << out;
        EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
      } else {
        EXPECT_EQ(out.find("Reused, TLSv1."), std::string::npos) << out;
        EXPECT_EQ(res.failure, "unsupported certificate purpose");
        EXPECT_NE(out.find("alert unsupported certificate"), std::string::npos) << out;
      }
    }
  }
}

TEST(TlsPeers, OpenSslClientGroups) {
  auto ctx = server(EkuMode::On);  // default groups X25519:P-256
  {
    OneShotServer srv(ctx);
    const std::string out = s_client(srv.port(), "client", "-groups X25519:P-384");
    EXPECT_NE(out.find("Server Temp Key: X25519"), std::string::npos) << out;
  }
  for (const char* v : {"-tls1_3", "-tls1_2"}) {
    OneShotServer srv(ctx);
    const std::string out = s_client(srv.port(), "client", (std::string(v) + " -groups P-384").c_str());
    ServerResult res = srv.result();
    EXPECT_NE(res.state, tls::Session::State::Open) << v;
    EXPECT_EQ(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
    EXPECT_NE(out.find("handshake failure"), std::string::npos) << out;
    EXPECT_EQ(res.failure, "no shared group");
  }
}

TEST(TlsPeers, OpenSslClientSni) {
  const std::string d = pki_dir().string();
  tls::Options o = leaf_options("both");
  o.identities.push_back({pki_file("multi-chain.pem"), pki_file("multi.key")});
  o.identities.push_back({pki_file("multi-rsa-chain.pem"), pki_file("multi-rsa.key")});
  o.client_cert = tls::ClientCertMode::None;
  auto ctx = *tls::Context::make_server(o, tls::Verifier{test_trust(), nullptr, EkuMode::On, 1});
  struct {
    const char* sni;
    const char* subject;
  } cases[] = {{"beta.test", "CN = multi.test"}, {"x.rsa-wild.test", "CN = multi-rsa.test"},
               {"nobody.test", "CN = both.test"}};
  for (const char* v : {"-tls1_3", "-tls1_2"})
    for (auto& k : cases) {
      SCOPED_TRACE(std::string(k.sni) + " " + v);
      OneShotServer srv(ctx);
      const std::string out = run_cmd(
          "printf 'OPTIONS sip:x SIP/2.0\\r\\nContent-Length: 0\\r\\n\\r\\n' | timeout 20 openssl s_client -connect 127.0.0.1:" +
          std::to_string(srv.port()) + " " + v + " -servername " + k.sni + " -CAfile " + d + "/ca.pem -ign_eof");
      EXPECT_NE(out.find(std::string("subject=") + k.subject), std::string::npos) << out;
      EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << out;
      EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
    }
}

// Issue 15 part 1 with OpenSSL's own client: `-cert F -cert_chain F` with F
// holding leaf + chain sends the leaf twice; an unrelated certificate, the
// root, the root first: each gives the plain chain's outcome and Detail.
TEST(TlsPeers, OpenSslClientChainWithExtraneousCertificates) {
  const std::string d = pki_dir().string();
  const std::string tmp = d + "/extra-" + std::to_string(getpid());
  struct Case {
    const char* leaf;
    const char* ca;
    EkuMode mode;
    const char* detail;  // "" = accepted
    const char* alert;
  } cases[] = {
      {"client", "inter", EkuMode::On, "", ""},
      {"server", "inter", EkuMode::On, "unsupported certificate purpose", "alert unsupported certificate"},
      {"server", "inter", EkuMode::Off, "", ""},
      {"revoked", "inter", EkuMode::Off, "certificate revoked", "alert certificate revoked"},
      {"srvsub-both", "inter-srv", EkuMode::On, "unsupported certificate purpose", "alert unsupported certificate"},
      {"srvsub-both", "inter-srv", EkuMode::Off, "", ""},
  };
  for (const auto& k : cases) {
    const std::string leaf = d + "/" + k.leaf + ".pem", ca = d + "/" + k.ca + ".pem";
    const std::pair<const char*, std::string> chains[] = {
        {"chain", ca},
        {"duplicate leaf", leaf + " " + ca},
        {"extra unrelated", ca + " " + d + "/unrelated.pem"},
        {"with root", ca + " " + d + "/root.pem"},
        {"root first", d + "/root.pem " + ca},
    };
    for (const auto& [name, files] : chains) {
      SCOPED_TRACE(std::string(k.leaf) + " / " + name + " / mode " + std::string(control::to_string(k.mode)));
      run_cmd("cat " + files + " > " + tmp);
      OneShotServer srv(server(k.mode));
      const std::string out = run_cmd(
          "printf 'OPTIONS sip:both.test SIP/2.0\\r\\nContent-Length: 0\\r\\n\\r\\n' | timeout 20 openssl s_client "
          "-connect 127.0.0.1:" + std::to_string(srv.port()) + " -servername both.test -CAfile " + d + "/ca.pem -cert " +
          leaf + " -key " + d + "/" + k.leaf + ".key -cert_chain " + tmp + " -ign_eof");
      ServerResult res = srv.result();
      EXPECT_EQ(res.failure, k.detail) << out;
      if (*k.detail) {
        EXPECT_NE(out.find(k.alert), std::string::npos) << out;
      } else {
        EXPECT_NE(out.find("SIP/2.0 200 OK"), std::string::npos) << out;
      }
    }
  }
  std::remove(tmp.c_str());
}
