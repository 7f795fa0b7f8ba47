#!/usr/bin/env bash
# turnpike-certs end to end: cli_test.sh BINARY PKI_DIR
set -euo pipefail
bin=$1 pki=$2
d=$(mktemp -d /tmp/turnpike-cli-XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run() { "$bin" --dir "$d/store" "$@"; }

run set-ca "$pki/ca.pem" >/dev/null 2>&1 || fail "set-ca"
# Client store refuses a serverAuth-only certificate with the exact message; exit 1.
if run upload-client "$pki/server-chain.pem" "$pki/server.key" >"$d/out" 2>"$d/err"; then fail "refusal expected"; fi
grep -qx "Invalid certificate: The file provided does not have a client usage attribute. Services requiring mutual TLS may not work." "$d/err" \
  || fail "exact refusal message"
run upload-server "$pki/server-chain.pem" "$pki/server.key" >/dev/null 2>&1 || fail "upload-server"
run upload-client "$pki/both-chain.pem" "$pki/both-enc.key" 2>"$d/err" && fail "encrypted key without passphrase"
grep -q "a passphrase is required" "$d/err" || fail "passphrase message"
run upload-client "$pki/both-chain.pem" "$pki/both-enc.key" --passphrase secret >/dev/null 2>&1 || fail "upload-client"
run mode off >/dev/null 2>&1 || fail "mode"
run show | grep -q "EKU checking mode Off" || fail "show mode"
run audit | grep -q "^Scenario 2.1:" || fail "audit scenario"
run audit --json | grep -q '"id": "2.1"' || fail "audit json"
run set "XCP TLS Certificate CVS EnableServerEkuUpload" On 2>"$d/err" || fail "legacy setting"
grep -q "deprecated" "$d/err" || fail "deprecated warning"
run dump "$d" edge1 || fail "dump"
ls "$d"/ca_edge1_*.pem "$d"/server_edge1_*.pem "$d"/client_edge1_*.pem >/dev/null || fail "dump files"
rc=0; run bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "usage exit code"
echo "cli ok"
