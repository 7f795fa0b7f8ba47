// Store manager: upload validation (exact messages), transactions, commits,
// persistence, migration and events.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "store_testutil.hpp"
#include "turnpike/control/store.hpp"

using namespace turnpike::control;
using namespace turnpike::testing;
namespace fs = std::filesystem;

namespace {
struct Store : ::testing::Test {
  TempDir dir;
  std::vector<std::string> events;
  std::unique_ptr<StoreManager> mgr;
  void SetUp() override { reopen(); }
  void reopen() {
    mgr = std::make_unique<StoreManager>(StoreManager::Options{
        .dir = dir.path, .on_event = [this](const std::string& l) { events.push_back(l); }});
    ASSERT_EQ(mgr->load(), "");
  }
  bool has_event(std::string_view needle) const {
    for (const auto& e : events)
      if (e.find(needle) != std::string::npos) return true;
    return false;
  }
  // Commits the test CA so that chains validate.
  void trust_root() {
    Transaction t = mgr->begin();
    ASSERT_TRUE(t.set_ca_bundle(pki_file("ca.pem")).ok);
    ASSERT_TRUE(t.commit());
  }
};
}  // namespace

TEST_F(Store, EmptyDirectoryStartsEmptyWithModeOn) {
  auto s = mgr->snapshot();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->generation, 1u);
  EXPECT_FALSE(s->server.present());
  EXPECT_FALSE(s->client.present());
  EXPECT_EQ(s->eku_mode, EkuMode::On);
  EXPECT_TRUE(fs::is_symlink(dir.path / "current"));
  EXPECT_TRUE(fs::is_symlink(dir.path / "server.pem"));
}

TEST_F(Store, ClientUploadWithoutClientAuthIsRefusedWithExactMessage) {
  trust_root();
  for (const char* n : {"server", "codesign"}) {
    Transaction t = mgr->begin();
    StageResult r = t.stage_client(chain(n), key(n));
    EXPECT_FALSE(r.ok) << n;
    EXPECT_EQ(r.error,
              "Invalid certificate: The file provided does not have a client usage attribute. Services requiring "
              "mutual TLS may not work.");
    EXPECT_FALSE(t.dirty());
  }
  EXPECT_TRUE(has_event("Event=\"Certificate Upload Refused\" Store=\"client\""));
}

TEST_F(Store, ClientUploadAcceptsClientAuthNoEkuAndAny) {
  trust_root();
  for (const char* n : {"client", "both", "noeku", "any"}) {
    Transaction t = mgr->begin();
    StageResult r = t.stage_client(chain(n), key(n));
    EXPECT_TRUE(r.ok) << n << ": " << r.error;
    EXPECT_TRUE(r.warnings.empty()) << n << ": " << r.warnings[0];
  }
}

TEST_F(Store, ServerUploadRequiresServerAuth) {
  trust_root();
  Transaction t = mgr->begin();
  StageResult r = t.stage_server(chain("client"), key("client"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, kMsgNoServerUsage);
  EXPECT_TRUE(t.stage_server(chain("server"), key("server")).ok);
  EXPECT_TRUE(t.stage_server(chain("noeku"), key("noeku")).ok);
}

TEST_F(Store, ServerCertificateAsClientBypassesClientAuthCheck) {
  trust_root();
  Transaction t = mgr->begin();
  StageResult r = t.stage_server(chain("server"), key("server"), {.also_as_client = true});
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("no clientAuth"), std::string::npos);
  ASSERT_TRUE(t.commit());
  auto s = mgr->snapshot();
  EXPECT_EQ(s->client.leaf.sha256, s->server.leaf.sha256);
  EXPECT_EQ(s->client.key_pem, s->server.key_pem);
}

TEST_F(Store, KeyUsageThatPeersRefuseWarns) {
  trust_root();
  Transaction t = mgr->begin();
  StageResult r = t.stage_client(chain("ku-kenc"), key("ku-kenc"));  // keyEncipherment only
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("keyUsage does not allow TLS client use"), std::string::npos);
  EXPECT_TRUE(t.stage_server(chain("ku-kenc"), key("ku-kenc")).warnings.empty());  // fine for a server
  EXPECT_TRUE(t.stage_client(chain("ku-dsig"), key("ku-dsig")).warnings.empty());
}

