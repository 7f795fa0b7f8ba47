#!/usr/bin/env bash
# IPv6 neighbours and addresses where operators look (issue 13 item 4):
# after the kernel pings turnpike over IPv6, the kernel's address and MAC
# are in telemetry /turnpike/neighbors (beside the ARP entries), the port's
# addresses with their DAD state and the ND cache size in /turnpike/ports,
# the same in /metrics (turnpike_port_ipv6_*) and in xStatus Port.
# usage: neighbors6.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
rig_init "${4:-211}"
rig_up
rig_pki_stores "$3"  # the control socket runs with the control plane (stores)
# Documentation prefix (RFC 3849), inside the namespaces only.
NET6="2001:db8:${RIG_ID}"
TP6="$NET6::1"
PEER6="$NET6::2"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.accept_ra=0"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad
sock="$RIG_TMP/ctl.sock"
rig_start_turnpike "$bin" 2 --set "ports.0.ipv6=$TP6/64" --set "ports.0.ipv6_gateway=$NET6::fe" \
  --set "stores.dir=$stores" --set "control.socket=$sock" --set control.readonly_socket=off || exit 1
sleep 1.5  # DAD: one probe, RetransTimer (1 s) later the address is usable
peer_mac=$(peer cat "/sys/class/net/$IF_PEER/address")
out=$(peer ping -6 -c 3 -i 0.1 -W 2 -I "$PEER6" "$TP6")
check "ping -6 answered" grep -q "3 received" <<<"$out"
out=$(peer ping -c 2 -i 0.1 -W 2 "$TP_IP")
check "ping (IPv4) answered" grep -q "2 received" <<<"$out"

nb=$(tp_telemetry "/turnpike/neighbors,demo0")
echo "neighbors: $nb"
check "telemetry /turnpike/neighbors: the IPv6 peer ($PEER6 $peer_mac)" \
  python3 -c "import json,sys; l=json.loads(sys.argv[1])['/turnpike/neighbors']; sys.exit(0 if any(e.startswith(sys.argv[2] + ' ' + sys.argv[3] + ' age_ms=') for e in l) else 1)" \
  "$nb" "$PEER6" "$peer_mac"
check "telemetry /turnpike/neighbors: the IPv4 peer too ($PEER_IP)" \
  python3 -c "import json,sys; l=json.loads(sys.argv[1])['/turnpike/neighbors']; sys.exit(0 if any(e.startswith(sys.argv[2] + ' ') for e in l) else 1)" \
  "$nb" "$PEER_IP"

ports=$(tp_telemetry /turnpike/ports)
pget() { json_get "$ports" "d['/turnpike/ports']['demo0']['$1']"; }
echo "ports ipv6: $(pget ipv6)"
check "telemetry /turnpike/ports: $TP6/64 preferred" grep -q "$TP6/64 preferred" <<<"$(pget ipv6)"
check "telemetry /turnpike/ports: link-local preferred" grep -qE "^fe80::[0-9a-f:]+/64 preferred" <<<"$(pget ipv6)"
check "telemetry /turnpike/ports: ipv6_gateway $NET6::fe" test "$(pget ipv6_gateway)" = "$NET6::fe"
check "telemetry /turnpike/ports: ipv6_neighbors >= 1 ($(pget ipv6_neighbors))" test "$(pget ipv6_neighbors)" -ge 1

page=$(ip netns exec "$NS_DP" curl -s --max-time 5 http://127.0.0.1:9661/metrics)
check "/metrics: turnpike_port_ipv6_info with the address" \
  grep -qF "turnpike_port_ipv6_info{port=\"demo0\",address=\"$TP6/64\"" <<<"$page"
check "/metrics: turnpike_port_ipv6_address_usable 1" \
  grep -qx 'turnpike_port_ipv6_address_usable{port="demo0"} 1' <<<"$page"
promtool=$(command -v promtool || echo "$here/../../.deps/promtool/promtool")
if [ -f "$promtool" ] && [ -x "$promtool" ]; then
  printf '%s\n' "$page" >"$RIG_TMP/page.txt"
  check "promtool accepts the page with the IPv6 families" bash -c "'$promtool' check metrics <'$RIG_TMP/page.txt'"
fi
n6=$(awk '/^turnpike_port_ipv6_neighbors\{port="demo0"\}/ {print $2}' <<<"$page")
check "/metrics: turnpike_port_ipv6_neighbors ${n6:-absent} = telemetry's" test "${n6:-x}" = "$(pget ipv6_neighbors)"
check "/metrics: turnpike_port_ipv6_neighbor_evictions_total" \
  grep -q '^turnpike_port_ipv6_neighbor_evictions_total{port="demo0"} 0$' <<<"$page"

st=$("$ctlbin" --socket "$sock" xStatus Port)
check "xStatus Port demo0 IPv6 Address" grep -qF "*s xStatus Port demo0 IPv6 Address: $TP6/64" <<<"$st"
check "xStatus Port demo0 IPv6 AddressState: preferred" grep -qF "*s xStatus Port demo0 IPv6 AddressState: preferred" <<<"$st"
check "xStatus Port demo0 IPv6 Gateway" grep -qF "*s xStatus Port demo0 IPv6 Gateway: $NET6::fe" <<<"$st"
i=$(grep -F "IPv6 Neighbor " <<<"$st" | grep -F "Address: $PEER6" | grep -oE 'Neighbor [0-9]+' | head -1)
check "xStatus lists the IPv6 neighbour ${i:-(absent)} $PEER6" test -n "$i"
check "xStatus: its MAC $peer_mac" grep -qF "*s xStatus Port demo0 IPv6 $i Mac: $peer_mac" <<<"$st"
check "xStatus Port demo0 Neighbors (ARP) >= 1" grep -qE '^\*s xStatus Port demo0 Neighbors: [1-9]' <<<"$st"
tp_stop
finish
