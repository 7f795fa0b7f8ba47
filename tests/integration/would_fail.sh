#!/usr/bin/env bash
# EKU "would fail" reporting and the sunset audit end to end (issue 11
# items 3 and 4): in mode Off a serverAuth-only client (the public-CA
# profile) connects three times and is accepted each time; the edge counts
# it per listener and per fingerprint, writes the would-fail event once,
# lists the peer in xStatus; the audit names the scenario and the fix and
# its what-if form lists the peer as failing under mode On; switching On
# then refuses it with the spec's event line, and the refused peer is
# listed (Refused: Yes) and named by the audit.
# usage: would_fail.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
pki_script=$3
rig_init "${4:-179}"
rig_up
rig_pki_stores "$pki_script" client
sock="$RIG_TMP/run/ctl.sock"
events="$RIG_TMP/events.log"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
# A remote behind an egress route presenting a serverAuth-only certificate
# (and requiring our client certificate with clientAuth).
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" tlsbackend "$PEER_IP" 6001 "$RIG_TMP/remote.log" \
  "$pki/server-chain.pem" "$pki/server.key" "$pki/ca.pem" &
REMOTE_PID=$!
trap 'kill $BACKEND_PID $REMOTE_PID 2>/dev/null; rig_down' EXIT
sleep 0.5
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set stores.eku_mode=off \
  --set "sip.backends=[\"$PEER_IP:5060\"]" --set "events.file=$events" \
  --set "control.socket=$sock" --set control.readonly_socket=off \
  --set "egress.routes=[{listen_port=5070, remote=\"$PEER_IP:6001\", name=\"server.test\"}]" || exit 1

ctl() { "$ctlbin" --socket "$sock" "$@"; }
fp_of() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
sc() {  # sc LEAF: s_client's output for one OPTIONS presenting LEAF
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-w\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: w1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
      -key "$pki/$1.key" -cert_chain "$pki/inter.pem" -no_ticket -ign_eof 2>&1
}
# wait_for N CMD...: up to N tenths of a second for CMD to succeed.
wait_for() {
  local n=$1 i
  shift
  for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
  "$@"
}
wf_events() { grep -c 'Event="Inbound TLS EKU Check Would Fail"' "$events" 2>/dev/null || true; }
server_fp=$(fp_of "$pki/server.pem")

check "mode reads Off" grep -q "Mode: Off" <<<"$(ctl mode)"
ok=0
for i in 1 2 3; do
  grep -q "SIP/2.0 200 OK" <<<"$(sc server)" && ok=$((ok + 1))
done
check "mode Off: the serverAuth-only client is accepted 3 times out of 3 ($ok)" test "$ok" -eq 3
check "a clientAuth client is accepted too" grep -q "SIP/2.0 200 OK" <<<"$(sc client)"

tel=$(tp_telemetry /turnpike/sip)
echo "  /turnpike/sip: $(json_get "$tel" '{k: v for k, v in d["/turnpike/sip"].items() if "would" in k}')"
check "telemetry: eku_would_fail counts 3 (the clientAuth client not counted)" \
  test "$(json_get "$tel" 'd["/turnpike/sip"]["eku_would_fail"]')" = 3
check "telemetry: per listener, listener_1 = 3" \
  test "$(json_get "$tel" 'd["/turnpike/sip"]["eku_would_fail_by_listener"]["listener_1"]')" = 3

