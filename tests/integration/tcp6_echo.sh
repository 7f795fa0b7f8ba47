#!/usr/bin/env bash
# TCP over IPv6 end to end (issue 13 item 4): Linux clients against
# turnpike's echo service listening on [::] (2 workers), first one
# connection over IPv6 and one over IPv4 on the same dual-stack listener
# (the kernel sees MSS 1440 less its timestamp option), then 200 concurrent
# IPv6 connections x 256 KiB through the impairment relay (loss 2%, delay
# 5 ms +- 2 ms, reordering 5%, duplication 1%). Every byte is checked by
# SHA-256, every connection closes cleanly and none is left afterwards.
# usage: tcp6_echo.sh TURNPIKE_BINARY TP_IMPAIR_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
relay=$2
rig_init "${3:-205}"
rig_up_impaired "$relay" "--loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1 --seed 11" || exit 1
# Documentation prefix (RFC 3849), inside the namespaces only.
NET6="2001:db8:${RIG_ID}"
TP6="$NET6::1"
PEER6="$NET6::2"
# No router solicitations and no DAD wait on the kernel side: only the
# test's traffic crosses the relay, the address is usable at once.
peer sysctl -qw "net.ipv6.conf.$IF_PEER.accept_dad=0" "net.ipv6.conf.$IF_PEER.accept_ra=0" \
  "net.ipv6.conf.$IF_PEER.router_solicitations=0"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad
rig_start_turnpike "$bin" 2 --set "ports.0.ipv6=$TP6/64" --set 'services.echo_ports=[7]' \
  --set 'services.discard_ports=[9]' || exit 1
# RFC 4862: turnpike's DAD probe, then RetransTimer (1 s) until usable.
sleep 1.5

tcp_field() { json_get "$(tp_telemetry /turnpike/tcp)" "d['/turnpike/tcp']['$1']"; }
wait_no_connections() {
  local i n
  for i in $(seq 1 100); do
    n=$(tcp_field connections)
    [ "$n" = 0 ] && return 0
    sleep 0.2
  done
  echo "connections still open: $n"
  return 1
}

# One connection per family on the same [::]:7 listener; the kernel's MSS
# for the IPv6 one is what turnpike advertised (1440) less 12 option bytes.
one=$(peer timeout 60 python3 - "$TP6" "$TP_IP" <<'PY'
import os, socket, sys
out = []
for host, fam in ((sys.argv[1], socket.AF_INET6), (sys.argv[2], socket.AF_INET)):
    for attempt in range(50):  # a lost SYN is retried by the kernel; DAD may still run
        try:
            c = socket.create_connection((host, 7), timeout=20)
            break
        except OSError:
            pass
    else:
        sys.exit(f"no connection to {host}")
    assert c.family == fam
    mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    data = os.urandom(100000)
    c.sendall(data); c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = c.recv(65536)
        if not b: break
        got += b
    out.append(f"{'v6' if fam == socket.AF_INET6 else 'v4'}:{mss}:{'ok' if got == data else 'bad'}")
print(" ".join(out))
PY
)
echo "single: $one"
v6mss=$(sed -nE 's/.*v6:([0-9]+):.*/\1/p' <<<"$one")
check "IPv6 echo byte-exact on [::]:7 ($one)" grep -q "v6:[0-9]*:ok" <<<"$one"
check "IPv4 echo byte-exact on the same dual-stack listener" grep -q "v4:[0-9]*:ok" <<<"$one"
check "kernel MSS over IPv6 is 1440 less the timestamp option (${v6mss:-none})" test "${v6mss:-0}" = 1428

res=$(peer ulimit -n 4096 2>/dev/null; peer python3 "$here/tcp_clients.py" "$TP6" 7 --conns 200 --bytes 262144 --timeout 120 --seed 5)
echo "impaired: $res"
ok=$(json_get "$res" 'd["ok"]')
check "200 IPv6 connections x 256 KiB echoed byte-exact through the impaired link (ok=$ok)" test "$ok" = 200
check "no corrupted or missing bytes" test "$(json_get "$res" 'd["mismatch"] + d["bad_bytes"]')" = 0
check "no connection errors" test "$(json_get "$res" 'len(d["errors"]) + len(d["connect_errors"])')" = 0
stats=$(impair_stats)
echo "relay: $stats"
for k in dropped reordered duplicated delayed; do
  n=$(json_get "$stats" "d['left_to_right']['ipv6']['$k'] + d['right_to_left']['ipv6']['$k']")
  check "relay really $k IPv6 frames ($n)" test "$n" -gt 0
done
tcp=$(tp_telemetry /turnpike/tcp)
echo "tcp: $tcp"
t() { json_get "$tcp" "d['/turnpike/tcp']['$1']"; }
check "IPv6 segments reached the stack ($(t rx_tcp6))" test "$(t rx_tcp6)" -gt 20000
check "turnpike retransmitted (recovery exercised): $(t retransmits)" test "$(t retransmits)" -gt 0
check "out-of-order segments were reassembled: $(t rx_ooo_segments)" test "$(t rx_ooo_segments)" -gt 0
check "no bad checksums (IPv6 pseudo header): $(t rx_bad_checksum)" test "$(t rx_bad_checksum)" = 0
check "all 202 accepted" test "$(t accepted)" -ge 202
check "no SYN cookie sent, none counted bad (late ACKs: rx_no_conn $(t rx_no_conn))" \
  test "$(t syn_cookies_sent)/$(t syn_cookies_bad)" = 0/0
check "no segment without a port to send from ($(t tx_no_port))" test "$(t tx_no_port)" = 0
check "no connection objects left" wait_no_connections
check "no buffer chunks left" test "$(tcp_field buffer_chunks_in_use)" = 0

# Discard service over IPv6: bytes vanish, the connection closes cleanly.
d=$(peer python3 -c "
import socket, sys
c = socket.create_connection(('$TP6', 9), timeout=20)
c.sendall(b'x' * 300000); c.shutdown(socket.SHUT_WR)
print('eof' if c.recv(10) == b'' else 'data')")
check "discard service over IPv6 swallows and closes ($d)" test "$d" = eof
tp_stop TERM
check "clean exit" test $? -eq 0
finish
