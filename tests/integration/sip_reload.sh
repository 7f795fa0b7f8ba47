#!/usr/bin/env bash
# Run-time store swap without dropping connections: while a TLS client keeps
# one connection busy, the stores change on disk (turnpike-certs: a new
# server certificate, EKU mode Off) and SIGHUP makes turnpike publish new
# contexts. New handshakes use them at once; the open connection keeps its
# session and loses nothing. A reload that fails validation changes nothing.
# usage: sip_reload.sh TURNPIKE_BINARY TURNPIKE_CERTS PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
certs=$2
pki_script=$3
rig_init "${4:-32}"
rig_up
rig_pki_stores "$pki_script"
keys="$RIG_TMP/tickets.keys"
head -c 80 /dev/urandom | base64 -w0 >"$keys"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID ${LONG_PID:-} 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set stores.eku_mode=on \
  --set "sip.backends=[\"$PEER_IP:5060\"]" --set "sip.ticket_key_file=$keys" --set "events.file=$RIG_TMP/events.log" || exit 1

sc() {  # sc LEAF: prints s_client's output for one OPTIONS
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-h\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: h1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
      -key "$pki/$1.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}
# One connection, 40 requests 0.15 s apart (6 s): spans the reload.
ip netns exec "$NS_PEER" python3 - "$TP_IP" "$pki" >"$RIG_TMP/long.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
host, pki = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.pem")
ctx.check_hostname = False
ctx.load_cert_chain(f"{pki}/client-chain.pem", f"{pki}/client.key")
s = ctx.wrap_socket(socket.create_connection((host, 5061), timeout=10), server_hostname="edge.test")
cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
f = s.makefile("rb")
ok = 0
for i in range(40):
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
    time.sleep(0.15)
print(f"long connection: server {cn}, {ok}/40 answered")
PY
LONG_PID=$!
sleep 1
check "before: serverAuth-only client refused (mode On)" grep -q "alert unsupported certificate" <<<"$(sc server)"
"$certs" --dir "$stores" upload-server "$pki/san-chain.pem" "$pki/san.key" >/dev/null 2>&1
check "turnpike-certs staged and committed a new server certificate" test $? -eq 0
"$certs" --dir "$stores" mode off >/dev/null 2>&1
kill -HUP "$TP_PID"
sleep 0.5
grep -E "SIGHUP|reload" "$TP_LOG"
check "reload published" grep -q "SIGHUP: snapshot [0-9]* published (stores generation [0-9]*" "$TP_LOG"
out=$(sc client)
check "after: new handshakes present the new server certificate" grep -q "subject=CN = san.test" <<<"$out"
check "after: mode Off applies to new handshakes (serverAuth-only accepted)" grep -q "SIP/2.0 200 OK" <<<"$(sc server)"
# A reload that cannot be applied (a broken ticket key file) changes nothing.
echo "not base64 !" >"$keys"
kill -HUP "$TP_PID"
sleep 0.5
check "broken reload refused, logged" grep -q "reload refused" "$TP_LOG"
check "still serving with the last good certificates" grep -q "subject=CN = san.test" <<<"$(sc client)"
wait "$LONG_PID"
LONG_PID=
cat "$RIG_TMP/long.out"
check "the connection open across both reloads lost nothing (old certificate, 40/40)" \
  grep -q "long connection: server both.test, 40/40 answered" "$RIG_TMP/long.out"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
