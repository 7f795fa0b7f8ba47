#!/usr/bin/env bash
# Namespace rig: turnpike on one end of a veth pair (DPDK net_af_packet), the
# Linux kernel on the other. Source it, then:
#   rig_init ID          names/addresses for rig ID (0..199); traps cleanup
#   rig_up               create namespaces + veth, address the kernel side
#   rig_start_turnpike [args...]   start the daemon in the dp namespace, wait for "ready"
#   peer CMD...          run CMD in the kernel-side namespace
#   tp_telemetry CMD     query DPDK telemetry (/turnpike/...) as JSON
#   rig_down             stop turnpike (by PID), delete namespaces (idempotent)
# Addresses come from 198.18.0.0/15 and exist only inside these namespaces.
# Everything is removed on exit, error, INT/TERM/HUP; a rig left behind by a
# SIGKILLed run is removed by the next rig_up of the same ID or by
# `rig.sh cleanup-all`.

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rig_init() {
  RIG_ID=$1
  [[ $RIG_ID =~ ^[0-9]+$ ]] && (( RIG_ID < 200 )) || { echo "rig: id must be 0..199" >&2; return 1; }
  NS_DP="tprig${RIG_ID}dp"
  NS_PEER="tprig${RIG_ID}pe"
  IF_DP="tpr${RIG_ID}a"
  IF_PEER="tpr${RIG_ID}b"
  TP_NET="198.18.${RIG_ID}"
  TP_IP="${TP_NET}.1"
  PEER_IP="${TP_NET}.2"
  TP_PREFIX="tprig${RIG_ID}"
  RIG_TMP=$(mktemp -d "/tmp/tprig${RIG_ID}.XXXXXX")
  TP_LOG="$RIG_TMP/turnpike.log"
  TP_PID=""
  trap 'rig_down' EXIT
  trap 'rig_down; exit 130' INT
  trap 'rig_down; exit 143' TERM HUP
}

rig_up() {
  rig_delete_netns
  ip netns add "$NS_DP"
  ip netns add "$NS_PEER"
  ip link add "$IF_DP" netns "$NS_DP" type veth peer name "$IF_PEER" netns "$NS_PEER"
  # The dp side belongs to DPDK: no kernel address, no IPv6 chatter.
  ip netns exec "$NS_DP" sysctl -qw "net.ipv6.conf.$IF_DP.disable_ipv6=1"
  ip netns exec "$NS_PEER" sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=1"
  ip -n "$NS_DP" link set "$IF_DP" up
  ip -n "$NS_DP" link set lo up
  ip -n "$NS_PEER" link set lo up
  ip -n "$NS_PEER" addr add "$PEER_IP/24" dev "$IF_PEER"
  ip -n "$NS_PEER" link set "$IF_PEER" up
}

# rig_start_turnpike BINARY QUEUES [extra turnpike args...]
rig_start_turnpike() {
  local bin=$1 queues=$2
  shift 2
  ip netns exec "$NS_DP" "$bin" --device "net_af_packet0,iface=$IF_DP,qpairs=$queues" --ipv4 "$TP_IP/24" \
    --workers "$queues" --set "eal.file_prefix=$TP_PREFIX" "$@" >"$TP_LOG" 2>&1 &
  TP_PID=$!
  local i
  for i in $(seq 1 200); do
    if grep -q "ready:" "$TP_LOG"; then
      TP_MAC=$(grep -o 'mac [0-9a-f:]*' "$TP_LOG" | head -1 | cut -d' ' -f2)
      return 0
    fi
    if ! kill -0 "$TP_PID" 2>/dev/null; then
      echo "rig: turnpike exited during start-up:" >&2
      cat "$TP_LOG" >&2
      TP_PID=""
      return 1
    fi
    sleep 0.1
  done
  echo "rig: turnpike not ready after 20 s:" >&2
  cat "$TP_LOG" >&2
  return 1
}

peer() { ip netns exec "$NS_PEER" "$@"; }

tp_telemetry() {
  printf '%s\n' "$1" | dpdk-telemetry.py -f "$TP_PREFIX" 2>/dev/null | python3 -c '
import sys, json
text = sys.stdin.read()
# dpdk-telemetry.py prints a prompt and pretty JSON; take the JSON object.
start = text.find("{")
depth = 0
for i, ch in enumerate(text[start:], start):
    depth += ch == "{"
    depth -= ch == "}"
    if depth == 0:
        print(json.dumps(json.loads(text[start:i + 1])))
        break
'
}

# tp_stop [SIGNAL]: stops turnpike and waits; returns its exit status.
tp_stop() {
  local sig=${1:-TERM} rc=0 i
  [ -n "$TP_PID" ] || return 0
  kill "-$sig" "$TP_PID" 2>/dev/null
  for i in $(seq 1 100); do
    kill -0 "$TP_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$TP_PID" 2>/dev/null; then
    echo "rig: turnpike ignored SIG$sig for 10 s; killing" >&2
    kill -KILL "$TP_PID" 2>/dev/null
    rc=124
  fi
  wait "$TP_PID" 2>/dev/null
  local st=$?
  [ $rc -eq 0 ] && rc=$st
  TP_PID=""
  return $rc
}

rig_delete_netns() {
  ip netns del "$NS_DP" 2>/dev/null || true
  ip netns del "$NS_PEER" 2>/dev/null || true
}

rig_down() {
  [ -n "${RIG_ID:-}" ] || return 0
  tp_stop TERM >/dev/null 2>&1 || true
  rig_delete_netns
  rm -rf "/var/run/dpdk/$TP_PREFIX" 2>/dev/null || true
  if [ -n "${RIG_KEEP_LOG:-}" ] && [ -f "$TP_LOG" ]; then cp "$TP_LOG" "$RIG_KEEP_LOG"; fi
  rm -rf "$RIG_TMP"
  RIG_ID=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    cleanup-all)
      for ns in $(ip netns list | awk '{print $1}' | grep -E '^tprig[0-9]+(dp|pe)$'); do ip netns del "$ns"; done ;;
    *) echo "usage: source rig.sh (see header) | rig.sh cleanup-all" >&2; exit 2 ;;
  esac
fi
