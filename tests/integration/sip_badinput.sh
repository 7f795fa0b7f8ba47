#!/usr/bin/env bash
# Hostile and odd input over the network against turnpike with 2 workers;
# for each case the outcome on the wire and the counter/event that records
# it. Complements sip_tls.sh (which covers 'GARBAGE' text, a silent client,
# a body over 64 KiB and a bad Content-Length):
#  - an HTTP request instead of a ClientHello; a handshake record whose
#    ClientHello is noise: handshake failure counted, event with the port
#  - an HTTP request, a plain SIP request and random bytes: refused as soon as
#    the first record header shows it cannot be TLS (within 1 s, not at the
#    handshake timeout), counted in not_tls, one event each
#  - a truncated ClientHello record, then FIN / then RST: connection gone
#  - a ClientHello (and the rest of the client's flights) in 1-byte TCP
#    segments: the handshake completes, the request is answered
#  - a ClientHello trickled slower than sip.handshake_timeout_ms: cut off
#    (handshake_timeouts, Detail="handshake timeout")
#  - header section of exactly sip.max_header: forwarded (200); one byte more:
#    513, closed, counted, event
#  - Content-Length over sip.max_body announced, body never sent: 513 at once
#  - afterwards clients on both workers still get 200 OK, nothing is left open
# usage: sip_badinput.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-53}"
rig_up
rig_pki_stores "$pki_script"
events="$RIG_TMP/events.log"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; wait $BACKEND_PID 2>/dev/null; rig_down' EXIT
hs_timeout_ms=4000
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.client_cert=require --set sip.health_check_interval_ms=0 \
  --set "sip.handshake_timeout_ms=$hs_timeout_ms" --set tcp.time_wait_ms=500 \
  --set "events.file=$events" --set events.rate_per_second=1000 || exit 1

client() { peer timeout 40 python3 "$here/sip_client.py" "$TP_IP" 5061 "$pki/ca.pem" "$pki/client-chain.pem" "$pki/client.key" "$@"; }
field() { json_get "$out" "d.get('$1')"; }
# xfail DESCRIPTION CMD...: a known defect; fails the run once CMD succeeds
# (then turn it into a check).
XFAILS=0
xfail() {
  local what=$1
  shift
  if "$@"; then
    echo "FAIL - $what: now passes, make it a check"
    FAILS=$((FAILS + 1))
  else
    echo "xfail - $what"
    XFAILS=$((XFAILS + 1))
  fi
}
sipc() { json_get "$(tp_telemetry /turnpike/sip)" "d['/turnpike/sip']['$1']"; }
snap() { S0=$(tp_telemetry /turnpike/sip); T0=$(tp_telemetry /turnpike/tcp); }  # counters before a case
# delta COUNTER [tcp]: its growth since snap
delta() {
  local what=${2:-sip} before=$S0
  [ "$what" = tcp ] && before=$T0
  python3 -c 'import json, sys; k, w = sys.argv[3], "/turnpike/" + sys.argv[4]
print(json.loads(sys.argv[1])[w][k] - json.loads(sys.argv[2])[w][k])' "$(tp_telemetry "/turnpike/$what")" "$before" "$1" "$what"
}
# event_for PORT KIND: the event line for the connection from PORT
event_for() { grep "^Event=\"$2\" .*Src-ip=\"$PEER_IP\" Src-port=\"$1\" " "$events" | head -1; }
settle() {  # turnpike's pair for the last client is gone (bounded)
  local i
  for i in $(seq 1 40); do [ "$(sipc connections)" = 0 ] && return 0; sleep 0.1; done
  return 1
}

# 1. An HTTP request instead of a ClientHello.
snap
out=$(client http)
echo "http: $out"
settle
check "HTTP instead of ClientHello: turnpike closes the connection" grep -q '"closed": "\(eof\|reset\)"' <<<"$out"
check "HTTP instead of ClientHello: handshakes_failed +1" test "$(delta handshakes_failed)" = 1
ev=$(event_for "$(field local_port)" "Inbound TLS Negotiation Error")
echo "  event: $ev"
check "HTTP instead of ClientHello: event line for that connection, with a Detail" grep -q 'Detail="[^"]\+"' <<<"$ev"
check "HTTP instead of ClientHello: closed within 1 s, not at the handshake timeout ($(field after_s) s)" \
  test "$(json_get "$out" "d['after_s'] < 1.0")" = True
check "HTTP instead of ClientHello: counted as not TLS" test "$(delta not_tls)" = 1

