#!/usr/bin/env bash
# Checksum offload path: turnpike on a net_tap port (the tap PMD offers IPv4
# and TCP checksum offload) inside one namespace whose kernel talks to it over
# the tap interface. Turnpike leaves checksums to the port; the kernel checks
# every segment, so a byte-exact echo proves the offload path is right.
# usage: tap_offload.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-18}"
ip netns add "$NS_DP"
ip -n "$NS_DP" link set lo up
tap="tpt${RIG_ID}"
ip netns exec "$NS_DP" "$bin" --device "net_tap0,iface=$tap" --ipv4 "$TP_IP/24" --workers 1 \
  --set "eal.file_prefix=$TP_PREFIX" --set 'services.echo_ports=[7]' >"$TP_LOG" 2>&1 &
TP_PID=$!
for i in $(seq 1 100); do grep -q "ready:" "$TP_LOG" && break; sleep 0.1; done
grep -E "port |ready" "$TP_LOG"
ip netns exec "$NS_DP" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1"
ip -n "$NS_DP" addr add "$PEER_IP/24" dev "$tap"
ip -n "$NS_DP" link set "$tap" up
ip netns exec "$NS_DP" ethtool -K "$tap" tx off tso off gso off gro off >/dev/null 2>&1
check "tap port reports TX checksum offload" grep -q "checksum offload rx .* tx on" "$TP_LOG"
res=$(ip netns exec "$NS_DP" python3 "$here/tcp_clients.py" "$TP_IP" 7 --conns 20 --bytes 1048576 --timeout 60)
echo "$res"
check "20 x 1 MiB echoed byte-exact with checksums filled by the port" test "$(json_get "$res" 'd["ok"]')" = 20
tp_stop TERM
check "clean exit" test $? -eq 0
finish
