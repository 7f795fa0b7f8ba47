#!/usr/bin/env bash
# 1,000 concurrent mutual-TLS SIP connections through turnpike across the
# rig's impairment relay (1% loss, 5% reordering, both directions, both legs:
# client<->turnpike and turnpike<->backend share the link). Every answer is
# checked against its request (Call-ID, CSeq, Via branch, echoed body, the
# PROXY v2 source the backend saw); afterwards turnpike must hold no
# connection: SIP pairs 0, TCP connections 0 once TIME_WAIT (tcp.time_wait_ms
# = 1000 here) has run out.
# usage: sip_integrity.sh TURNPIKE_BINARY TP_IMPAIR PKI_SCRIPT RIG_ID [CONNS MSGS]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
impair=$2
pki_script=$3
conns=${5:-1000}
msgs=${6:-10}
ulimit -n 8192
rig_init "${4:-52}"
rig_up_impaired "$impair" "--loss 1 --reorder 5" || exit 1
rig_pki_stores "$pki_script"
bstats="$RIG_TMP/backend.json"
ip netns exec "$NS_PEER" python3 "$here/sip_load.py" backend "$PEER_IP" 5060 "$bstats" 2>"$RIG_TMP/backend.err" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; wait $BACKEND_PID 2>/dev/null; rig_down' EXIT
# Mutual TLS (client certificates required, clientAuth leaf): the full
# handshake the edge runs in production. Health checks off: every SYN on the
# backend leg belongs to a client.
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.proxy_v2=true --set sip.client_cert=require --set sip.health_check_interval_ms=0 \
  --set sip.handshake_timeout_ms=30000 --set tcp.time_wait_ms=1000 --set "events.file=$RIG_TMP/events.log" || exit 1
peer_retrans() { peer awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RetransSegs"] }' /proc/net/snmp; }
r0=$(peer_retrans)
before=$(impair_stats)
t0=$(date +%s.%N)
# The client gets core 0 of the two; turnpike's workers poll adaptively.
out=$(peer timeout 240 taskset -c 0 python3 "$here/sip_load.py" client "$TP_IP" 5061 "$pki/ca.pem" \
  "$pki/client-chain.pem" "$pki/client.key" "$conns" "$msgs" --handshakes 64 --timeout 200)
rc=$?
t1=$(date +%s.%N)
echo "client: $out"
after=$(impair_stats)
echo "impairment: $after"
check "client finished in time (exit $rc)" test $rc -le 1
check "all $conns connections completed the mutual-TLS handshake" test "$(json_get "$out" 'd["connected"]')" = "$conns"
check "all $conns were open at the same time" test "$(json_get "$out" 'd["max_open"]')" = "$conns"
check "every one of $((conns * msgs)) requests answered, each answer matching its request" \
  test "$(json_get "$out" '(d["answers_ok"], d["answers_bad"], d["missing"])')" = "($((conns * msgs)), 0, 0)"
# Impairment really happened, in both directions.
json_imp() {  # json_imp KEY DIRECTION: after minus before
  python3 -c '
import json, sys
a, b, k, d = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
print(a[d][k] - b[d][k])' "$after" "$before" "$1" "$2"
}
sleep 1
bs=$(cat "$bstats")
echo "backend: $bs"
check "backend got every request, each connection with a PROXY v2 header" \
  test "$(json_get "$bs" 'd["requests"] == '$((conns * msgs))' and d["proxy_v2"] == d["connections"] == '$conns' and d["bad"] == 0')" = True
# Drain: clients closed; FIN handshakes may need retransmissions under loss,
# then 1 s of TIME_WAIT. Bounded wait.
for i in $(seq 1 60); do
  tcp=$(tp_telemetry /turnpike/tcp)
  sip=$(tp_telemetry /turnpike/sip)
  [ "$(json_get "$tcp" 'd["/turnpike/tcp"]["connections"]')" = 0 ] && \
    [ "$(json_get "$sip" 'd["/turnpike/sip"]["connections"]')" = 0 ] && break
  sleep 0.5
done
echo "drained after ~$((i / 2)) s"
echo "tcp: $tcp"
echo "sip: $sip"
T=$(json_get "$tcp" 'json.dumps(d["/turnpike/tcp"])')
S=$(json_get "$sip" 'json.dumps(d["/turnpike/sip"])')
check "no SIP connection pair left" test "$(json_get "$sip" 'd["/turnpike/sip"]["connections"]')" = 0
check "no TCP connection left (TIME_WAIT expired), no half-open, no buffer held" \
  test "$(json_get "$tcp" '(d["/turnpike/tcp"]["connections"], d["/turnpike/tcp"]["half_open"], d["/turnpike/tcp"]["buffer_chunks_in_use"])')" = "(0, 0, 0)"
check "turnpike counted $conns accepted, $conns handshakes, $conns pairs closed, $((conns * msgs)) requests" \
  test "$(json_get "$S" '(d["accepted"], d["handshakes_ok"], d["closed"], d["requests_in"], d["handshakes_failed"], d["sip_errors"], d["backend_failures"])')" = "($conns, $conns, $conns, $((conns * msgs)), 0, 0, 0)"
check "TCP: $conns passive + $conns active opens, all released" \
  test "$(json_get "$T" '(d["accepted"] >= '$conns', d["connected"], d["closed"] == d["accepted"] + d["connected"])')" = "(True, $conns, True)"
for k in forwarded dropped reordered; do
  for dir in left_to_right right_to_left; do eval "${k}_$dir=\$(json_imp $k $dir)"; done
done
check "the relay dropped frames both ways (1% loss): $dropped_left_to_right + $dropped_right_to_left" \
  test "$dropped_left_to_right" -gt 0 -a "$dropped_right_to_left" -gt 0
check "the relay reordered frames both ways (5%): $reordered_left_to_right + $reordered_right_to_left" \
  test "$reordered_left_to_right" -gt 0 -a "$reordered_right_to_left" -gt 0
r1=$(peer_retrans)
retr=$(json_get "$T" '"retransmits=%d rto_timeouts=%d fast_retransmits=%d sack_recoveries=%d synack_retransmits=%d rx_ooo_segments=%d" % (d["retransmits"], d["rto_timeouts"], d["fast_retransmits"], d["sack_recoveries"], d["synack_retransmits"], d["rx_ooo_segments"])')
check "turnpike's TCP retransmitted (losses were repaired, not absent)" test "$(json_get "$tcp" 'd["/turnpike/tcp"]["retransmits"] > 0')" = True
echo "--- figures ---"
echo "connections=$conns messages=$((conns * msgs)) body_bytes=$(json_get "$out" 'd["body_bytes"]') connect_s=$(json_get "$out" 'd.get("connect_s")') duration_s=$(python3 -c "print(round($t1 - $t0, 1))")"
echo "relay (turnpike->peer / peer->turnpike): forwarded=$forwarded_left_to_right/$forwarded_right_to_left dropped=$dropped_left_to_right/$dropped_right_to_left reordered=$reordered_left_to_right/$reordered_right_to_left"
echo "turnpike tcp: $retr"
echo "peer kernel TCP RetransSegs=$((r1 - r0))"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
