#!/usr/bin/env bash
# make-pki.sh OUTDIR — builds a throw-away test PKI with the openssl CLI.
# Nothing it writes is committed; tests call it into a temp dir.
#
# Outputs in OUTDIR (PEM unless noted; every leaf NAME has NAME.pem (cert),
# NAME.key (unencrypted key) and NAME-chain.pem (leaf + intermediate)):
#   root.pem root.key           private root CA (EC P-256)
#   inter.pem inter.key         intermediate CA under root (no EKU)
#   inter-srv.pem               intermediate CA with EKU serverAuth only
#   ca.pem                      trust bundle: root only
#   other-root.pem              unrelated root (for wrong-issuer tests)
#   Leaves signed by inter (EC P-256 unless noted), subject CN=<name>.test:
#     client        EKU clientAuth
#     server        EKU serverAuth only (the public-CA profile)
#     both          EKU serverAuth+clientAuth
#     noeku         no EKU extension
#     any           EKU anyExtendedKeyUsage
#     codesign      EKU codeSigning only
#     ku-dsig       keyUsage digitalSignature, EKU clientAuth+serverAuth
#     ku-kagree     keyUsage keyAgreement, EKU clientAuth+serverAuth
#     ku-kenc       keyUsage keyEncipherment only (fails the keyUsage rule)
#     expired       validity 2020-01-01..2021-01-01, EKU both
#     notyet        validity 2099-01-01..2100-01-01, EKU both
#     revoked       EKU both, listed in inter.crl
#     rsa2048 rsa4096  RSA keys, EKU both
#     p384          EC P-384, EKU both
#     rsa1024 p521  key sizes turnpike refuses (RSA < 2048, ECDSA P-521), EKU both
#     ed25519       Ed25519, EKU both
#     san           EKU both; SAN DNS sip.example.test, IP 198.18.0.1
#     san-uri       EKU both; SAN URI sip:example.test, DNS sip.example.test (parsed
#                   since wolfSSL is built with WOLFSSL_FPKI, see setup-deps.sh)
#     srvsub        EKU serverAuth, issued by inter-srv (serverAuth-only CA chain)
#     srvsub-both   EKU serverAuth+clientAuth, issued by inter-srv (the CA EKU rule)
#     wrongissuer   EKU both, issued by other-root
#     rootleaf      end-entity (CA:FALSE) issued directly by root
#     evil          EKU both, "issued" by rootleaf (must never verify: RFC 5280 4.2.1.9)
#   inter.crl       CRL of inter revoking "revoked" (PEM); root.crl (empty, PEM)
#     multi         EKU both; SAN DNS alpha.test, beta.test, *.wild.test (SNI tests)
#     multi-rsa     RSA 2048, EKU both; SAN DNS rsa.sni.test, *.rsa-wild.test (SNI tests)
#   Extraneous-certificate tests (RFC 8446 4.4.2; added last, earlier serials unchanged):
#     inter2        second-level intermediate CA under inter (no EKU)
#     deep          EKU clientAuth, issued by inter2; deep-chain.pem = deep, inter2, inter
#     unrelated     self-signed end-entity (no basicConstraints: not a CA), EKU both: in no hierarchy
#     inter-old     intermediate CA under root, expired (2020-01-01..2021-01-01)
#     oldsub        EKU clientAuth, issued by inter-old (valid dates; its path has an expired CA)
#   both-enc.key    key of "both" encrypted with AES-256 (PKCS#8), passphrase "secret"
#   x448.key        a key type turnpike does not support (X448)
#   both-enc-trad.key  same key in traditional encrypted PEM (Proc-Type), passphrase "secret"
set -euo pipefail
out=${1:?usage: make-pki.sh OUTDIR}
mkdir -p "$out"
cd "$out"
export OPENSSL_CONF=/dev/null

# Every certificate starts an hour ago (notAfter still counts from now): a
# test that takes "now" before the PKI is made, or on a clock of one-second
# granularity, must never see one as not yet valid.
start=$(date -u -d '1 hour ago' +%Y%m%d%H%M%SZ)

