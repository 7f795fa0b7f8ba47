#!/usr/bin/env bash
# Kamailio (Debian's) as the real SIP backend behind turnpike: TLS clients in
# the peer namespace REGISTER and send OPTIONS to turnpike:5061, turnpike
# forwards over plain TCP to Kamailio on the peer side. Kamailio keeps the
# binding in its in-memory location table and stamps every reply with the
# source address it saw ($si:$sp):
#  - sip.proxy_v2=true + tcp_accept_haproxy=yes: the client's own address
#  - sip.proxy_v2=false: turnpike's address
#  - sip.backend_tls=true (Kamailio's tls module, client certificate
#    required): PROXY v2 ahead of the handshake, turnpike's client-store
#    certificate verified by Kamailio
# usage: sip_kamailio.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
command -v kamailio >/dev/null || { echo "kamailio not installed (deploy/setup-deps.sh)"; exit 1; }
rig_init "${3:-51}"
rig_up
rig_pki_stores "$pki_script" client  # client store: presented on TLS backend legs
KAM_PID=""
kam_stop() {  # fails if Kamailio needed SIGKILL
  [ -n "$KAM_PID" ] || return 0
  kill -TERM "$KAM_PID" 2>/dev/null
  local i rc=0
  for i in $(seq 1 50); do kill -0 "$KAM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$KAM_PID" 2>/dev/null && rc=1
  wait "$KAM_PID" 2>/dev/null
  KAM_PID=""
  return $rc
}
trap 'kam_stop; rig_down' EXIT

