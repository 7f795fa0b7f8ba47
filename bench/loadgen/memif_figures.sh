#!/usr/bin/env bash
# One loadgen core against one turnpike worker over net_memif (user space
# end to end, each process pinned to its own CPU, turnpike with its default
# config apart from the port): full handshakes/s (TLS 1.3 P-256, OPTIONS,
# close), resumed handshakes/s (the same with the last ticket), and
# REGISTER request+response pairs/s on persistent connections, with the
# loadgen's latency percentiles. Prints a table; the JSON of each run stays
# in OUT (default: a temp dir, printed). RUNS (environment) picks runs
# (default "full resumed register"). Both sides' busy cycles per operation
# are printed: on a shared box they say more than the rates do, which
# drop whenever another process takes either CPU (the load is printed).
# usage: memif_figures.sh TURNPIKE LOADGEN PKI_SCRIPT [SECONDS] [OUT]
set -uo pipefail
tp=${1:?turnpike binary} lg=${2:?turnpike-loadgen binary} pki_script=${3:?make-pki.sh}
secs=${4:-10}
out=${5:-$(mktemp -d /tmp/tp-memif-figures.XXXXXX)}
mkdir -p "$out"
id=$$
sock="$out/memif.sock"
tp_prefix="tpfig$id"
lg_prefix="tpfiglg$id"
cpus=$(nproc)
tp_cpu=0
lg_cpu=$((cpus > 1 ? cpus - 1 : 0))
TP_PID=""
cleanup() {
  [ -n "$TP_PID" ] && { kill "$TP_PID" 2>/dev/null; wait "$TP_PID" 2>/dev/null; }
  rm -rf "/var/run/dpdk/$tp_prefix" "/var/run/dpdk/$lg_prefix"
}
trap cleanup EXIT

bash "$pki_script" "$out/pki" >/dev/null || exit 1
"$lg" --pki-only --pki-dir "$out/lgpki" --phones 1 >/dev/null 2>&1 || exit 1
mkdir -p "$out/stores"
cp "$out/pki/both-chain.pem" "$out/stores/server.pem"
cp "$out/pki/both.key" "$out/stores/privkey.pem"
cat "$out/pki/ca.pem" "$out/lgpki/ca.pem" >"$out/stores/ca.pem"

# Default TIME_WAIT: turnpike closes first on its backend legs, and active
# opens reuse a TIME_WAIT tuple once the backend's last timestamp is 1 s old
# (time_wait_reused_active), so the ~28,000 ports to the one backend last.
"$tp" --device "net_memif0,role=server,socket=$sock,socket-abstract=no" --ipv4 198.18.199.1/24 --workers 1 \
  --set "eal.file_prefix=$tp_prefix" --set "workers.cpus=[$tp_cpu]" --set metrics.listen=off \
  --set "stores.dir=$out/stores" --set 'sip.backends=["198.18.199.2:5060"]' \
  --set sip.health_check_interval_ms=200 --set sip.backend_retry_ms=200 >"$out/turnpike.log" 2>&1 &
TP_PID=$!
for _ in $(seq 1 100); do grep -qs "ready:" "$out/turnpike.log" && break; sleep 0.1; done
grep -q "ready:" "$out/turnpike.log" || { cat "$out/turnpike.log"; exit 1; }

