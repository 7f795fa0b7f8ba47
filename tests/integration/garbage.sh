#!/usr/bin/env bash
# 10,000 malformed, truncated and unwanted frames at turnpike: every one is
# dropped and counted by reason, nothing crashes, pings still work afterwards.
# usage: garbage.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-12}"
rig_up
rig_start_turnpike "$bin" 2 || exit 1

check "ping before" peer ping -c 3 -i 0.05 -W 2 -q "$TP_IP"
before=$(tp_telemetry /turnpike/stats)
rx0=$(json_get "$before" 'd["/turnpike/stats"]["demo0"]["rx_packets"]')
dr0=$(json_get "$before" 'd["/turnpike/stats"]["demo0"]["drops_total"]')
tx0=$(json_get "$before" 'd["/turnpike/stats"]["demo0"]["tx_packets"]')
peer python3 "$here/frames.py" "$IF_PEER" "$TP_MAC" "$TP_IP" "$PEER_IP" 10000 7 | tee "$RIG_TMP/sent.txt" | head -20
sleep 1
check "turnpike still running" kill -0 "$TP_PID"
after=$(tp_telemetry /turnpike/stats)
rx1=$(json_get "$after" 'd["/turnpike/stats"]["demo0"]["rx_packets"]')
dr1=$(json_get "$after" 'd["/turnpike/stats"]["demo0"]["drops_total"]')
tx1=$(json_get "$after" 'd["/turnpike/stats"]["demo0"]["tx_packets"]')
# net_af_packet's fanout socket asks the kernel to defragment
# (PACKET_FANOUT_FLAG_DEFRAG): lone fragments never reach the PMD, so they are
# not expected here (fragment drops are covered by the unit tests).
frags=$(awk '$1 == "ipv4_fragment" {print $2}' "$RIG_TMP/sent.txt")
expect=$((10000 - frags))
echo "received $((rx1 - rx0)), dropped $((dr1 - dr0)), sent $((tx1 - tx0)); expected $expect"
check "all $expect deliverable frames received" test $((rx1 - rx0)) -ge "$expect"
# Everything the script sent must be dropped; the kernel may add a few
# frames of its own (ARP refresh) which turnpike answers.
check "every garbage frame dropped and counted" test $((dr1 - dr0)) -ge "$expect"
check "nothing answered but the kernel's own ARP" test $((tx1 - tx0)) -le 5
drops=$(tp_telemetry /turnpike/drops)
echo "drops: $drops"
for reason in ipv4_checksum ipv4_total_len ipv4_version ipv4_ihl ipv4_short ipv4_not_for_us icmp_checksum \
              icmp_type ipv4_proto arp_short arp_format arp_op not_for_us multicast ethertype; do
  n=$(json_get "$drops" "d['/turnpike/drops']['$reason']")
  check "drop reason $reason counted ($n)" test "$n" -gt 0
done
out=$(peer ping -c 20 -i 0.01 -W 2 "$TP_IP")
check "ping after: 20/20" grep -q "20 received" <<<"$out"
tp_stop TERM
check "clean exit after the flood" test $? -eq 0
finish