page=$(ip netns exec "$NS_DP" curl -s --max-time 5 http://127.0.0.1:9661/metrics)
check "metrics: turnpike_tls_eku_would_fail_total sums to 3 over listener/worker series" \
  test "$(awk '/^turnpike_tls_eku_would_fail_total\{/ {s += $2} END {print s + 0}' <<<"$page")" = 3
check "xStatus SIP: eku_would_fail 3, listener 1 EkuWouldFail 3" \
  test "$(json_get "$(ctl --json status SIP)" '(d["SIP"]["eku_would_fail"], d["SIP"]["Listener"]["1"]["EkuWouldFail"])')" = "(3, 3)"
st=$(ctl --json status EkuWouldFail)
echo "$(ctl status EkuWouldFail | sed 's/^/  | /')"
check "xStatus: one would-fail peer, 3 handshakes" \
  test "$(json_get "$st" '(d["EkuWouldFail"]["Peers"], d["EkuWouldFail"]["Handshakes"])')" = "(1, 3)"
check "xStatus: the peer's fingerprint, subject, issuer, source and count" \
  test "$(json_get "$st" '(lambda p: (p["Fingerprint"], "server.test" in p["Subject"], "nter" in p["Issuer"], p["LastSource"].split(":")[0], p["Count"]))(d["EkuWouldFail"]["Peer"]["1"])')" \
       = "('$server_fp', True, True, '$PEER_IP', 3)"

wait_for 30 bash -c '[ "$(grep -c "Inbound TLS EKU Check Would Fail" "$1")" -ge 1 ]' _ "$events"
line=$(grep 'Event="Inbound TLS EKU Check Would Fail"' "$events" | head -1)
echo "  $line"
check "the would-fail event is written once for 3 handshakes" test "$(wf_events)" = 1
check "the event has the spec's fields, Level 2" \
  grep -Eq "^Event=\"Inbound TLS EKU Check Would Fail\" Service=\"SIP\" Src-ip=\"$PEER_IP\" Src-port=\"[0-9]+\" Dst-ip=\"$TP_IP\" Dst-port=\"5061\" Detail=\"unsupported certificate purpose\" Protocol=\"TLS\" Level=\"2\" UTCTime=\"[0-9-]+ [0-9:.]+\"$" <<<"$line"

# --- the sunset audit and its what-if name the peer before the switch.
check "through egress: the remote answers" \
  grep -q "SIP/2.0 200" <<<"$(peer timeout 15 python3 "$here/sip_peers.py" plainclient "$TP_IP" 5070 options)"
aud=$(ctl audit)
echo "$aud" | sed 's/^/  | /'
check "audit: scenario 3 (both stores private) and its fix in one sentence" \
  bash -c 'grep -q "^Scenario 3: all private CA" <<<"$1" && grep -q "^  fix:   For public-facing services use a public-CA server certificate (scenario 2.1).$" <<<"$1"' _ "$aud"
check "audit: each store certificate with clientAuth, issuer, expiry and role" \
  bash -c 'grep -q "^  server: CN=both.test; issuer CN=Turnpike Test Intermediate (private or unknown CA); clientAuth yes .*; roles: inbound server$" <<<"$1" &&
           grep -q "^  client: CN=client.test; .*clientAuth yes .*roles: egress client$" <<<"$1"' _ "$aud"
check "audit: the egress remote presents a serverAuth-only certificate" \
  grep -q "remote-serverauth-only: Egress Route 1 server.test ($PEER_IP:6001) presents CN=server.test (issuer CN=Turnpike Test Intermediate, SHA-256 $server_fp, serverAuth)" <<<"$aud"
check "audit: the serverAuth-only peer, by fingerprint, accepted only because the mode is Off" \
  grep -q "\[warning\] peer-serverauth-only: Inbound peer CN=server.test (issuer CN=Turnpike Test Intermediate, SHA-256 $server_fp, last from $PEER_IP:[0-9]*.*3 handshakes) presents a serverAuth-only certificate: accepted only because EKU checking is Off" <<<"$aud"
check "audit: findings worst first" \
  bash -c 'grep -o "^  \[[a-z]*\]" <<<"$1" | tr -d " []" | awk "{r=(\$0==\"error\")?3:(\$0==\"warning\")?2:1; if (r>last && NR>1) bad=1; last=r} END {exit bad}"' _ "$aud"
aj=$(ctl --json audit)
check "audit JSON: scenario id, certificates, peer finding" \
  test "$(json_get "$aj" '(d["scenario"]["id"], [c["store"] for c in d["certificates"]][:2], any(f["code"] == "peer-serverauth-only" for f in d["findings"]))')" = "('3', ['server', 'client'], True)"
wi=$(ctl xCommand Audit WhatIf Mode: On)
echo "$wi" | sed 's/^/  | /'
check "what-if Mode: On lists the peer as would-fail, by fingerprint" \
  bash -c 'grep -q "^Would fail: 1$" <<<"$1" && grep -q "\[error\] would-fail-peer: would fail: inbound peer CN=server.test .*SHA-256 $2" <<<"$1"' _ "$wi" "$server_fp"
check "what-if changes nothing: the mode is still Off" grep -q "Mode: Off" <<<"$(ctl mode)"
check "turnpikectl audit whatif off: nothing fails" grep -q "^Would fail: 0$" <<<"$(ctl audit whatif off)"
wj=$(ctl --json audit whatif on)
check "what-if JSON" test "$(json_get "$wj" '(d["would_fail"], d["eku_mode"]["then"], d["findings"][0]["code"])')" = "(1, 'On', 'would-fail-peer')"
ctl xCommand Audit WhatIf >/dev/null 2>&1
check "what-if without a mode or an open transaction is refused (exit 1)" test $? -eq 1

# --- switching On refuses the peer the report named, with the spec's line.
ctl mode on
check "turnpikectl mode on: exit 0" test $? -eq 0
check "mode On: the serverAuth-only client is refused (alert unsupported certificate)" \
  grep -q "alert unsupported certificate" <<<"$(sc server)"
check "mode On: the clientAuth client is still accepted" grep -q "SIP/2.0 200 OK" <<<"$(sc client)"
wait_for 30 grep -q 'Event="Inbound TLS Negotiation Error"' "$events"
line=$(grep 'Event="Inbound TLS Negotiation Error"' "$events" | head -1)
echo "  $line"
check "the refusal is the spec's event line" \
  grep -Eq "^Event=\"Inbound TLS Negotiation Error\" Service=\"SIP\" Src-ip=\"$PEER_IP\" Src-port=\"[0-9]+\" Dst-ip=\"$TP_IP\" Dst-port=\"5061\" Detail=\"unsupported certificate purpose\" Protocol=\"TLS\" Level=\"1\" UTCTime=\"[0-9-]+ [0-9:.]+\"$" <<<"$line"
check "mode On counts no would-fail handshake" \
  test "$(json_get "$(tp_telemetry /turnpike/sip)" 'd["/turnpike/sip"]["eku_would_fail"]')" = 3
check "still one would-fail event" test "$(wf_events)" = 1

# --- item 4: the refused peer is listed, flagged refused, and the audit names it.
refused_row() {  # the refused peer's (fingerprint, source ip, count), or nothing
  json_get "$(ctl --json status EkuWouldFail)" \
    '[(p["Fingerprint"], p["LastSource"].split(":")[0], p["Count"]) for p in d["EkuWouldFail"]["Peer"].values() if p["Refused"] == "Yes"]'
}
wait_for 30 bash -c '[ "$("$1" --socket "$2" --json status EkuWouldFail | grep -c "\"Refused\": \"Yes\"")" -ge 1 ]' _ "$ctlbin" "$sock"
echo "$(ctl status EkuWouldFail | sed 's/^/  | /')"
check "xStatus: the refused peer is its own row, Refused: Yes, by fingerprint" \
  test "$(refused_row)" = "[('$server_fp', '$PEER_IP', 1)]"
check "xStatus: the mode Off row stays Refused: No with its 3 handshakes" \
  test "$(json_get "$(ctl --json status EkuWouldFail)" '[(p["Refused"], p["Count"]) for p in d["EkuWouldFail"]["Peer"].values() if p["Refused"] == "No"]')" = "[('No', 3)]"
check "xStatus: RefusedHandshakes 1, would-fail Handshakes still 3" \
  test "$(json_get "$(ctl --json status EkuWouldFail)" '(d["EkuWouldFail"]["RefusedHandshakes"], d["EkuWouldFail"]["Handshakes"])')" = "(1, 3)"
aud=$(ctl audit)
echo "$aud" | grep -E 'peer-refused|\[error\]' | sed 's/^/  | /'
check "audit: names the peer as refused now in mode On, with the fix" \
  grep -q "\[error\] peer-refused: Inbound peer CN=server.test (issuer CN=Turnpike Test Intermediate, SHA-256 $server_fp, last from $PEER_IP:[0-9]*.*1 handshake) is refused now in mode On: serverAuth-only certificate.* Fix: It needs a certificate with clientAuth, or mode Off accepts it." <<<"$aud"
check "audit: findings still worst first" \
  bash -c 'grep -o "^  \[[a-z]*\]" <<<"$1" | tr -d " []" | awk "{r=(\$0==\"error\")?3:(\$0==\"warning\")?2:1; if (r>last && NR>1) bad=1; last=r} END {exit bad}"' _ "$aud"
check "audit JSON: a peer-refused finding" \
  test "$(json_get "$(ctl --json audit)" 'any(f["code"] == "peer-refused" for f in d["findings"])')" = True
check "what-if Mode: Off: the refused peer no longer fails" grep -q "^Would fail: 0$" <<<"$(ctl audit whatif off)"
check "the refused peer wrote no would-fail event" test "$(wf_events)" = 1

tp_stop TERM
check "clean exit" test $? -eq 0
finish
