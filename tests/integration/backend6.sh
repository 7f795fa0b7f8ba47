#!/usr/bin/env bash
# Backends and egress remotes by IPv6 address (issue 13 item 4):
#  - a Python SIP backend reached at [v6]:5060 checks the PROXY v2 header:
#    an IPv6 client's source arrives as AF_INET6 (family 0x21, 36-byte
#    address block) with turnpike's listener address as destination; an
#    IPv4 client on the same [::] listener arrives as AF_INET; TCP health
#    checks over IPv6 (PROXY v2 LOCAL) pass;
#  - egress: plain TCP from the inside carried over TLS to a Python ssl
#    remote at [v6]:6001 that requires a clientAuth certificate; turnpike's
#    source is its IPv6 address; a remote proving the wrong name is refused
#    with an outbound event carrying the IPv6 addresses; the audit
#    (turnpikectl) matches the remote's certificate to its route by
#    "[v6]:port".
# usage: backend6.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID TURNPIKECTL
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-212}"
ctlbin=$4
sock="$RIG_TMP/ctl.sock"
rig_up
rig_pki_stores "$pki_script" client
events="$RIG_TMP/events.log"
# Documentation prefix (RFC 3849), inside the namespaces only.
NET6="2001:db8:${RIG_ID}"
TP6="$NET6::1"
PEER6="$NET6::2"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.accept_dad=0" "net.ipv6.conf.$IF_PEER.accept_ra=0"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad

# The peers: a plain SIP backend that decodes PROXY v2 (both families) and a
# TLS remote requiring clientAuth, both on the peer's IPv6 address only.
cat >"$RIG_TMP/peers6.py" <<'PY'
import hashlib, ipaddress, socket, ssl, struct, sys, threading
SIG = b"\r\n\r\n\x00\r\nQUIT\n"

def recv_exact(c, n):
    d = b""
    while len(d) < n:
        b = c.recv(n - len(d))
        if not b:
            break
        d += b
    return d

def proxy_v2(c, log):
    first = c.recv(16, socket.MSG_PEEK)
    if not first or not first.startswith(SIG[:len(first)]):
        log.write("no-proxy-header\n")
        return
    hdr = recv_exact(c, 16)
    n = struct.unpack("!H", hdr[14:16])[0]
    body = recv_exact(c, n)
    cmd, fam = hdr[12] & 0x0f, hdr[13]
    if cmd == 0:
        log.write("proxy-v2 local\n")
    elif fam == 0x21 and n >= 36:
        src, dst = ipaddress.IPv6Address(body[0:16]), ipaddress.IPv6Address(body[16:32])
        sp, dp = struct.unpack("!HH", body[32:36])
        log.write(f"proxy-v2 inet6 src=[{src}]:{sp} dst=[{dst}]:{dp}\n")
    elif fam == 0x11 and n >= 12:
        src, dst = ipaddress.IPv4Address(body[0:4]), ipaddress.IPv4Address(body[4:8])
        sp, dp = struct.unpack("!HH", body[8:12])
        log.write(f"proxy-v2 inet src={src}:{sp} dst={dst}:{dp}\n")
    else:
        log.write(f"proxy-v2 malformed fam={fam:#x} len={n}\n")

def read_message(f):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = f.read(1)
        if not b:
            return head
        head += b
    return head

