#!/usr/bin/env python3
"""Keeps the tree's shape as docs/architecture.md describes it.

usage: check_layout.py SOURCE_DIR

Checks, printing one "ok"/"FAIL" line each (exit 1 if any failed):
- the libraries under dataplane/ and control/ (their target_link_libraries)
  form no cycle, and the "Library dependency order" table of
  docs/architecture.md lists exactly the levels computed from them;
- no data-plane library but app links the config library;
- every source of a library under dataplane/ has its header at the same
  path under include/turnpike/ (dataplane/tls/session.cpp ->
  include/turnpike/tls/session.hpp), or, as one part of a split
  implementation, includes a header of its own module;
- no comment or document cites the design documents outside the repository
  (../shared/docs).
On a mismatch it prints the table as computed, ready to paste.
"""
import os
import re
import subprocess
import sys

root = sys.argv[1]
fails = 0


def check(what, ok, detail=""):
    global fails
    print(("ok   - " if ok else "FAIL - ") + what + (("\n" + detail) if detail and not ok else ""))
    if not ok:
        fails += 1


def tracked(pattern):
    r = subprocess.run(["git", "-C", root, "ls-files", pattern], capture_output=True, text=True)
    if r.returncode == 0 and r.stdout:
        return r.stdout.split()
    # Not a git checkout (a source tarball): walk the tree.
    out = []
    for d, dirs, fs in os.walk(root):
        dirs[:] = [x for x in dirs if x not in (".git", ".deps", "build") and not x.startswith("build")]
        for f in fs:
            rel = os.path.relpath(os.path.join(d, f), root)
            if re.fullmatch(pattern.replace(".", r"\.").replace("*", ".*"), rel):
                out.append(rel)
    return out


# Libraries: name -> {dir, sources, deps}.
libs = {}
for f in tracked("*CMakeLists.txt"):
    if not f.startswith(("dataplane/", "control/")):
        continue
    text = re.sub(r"#.*", "", open(os.path.join(root, f)).read())
    d = os.path.dirname(f)
    for m in re.finditer(r"add_library\((turnpike_\w+) STATIC (?!IMPORTED)([^)]*)\)", text):
        libs[m.group(1)[9:]] = {"dir": d, "src": m.group(2).split(), "deps": set()}
    for m in re.finditer(r"turnpike_control_lib\((\w+) ([^)]*)\)", text):
        libs[m.group(1)] = {"dir": d, "src": m.group(2).split(), "deps": set()}
    for m in re.finditer(r"target_link_libraries\(turnpike_(\w+)\s+([^)]*)\)", text, re.S):
        if m.group(1) in libs:
            for x in m.group(2).split():
                x = x.replace("turnpike::", "turnpike_")
                if x.startswith("turnpike_"):
                    libs[m.group(1)]["deps"].add(x[9:])
for v in libs.values():
    v["deps"] &= set(libs)  # wolfssl, dpdk: imported, not ours
check("found the libraries (%d)" % len(libs), len(libs) >= 20)

level, cycle = {}, []


def lv(n, stack=()):
    if n in level:
        return level[n]
    if n in stack:
        cycle.append(" -> ".join(stack + (n,)))
        return 0
    level[n] = 1 + max([lv(d, stack + (n,)) for d in libs[n]["deps"]], default=-1)
    return level[n]


for n in sorted(libs):
    lv(n)
check("no library depends on itself through others", not cycle, "\n".join(cycle))

computed = {}
for n, l in level.items():
    computed.setdefault(l, set()).add(n)

doc = open(os.path.join(root, "docs/architecture.md")).read()
documented = {}
sec = doc.split("## Library dependency order", 1)[-1].split("\n## ", 1)[0]
for m in re.finditer(r"^\| (\d+) \| (.*) \|$", sec, re.M):
    documented[int(m.group(1))] = set(re.findall(r"`(\w+)`", m.group(2)))
want_rows = "\n".join(
    "| %d | %s |" % (l, " · ".join("`%s` (%s)" % (n, ", ".join(sorted(libs[n]["deps"]))) if libs[n]["deps"] else "`%s`" % n
                                  for n in sorted(computed[l])))
    for l in sorted(computed))
check("docs/architecture.md lists the levels computed from the CMake links", documented == computed,
      "computed:\n" + want_rows)

check("only app links the config library",
      [n for n, v in libs.items() if "config" in v["deps"] and n != "app"] == [])

# Sources and headers pair by path. A source without a header of its own
# is one part of a split implementation (tcp/sack.cpp of tcp::Stack) and
# must then include a header of its own module. app/ (the daemon) keeps
# private headers beside its sources.
missing = []
for n, v in libs.items():
    if not v["dir"].startswith("dataplane/") or v["dir"] == "dataplane/app":
        continue
    mod = v["dir"][len("dataplane/"):]
    for s in v["src"]:
        src = v["dir"] + "/" + s
        hdr = "include/turnpike/%s/%s.hpp" % (mod, os.path.splitext(s)[0])
        if os.path.exists(os.path.join(root, hdr)):
            continue
        text = open(os.path.join(root, src)).read()
        if not re.search(r'#include "turnpike/%s/\w+\.hpp"' % re.escape(mod), text):
            missing.append("%s (no %s, and no header of %s/ included)" % (src, hdr, mod))
check("every data-plane source pairs with a header of its module", not missing, "\n".join(missing))

outside = []
for f in tracked("*"):
    if not f.endswith((".cpp", ".hpp", ".md", ".sh", ".py", ".txt")) or f == "tests/layout/check_layout.py":
        continue
    try:
        text = open(os.path.join(root, f), errors="ignore").read()
    except OSError:
        continue
    if "shared/docs" in text:
        outside.append(f)
check("no file cites design documents outside the repository", not outside, "\n".join(outside))

sys.exit(1 if fails else 0)
