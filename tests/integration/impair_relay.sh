#!/usr/bin/env bash
# The impairment relay itself, kernel to kernel (no turnpike): its counters
# match what the endpoints observe, and a TCP transfer through loss, delay,
# jitter, reordering, duplication and corruption stays byte-exact.
# usage: impair_relay.sh TP_IMPAIR_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
relay=$1
rig_init "${2:-13}"
TP_LOG=/dev/null
rig_up_impaired "$relay" "--loss 10 --delay 5 --jitter 2 --seed 3" || exit 1
# The "dp" end is a kernel here: give it the turnpike address.
ip -n "$NS_DP" addr add "$TP_IP/24" dev "$IF_DP"
dp() { ip netns exec "$NS_DP" "$@"; }

out=$(peer ping -c 300 -i 0.005 -W 1 -q "$TP_IP")
echo "$out" | tail -2
rcvd=$(grep -oE '[0-9]+ received' <<<"$out" | awk '{print $1}')
stats=$(impair_stats)
echo "relay: $stats"
dropped=$(json_get "$stats" 'd["left_to_right"]["dropped"] + d["right_to_left"]["dropped"]')
# Each lost echo or reply costs one ping: 300 - received ~= relay drops (ARP
# frames may be dropped too, hence the small slack).
check "10% loss observed (received $rcvd of 300)" test "$rcvd" -ge 225 -a "$rcvd" -le 285
check "relay counted the drops ($dropped) the pings saw ($((300 - rcvd)))" \
  test $((dropped - (300 - rcvd))) -ge 0 -a $((dropped - (300 - rcvd))) -le 6
rtt=$(grep -oE 'rtt min/avg/max/mdev = [0-9.]+/[0-9.]+' <<<"$out" | awk -F/ '{print $5}')
check "delay applied both ways (avg rtt $rtt ms >= 8)" python3 -c "import sys; sys.exit(0 if float('$rtt') >= 8 else 1)"
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"; RELAY_PID=""

# Second run: everything at once, TCP through it.
ip netns exec "$NS_RELAY" "$relay" --left "$IF_RL" --right "$IF_RR" --stats "$RELAY_STATS" \
  --loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1 --corrupt 0.5 --seed 9 2>"$RIG_TMP/impair.log" &
RELAY_PID=$!
sleep 0.3
dp python3 - "$TP_IP" <<'PY' &
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7000)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
c.sendall(f"{n} {h.hexdigest()}".encode()); c.close()
PY
srv=$!
sleep 0.3
res=$(peer python3 - "$TP_IP" <<'PY'
import hashlib, os, socket, sys
data = os.urandom(4 << 20)
c = socket.create_connection((sys.argv[1], 7000), timeout=60)
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
check "4 MiB TCP through the impaired link is byte-exact ($res)" test "$res" = ok
stats=$(impair_stats)
echo "relay: $stats"
for k in dropped duplicated reordered corrupted delayed; do
  n=$(json_get "$stats" "d['left_to_right']['$k'] + d['right_to_left']['$k']")
  check "relay did '$k' ($n times)" test "$n" -gt 0
done
finish