def answer(c, log, extra=b""):
    f = c.makefile("rb")
    while True:
        m = read_message(f)
        if not m.endswith(b"\r\n\r\n"):
            break
        lines = m.split(b"\r\n")
        keep = [l for l in lines[1:] if l.split(b":")[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        log.write("request " + lines[0].decode(errors="replace") + "\n")
        c.sendall(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + extra + b"\r\nContent-Length: 0\r\n\r\n")

def serve(kind, host, port, logfile, chain=None, key=None, ca=None):
    srv = socket.socket(socket.AF_INET6)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(64)
    log = open(logfile, "a", buffering=1)
    ctx = None
    if kind == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    def one(c, addr):
        try:
            c.settimeout(20)
            log.write(f"connection from [{addr[0]}]:{addr[1]}\n")
            if kind == "plain":
                proxy_v2(c, log)
                if not c.recv(1, socket.MSG_PEEK):
                    return c.close()
                return answer(c, log)
            try:
                t = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log.write(f"tls-refused {e}\n")
                return c.close()
            cn = dict(x[0] for x in t.getpeercert()["subject"]).get("commonName", "")
            log.write(f"tls-ok cn={cn}\n")
            answer(t, log, f"\r\nX-TLS-Client: {cn}".encode())
        except OSError as e:
            log.write(f"connection error {e}\n")
    while True:
        c, addr = srv.accept()
        threading.Thread(target=one, args=(c, addr), daemon=True).start()

serve(*sys.argv[1:])
PY
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rig_down' EXIT
# Not through peer(): $! must be the server itself, which the trap stops.
ip netns exec "$NS_PEER" python3 "$RIG_TMP/peers6.py" plain "$PEER6" 5060 "$RIG_TMP/backend.log" &
PIDS+=($!)
ip netns exec "$NS_PEER" python3 "$RIG_TMP/peers6.py" tls "$PEER6" 6001 "$RIG_TMP/remote.log" "$pki/server-chain.pem" "$pki/server.key" \
  "$pki/ca.pem" &
PIDS+=($!)

routes='[{listen_port=5070, remote="['$PEER6']:6001", name="server.test"}, {listen_port=5071, remote="['$PEER6']:6001", name="wrong.test"}]'
rig_start_turnpike "$bin" 2 --set "ports.0.ipv6=$TP6/64" --set "stores.dir=$stores" --set stores.eku_mode=on \
  --set "sip.backends=[\"[$PEER6]:5060\"]" --set sip.proxy_v2=true --set sip.client_cert=require \
  --set 'sip.listeners=[{address="[::]:5061"}]' --set sip.health_check_interval_ms=200 \
  --set "egress.routes=$routes" --set egress.handshake_timeout_ms=3000 \
  --set sip.handshake_timeout_ms=2000 --set "events.file=$events" \
  --set "control.socket=$sock" --set control.readonly_socket=off || exit 1
grep -E "ready:" "$TP_LOG"
check "--check-config shows the IPv6 backend and remote" grep -q "backends=\[\"\[$PEER6\]:5060\"\]" <<<"$("$bin" \
  --check-config --set "ports.0.ipv6=$TP6/64" --set "stores.dir=$stores" --set "sip.backends=[\"[$PEER6]:5060\"]")"
# RFC 4862: turnpike's DAD probe, then RetransTimer (1 s) until usable.
sleep 1.5

s_client() {  # s_client HOST -> output (the clientAuth leaf)
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS [2001:db8::9];branch=z9hG4bK-1\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: b6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 5 openssl s_client -connect "$1:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
      -key "$pki/client.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}
out=$(s_client "[$TP6]")
check "IPv6 client -> IPv6 backend: 200 OK" grep -q "SIP/2.0 200 OK" <<<"$out"
line=$(grep "proxy-v2 inet6" "$RIG_TMP/backend.log" | head -1)
echo "backend: $line"
check "PROXY v2 AF_INET6 with the client's IPv6 source and the listener's address" \
  grep -qE "^proxy-v2 inet6 src=\[$PEER6\]:[0-9]+ dst=\[$TP6\]:5061$" <<<"$line"
check "backend saw the request" grep -q "request OPTIONS sip:edge.test SIP/2.0" "$RIG_TMP/backend.log"
check "backend connection came from turnpike's IPv6 address" grep -q "connection from \[$TP6\]:" "$RIG_TMP/backend.log"
out=$(s_client "$TP_IP")
check "IPv4 client -> IPv6 backend: 200 OK" grep -q "SIP/2.0 200 OK" <<<"$out"
check "PROXY v2 AF_INET for the IPv4 client" grep -qE "^proxy-v2 inet src=$PEER_IP:[0-9]+ dst=$TP_IP:5061$" "$RIG_TMP/backend.log"
check "health checks over IPv6 (PROXY v2 LOCAL)" grep -q "^proxy-v2 local$" "$RIG_TMP/backend.log"
sip=$(tp_telemetry /turnpike/sip)
check "health checks passed ($(json_get "$sip" "d['/turnpike/sip'].get('health_checks_ok', 0)"))" \
  test "$(json_get "$sip" "d['/turnpike/sip'].get('health_checks_ok', 0)")" -ge 1
check "no backend refused" test "$(json_get "$sip" "d['/turnpike/sip'].get('no_backend', 0)")" = 0

plain() {  # plain PORT [ADDR]: one OPTIONS over plain TCP to the egress listener
  peer timeout 10 python3 - "${2:-$TP_IP}" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=8)
s.sendall(b"OPTIONS sip:remote.test SIP/2.0\r\nVia: SIP/2.0/TCP 198.18.0.9;branch=z9hG4bK-e6\r\nTo: <sip:remote.test>\r\n"
          b"From: <sip:a@test>;tag=1\r\nCall-ID: e6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
d = b""
try:
    while b"\r\n\r\n" not in d:
        b = s.recv(4096)
        if not b:
            break
        d += b
except OSError:
    pass
print(d.decode(errors="replace"))
PY
}
out=$(plain 5070)
check "egress to an IPv6 remote: 200 OK through TLS" grep -q "^SIP/2.0 200 OK" <<<"$out"
check "egress: the remote saw the client-store certificate" grep -q "X-TLS-Client: client.test" <<<"$out"
check "egress: the remote's connection came from turnpike's IPv6 address" \
  grep -q "connection from \[$TP6\]:" "$RIG_TMP/remote.log"
out=$(plain 5070 "$TP6")
check "egress: an IPv6 inside client ([::] listener) reaches the IPv6 remote" grep -q "^SIP/2.0 200 OK" <<<"$out"
out=$(plain 5071)
sleep 0.3
check "egress: the wrong remote name is refused" test -z "$(grep '^SIP/2.0' <<<"$out")"
line=$(grep '^Event="Outbound TLS Negotiation Error"' "$events" | head -1)
echo "event: $line"
check "outbound event with the IPv6 addresses" \
  grep -qE "^Event=\"Outbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"$TP6\" Src-port=\"[0-9]+\" Dst-ip=\"$PEER6\" Dst-port=\"6001\" Detail=\"" <<<"$line"
audit=$("$ctlbin" --socket "$sock" audit 2>&1)
grep -F "Egress Route 1" <<<"$audit" | head -2
check "audit: the IPv6 remote's certificate is matched to Egress Route 1 ([$PEER6]:6001)" \
  bash -c "grep -F 'Egress Route 1 server.test ([$PEER6]:6001)' <<<\"\$1\" | grep -qv remote-not-seen" _ "$audit"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
