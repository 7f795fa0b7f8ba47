#!/usr/bin/env bash
# turnpike under the system-call sandbox of deploy/turnpike.service
# (SystemCallFilter=, MemoryDenyWriteExecute=, NoNewPrivileges=), applied by
# unit_sandbox.py the way systemd applies it (this box has no systemd as
# PID 1, so no systemd-run): --check-config, then a namespace rig through
# DPDK (EAL, mempools, af_packet; af_xdp with bpf() when it works here) with
# ARP, ping, the TCP echo service, a mutual-TLS SIP OPTIONS through wolfSSL
# to a backend, telemetry and a clean SIGTERM stop. A call outside the filter
# kills turnpike with SIGSYS; a write+execute mapping fails. Both fail here.
# usage: sandbox.sh SOURCE_DIR TURNPIKE_BINARY RIG_ID
src=$1
bin=$2
here="$src/tests/integration"
source "$src/tests/rig/rig.sh"
source "$here/lib.sh"
rig_init "${3:-222}"
unit="$src/deploy/turnpike.service"
sandbox="$src/tests/deploy/unit_sandbox.py"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing"; exit 77; }
grep -q '^SystemCallFilter=' "$unit" || { echo "FAIL - the unit has no SystemCallFilter="; exit 1; }
grep -qx 'MemoryDenyWriteExecute=yes' "$unit" || { echo "FAIL - the unit has no MemoryDenyWriteExecute=yes"; exit 1; }

# The filter is real: a call outside it (swapon, @swap) kills with SIGSYS,
# and an anonymous write+execute mapping is refused.
python3 "$sandbox" "$unit" -- python3 -c 'import ctypes; ctypes.CDLL(None).swapon(b"/nonexistent", 0)'
check "a system call outside the filter kills the process with SIGSYS (status $?)" test $? -eq $((128 + 31))
python3 "$sandbox" "$unit" -- python3 -c '
import mmap, sys
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    sys.exit(3)'
check "a writable and executable mapping is refused (status $?)" test $? -eq 3

out=$(python3 "$sandbox" "$unit" -- "$bin" --check-config --device net_null0 --ipv4 "198.18.$RIG_ID.1/24" 2>&1)
check "--check-config under the sandbox (status $?)" test $? -eq 0
echo "$out" | tail -1

BACKEND_PID=""
setup_rig() {  # namespaces, PKI and stores, the SIP backend, the sandboxed daemon's wrapper
  trap 'kill $BACKEND_PID 2>/dev/null; rig_down' EXIT  # again after each rig_init
  rig_up
  rig_pki_stores "$src/tests/control/pki/make-pki.sh"
  ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
  BACKEND_PID=$!
  wrap="$RIG_TMP/turnpike-sandboxed"
  printf '#!/bin/sh\nexec python3 %s %s -- %s "$@"\n' "$sandbox" "$unit" "$bin" >"$wrap"
  chmod +x "$wrap"
}

run_demo() {  # run_demo LABEL: the sandboxed daemon on the rig's current port
  local what=$1
  rig_start_turnpike "$wrap" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
    --set 'services.echo_ports=[7]' || { check "$what: turnpike started under the sandbox" false; return; }
  check "$what: turnpike runs with the seccomp filters (mode 2)" grep -q '^Seccomp:[[:space:]]*2' "/proc/$TP_PID/status"
  check "$what: ping answered" peer ping -c 3 -i 0.2 -W 2 -q "$TP_IP"
  local res
  res=$(peer python3 "$here/tcp_clients.py" "$TP_IP" 7 --conns 8 --bytes 65536 --timeout 20 --seed 2)
  check "$what: TCP echo, 8 connections byte-exact" test "$(json_get "$res" 'd["ok"]')" = 8
  res=$(printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-1\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 6 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
      -key "$pki/client.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1)
  check "$what: mutual TLS (wolfSSL) SIP OPTIONS answered 200 by the backend" grep -q "SIP/2.0 200 OK" <<<"$res"
  check "$what: telemetry answers" test -n "$(tp_telemetry /turnpike/stats)"
  tp_stop TERM
  local rc=$?
  check "$what: clean exit under the sandbox (status $rc; 159 = SIGSYS)" test "$rc" -eq 0
  [ "$rc" -eq 0 ] || tail -5 "$TP_LOG"
}
setup_rig
run_demo af_packet

# net_af_xdp loads its XDP program with bpf(); where AF_XDP on veth does not
# work even unsandboxed, that half is skipped.
kill $BACKEND_PID 2>/dev/null
rig_down
rig_init "${3:-222}"
export RIG_PORT=af_xdp
setup_rig
if rig_start_turnpike "$bin" 2 >/dev/null 2>&1; then
  tp_stop TERM >/dev/null
  run_demo af_xdp
else
  echo "af_xdp not usable here (unsandboxed start failed): skipped"
fi
finish
