#!/usr/bin/env bash
# Whole-config reload (SIGHUP) as one transaction (issue 9, item 5):
#   1. a good file applies live: the listener's TLS versions go from 1.2+1.3
#      to 1.3 only and the EKU mode from On to Off, seen by new handshakes,
#      while an open TLS connection keeps working;
#   2. a bad file (syntax error, bad value) is refused with file:line:key and
#      nothing changes;
#   3. keys that cannot change live (tcp limits, backends) are refused
#      with a message naming them and saying a restart is needed.
# usage: config_reload.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-171}"
rig_up
rig_pki_stores "$pki_script"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID ${LONG_PID:-} 2>/dev/null; rig_down' EXIT

conf="$RIG_TMP/turnpike.toml"
write_conf() {  # write_conf TLS_VERSIONS EKU_MODE TCP_MAX_CONNECTIONS BACKEND_PORT
  cat >"$conf" <<EOF
[workers]
count = 2
[tcp]
max_connections = $3
[[ports]]
device = "net_af_packet0,iface=$IF_DP"
ipv4 = "$TP_IP/24"
[stores]
dir = "$stores"
eku_mode = "$2"
[sip]
listen_port = 5061
tls_versions = $1
backends = ["$PEER_IP:$4"]
[events]
file = "$RIG_TMP/events.log"
EOF
}
write_conf '["1.2", "1.3"]' on 4096 5060
RIG_README_DEVICE=1 rig_start_turnpike "$bin" 2 --config "$conf" || exit 1

sc() {  # sc LEAF [s_client args]: one OPTIONS, s_client's output
  local leaf=$1
  shift
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-c\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$leaf.pem" \
      -key "$pki/$leaf.key" -cert_chain "$pki/inter.pem" -ign_eof "$@" 2>&1
}
snap_field() { json_get "$(tp_telemetry /turnpike/snapshot)" "d['/turnpike/snapshot']['$1']"; }
hup_and_wait() {  # hup_and_wait PATTERN: SIGHUP, then wait (bounded) for PATTERN in the log
  local n0
  n0=$(grep -c "SIGHUP:" "$TP_LOG")
  kill -HUP "$TP_PID"
  for _ in $(seq 1 50); do
    [ "$(grep -c "SIGHUP:" "$TP_LOG")" -gt "$n0" ] && break
    sleep 0.1
  done
  grep "SIGHUP:" "$TP_LOG" | tail -1
  grep "SIGHUP:" "$TP_LOG" | tail -1 | grep -q "$1"
}

check "before: TLS 1.2 accepted" grep -q "SIP/2.0 200 OK" <<<"$(sc client -tls1_2)"
check "before: serverAuth-only client refused (mode On)" grep -q "alert unsupported certificate" <<<"$(sc server)"
gen0=$(snap_field generation)

# A connection open across every reload: 30 requests 0.2 s apart.
ip netns exec "$NS_PEER" python3 - "$TP_IP" "$pki" >"$RIG_TMP/long.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
host, pki = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.pem")
ctx.check_hostname = False
ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # a version the reload takes away from new handshakes
ctx.load_cert_chain(f"{pki}/client-chain.pem", f"{pki}/client.key")
s = ctx.wrap_socket(socket.create_connection((host, 5061), timeout=10), server_hostname="edge.test")
f = s.makefile("rb")
ok = 0
for i in range(30):
    s.sendall((f"OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-l{i}\r\n"
               f"To: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: long-{i}\r\nCSeq: {i + 1} OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = f.read(1)
        if not b:
            break
        head += b
    ok += head.startswith(b"SIP/2.0 200") and f"Call-ID: long-{i}".encode() in head
    time.sleep(0.2)
print(f"long connection: {ok}/30 answered")
PY
LONG_PID=$!
sleep 0.5

# 1. A good file: TLS 1.3 only, mode Off.
write_conf '["1.3"]' off 4096 5060
check "good file: reload published" hup_and_wait "snapshot [0-9]* published"
out=$(sc client -tls1_2)
check "good file: TLS 1.2 now refused for new handshakes" bash -c "! grep -q 'SIP/2.0 200 OK' <<<\"\$1\" && grep -qi 'alert' <<<\"\$1\"" _ "$out"
check "good file: TLS 1.3 accepted" grep -q "SIP/2.0 200 OK" <<<"$(sc client -tls1_3)"
check "good file: mode Off applies (serverAuth-only client accepted)" grep -q "SIP/2.0 200 OK" <<<"$(sc server -tls1_3)"
gen1=$(snap_field generation)
check "good file: snapshot generation advanced ($gen0 -> $gen1)" test "$gen1" -gt "$gen0"
check "good file: the mode change is an event" grep -q 'Event="EKU Checking Mode Change".*New="Off"' "$RIG_TMP/events.log"

# 2. Bad files: nothing changes.
printf '[workers]\ncount = 2\n[sip\nlisten_port = 5061\n' >"$conf"  # line 3: unclosed table
check "syntax error: refused" hup_and_wait "reload refused, nothing changed: .*turnpike.toml:3"
write_conf '["1.3"]' maybe 4096 5060
check "bad value: refused with file:line:key" hup_and_wait "reload refused, nothing changed: .*turnpike.toml:[0-9]*: stores.eku_mode"
check "bad files: snapshot unchanged" test "$(snap_field generation)" = "$gen1"
check "bad files: still serving TLS 1.3, mode Off" grep -q "SIP/2.0 200 OK" <<<"$(sc server -tls1_3)"

# 3. Keys that need a restart: refused, named.
write_conf '["1.3"]' off 2048 5060
check "tcp.max_connections: refused, restart needed" hup_and_wait "need a restart .*: tcp"
write_conf '["1.3"]' off 4096 5099
check "sip.backends: refused, restart needed" hup_and_wait "need a restart .*: sip backends"
check "restart-only changes: snapshot unchanged" test "$(snap_field generation)" = "$gen1"
check "refusals are events" test "$(grep -c 'Event="Configuration Change Refused"' "$RIG_TMP/events.log")" -ge 4

wait "$LONG_PID"
LONG_PID=""
check "open TLS 1.2 connection kept its session through every reload: $(cat "$RIG_TMP/long.out")" \
  grep -q "long connection: 30/30 answered" "$RIG_TMP/long.out"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
