#!/usr/bin/env bash
# Namespace rig: turnpike on one end of a veth pair (DPDK net_af_packet), the
# Linux kernel on the other. Source it, then:
#   rig_init ID          names/addresses for rig ID (0..254); traps cleanup
#   rig_up               create namespaces + veth, address the kernel side
#   rig_start_turnpike [args...]   start the daemon in the dp namespace, wait for "ready"
#   peer CMD...          run CMD in the kernel-side namespace
#   tp_telemetry CMD     query DPDK telemetry (/turnpike/...) as JSON
#   rig_down             stop turnpike (by PID), delete namespaces (idempotent)
#   rig_up_impaired IMPAIR_BIN "ARGS"   like rig_up, with a third namespace
#                        between the two ends running tp-impair ARGS
#                        (e.g. "--loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1");
#                        impair_stats prints its counters as JSON
# Addresses come from 198.18.0.0/15 and exist only inside these namespaces.
# Everything is removed on exit, error, INT/TERM/HUP; a rig left behind by a
# SIGKILLed run is removed by the next rig_up of the same ID or by
# `rig.sh cleanup-all`.

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rig_init() {
  RIG_ID=$1
  [[ $RIG_ID =~ ^[0-9]+$ ]] && (( RIG_ID < 255 )) || { echo "rig: id must be 0..254" >&2; return 1; }
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
  NS_RELAY="tprig${RIG_ID}re"
  IF_RL="tpr${RIG_ID}l"
  IF_RR="tpr${RIG_ID}r"
  RELAY_PID=""
  RELAY_STATS="$RIG_TMP/impair.json"
  trap 'rig_down' EXIT
  trap 'rig_down; exit 130' INT
  trap 'rig_down; exit 143' TERM HUP
}

