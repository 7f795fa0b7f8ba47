#!/usr/bin/env bash
# Hot swap under load (issue 9): 500 mutual-TLS connections exchange SIP
# continuously through turnpike to a backend while the server certificate,
# the client certificate, the trust store and the EKU mode are committed 50
# times through the control socket, with aborted and refused transactions
# mixed in. Every answer must match its request (none failed or lost), no
# connection may drop, and the first handshake after each commit must
# present the server certificate committed last.
# usage: swap_load.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT RIG_ID [CONNS] [MSGS]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
pki_script=$3
rig_init "${4:-175}"
conns=${5:-500}
msgs=${6:-120}
rig_up
rig_pki_stores "$pki_script" client
sock="$RIG_TMP/ctl.sock"
ip netns exec "$NS_PEER" python3 "$here/sip_load.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.json" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID ${LOAD_PID:-} 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:5060\"]" \
  --set sip.proxy_v2=true --set sip.client_cert=require --set "events.file=$RIG_TMP/events.log" \
  --set "control.socket=$sock" --set control.readonly_socket=off || exit 1

ctl() { "$ctlbin" --socket "$sock" "$@" >/dev/null 2>"$RIG_TMP/ctl.err"; }
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
serial_seen() {  # the serial of the certificate a new handshake presents
  peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
    -key "$pki/client.key" -cert_chain "$pki/inter.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
requests() { python3 -c "import json; print(json.load(open('$RIG_TMP/backend.json'))['requests'])" 2>/dev/null || echo 0; }
cat "$pki/ca.pem" "$pki/other-root.pem" >"$RIG_TMP/ca-plus.pem"
head -c 700 /dev/urandom | base64 >"$RIG_TMP/garbage.pem"

peer bash -c "ulimit -n 4096; exec python3 '$here/sip_load.py' client '$TP_IP' 5061 '$pki/ca.pem' \
  '$pki/client-chain.pem' '$pki/client.key' $conns $msgs --handshakes 64 --timeout 300" >"$RIG_TMP/load.json" &
LOAD_PID=$!
# Swap only once every connection is up and requests are flowing.
for _ in $(seq 1 600); do [ "$(requests)" -gt "$conns" ] && break; sleep 0.1; done
req_before=$(requests)
echo "requests answered by the backend before the first commit: $req_before"

servers=(san server both)
clients=(both client)
cas=("$RIG_TMP/ca-plus.pem" "$pki/ca.pem")
expected=$(serial_of "$pki/both.pem")
commits=0 aborts=0 refused=0 wrong=0 commit_ms=()
t0=$(date +%s.%N)
for k in $(seq 1 50); do
  # Every fifth: a staged change that is aborted; every seventh: a refused one.
  if [ $((k % 5)) -eq 0 ]; then
    "$ctlbin" --socket "$sock" xCommand Certificate Upload Store: Server Certificate: "$pki/san-chain.pem" \
      Key: "$pki/san.key" ';' xCommand Certificate Abort >/dev/null 2>&1 && aborts=$((aborts + 1))
  fi
  if [ $((k % 7)) -eq 0 ]; then
    case $((k % 3)) in
      0) ctl cert swap server "$pki/both-chain.pem" "$pki/san.key" ;;        # key does not match
      1) ctl cert ca set "$RIG_TMP/garbage.pem" ;;                            # not a certificate
      2) ctl cert swap client "$pki/server-chain.pem" "$pki/server.key" ;;    # no clientAuth
    esac
    [ $? -eq 1 ] && refused=$((refused + 1))
  fi
  ts=$(date +%s%N)
  case $((k % 4)) in
    0) leaf=${servers[$(((k / 4) % 3))]}
       ctl cert swap server "$pki/$leaf-chain.pem" "$pki/$leaf.key" && expected=$(serial_of "$pki/$leaf.pem") ;;
    1) leaf=${clients[$(((k / 4) % 2))]}
       ctl cert swap client "$pki/$leaf-chain.pem" "$pki/$leaf.key" ;;
    2) ctl cert ca set "${cas[$(((k / 4) % 2))]}" ;;
    3) if [ $(((k / 4) % 2)) -eq 0 ]; then ctl mode off; else ctl mode on; fi ;;
  esac
  rc=$?
  commit_ms+=($(( ($(date +%s%N) - ts) / 1000000 )))
  [ $rc -eq 0 ] && commits=$((commits + 1)) || { echo "commit $k failed: $(cat "$RIG_TMP/ctl.err")"; }
  seen=$(serial_seen)
  [ "$seen" = "$expected" ] || { wrong=$((wrong + 1)); echo "after commit $k: handshake saw serial '$seen', expected $expected"; }
done
t1=$(date +%s.%N)
req_after=$(requests)
wait "$LOAD_PID"
LOAD_PID=
load=$(cat "$RIG_TMP/load.json")
total=$((conns * msgs))
sorted=$(printf '%s\n' "${commit_ms[@]}" | sort -n | tr '\n' ' ')
echo "swaps: $commits commits, $aborts aborted, $refused refused in $(python3 -c "print(round($t1-$t0,1))") s; turnpikectl commit round trip ms (sorted): $sorted"
echo "load: $load"
echo "backend answered $req_before requests before the first commit and $req_after by the last of $total"
check "50 of 50 commits answered OK" test "$commits" = 50
check "aborted transactions: $aborts of 10" test "$aborts" = 10
check "refused transactions: $refused of 7" test "$refused" = 7
check "every handshake after a commit presented the last committed server certificate" test "$wrong" = 0
check "the commits ran while SIP was flowing" test "$req_before" -lt "$req_after" -a "$req_after" -lt "$total"
check "$total of $total answers matched their requests, none lost" \
  test "$(json_get "$load" 'int(d["answers_ok"] == '"$total"' and d["missing"] == 0 and d["answers_bad"] == 0)')" = 1
check "no handshake failed and no connection dropped ($conns held open)" \
  test "$(json_get "$load" 'int(d["handshake_errors"] == 0 and not d["errors"] and d["max_open"] == '"$conns"')')" = 1
snap=$(tp_telemetry /turnpike/snapshot)
echo "snapshot: $snap"
tp_stop TERM
check "clean exit" test $? -eq 0
finish
