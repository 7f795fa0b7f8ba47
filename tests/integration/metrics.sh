#!/usr/bin/env bash
# Prometheus /metrics (issue 11 items 1 and 5): the management listener in
# turnpike's namespace answers curl, promtool accepts the page, every family
# is there, and after a known workload (5 mTLS handshakes, 2 serverAuth-only
# clients refused in mode On) the counters equal DPDK telemetry and the
# expected figures, failures broken down by Detail. A trust certificate 3
# days from expiry shows in turnpike_certificate_not_after_seconds, draws one
# 7-day warning event and its days left in xStatus. metrics.listen=off:
# nothing listens.
# usage: metrics.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT PROMTOOL RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
pki_script=$3
promtool=$4
rig_init "${5:-177}"
rig_up
rig_pki_stores "$pki_script" client
events="$RIG_TMP/events.log"
sock="$RIG_TMP/ctl.sock"
[ -x "$promtool" ] || promtool=$(command -v promtool || true)
[ -n "$promtool" ] || { echo "FAIL - promtool not found (deploy/setup-deps.sh puts it in .deps/promtool)"; exit 1; }

# A trust anchor 3 days from expiry beside the test CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 -subj /CN=short-lived-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$RIG_TMP/short.key" -out "$RIG_TMP/short.pem" 2>/dev/null
cat "$RIG_TMP/short.pem" >>"$stores/ca.pem"

ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; rig_down' EXIT
scrape() { ip netns exec "$NS_DP" curl -s --max-time 5 "$@"; }
start() {
  rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set stores.eku_mode=on \
    --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.client_cert=require --set sip.handshake_timeout_ms=2000 \
    --set "events.file=$events" --set "control.socket=$sock" --set control.readonly_socket=off "$@"
}
s_client() {  # s_client LEAF: one OPTIONS over mTLS
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-%s\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: m%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' $RANDOM $RANDOM |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
      -key "$pki/$1.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}

start || exit 1
grep "metrics:" "$TP_LOG"
page=$(scrape http://127.0.0.1:9661/metrics)
check "GET /metrics answers in the dp namespace" grep -q '^turnpike_up 1$' <<<"$page"
check "Content-Type is the text format 0.0.4" \
  grep -qi '^content-type: text/plain; version=0.0.4' <<<"$(scrape -sI http://127.0.0.1:9661/metrics)"
check "other paths: 404" test "$(scrape -o /dev/null -w '%{http_code}' http://127.0.0.1:9661/)" = 404
check "POST /metrics: 405" test "$(scrape -o /dev/null -w '%{http_code}' -d x http://127.0.0.1:9661/metrics)" = 405
check "not reachable from the peer namespace (127.0.0.1 only)" \
  bash -c "! ip netns exec '$NS_PEER' curl -s --max-time 2 http://$TP_IP:9661/metrics >/dev/null"

# The workload: 5 good mTLS handshakes, 2 serverAuth-only clients refused.
pids=()
for i in 1 2 3 4 5; do s_client client >"$RIG_TMP/good$i.out" & pids+=($!); done
for i in 1 2; do s_client server >"$RIG_TMP/bad$i.out" & pids+=($!); done
wait "${pids[@]}"
check "5 clients got 200 OK" test "$(grep -l 'SIP/2.0 200 OK' "$RIG_TMP"/good*.out | wc -l)" = 5
check "2 serverAuth-only clients refused" test "$(grep -l 'alert unsupported certificate' "$RIG_TMP"/bad*.out | wc -l)" = 2
sleep 1

# Telemetry just before and just after the scrape: counters must lie between.
mkdir -p "$RIG_TMP/t0" "$RIG_TMP/t1"
for c in sip tcp egress relay stats drops workers snapshot; do tp_telemetry /turnpike/$c >"$RIG_TMP/t0/$c.json"; done
scrape http://127.0.0.1:9661/metrics >"$RIG_TMP/metrics.txt"
for c in sip tcp egress relay stats drops workers snapshot; do tp_telemetry /turnpike/$c >"$RIG_TMP/t1/$c.json"; done
echo "--- /metrics excerpt ---"
grep -E '^turnpike_tls_(handshakes|failed_handshakes|failed_handshakes_by_detail|reused_sessions|connections)_total|^turnpike_tls_current|^turnpike_certificate' \
  "$RIG_TMP/metrics.txt" | head -30
echo "--- promtool check metrics ---"
"$promtool" check metrics <"$RIG_TMP/metrics.txt"
check "promtool check metrics: no problem" test "$("$promtool" check metrics <"$RIG_TMP/metrics.txt" 2>&1 | wc -l)" = 0
check "promtool exit status 0" "$promtool" check metrics <"$RIG_TMP/metrics.txt"
python3 "$here/metrics_check.py" "$RIG_TMP/metrics.txt" "$RIG_TMP/t0" "$RIG_TMP/t1"
check "every counter matches DPDK telemetry (metrics_check.py)" test $? -eq 0

sum() {  # sum FAMILY [LABEL-REGEX]
  grep -E "^$1(\{[^}]*${2:-}[^}]*\})? " "$RIG_TMP/metrics.txt" | awk '{s += $NF} END {printf "%d", s}'
}
check "turnpike_tls_handshakes_total = 5" test "$(sum turnpike_tls_handshakes_total)" = 5
check "turnpike_tls_failed_handshakes_total = 2" test "$(sum turnpike_tls_failed_handshakes_total)" = 2
check "failed by detail=\"unsupported certificate purpose\" = 2" \
  test "$(sum turnpike_tls_failed_handshakes_by_detail_total 'detail="unsupported certificate purpose"')" = 2
check "turnpike_tls_connections_total = 7" test "$(sum turnpike_tls_connections_total)" = 7
check "per listener and worker labels" grep -qE '^turnpike_tls_handshakes_total\{listener="0.0.0.0:5061",worker="[01]"\}' "$RIG_TMP/metrics.txt"
check "SIP requests forwarded = 5" test "$(sum turnpike_sip_requests_in_total)" = 5
check "backend label from the configuration" grep -q "^turnpike_backend_info{backend=\"$PEER_IP:5060\"} 1" "$RIG_TMP/metrics.txt"
check "backend up on both workers (health checks)" \
  test "$(grep -c "^turnpike_backend_up{backend=\"$PEER_IP:5060\",worker=\"[01]\"} 1" "$RIG_TMP/metrics.txt")" = 2
families=(turnpike_port_rx_packets_total turnpike_port_tx_bytes_total turnpike_port_dropped_frames_total
  turnpike_port_lost_below_frames_total turnpike_port_kernel_ring_drops_total turnpike_port_neighbor_evictions_total
  turnpike_worker_busy_seconds_total turnpike_worker_events_dropped_total turnpike_tcp_rx_segments_total
  turnpike_tcp_retransmits_total turnpike_tcp_syn_cookies_sent_total turnpike_tcp_steered_to_owner_total
  turnpike_tls_connections_total turnpike_tls_handshakes_total turnpike_tls_failed_handshakes_total
  turnpike_tls_failed_handshakes_by_detail_total turnpike_tls_reused_sessions_total turnpike_tls_handshake_timeouts_total
  turnpike_tls_not_tls_refusals_total turnpike_sip_verdict_cache_hits_total turnpike_backend_picks_total
  turnpike_backend_health_checks_ok_total turnpike_egress_handshakes_ok_total turnpike_relay_accepted_total
  turnpike_relay_bytes_up_total turnpike_relay_current_connections
  turnpike_egress_failed_handshakes_by_detail_total turnpike_tls_current_connections turnpike_tcp_connections
  turnpike_snapshot_generation turnpike_eku_checking_mode turnpike_certificate_not_after_seconds turnpike_port_info
  turnpike_worker_info)
missing=""
for f in "${families[@]}"; do grep -q "^# TYPE $f " "$RIG_TMP/metrics.txt" || missing+=" $f"; done
check "every expected family present (${#families[@]})${missing:+, missing:$missing}" test -z "$missing"
check "$(grep -c '^# TYPE .* counter$' "$RIG_TMP/metrics.txt") counter families, each with HELP" \
  test "$(grep -c '^# HELP ' "$RIG_TMP/metrics.txt")" = "$(grep -c '^# TYPE ' "$RIG_TMP/metrics.txt")"
check "no sample rejected by the writer" grep -q '^turnpike_metrics_rejected_samples 0$' "$RIG_TMP/metrics.txt"

# Item 5: expiry of store and trust certificates.
srv_serial=$(openssl x509 -in "$stores/server.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
srv_end=$(date -d "$(openssl x509 -in "$stores/server.pem" -noout -enddate | cut -d= -f2)" +%s)
short_serial=$(openssl x509 -in "$RIG_TMP/short.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
short_end=$(date -d "$(openssl x509 -in "$RIG_TMP/short.pem" -noout -enddate | cut -d= -f2)" +%s)
check "server certificate's notAfter (serial $srv_serial)" \
  grep -qiE "^turnpike_certificate_not_after_seconds\{store=\"server\",serial=\"0*$srv_serial\"\} $srv_end$" "$RIG_TMP/metrics.txt"
check "client and ca stores listed" bash -c "grep -q 'store=\"client\"' '$RIG_TMP/metrics.txt' && grep -q 'store=\"ca\"' '$RIG_TMP/metrics.txt'"
check "3-day trust certificate's notAfter" \
  grep -qiE "^turnpike_certificate_not_after_seconds\{store=\"ca\",serial=\"0*$short_serial\"\} $short_end$" "$RIG_TMP/metrics.txt"
sleep 1.5  # at least one Plane::tick
grep 'Certificate Expi' "$events"
check "one 7-day warning for the 3-day trust certificate" \
  test "$(grep -c 'Event="Certificate Expiry Warning" Store="ca" Subject="CN=short-lived-ca".*Days-left="2" Threshold-days="7"' "$events")" = 1
sleep 1.2
check "still only once after more ticks" test "$(grep -c 'Event="Certificate Expiry Warning"' "$events")" = 1
st=$("$ctlbin" --socket "$sock" status)
grep -E '^\*s Certificate' <<<"$st"
check "xStatus: days left of the 3-day trust certificate" grep -qE "Certificate Ca .*DaysLeft: 2" <<<"$st"
check "xStatus: days left of the server certificate" grep -qE "Certificate Server DaysLeft: [0-9]+" <<<"$st"

tp_stop TERM
check "clean exit" test $? -eq 0

# Another address, then off.
start --set metrics.listen=127.0.0.1:9777 || exit 1
check "metrics.listen=127.0.0.1:9777 serves there" grep -q '^turnpike_up 1$' <<<"$(scrape http://127.0.0.1:9777/metrics)"
tp_stop TERM
start --set metrics.listen=off || exit 1
check "metrics.listen=off: nothing on 9661" bash -c "! ip netns exec '$NS_DP' curl -s --max-time 2 http://127.0.0.1:9661/metrics"
check "metrics.listen=off: no TCP listener in turnpike's namespace" \
  test -z "$(ip netns exec "$NS_DP" ss -Hltn 'sport = :9661')"
check "metrics.listen=off: no metrics line in the log" bash -c "! grep -q 'metrics: http' '$TP_LOG'"
tp_stop TERM
finish
