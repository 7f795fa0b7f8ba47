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
ec pubroot.key
openssl req -x509 -new -key pubroot.key -subj "/C=US/O=Internet Security Research Group/CN=ISRG Root Test" \
  -days 3650 -config ext.cnf -extensions ca -out pubroot.pem 2>/dev/null
ec pubinter.key
openssl req -new -key pubinter.key -subj "/C=US/O=Let's Encrypt/CN=R11 Test" -out pubinter.csr 2>/dev/null
openssl x509 -req -in pubinter.csr -CA pubroot.pem -CAkey pubroot.key -CAcreateserial -days 1825 \
  -extfile ext.cnf -extensions ca -out pubinter.pem 2>/dev/null
for spec in pub-server:srv pub-server2:srv pub-both:both; do
  n=${spec%%:*}
  ec "$n.key"
  openssl req -new -key "$n.key" -subj "/CN=$n.example" -out "$n.csr" 2>/dev/null
  openssl x509 -req -in "$n.csr" -CA pubinter.pem -CAkey pubinter.key -CAcreateserial -days 90 \
    -extfile ext.cnf -extensions "${spec##*:}" -out "$n.pem" 2>/dev/null
  cat "$n.pem" pubinter.pem >"$n-chain.pem"
  rm -f "$n.csr"
done
rm -f pubinter.csr
echo ok
