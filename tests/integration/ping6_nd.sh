#!/usr/bin/env bash
# IPv6 on the data plane (issue 13 item 4, first layer): turnpike's DAD at
# start, the kernel resolves turnpike with Neighbor Discovery and pings its
# global and link-local addresses, turnpike resolves the kernel (a source it
# has not heard an NS from), malformed IPv6/ICMPv6/ND frames are counted and
# dropped, and a second start on the kernel's own address finds it duplicate.
# usage: ping6_nd.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-190}"
rig_up
# Documentation prefix (RFC 3849), inside the namespaces only.
NET6="2001:db8:${RIG_ID}"
TP6="$NET6::1"
PEER6="$NET6::2"
PEER6B="$NET6::3"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.accept_ra=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad
peer ip -6 addr add "$PEER6B/64" dev "$IF_PEER" nodad
rig_start_turnpike "$bin" 2 --set "ports.0.ipv6=$TP6/64" || exit 1
check "IPv6 addresses logged" grep -q "IPv6 $TP6/64" "$TP_LOG"
# RFC 4862: one probe per address, RetransTimer (neighbor.arp_retry_ms, 1 s) later usable.
sleep 1.5
# The kernel's own link-local address passes its DAD meanwhile (1 s).
for i in $(seq 1 30); do
  peer ip -6 addr show dev "$IF_PEER" | grep -q tentative || break
  sleep 0.1
done

out=$(peer ping -6 -c 20 -i 0.05 -W 2 -I "$PEER6" "$TP6")
echo "$out" | tail -2
check "ping -6 global: 20 replies" grep -q "20 packets transmitted, 20 received" <<<"$out"
resolved=$(peer ip -6 neigh show "$TP6" dev "$IF_PEER" | awk '{print $3}')
check "kernel resolved turnpike by ND ($TP_MAC, got $resolved)" test "$resolved" = "$TP_MAC"
# Modified EUI-64 link-local address from the MAC (RFC 4291 Appendix A).
tp_ll=$(python3 -c '
import sys, ipaddress
m = [int(x, 16) for x in sys.argv[1].split(":")]
iid = bytes([m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
print(ipaddress.IPv6Address(bytes([0xfe, 0x80] + [0] * 6) + iid))' "$TP_MAC")
check "link-local address logged ($tp_ll)" grep -q "and $tp_ll " "$TP_LOG"
out=$(peer ping -6 -c 5 -i 0.05 -W 2 "$tp_ll%$IF_PEER")
check "ping -6 link-local: 5 replies" grep -q "5 packets transmitted, 5 received" <<<"$out"
# From a second address (the kernel's NS came from the first, -I): the
# kernel knows turnpike already and sends no NS, so turnpike must resolve
# this source itself before it can reply.
out=$(peer ping -6 -c 5 -i 0.05 -W 2 -I "$PEER6B" "$TP6")
check "ping -6 from a new source: 5 replies (turnpike resolved it)" grep -q "5 packets transmitted, 5 received" <<<"$out"
out=$(peer ping -6 -c 3 -i 0.05 -s 1400 -W 2 -I "$PEER6" "$TP6")
check "1400-byte ping -6 answered" grep -q "3 received" <<<"$out"

peer python3 "$here/frames6.py" "$IF_PEER" "$TP_MAC" "$TP6" "$PEER6" 5 >"$RIG_TMP/sent6.txt"
sleep 0.3
stats=$(tp_telemetry /turnpike/stats)
get() { json_get "$stats" "d['/turnpike/stats']['demo0']['$1']"; }
check "telemetry: >= 33 ICMPv6 echo replies ($(get icmp6_echo_replies))" test "$(get icmp6_echo_replies)" -ge 33
check "telemetry: NS answered ($(get nd_advertisements_sent))" test "$(get nd_advertisements_sent)" -ge 1
# Two DAD probes and at least one resolution.
check "telemetry: NS sent >= 3 ($(get nd_solicitations_sent))" test "$(get nd_solicitations_sent)" -ge 3
check "telemetry: neighbours learned ($(get nd_learned))" test "$(get nd_learned)" -ge 2
check "telemetry: no duplicate address" test "$(get nd_duplicates)" -eq 0
drops=$(tp_telemetry /turnpike/drops)
while read -r reason n; do
  got=$(json_get "$drops" "d['/turnpike/drops']['$reason']")
  check "malformed frames counted under $reason ($got of $n)" test "$got" -ge "$n"
done <"$RIG_TMP/sent6.txt"
out=$(peer ping -6 -c 5 -i 0.05 -W 2 "$TP6")
check "ping -6 after the malformed frames: 5 replies" grep -q "5 received" <<<"$out"
tp_stop TERM
check "clean exit" test $? -eq 0

# DAD finds a duplicate: turnpike configured with the kernel's address. The
# kernel defends it (NA to all-nodes); turnpike must not use it.
rig_start_turnpike "$bin" 1 --set "ports.0.ipv6=$PEER6/64" || exit 1
sleep 1.5
stats=$(tp_telemetry /turnpike/stats)
dups=$(json_get "$stats" "d['/turnpike/stats']['demo0']['nd_duplicates']")
check "DAD: duplicate of the kernel's address found ($dups)" test "$dups" -eq 1
peer ip -6 neigh flush dev "$IF_PEER"
# Turnpike's link-local address passed; pinging it works, the duplicate is not answered.
out=$(peer ping -6 -c 3 -i 0.05 -W 2 "$tp_ll%$IF_PEER")
check "link-local still answers" grep -q "3 received" <<<"$out"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