# Kernel veths hand frames over with checksums left to "offload" and as
# 64 KiB GSO super-frames; a DPDK port or a relay reading them raw would see
# bad checksums and oversize frames. Make the kernel finish every frame.
rig_no_offload() {  # rig_no_offload NS IF
  ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

# RIG_QUEUES=N: both veth ends get N RX and N TX queues (net_af_xdp binds
# one AF_XDP socket per queue; the kernel side then spreads its flows);
# RIG_PORT=af_xdp makes it 2 unless set. With several queues the kernel end
# gets a qdisc (mq): a veth whose peer runs XDP stops its queue when the XDP
# ring is full, and without a qdisc the frame is dropped instead of waiting.
rig_up() {
  rig_delete_netns
  ip netns add "$NS_DP"
  ip netns add "$NS_PEER"
  local q=${RIG_QUEUES:-1}
  [ "${RIG_PORT:-}" = af_xdp ] && q=${RIG_QUEUES:-2}
  ip link add "$IF_DP" numtxqueues "$q" numrxqueues "$q" netns "$NS_DP" type veth \
    peer name "$IF_PEER" numtxqueues "$q" numrxqueues "$q" netns "$NS_PEER"
  # The dp side belongs to DPDK: no kernel address, no IPv6 chatter.
  ip netns exec "$NS_DP" sysctl -qw "net.ipv6.conf.$IF_DP.disable_ipv6=1"
  ip netns exec "$NS_PEER" sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=1"
  ip -n "$NS_DP" link set "$IF_DP" up
  ip -n "$NS_DP" link set lo up
  ip -n "$NS_PEER" link set lo up
  ip -n "$NS_PEER" addr add "$PEER_IP/24" dev "$IF_PEER"
  ip -n "$NS_PEER" link set "$IF_PEER" up
  rig_no_offload "$NS_PEER" "$IF_PEER"
  rig_no_offload "$NS_DP" "$IF_DP"
  if (( q > 1 )); then ip netns exec "$NS_PEER" tc qdisc replace dev "$IF_PEER" root mq; fi
}

rig_up_impaired() {
  local relay_bin=$1 args=$2
  rig_delete_netns
  ip netns add "$NS_DP"
  ip netns add "$NS_PEER"
  ip netns add "$NS_RELAY"
  ip link add "$IF_DP" netns "$NS_DP" type veth peer name "$IF_RL" netns "$NS_RELAY"
  ip link add "$IF_RR" netns "$NS_RELAY" type veth peer name "$IF_PEER" netns "$NS_PEER"
  ip netns exec "$NS_DP" sysctl -qw "net.ipv6.conf.$IF_DP.disable_ipv6=1"
  ip netns exec "$NS_PEER" sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=1"
  ip netns exec "$NS_RELAY" sysctl -qw "net.ipv6.conf.$IF_RL.disable_ipv6=1"
  ip netns exec "$NS_RELAY" sysctl -qw "net.ipv6.conf.$IF_RR.disable_ipv6=1"
  local ns
  for ns in "$NS_DP" "$NS_PEER" "$NS_RELAY"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_DP" link set "$IF_DP" up
  ip -n "$NS_RELAY" link set "$IF_RL" up
  ip -n "$NS_RELAY" link set "$IF_RR" up
  ip -n "$NS_PEER" addr add "$PEER_IP/24" dev "$IF_PEER"
  ip -n "$NS_PEER" link set "$IF_PEER" up
  rig_no_offload "$NS_PEER" "$IF_PEER"
  rig_no_offload "$NS_DP" "$IF_DP"
  rig_no_offload "$NS_RELAY" "$IF_RL"
  rig_no_offload "$NS_RELAY" "$IF_RR"
  # shellcheck disable=SC2086
  ip netns exec "$NS_RELAY" "$relay_bin" --left "$IF_RL" --right "$IF_RR" --stats "$RELAY_STATS" $args \
    2>"$RIG_TMP/impair.log" &
  RELAY_PID=$!
  local i
  for i in $(seq 1 50); do
    grep -q ready "$RIG_TMP/impair.log" 2>/dev/null && return 0
    kill -0 "$RELAY_PID" 2>/dev/null || { cat "$RIG_TMP/impair.log" >&2; return 1; }
    sleep 0.1
  done
  echo "rig: tp-impair not ready" >&2
  return 1
}

# impair_stats: the relay's counters as JSON (asks it to write them now).
impair_stats() {
  [ -n "$RELAY_PID" ] || return 1
  rm -f "$RELAY_STATS"
  kill -USR1 "$RELAY_PID"
  local i
  for i in $(seq 1 50); do
    [ -s "$RELAY_STATS" ] && { cat "$RELAY_STATS"; return 0; }
    sleep 0.05
  done
  return 1
}

# rig_start_turnpike BINARY QUEUES [extra turnpike args...]
# RIG_DEVICE_ARGS: extra vdev arguments (",framecnt=64"); RIG_README_DEVICE=1:
# the README's device string (no qpairs, no framecnt: turnpike sizes them);
# RIG_PORT=af_xdp: net_af_xdp0,iface=$IF_DP (turnpike adds the queues).
rig_start_turnpike() {
  local bin=$1 queues=$2
  shift 2
  local dev="net_af_packet0,iface=$IF_DP,qpairs=$queues"
  [ "${RIG_README_DEVICE:-0}" = 1 ] && dev="net_af_packet0,iface=$IF_DP"
  [ "${RIG_PORT:-af_packet}" = af_xdp ] && dev="net_af_xdp0,iface=$IF_DP"
  dev+="${RIG_DEVICE_ARGS:-}"
  ip netns exec "$NS_DP" "$bin" --device "$dev" --ipv4 "$TP_IP/24" \
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

# rig_pki_stores PKI_SCRIPT [CLIENT_LEAF]: the test PKI in $pki and turnpike
# stores in $stores, both under $RIG_TMP: server store "both" (serverAuth +
# clientAuth), trust store ca.pem, and CLIENT_LEAF in the client store.
rig_pki_stores() {
  pki="$RIG_TMP/pki"
  stores="$RIG_TMP/stores"
  bash "$1" "$pki" >/dev/null || { echo "PKI generation failed"; exit 1; }
  mkdir -p "$stores"
  cp "$pki/both-chain.pem" "$stores/server.pem"
  cp "$pki/both.key" "$stores/privkey.pem"
  cp "$pki/ca.pem" "$stores/ca.pem"
  if [ -n "${2:-}" ]; then
    cp "$pki/$2-chain.pem" "$stores/client.pem"
    cp "$pki/$2.key" "$stores/clientprivkey.pem"
  fi
}

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
  ip netns del "$NS_RELAY" 2>/dev/null || true
}

rig_down() {
  [ -n "${RIG_ID:-}" ] || return 0
  tp_stop TERM >/dev/null 2>&1 || true
  if [ -n "${RELAY_PID:-}" ]; then
    kill -TERM "$RELAY_PID" 2>/dev/null
    wait "$RELAY_PID" 2>/dev/null
    RELAY_PID=""
  fi
  rig_delete_netns
  rm -rf "/var/run/dpdk/$TP_PREFIX" 2>/dev/null || true
  if [ -n "${RIG_KEEP_LOG:-}" ] && [ -f "$TP_LOG" ]; then cp "$TP_LOG" "$RIG_KEEP_LOG"; fi
  rm -rf "$RIG_TMP"
  RIG_ID=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    cleanup-all)
      for ns in $(ip netns list | awk '{print $1}' | grep -E '^tprig[0-9]+(dp|pe|re)$'); do ip netns del "$ns"; done ;;
    *) echo "usage: source rig.sh (see header) | rig.sh cleanup-all" >&2; exit 2 ;;
  esac
fi