kam_start() {  # kam_start yes|no (tcp_accept_haproxy) [tls]
  local run="$RIG_TMP/kamailio-$1${2:+-$2}" defs=()
  mkdir -p "$run"
  sed -e "s/@LISTEN@/$PEER_IP:5060/" -e "s/@LISTEN_TLS@/$PEER_IP:5063/" -e "s/@HAPROXY@/$1/" -e "s|@PKI@|$run|" \
    "$here/kamailio.cfg.in" >"$run/kamailio.cfg"
  if [ "${2:-}" = tls ]; then
    defs=(-A WITH_TLS)
    # Server certificate both.test; turnpike must present a clientAuth
    # certificate chaining to the test root.
    printf '%s\n' "[server:default]" "method = TLSv1.2+" "verify_certificate = yes" "require_certificate = yes" \
      "certificate = $pki/both-chain.pem" "private_key = $pki/both.key" "ca_list = $pki/ca.pem" >"$run/kamailio-tls.cfg"
  fi
  # -DD: stay in the foreground (children still fork), -E: log to stderr.
  ip netns exec "$NS_PEER" kamailio -DD -E "${defs[@]}" -f "$run/kamailio.cfg" -Y "$run" -P "$run/kamailio.pid" \
    -m 64 -M 8 -w "$run" >"$run/log" 2>&1 &
  KAM_PID=$!
  local i
  for i in $(seq 1 100); do
    peer bash -c "exec 3<>/dev/tcp/$PEER_IP/5060" 2>/dev/null && return 0
    kill -0 "$KAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "kamailio did not start:"
  cat "$run/log"
  return 1
}
tp_start() {  # tp_start true|false (sip.proxy_v2) [BACKEND_PORT [more --set ...]]
  local pv2=$1 port=${2:-5060}
  shift $(( $# < 2 ? $# : 2 ))
  rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set "sip.backends=[\"$PEER_IP:$port\"]" \
    --set "sip.proxy_v2=$pv2" --set sip.client_cert=require --set sip.health_check_interval_ms=0 "$@"
}
client() { peer timeout 20 python3 "$here/sip_client.py" "$TP_IP" 5061 "$pki/ca.pem" "$pki/client-chain.pem" "$pki/client.key" "$@"; }
# reply I FIELD from the register run's JSON
reply() { json_get "$out" "d['replies'][$1]['$2']"; }

run_case() {  # run_case PROXY_V2 EXPECTED_SOURCE_REGEX LABEL
  local pv2=$1 expect=$2 label=$3
  out=$(client register)
  echo "[$label] client: $out"
  local local_addr
  local_addr=$(json_get "$out" "d.get('local', '')")
  check "[$label] REGISTER through turnpike: Kamailio's registrar answers 200" \
    test "$(reply 0 status)" = "SIP/2.0 200 OK"
  check "[$label] REGISTER reply carries the saved binding (Contact with expires)" \
    grep -q "sip:alice@$local_addr;transport=tls>;expires=" <<<"$(reply 0 contact)"
  check "[$label] OPTIONS to the AOR: 200 with the binding from the location table" \
    test "$(reply 1 status)|$(reply 1 location)" = "SIP/2.0 200 OK|sip:alice@$local_addr;transport=tls"
  check "[$label] OPTIONS to the domain: 200" test "$(reply 2 status)" = "SIP/2.0 200 OK"
  check "[$label] every reply matches its request (Call-ID, CSeq, Via branch)" \
    test "$(json_get "$out" "all(r['matches'] for r in d['replies'])")" = True
  local seen
  seen=$(json_get "$out" "sorted(set(r['seen'] for r in d['replies']))")
  echo "[$label] Kamailio saw source(s): $seen (client is $local_addr)"
  if [ "$pv2" = true ]; then
    # Kamailio 5.6.3 shows the PROXY v2 source port byte-swapped (see the
    # direct probe below); expect the client's port as Kamailio maps it.
    local cport=${local_addr##*:} want
    want="${local_addr%:*}:$(kam_port "$cport")"
    check "[$label] Kamailio saw the client's own address and port (PROXY v2)" \
      test "$seen" = "['$want']"
  else
    check "[$label] Kamailio saw turnpike's address, not the client's" \
      grep -qE "^\['$expect'\]$" <<<"$seen"
  fi
  # Second client: its own connection, its own source port.
  local out2
  out2=$(client register)
  check "[$label] a second client gets its own 200s" \
    test "$(json_get "$out2" "[r['status'] for r in d['replies']].count('SIP/2.0 200 OK')")" = 3
  local sip
  sip=$(tp_telemetry /turnpike/sip)
  echo "[$label] sip telemetry: $sip"
  check "[$label] turnpike forwarded 6 requests to Kamailio, no backend failures" \
    test "$(json_get "$sip" 'int(d["/turnpike/sip"]["requests_in"] == 6 and d["/turnpike/sip"]["backend_failures"] == 0 and d["/turnpike/sip"]["sip_errors"] == 0)')" = 1
  local log="$RIG_TMP/kamailio-$([ "$pv2" = true ] && echo yes || echo no)/log"
  local from_ip=$TP_IP
  [ "$pv2" = true ] && from_ip=$PEER_IP
  check "[$label] Kamailio's log: 3 REGISTER + 3 OPTIONS from $from_ip" \
    test "$(grep -c "request REGISTER .* from $from_ip:" "$log") $(grep -c "request OPTIONS .* from $from_ip:" "$log")" = "2 4"
}

# 1. PROXY v2 on: Kamailio takes the client address from the header.
kam_start yes || exit 1
# Calibration, turnpike not involved: a PROXY v2 header written here with
# source port 4660 (0x1234), straight to Kamailio. Python's backend in
# sip_tls.sh reads turnpike's header per the spec (network order); how does
# this Kamailio report a known port?
probe=$(peer timeout 10 python3 "$here/sip_client.py" pv2probe "$PEER_IP" 5060 198.18.200.77 4660)
echo "direct PROXY v2 probe (src 198.18.200.77:4660): $probe"
probe_seen=$(json_get "$probe" "d['seen']")
check "direct probe: Kamailio answers and takes the address from PROXY v2" grep -q "^198\.18\.200\.77:" <<<"$probe_seen"
case "${probe_seen##*:}" in
  4660) kam_port() { echo "$1"; } ;;
  13330) echo "note: Kamailio reports PROXY v2 ports byte-swapped (4660 -> 13330)"
         kam_port() { echo $(( (($1 & 255) << 8) | ($1 >> 8) )); } ;;
  *) kam_port() { echo "?"; } ;;
