#!/usr/bin/env bash
# The impairment relay over IPv6, kernel to kernel (no turnpike; issue 13
# item 4): Neighbor Discovery and ping -6 through 10% loss and 5 ms delay
# with the relay's IPv6 counters matching what ping saw, then a TCP transfer
# over IPv6 through loss, delay, jitter, reordering, duplication and
# corruption stays byte-exact, every impairment counted on IPv6 frames.
# usage: impair_relay6.sh TP_IMPAIR_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
relay=$1
rig_init "${2:-210}"
TP_LOG=/dev/null
rig_up_impaired "$relay" "--loss 10 --delay 5 --jitter 2 --seed 3" || exit 1
# Documentation prefix (RFC 3849), inside the namespaces only. rig_up_impaired
# leaves IPv6 off on both ends; here the "dp" end is a kernel too.
NET6="2001:db8:${RIG_ID}"
DP6="$NET6::1"
PEER6="$NET6::2"
dp() { ip netns exec "$NS_DP" "$@"; }
for end in "dp $IF_DP" "peer $IF_PEER"; do
  set -- $end
  # No DAD (the link-local address would be tentative for a second), no
  # router solicitations: only the test's own traffic crosses the relay.
  "$1" sysctl -qw "net.ipv6.conf.$2.accept_dad=0" "net.ipv6.conf.$2.accept_ra=0" \
    "net.ipv6.conf.$2.router_solicitations=0"
  "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=0"
done
dp ip -6 addr add "$DP6/64" dev "$IF_DP" nodad
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad

v6() { json_get "$1" "d['left_to_right']['ipv6']['$2'] + d['right_to_left']['ipv6']['$2']"; }
all() { json_get "$1" "d['left_to_right']['$2'] + d['right_to_left']['$2']"; }
before=$(impair_stats)
out=$(peer ping -6 -c 300 -i 0.005 -W 1 -q "$DP6")
echo "$out" | tail -2
rcvd=$(grep -oE '[0-9]+ received' <<<"$out" | awk '{print $1}')
after=$(impair_stats)
echo "relay: $after"
dropped=$(( $(v6 "$after" dropped) - $(v6 "$before" dropped) ))
check "10% loss observed over IPv6 (received ${rcvd:-none} of 300)" test "${rcvd:-0}" -ge 225 -a "${rcvd:-0}" -le 285
# Each lost echo or reply costs one ping; lost NS/NA frames cost none or
# delay the first ones, hence the slack.
check "relay counted the IPv6 drops ($dropped) the pings saw ($((300 - rcvd)))" \
  test $((dropped - (300 - rcvd))) -ge 0 -a $((dropped - (300 - rcvd))) -le 8
check "every frame relayed was IPv6 ($(v6 "$after" received) of $(all "$after" received))" \
  test "$(v6 "$after" received)" -eq "$(all "$after" received)" -a "$(v6 "$after" received)" -ge 500
check "Neighbor Discovery through the relay (peer has $DP6)" \
  bash -c "ip netns exec $NS_PEER ip -6 neigh show $DP6 dev $IF_PEER | grep -q lladdr"
rtt=$(grep -oE 'rtt min/avg/max/mdev = [0-9.]+/[0-9.]+' <<<"$out" | awk -F/ '{print $5}')
check "delay applied both ways (avg rtt ${rtt:-none} ms >= 8)" \
  python3 -c "import sys; sys.exit(0 if float('${rtt:-0}') >= 8 else 1)"
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"; RELAY_PID=""

# Second run: everything at once, TCP over IPv6 through it.
ip netns exec "$NS_RELAY" "$relay" --left "$IF_RL" --right "$IF_RR" --stats "$RELAY_STATS" \
  --loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1 --corrupt 0.5 --seed 9 2>"$RIG_TMP/impair.log" &
RELAY_PID=$!
for i in $(seq 1 50); do grep -q ready "$RIG_TMP/impair.log" 2>/dev/null && break; sleep 0.1; done
dp timeout 90 python3 - "$DP6" <<'PY' &
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7000)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
c.sendall(f"{n} {h.hexdigest()}".encode()); c.close()
PY
srv=$!
res=$(peer timeout 90 python3 - "$DP6" <<'PY'
import hashlib, os, socket, sys, time
data = os.urandom(4 << 20)
for attempt in range(50):  # the server may still be starting (5 s at most)
    try:
        c = socket.create_connection((sys.argv[1], 7000), timeout=60)
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
else:
    sys.exit("no server")
assert c.family == socket.AF_INET6
c.sendall(data); c.shutdown(socket.SHUT_WR)
reply = b""
while True:
    b = c.recv(4096)
    if not b: break
    reply += b
n, digest = reply.decode().split()
print("ok" if int(n) == len(data) and digest == hashlib.sha256(data).hexdigest() else f"mismatch {n} {digest}")
PY
)
wait $srv
check "4 MiB TCP over IPv6 through the impaired link is byte-exact (${res:-no result})" test "$res" = ok
stats=$(impair_stats)
echo "relay: $stats"
for k in dropped duplicated reordered corrupted delayed; do
  n=$(v6 "$stats" "$k")
  check "relay did '$k' on IPv6 frames ($n times)" test "$n" -gt 0
done
check "IPv6 frames forwarded ($(v6 "$stats" forwarded)) > 3000 (4 MiB in 1440-byte segments)" \
  test "$(v6 "$stats" forwarded)" -gt 3000
finish
