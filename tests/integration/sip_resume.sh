#!/usr/bin/env bash
# TLS listener features against OpenSSL s_client: session resumption with
# TLS 1.3 PSK tickets and TLS 1.2 tickets (RFC 8446 §4.6.1, RFC 5077), ticket
# keys shared through a key file across a restart (as several nodes would),
# the EKU mode rule on resumption (docs/eku-semantics.md: a resumption whose
# original certificate the current mode rejects falls back to a full
# handshake, hence a reject), SNI choosing among server certificates
# (RFC 6066 §3), and per-listener versions and groups.
# usage: sip_resume.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-31}"
rig_up
rig_pki_stores "$pki_script"
events="$RIG_TMP/events.log"
keys="$RIG_TMP/tickets.keys"
{ echo "# turnpike ticket keys: first line encrypts"; head -c 80 /dev/urandom | base64 -w0; echo; } >"$keys"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; rig_down' EXIT

listeners='[{address="0.0.0.0:5061"}, {address="'$TP_IP':5062", tls_versions=["1.3"], groups="P-256", client_cert="none"}]'
start() {  # start EKU_MODE
  rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "stores.eku_mode=$1" \
    --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.client_cert=request --set "sip.ticket_key_file=$keys" \
    --set "sip.listeners=$listeners" \
    --set "sip.sni_certificates=[{chain=\"$pki/san-chain.pem\", key=\"$pki/san.key\"}]" --set "events.file=$events"
}
# sc LEAF PORT [s_client options...]: one OPTIONS over TLS, prints s_client's output
sc() {
  local leaf=$1 port=$2
  shift 2
  local cert=()
  [ "$leaf" != none ] && cert=(-cert "$pki/$leaf.pem" -key "$pki/$leaf.key" -cert_chain "$pki/inter.pem")
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-r\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: r1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:$port" -CAfile "$pki/ca.pem" "${cert[@]}" -ign_eof "$@" 2>&1
}
sess="$RIG_TMP/sess"

start off || exit 1
grep "TLS:" "$TP_LOG"
for v in 1.3 1.2; do
  flag=-tls1_3; [ $v = 1.2 ] && flag=-tls1_2
  out=$(sc client 5061 $flag -sess_out "$sess-$v")
  check "TLS $v full handshake answered" grep -q "SIP/2.0 200 OK" <<<"$out"
  check "TLS $v: a ticket was issued" test -s "$sess-$v"
  out=$(sc client 5061 $flag -sess_in "$sess-$v")
  check "TLS $v ticket resumes (Reused)" grep -q "^Reused" <<<"$out"
  check "TLS $v resumed session carries SIP" grep -q "SIP/2.0 200 OK" <<<"$out"
done
out=$(sc server 5061 -tls1_3 -sess_out "$sess-srv")
check "mode Off: serverAuth-only client accepted" grep -q "SIP/2.0 200 OK" <<<"$out"
check "mode Off: serverAuth-only client got a ticket" test -s "$sess-srv"
out=$(sc none 5061 -servername sip.example.test)
check "SNI sip.example.test selects the SNI certificate" grep -q "subject=CN = san.test" <<<"$out"
out=$(sc none 5061)
check "no SNI: the server-store certificate" grep -q "subject=CN = both.test" <<<"$out"
out=$(sc none 5062 -tls1_2)
check "listener 5062 (TLS 1.3 only) refuses TLS 1.2" sh -c '! grep -q "SIP/2.0 200 OK"' <<<"$out"
out=$(sc none 5062 -groups X25519)
check "listener 5062 (P-256 only) refuses an X25519-only client" sh -c '! grep -q "SIP/2.0 200 OK"' <<<"$out"
out=$(sc none 5062 -groups P-256)
check "listener 5062 answers a P-256 client without a certificate" grep -q "SIP/2.0 200 OK" <<<"$out"
sip=$(tp_telemetry /turnpike/sip)
echo "sip telemetry: $sip"
check "resumptions counted" test "$(json_get "$sip" 'int(d["/turnpike/sip"]["resumed"] >= 2)')" = 1
tp_stop TERM

# Restart with the same key file (another node, or this one after an
# upgrade) and mode On.
: >"$events"
start on || exit 1
out=$(sc client 5061 -tls1_3 -sess_in "$sess-1.3")
check "ticket from before the restart resumes with the shared key file" grep -q "^Reused" <<<"$out"
out=$(sc server 5061 -tls1_3 -sess_in "$sess-srv")
check "mode On: the serverAuth-only client's ticket does not resume" sh -c '! grep -q "^Reused"' <<<"$out"
check "mode On: ... and the full handshake refuses it (alert 43)" grep -q "alert unsupported certificate" <<<"$out"
sleep 0.5
check "mode On: event line for the refused resumption attempt" grep -q 'Detail="unsupported certificate purpose"' "$events"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
