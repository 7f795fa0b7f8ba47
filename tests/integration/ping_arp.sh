#!/usr/bin/env bash
# Kernel peer in a namespace resolves turnpike with ARP and pings it; counters
# are visible through dpdk-telemetry.py and SIGUSR1; SIGTERM stops cleanly.
# usage: ping_arp.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-11}"
rig_up
rig_start_turnpike "$bin" 2 || exit 1

check "arping resolves turnpike's address" peer arping -c 3 -w 5 -I "$IF_PEER" "$TP_IP"
out=$(peer ping -c 100 -i 0.01 -W 2 "$TP_IP")
echo "$out" | tail -2
check "ping -c 100 -i 0.01: 100 replies" grep -q "100 packets transmitted, 100 received" <<<"$out"
big=$(peer ping -c 5 -i 0.05 -s 1400 -W 2 "$TP_IP")
resolved=$(peer ip neigh show "$TP_IP" | awk '{print $5}')
check "kernel neighbour entry holds turnpike's MAC ($TP_MAC, got $resolved)" test "$resolved" = "$TP_MAC"
check "1400-byte pings answered" grep -q "5 received" <<<"$big"

stats=$(tp_telemetry /turnpike/stats)
echo "telemetry: $stats"
replies=$(json_get "$stats" 'd["/turnpike/stats"]["demo0"]["icmp_echo_replies"]')
check "telemetry counts >= 105 echo replies (got $replies)" test "$replies" -ge 105
answered=$(json_get "$stats" 'd["/turnpike/stats"]["demo0"]["arp_requests_answered"]')
check "telemetry counts answered ARP requests (got $answered)" test "$answered" -ge 1
# RFC 5227 §2.3: two announcements 2 s apart once the link is up.
for i in $(seq 1 30); do
  stats=$(tp_telemetry /turnpike/stats)
  gratuitous=$(json_get "$stats" 'd["/turnpike/stats"]["demo0"]["arp_gratuitous_sent"]')
  [ "$gratuitous" -ge 2 ] && break
  sleep 0.2
done
check "gratuitous ARP sent at start: two announcements, one link-up ($gratuitous)" \
  test "$gratuitous/$(json_get "$stats" 'd["/turnpike/stats"]["demo0"]["link_ups"]')" = 2/1
workers=$(tp_telemetry /turnpike/workers)
busy=$(json_get "$workers" 'd["/turnpike/workers"]["worker0"]["busy_cycles"] + d["/turnpike/workers"]["worker1"]["busy_cycles"]')
check "cycle accounting reports busy cycles" test "$busy" -gt 0
rxw=$(json_get "$workers" 'sum(1 for k,v in d["/turnpike/workers"].items() if k.startswith("worker"))')
check "two workers reported" test "$rxw" -eq 2
neigh=$(tp_telemetry /turnpike/neighbors)
check "neighbour table lists the peer" grep -q "$PEER_IP" <<<"$neigh"
ports=$(tp_telemetry /turnpike/ports)
check "ports report driver and queues" grep -q '"queues": 2' <<<"$ports"

kill -USR1 "$TP_PID"
sleep 0.5
check "SIGUSR1 logs counters" grep -q "counters (SIGUSR1)" "$TP_LOG"
tp_stop TERM
rc=$?
check "SIGTERM: clean exit (status $rc)" test "$rc" -eq 0
check "final counters logged" grep -q "final counters" "$TP_LOG"
finish
