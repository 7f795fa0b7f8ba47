#!/usr/bin/env bash
# make-public-pki.sh OUTDIR — a throw-away PKI that *looks* like a public CA
# (issuer names the audit's public-CA table matches), for the sunset audit
# tests. Nothing here is trusted anywhere.
#   pubroot.pem            O=Internet Security Research Group, CN=ISRG Root Test
#   pubinter.pem           O=Let's Encrypt, CN=R11 Test (under pubroot)
#   Leaves under pubinter, EC P-256, NAME.pem NAME.key NAME-chain.pem:
#     pub-server  pub-server2   EKU serverAuth only (the 2026 profile)
#     pub-both                  EKU serverAuth+clientAuth (issued before the cut-over)
set -euo pipefail
out=$1
mkdir -p "$out"
cd "$out"
ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
cat >ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[srv]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[both]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
CNF
# Every certificate starts an hour ago: a test that takes "now" before this
# PKI is made must never see one as not yet valid.
start=$(date -u -d '1 hour ago' +%Y%m%d%H%M%SZ)
mkdir -p db
: >db/index.txt
openssl rand -hex 8 >db/serial
cat >db/ca.cnf <<'CNF'
[ca]
default_ca = d
[d]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
countryName = optional
organizationName = optional
commonName = supplied
CNF
# issue ISSUER NAME SUBJECT EXTSECTION DAYS: NAME.pem signed by ISSUER (by
# itself when ISSUER is NAME), valid DAYS from $start. "openssl ca" is the
# tool that takes a start date; -preserveDN keeps the subject as written.
issue() {
  local iss=$1 n=$2 by=(-cert "$1.pem")
  [ "$iss" = "$n" ] && by=(-selfsign)
  openssl req -new -key "$n.key" -subj "$3" -out "$n.csr" 2>/dev/null
  openssl ca -batch -notext -preserveDN -config db/ca.cnf "${by[@]}" -keyfile "$iss.key" -in "$n.csr" \
    -out "$n.pem" -extfile ext.cnf -extensions "$4" -startdate "$start" -days "$5" >/dev/null 2>&1
  rm -f "$n.csr"
}
ec pubroot.key
issue pubroot pubroot "/C=US/O=Internet Security Research Group/CN=ISRG Root Test" ca 3650
ec pubinter.key
issue pubroot pubinter "/C=US/O=Let's Encrypt/CN=R11 Test" ca 1825
for spec in pub-server:srv pub-server2:srv pub-both:both; do
  n=${spec%%:*}
  ec "$n.key"
  issue pubinter "$n" "/CN=$n.example" "${spec##*:}" 90
  cat "$n.pem" pubinter.pem >"$n-chain.pem"
done
echo ok
