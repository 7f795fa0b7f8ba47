#!/usr/bin/env bash
# turnpike-loadgen against turnpike over net_memif: two DPDK processes, each
# pinned to its own CPU, no kernel in the path (--no-huge, adaptive idle).
# The loadgen also serves turnpike's plain SIP backend on its side of the
# memif link. Checks, for EKU mode On and then Off (docs/eku-semantics.md):
# every request accounted for and every answer matched (the loadgen checks
# status line, Call-ID, CSeq and Via branch), each certificate profile
# accepted or refused as the EKU table says, resumptions and keep-alive
# pongs seen, the progress line printed and the JSON summary written.
# Asserts behaviour, not speed.
# usage: loadgen_memif.sh TURNPIKE_BINARY LOADGEN_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
lg=$2
pki_script=$3
rig_init "${4:-195}"
lg_prefix="tprig${RIG_ID}lg"
sock="$RIG_TMP/memif.sock"
tp_ip="198.18.${RIG_ID}.1"
lg_ip="198.18.${RIG_ID}.2"
lgpki="$RIG_TMP/lgpki"
LG_PID=""
cleanup() {
  [ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null
  rm -rf "/var/run/dpdk/$lg_prefix" 2>/dev/null
  rig_down
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM HUP

# Two CPUs when there are: turnpike on the first, the loadgen on the last.
cpus=$(nproc)
tp_cpu=0
lg_cpu=$((cpus > 1 ? cpus - 1 : 0))

# Server certificate from the test PKI; client trust: the loadgen's root.
rig_pki_stores "$pki_script"
"$lg" --pki-only --pki-dir "$lgpki" --phones 1 >/dev/null 2>&1 || { echo "loadgen PKI failed"; exit 1; }
cat "$pki/ca.pem" "$lgpki/ca.pem" >"$stores/ca.pem"

start_tp() {  # start_tp EKU_MODE
  "$bin" --device "net_memif0,role=server,socket=$sock,socket-abstract=no" --ipv4 "$tp_ip/24" --workers 1 \
    --set "eal.file_prefix=$TP_PREFIX" --set "workers.cpus=[$tp_cpu]" --set idle.policy=adaptive \
    --set metrics.listen=off --set "stores.dir=$stores" --set "stores.eku_mode=$1" \
    --set "sip.backends=[\"$lg_ip:5060\"]" --set sip.health_check_interval_ms=200 \
    --set sip.backend_retry_ms=200 >"$TP_LOG" 2>&1 &
  TP_PID=$!
  local i
  for i in $(seq 1 100); do
    grep -q "ready:" "$TP_LOG" && return 0
    kill -0 "$TP_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "turnpike did not start:"
  cat "$TP_LOG"
  return 1
}

# run_lg NAME EKU_MODE [extra loadgen args...]: a bounded run; its output in
# $RIG_TMP/NAME.out, its summary in $RIG_TMP/NAME.json.
run_lg() {
  local name=$1 mode=$2
  shift 2
  timeout 60 "$lg" --device "net_memif0,role=client,socket=$sock,socket-abstract=no" --ipv4 "$lg_ip/24" \
    --target "$tp_ip:5061" --cpu "$lg_cpu" --file-prefix "$lg_prefix" --server-ca "$pki/ca.pem" \
    --pki-dir "$lgpki" --backend-port 5060 --start-delay-s 1 --eku-mode "$mode" \
    --json "$RIG_TMP/$name.json" "$@" >"$RIG_TMP/$name.out" 2>&1 &
  LG_PID=$!
  wait "$LG_PID"
  local rc=$?
  LG_PID=""
  echo "--- loadgen $name (exit $rc) ---"
  tail -22 "$RIG_TMP/$name.out"
  return $rc
}
j() { json_get "$(cat "$RIG_TMP/$1.json")" "$2"; }

mix=clientauth=3,serverauth=1,noeku=1,expired=1,untrusted=1,nocert=1
start_tp on || exit 1
run_lg on on --phones 16 --mix "$mix" --tls mix --method mix --duration 4 --ramp-s 0.5 --think-ms 5 \
  --per-conn 10 --resume 50 --keepalive-s 0.003
rc=$?
check "mode On: loadgen exits 0 (no errors, counts add up, profiles as expected)" test $rc -eq 0
check "mode On: JSON summary written and ok" test "$(j on 'd["ok"]')" = True
check "mode On: progress line every second" test "$(grep -c '^\[ *[0-9.]*s\] phones' "$RIG_TMP/on.out")" -ge 3
check "mode On: transactions answered and matched" test "$(j on 'int(d["answers_ok"] > 50)')" = 1
check "mode On: every request accounted for" test "$(j on 'd["requests_sent"] - d["answers_ok"] - d["requests_failed"] - d["requests_refused_in_flight"]')" = 0
check "mode On: no failed request, no error" test "$(j on 'd["requests_failed"] + d["errors"]')" = 0
check "mode On: the backend answered every answered request" test "$(j on 'int(d["backend_answered"] >= d["answers_ok"])')" = 1
check "mode On: tickets resumed" test "$(j on 'int(d["handshakes_resumed"] > 0)')" = 1
check "mode On: keep-alive pings ponged (or their connection closed first)" test "$(j on 'int(d["keepalive_pongs"] > 0 and d["keepalive_pings"] == d["keepalive_pongs"] + d["keepalive_pings_abandoned"])')" = 1
for p in clientauth noeku nocert; do
  check "mode On: $p accepted, never refused" test "$(j on "int(d['profiles']['$p']['accepted'] > 0 and d['profiles']['$p']['refused'] == 0)")" = 1
done
for p in serverauth expired untrusted; do
  check "mode On: $p refused, never accepted" test "$(j on "int(d['profiles']['$p']['refused'] > 0 and d['profiles']['$p']['accepted'] == 0)")" = 1
done
check "latency percentiles present" test "$(j on 'int(0 < d["latency_us"]["p50"] <= d["latency_us"]["p99"] <= d["latency_us"]["max"])')" = 1
check "the loop's own cost reported (busy cycles per transaction, CPU share, preemptions)" test "$(j on 'int(d["loadgen_busy_cycles_per_op"] > 0 and 0 < d["loadgen_cpu_percent"] <= 105 and d["loadgen_preempted"] >= 0)')" = 1
tp_stop TERM

# Mode Off: the serverAuth-only phone is accepted (docs/eku-semantics.md); a
# fixed count of transactions ends the run.
start_tp off || exit 1
run_lg off off --phones 8 --mix "$mix" --tls 1.3 --method REGISTER --duration 20 --count 400
rc=$?
check "mode Off: loadgen exits 0" test $rc -eq 0
check "mode Off: serverauth accepted, never refused" test "$(j off "int(d['profiles']['serverauth']['accepted'] > 0 and d['profiles']['serverauth']['refused'] == 0)")" = 1
check "mode Off: expired and untrusted still refused" test "$(j off "int(d['profiles']['expired']['accepted'] + d['profiles']['untrusted']['accepted'] == 0)")" = 1
check "mode Off: --count 400 sends exactly 400 requests" test "$(j off 'd["requests_sent"]')" = 400
check "mode Off: all 400 answered, or in flight at a refusal" test "$(j off 'd["answers_ok"] + d["requests_refused_in_flight"]')" = 400
# Target rate: never more calls than the rate allows (token bucket, burst
# 1); each call is INVITE, 200, ACK, BYE, 200 (the BYE outside the rate).
run_lg rate off --phones 8 --mix clientauth=1 --method INVITE --rate 100 --duration 2 --start-delay-s 0.5
rc=$?
check "INVITE calls at --rate 100 for 2 s: loadgen exits 0" test $rc -eq 0
check "... at most 201 calls, each INVITE and BYE answered, one ACK per call" test "$(j rate 'int(0 < d["acks_sent"] <= 201 and d["answers_ok"] == d["requests_sent"] == 2 * d["acks_sent"])')" = 1
check "... the backend answered INVITE and BYE, never an ACK" test "$(j rate 'int(d["backend_answered"] == d["answers_ok"])')" = 1
tp_stop TERM
finish
