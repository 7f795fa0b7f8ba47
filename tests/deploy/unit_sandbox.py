#!/usr/bin/env python3
"""Runs a command under the system-call sandbox of a systemd unit, the way
systemd 252 applies it, for machines where systemd is not PID 1 (containers,
CI): SystemCallFilter= (an allow list expanded from the same group tables,
`systemd-analyze syscall-filter`, plus the calls systemd always allows; any
other call kills the process with SIGSYS, as systemd's default action does)
and MemoryDenyWriteExecute= (mmap of memory both writable and executable,
mprotect/pkey_mprotect adding PROT_EXEC and shmat with SHM_EXEC fail with
EPERM), after NoNewPrivileges. libseccomp through ctypes: no module needed.

usage: unit_sandbox.py UNIT_FILE [--list] -- COMMAND [ARGS...]
  --list   print the allowed system calls and exit
"""
import ctypes
import ctypes.util
import os
import subprocess
import sys

# systemd.exec(5): "execve, exit, exit_group, getrlimit, rt_sigreturn,
# sigreturn and the system calls for querying time and sleeping are
# implicitly allow-listed".
IMPLICIT = ["execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn", "clock_getres",
            "clock_gettime", "clock_nanosleep", "gettimeofday", "nanosleep", "time"]

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
PR_SET_NO_NEW_PRIVS = 38


def act_errno(e):
    return 0x00050000 | (e & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def unit_settings(path):
    filters, mdwe = [], False
    for line in open(path):
        line = line.strip()
        if line.startswith("SystemCallFilter="):
            v = line.split("=", 1)[1]
            if v.startswith("~"):
                sys.exit(f"{path}: deny lists (~) are not modelled here: {line}")
            filters += v.split()
        elif line.startswith("MemoryDenyWriteExecute="):
            mdwe = line.split("=", 1)[1].strip() in ("yes", "true", "1", "on")
    return filters, mdwe


def expand(names, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if not n.startswith("@"):
            out.add(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        text = subprocess.run(["systemd-analyze", "syscall-filter", n], capture_output=True, text=True,
                              check=True).stdout
        members = [l.strip() for l in text.splitlines()[1:] if l.strip() and not l.strip().startswith("#")]
        out |= expand(members, seen)
    return out


def main():
    argv = sys.argv[1:]
    if len(argv) < 2:
        sys.exit(__doc__)
    unit, rest = argv[0], argv[1:]
    listing = "--list" in rest[:1]
    cmd = rest[rest.index("--") + 1:] if "--" in rest else []
    filters, mdwe = unit_settings(unit)
    if not filters:
        sys.exit(f"{unit}: no SystemCallFilter=")
    allowed = sorted(expand(filters) | set(IMPLICIT))
    if listing:
        print("\n".join(allowed))
        return
    if not cmd:
        sys.exit("no command")

    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_NO_NEW_PRIVS) failed")

    def rule(ctx, action, name, cmp=None):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a call of this architecture (e.g. mmap2 on x86-64)
            return
        arr = (ArgCmp * 1)(cmp) if cmp else None
        rc = lib.seccomp_rule_add_array(ctx, action, nr, 1 if cmp else 0, arr)
        if rc != 0:
            sys.exit(f"seccomp_rule_add {name}: {rc}")

    if mdwe:  # systemd's seccomp_memory_deny_write_execute()
        ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
        eperm = act_errno(1)
        for n in ("mmap", "mmap2"):
            rule(ctx, eperm, n, ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE))
        for n in ("mprotect", "pkey_mprotect"):
            rule(ctx, eperm, n, ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        rule(ctx, eperm, "shmat", ArgCmp(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
        if lib.seccomp_load(ctx) != 0:
            sys.exit("seccomp_load (MemoryDenyWriteExecute) failed")
    ctx = lib.seccomp_init(SCMP_ACT_KILL_PROCESS)
    for n in allowed:
        rule(ctx, SCMP_ACT_ALLOW, n)
    if lib.seccomp_load(ctx) != 0:
        sys.exit("seccomp_load (SystemCallFilter) failed")
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