esac
# Health checks on (every 100 ms per worker): they must end politely, with
# PROXY v2 LOCAL then FIN, so Kamailio's log carries no error for them.
tp_start true 5060 --set sip.health_check_interval_ms=100 || exit 1
run_case true "" "proxy_v2=true"
sleep 2
sip=$(tp_telemetry /turnpike/sip)
hc_ok=$(json_get "$sip" 'd["/turnpike/sip"]["health_checks_ok"]')
hc_bad=$(json_get "$sip" 'd["/turnpike/sip"]["health_checks_failed"]')
check "[health checks] ran against Kamailio: $hc_ok passed, $hc_bad failed" test "$hc_ok" -ge 10 -a "$hc_bad" = 0
kam_errors=$(grep -ciE "error|invalid PROXY|reset by peer" "$RIG_TMP/kamailio-yes/log")
[ "$kam_errors" = 0 ] || grep -iE "error|invalid PROXY|reset by peer" "$RIG_TMP/kamailio-yes/log" | head -5
check "[health checks] Kamailio's log has no error line ($kam_errors)" test "$kam_errors" = 0
tp_stop TERM
check "[proxy_v2=true] turnpike clean exit" test $? -eq 0
kam_stop
check "[proxy_v2=true] Kamailio stopped by SIGTERM to its PID" test $? -eq 0

# 2. PROXY v2 off: Kamailio sees the TCP connection from turnpike.
kam_start no || exit 1
tp_start false || exit 1
run_case false "${TP_IP//./\\.}:[0-9]+" "proxy_v2=false"
tp_stop TERM
check "[proxy_v2=false] turnpike clean exit" test $? -eq 0
kam_stop
check "[proxy_v2=false] Kamailio stopped by SIGTERM to its PID" test $? -eq 0

# 3. TLS towards Kamailio (sip.backend_tls): PROXY v2 goes ahead of the
#    handshake, turnpike presents its client-store certificate (client.test)
#    and checks Kamailio's name (both.test).
kam_start yes tls || exit 1
tp_start true 5063 --set sip.backend_tls=true --set sip.backend_tls_name=both.test || exit 1
out=$(client register)
echo "[backend_tls] client: $out"
local_addr=$(json_get "$out" "d.get('local', '')")
check "[backend_tls] REGISTER, OPTIONS to the AOR and to the domain: 200 over TLS to Kamailio" \
  test "$(json_get "$out" "[r['status'] for r in d['replies']].count('SIP/2.0 200 OK')")" = 3
check "[backend_tls] binding from the location table" \
  test "$(reply 1 location)" = "sip:alice@$local_addr;transport=tls"
tlscn=$(json_get "$out" "[r.get('tls') for r in d['replies']]")
echo "[backend_tls] Kamailio saw TLS client CN(s): $tlscn"
check "[backend_tls] Kamailio verified turnpike's client-store certificate (CN client.test)" \
  test "$tlscn" = "['client.test', 'client.test', 'client.test']"
seen=$(json_get "$out" "sorted(set(r['seen'] for r in d['replies']))")
echo "[backend_tls] Kamailio saw source(s): $seen"
check "[backend_tls] PROXY v2 ahead of TLS: Kamailio saw the client's address and port" \
  test "$seen" = "['${local_addr%:*}:$(kam_port "${local_addr##*:}")']"
sip=$(tp_telemetry /turnpike/sip)
check "[backend_tls] no backend TLS failure, 3 requests forwarded" \
  test "$(json_get "$sip" '(d["/turnpike/sip"]["backend_tls_failures"], d["/turnpike/sip"]["requests_in"])')" = "(0, 3)"
tp_stop TERM
check "[backend_tls] turnpike clean exit" test $? -eq 0
kam_stop
check "[backend_tls] Kamailio stopped by SIGTERM to its PID" test $? -eq 0
finish
