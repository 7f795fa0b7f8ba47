// Test PKI made by pki/make-pki.sh. Under CTest the "control_pki" fixture
// builds it once and passes its directory in TURNPIKE_PKI_DIR; a test binary
// run by hand builds its own copy in a temp dir.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "turnpike/control/certs.hpp"

namespace turnpike::testing {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs a PKI script into a new directory under /tmp. Removed at exit:
// nothing generated outlives the test binary.
inline std::filesystem::path generate_pki(const std::string& script, const std::string& prefix) {
  std::string dir = "/tmp/" + prefix + "-XXXXXX";
  if (!mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed");
  if (std::system(("bash '" + script + "' " + dir + " >/dev/null").c_str()) != 0)
    throw std::runtime_error(script + " " + dir + " failed (needs openssl; under CTest the control_pki "
                             "fixture makes the PKI once and passes it in TURNPIKE_PKI_DIR)");
  static std::vector<std::string> made;
  if (made.empty())
    std::atexit([] {
      for (const auto& d : made) {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    });
  made.push_back(dir);
  return dir;
}

inline const std::filesystem::path& pki_dir() {
  static const std::filesystem::path dir = [] {
    if (const char* d = std::getenv("TURNPIKE_PKI_DIR"); d && std::filesystem::exists(std::filesystem::path(d) / ".complete"))
      return std::filesystem::path(d);
    return generate_pki(TURNPIKE_PKI_SCRIPT, "turnpike-pki");
  }();
  return dir;
}

inline std::string pki_file(const std::string& name) { return slurp(pki_dir() / name); }

// DER of the first certificate in <name>.pem.
inline control::Der pki_der(const std::string& name) {
  auto v = control::pem_certs_to_der(pki_file(name + ".pem"));
  if (!v) throw std::runtime_error("bad pem " + name + ": " + v.error);
  return (*v)[0];
}

inline control::CertFacts pki_facts(const std::string& name) {
  auto f = control::extract_facts(pki_der(name));
  if (!f) throw std::runtime_error("facts " + name + ": " + f.error);
  return *f;
}

}  // namespace turnpike::testing
