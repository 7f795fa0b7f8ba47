#include "pki.hpp"

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace turnpike::loadgen {

bool expect_accepted(Profile p, bool eku_on, bool require) {
  switch (p) {
    case Profile::Client:
    case Profile::NoEku: return true;  // clientAuth, or no EKU (any purpose)
    case Profile::Server: return !eku_on;
    case Profile::Expired:
    case Profile::Untrusted: return false;
    case Profile::NoCert: return !require;
  }
  return false;
}

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void run(const std::string& dir, const std::string& script) {
  const std::string path = dir + "/make.sh";
  std::ofstream(path) << script;
  const std::string cmd = "bash " + path + " >" + dir + "/make.log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0)
    throw std::runtime_error("certificate generation failed (openssl; see " + dir + "/make.log)");
}

// One `openssl ca` database per signing root; leaves signed with the
// extension section of their profile (validity as given).
const char* kConfig = R"([ca]
default_ca = d
[d]
database = db/index.txt
new_certs_dir = certs
serial = db/serial
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
[clientauth]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[serverauth]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[noeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
)";

}  // namespace

PhonePki make_pki(const std::string& dir, const std::array<unsigned, kProfiles>& count) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::ostringstream s;
  s << "set -euo pipefail\ncd '" << dir << "'\nexport OPENSSL_CONF=/dev/null\n"
    << "ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\"; }\n"
    << "root() { ec $1.key; openssl req -x509 -new -key $1.key -subj /CN=$2 -days 3650"
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out $1.pem; }\n"
    // Roots kept across runs: a target started earlier already trusts ca.pem.
    << "[ -s ca.pem ] && [ -s ca.key ] || root ca loadgen-root\n"
    << "[ -s other.pem ] && [ -s other.key ] || root other loadgen-untrusted-root\n"
    << "[ -s leaf.key ] || ec leaf.key\nopenssl req -new -key leaf.key -subj /CN=phone.loadgen.test -out leaf.csr\n"
    << "cat >ca.cnf <<'CNF'\n" << kConfig << "CNF\n"
    << "now=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ); later=$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)\n"
    // sign PROFILE ROOT SECTION START END N
    // One database per root, kept across profiles and runs: serials stay
    // unique per issuer (RFC 5280 §4.1.2.2).
    << "sign() { rm -rf certs; mkdir -p certs $1 db-$2; [ -f db-$2/serial ] || { : >db-$2/index.txt; echo 1000 >db-$2/serial; }\n"
       "  rm -rf db; ln -s db-$2 db\n"
       "  local files=(); for i in $(seq 1 $6); do files+=(leaf.csr); done\n"
       "  openssl ca -batch -notext -config ca.cnf -cert $2.pem -keyfile $2.key -extensions $3"
       " -startdate $4 -enddate $5 -infiles \"${files[@]}\"\n"
       "  mv certs/*.pem $1/; }\n";
  for (unsigned p = 0; p < kProfiles; ++p) {
    if (!count[p] || Profile(p) == Profile::NoCert) continue;
    const std::string name(kProfileNames[p]);
    std::string root = "ca", section = name, start = "$now", end = "$later";
    if (Profile(p) == Profile::Expired) section = "clientauth", start = "20200101000000Z", end = "20210101000000Z";
    if (Profile(p) == Profile::Untrusted) section = "clientauth", root = "other";
    s << "rm -rf " << name << "; sign " << name << " " << root << " " << section << " " << start << " " << end << " "
      << count[p] << "\n";
  }
  run(dir, s.str());
  PhonePki pki;
  pki.dir = dir;
  pki.ca_pem = dir + "/ca.pem";
  pki.key_pem = slurp(dir + "/leaf.key");
  for (unsigned p = 0; p < kProfiles; ++p) {
    if (!count[p] || Profile(p) == Profile::NoCert) continue;
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(dir + "/" + std::string(kProfileNames[p]))) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) pki.leaves[p].push_back(slurp(f));
    if (pki.leaves[p].size() != count[p]) throw std::runtime_error("certificate generation: wrong leaf count");
  }
  return pki;
}

}  // namespace turnpike::loadgen
