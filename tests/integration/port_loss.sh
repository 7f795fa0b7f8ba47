#!/usr/bin/env bash
# Losses below turnpike are counted, and the defaults do not lose (issue 15,
# parts 2 and 3). On a clean veth with the README's device string
# (net_af_packet0,iface=X: no qpairs, no framecnt) and --workers 2:
#   1. turnpike sizes the af_packet ring itself and places the two workers on
#      distinct CPUs; 200 connections x 256 KiB through the echo service are
#      byte-exact; the Linux client's retransmissions are printed (figures,
#      not asserted: a 2-CPU CI box is noisy);
#   2. the same load with the ring shrunk to 64 frames: the kernel ring's
#      drops show in /turnpike/stats and in the final counters, and the TCP's
#      own evidence of loss (out-of-order segments, retransmissions) is there.
# usage: port_loss.sh TURNPIKE_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
rig_init "${2:-170}"
rig_up || exit 1

# The port's entry (the first and only port, whatever its name).
stat_field() { json_get "$(tp_telemetry /turnpike/stats)" "list(d['/turnpike/stats'].values())[0].get('$1', -1)"; }
tcp_field() { json_get "$(tp_telemetry /turnpike/tcp)" "d['/turnpike/tcp']['$1']"; }
# Linux client's TCP counters (namespace-wide), as "out retrans".
peer_tcp() { peer nstat -az TcpOutSegs TcpRetransSegs | awk '/TcpOutSegs/{o=$2} /TcpRetransSegs/{r=$2} END{print o, r}'; }

run_load() {  # run_load LABEL: 200 x 256 KiB echo; sets $res, $seg, $retx
  peer nstat -n >/dev/null 2>&1
  local before after t0 t1
  before=$(peer_tcp)
  t0=$(date +%s.%N)
  res=$(peer bash -c "ulimit -n 4096; python3 '$here/tcp_clients.py' '$TP_IP' 7 --conns 200 --bytes 262144 --timeout 120 --seed 7")
  t1=$(date +%s.%N)
  after=$(peer_tcp)
  seg=$(( ${after% *} - ${before% *} ))
  retx=$(( ${after#* } - ${before#* } ))
  local mbps
  mbps=$(python3 -c "print(round(200*262144/1e6/($t1-$t0), 1))")
  echo "[$1] client: $seg segments sent, $retx retransmitted ($(python3 -c "print(round(100*$retx/max($seg,1),2))") %), ${mbps} MB/s each way"
  check "[$1] 200 connections x 256 KiB echoed byte-exact" \
    test "$(json_get "$res" 'd["ok"] - d["mismatch"] - d["bad_bytes"] - len(d["errors"]) - len(d["connect_errors"])')" = 200
}

# --- 1. defaults ----------------------------------------------------------------
RIG_README_DEVICE=1 rig_start_turnpike "$bin" 2 --set 'services.echo_ports=[7]' || exit 1
check "start-up says how the ring was sized" grep -q "af_packet ring 8192 frames per queue (sized by turnpike" "$TP_LOG"
check "start-up prints the placement" grep -q "placement: worker0@cpu[0-9]* worker1@cpu[0-9]* control@cpu" "$TP_LOG"
check "ready line does not report CPU sharing" bash -c "grep 'ready:' '$TP_LOG' | grep -vq 'SHARE'"
ports=$(tp_telemetry /turnpike/ports)
check "telemetry: 8192 frames per queue" test "$(json_get "$ports" "list(d['/turnpike/ports'].values())[0]['af_packet_frames_per_queue']")" = 8192
check "telemetry: 2 queues, one per worker" \
  test "$(json_get "$ports" "list(d['/turnpike/ports'].values())[0]['queue_owner']")" = "q0->worker0 q1->worker1"
workers=$(tp_telemetry /turnpike/workers)
check "telemetry: workers on distinct CPUs" \
  test "$(json_get "$workers" "len({d['/turnpike/workers'][w]['cpu'] for w in ('worker0', 'worker1')})")" = 2
check "telemetry: no CPU sharing" test "$(json_get "$workers" "d['/turnpike/workers']['cpu_sharing']")" = none
check "kernel ring drops are readable (PACKET_STATISTICS)" test "$(stat_field kernel_ring_drops)" -ge 0
run_load defaults
echo "[defaults] below turnpike: lost=$(stat_field lost_below_total) kernel_ring_drops=$(stat_field kernel_ring_drops) rollovers=$(stat_field kernel_ring_rollovers) kernel_ring_packets=$(stat_field kernel_ring_packets)"
echo "[defaults] tcp: rx_ooo_segments=$(tcp_field rx_ooo_segments) retransmits=$(tcp_field retransmits)"
check "[defaults] the kernel offered frames to the rings" test "$(stat_field kernel_ring_packets)" -gt 0
tp_stop TERM
check "[defaults] clean exit" test $? -eq 0
check "[defaults] final counters carry the losses below turnpike" grep -q "port [a-z0-9]* below turnpike: lost_below_total=" "$TP_LOG"

# --- 2. a ring too small -----------------------------------------------------------
RIG_README_DEVICE=1 RIG_DEVICE_ARGS=",framecnt=64" rig_start_turnpike "$bin" 2 --set 'services.echo_ports=[7]' || exit 1
check "[64 frames] start-up warns about the small ring" grep -q "framecnt=64 is small" "$TP_LOG"
run_load "64 frames"
drops=$(stat_field kernel_ring_drops)
lost=$(stat_field lost_below_total)
ooo=$(tcp_field rx_ooo_segments)
retr=$(tcp_field retransmits)
echo "[64 frames] below turnpike: lost=$lost kernel_ring_drops=$drops rollovers=$(stat_field kernel_ring_rollovers); tcp: rx_ooo_segments=$ooo rx_holes_filled=$(tcp_field rx_holes_filled) rx_dup_segments=$(tcp_field rx_dup_segments) retransmits=$retr; client retransmitted $retx"
check "[64 frames] the client saw loss (it retransmitted $retx segments)" test "$retx" -gt 0
check "[64 frames] turnpike counts the kernel ring's drops ($drops)" test "$drops" -gt 0
check "[64 frames] lost_below_total includes them ($lost)" test "$lost" -ge "$drops"
check "[64 frames] TCP evidence of loss towards turnpike: out-of-order segments ($ooo)" test "$ooo" -gt 0
tp_stop TERM
check "[64 frames] clean exit" test $? -eq 0
final=$(grep "below turnpike" "$TP_LOG" | tail -1)
echo "final: $final"
check "[64 frames] final counters show the kernel ring drops" \
  python3 -c "import re,sys; m=re.search(r'kernel_ring_drops=(\d+)', sys.argv[1]); sys.exit(0 if m and int(m.group(1)) > 0 else 1)" "$final"
finish
