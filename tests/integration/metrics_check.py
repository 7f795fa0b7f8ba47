#!/usr/bin/env python3
"""Checks a /metrics scrape against DPDK telemetry (issue 11 item 1).

usage: metrics_check.py SCRAPE TELEMETRY_BEFORE_DIR TELEMETRY_AFTER_DIR
Each telemetry dir holds <cmd>.json for sip, tcp, egress, relay, stats, drops,
workers, snapshot, taken just before and just after the scrape. Prints one
"ok"/"FAIL" line per check; exit status 1 if any failed.
"""
import json
import os
import re
import sys

scrape = open(sys.argv[1]).read()
before = {f[:-5]: json.load(open(os.path.join(sys.argv[2], f))) for f in os.listdir(sys.argv[2])}
after = {f[:-5]: json.load(open(os.path.join(sys.argv[3], f))) for f in os.listdir(sys.argv[3])}

helps, types, samples = {}, {}, {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
for line in scrape.splitlines():
    if line.startswith("# HELP "):
        name, _, text = line[7:].partition(" ")
        helps[name] = text
    elif line.startswith("# TYPE "):
        name, _, t = line[7:].partition(" ")
        types[name] = t
    elif line and not line.startswith("#"):
        m = line_re.match(line)
        if not m:
            print("FAIL - unparsable line: " + line)
            sys.exit(1)
        labels = dict(label_re.findall(m.group(3) or ""))
        samples.setdefault(m.group(1), []).append((labels, float(m.group(4))))

fails = 0


def check(what, ok):
    global fails
    print(("ok   - " if ok else "FAIL - ") + what)
    if not ok:
        fails += 1


def total(name, **want):
    return sum(v for l, v in samples.get(name, []) if all(l.get(k) == x for k, x in want.items()))


# Every family has HELP and TYPE; counters end in _total.
check("every family has HELP and TYPE", set(helps) == set(types) and all(helps.values()))
check("counters end in _total, gauges do not",
      all((t == "counter") == n.endswith("_total") for n, t in types.items()))

# Families whose HELP names a telemetry key: the scrape's sum lies between
# the telemetry values read just before and just after it.
mapped = {}
for name, text in helps.items():
    m = re.search(r'\(telemetry (/turnpike/\w+) (\w+)\)', text)
    if m and types[name] == "counter":
        mapped[(m.group(1).split("/")[-1], m.group(2))] = name
for cmd in ("sip", "tcp", "egress", "relay"):
    if cmd not in before:
        continue
    d0, d1 = before[cmd]["/turnpike/" + cmd], after[cmd]["/turnpike/" + cmd]
    compared = 0
    for key, v0 in d0.items():
        # Gauges (live levels) and per-worker backend counters are compared elsewhere.
        if not isinstance(v0, int) or key in ("connections", "half_open", "time_wait", "buffer_chunks_in_use"):
            continue
        name = mapped.get((cmd, key))
        if name is None:
            check("/turnpike/%s %s has a metric family" % (cmd, key), False)
            continue
        got = total(name)
        compared += 1
        if not v0 <= got <= d1[key] or key in ("handshakes_ok", "handshakes_failed", "accepted"):
            check("/turnpike/%s %s = %d..%d, %s = %d" % (cmd, key, v0, d1[key], name, got), v0 <= got <= d1[key])
    check("/turnpike/%s: %d counters found in the scrape" % (cmd, compared), compared > 0)

# Refusals by Detail: telemetry keys are the Detail with non-alphanumerics as _.
if "sip" in before:
    by0 = before["sip"]["/turnpike/sip"]["refused_by_detail"]
    by1 = after["sip"]["/turnpike/sip"]["refused_by_detail"]
    fam = "turnpike_tls_failed_handshakes_by_detail_total"
    per = {}
    for l, v in samples.get(fam, []):
        k = re.sub(r'[^A-Za-z0-9]', '_', l["detail"])
        per[k] = per.get(k, 0) + v
    for k, v0 in by0.items():
        check("refused_by_detail %s = %d..%d, %s = %d" % (k, v0, by1.get(k, v0), fam, per.get(k, 0)),
              v0 <= per.get(k, 0) <= by1.get(k, v0))

# Port counters and drops.
if "stats" in before:
    for port, d0 in before["stats"]["/turnpike/stats"].items():
        d1 = after["stats"]["/turnpike/stats"][port]
        for key in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "arp_requests_answered", "icmp_echo_replies"):
            got = total("turnpike_port_%s_total" % key, port=port)
            check("/turnpike/stats %s %s = %d..%d, metric %d" % (port, key, d0[key], d1[key], got),
                  d0[key] <= got <= d1[key])
        got = total("turnpike_port_lost_below_frames_total", port=port)
        check("/turnpike/stats %s lost_below_total matches" % port,
              d0["lost_below_total"] <= got <= d1["lost_below_total"])
if "drops" in before:
    bad = [k for k, v0 in before["drops"]["/turnpike/drops"].items()
           if not v0 <= total("turnpike_port_dropped_frames_total", reason=k) <= after["drops"]["/turnpike/drops"][k]]
    check("/turnpike/drops: every reason matches (%d reasons)" % len(before["drops"]["/turnpike/drops"]), not bad)
if "workers" in before:
    w0 = before["workers"]["/turnpike/workers"]
    for wk, d0 in w0.items():
        if not isinstance(d0, dict):
            continue
        idx = wk[len("worker"):]
        d1 = after["workers"]["/turnpike/workers"][wk]
        got = total("turnpike_worker_busy_iterations_total", worker=idx)
        check("/turnpike/workers %s busy_iterations matches" % wk,
              d0["busy_iterations"] <= got <= d1["busy_iterations"])
if "snapshot" in before:
    s = before["snapshot"]["/turnpike/snapshot"]
    check("snapshot generation %s = metric" % s.get("generation"),
          total("turnpike_snapshot_generation") == s.get("generation"))
sys.exit(1 if fails else 0)
