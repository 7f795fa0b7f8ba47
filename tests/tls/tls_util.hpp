// Shared helpers for TLS engine tests: contexts from the test PKI and an
// in-memory pump between two sessions.
#pragma once
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