ec()  { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"${2:-P-256}" -out "$1" 2>/dev/null; }
rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$2" -out "$1" 2>/dev/null; }

cat > ext.cnf <<'CNF'
[ca_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ca_inter_srv]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
extendedKeyUsage = clientAuth
[server]
extendedKeyUsage = serverAuth
[both]
extendedKeyUsage = serverAuth,clientAuth
[noeku]
basicConstraints = CA:FALSE
[any]
extendedKeyUsage = anyExtendedKeyUsage
[codesign]
extendedKeyUsage = codeSigning
[ku-dsig]
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
[ku-kagree]
keyUsage = critical,keyAgreement
extendedKeyUsage = serverAuth,clientAuth
[ku-kenc]
keyUsage = critical,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
[san]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:sip.example.test,IP:198.18.0.1
[san-uri]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:sip:example.test,DNS:sip.example.test
CNF

# Minimal "openssl ca" database per issuing CA (needed for explicit dates and CRLs).
mkca() {
  local n=$1
  mkdir -p "db-$n"
  : > "db-$n/index.txt"
  echo 1000 > "db-$n/serial"
  echo 1000 > "db-$n/crlnumber"
  cat > "db-$n/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
dir = db-$n
database = db-$n/index.txt
serial = db-$n/serial
crlnumber = db-$n/crlnumber
new_certs_dir = db-$n
certificate = $n.pem
private_key = $n.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
CNF
}
# sign ISSUER NAME EXTSECTION [startdate enddate]
sign() {
  local iss=$1 name=$2 sect=$3
  local dates=(-startdate "$start")
  if [ $# -ge 5 ]; then dates=(-startdate "$4" -enddate "$5"); fi
  openssl req -new -key "$name.key" -subj "/CN=$name.test" -out "$name.csr" 2>/dev/null
  openssl ca -batch -notext -config "db-$iss/ca.cnf" -in "$name.csr" -out "$name.pem" \
    -extfile ext.cnf -extensions "$sect" "${dates[@]}" >/dev/null 2>&1
  rm -f "$name.csr"
}

# selfsign NAME SUBJECT EXTSECTION: a self-signed certificate for 10 years
# from $start ("req -x509" has no start date before OpenSSL 3.4); its own
# throw-away database and a random serial, so no CA's serials move.
selfsign() {
  local name=$1
  mkdir -p "db-self-$name"
  : > "db-self-$name/index.txt"
  openssl rand -hex 8 > "db-self-$name/serial"
  sed "s/db-$name/db-self-$name/g" "db-$name/ca.cnf" > "db-self-$name/ca.cnf"
  openssl req -new -key "$name.key" -subj "$2" -out "$name.csr" 2>/dev/null
  openssl ca -batch -notext -selfsign -config "db-self-$name/ca.cnf" -keyfile "$name.key" -in "$name.csr" \
    -out "$name.pem" -extfile ext.cnf -extensions "$3" -startdate "$start" -days 3650 >/dev/null 2>&1
  rm -f "$name.csr"
}

ec root.key
mkca root
selfsign root "/CN=Turnpike Test Root" ca_root
ec other-root.key
mkca other-root
selfsign other-root "/CN=Other Test Root" ca_root

ec inter.key
openssl req -new -key inter.key -subj "/CN=Turnpike Test Intermediate" -out inter.csr 2>/dev/null
openssl ca -batch -notext -config db-root/ca.cnf -in inter.csr -out inter.pem \
  -extfile ext.cnf -extensions ca_root -startdate "$start" >/dev/null 2>&1
ec inter-srv.key
openssl req -new -key inter-srv.key -subj "/CN=Turnpike ServerAuth-only Intermediate" -out inter-srv.csr 2>/dev/null
openssl ca -batch -notext -config db-root/ca.cnf -in inter-srv.csr -out inter-srv.pem \
  -extfile ext.cnf -extensions ca_inter_srv -startdate "$start" >/dev/null 2>&1
rm -f inter.csr inter-srv.csr
mkca inter
mkca inter-srv
cp root.pem ca.pem

for n in client server both noeku any codesign ku-dsig ku-kenc san san-uri revoked; do
  ec "$n.key"
  s=$n; [ "$n" = revoked ] && s=both
  sign inter "$n" "$s"
done
ec ku-kagree.key
sign inter ku-kagree ku-kagree
ec expired.key;  sign inter expired both 20200101000000Z 20210101000000Z
ec notyet.key;   sign inter notyet both 20990101000000Z 21000101000000Z
rsa rsa2048.key 2048; sign inter rsa2048 both
rsa rsa4096.key 4096; sign inter rsa4096 both
ec p384.key P-384;    sign inter p384 both
rsa rsa1024.key 1024; sign inter rsa1024 both
ec p521.key P-521;    sign inter p521 both
openssl genpkey -algorithm ED25519 -out ed25519.key 2>/dev/null; sign inter ed25519 both
ec srvsub.key;        sign inter-srv srvsub server
ec srvsub-both.key;   sign inter-srv srvsub-both both
ec wrongissuer.key;   sign other-root wrongissuer both
ec rootleaf.key;      sign root rootleaf noeku
mkca rootleaf
ec evil.key;          sign rootleaf evil both
cat evil.pem rootleaf.pem > evil-chain.pem

for n in client server both noeku any codesign ku-dsig ku-kagree ku-kenc san revoked \
         expired notyet rsa2048 rsa4096 p384 ed25519 rsa1024 p521; do
  cat "$n.pem" inter.pem > "$n-chain.pem"
done
cat srvsub.pem inter-srv.pem > srvsub-chain.pem
cat srvsub-both.pem inter-srv.pem > srvsub-both-chain.pem
cp wrongissuer.pem wrongissuer-chain.pem

openssl ca -config db-inter/ca.cnf -revoke revoked.pem >/dev/null 2>&1
openssl ca -config db-inter/ca.cnf -gencrl -out inter.crl >/dev/null 2>&1
openssl ca -config db-root/ca.cnf -gencrl -out root.crl >/dev/null 2>&1

openssl pkey -in both.key -aes256 -passout pass:secret -out both-enc.key 2>/dev/null
openssl pkey -in both.key -traditional -aes256 -passout pass:secret -out both-enc-trad.key 2>/dev/null
openssl genpkey -algorithm X448 -out x448.key 2>/dev/null
# SNI identities (added last so that every earlier certificate keeps its serial).
cat >> ext.cnf <<'CNF'
[multi]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:alpha.test,DNS:beta.test,DNS:*.wild.test
[multi-rsa]
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:rsa.sni.test,DNS:*.rsa-wild.test
CNF
ec multi.key;             sign inter multi multi
rsa multi-rsa.key 2048;   sign inter multi-rsa multi-rsa
for n in multi multi-rsa; do cat "$n.pem" inter.pem > "$n-chain.pem"; done
# Extraneous-certificate tests.
ec inter2.key
openssl req -new -key inter2.key -subj "/CN=Turnpike Test Intermediate 2" -out inter2.csr 2>/dev/null
openssl ca -batch -notext -config db-inter/ca.cnf -in inter2.csr -out inter2.pem \
  -extfile ext.cnf -extensions ca_root -startdate "$start" >/dev/null 2>&1
rm -f inter2.csr
mkca inter2
ec deep.key;              sign inter2 deep client
cat deep.pem inter2.pem inter.pem > deep-chain.pem
ec unrelated.key
mkca unrelated
selfsign unrelated "/CN=unrelated.test" both
ec inter-old.key
openssl req -new -key inter-old.key -subj "/CN=Turnpike Expired Intermediate" -out inter-old.csr 2>/dev/null
openssl ca -batch -notext -config db-root/ca.cnf -in inter-old.csr -out inter-old.pem -extfile ext.cnf \
  -extensions ca_root -startdate 20200101000000Z -enddate 20210101000000Z >/dev/null 2>&1
rm -f inter-old.csr
mkca inter-old
ec oldsub.key;            sign inter-old oldsub client

touch .complete
echo ok
