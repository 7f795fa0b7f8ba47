#!/usr/bin/env bash
# turnpike demo: installs dependencies, builds, and runs the data plane on a
# namespace rig (no NIC, no hugepages): a veth pair, turnpike on one end via
# DPDK net_af_packet with 2 workers, the Linux kernel on the other. Shows ARP
# resolution, ping, TCP echo on turnpike's own TCP stack, and SIP OPTIONS over
# TLS crossing turnpike to a SIP backend (demo certificates made on the fly),
# one of them over IPv6 (PROXY v2 carries the IPv6 source to the backend),
# a serverAuth-only client certificate refused with the spec's event line,
# a resumed TLS 1.3 session, egress (turnpike as the TLS client presenting the
# client store to a peer that requires clientAuth), turnpikectl (the EKU mode
# Off and On again, a server-certificate swap with the fingerprint a new
# handshake sees before and after), the counters in DPDK telemetry and a
# clean shutdown.
# Run as root. With a terminal, it waits for Enter before tearing down so you
# can try commands yourself; everything it creates is removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing dependencies (first run: a few minutes; later: seconds)"
bash deploy/setup-deps.sh
say "building (release)"
cmake --preset release >/dev/null
cmake --build --preset release --target turnpike turnpikectl -j "$(nproc)"
bin="$here/build/release/dataplane/app/turnpike"
ctlbin="$here/build/release/control/turnpikectl"

source tests/rig/rig.sh
rig_init 1
say "creating the rig: namespaces $NS_DP (turnpike) and $NS_PEER (kernel), veth $IF_DP <-> $IF_PEER"
rig_up
# IPv6 beside IPv4: documentation prefix (RFC 3849), inside the namespaces only.
TP6="2001:db8:${RIG_ID}::1"
PEER6="2001:db8:${RIG_ID}::2"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.accept_dad=0" "net.ipv6.conf.$IF_PEER.accept_ra=0"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad
say "demo PKI (private root, intermediate, leaves) and certificate stores"
rig_pki_stores tests/control/pki/make-pki.sh client
echo "server store: $(openssl x509 -in "$stores/server.pem" -noout -subject -ext extendedKeyUsage | tr '\n' ' ')"
echo "client store: $(openssl x509 -in "$stores/client.pem" -noout -subject -ext extendedKeyUsage | tr '\n' ' ')"
say "a SIP backend in the kernel namespace at $PEER_IP:5060"
ip netns exec "$NS_PEER" python3 tests/integration/sip_peers.py backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
say "a remote SIP peer over TLS at $PEER_IP:6001 that requires a clientAuth client certificate (Python ssl)"
ip netns exec "$NS_PEER" python3 tests/integration/sip_peers.py tlsbackend "$PEER_IP" 6001 "$RIG_TMP/remote.log" \
  "$pki/server-chain.pem" "$pki/server.key" "$pki/ca.pem" &
REMOTE_PID=$!
trap 'kill $BACKEND_PID $REMOTE_PID 2>/dev/null; rig_down' EXIT
say "starting turnpike: 2 workers on net_af_packet0,iface=$IF_DP, addresses $TP_IP/24 and $TP6/64, SIP on [::]:5061 (both families)"
RIG_README_DEVICE=1 rig_start_turnpike "$bin" 2 --set 'services.echo_ports=[7]' --set "stores.dir=$stores" \
  --set "ports.0.ipv6=$TP6/64" --set 'sip.listeners=[{address="[::]:5061"}]' \
  --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.proxy_v2=true --set "events.file=$RIG_TMP/events.log" \
  --set "egress.routes=[{listen_port=5070, remote=\"$PEER_IP:6001\", name=\"server.test\"}]" \
  --set "control.socket=$RIG_TMP/turnpike.sock" --set "control.readonly_socket=$RIG_TMP/turnpike.ro.sock"
grep -E "placement|port |TLS:|control socket|ready" "$TP_LOG"
ctl() { "$ctlbin" --socket "$RIG_TMP/turnpike.sock" "$@"; }

say "kernel side ($PEER_IP) resolves turnpike with ARP"
peer arping -c 2 -w 3 -I "$IF_PEER" "$TP_IP"
say "kernel side pings turnpike (answered by the DPDK data plane, not a kernel), over IPv4 and IPv6 (Neighbor Discovery)"
peer ping -c 5 -i 0.2 "$TP_IP"
peer ping -6 -c 3 -i 0.2 "$TP6"
say "TCP echo (RFC 862) on turnpike's user-space TCP: 20 connections x 1 MiB, SHA-256 checked"
peer python3 tests/integration/tcp_clients.py "$TP_IP" 7 --conns 20 --bytes 1048576 --timeout 30
say "SIP OPTIONS over TLS: OpenSSL client with a clientAuth certificate -> turnpike -> backend"
printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-demo\r\nTo: <sip:edge.test>\r\nFrom: <sip:demo@test>;tag=1\r\nCall-ID: demo-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$PEER_IP" |
  peer timeout 3 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
    -key "$pki/client.key" -cert_chain "$pki/inter.pem" -ign_eof -quiet 2>/dev/null | head -1 || true
