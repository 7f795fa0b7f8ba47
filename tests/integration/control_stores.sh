#!/usr/bin/env bash
# The client store and the trust store through the control socket, in the
# HAProxy set_ssl_cert.vtc pattern (issue 9), each proved by a real peer:
#   client store: the fingerprint a kernel TLS server (Python ssl, requiring
#     clientAuth) sees through egress before a staged change, after Abort
#     (unchanged) and after Commit (new);
#   trust store: a client whose CA is not trusted is refused, still refused
#     while the CA is staged, accepted once it is committed;
#   CRL: a client accepted (its verdict cached) is refused at once after a
#     CRL that revokes it is committed ("certificate revoked").
# usage: control_stores.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
pki_script=$3
rig_init "${4:-176}"
rig_up
rig_pki_stores "$pki_script" client
sock="$RIG_TMP/ctl.sock"
events="$RIG_TMP/events.log"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rig_down' EXIT
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
PIDS+=($!)
# The remote of the egress route: requires a client certificate with clientAuth.
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" tlsbackend "$PEER_IP" 6001 "$RIG_TMP/remote.log" \
  "$pki/server-chain.pem" "$pki/server.key" "$pki/ca.pem" &
PIDS+=($!)
sleep 0.5
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.client_cert=require --set "events.file=$events" --set "control.socket=$sock" \
  --set control.readonly_socket=off \
  --set "egress.routes=[{listen_port=5070, remote=\"$PEER_IP:6001\", name=\"server.test\"}]" || exit 1

ctl() { "$ctlbin" --socket "$sock" "$@"; }
fp_of() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2 | tr -d :; }
# The client certificate the remote saw through egress (a new inside connection each time).
fp_remote() { peer timeout 15 python3 "$here/sip_peers.py" plainclient "$TP_IP" 5070 show | sed -n 's/^X-TLS-Client-SHA256: //p' | tr -d '\r'; }
sc() {  # sc LEAF: s_client's output for one OPTIONS presenting LEAF (+ its chain file, if any)
  local chain=()
  [ -f "$pki/$1-chain.pem" ] && chain=(-cert_chain "$pki/$1-chain.pem")
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-h\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: h1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
      -key "$pki/$1.key" "${chain[@]}" -ign_eof 2>&1
}
# A session held open: send a line, read to its status line.
coproc SESS { "$ctlbin" --socket "$sock" -f -; }
PIDS+=($SESS_PID)
sess_cmd() {
  echo "$1" >&"${SESS[1]}"
  local l
  while IFS= read -r -t 20 l <&"${SESS[0]}"; do
    [ "$l" = OK ] && return 0
    [[ $l == ERROR:* ]] && { echo "  $l"; return 1; }
  done
  return 2
}

# --- client store, seen by the remote through egress.
old=$(fp_of "$pki/client.pem")
new=$(fp_of "$pki/both.pem")
check "client store before: the remote sees the current client certificate" test "$(fp_remote)" = "$old"
sess_cmd "xCommand Certificate Upload Store: Client Certificate: $pki/both-chain.pem Key: $pki/both.key"
check "client certificate staged" test $? -eq 0
check "client store staged: the remote still sees the old one" test "$(fp_remote)" = "$old"
sess_cmd "xCommand Certificate Abort"
check "client store after Abort: unchanged" test "$(fp_remote)" = "$old"
sess_cmd "xCommand Certificate Upload Store: Client Certificate: $pki/both-chain.pem Key: $pki/both.key" &&
  sess_cmd "xCommand Certificate Commit"
check "client certificate committed" test $? -eq 0
check "client store after Commit: the remote sees the new one" test "$(fp_remote)" = "$new"
out=$(ctl cert swap client "$pki/server-chain.pem" "$pki/server.key" 2>&1)
check "a serverAuth-only client certificate is refused with the spec's message" \
  grep -q "Invalid certificate: The file provided does not have a client usage attribute. Services requiring mutual TLS may not work." <<<"$out"
check "and changes nothing" test "$(fp_remote)" = "$new"

# --- trust store: a CA added only counts once committed.
check "untrusted CA before: client refused (unknown issuer)" grep -q "alert unknown ca" <<<"$(sc wrongissuer)"
sess_cmd "xCommand Certificate CA Add File: $pki/other-root.pem"
check "CA staged" test $? -eq 0
check "CA staged: still refused" grep -q "alert unknown ca" <<<"$(sc wrongissuer)"
sess_cmd "xCommand Certificate Commit"
check "CA committed" test $? -eq 0
check "CA committed: the client is accepted" grep -q "SIP/2.0 200 OK" <<<"$(sc wrongissuer)"

# --- CRL: a cached verdict does not outlive a revocation.
hits() { ctl status VerdictCache | sed -n 's/.*VerdictCache Hits: //p'; }
check "revoked client before any CRL: accepted (verdict cached)" grep -q "SIP/2.0 200 OK" <<<"$(sc revoked)"
h0=$(hits)
check "and again" grep -q "SIP/2.0 200 OK" <<<"$(sc revoked)"
h1=$(hits)
echo "verdict cache hits: $h0 -> $h1"
check "the second handshake was a verdict-cache hit" test "${h1:-0}" -gt "${h0:-0}"
ctl cert crl add inter.crl "$pki/inter.crl" >/dev/null
check "CRL committed" test $? -eq 0
out=$(sc revoked)
check "CRL committed: the same client is refused at once" grep -q "alert certificate revoked" <<<"$out"
sleep 0.5
check "with the Detail certificate revoked" grep -q 'Detail="certificate revoked"' "$events"
check "a client that is not revoked is still accepted" grep -q "SIP/2.0 200 OK" <<<"$(sc client)"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