# 1b. Not TLS at all (RFC 8446 §5.1: content type, legacy version, length of
#     the first record header): an HTTP request, a plain SIP request (a phone
#     configured for TCP on the TLS port) and random bytes are each refused as
#     soon as their first bytes arrive, counted, with one event line each.
snap
out=$(peer timeout 30 python3 - "$TP_IP" <<'PY'
import json, random, socket, sys, time
host = sys.argv[1]
rng = random.Random(15)  # fixed: its first bytes are 6a 05 12 50 7a
cases = {
    "http": b"GET / HTTP/1.1\r\nHost: edge.test\r\nUser-Agent: probe\r\n\r\n",
    "sip": (b"OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TCP 198.18.0.9;branch=z9hG4bK-n\r\n"
            b"To: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: n1\r\nCSeq: 1 OPTIONS\r\n"
            b"Content-Length: 0\r\n\r\n"),
    "random": bytes(rng.randrange(256) for _ in range(64)),
}
res = {}
for name, data in cases.items():
    s = socket.create_connection((host, 5061), timeout=10)
    lport = s.getsockname()[1]
    t0 = time.monotonic()
    s.sendall(data)
    s.settimeout(0.05)
    how = "open"
    while time.monotonic() - t0 < 6:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            how = "reset"
            break
        if not d:
            how = "eof"
            break
    res[name] = {"local_port": lport, "closed": how, "after_s": round(time.monotonic() - t0, 3)}
    s.close()
print(json.dumps(res))
PY
)
echo "not TLS: $out"
settle
for k in http sip random; do
  check "not TLS ($k): closed by turnpike within 1 s ($(json_get "$out" "d['$k']['after_s']") s; handshake timeout $((hs_timeout_ms / 1000)) s)" \
    test "$(json_get "$out" "d['$k']['closed'] in ('eof', 'reset') and d['$k']['after_s'] < 1.0")" = True
  ev=$(event_for "$(json_get "$out" "d['$k']['local_port']")" "Inbound TLS Negotiation Error")
  echo "  event: $ev"
  check "not TLS ($k): event line for that connection, Detail=\"malformed TLS record\"" \
    grep -q 'Detail="malformed TLS record"' <<<"$ev"
done
check "not TLS: not_tls +3, handshakes_failed +3, no handshake timeout" \
  test "$(delta not_tls)/$(delta handshakes_failed)/$(delta handshake_timeouts)" = "3/3/0"

# 2. A handshake record whose ClientHello body is noise.
snap
out=$(client badhello)
echo "badhello: $out"
settle
check "noise ClientHello: closed, with a TLS alert" test "$(field closed)/$(field reply_is_alert)" = "eof/True" -o "$(field closed)/$(field reply_is_alert)" = "reset/True"
check "noise ClientHello: handshakes_failed +1" test "$(delta handshakes_failed)" = 1
ev=$(event_for "$(field local_port)" "Inbound TLS Negotiation Error")
echo "  event: $ev"
check "noise ClientHello: event line for that connection" test -n "$ev"

# 3. Truncated ClientHello record, then FIN.
snap
out=$(client truncated FIN)
echo "truncated+FIN: $out"
settle
check "truncated record + FIN: turnpike closes its side too" grep -q '"closed": "\(eof\|reset\)"' <<<"$out"
check "truncated record + FIN: the pair is finished (closed +1), none live" \
  test "$(delta closed)/$(sipc connections)" = "1/0"
check "truncated record + FIN: handshakes_failed +1" test "$(delta handshakes_failed)" = 1
ev=$(event_for "$(field local_port)" "Inbound TLS Negotiation Error")
echo "  event: $ev"
check "truncated record + FIN: event Detail=\"connection closed during handshake\"" \
  grep -q 'Detail="connection closed during handshake"' <<<"$ev"

# 4. Truncated ClientHello record, then RST.
snap
out=$(client truncated RST)
echo "truncated+RST: $out"
settle
check "truncated record + RST: the pair is finished (closed +1), none live" \
  test "$(delta closed)/$(sipc connections)" = "1/0"
check "truncated record + RST: TCP counted the reset" test "$(delta resets_received tcp)" = 1

# 5. The client's handshake flights in 1-byte TCP segments.
snap
out=$(client split1 0.5)
segs=$(delta rx_segments tcp)
echo "split1: $out (turnpike rx_segments +$segs)"
check "1-byte segments: handshake completes and OPTIONS gets 200" \
  test "$(field handshake)|$(field status)" = "ok|SIP/2.0 200 OK"
check "1-byte segments: turnpike received at least one segment per handshake byte ($(field bytes) bytes)" \
  test "$segs" -ge "$(field bytes)"
