#!/usr/bin/env python3
"""Markdown tables from compare.sh's per-run JSON (turnpike-loadgen --json with
sample.py counters at the start and end of each measured window).
usage: report.py RESULTS_DIR VERSIONS_FILE "PROXIES" "MODES"
"""
import json
import os
import sys

res_dir, versions, proxies, modes = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()

REF = {"handshake": "870", "resume": "660", "mtls": "2,340", "reqresp100": "23", "reqresp2000": "35", "idle": "~21"}
TARGET = {"handshake": "<= 130", "resume": "<= 90", "mtls": "<= 200", "reqresp2000": "<= 2", "idle": "<= 6"}  # issue 12
TITLE = {"handshake": "full handshake, us", "resume": "resumed, us", "mtls": "mTLS full, us",
         "reqresp100": "req+resp @100, us", "reqresp2000": "req+resp @2000, us", "idle": "idle conn, KiB"}


def load(p, m):
    f = os.path.join(res_dir, f"{p}-{m}.json")
    if not os.path.exists(f):
        return None
    with open(f) as fh:
        r = json.load(fh)
    try:
        r["s0"] = json.loads(r["sample_start"]) if r["sample_start"] else {}
        r["s1"] = json.loads(r["sample_end"]) if r["sample_end"] else {}
    except json.JSONDecodeError:
        r["s0"], r["s1"] = {}, {}
    return r


def worker_names(t1):
    return [n for n in t1 if "worker" in n]


def on_cpu_fraction(r):
    """Share of the worker's runnable time it actually ran: busy_cycles are
    TSC (wall) time, so a worker preempted by other work on its core would
    otherwise be charged for that work."""
    t0, t1 = r["s0"].get("threads"), r["s1"].get("threads")
    if not t0 or not t1:
        return None
    names = worker_names(t1)
    run = sum(t1[n][2] - t0.get(n, (0, 0, 0, 0))[2] for n in names if len(t1[n]) > 3)
    wait = sum(t1[n][3] - t0.get(n, (0, 0, 0, 0))[3] for n in names if len(t1[n]) > 3)
    return run / (run + wait) if run + wait > 0 else None


def cpu_us(r, corrected=True):
    s0, s1 = r["s0"], r["s1"]
    if not s0 or not s1 or not r["ops"]:
        return None
    if "busy_cycles" in s0 and s0.get("tsc_hz"):
        v = (s1["busy_cycles"] - s0["busy_cycles"]) / s0["tsc_hz"] / r["ops"] * 1e6
        f = on_cpu_fraction(r) if corrected else None
        return v * f if f else v
    return (s1["ticks"] - s0["ticks"]) / s0["hz"] / r["ops"] * 1e6


def mem_key(s0, s1):
    """The memory counter both samples have: anonymous + shared-memory PSS
    (file pages excluded), else PSS, else RSS."""
    for k in ("mem_kb", "pss_kb"):
        if k in s0 and k in s1:
            return k
    return "rss_kb"


def figure(r, m):
    if r is None:
        return "-"
    if m == "idle":
        s0, s1 = r["s0"], r["s1"]
        if not s0 or not s1:
            return "?"
        k = mem_key(s0, s1)
        return f"{(s1[k] - s0[k]) / r['conns']:.1f}"
    v = cpu_us(r)
    if v is None:
        return "?"
    txt = f"{v:.1f}" if v < 100 else f"{v:.0f}"
    if m == "resume":
        hs = r["handshakes_full"] + r["handshakes_resumed"]
        txt += f" ({100 * r['handshakes_resumed'] / hs:.0f}% resumed)" if hs else ""
    if r["errors_total"]:
        txt += f" [{r['errors_total']} err]"
    return txt


out = []
out.append("Busy proxy CPU per operation (us) and memory (PSS of anonymous and shared memory) per idle TLS "
           "connection with CRLF keep-alives (KiB); "
           "TLS 1.3, ECDSA P-256 cert, P-256 key exchange, AES-128-GCM, proxy on one core.\n")
out.append("| proxy | " + " | ".join(TITLE[m] for m in modes) + " |")
out.append("|---|" + "---|" * len(modes))
for p in proxies:
    rows = [load(p, m) for m in modes]
    if all(r is None for r in rows):
        continue
    out.append(f"| {p} | " + " | ".join(figure(r, m) for r, m in zip(rows, modes)) + " |")
out.append("| reference (HAProxy/nginx/hitch) | " + " | ".join(REF.get(m, "") for m in modes) + " |")
out.append("| turnpike target | " + " | ".join(TARGET.get(m, "") for m in modes) + " |")


def value(r, m):
    """The table's figure as a number (None when unknown)."""
    if r is None:
        return None
    if m == "idle":
        s0, s1 = r["s0"], r["s1"]
        if not s0 or not s1 or not r.get("conns"):
            return None
        k = mem_key(s0, s1)
        return (s1[k] - s0[k]) / r["conns"]
    return cpu_us(r)


