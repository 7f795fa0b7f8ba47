#!/usr/bin/env bash
# Flow placement on kernel-facing ports (issue 12 item 2): a TCP flow is served
# by one worker, the one symmetric Toeplitz RSS names, on net_af_packet and on
# net_af_xdp (one AF_XDP socket per veth queue), with two workers.
# For each port type, on a clean veth:
#   - 30 kernel connections x 256 KiB through the echo service, byte-exact;
#   - each connection was accepted by the worker flow_placement.py computes
#     from its 4-tuple (per-worker "accepted" from /turnpike/tcp,<worker>
#     equals the computed count per worker), and segments that arrived on the
#     other worker's queue were handed over (steered_to_owner == steered_in,
#     no steering ring full);
#   - nothing reordered or lost on the way: no out-of-order segment (unless
#     the client retransmitted: Linux re-hashes a timed-out flow), no PAWS
#     drop, no loss below turnpike, and no out-of-window segment other than
#     the client's own retransmissions (nstat in its namespace).
# net_af_xdp: both veth ends get 2 queues (RIG_QUEUES) and the kernel end a
# qdisc (rig_up), so a full veth XDP ring pushes back instead of dropping.
# FAMILIES "6" (issue 13 item 4): the same over IPv6 (the port gets
# ipv6 = addr/prefix, the echo service listens on [::]); the owner is
# Toeplitz over the 36-byte IPv6 tuple (addresses, then ports), which
# flow_placement.py first checks against Microsoft's published vectors.
# usage: flow_placement.sh TURNPIKE_BINARY RIG_ID [FAMILIES, default "4"]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-202}"
families=${3:-4}

tcp_w() { json_get "$(tp_telemetry "/turnpike/tcp,$1")" "d['/turnpike/tcp']['$2']"; }
tcp_field() { json_get "$(tp_telemetry /turnpike/tcp)" "d['/turnpike/tcp']['$1']"; }
stat_field() { json_get "$(tp_telemetry /turnpike/stats)" "list(d['/turnpike/stats'].values())[0].get('$1', -1)"; }

