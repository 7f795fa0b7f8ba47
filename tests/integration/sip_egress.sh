#!/usr/bin/env bash
# turnpike as the TLS client (docs/eku-semantics.md: the client store is presented
# when turnpike is the TLS client):
#  - egress: plain TCP from the inside, carried over TLS to a remote peer that
#    requires a client certificate with clientAuth (Python ssl, OpenSSL's
#    SSL-client purpose check). The client-store certificate is accepted; a
#    serverAuth-only certificate copied into the client store is refused.
#    turnpike refuses a remote without serverAuth or with the wrong name.
#  - TLS towards SIP backends (with PROXY v2 before the handshake), TCP health
#    checks that skip a dead backend, least-connections balancing.
# usage: sip_egress.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-30}"
rig_up
pki="$RIG_TMP/pki"
bash "$pki_script" "$pki" >/dev/null || { echo "PKI generation failed"; exit 1; }
events="$RIG_TMP/events.log"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rig_down' EXIT

stores() {  # stores DIR CLIENT_LEAF
  mkdir -p "$1"
  cp "$pki/both-chain.pem" "$1/server.pem"
  cp "$pki/both.key" "$1/privkey.pem"
  cp "$pki/$2-chain.pem" "$1/client.pem"
  cp "$pki/$2.key" "$1/clientprivkey.pem"
  cp "$pki/ca.pem" "$1/ca.pem"
}
tlspeer() {  # tlspeer PORT LEAF LOG: TLS SIP server requiring clientAuth
  ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" tlsbackend "$PEER_IP" "$1" "$3" "$pki/$2-chain.pem" "$pki/$2.key" "$pki/ca.pem" &
  PIDS+=($!)
}
tlspeer 6001 server "$RIG_TMP/peer-server.log"   # serverAuth only, CN=server.test
tlspeer 6002 client "$RIG_TMP/peer-client.log"   # clientAuth only: not a server certificate
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/plain.log" &
PIDS+=($!)
sleep 0.5
routes='[{listen_port=5070, remote="'$PEER_IP':6001", name="server.test"}, {listen_port=5071, remote="'$PEER_IP':6002", name="client.test"}, {listen_port=5072, remote="'$PEER_IP':6001", name="wrong.test"}]'
start() {  # start STORES [more --set ...]
  local dir=$1
  shift
  rig_start_turnpike "$bin" 2 --set "stores.dir=$dir" --set "egress.routes=$routes" --set "events.file=$events" \
    --set egress.handshake_timeout_ms=3000 "$@"
}
plain() { peer timeout 15 python3 "$here/sip_peers.py" plainclient "$TP_IP" "$1" "$2"; }

# 1. Client store holds a clientAuth certificate.
stores "$RIG_TMP/s1" client
start "$RIG_TMP/s1" --set "sip.backends=[\"$PEER_IP:5060\"]" || exit 1
grep -E "TLS:|ready:" "$TP_LOG"
out=$(plain 5070 show)
check "egress: inside request crosses TLS and the remote answers 200" grep -q "^SIP/2.0 200 OK" <<<"$out"
check "egress: the remote saw the client-store certificate" grep -q "X-TLS-Client: client.test" <<<"$out"
check "egress: remote logged clientAuth certificate accepted" grep -q "tls-ok cn=client.test" "$RIG_TMP/peer-server.log"
check "egress: 50 requests on one connection, in order" test "$(plain 5070 many:50)" = "50/50"
out=$(plain 5071 options)
sleep 0.3
check "egress: remote without serverAuth refused (nothing comes back)" test -z "$(grep '^SIP/2.0' <<<"$out")"
check "egress: outbound event for the missing serverAuth" grep -qE "^Event=\"Outbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"$TP_IP\" Src-port=\"[0-9]+\" Dst-ip=\"$PEER_IP\" Dst-port=\"6002\" Detail=\"unsupported certificate purpose\"" "$events"
out=$(plain 5072 options)
sleep 0.3
check "egress: wrong remote name refused" test -z "$(grep '^SIP/2.0' <<<"$out")"
grep 'Dst-port="6001"' "$events" | head -2
check "egress: outbound event for the name mismatch" grep -q "Dst-port=\"6001\" Detail=\"" "$events"
eg=$(tp_telemetry /turnpike/egress)
echo "egress telemetry: $eg"
check "egress refusals counted by detail" \
  test "$(json_get "$eg" 'd["/turnpike/egress"]["refused_by_detail"].get("unsupported_certificate_purpose", 0)')" -ge 1
check "egress telemetry counts 2 completed and 2 refused handshakes (at least)" \
  test "$(json_get "$eg" 'int(d["/turnpike/egress"]["handshakes_ok"] >= 2 and d["/turnpike/egress"]["handshakes_failed"] >= 2)')" = 1
tp_stop TERM
check "clean exit" test $? -eq 0

# 2. A serverAuth-only certificate copied into the client store (scenario 4).
stores "$RIG_TMP/s2" server
: >"$events"
start "$RIG_TMP/s2" || exit 1
out=$(plain 5070 options)
sleep 0.5
check "egress with a serverAuth-only client cert: refused by the remote" test -z "$(grep '^SIP/2.0' <<<"$out")"
check "remote logged the purpose refusal" grep -q "tls-refused.*\(unsuitable\|unsupported\) certificate purpose" "$RIG_TMP/peer-server.log"
line=$(grep '^Event="Outbound TLS Negotiation Error"' "$events" | head -1)
echo "event: $line"
check "outbound event names the remote's alert (unsupported certificate, 43)" grep -q 'Detail="alert received: unsupported certificate"' <<<"$line"
tp_stop TERM

# 3. TLS to backends (client store presented), PROXY v2 ahead of the
#    handshake, a dead backend found by health checks, least connections.
: >"$RIG_TMP/peer-server.log"
tlspeer 6003 both "$RIG_TMP/tlsbackend.log"   # CN=both.test
sleep 0.3
start "$RIG_TMP/s1" --set "sip.backends=[\"$PEER_IP:6999\", \"$PEER_IP:6003\"]" --set sip.backend_tls=true \
  --set sip.backend_tls_name=both.test --set sip.proxy_v2=true --set sip.balance=least-connections \
  --set sip.health_check_interval_ms=200 --set sip.health_check_timeout_ms=500 || exit 1
sleep 1.5  # a few check rounds: 6999 has no listener
s_client() {
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-1\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: b1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
      -key "$pki/client.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}
ok=0
for i in 1 2 3 4 5 6; do grep -q "X-TLS-Client: client.test" <<<"$(s_client)" && ok=$((ok + 1)); done
check "TLS backend: 6 of 6 clients answered through TLS to the backend (dead one skipped)" test "$ok" -eq 6
check "TLS backend saw PROXY v2 with the client's address" grep -q "proxy-v2 src=$PEER_IP:" "$RIG_TMP/tlsbackend.log"
check "TLS backend accepted turnpike's client-store certificate" grep -q "tls-ok cn=client.test" "$RIG_TMP/tlsbackend.log"
sip=$(tp_telemetry /turnpike/sip)
echo "sip telemetry: $sip"
check "health checks took the dead backend down" test "$(json_get "$sip" 'int(d["/turnpike/sip"]["backend_went_down"] >= 1 and d["/turnpike/sip"]["health_checks_failed"] >= 2 and d["/turnpike/sip"]["health_checks_ok"] >= 2)')" = 1
check "no client was refused for lack of a backend" test "$(json_get "$sip" 'd["/turnpike/sip"]["no_backend"]')" = 0
tp_stop TERM
check "clean exit" test $? -eq 0
finish