echo "backend log:"; cat "$RIG_TMP/backend.log"
say "SIP OPTIONS over IPv6: OpenSSL client at $PEER6 -> turnpike [$TP6]:5061 -> backend (PROXY v2 AF_INET6)"
printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS [%s];branch=z9hG4bK-demo6\r\nTo: <sip:edge.test>\r\nFrom: <sip:demo@test>;tag=1\r\nCall-ID: demo-6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$PEER6" |
  peer timeout 3 openssl s_client -connect "[$TP6]:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
    -key "$pki/client.key" -cert_chain "$pki/inter.pem" -ign_eof -quiet 2>/dev/null | head -1 || true
echo "backend log:"; tail -2 "$RIG_TMP/backend.log"
say "a serverAuth-only client certificate (the 2026 public-CA profile) is refused in EKU mode On"
peer timeout 3 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/server.pem" \
  -key "$pki/server.key" -cert_chain "$pki/inter.pem" -ign_eof </dev/null 2>&1 | grep -m1 -o "alert unsupported certificate" || true
sleep 0.3
echo "event log:"; cat "$RIG_TMP/events.log"
say "turnpikectl mode off (xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode: Off): the same client is accepted"
ctl mode off && echo OK
printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-off\r\nTo: <sip:edge.test>\r\nFrom: <sip:demo@test>;tag=1\r\nCall-ID: demo-off\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$PEER_IP" |
  peer timeout 3 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/server.pem" \
    -key "$pki/server.key" -cert_chain "$pki/inter.pem" -ign_eof -quiet 2>/dev/null | head -1 || true
say "would-fail reporting: who mode On would refuse (xStatus EkuWouldFail), and the what-if before switching"
ctl status EkuWouldFail
ctl audit whatif on || true
ctl mode on && ctl mode
say "turnpikectl: server certificate swap; the SHA-256 a new handshake sees before and after"
seen() {  # the fingerprint of the certificate a new handshake presents
  peer timeout 3 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -subject -fingerprint -sha256 | tr '\n' ' '
  echo
}
ctl cert show server | grep -E "Subject:|SHA256:"
echo "a new handshake sees: $(seen)"
echo "\$ turnpikectl cert swap server san-chain.pem san.key"
ctl cert swap server "$pki/san-chain.pem" "$pki/san.key" | grep -E "Staged|committed|CommitUs" || true
ctl cert show server | grep -E "Subject:|SHA256:"
echo "a new handshake sees: $(seen)"
say "session resumption: a TLS 1.3 ticket from the first connection resumes the second"
for i in 1 2; do
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-r%s\r\nTo: <sip:edge.test>\r\nFrom: <sip:demo@test>;tag=1\r\nCall-ID: demo-r%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$PEER_IP" $i $i |
    peer timeout 3 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
      -key "$pki/client.key" -cert_chain "$pki/inter.pem" -sess_out "$RIG_TMP/sess$i" -ign_eof \
      $([ $i = 2 ] && echo -sess_in "$RIG_TMP/sess1") 2>&1 | grep -E "^(New|Reused),|^SIP/2.0" || true
done
say "egress: plain SIP from the inside to turnpike:5070 -> TLS (client store) -> remote peer requiring clientAuth"
peer timeout 10 python3 tests/integration/sip_peers.py plainclient "$TP_IP" 5070 show | grep -E "^SIP/2.0|X-TLS-Client" || true
echo "remote peer log:"; cat "$RIG_TMP/remote.log"
say "EKU sunset readiness: turnpikectl audit (scenario and fix, certificates and roles, findings worst first)"
ctl audit || true
say "counters via DPDK telemetry: dpdk-telemetry.py -f $TP_PREFIX, command /turnpike/stats"
tp_telemetry /turnpike/stats | python3 -m json.tool
say "per-worker cycle accounting: /turnpike/workers"
tp_telemetry /turnpike/workers | python3 -m json.tool
say "neighbour table: /turnpike/neighbors"
tp_telemetry /turnpike/neighbors | python3 -m json.tool
say "TCP: /turnpike/tcp (non-zero counters)"
tp_telemetry /turnpike/tcp | python3 -c 'import json,sys; d=json.load(sys.stdin)["/turnpike/tcp"]; print(json.dumps({k:v for k,v in d.items() if v}, indent=1))'
say "SIP over TLS: /turnpike/sip"
tp_telemetry /turnpike/sip | python3 -m json.tool
say "egress: /turnpike/egress"
tp_telemetry /turnpike/egress | python3 -m json.tool
say "Prometheus /metrics (docs/metrics.md): TLS handshakes, failures by Detail, certificate expiry"
ip netns exec "$NS_DP" curl -s http://127.0.0.1:9661/metrics |
  grep -E '^turnpike_tls_(handshakes|reused_sessions|failed_handshakes_by_detail)_total|^turnpike_certificate_not_after' || true

if [ -t 0 ]; then
  cat <<TXT

turnpike is running. In another shell, try:
  ip netns exec $NS_PEER ping $TP_IP
  echo /turnpike/drops | dpdk-telemetry.py -f $TP_PREFIX
  ip netns exec $NS_DP curl -s http://127.0.0.1:9661/metrics
  $ctlbin --socket $RIG_TMP/turnpike.sock status SIP
  $ctlbin --socket $RIG_TMP/turnpike.sock cert show --json
  kill -USR1 $TP_PID        # counters to the log: $TP_LOG
Press Enter to stop turnpike and remove the rig.
TXT
  read -r _
fi
say "stopping (SIGTERM): final counters"
tp_stop TERM
tail -4 "$TP_LOG"
say "done: rig removed"