run() {  # run af_packet|af_xdp 4|6
  local kind=$1 fam=${2:-4}
  export RIG_PORT=$kind RIG_QUEUES=1
  [ "$kind" = af_xdp ] && RIG_QUEUES=2
  rig_up || exit 1
  local host=$TP_IP v6set=() tag=$kind
  if [ "$fam" = 6 ]; then
    # Documentation prefix (RFC 3849), inside the namespaces only; no DAD,
    # router solicitations or RAs on the kernel side (tcp6_echo.sh).
    host="2001:db8:${RIG_ID}::1"
    peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0" "net.ipv6.conf.$IF_PEER.accept_dad=0" \
      "net.ipv6.conf.$IF_PEER.accept_ra=0" "net.ipv6.conf.$IF_PEER.router_solicitations=0"
    peer ip -6 addr add "2001:db8:${RIG_ID}::2/64" dev "$IF_PEER" nodad
    v6set=(--set "ports.0.ipv6=$host/64")
    tag="$kind v6"
  fi
  # af_packet: a ring larger than four thirds of what the whole run sends
  # (about 12,000 frames), so the PMD's fanout rollover (at three-quarters
  # full) cannot happen even if a worker loses its CPU on a busy box; the
  # default sizing is port_loss.sh's subject.
  RIG_DEVICE_ARGS=""
  [ "$kind" = af_packet ] && RIG_DEVICE_ARGS=",framecnt=32768"
  RIG_README_DEVICE=1 rig_start_turnpike "$bin" 2 --set 'services.echo_ports=[7]' "${v6set[@]}" || exit 1
  grep -E "port .*queue" "$TP_LOG" | head -1
  # RFC 4862: turnpike's DAD probe, then RetransTimer (1 s) until usable.
  [ "$fam" = 6 ] && sleep 1.5
  local res retx
  peer nstat -n >/dev/null 2>&1
  # The client on one CPU: veth hands frames to the receiving side through
  # the sending CPU's backlog, so a client moving between CPUs can reorder
  # its own segments before turnpike sees them.
  res=$(peer taskset -c "$(( $(nproc) - 1 ))" python3 "$here/flow_placement.py" "$host" 7 --conns 30 --bytes 262144 --workers 2 --timeout 20)
  retx=$(peer nstat -az TcpRetransSegs | awk '/TcpRetransSegs/{print $2}')
  echo "[$tag] clients: $res"
  check "[$tag] 30 connections x 256 KiB echoed byte-exact" \
    test "$(json_get "$res" 'd["ok"] - d["mismatch"] - len(d["errors"])')" = 30
  local a0 a1 e0 e1
  a0=$(tcp_w 0 accepted) a1=$(tcp_w 1 accepted)
  e0=$(json_get "$res" 'd["owners"][0]') e1=$(json_get "$res" 'd["owners"][1]')
  echo "[$tag] accepted per worker: $a0 $a1; owners by Toeplitz: $e0 $e1"
  check "[$tag] both workers own flows (the test spreads)" test "$e0" -gt 0 -a "$e1" -gt 0
  check "[$tag] worker 0 accepted the flows Toeplitz gives it" test "$a0" = "$e0"
  check "[$tag] worker 1 accepted the flows Toeplitz gives it" test "$a1" = "$e1"
  local to ti
  to=$(tcp_field steered_to_owner) ti=$(tcp_field steered_in)
  echo "[$tag] steering: to_owner=$to in=$ti ring_full=$(tcp_field steer_ring_full)" \
    "ooo=$(tcp_field rx_ooo_segments) paws=$(tcp_field rx_paws) out_of_window=$(tcp_field rx_out_of_window)" \
    "retransmits=$(tcp_field retransmits) lost_below=$(stat_field lost_below_total)" \
    "rollovers=$(stat_field kernel_ring_rollovers)"
  check "[$tag] every steered segment reached its owner" test "$to" = "$ti"
  check "[$tag] no steering ring full" test "$(tcp_field steer_ring_full)" = 0
  # Out of order only after the client retransmitted: Linux gives a flow a
  # new hash when it times out (sk_rethink_txhash), the kernel's fanout
  # follows that hash to the other queue, and the two queues' order is lost.
  # A worker starved of its CPU (a loaded 2-core box) makes the client time
  # out; without a retransmission nothing may arrive out of order.
  check "[$tag] no out-of-order segment unless the client retransmitted" \
    test "$(tcp_field rx_ooo_segments)" = 0 -o "${retx:-0}" -gt 0
  check "[$tag] no PAWS drop" test "$(tcp_field rx_paws)" = 0
  # A segment below the window is the client's retransmission (a tail loss
  # probe when a worker was off its CPU), one for a connection already
  # closed the answer to turnpike's (a duplicate ACK of a retransmitted FIN):
  # those, and nothing else -- a segment handed to a worker that does not
  # own its flow would be "no connection".
  local oow noconn
  oow=$(tcp_field rx_out_of_window) noconn=$(tcp_field rx_no_conn)
  echo "[$tag] out_of_window=$oow no_conn=$noconn client_retransmits=$retx"
  check "[$tag] no out-of-window or unknown-connection segment but retransmissions'" \
    test "$((oow + noconn))" -le "$((${retx:-0} + $(tcp_field retransmits)))"
  check "[$tag] nothing lost below turnpike" test "$(stat_field lost_below_total)" = 0
  tp_stop TERM
}

if [[ " $families " == *" 6 "* ]]; then
  res=$(python3 "$here/flow_placement.py" --selftest)
  echo "Toeplitz self-test: $res"
  check "flow_placement.py's Toeplitz gives Microsoft's IPv4 and IPv6 TCP vectors, symmetric with 0x6d5a" \
    test "$(json_get "$res" 'len(d["bad"]) == 0 and d["symmetric"]')" = True
fi
for fam in $families; do
  run af_packet "$fam"
  run af_xdp "$fam"
done
finish
