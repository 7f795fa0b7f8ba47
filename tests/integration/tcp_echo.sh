#!/usr/bin/env bash
# Linux clients against turnpike's user-space TCP echo service (2 workers):
# first over a clean link, then 200 concurrent connections, 50 MiB each way,
# through the impairment relay (loss 2%, delay 5 ms +- 2 ms, reordering 5%,
# duplication 1%). Every byte is checked by SHA-256, every connection must
# close cleanly, and no connection object may be left afterwards.
# usage: tcp_echo.sh TURNPIKE_BINARY TP_IMPAIR_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
relay=$2
rig_init "${3:-14}"
rig_up_impaired "$relay" "--loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1 --seed 11" || exit 1
rig_start_turnpike "$bin" 2 --set 'services.echo_ports=[7]' --set 'services.discard_ports=[9]' || exit 1

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

res=$(peer ulimit -n 4096 2>/dev/null; peer python3 "$here/tcp_clients.py" "$TP_IP" 7 --conns 200 --bytes 262144 --timeout 120 --seed 5)
echo "impaired: $res"
ok=$(json_get "$res" 'd["ok"]')
check "200 connections x 256 KiB echoed byte-exact through the impaired link (ok=$ok)" test "$ok" = 200
check "no corrupted or missing bytes" test "$(json_get "$res" 'd["mismatch"] + d["bad_bytes"]')" = 0
check "no connection errors" test "$(json_get "$res" 'len(d["errors"]) + len(d["connect_errors"])')" = 0
stats=$(impair_stats)
echo "relay: $stats"
for k in dropped reordered duplicated delayed; do
  n=$(json_get "$stats" "d['left_to_right']['$k'] + d['right_to_left']['$k']")
  check "relay really $k frames ($n)" test "$n" -gt 0
done
tcp=$(tp_telemetry /turnpike/tcp)
echo "tcp: $tcp"
check "turnpike retransmitted (recovery exercised): $(json_get "$tcp" 'd["/turnpike/tcp"]["retransmits"]')" \
  test "$(json_get "$tcp" 'd["/turnpike/tcp"]["retransmits"]')" -gt 0
check "out-of-order segments were reassembled: $(json_get "$tcp" 'd["/turnpike/tcp"]["rx_ooo_segments"]')" \
  test "$(json_get "$tcp" 'd["/turnpike/tcp"]["rx_ooo_segments"]')" -gt 0
check "all 200 accepted" test "$(json_get "$tcp" 'd["/turnpike/tcp"]["accepted"]')" -ge 200
# Late duplicates of final ACKs reach connections already closed: RST and
# rx_no_conn, never a "bad SYN cookie" when no cookie was sent.
check "no SYN cookie sent, none counted bad (rx_no_conn $(json_get "$tcp" 'd["/turnpike/tcp"]["rx_no_conn"]'))" \
  test "$(json_get "$tcp" 'd["/turnpike/tcp"]["syn_cookies_sent"] + d["/turnpike/tcp"]["syn_cookies_bad"]')" = 0
check "no connection objects left" wait_no_connections
check "no buffer chunks left" test "$(tcp_field buffer_chunks_in_use)" = 0

# Discard service: bytes vanish, the connection still closes cleanly.
d=$(peer python3 -c "
import socket, sys
c = socket.create_connection(('$TP_IP', 9), timeout=20)
c.sendall(b'x' * 300000); c.shutdown(socket.SHUT_WR)
print('eof' if c.recv(10) == b'' else 'data')")
check "discard service swallows and closes ($d)" test "$d" = eof
tp_stop TERM
check "clean exit" test $? -eq 0
finish
