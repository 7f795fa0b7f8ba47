#pragma once
#include <filesystem>
#include <string>

#include "pki_fixture.hpp"
#include "turnpike/control/store.hpp"

namespace turnpike::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char t[] = "/tmp/turnpike-store-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::string chain(const std::string& n) { return pki_file(n + "-chain.pem"); }
inline std::string key(const std::string& n) { return pki_file(n + ".key"); }

}  // namespace turnpike::testing
