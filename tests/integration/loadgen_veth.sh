#!/usr/bin/env bash
# turnpike-loadgen against a kernel TLS server (Python ssl: OpenSSL) over a
# veth: the loadgen on net_af_packet in one namespace, the server in the
# other. OpenSSL's client-certificate checks are the table of EKU mode On
# (serverAuth-only refused for purpose, no EKU accepted, expired and
# untrusted refused). Checks: every request accounted for and every answer
# matched, the server's answer count equal to the loadgen's, each profile
# accepted or refused as expected, TLS 1.2 and 1.3 tickets resumed,
# progress line and JSON; the same on net_af_xdp (skipped, visibly, without
# AF_XDP); and a server with wrong answers makes the run fail. Asserts
# behaviour, not speed.
# usage: loadgen_veth.sh LOADGEN_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
lg=$1
pki_script=$2
rig_init "${3:-196}"
rig_up
lgpki="$RIG_TMP/lgpki"
SRV_PID=""
LG_PID=""
cleanup() {
  [ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
  rig_down
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM HUP

rig_pki_stores "$pki_script"
"$lg" --pki-only --pki-dir "$lgpki" --phones 1 >/dev/null 2>&1 || { echo "loadgen PKI failed"; exit 1; }

ip netns exec "$NS_PEER" python3 "$here/loadgen_tls_server.py" "$PEER_IP" 5061 "$pki/both-chain.pem" "$pki/both.key" \
  "$lgpki/ca.pem" "$RIG_TMP/server.json" >"$RIG_TMP/server.log" 2>&1 &
SRV_PID=$!
for i in $(seq 1 50); do grep -qs ready "$RIG_TMP/server.log" && break; sleep 0.1; done
check "kernel TLS server started" grep -qs ready "$RIG_TMP/server.log"

cpus=$(nproc)
timeout 60 ip netns exec "$NS_DP" "$lg" --device "net_af_packet0,iface=$IF_DP" --ipv4 "$TP_IP/24" \
  --target "$PEER_IP:5061" --cpu $((cpus - 1)) --file-prefix "$TP_PREFIX" --server-ca "$pki/ca.pem" \
  --server-name both.test --pki-dir "$lgpki" --eku-mode on \
  --phones 12 --mix clientauth=4,serverauth=2,noeku=2,expired=1,untrusted=1,nocert=2 --tls mix --method mix \
  --duration 4 --ramp-s 0.5 --think-ms 5 --per-conn 5 --resume 60 --keepalive-s 0.002 \
  --json "$RIG_TMP/lg.json" >"$RIG_TMP/lg.out" 2>&1 &
LG_PID=$!
wait "$LG_PID"
rc=$?
LG_PID=""
tail -24 "$RIG_TMP/lg.out"
kill -TERM "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
SRV_PID=""
echo "server: $(cat "$RIG_TMP/server.json" 2>/dev/null)"
j() { json_get "$(cat "$RIG_TMP/lg.json")" "$1"; }
s() { json_get "$(cat "$RIG_TMP/server.json")" "$1"; }

check "loadgen exits 0 (no errors, counts add up, profiles as expected)" test $rc -eq 0
check "JSON summary ok" test "$(j 'd["ok"]')" = True
check "progress line every second" test "$(grep -c '^\[ *[0-9.]*s\] phones' "$RIG_TMP/lg.out")" -ge 3
check "transactions answered and matched" test "$(j 'int(d["answers_ok"] > 50)')" = 1
check "every request accounted for" test "$(j 'd["requests_sent"] - d["answers_ok"] - d["requests_failed"] - d["requests_refused_in_flight"]')" = 0
check "no failed request, no error" test "$(j 'd["requests_failed"] + d["errors"]')" = 0
check "the server answered exactly what the loadgen matched" test "$(s 'd["answered"]')" = "$(j 'd["answers_ok"]')"
check "tickets resumed (TLS 1.2 and 1.3 phones)" test "$(j 'int(d["handshakes_resumed"] > 0)')" = 1
check "keep-alive pongs" test "$(j 'int(d["keepalive_pongs"] > 0 and d["keepalive_pings"] == d["keepalive_pongs"] + d["keepalive_pings_abandoned"])')" = 1
for p in clientauth noeku nocert; do
  check "$p accepted, never refused" test "$(j "int(d['profiles']['$p']['accepted'] > 0 and d['profiles']['$p']['refused'] == 0)")" = 1
done
for p in serverauth expired untrusted; do
  check "$p refused, never accepted" test "$(j "int(d['profiles']['$p']['refused'] > 0 and d['profiles']['$p']['accepted'] == 0)")" = 1
done
check "the server saw the refusals as failed handshakes" test "$(s 'int(d["handshake_failed"] > 0)')" = 1

# The same stack on net_af_xdp (one queue): 200 requests exactly, all
# answered. Skipped, visibly, where the kernel offers no AF_XDP socket.
ip netns exec "$NS_PEER" python3 "$here/loadgen_tls_server.py" "$PEER_IP" 5061 "$pki/both-chain.pem" "$pki/both.key" \
  "$lgpki/ca.pem" "$RIG_TMP/xdp-server.json" >"$RIG_TMP/xdp-server.log" 2>&1 &
SRV_PID=$!
for i in $(seq 1 50); do grep -qs ready "$RIG_TMP/xdp-server.log" && break; sleep 0.1; done
timeout 60 ip netns exec "$NS_DP" "$lg" --device "net_af_xdp0,iface=$IF_DP" --ipv4 "$TP_IP/24" \
  --target "$PEER_IP:5061" --cpu $((cpus - 1)) --file-prefix "$TP_PREFIX" --server-ca "$pki/ca.pem" \
  --pki-dir "$lgpki" --phones 4 --count 200 --duration 20 --json "$RIG_TMP/xdp.json" >"$RIG_TMP/xdp.out" 2>&1
rc=$?
kill -TERM "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
SRV_PID=""
if [ $rc -ne 0 ] && ! grep -q "^ready:" "$RIG_TMP/xdp.out"; then
  echo "SKIP - net_af_xdp port did not start here:"
  tail -5 "$RIG_TMP/xdp.out"
else
  check "net_af_xdp: loadgen exits 0" test $rc -eq 0
  check "net_af_xdp: 200 requests, all answered and matched" test "$(json_get "$(cat "$RIG_TMP/xdp.json")" 'd["requests_sent"] == d["answers_ok"] == 200')" = True
fi

# A server whose every 5th answer has a wrong CSeq: each one is caught (and
# its transaction then times out), and the run fails.
ip netns exec "$NS_PEER" python3 "$here/loadgen_tls_server.py" "$PEER_IP" 5062 "$pki/both-chain.pem" "$pki/both.key" \
  "$lgpki/ca.pem" "$RIG_TMP/bad.json" 5 >"$RIG_TMP/bad.log" 2>&1 &
SRV_PID=$!
for i in $(seq 1 50); do grep -qs ready "$RIG_TMP/bad.log" && break; sleep 0.1; done
timeout 60 ip netns exec "$NS_DP" "$lg" --device "net_af_packet0,iface=$IF_DP" --ipv4 "$TP_IP/24" \
  --target "$PEER_IP:5062" --cpu $((cpus - 1)) --file-prefix "$TP_PREFIX" --server-ca "$pki/ca.pem" \
  --pki-dir "$lgpki" --phones 4 --count 200 --duration 20 --timeout-ms 300 \
  --json "$RIG_TMP/lgbad.json" >"$RIG_TMP/lgbad.out" 2>&1
rc=$?
kill -TERM "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
SRV_PID=""
tail -8 "$RIG_TMP/lgbad.out"
echo "server: $(cat "$RIG_TMP/bad.json" 2>/dev/null)"
b() { json_get "$(cat "$RIG_TMP/lgbad.json")" "$1"; }
check "wrong CSeq answers: the loadgen exits non-zero" test $rc -ne 0
check "every corrupted answer counted as a CSeq mismatch" test "$(b 'd["errors_by_kind"].get("cseq_mismatch", 0)')" = "$(json_get "$(cat "$RIG_TMP/bad.json")" 'd["corrupted"]')"
check "... and never as a matched answer" test "$(b 'd["answers_ok"] + d["errors_by_kind"].get("cseq_mismatch", 0)')" = "$(json_get "$(cat "$RIG_TMP/bad.json")" 'd["answered"]')"
check "their transactions failed (timed out), still accounted for" test "$(b 'int(d["requests_failed"] > 0 and d["requests_sent"] == d["answers_ok"] + d["requests_failed"] + d["requests_refused_in_flight"])')" = 1
finish
