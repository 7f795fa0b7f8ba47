// Shared helpers for TLS engine tests: contexts from the test PKI and an
// in-memory pump between two sessions.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "pki_fixture.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::testing {

inline std::shared_ptr<const control::TrustStore> test_trust(bool with_crl = true) {
  auto t = std::make_shared<control::TrustStore>();
  if (auto e = t->add_ca_bundle(pki_file("ca.pem")); !e.empty()) throw std::runtime_error("ca: " + e);
  if (with_crl) {
    if (auto e = t->add_crl(pki_file("inter.crl")); !e.empty()) throw std::runtime_error("crl: " + e);
  }
  return t;
}

inline tls::Options leaf_options(const std::string& name) {
  tls::Options o;
  o.cert_chain_pem = pki_file(name + "-chain.pem");
  o.key_pem = pki_file(name + ".key");
  return o;
}

// Runs a shell command (its stderr folded in); what it printed.
inline std::string run_cmd(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (for
// kernel-side peers: OpenSSL, Python); its fd and port, fd -1 on failure.
inline int listen_loopback(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || listen(fd, 4) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

// Moves bytes both ways until neither side changes; bounded.
inline void pump(tls::Session& a, tls::Session& b, int rounds = 50) {
  for (int i = 0; i < rounds; ++i) {
    a.step();
    b.step();
    auto oa = a.output();
    auto ob = b.output();
    if (oa.empty() && ob.empty()) break;
    b.feed(oa.data(), oa.size());
    a.consume_output(oa.size());
    a.feed(ob.data(), ob.size());
    b.consume_output(ob.size());
  }
  a.step();
  b.step();
}

}  // namespace turnpike::testing
