#!/usr/bin/env bash
# turnpike's active open against a Linux echo server, through the same
# impairment as tcp_echo.sh (loss 2%, delay 5 ms +- 2 ms, reordering 5%,
# duplication 1%): kernel clients connect to turnpike's relay port; for each,
# turnpike opens its own connection to the kernel echo server (local port
# chosen so replies reach the opening worker) and pipes both ways. 200
# connections x 256 KiB, SHA-256 checked end to end; both legs cross the relay.
# usage: tcp_active.sh TURNPIKE_BINARY TP_IMPAIR_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
relay=$2
rig_init "${3:-17}"
rig_up_impaired "$relay" "--loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1 --seed 17" || exit 1
ip netns exec "$NS_PEER" python3 "$here/echo_server.py" "$PEER_IP" 7 300 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "services.relays=[\"8000=$PEER_IP:7\"]" --set tcp.time_wait_ms=1000 || exit 1
sleep 0.3
res=$(peer python3 "$here/tcp_clients.py" "$TP_IP" 8000 --conns 200 --bytes 262144 --timeout 120 --seed 8)
echo "through turnpike's active opens: $res"
check "200 relayed connections echoed byte-exact (ok=$(json_get "$res" 'd["ok"]'))" test "$(json_get "$res" 'd["ok"]')" = 200
check "no corrupted or missing bytes" test "$(json_get "$res" 'd["mismatch"] + d["bad_bytes"]')" = 0
tcp=$(tp_telemetry /turnpike/tcp)
echo "tcp: $tcp"
val() { json_get "$tcp" "d['/turnpike/tcp']['$1']"; }
check "200 active opens completed ($(val connected) of $(val connects))" test "$(val connected)" -ge 200
check "retransmissions on the impaired legs ($(val retransmits))" test "$(val retransmits)" -gt 0
stats=$(impair_stats)
for k in dropped reordered duplicated; do
  n=$(json_get "$stats" "d['left_to_right']['$k'] + d['right_to_left']['$k']")
  check "relay really $k frames ($n)" test "$n" -gt 0
done
sleep 3  # our side of each relayed pair closed first: TIME_WAIT (2MSL = 1 s here)
check "no connection objects left" test "$(json_get "$(tp_telemetry /turnpike/tcp)" "d['/turnpike/tcp']['connections']")" = 0
tp_stop TERM
check "clean exit" test $? -eq 0
finish