# Every peer against turnpike from the same run: > 1 means the peer spends
# more CPU (or memory) per operation than turnpike.
tp_vals = {m: value(load("turnpike", m), m) for m in modes}
if any(v for v in tp_vals.values()) and len(proxies) > 1:
    out.append("\nRatio to turnpike (peer's figure / turnpike's; same run):\n")
    out.append("| proxy | " + " | ".join(TITLE[m] for m in modes) + " |")
    out.append("|---|" + "---|" * len(modes))
    for p in proxies:
        if p == "turnpike":
            continue
        rows = [load(p, m) for m in modes]
        if all(r is None for r in rows):
            continue
        cells = []
        for r, m in zip(rows, modes):
            v, t = value(r, m), tp_vals[m]
            cells.append(f"{v / t:.2f}x" if v is not None and t else "-")
        out.append(f"| {p} | " + " | ".join(cells) + " |")

busy_modes = [m for m in modes if m != "idle"]
if busy_modes:
    out.append("\nLoad achieved (ops/s; latency p50/p99 in us; errors):\n")
    out.append("| proxy | " + " | ".join(busy_modes) + " |")
    out.append("|---|" + "---|" * len(busy_modes))
for p in proxies if busy_modes else []:
    cells = []
    any_r = False
    for m in modes:
        if m == "idle":
            continue
        r = load(p, m)
        if r is None:
            cells.append("-")
            continue
        any_r = True
        cells.append(f"{r['rate']:.0f}/s, {r['latency_us']['p50']:.0f}/{r['latency_us']['p99']:.0f}"
                     + (f", {r['errors_total']} err" if r["errors_total"] else ""))
    if any_r:
        out.append(f"| {p} | " + " | ".join(cells) + " |")

# The idle connections' keep-alives (RFC 5626 CRLF pings; the backend or
# the proxy answers them) and when all were open.
icells = []
for p in proxies:
    r = load(p, "idle") if "idle" in modes else None
    if r and "keepalive_pings" in r:
        icells.append(f"{p}: pongs {r['keepalive_pongs']}/{r['keepalive_pings']} pings, all open after "
                      f"{float(r.get('idle_open_s', -1)):.1f} s" + (f", {r['errors_total']} err" if r["errors_total"] else ""))
if icells:
    out.append("\nIdle connections (keep-alive pongs/pings; opening time):\n- " + "\n- ".join(icells))

# Time turnpike's worker spent in the kernel: af_packet TX syscalls, which on
# veth also run the receiving namespace's TCP/IP input for every frame sent.
kcells = []
for m in modes:
    r = load("turnpike", m)
    if not r or m == "idle" or not r["ops"] or "threads" not in r["s0"] or "threads" not in r["s1"]:
        continue
    t0, t1 = r["s0"]["threads"], r["s1"]["threads"]
    names = worker_names(t1)
    sys_ticks = sum(t1[n][1] - t0.get(n, (0, 0))[1] for n in names)
    usr_ticks = sum(t1[n][0] - t0.get(n, (0, 0))[0] for n in names)
    hz = r["s0"]["hz"]
    f = on_cpu_fraction(r)
    share = f"{100 * f:.0f}%" if f else "n/a"
    kcells.append(f"{m}: busy {cpu_us(r, False):.1f} us/op wall-clock, on CPU {share} of its runnable time; "
                  f"utime+stime {(usr_ticks + sys_ticks) / hz / r['ops'] * 1e6:.1f} us/op incl. idle polling "
                  f"(an upper bound), of which stime {sys_ticks / hz / r['ops'] * 1e6:.1f}")
if kcells:
    out.append("\nturnpike worker thread: the table's figure is busy TSC time x on-CPU share; "
               "stime = af_packet TX syscalls (incl. the veth receiver's TCP/IP input):\n- " + "\n- ".join(kcells))

tp = load("turnpike", "idle")
if tp and tp["s0"] and tp["s1"]:
    s0, s1 = tp["s0"], tp["s1"]
    out.append(f"\nturnpike idle: TCP connections {s0.get('tcp_connections')} -> {s1.get('tcp_connections')}, "
               f"TCP buffer chunks in use {s0.get('buffer_chunks_in_use')} -> {s1.get('buffer_chunks_in_use')}, "
               f"RSS {s0['rss_kb']} -> {s1['rss_kb']} KiB, anonymous+shared PSS {s0.get('mem_kb')} -> {s1.get('mem_kb')} KiB")
tr = load("turnpike", "resume")
if tr and tr["s1"].get("sip"):
    out.append(f"turnpike /turnpike/sip resumed counter at end of resume run: {tr['s1']['sip'].get('resumed')}")

with open(versions) as fh:
    out.append("\nVersions: " + "; ".join(line.strip() for line in fh if line.strip()))
print("\n".join(out))
