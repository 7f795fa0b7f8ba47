#!/usr/bin/env bash
# SIP over TLS through turnpike's data plane: kernel-side OpenSSL and Python
# clients in a namespace reach turnpike (user-space TCP + wolfSSL), which
# enforces the EKU policy, answers keep-alives, refuses bad SIP, and forwards
# requests to a SIP backend in the peer namespace with a PROXY v2 header.
# usage: sip_tls.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-15}"
rig_up
rig_pki_stores "$pki_script"
cp "$pki/inter.crl" "$stores/inter.crl"
events="$RIG_TMP/events.log"

ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; rig_down' EXIT
start() {  # start EKU_MODE
  rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "stores.eku_mode=$1" \
    --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.proxy_v2=true --set sip.client_cert=require \
    --set sip.handshake_timeout_ms=2000 --set "events.file=$events"
}
s_client() {  # s_client LEAF -> output
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-1\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
      -key "$pki/$1.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}
pyclient() { peer timeout 20 python3 "$here/sip_peers.py" client "$TP_IP" 5061 "$pki/ca.pem" "$pki/$1-chain.pem" "$pki/$1.key" "$2"; }

start on || exit 1
grep "TLS:" "$TP_LOG"
out=$(s_client client)
check "OpenSSL client (clientAuth) gets the backend's 200 OK" grep -q "SIP/2.0 200 OK" <<<"$out"
check "backend saw the request" grep -q "request OPTIONS sip:edge.test SIP/2.0" "$RIG_TMP/backend.log"
check "backend saw PROXY v2 with the client's address" grep -q "proxy-v2 src=$PEER_IP:" "$RIG_TMP/backend.log"
out=$(s_client server)
check "serverAuth-only client refused in mode On (alert 43)" grep -q "alert unsupported certificate" <<<"$out"
sleep 0.5
line=$(grep 'Detail="unsupported certificate purpose"' "$events" | head -1)
echo "event: $line"
check "event line has the spec's shape" grep -qE "^Event=\"Inbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"$PEER_IP\" Src-port=\"[0-9]+\" Dst-ip=\"$TP_IP\" Dst-port=\"5061\" Detail=\"unsupported certificate purpose\" Protocol=\"TLS\" Level=\"1\" UTCTime=\"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\"$" <<<"$line"
for leaf in expired revoked wrongissuer; do s_client $leaf >/dev/null; done
sleep 0.5
check "expired client: own Detail" grep -q 'Detail="certificate has expired"' "$events"
sip=$(tp_telemetry /turnpike/sip)
echo "refusals by detail: $(json_get "$sip" 'd["/turnpike/sip"]["refused_by_detail"]')"
check "refusals counted by detail (purpose, expired, revoked, untrusted)" test "$(json_get "$sip" 'int(all(d["/turnpike/sip"]["refused_by_detail"].get(k, 0) >= 1 for k in ("unsupported_certificate_purpose", "certificate_has_expired", "certificate_revoked", "unable_to_get_local_issuer_certificate")))')" = 1
check "revoked client: own Detail" grep -q 'Detail="certificate revoked"' "$events"
check "untrusted client: own Detail" grep -q 'Detail="unable to get local issuer certificate"' "$events"
check "RFC 5626 ping answered with CRLF, then requests still flow" test "$(pyclient client keepalive)" = "pong SIP/2.0 200 OK"
check "body over 64 KiB: 513" test "$(pyclient client oversize)" = "SIP/2.0 513 Message Too Large"
check "invalid Content-Length: 400" test "$(pyclient client badlength)" = "SIP/2.0 400 Bad Request"
check "100 requests on one connection, each answered in order" test "$(pyclient client many:100)" = "100/100"
peer python3 -c "
import socket; s = socket.create_connection(('$TP_IP', 5061), timeout=5); s.sendall(b'GARBAGE' * 100)
try: s.recv(100)
except Exception: pass"
peer python3 -c "import socket, time; s = socket.create_connection(('$TP_IP', 5061), timeout=5); time.sleep(3)"
sleep 0.5
check "garbage instead of a ClientHello: event" grep -q 'Detail="malformed TLS record"\|Detail="unexpected message"\|Detail="unsupported protocol"' "$events"
check "silent client: handshake timeout event" grep -q 'Detail="handshake timeout"' "$events"
check "still serving after the bad ones" grep -q "SIP/2.0 200 OK" <<<"$(s_client client)"
tp_stop TERM
check "clean exit" test $? -eq 0

start off || exit 1
out=$(s_client server)
check "mode Off: serverAuth-only client accepted" grep -q "SIP/2.0 200 OK" <<<"$out"
out=$(s_client codesign)
check "mode Off: codeSigning-only client still refused" grep -q "alert unsupported certificate" <<<"$out"
tp_stop TERM
# Health checks (every 2 s by default, PROXY v2 LOCAL then FIN) leave no
# error in the backend's log; a reset showed as "connection error".
check "backend log has no error lines" bash -c "! grep -E 'connection error|malformed|tls-refused' '$RIG_TMP/backend.log'"
finish
