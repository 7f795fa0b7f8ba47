// turnpike-certs: command-line front end of the store manager and audit.
//
//   turnpike-certs --dir DIR show
//   turnpike-certs --dir DIR audit [--json]
//   turnpike-certs --dir DIR upload-server CERT KEY [--passphrase P] [--as-client]
//   turnpike-certs --dir DIR upload-client CERT KEY [--passphrase P]
//   turnpike-certs --dir DIR set-ca FILE
//   turnpike-certs --dir DIR add-crl NAME FILE | remove-crl NAME
//   turnpike-certs --dir DIR mode on|off
//   turnpike-certs --dir DIR set "SETTING NAME" VALUE
//   turnpike-certs --dir DIR dump OUTDIR HOST
//
// Exit status: 0 done, 1 refused or failed (nothing changed), 2 usage.
// Events are printed on stderr; warnings too.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "turnpike/control/audit.hpp"
#include "turnpike/control/store.hpp"

using namespace turnpike::control;

namespace {

int usage() {
  std::cerr << "usage: turnpike-certs --dir DIR <show|audit [--json]|upload-server CERT KEY [--passphrase P] "
               "[--as-client]|upload-client CERT KEY [--passphrase P]|set-ca FILE|add-crl NAME FILE|"
               "remove-crl NAME|mode on|off|set SETTING VALUE|dump OUTDIR HOST>\n";
  return 2;
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "cannot read " << path << "\n";
    return false;
  }
  std::ostringstream s;
  s << f.rdbuf();
  out = s.str();
  return true;
}

int report(const StageResult& r) {
  for (const auto& w : r.warnings) std::cerr << "warning: " << w << "\n";
  if (!r.ok) {
    std::cerr << r.error << "\n";
    return 1;
  }
  return 0;
}

int commit(Transaction& t) {
  auto c = t.commit();
  if (!c) {
    std::cerr << c.error << "\n";
    return 1;
  }
  std::cout << "committed generation " << (*c)->generation << "\n";
  return 0;
}

void show_cert(const char* name, const StoredCert& c) {
  if (!c.present()) {
    std::cout << name << ": empty\n";
    return;
  }
  const CertFacts& f = c.leaf;
  std::cout << name << ": " << f.subject << "\n  issuer: " << f.issuer << "\n  serial: " << f.serial_hex
            << "\n  sha256: " << fingerprint_hex(f.sha256) << "\n  valid: " << format_utc(f.not_before) << " .. "
            << format_utc(f.not_after) << " UTC\n  clientAuth: " << (allows_client_auth(f) ? "yes" : "no")
            << ", serverAuth: " << (allows_server_auth(f) ? "yes" : "no") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string dir, passphrase;
  bool as_client = false, json = false;
  std::vector<std::string> pos;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--dir" && i + 1 < args.size()) dir = args[++i];
    else if (args[i] == "--passphrase" && i + 1 < args.size()) passphrase = args[++i];
    else if (args[i] == "--as-client") as_client = true;
    else if (args[i] == "--json") json = true;
    else pos.push_back(args[i]);
  }
  if (dir.empty() || pos.empty()) return usage();

  StoreManager m({.dir = dir, .on_event = [](const std::string& l) { std::cerr << l << "\n"; }});
  if (std::string e = m.load(); !e.empty()) {
    std::cerr << "cannot load " << dir << ": " << e << "\n";
    return 1;
  }
  const std::string& cmd = pos[0];
  auto need = [&](size_t n) { return pos.size() == n + 1; };
  Transaction t = m.begin();
  t.set_source("turnpike-certs");

  if (cmd == "show" && need(0)) {
    auto s = m.snapshot();
    std::cout << "generation " << s->generation << ", trust epoch " << s->trust_epoch << ", EKU checking mode "
              << to_string(s->eku_mode) << "\n";
    show_cert("server", s->server);
    show_cert("client", s->client);
    std::cout << "ca: " << s->ca_facts.size() << " certificate(s)\n";
    for (const auto& ca : s->ca_facts) std::cout << "  " << ca.subject << "\n";
    std::cout << "crls: " << s->crls.size() << "\n";
    for (const auto& [n, _] : s->crls) std::cout << "  " << n << "\n";
    return 0;
  }
  if (cmd == "audit" && need(0)) {
    AuditReport r = audit(*m.snapshot());
    std::cout << (json ? r.to_json() + "\n" : r.to_text());
    return 0;
  }
  if ((cmd == "upload-server" || cmd == "upload-client") && need(2)) {
    std::string cert, key;
    if (!read_file(pos[1], cert) || !read_file(pos[2], key)) return 1;
    UploadOptions o{.passphrase = passphrase, .also_as_client = as_client, .source = "turnpike-certs"};
    StageResult r = cmd == "upload-server" ? t.stage_server(cert, key, o) : t.stage_client(cert, key, o);
    if (int rc = report(r)) return rc;
    return commit(t);
  }
  if (cmd == "set-ca" && need(1)) {
    std::string pem;
    if (!read_file(pos[1], pem)) return 1;
    if (int rc = report(t.set_ca_bundle(pem))) return rc;
    return commit(t);
  }
  if (cmd == "add-crl" && need(2)) {
    std::string crl;
    if (!read_file(pos[2], crl)) return 1;
    if (int rc = report(t.add_crl(pos[1], crl))) return rc;
    return commit(t);
  }
  if (cmd == "remove-crl" && need(1)) {
    if (int rc = report(t.remove_crl(pos[1]))) return rc;
    return commit(t);
  }
  if (cmd == "mode" && need(1)) {
    EkuMode mode;
    if (!parse_eku_mode(pos[1], mode)) return usage();
    t.set_eku_mode(mode);
    return commit(t);
  }
  if (cmd == "set" && need(2)) return report(m.apply_setting(pos[1], pos[2], "turnpike-certs"));
  if (cmd == "dump" && need(2)) {
    std::string e = write_pem_dumps(*m.snapshot(), pos[1], pos[2], static_cast<int64_t>(std::time(nullptr)));
    if (!e.empty()) {
      std::cerr << e << "\n";
      return 1;
    }
    return 0;
  }
  return usage();
}
