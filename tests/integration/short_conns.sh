#!/usr/bin/env bash
# Short connections must not lock clients out (issue 15 item 4). With the
# default configuration, 20,000 connections from one address that a TLS
# listener refuses at once (plain SIP, HTTP, noise), then 100 mutual-TLS
# handshakes from another address: every one must succeed. Before, each
# refused connection held a full control block in TIME_WAIT for 60 s, the
# 2 x 4,096 table filled after ~8,000 and new SYNs were dropped.
# usage: short_conns.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID [COUNT]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-174}"
count=${4:-20000}
rig_up
rig_pki_stores "$pki_script"
OTHER_IP="${TP_NET}.3"
ip -n "$NS_PEER" addr add "$OTHER_IP/24" dev "$IF_PEER"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; rig_down' EXIT
# Defaults except what the rig needs (stores, backend, client certificates).
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.client_cert=require --set "events.file=$RIG_TMP/events.log" || exit 1

flood=$(peer timeout 120 python3 "$here/short_conns.py" flood "$TP_IP" 5061 "$count" 90 64)
echo "flood: $flood"
check "$count short refused connections completed, each closed by turnpike" \
  test "$(json_get "$flood" 'int(d["done"] == '"$count"' and d["closed_by_server"] == '"$count"')')" = 1
tcp=$(tp_telemetry /turnpike/tcp)
show() { json_get "$tcp" "d['/turnpike/tcp'].get('$1')"; }
echo "after the flood: connections=$(show connections) time_wait=$(show time_wait) time_wait_entered=$(show time_wait_entered) time_wait_skipped=$(show time_wait_skipped) time_wait_evicted=$(show time_wait_evicted) syn_dropped_no_conn=$(show syn_dropped_no_conn)"
check "no SYN dropped for want of a control block" test "$(show syn_dropped_no_conn)" = 0
check "refused connections left no TIME_WAIT (skipped, counted)" \
  test "$(json_get "$tcp" 'int(d["/turnpike/tcp"]["time_wait_skipped"] >= '"$count"')')" = 1

mtls=$(peer timeout 120 python3 "$here/short_conns.py" mtls "$TP_IP" 5061 "$OTHER_IP" "$pki/ca.pem" \
  "$pki/client-chain.pem" "$pki/client.key" 100)
echo "mtls from $OTHER_IP: $mtls"
check "100 of 100 mTLS handshakes from another address answered 200" \
  test "$(json_get "$mtls" 'd["ok"]')" = 100
tcp=$(tp_telemetry /turnpike/tcp)
echo "after the handshakes: connections=$(show connections) time_wait=$(show time_wait) time_wait_entered=$(show time_wait_entered) time_wait_evicted=$(show time_wait_evicted)"
check "backend legs closed by turnpike wait in compact TIME_WAIT entries" \
  test "$(json_get "$tcp" 'int(d["/turnpike/tcp"]["time_wait_entered"] >= 100)')" = 1
tp_stop TERM
check "clean exit" test $? -eq 0

# The TIME_WAIT table's own bound: a small one evicts its oldest entries
# (counted) and still nobody is refused.
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.client_cert=require --set tcp.max_time_wait=16 || exit 1
mtls=$(peer timeout 120 python3 "$here/short_conns.py" mtls "$TP_IP" 5061 "$OTHER_IP" "$pki/ca.pem" \
  "$pki/client-chain.pem" "$pki/client.key" 100)
echo "mtls with 16 TIME_WAIT entries per worker: $mtls"
tcp=$(tp_telemetry /turnpike/tcp)
echo "time_wait=$(show time_wait) time_wait_entered=$(show time_wait_entered) time_wait_evicted=$(show time_wait_evicted)"
check "100 of 100 answered with a tiny TIME_WAIT table" test "$(json_get "$mtls" 'd["ok"]')" = 100
check "oldest TIME_WAIT entries evicted and counted" \
  test "$(json_get "$tcp" 'int(d["/turnpike/tcp"]["time_wait_evicted"] >= 60)')" = 1
tp_stop TERM
finish
