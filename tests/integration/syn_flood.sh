#!/usr/bin/env bash
# SYN flood at turnpike's listener (hping3 from the peer namespace, bounded
# in count, from an unused address of the rig's subnet so no handshake ever
# completes) while 50 legitimate Linux clients transfer data: they complete,
# and the half-open table overflowing into SYN cookies is counted.
# usage: syn_flood.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-16}"
rig_up
rig_start_turnpike "$bin" 2 --set 'services.echo_ports=[7]' || exit 1
spoof="${TP_NET}.50"  # inside our namespace subnet, owned by nobody: SYN-ACKs go unanswered
peer timeout 60 hping3 -q -S -p 7 -a "$spoof" -i u40 -c 40000 "$TP_IP" >"$RIG_TMP/hping.log" 2>&1 &
flood=$!
sleep 0.5
res=$(peer python3 "$here/tcp_clients.py" "$TP_IP" 7 --conns 50 --bytes 1048576 --timeout 60 --seed 3)
echo "clients during the flood: $res"
wait $flood
tcp=$(tp_telemetry /turnpike/tcp)
echo "tcp: $tcp"
val() { json_get "$tcp" "d['/turnpike/tcp']['$1']"; }
check "50 legitimate connections echoed byte-exact during the flood" test "$(json_get "$res" 'd["ok"]')" = 50
syns=$(( $(val syn_received) + $(val syn_cookies_sent) ))
check "SYNs answered ($syns: half-open + cookies) far exceed the legitimate 50" test "$syns" -gt 5000
check "half-open table filled to its bound ($(val syn_received) = 2 workers x 1024)" test "$(val syn_received)" -ge 2048
check "half-open table overflowed into SYN cookies ($(val syn_cookies_sent))" test "$(val syn_cookies_sent)" -gt 0
check "no SYN dropped for lack of connection objects ($(val syn_dropped_no_conn))" test "$(val syn_dropped_no_conn)" = 0
check "turnpike still answers ping" peer ping -c 3 -i 0.1 -W 2 -q "$TP_IP"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
