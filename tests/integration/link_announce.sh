#!/usr/bin/env bash
# Gratuitous ARP follows the link (RFC 5227 §2.3). turnpike serves a
# net_memif socket whose link stays down until a peer connects; its one
# announcement at start used to go into the down link and be lost. Now
# nothing is sent while the link is down, and each time it comes up the peer
# (dpdk-testpmd, rxonly, printing every frame) receives exactly
# ANNOUNCE_NUM (2) announcements, ANNOUNCE_INTERVAL (2 s) apart.
# usage: link_announce.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-221}"
command -v dpdk-testpmd >/dev/null || { echo "SKIP: dpdk-testpmd not installed (package dpdk)"; exit 77; }
sock="$RIG_TMP/memif.sock"
tp_ip="198.18.${RIG_ID}.1"
pmd_prefix="tprig${RIG_ID}pmd"
trap 'rm -rf "/var/run/dpdk/$pmd_prefix" 2>/dev/null; rig_down' EXIT

cpus=$(nproc)
tp_cpu=0
pmd_cpu=$((cpus > 1 ? cpus - 1 : 0))
"$bin" --device "net_memif0,role=server,socket=$sock,socket-abstract=no" --ipv4 "$tp_ip/24" --workers 1 \
  --set "eal.file_prefix=$TP_PREFIX" --set "workers.cpus=[$tp_cpu]" --set idle.policy=adaptive \
  --set metrics.listen=off >"$TP_LOG" 2>&1 &
TP_PID=$!
for i in $(seq 1 100); do
  grep -q "ready:" "$TP_LOG" && break
  kill -0 "$TP_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "ready:" "$TP_LOG" || { echo "turnpike did not start:"; cat "$TP_LOG"; exit 1; }
TP_MAC=$(grep -o 'mac [0-9a-f:]*' "$TP_LOG" | head -1 | cut -d' ' -f2)

port_name=$(json_get "$(tp_telemetry /turnpike/stats)" 'next(iter(d["/turnpike/stats"]))')
stat() { json_get "$(tp_telemetry /turnpike/stats)" "d['/turnpike/stats']['$port_name']['$1']"; }
sleep 1
check "no peer, link down: no announcement sent into it ($(stat arp_gratuitous_sent))" \
  test "$(stat arp_gratuitous_sent)$(stat link_ups)" = 00

# peer_run SECONDS NAME: dpdk-testpmd as the memif client for SECONDS (it
# runs until its standard input ends), printing every frame it receives
# into $RIG_TMP/NAME.out.
peer_run() {
  printf 'set verbose 1\n' >"$RIG_TMP/pmd.cmds"
  sleep "$1" | timeout 30 dpdk-testpmd --lcores "0@$pmd_cpu,1@$pmd_cpu" --no-huge -m 256 --no-pci \
    --file-prefix "$pmd_prefix" --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" -- \
    --forward-mode=rxonly --nb-cores=1 --total-num-mbufs=2048 --cmdline-file="$RIG_TMP/pmd.cmds" \
    >"$RIG_TMP/$2.out" 2>&1
}
announcements() {  # broadcast ARP frames from turnpike's MAC that the peer received
  grep -i "src=$TP_MAC - dst=FF:FF:FF:FF:FF:FF" "$RIG_TMP/$1.out" | grep -c "type=0x0806"
}

peer_run 5 first
echo "peer saw: $(grep -c 'src=' "$RIG_TMP/first.out") frames"
grep -i "type=0x0806" "$RIG_TMP/first.out" | head -4
check "link up: the peer received both announcements ($(announcements first))" test "$(announcements first)" = 2
check "turnpike counted 2 announcements and 1 link-up" \
  test "$(stat arp_gratuitous_sent)/$(stat link_ups)" = 2/1

# The peer goes away and comes back: the link comes up again, announced again.
sleep 1
peer_run 5 second
check "link up again: 2 more announcements received ($(announcements second))" test "$(announcements second)" = 2
check "turnpike counted 4 announcements and 2 link-ups" \
  test "$(stat arp_gratuitous_sent)/$(stat link_ups)" = 4/2
tp_stop TERM
check "clean exit" test $? -eq 0
finish
