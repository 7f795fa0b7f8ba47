#!/usr/bin/env bash
# turnpike demo: installs dependencies, builds, and runs the data plane on a
# namespace rig (no NIC, no hugepages): a veth pair, turnpike on one end via
# DPDK net_af_packet with 2 workers, the Linux kernel on the other. Shows ARP
# resolution, ping, the counters in DPDK telemetry and a clean shutdown.
# Run as root. With a terminal, it waits for Enter before tearing down so you
# can try commands yourself; everything it creates is removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing dependencies (first run: a few minutes; later: seconds)"
bash deploy/setup-deps.sh
say "building (release)"
cmake --preset release >/dev/null
cmake --build --preset release --target turnpike -j "$(nproc)"
bin="$here/build/release/dataplane/app/turnpike"

source tests/rig/rig.sh
rig_init 1
say "creating the rig: namespaces $NS_DP (turnpike) and $NS_PEER (kernel), veth $IF_DP <-> $IF_PEER"
rig_up
say "starting turnpike: 2 workers on net_af_packet0,iface=$IF_DP, address $TP_IP/24"
rig_start_turnpike "$bin" 2
grep -E "port |ready" "$TP_LOG"

say "kernel side ($PEER_IP) resolves turnpike with ARP"
peer arping -c 2 -w 3 -I "$IF_PEER" "$TP_IP"
say "kernel side pings turnpike (answered by the DPDK data plane, not a kernel)"
peer ping -c 5 -i 0.2 "$TP_IP"
say "counters via DPDK telemetry: dpdk-telemetry.py -f $TP_PREFIX, command /turnpike/stats"
tp_telemetry /turnpike/stats | python3 -m json.tool
say "per-worker cycle accounting: /turnpike/workers"
tp_telemetry /turnpike/workers | python3 -m json.tool
say "neighbour table: /turnpike/neighbors"
tp_telemetry /turnpike/neighbors | python3 -m json.tool

if [ -t 0 ]; then
  cat <<TXT

turnpike is running. In another shell, try:
  ip netns exec $NS_PEER ping $TP_IP
  echo /turnpike/drops | dpdk-telemetry.py -f $TP_PREFIX
  kill -USR1 $TP_PID        # counters to the log: $TP_LOG
Press Enter to stop turnpike and remove the rig.
TXT
  read -r _
fi
say "stopping (SIGTERM): final counters"
tp_stop TERM
tail -4 "$TP_LOG"
say "done: rig removed"