# Turnpike's worker busy cycles (iterations that moved packets), from DPDK telemetry.
busy() {
  printf '/turnpike/workers\n' | dpdk-telemetry.py -f "$tp_prefix" 2>/dev/null | python3 -c '
import json, sys
t = sys.stdin.read(); s = t.find("{"); d = 0
for i, ch in enumerate(t[s:], s):
    d += ch == "{"; d -= ch == "}"
    if d == 0:
        j = json.loads(t[s:i + 1])["/turnpike/workers"]; break
print(j["worker0"]["busy_cycles"], j["tsc_hz"])'
}
# Turnpike's involuntary context switches (all its threads): another
# process took its CPU.
preempted() {
  cat /proc/"$TP_PID"/task/*/status 2>/dev/null | awk '/^nonvoluntary_ctxt_switches/ {n += $2} END {print n + 0}'
}
run() {  # run NAME [loadgen args...]
  local name=$1
  shift
  busy >"$out/$name.busy0"
  preempted >"$out/$name.pre0"
  "$lg" --device "net_memif0,role=client,socket=$sock,socket-abstract=no" --ipv4 198.18.199.2/24 \
    --target 198.18.199.1:5061 --cpu "$lg_cpu" --file-prefix "$lg_prefix" --server-ca "$out/pki/ca.pem" \
    --pki-dir "$out/lgpki" --backend-port 5060 --start-delay-s 2 --busy-poll --duration "$secs" \
    --json "$out/$name.json" "$@" >"$out/$name.out" 2>&1 || { echo "$name: loadgen failed"; tail -20 "$out/$name.out"; }
  busy >"$out/$name.busy1"
  preempted >"$out/$name.pre1"
}
runs=${RUNS:-full resumed register}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $runs; do
  case $r in
    full) run full --phones 64 --per-conn 1 --method OPTIONS --tls 1.3 --groups P-256 ;;
    resumed) run resumed --phones 64 --per-conn 1 --method OPTIONS --tls 1.3 --groups P-256 --resume 100 ;;
    register) run register --phones 200 --ramp-s 1 --method REGISTER --tls 1.3 --body 700 ;;
    *) echo "unknown run '$r' (full, resumed, register)"; exit 2 ;;
  esac
done
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$runs" <<'PY'
import json, sys
d = sys.argv[1]
rows = []
for name, key in (("full", "full_handshakes_per_s"), ("resumed", "resumed_handshakes_per_s"), ("register", "transactions_per_s")):
    if name not in sys.argv[2].split():
        continue
    try:
        j = json.load(open(f"{d}/{name}.json"))
    except OSError:
        rows.append((name,) + ("-",) * 9); continue
    hs = j["handshake_resumed_us" if name == "resumed" else "handshake_full_us"]
    ops = j[key] * j["elapsed_s"]
    try:
        b0, hz = map(int, open(f"{d}/{name}.busy0").read().split())
        b1, _ = map(int, open(f"{d}/{name}.busy1").read().split())
        busy_us = f"{(b1 - b0) / hz * 1e6 / ops:.1f}" if ops else "-"
        share = f"{(b1 - b0) / hz / j['elapsed_s'] * 100:.0f}%"
    except (OSError, ValueError):
        busy_us, share = "-", "-"
    try:
        tp_pre = int(open(f"{d}/{name}.pre1").read()) - int(open(f"{d}/{name}.pre0").read())
    except (OSError, ValueError):
        tp_pre = "-"
    pre = f'{tp_pre}/{j.get("loadgen_preempted", "-")}'

    rows.append((name, f'{j[key]:.0f}', f'{j["latency_us"]["p50"]}', f'{j["latency_us"]["p99"]}',
                 f'{hs["p50"]}/{hs["p99"]}', busy_us, share, f'{j["loadgen_busy_us_per_op"]}' + (f'/{j["loadgen_busy_us_per_op_short"]}' if j.get("loadgen_busy_us_per_op_short") else ""),
                 f'{j["errors"]}', pre))
print(f"{'run':10} {'per s':>8} {'txn p50 us':>11} {'txn p99 us':>11} {'hs p50/p99 us':>15} {'tp busy us/op':>14} {'tp busy':>8} {'lg us/op':>13} {'errors':>7} {'preempted':>10}")
for r in rows:
    print(f"{r[0]:10} {r[1]:>8} {r[2]:>11} {r[3]:>11} {r[4]:>15} {r[5]:>14} {r[6]:>8} {r[7]:>13} {r[8]:>7} {r[9]:>10}")
print("per s: full or resumed handshakes (each with one OPTIONS and a close), or REGISTER pairs;")
print("tp busy: turnpike worker busy cycles per operation and as a share of the run (incl. the backend leg);")
print("lg us/op: the loadgen loop's busy cycles per operation (its own cost; incl. serving the backend),")
print("  REGISTER: all / without busy iterations over 200 us (mostly another process's time slice);")
print("preempted: involuntary context switches of turnpike / of the loadgen loop in the run (0/0: nobody else ran on their CPUs);")
print(f"JSON in {d}")
PY
