#!/usr/bin/env bash
# Smoke test of tp-loadgen + tp-sipecho through turnpike in a namespace rig:
# every mode completes its count with matched answers and exit 0; resumption
# really resumes; an echo that corrupts answers makes tp-loadgen fail.
# usage: smoke.sh TURNPIKE LOADGEN SIPECHO PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/rig/rig.sh"
source "$here/../../tests/integration/lib.sh"
bin=$1 loadgen=$2 sipecho=$3 pki_script=$4
rig_init "${5:-41}" || exit 1
rig_up
rig_pki_stores "$pki_script"
ECHO_PID=""
start_echo() {  # start_echo PORT [args]
  local port=$1
  shift
  ip netns exec "$NS_PEER" "$sipecho" --listen "$PEER_IP:$port" --duration 60 "$@" 2>"$RIG_TMP/echo$port.log" &
  ECHO_PID="$ECHO_PID $!"
}
trap 'for p in $ECHO_PID; do kill $p 2>/dev/null; done; rig_down' EXIT
start_echo 5060
start_echo 5070 --corrupt 7
sleep 0.3
# "request": a client certificate is verified when presented, not required.
rig_start_turnpike "$bin" 1 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.proxy_v2=true --set sip.client_cert=request || exit 1

lg() {  # lg NAME MODE args... -> JSON in $RIG_TMP/NAME.json, exit code in RC
  local name=$1
  shift
  peer timeout 25 "$loadgen" "$1" "$TP_IP:5061" "${@:2}" --ca "$pki/ca.pem" --json "$RIG_TMP/$name.json" \
    --duration 20 >"$RIG_TMP/$name.out" 2>"$RIG_TMP/$name.err"
  RC=$?
  cat "$RIG_TMP/$name.out"
}
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$RIG_TMP/$1.json"; }

lg hs handshake --conns 10 --count 200
check "handshake: exit 0" test "$RC" -eq 0
check "handshake: 200 operations, all full handshakes" test "$(field hs "d['ops'], d['handshakes_full']")" = "200 200"
lg res resume --conns 5 --count 100
check "resume: exit 0, 100 operations" test "$RC.$(field res "d['ops']")" = "0.100"
check "resume: all but the first per connection resumed" test "$(field res "d['handshakes_resumed']")" -ge 90
lg mtls mtls --conns 5 --count 50 --cert "$pki/client-chain.pem" --key "$pki/client.key"
check "mtls: exit 0, 50 operations" test "$RC.$(field mtls "d['ops']")" = "0.50"
lg rr reqresp --conns 20 --count 3000
check "reqresp: exit 0, 3000 requests, no errors" test "$RC.$(field rr "d['ops'], d['errors_total']")" = "0.3000 0"
lg idle idle --conns 50 --hold 0.5
check "idle: exit 0, 50 connections held" test "$RC.$(field idle "d['errors_total']")" = "0.0"
tp_stop TERM
check "turnpike clean exit" test $? -eq 0

# Same daemon, backend answering every 7th request with a wrong CSeq.
rig_start_turnpike "$bin" 1 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5070\"]" \
  --set sip.proxy_v2=true --set sip.client_cert=none || exit 1
lg bad reqresp --conns 4 --count 200
check "corrupted answers: exit 1" test "$RC" -eq 1
check "corrupted answers: mismatches counted" test "$(field bad "d['errors']['mismatch']")" -ge 1
tp_stop TERM
finish
