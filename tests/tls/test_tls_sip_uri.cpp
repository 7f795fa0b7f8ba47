// RFC 5922 §7.1 SIP domain identities in a SAN URI ("URI:sip:example.test"),
// end to end through the TLS engine in both roles: as an inbound client
// certificate and as the certificate of an outbound remote (egress and TLS
// backends use the same client session). The certificates are made here, by
// openssl, in this test's temp dir.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "pki_fixture.hpp"
#include "tls_util.hpp"
#include "turnpike/control/policy.hpp"

using namespace turnpike;
using namespace turnpike::testing;
using control::EkuMode;

namespace {

// A root and leaves issued by it, EKU serverAuth+clientAuth, only the SAN
// differs. Generated once per binary, removed at exit (generate_pki).
const char* kScript = R"SH(set -e
cd "$1"
cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
[uri]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:sip:example.test
[uri-params]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:sip:Example.Test:5061;transport=tls
[uri-other]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:sip:other.test,DNS:example.test
[uri-user]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:sip:alice@example.test
CNF
openssl ecparam -name prime256v1 -genkey -noout -out root.key 2>/dev/null
openssl req -x509 -new -key root.key -subj "/CN=SIP URI Test Root" -days 30 \
  -config ext.cnf -extensions ca -out root.pem 2>/dev/null
n=1
for leaf in uri uri-params uri-other uri-user; do
  openssl ecparam -name prime256v1 -genkey -noout -out $leaf.key 2>/dev/null
  openssl req -new -key $leaf.key -subj "/CN=cn-$leaf.test" -out $leaf.csr 2>/dev/null
  openssl x509 -req -in $leaf.csr -CA root.pem -CAkey root.key -set_serial $n -days 30 \
    -extfile ext.cnf -extensions $leaf -out $leaf.pem 2>/dev/null
  n=$((n + 1))
done
touch .complete
)SH";

const std::filesystem::path& sip_pki() {
  static const std::filesystem::path dir = [] {
    std::string script = std::filesystem::temp_directory_path() / ("turnpike-sipuri-" + std::to_string(getpid()) + ".sh");
    {
      std::ofstream f(script);
      f << kScript;
    }
    auto d = generate_pki(script, "turnpike-sipuri");
    std::filesystem::remove(script);
    return d;
  }();
  return dir;
}

std::string sip_file(const std::string& name) { return slurp(sip_pki() / name); }

std::shared_ptr<const control::TrustStore> sip_trust() {
  auto t = std::make_shared<control::TrustStore>();
  if (auto e = t->add_ca_bundle(sip_file("root.pem")); !e.empty()) throw std::runtime_error("ca: " + e);
  return t;
}

tls::Options sip_leaf(const std::string& name) {
  tls::Options o;
  o.cert_chain_pem = sip_file(name + ".pem");
  o.key_pem = sip_file(name + ".key");
  return o;
}

class SipUri : public ::testing::Test {
 protected:
  control::VerdictCache cache{64};

  std::shared_ptr<const tls::Context> server(const std::string& leaf,
                                             tls::ClientCertMode cm = tls::ClientCertMode::None) {
    tls::Options o = sip_leaf(leaf);
    o.client_cert = cm;
    auto r = tls::Context::make_server(o, tls::Verifier{sip_trust(), &cache, EkuMode::On, 1});
    EXPECT_TRUE(r) << r.error;
    return *r;
  }
  std::shared_ptr<const tls::Context> client(const std::string& leaf) {
    tls::Options o;
    if (!leaf.empty()) o = sip_leaf(leaf);
    auto r = tls::Context::make_client(o, tls::Verifier{sip_trust(), nullptr, EkuMode::On, 1});
    EXPECT_TRUE(r) << r.error;
    return *r;
  }
  struct Outcome {
    tls::Session::State server, client;
    std::string server_failure, client_failure;
    int client_alert = 0;
    std::string peer_cn;  // the server's view of the client
  };
  Outcome run(std::shared_ptr<const tls::Context> srv, std::shared_ptr<const tls::Context> cli,
              const std::string& name) {
    tls::Session s(srv), c(cli, name);
    pump(c, s);
    if (s.state() == tls::Session::State::Open && c.state() == tls::Session::State::Open) {
      const std::string msg = "OPTIONS sip:example.test SIP/2.0\r\n";
      EXPECT_EQ(c.write(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()), msg.size());
      pump(c, s);
      std::uint8_t buf[128];
      const std::size_t n = s.read(buf, sizeof buf);
      EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), n), msg);
    }
    return {s.state(), c.state(), s.failure(), c.failure(), c.alert_sent(), s.peer().cn};
  }
};

}  // namespace

TEST_F(SipUri, CertificatesParse) {
  for (const char* leaf : {"uri", "uri-params", "uri-other", "uri-user"}) {
    auto der = control::pem_certs_to_der(sip_file(std::string(leaf) + ".pem"));
    ASSERT_TRUE(der) << der.error;
    auto f = control::extract_facts((*der)[0]);
    ASSERT_TRUE(f) << leaf << ": " << f.error;
    EXPECT_EQ(f->san_uri.size(), 1u) << leaf;
  }
}

TEST_F(SipUri, AcceptedAsInboundClient) {
  auto srv = server("uri", tls::ClientCertMode::Require);
  for (const char* leaf : {"uri", "uri-other", "uri-user"}) {
    Outcome o = run(srv, client(leaf), "example.test");
    EXPECT_EQ(o.server, tls::Session::State::Open) << leaf << ": " << o.server_failure;
    EXPECT_EQ(o.peer_cn, std::string("cn-") + leaf + ".test");
  }
}

TEST_F(SipUri, AcceptedAsOutboundRemoteWhenTheUriNamesTheDomain) {
  auto cli = client("");
  Outcome o = run(server("uri"), cli, "example.test");
  EXPECT_EQ(o.client, tls::Session::State::Open) << o.client_failure;
  EXPECT_EQ(run(server("uri"), cli, "EXAMPLE.test").client, tls::Session::State::Open);
  // Port and parameters are not part of the identity (RFC 5922 §7.2).
  EXPECT_EQ(run(server("uri-params"), cli, "example.test").client, tls::Session::State::Open);
  // The URI is the identity: the DNS SAN is not consulted (§7.1).
  EXPECT_EQ(run(server("uri-other"), cli, "other.test").client, tls::Session::State::Open);
}

TEST_F(SipUri, RefusedAsOutboundRemoteWhenTheUriNamesAnotherDomain) {
  auto cli = client("");
  auto expect_mismatch = [&](const std::string& leaf, const std::string& name) {
    Outcome o = run(server(leaf), cli, name);
    EXPECT_EQ(o.client, tls::Session::State::Failed) << leaf << " as " << name;
    EXPECT_EQ(o.client_failure, control::kDetailHostname) << leaf << " as " << name;
    EXPECT_EQ(o.client_alert, 42) << leaf;  // bad_certificate, as for any name mismatch
  };
  expect_mismatch("uri", "other.test");
  expect_mismatch("uri", "sub.example.test");  // no suffix match
  expect_mismatch("uri", "cn-uri.test");       // SANs present: never the CN
  // A sip URI identity exists, so the DNS SAN example.test does not count.
  expect_mismatch("uri-other", "example.test");
  // sip:alice@example.test names a user, not the domain.
  expect_mismatch("uri-user", "example.test");
}
