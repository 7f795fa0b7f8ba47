#!/bin/bash
# Where side A's (turnpike's) busy cycles go in bench_ring_sip's request/
# response case: perf samples (cpu-clock; no hardware counters needed) kept
# only inside A's busy rounds, which the bench logs (TP_BENCH_SPANS), so that
# the load (side B, same thread) is left out. Prints a flat profile.
#   bench/ring/perf_a.sh [BUILD_DIR] [PER_CONN]   (2,000 connections)
set -euo pipefail
build=${1:-build/release}
per_conn=${2:-40}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
TP_BENCH_SPANS=$out/spans perf record -q -k CLOCK_MONOTONIC -e cpu-clock -F 20000 -o "$out/perf.data" \
  "$build/bench/ring/bench_ring_sip" 2000 rr2000 "$per_conn" >&2
perf script -i "$out/perf.data" -F time,ip,sym,dso --ns 2>/dev/null >"$out/samples"
python3 - "$out/spans" "$out/samples" <<'PY'
import bisect, collections, sys
spans = sorted(tuple(map(int, l.split())) for l in open(sys.argv[1]))
starts = [s for s, _ in spans]
hist = collections.Counter()
total = 0
for line in open(sys.argv[2]):
    parts = line.split(None, 1)
    if not parts or not parts[0].endswith(':'):
        continue
    t = round(float(parts[0][:-1]) * 1e9)
    i = bisect.bisect_right(starts, t) - 1
    if i < 0 or t >= spans[i][1]:
        continue
    rest = parts[1].split(None, 1) if len(parts) > 1 else []
    sym = rest[1].strip() if len(rest) > 1 else '?'
    if sym.startswith('[unknown]'):
        sym = '[unknown] ' + sym.split('(')[-1].rstrip(')')
    hist[sym] += 1
    total += 1
print(f"{total} samples in A's busy rounds")
# By module (libc's memmove/memchr counted apart: their callers are in TCP,
# TLS and the proxy alike).
def module(sym):
    if 'turnpike::tcp::' in sym: return 'tcp'
    if 'turnpike::glue::' in sym: return 'glue'
    if 'turnpike::net::' in sym: return 'net (NetWorker)'
    if 'turnpike::proxy::' in sym: return 'proxy'
    if 'turnpike::sip::' in sym: return 'sip framer'
    if 'turnpike::tls::' in sym: return 'tls::Session'
    if 'libc.so' in sym and ('memmove' in sym or 'memcpy' in sym): return 'libc memmove'
    if 'libc.so' in sym and 'memchr' in sym: return 'libc memchr'
    if 'libc.so' in sym: return 'libc other'
    if 'mimalloc' in sym or 'mi_' in sym.split('(')[0]: return 'malloc'
    if 'rte_' in sym or 'dpdk' in sym or 'mempool' in sym: return 'dpdk (mbufs, ring PMD)'
    if 'AES' in sym or 'Aes' in sym or 'GCM' in sym or 'ghash' in sym.lower(): return 'AES-GCM'
    if 'kernel' in sym: return 'kernel'
    if 'bench_ring_sip' in sym: return 'wolfSSL record layer'
    return 'other'
mods = collections.Counter()
for sym, n in hist.items(): mods[module(sym)] += n
for m, n in mods.most_common(): print(f"{100.0 * n / total:6.2f}%  [{m}]")
for sym, n in hist.most_common(60):
    print(f"{100.0 * n / total:6.2f}%  {sym}")
PY