check "1-byte segments: counted as a completed handshake, not a failure" \
  test "$(delta handshakes_ok)/$(delta handshakes_failed)" = "1/0"

# 6. A ClientHello trickled one byte every 100 ms: slower than the timeout.
snap
out=$(client trickle 100)
echo "trickle: $out"
settle
after=$(field after_s)
check "slow handshake: cut off by turnpike before the ClientHello was complete" \
  test "$(json_get "$out" "d['closed'] in ('eof', 'reset') and d['sent'] < d['hello_len']")" = True
check "slow handshake: cut off at the timeout (${after} s, timeout $((hs_timeout_ms / 1000)) s)" \
  test "$(json_get "$out" "$hs_timeout_ms / 1000 - 0.2 <= d['after_s'] <= $hs_timeout_ms / 1000 + 2")" = True
check "slow handshake: handshake_timeouts +1, handshakes_failed +1" \
  test "$(delta handshake_timeouts)/$(delta handshakes_failed)" = "1/1"
ev=$(event_for "$(field local_port)" "Inbound TLS Negotiation Error")
echo "  event: $ev"
check "slow handshake: event Detail=\"handshake timeout\" for that connection" grep -q 'Detail="handshake timeout"' <<<"$ev"

# 7. Header section at and just over sip.max_header (16 KiB; framer.cpp: a
#    head of exactly max_header bytes is accepted).
snap
out=$(client bigheader 16384)
echo "header 16384: $out"
check "header section of exactly 16384 bytes: forwarded, backend's 200" \
  test "$(field head_len)|$(field status)|$(field call_id_echoed)" = "16384|SIP/2.0 200 OK|True"
out=$(client bigheader 16385)
echo "header 16385: $out"
settle
check "header section of 16385 bytes: connection closed, nothing forwarded" \
  test "$(field head_len)|$(json_get "$out" "d['status'] is None or d['closed_after'] in ('eof', 'reset')")" = "16385|True"
check "header section of 16385 bytes: sip_errors +1, only the 16384 one forwarded" \
  test "$(delta sip_errors)/$(delta requests_in)" = "1/1"
ev=$(event_for "$(field local_port)" "SIP Message Error")
echo "  event: $ev"
check "header section of 16385 bytes: event Detail=\"header section too large\"" grep -q 'Detail="header section too large"' <<<"$ev"
# RFC 3261 §21.5.4: the 513 is built from the complete header lines that
# arrived within the limit.
check "header section over 16 KiB: 513 Message Too Large for that request" \
  test "$(field status)|$(field call_id_echoed)" = "SIP/2.0 513 Message Too Large|True"
out=$(client bigheader 20000)
echo "header 20000: $out"
settle
check "header section of 20000 bytes: closed, sip_errors +1" \
  test "$(json_get "$out" "d['status'] is None or d['closed_after'] in ('eof', 'reset')")/$(delta sip_errors)" = "True/2"

# 8. Content-Length over sip.max_body, body never sent: answered at once.
snap
out=$(client biglength 100000)
echo "Content-Length 100000: $out"
settle
check "Content-Length over 64 KiB without the body: 513 at once" \
  test "$(field status)|$(field call_id_echoed)" = "SIP/2.0 513 Message Too Large|True"
check "Content-Length over 64 KiB: sip_errors +1, nothing forwarded" test "$(delta sip_errors)/$(delta requests_in)" = "1/0"
ev=$(event_for "$(field local_port)" "SIP Message Error")
check "Content-Length over 64 KiB: event Detail=\"body too large\"" grep -q 'Detail="body too large"' <<<"$ev"

# 9. Still serving, on both workers.
ok=0
for i in $(seq 1 8); do
  out=$(client options)
  [ "$(field status)" = "SIP/2.0 200 OK" ] && ok=$((ok + 1))
done
check "after all of it: 8 of 8 normal clients get 200 OK" test "$ok" -eq 8
sleep 1  # TIME_WAIT is 500 ms here
tcp=$(tp_telemetry /turnpike/tcp)
sip=$(tp_telemetry /turnpike/sip)
echo "sip: $sip"
check "no SIP pair and no TCP connection left" \
  test "$(json_get "$sip" "d['/turnpike/sip']['connections']")/$(json_get "$tcp" "d['/turnpike/tcp']['connections']")" = "0/0"
w=$(tp_telemetry /turnpike/workers)
check "both workers carried traffic" \
  test "$(json_get "$w" "all(v['rx_packets'] > 0 for k, v in d['/turnpike/workers'].items() if k.startswith('worker'))")" = True
tp_stop TERM
check "clean exit" test $? -eq 0
echo "known defects (xfail): $XFAILS"
finish
