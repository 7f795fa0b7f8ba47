#!/usr/bin/env bash
# SIP over TLS over IPv6 (issue 13 item 4): turnpike listens on [::]:5061
# (dual stack); kernel-side OpenSSL s_client over IPv6 with the EKU matrix
# rows: a clientAuth client certificate reaches the backend (200 OK), a
# serverAuth-only one is refused in mode On with alert 43 and the event
# line carrying the IPv6 addresses; an IPv4 client on the same listener
# still gets through. The backend leg is IPv4 (from the port's address).
# usage: sip6_tls.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-206}"
rig_up
rig_pki_stores "$pki_script"
events="$RIG_TMP/events.log"
# Documentation prefix (RFC 3849), inside the namespaces only.
NET6="2001:db8:${RIG_ID}"
TP6="$NET6::1"
PEER6="$NET6::2"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.accept_dad=0" "net.ipv6.conf.$IF_PEER.accept_ra=0"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad

ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "ports.0.ipv6=$TP6/64" --set "stores.dir=$stores" --set stores.eku_mode=on \
  --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.proxy_v2=true --set sip.client_cert=require \
  --set 'sip.listeners=[{address="[::]:5061"}]' \
  --set sip.handshake_timeout_ms=2000 --set "events.file=$events" || exit 1
check "listener on [::]:5061 in the ready line" grep -q "sip-tls:\[::\]:5061" "$TP_LOG"
# RFC 4862: turnpike's DAD probe, then RetransTimer (1 s) until usable.
sleep 1.5
s_client() {  # s_client HOST LEAF -> output
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS [2001:db8::9];branch=z9hG4bK-1\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$1:5061" -CAfile "$pki/ca.pem" -cert "$pki/$2.pem" \
      -key "$pki/$2.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}

out=$(s_client "[$TP6]" client)
check "OpenSSL over IPv6, clientAuth client: the backend's 200 OK" grep -q "SIP/2.0 200 OK" <<<"$out"
check "backend saw the request" grep -q "request OPTIONS sip:edge.test SIP/2.0" "$RIG_TMP/backend.log"
check "backend saw PROXY v2 with the client's IPv6 address" grep -q "proxy-v2 src=\[$PEER6\]:" "$RIG_TMP/backend.log"
out=$(s_client "[$TP6]" server)
check "OpenSSL over IPv6, serverAuth-only client refused in mode On (alert 43)" \
  grep -q "alert unsupported certificate" <<<"$out"
sleep 0.5
line=$(grep 'Detail="unsupported certificate purpose"' "$events" | head -1)
echo "event: $line"
check "event line with the IPv6 addresses in the spec's shape" grep -qE "^Event=\"Inbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"$PEER6\" Src-port=\"[0-9]+\" Dst-ip=\"$TP6\" Dst-port=\"5061\" Detail=\"unsupported certificate purpose\" Protocol=\"TLS\" Level=\"1\" UTCTime=\"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\"$" <<<"$line"
out=$(s_client "$TP_IP" client)
check "IPv4 client on the same [::] listener: 200 OK" grep -q "SIP/2.0 200 OK" <<<"$out"
check "its PROXY v2 header carries the IPv4 address" grep -q "proxy-v2 src=$PEER_IP:" "$RIG_TMP/backend.log"
tcp=$(tp_telemetry /turnpike/tcp)
check "IPv6 segments reached the stack" test "$(json_get "$tcp" "d['/turnpike/tcp']['rx_tcp6']")" -gt 10
check "no bad checksums" test "$(json_get "$tcp" "d['/turnpike/tcp']['rx_bad_checksum']")" = 0
tp_stop TERM
check "clean exit" test $? -eq 0
finish