TEST_F(Store, KeyMustMatchAndParse) {
  Transaction t = mgr->begin();
  EXPECT_EQ(t.stage_client(chain("client"), key("both")).error,
            "Invalid private key: the private key does not match the certificate");
  EXPECT_NE(t.stage_client(chain("client"), "not a key").error.find("Invalid private key: malformed PEM"),
            std::string::npos);
  EXPECT_NE(t.stage_client(chain("client"), pki_file("x448.key")).error.find("unsupported private key type"),
            std::string::npos);
  EXPECT_FALSE(t.dirty());
}

TEST_F(Store, MalformedCertificateIsRefused) {
  Transaction t = mgr->begin();
  StageResult r = t.stage_client("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", key("client"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("Invalid certificate: malformed"), std::string::npos) << r.error;
  EXPECT_FALSE(t.stage_client("\x30\x03\x02\x01\x01", key("client")).ok);  // junk DER
  EXPECT_FALSE(t.stage_client("", key("client")).ok);
  // A CA certificate is not an end-entity certificate.
  EXPECT_NE(t.stage_client(pki_file("inter.pem"), pki_file("inter.key")).error.find("CA certificate"),
            std::string::npos);
}

TEST_F(Store, DerCertificateIsAccepted) {
  Transaction t = mgr->begin();
  auto der = pki_der("client");
  StageResult r = t.stage_client(std::string(der.begin(), der.end()), key("client"));
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_NE(t.staged().client.chain_pem.find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(Store, EncryptedKeyNeedsPassphrase) {
  Transaction t = mgr->begin();
  StageResult r = t.stage_server(chain("both"), pki_file("both-enc.key"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "Invalid private key: the private key is encrypted: a passphrase is required");
  r = t.stage_server(chain("both"), pki_file("both-enc.key"), {.passphrase = "bad"});
  EXPECT_NE(r.error.find("wrong passphrase"), std::string::npos) << r.error;
  r = t.stage_server(chain("both"), pki_file("both-enc-trad.key"), {.passphrase = "secret"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(t.staged().server.key_pem.find("ENCRYPTED"), std::string::npos);  // stored decrypted
  ASSERT_TRUE(t.commit());
  struct stat st {};
  ASSERT_EQ(::stat((dir.path / "privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(Store, KeyTypesAndSizes) {
  trust_root();
  for (const char* n : {"rsa2048", "rsa4096", "p384", "ed25519", "both"}) {
    Transaction t = mgr->begin();
    StageResult r = t.stage_server(chain(n), key(n));
    EXPECT_TRUE(r.ok) << n << ": " << r.error;
    EXPECT_TRUE(r.warnings.empty()) << n;
  }
}

TEST_F(Store, UnsupportedKeySizesAreRefused) {
  Transaction t = mgr->begin();
  EXPECT_EQ(t.stage_server(chain("rsa1024"), key("rsa1024")).error,
            "Invalid certificate: unsupported key type (RSA 1024); supported: RSA 2048-4096, ECDSA P-256/P-384, "
            "Ed25519");
  EXPECT_NE(t.stage_server(chain("p521"), key("p521")).error.find("unsupported key type (ECDSA 521)"),
            std::string::npos);
  EXPECT_FALSE(t.dirty());
}

TEST_F(Store, ExpiredAndNotYetValidAreRefused) {
  Transaction t = mgr->begin();
  StageResult r = t.stage_server(chain("expired"), key("expired"));
  EXPECT_EQ(r.error, "Invalid certificate: the certificate has expired (not after 2021-01-01 00:00:00 UTC)");
  r = t.stage_server(chain("notyet"), key("notyet"));
  EXPECT_EQ(r.error, "Invalid certificate: the certificate is not yet valid (not before 2099-01-01 00:00:00 UTC)");
  // With an explicit clock the same certificate is fine.
  EXPECT_TRUE(t.stage_server(chain("expired"), key("expired"), {.now = 1590000000}).ok);
}

TEST_F(Store, UntrustedChainIsAcceptedWithWarning) {
  Transaction t = mgr->begin();  // no CA yet
  StageResult r = t.stage_server(chain("both"), key("both"));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("does not validate against the trust store"), std::string::npos);
  EXPECT_NE(r.warnings[0].find("unable to get local issuer certificate"), std::string::npos);
  // The CA uploaded next (same transaction) clears it.
  ASSERT_TRUE(t.set_ca_bundle(pki_file("ca.pem")).ok);
  StageResult v = t.validate();
  EXPECT_TRUE(v.ok);
  for (const auto& w : v.warnings) EXPECT_EQ(w.find("does not validate"), std::string::npos) << w;
  StageResult wrong = t.stage_client(chain("wrongissuer"), key("wrongissuer"));
  EXPECT_TRUE(wrong.ok);
  EXPECT_EQ(wrong.warnings.size(), 1u);
}

TEST_F(Store, RevokedCertificateWarns) {
  Transaction t = mgr->begin();
  ASSERT_TRUE(t.set_ca_bundle(pki_file("ca.pem")).ok);
  ASSERT_TRUE(t.add_crl("inter", pki_file("inter.crl")).ok);
  StageResult r = t.stage_client(chain("revoked"), key("revoked"));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("certificate revoked"), std::string::npos);
}

TEST_F(Store, CommitPersistsAndEmitsEvents) {
  trust_root();
  auto before = mgr->snapshot();
  Transaction t = mgr->begin();
  t.set_source("test-admin");
  ASSERT_TRUE(t.stage_server(chain("server"), key("server")).ok);
  ASSERT_TRUE(t.stage_client(chain("client"), key("client")).ok);
  auto c = t.commit();
  ASSERT_TRUE(c) << c.error;
  auto s = mgr->snapshot();
  EXPECT_EQ(s->generation, before->generation + 1);
  EXPECT_EQ(s->trust_epoch, before->trust_epoch);  // certificates only
  EXPECT_FALSE(before->server.present());          // old snapshot is immutable
  EXPECT_TRUE(has_event("Event=\"Certificate Store Commit\" Store=\"server\" Old-serial=\"none\""));
  EXPECT_TRUE(has_event("New-serial=\"" + s->client.leaf.serial_hex + "\""));
  EXPECT_TRUE(has_event("Source=\"test-admin\""));
  // Files with the spec's names, readable through the top-level links.
  EXPECT_EQ(slurp(dir.path / "server.pem"), s->server.chain_pem);
  EXPECT_EQ(slurp(dir.path / "clientprivkey.pem"), key("client"));
  // A fresh manager loads the same state.
  StoreManager again({.dir = dir.path});
  ASSERT_EQ(again.load(), "");
  EXPECT_TRUE(again.snapshot()->same_content(*s));
  EXPECT_EQ(again.snapshot()->generation, s->generation);
  // Exactly one generation directory is left.
  int gens = 0;
  for (auto& e : fs::directory_iterator(dir.path)) gens += e.path().filename().string().rfind("gen-", 0) == 0;
  EXPECT_EQ(gens, 1);
}

TEST_F(Store, AbortAndRefusalChangeNothing) {
  auto before = mgr->snapshot();
  Transaction t = mgr->begin();
  ASSERT_TRUE(t.stage_server(chain("both"), key("both")).ok);
  t.abort();
  EXPECT_FALSE(t.commit());
  EXPECT_EQ(mgr->snapshot(), before);
  Transaction t2 = mgr->begin();
  EXPECT_FALSE(t2.stage_client(chain("server"), key("server")).ok);
  auto c = t2.commit();  // nothing staged: no new generation
  ASSERT_TRUE(c);
  EXPECT_EQ(mgr->snapshot()->generation, before->generation);
}

TEST_F(Store, ConcurrentTransactionsConflict) {
  Transaction a = mgr->begin();
  Transaction b = mgr->begin();
  ASSERT_TRUE(a.stage_server(chain("both"), key("both")).ok);
  ASSERT_TRUE(b.stage_server(chain("server"), key("server")).ok);
  ASSERT_TRUE(a.commit());
  auto r = b.commit();
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("conflict"), std::string::npos);
  EXPECT_EQ(mgr->snapshot()->server.leaf.subject_cn, "both.test");
}

TEST_F(Store, ModeChangeIsPersistedAndLogged) {
  StageResult r = mgr->apply_setting(kEkuModeSetting, "Off", "cli");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(mgr->snapshot()->eku_mode, EkuMode::Off);
  EXPECT_TRUE(has_event("Event=\"EKU Checking Mode Change\""));
  EXPECT_TRUE(has_event("Old=\"On\" New=\"Off\" Source=\"cli\""));
  EXPECT_FALSE(mgr->apply_setting(kEkuModeSetting, "sometimes").ok);
  reopen();
  EXPECT_EQ(mgr->snapshot()->eku_mode, EkuMode::Off);
}

TEST_F(Store, TrustChangesBumpEpoch) {
  uint64_t e0 = mgr->snapshot()->trust_epoch;
  trust_root();
  uint64_t e1 = mgr->snapshot()->trust_epoch;
  EXPECT_EQ(e1, e0 + 1);
  Transaction t = mgr->begin();
  EXPECT_FALSE(t.add_crl("../evil", pki_file("root.crl")).ok);
  EXPECT_FALSE(t.add_crl("bad", "garbage").ok);
  ASSERT_TRUE(t.add_crl("root", pki_file("root.crl")).ok);
  ASSERT_TRUE(t.commit());
  EXPECT_EQ(mgr->snapshot()->trust_epoch, e1 + 1);
  EXPECT_EQ(mgr->snapshot()->crls.count("root.crl"), 1u);
  EXPECT_TRUE(fs::exists(dir.path / "current" / "root.crl"));
  Transaction t2 = mgr->begin();
  EXPECT_FALSE(t2.remove_crl("nope").ok);
  ASSERT_TRUE(t2.remove_crl("root.crl").ok);
  ASSERT_TRUE(t2.commit());
  EXPECT_TRUE(mgr->snapshot()->crls.empty());
  EXPECT_EQ(mgr->snapshot()->trust_epoch, e1 + 2);
  Transaction t3 = mgr->begin();
  EXPECT_FALSE(t3.set_ca_bundle(pki_file("both.pem")).ok);  // not a CA
  EXPECT_TRUE(has_event("Event=\"Certificate Upload Refused\" Store=\"trust\" Reason=\"Invalid CA bundle: not a CA"));
}

TEST_F(Store, TamperedFileIsDetectedAtLoad) {
  trust_root();
  fs::path ca = fs::canonical(dir.path / "ca.pem");
  fs::permissions(ca, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(ca, std::ios::app) << "tampered\n";
  StoreManager again({.dir = dir.path});
  std::string e = again.load();
  EXPECT_NE(e.find("checksum mismatch for ca.pem"), std::string::npos) << e;
}

TEST_F(Store, PemDumpsForDiagnostics) {
  trust_root();
  Transaction t = mgr->begin();
  ASSERT_TRUE(t.stage_server(chain("server"), key("server")).ok);
  ASSERT_TRUE(t.commit());
  auto s = mgr->snapshot();
  EXPECT_EQ(s->pem("ca"), pki_file("ca.pem"));
  EXPECT_NE(s->pem("server").find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(s->pem("client"), "");
}

TEST_F(Store, HandEditedTopLevelFileIsKeptAsideNotLost) {
  trust_root();
  std::filesystem::remove(dir.path / "ca.pem");
  std::ofstream(dir.path / "ca.pem") << "hand edited\n";
  reopen();
  EXPECT_TRUE(std::filesystem::is_symlink(dir.path / "ca.pem"));
  EXPECT_EQ(slurp(dir.path / "ca.pem.ignored"), "hand edited\n");
  EXPECT_TRUE(has_event("kept as ca.pem.ignored"));
  EXPECT_EQ(mgr->snapshot()->ca_pem, pki_file("ca.pem"));
}

TEST_F(Store, DiagnosticPemDumpNames) {
  trust_root();
  EXPECT_EQ(diagnostic_file_name("ca", "edge1", 1774767279, "pem"), "ca_edge1_2026-03-29_06_54_39.pem");
  TempDir out;
  ASSERT_EQ(write_pem_dumps(*mgr->snapshot(), out.path, "edge1", 1774767279), "");
  EXPECT_EQ(slurp(out.path / "ca_edge1_2026-03-29_06_54_39.pem"), pki_file("ca.pem"));
  EXPECT_TRUE(std::filesystem::exists(out.path / "client_edge1_2026-03-29_06_54_39.pem"));
  EXPECT_TRUE(std::filesystem::exists(out.path / "server_edge1_2026-03-29_06_54_39.pem"));
}

// --- legacy single-store layout ------------------------------------------------
TEST(Migration, SingleStoreIsCopiedToClientOnceAndLogged) {
  TempDir dir;
  std::ofstream(dir.path / "server.pem") << chain("both");
  std::ofstream(dir.path / "privkey.pem") << key("both");
  std::ofstream(dir.path / "ca.pem") << pki_file("ca.pem");
  std::ofstream(dir.path / "settings.conf") << "XCP TLS Certificate CVS EnableServerEkuUpload = On\n"
                                            << "SIP TLS Certificate ExtendedKeyUsage Checking Mode = Off\n";
  std::vector<std::string> ev;
  {
    StoreManager m({.dir = dir.path, .on_event = [&](const std::string& l) { ev.push_back(l); }});
    ASSERT_EQ(m.load(), "");
    auto s = m.snapshot();
    ASSERT_TRUE(s->client.present());
    EXPECT_EQ(s->client.leaf.sha256, s->server.leaf.sha256);
    EXPECT_EQ(s->eku_mode, EkuMode::Off);
    EXPECT_EQ(s->ca_der.size(), 1u);
  }
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_NE(ev[0].find("Event=\"Certificate Store Migration\" From=\"single store\""), std::string::npos) << ev[0];
  EXPECT_NE(ev[1].find("Event=\"Deprecated Setting\" Setting=\"XCP TLS Certificate CVS EnableServerEkuUpload\""),
            std::string::npos)
      << ev[1];
  EXPECT_TRUE(fs::is_symlink(dir.path / "server.pem"));
  EXPECT_EQ(slurp(dir.path / "client.pem"), slurp(dir.path / "server.pem"));
  EXPECT_EQ(slurp(dir.path / "clientprivkey.pem"), key("both"));
  // Idempotent: a second start migrates nothing and logs nothing.
  ev.clear();
  StoreManager m2({.dir = dir.path, .on_event = [&](const std::string& l) { ev.push_back(l); }});
  ASSERT_EQ(m2.load(), "");
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(m2.snapshot()->generation, 1u);
}

TEST(Migration, DeprecatedSettingIsAcceptedAndIgnored) {
  TempDir dir;
  StoreManager m({.dir = dir.path});
  ASSERT_EQ(m.load(), "");
  auto before = m.snapshot();
  StageResult r = m.apply_setting(kLegacyEkuUploadSetting, "On");
  EXPECT_TRUE(r.ok);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("deprecated"), std::string::npos);
  EXPECT_EQ(m.snapshot(), before);
  ASSERT_FALSE(m.recent_events().empty());
  EXPECT_NE(m.recent_events().back().find("Deprecated Setting"), std::string::npos);
  EXPECT_FALSE(m.apply_setting("No Such Setting", "x").ok);
}

TEST(Migration, BrokenLegacyStoreIsReported) {
  TempDir dir;
  std::ofstream(dir.path / "server.pem") << chain("both");
  std::ofstream(dir.path / "privkey.pem") << key("client");  // wrong key
  StoreManager m({.dir = dir.path});
  EXPECT_NE(m.load().find("does not match"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path / "current"));  // nothing half done
}
