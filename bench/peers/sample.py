#!/usr/bin/env python3
"""Prints one JSON object with a proxy's CPU and memory counters, for
turnpike-loadgen --sample (run at the start and end of each measured window).

  sample.py kernel PID      PID and all its descendants: utime+stime ticks
                            (/proc/PID/stat, includes exited threads), VmRSS, PSS
                            and the PSS of anonymous and shared memory (mem_kb)
  sample.py turnpike PID PREFIX
                            DPDK telemetry /turnpike/workers (worker busy
                            cycles, tsc_hz), /turnpike/tcp, and VmRSS of PID
"""
import json
import os
import subprocess
import sys


def descendants(root):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat(5))
    rss = pss = mem = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        # PSS: pages shared by several processes (Kamailio's shm, nginx's
        # master/worker) are counted once in the sum. mem: the PSS of
        # anonymous and shared-memory pages (plus hugepages) only. File pages
        # (code, libraries) do not grow with connections, but their PSS
        # share changes whenever another process (the load generator, this
        # script) maps or touches the same library pages.
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k = line.split(":")[0]
                if k == "Pss":
                    pss = int(line.split()[1])
                elif k in ("Pss_Anon", "Pss_Shmem", "Private_Hugetlb", "Shared_Hugetlb"):
                    mem += int(line.split()[1])
    except OSError:
        pass
    return ticks, rss, pss, mem


def threads(pid):
    """utime/stime ticks and schedstat run/wait ns per thread name (DPDK names its lcores)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        try:
            # schedstat: ns on CPU, ns runnable but waiting (preempted)
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns = (int(x) for x in f.read().split()[:2])
        except (OSError, ValueError):
            run_ns = wait_ns = 0
        u, k, r, w = out.get(comm, (0, 0, 0, 0))
        out[comm] = (u + int(fields[11]), k + int(fields[12]), r + run_ns, w + wait_ns)
    return out


def telemetry(prefix, cmd):
    try:
        out = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input=cmd + "\n", capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    start = out.find("{")
    if start < 0:
        return {}
    depth = 0
    for i, ch in enumerate(out[start:], start):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            return json.loads(out[start:i + 1])
    return {}


def main():
    kind = sys.argv[1]
    pid = int(sys.argv[2])
    res = {"hz": os.sysconf("SC_CLK_TCK")}
    if kind == "kernel":
        ticks = rss = pss = mem = 0
        procs = descendants(pid)
        for p in procs:
            try:
                t, r, s, a = proc_cpu_rss(p)
            except OSError:
                continue
            ticks += t
            rss += r
            pss += s
            mem += a
        res.update(ticks=ticks, rss_kb=rss, pss_kb=pss, mem_kb=mem, procs=len(procs))
    else:
        prefix = sys.argv[3]
        t, r, ps, a = proc_cpu_rss(pid)
        w = telemetry(prefix, "/turnpike/workers").get("/turnpike/workers", {})
        tcp = telemetry(prefix, "/turnpike/tcp").get("/turnpike/tcp", {})
        sip = telemetry(prefix, "/turnpike/sip").get("/turnpike/sip", {})
        res.update(ticks=t, rss_kb=r, pss_kb=ps, mem_kb=a, tsc_hz=w.get("tsc_hz", 0),
                   busy_cycles=sum(v.get("busy_cycles", 0) for k, v in w.items() if k.startswith("worker")),
                   tcp_connections=tcp.get("connections", 0),
                   buffer_chunks_in_use=tcp.get("buffer_chunks_in_use", 0), sip=sip, threads=threads(pid))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
