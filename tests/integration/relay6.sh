#!/usr/bin/env bash
# TCP relays over IPv6 (issue 13 item 4): turnpike's relays listen on [::]
# (2 workers, the port with ipv4 and ipv6) and make their own active opens to
# a Linux echo server on [::], through the impairment relay (loss 2%, delay
# 5 ms +- 2 ms, reordering 5%, duplication 1%), in the three mixes:
#   - IPv6 client -> relay 8000 -> IPv6 target: 200 connections x 256 KiB;
#   - IPv4 client -> relay 8000 -> IPv6 target: 20 x 64 KiB;
#   - IPv6 client -> relay 8001 -> IPv4 target: 20 x 64 KiB.
# Every echo is SHA-256 checked end to end; the echo server logs where each
# connection came from: turnpike's IPv6 address for the IPv6 target, its IPv4
# one for the IPv4 target whatever the client's family (source selection by
# the target's family, not the client's). No relay refused for want of a
# source, and no connection left afterwards.
# usage: relay6.sh TURNPIKE_BINARY TP_IMPAIR_BINARY RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
relay=$2
rig_init "${3:-217}"
rig_up_impaired "$relay" "--loss 2 --delay 5 --jitter 2 --reorder 5 --duplicate 1 --seed 23" || exit 1
# Documentation prefix (RFC 3849), inside the namespaces only.
NET6="2001:db8:${RIG_ID}"
TP6="$NET6::1"
PEER6="$NET6::2"
peer sysctl -qw "net.ipv6.conf.$IF_PEER.disable_ipv6=0" "net.ipv6.conf.$IF_PEER.accept_dad=0" \
  "net.ipv6.conf.$IF_PEER.accept_ra=0" "net.ipv6.conf.$IF_PEER.router_solicitations=0"
peer ip -6 addr add "$PEER6/64" dev "$IF_PEER" nodad

# The echo server on [::]:7 (IPv4 clients as ::ffff:a.b.c.d), one line per
# connection with the client's address; bounded to 300 s.
SOURCES="$RIG_TMP/relay6_sources.txt"
: >"$SOURCES"
ip netns exec "$NS_PEER" timeout 300 python3 - "$SOURCES" <<'PY' &
import asyncio, ipaddress, socket, sys
log = open(sys.argv[1], "a", buffering=1)
async def handle(reader, writer):
    ip = ipaddress.ip_address(writer.get_extra_info("peername")[0])
    log.write(f"{ip.ipv4_mapped or ip}\n")
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
async def main():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 7))
    server = await asyncio.start_server(handle, sock=s, backlog=1024)
    async with server:
        await asyncio.sleep(300)
asyncio.run(main())
PY
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "ports.0.ipv6=$TP6/64" \
  --set "services.relays=[\"8000=[$PEER6]:7\", \"8001=$PEER_IP:7\"]" --set tcp.time_wait_ms=1000 || exit 1
check "relays logged with their IPv6 and IPv4 targets" grep -q "relay:8000->\[$PEER6\]:7 relay:8001->$PEER_IP:7" "$TP_LOG"
# RFC 4862: turnpike's DAD probe, then RetransTimer (1 s) until usable.
sleep 1.5

relay_field() { json_get "$(tp_telemetry /turnpike/relay)" "d['/turnpike/relay']['$1']"; }
sources() { sed -n "$(($1 + 1)),$2p" "$SOURCES" | sort | uniq -c | awk '{printf "%s %s;", $1, $2}'; }
phase() {  # phase NAME HOST PORT CONNS BYTES WANT_SOURCE
  local name=$1 host=$2 port=$3 conns=$4 bytes=$5 want=$6 before res ok after
  before=$(wc -l <"$SOURCES")
  res=$(peer python3 "$here/tcp_clients.py" "$host" "$port" --conns "$conns" --bytes "$bytes" --timeout 120 --seed 9)
  echo "[$name] $res"
  ok=$(json_get "$res" 'd["ok"]')
  check "[$name] $conns relayed connections x $bytes B echoed byte-exact (ok=$ok)" test "$ok" = "$conns"
  check "[$name] no corrupted or missing bytes" test "$(json_get "$res" 'd["mismatch"] + d["bad_bytes"]')" = 0
  after=$(wc -l <"$SOURCES")
  echo "[$name] the echo server's clients: $(sources "$before" "$after")"
  check "[$name] the target saw $conns connections, all from $want" \
    test "$(sed -n "$((before + 1)),${after}p" "$SOURCES" | grep -cxF "$want")" = "$conns" -a "$((after - before))" = "$conns"
}
phase "v6 -> v6" "$TP6" 8000 200 262144 "$TP6"
phase "v4 -> v6" "$TP_IP" 8000 20 65536 "$TP6"
phase "v6 -> v4" "$TP6" 8001 20 65536 "$TP_IP"

echo "relay: $(tp_telemetry /turnpike/relay)"
check "240 accepted, 240 active opens completed" \
  test "$(relay_field accepted)" = 240 -a "$(relay_field connected)" = 240
check "none refused for want of a source, no failed connect" \
  test "$(relay_field no_source)" = 0 -a "$(relay_field connect_failed)" = 0
tcp=$(tp_telemetry /turnpike/tcp)
val() { json_get "$tcp" "d['/turnpike/tcp']['$1']"; }
check "retransmissions on the impaired legs ($(val retransmits))" test "$(val retransmits)" -gt 0
sleep 3  # our side of each relayed pair closed first: TIME_WAIT (2MSL = 1 s here)
check "no connection objects left" test "$(json_get "$(tp_telemetry /turnpike/tcp)" "d['/turnpike/tcp']['connections']")" = 0
check "no relay pair left" test "$(relay_field connections)" = 0
tp_stop TERM
check "clean exit" test $? -eq 0
finish
