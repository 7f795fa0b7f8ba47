#!/usr/bin/env bash
# compare.sh: busy proxy CPU per operation and memory per idle TLS connection
# for turnpike and kernel-socket TLS proxies (HAProxy, nginx stream, hitch,
# stunnel, optionally Kamailio with its tls module), all in the same namespace rig (tests/rig/rig.sh, 198.18.0.0/15):
#   peer ns:  turnpike-loadgen (turnpike's own DPDK stack on net_af_packet on
#             the peer's veth, address .3, CPU $LOAD_CPU: no row is bound by a
#             kernel-socket client) and the tp-sipecho backend (same CPU)
#   dp ns:    the proxy, pinned to CPU $PROXY_CPU (turnpike: its worker lcore,
#             at its configuration defaults)
# Kernel proxies: CPU = utime+stime of all their processes/threads
# (/proc/PID/stat) over the measured window; turnpike: worker busy TSC cycles
# from DPDK telemetry. Memory: anonymous+shared PSS delta over --idle-conns idle connections
# with CRLF keep-alives (turnpike-loadgen --idle-hold).
# usage: compare.sh [--loadgen-dir DIR] [--turnpike BIN] [--proxies "..."]
#                   [--modes "..."] [--duration S] [--idle-conns N] [--hs-conns N]
#                   [--out FILE] [--rig N] [--turnpike-label TEXT] [--af-frames N]
# Modes: handshake resume mtls reqresp100 reqresp2000 idle
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

LOADGEN_DIR=$root/build/release/bench/loadgen
TURNPIKE=$root/build/release/dataplane/app/turnpike
PROXIES="haproxy nginx hitch stunnel kamailio turnpike"
MODES="handshake resume mtls reqresp100 reqresp2000 idle"
DURATION=8
IDLE_CONNS=2000
HS_CONNS=50
AF_FRAMES=""  # turnpike's af_packet ring: its own sizing unless given
RIG=40
OUT=""
PROXY_CPU=1
LOAD_CPU=0
while [ $# -gt 0 ]; do
  case $1 in
    --loadgen-dir) LOADGEN_DIR=$2; shift ;;
    --turnpike) TURNPIKE=$2; shift ;;
    --proxies) PROXIES=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --idle-conns) IDLE_CONNS=$2; shift ;;
    --hs-conns) HS_CONNS=$2; shift ;;
    --af-frames) AF_FRAMES=$2; shift ;;
    --out) OUT=$2; shift ;;
    --rig) RIG=$2; shift ;;
    --turnpike-label) TURNPIKE_LABEL=$2; shift ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
  shift
done
SIPECHO=$LOADGEN_DIR/tp-sipecho
TPLG=$LOADGEN_DIR/turnpike-loadgen
[ -x "$TPLG" ] && [ -x "$SIPECHO" ] || { echo "compare.sh: build turnpike-loadgen and tp-sipecho first ($LOADGEN_DIR)" >&2; exit 2; }
(( DURATION > 0 && DURATION <= 60 )) || { echo "compare.sh: --duration 1..60" >&2; exit 2; }
(( IDLE_CONNS > 0 && IDLE_CONNS <= 8000 )) || { echo "compare.sh: --idle-conns 1..8000" >&2; exit 2; }
ulimit -n 20000

source "$root/tests/rig/rig.sh"
rig_init "$RIG" || exit 1
BACKEND_PID=""
PROXY_PID=""
cleanup() {
  stop_proxy
  # Keep the raw JSON and the proxies' logs next to the table.
  if [ -n "${OUT:-}" ] && [ -d "${RIG_TMP:-/nonexistent}" ]; then
    mkdir -p "${OUT%.md}-runs"
    cp -r "$RIG_TMP"/results "$RIG_TMP"/*.log "$RIG_TMP"/*.conf "$RIG_TMP"/*.cfg "${OUT%.md}-runs/" 2>/dev/null
    cp "$TP_LOG" "${OUT%.md}-runs/turnpike.log" 2>/dev/null
  fi
  [ -n "$BACKEND_PID" ] && { kill "$BACKEND_PID" 2>/dev/null; wait "$BACKEND_PID" 2>/dev/null; }
  BACKEND_PID=""
  rig_down
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM HUP
rig_up
work=$RIG_TMP
results=$work/results
mkdir -p "$results"
[ -n "$OUT" ] || OUT=$PWD/peers-$(date -u +%Y%m%d-%H%M%S).md
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac

# Both ends reuse TIME_WAIT ports for new outgoing connections (RFC 6191
# style, timestamps on): thousands of short connections per second.
for ns in "$NS_DP" "$NS_PEER"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000" \
    net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
done

# --- PKI: ECDSA P-256 (make-pki.sh's leaves are P-256; checked below) ---
pki=$work/pki
bash "$root/tests/control/pki/make-pki.sh" "$pki" >/dev/null || { echo "PKI generation failed" >&2; exit 1; }
openssl x509 -in "$pki/both.pem" -noout -text | grep -q 'NIST CURVE: P-256' || { echo "server leaf is not P-256" >&2; exit 1; }
cat "$pki/both-chain.pem" "$pki/both.key" > "$pki/combined.pem"   # HAProxy and hitch want one file
lgpki=$work/lgpki
# The phones' root joins the trust of every proxy (mtls mode).
"$TPLG" --pki-only --pki-dir "$lgpki" --phones 1 >/dev/null 2>&1 || { echo "turnpike-loadgen PKI failed" >&2; exit 1; }
cp "$pki/ca.pem" "$pki/server-ca.pem"
cat "$lgpki/ca.pem" >>"$pki/ca.pem"
stores=$work/stores
mkdir -p "$stores"
cp "$pki/both-chain.pem" "$stores/server.pem"
cp "$pki/both.key" "$stores/privkey.pem"
cp "$pki/ca.pem" "$stores/ca.pem"

ip netns exec "$NS_PEER" "$SIPECHO" --listen "$PEER_IP:5060" --cpu "$LOAD_CPU" --duration 3600 2>"$work/sipecho.log" &
BACKEND_PID=$!
for _ in $(seq 50); do grep -q ready "$work/sipecho.log" && break; sleep 0.1; done

# --- proxies: start_<name> VARIANT (plain | mtls) sets PROXY_PID ----------------
kernel_addr_on()  { ip -n "$NS_DP" addr add "$TP_IP/24" dev "$IF_DP" 2>/dev/null || true; ip -n "$NS_PEER" neigh flush all; }
kernel_addr_off() { ip -n "$NS_DP" addr flush dev "$IF_DP"; ip -n "$NS_PEER" neigh flush all; }
dp() { exec ip netns exec "$NS_DP" taskset -c "$PROXY_CPU" "$@"; }

start_haproxy() {
  local verify=""
  [ "$1" = mtls ] && verify="ca-file $pki/ca.pem verify required"
  cat > "$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9000
  ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend sips
  bind $TP_IP:5061 ssl crt $pki/combined.pem $verify
  default_backend sip
backend sip
  server s1 $PEER_IP:5060 send-proxy-v2
EOF
  dp haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  PROXY_PID=$!
}
start_nginx() {
  local verify=""
  [ "$1" = mtls ] && verify="ssl_verify_client on; ssl_client_certificate $pki/ca.pem; ssl_verify_depth 3;"
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 10000; }
stream {
  server {
    listen $TP_IP:5061 ssl backlog=4096;
    ssl_certificate $pki/both-chain.pem;
    ssl_certificate_key $pki/both.key;
    ssl_protocols TLSv1.3;
    $verify
    proxy_pass $PEER_IP:5060;
    proxy_protocol on;
  }
}
EOF
  dp nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx.log" 2>&1 &
  PROXY_PID=$!
}
start_hitch() {
  local verify=""
  [ "$1" = mtls ] && verify=$'client-verify = required\nclient-verify-ca = "'"$pki/ca.pem"'"'
  cat > "$work/hitch.conf" <<EOF
frontend = "[$TP_IP]:5061"
backend = "[$PEER_IP]:5060"
pem-file = "$pki/combined.pem"
workers = 1
daemon = off
user = "nobody"
group = "nogroup"
write-proxy-v2 = on
tls-protos = TLSv1.3
backlog = 4096
$verify
EOF
  dp hitch --config="$work/hitch.conf" >"$work/hitch.log" 2>&1 &
  PROXY_PID=$!
}
start_stunnel() {
  local verify=""
  [ "$1" = mtls ] && verify=$'verifyChain = yes\nCAfile = '"$pki/ca.pem"
  cat > "$work/stunnel.conf" <<EOF
foreground = yes
pid =
output = $work/stunnel-out.log
debug = 3
[sip]
accept = $TP_IP:5061
connect = $PEER_IP:5060
cert = $pki/both-chain.pem
key = $pki/both.key
sslVersionMin = TLSv1.3
protocol = proxy
$verify
EOF
  dp stunnel "$work/stunnel.conf" >"$work/stunnel.log" 2>&1 &
  PROXY_PID=$!
}
start_kamailio() {
  # A SIP proxy, not a TLS terminator: stateless forward_tcp to the backend;
  # answers return by Via (the client's rport, RFC 3581) on its TLS connection.
  local v=no
  [ "$1" = mtls ] && v=yes
  cat > "$work/kamailio-tls.cfg" <<EOF
[server:default]
method = TLSv1.2+
verify_certificate = $v
require_certificate = $v
verify_depth = 3
private_key = $pki/both.key
certificate = $pki/both-chain.pem
ca_list = $pki/ca.pem
[client:default]
verify_certificate = no
require_certificate = no
EOF
  cat > "$work/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
tcp_children=1
auto_aliases=no
listen=tls:$TP_IP:5061
listen=tcp:$TP_IP:5060
enable_tls=yes
tcp_max_connections=20000
tls_max_connections=20000
tcp_connection_lifetime=3600
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tls.so"
loadmodule "sl.so"
modparam("tls", "config", "$work/kamailio-tls.cfg")
request_route {
  forward_tcp("$PEER_IP", 5060);
  drop;
}
EOF
  dp kamailio -DD -E -m 1024 -M 32 -f "$work/kamailio.cfg" >"$work/kamailio.log" 2>&1 &
  PROXY_PID=$!
}
# turnpike sizes its af_packet ring itself (framecnt from tcp.max_connections
# and the line rate); --af-frames overrides it.
tp_start() {
  ip netns exec "$NS_DP" "$TURNPIKE" --device "net_af_packet0,iface=$IF_DP${AF_FRAMES:+,framecnt=$AF_FRAMES}" \
    --ipv4 "$TP_IP/24" --workers 1 --set "eal.file_prefix=$TP_PREFIX" "$@" >"$TP_LOG" 2>&1 &
  TP_PID=$!
  local i
  for i in $(seq 200); do
    grep -q "ready:" "$TP_LOG" && return 0
    kill -0 "$TP_PID" 2>/dev/null || { cat "$TP_LOG" >&2; TP_PID=""; return 1; }
    sleep 0.1
  done
  echo "turnpike not ready after 20 s" >&2
  return 1
}
start_turnpike() {
  local cc=none
  [ "$1" = mtls ] && cc=require
  # 1 worker on PROXY_CPU, everything else at the defaults (the product):
  # the deployment's settings (certificates, backend, PROXY v2, client
  # certificates) only.
  tp_start --set "workers.cpus=[$PROXY_CPU]" --set "stores.dir=$stores" \
    --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.proxy_v2=true --set "sip.client_cert=$cc" || return 1
  PROXY_PID=$TP_PID
}
tree() {  # tree PID: PID and its descendants
  local p=$1 c
  echo "$p"
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree "$c"; done
}
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
stop_proxy() {
  if [ "${CUR_PROXY:-}" = turnpike ]; then
    tp_stop TERM >/dev/null 2>&1
  elif [ -n "$PROXY_PID" ]; then
    # Master processes stop their workers; any left after 10 s are killed.
    local pids left
    pids=$(tree "$PROXY_PID")
    kill -TERM "$PROXY_PID" 2>/dev/null
    for _ in $(seq 100); do
      left=""
      for q in $pids; do alive "$q" && left="$left $q"; done
      [ -z "$left" ] && break
      sleep 0.1
    done
    for q in $left; do kill -KILL "$q" 2>/dev/null; done
    wait "$PROXY_PID" 2>/dev/null
  fi
  PROXY_PID=""
}
wait_listen() {  # the proxy accepts TCP on 5061
  local i
  for i in $(seq 100); do
    ip netns exec "$NS_PEER" bash -c "exec 3<>/dev/tcp/$TP_IP/5061" 2>/dev/null && return 0
    kill -0 "$PROXY_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
version_of() {
  case $1 in
    haproxy) haproxy -v | head -1 | awk '{print "HAProxy " $3}' ;;
    nginx) nginx -v 2>&1 | sed 's/.*nginx\//nginx /' ;;
    hitch) hitch --version 2>&1 | head -1 ;;
    kamailio) kamailio -v 2>&1 | head -1 | awk '{print "Kamailio " $3}' ;;
    stunnel) stunnel -version 2>&1 | grep -m1 '^stunnel' | awk '{print "stunnel " $2}' ;;
    turnpike) echo "turnpike ${TURNPIKE_LABEL:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null)}" ;;
  esac
}
sampler() {
  if [ "$1" = turnpike ]; then echo "python3 $here/sample.py turnpike $PROXY_PID $TP_PREFIX"
  else echo "python3 $here/sample.py kernel $PROXY_PID"; fi
}

# run_mode PROXY MODE: one mode from turnpike-loadgen (TLS 1.3, P-256 only,
# as every proxy is configured; --sample around the measured window).
run_mode() {
  local p=$1 m=$2 args=(--tls 1.3 --groups P-256 --duration "$DURATION" --mix nocert=1)
  case $m in
    handshake) args+=(--phones "$HS_CONNS" --per-conn 1 --method OPTIONS --warmup-s 1) ;;
    resume) args+=(--phones "$HS_CONNS" --per-conn 1 --method OPTIONS --resume 100 --warmup-s 1) ;;
    mtls) args+=(--phones "$HS_CONNS" --per-conn 1 --method OPTIONS --warmup-s 1 --mix clientauth=1 --require-cert) ;;
    # Persistent modes: every connection open before the first REGISTER
    # (--open-first), then a warm-up and the measured window, so a proxy
    # that handshakes slowly under load is still measured at N connections.
    reqresp100) args+=(--phones 100 --ramp-s 1 --open-first --warmup-s 2 --method REGISTER --body 700) ;;
    reqresp2000) args+=(--phones 2000 --ramp-s 4 --open-first --warmup-s 3 --timeout-ms 15000 --method REGISTER --body 700) ;;
    # One OPTIONS per connection, then only RFC 5626 CRLF keep-alives every
    # 30 s, as phones send them (§4.4.1 suggests 95-120 s on TCP; many ship
    # 30); sampled before the first connection and after all have been open
    # for 6 s, longer than turnpike's default 2 s before an idle session
    # hibernates (--duration bounds the opening).
    idle) args=(--tls 1.3 --groups P-256 --mix nocert=1 --phones "$IDLE_CONNS" --ramp-s 2 --method OPTIONS
                --idle-hold 6 --keepalive-s 30 --timeout-ms 15000 --duration 60) ;;
  esac
  echo "== $p $m" >&2
  ip netns exec "$NS_PEER" "$TPLG" --device "net_af_packet0,iface=$IF_PEER" --ipv4 "$TP_NET.3/24" \
    --target "$TP_IP:5061" --cpu "$LOAD_CPU" --file-prefix "tpcmp$RIG" --server-ca "$pki/server-ca.pem" \
    --pki-dir "$lgpki" --time-wait-ms 2000 --max-errors 1000000 --json "$results/$p-$m.json" \
    --sample "$(sampler "$p")" "${args[@]}" >"$results/$p-$m.log" 2>&1
  local rc=$?
  grep -E "answered and matched|full handshake|resumed handshake|transaction latency|open and idle|^errors" \
    "$results/$p-$m.log" | tee -a "$work/summary.txt" >&2
  [ "$rc" -eq 0 ] || echo "   exit $rc (see $results/$p-$m.log)" >&2
  echo "$rc" > "$results/$p-$m.rc"
  sleep 1
}

: > "$work/versions.txt"
for p in $PROXIES; do
  command -v "$p" >/dev/null 2>&1 || [ "$p" = turnpike ] || { echo "skip $p: not installed" >&2; continue; }
  [ "$p" = turnpike ] && [ ! -x "$TURNPIKE" ] && { echo "skip turnpike: $TURNPIKE missing" >&2; continue; }
  version_of "$p" >> "$work/versions.txt"
  # mtls needs another configuration; idle runs on a fresh process, since
  # allocators and pools keep what earlier runs freed.
  for variant in plain mtls idle; do
    want=()
    for m in $MODES; do
      case $variant in
        mtls|idle) [ "$m" = "$variant" ] && want+=("$m") ;;
        plain) [ "$m" != mtls ] && [ "$m" != idle ] && want+=("$m") ;;
      esac
    done
    [ ${#want[@]} -eq 0 ] && continue
    CUR_PROXY=$p
    if [ "$p" = turnpike ]; then kernel_addr_off; else kernel_addr_on; fi
    # A proxy left over from the previous run would take this one's load.
    if ip netns exec "$NS_PEER" timeout 2 bash -c "exec 3<>/dev/tcp/$TP_IP/5061" 2>/dev/null; then
      echo "compare.sh: something still listens on $TP_IP:5061 before $p starts" >&2
      exit 1
    fi
    "start_$p" "$variant" || { echo "$p failed to start" >&2; continue; }
    if ! wait_listen; then
      echo "$p ($variant) not listening; log:" >&2
      cat "$work/$p.log" "$TP_LOG" 2>/dev/null | tail -20 >&2
      stop_proxy
      continue
    fi
    if [ "$variant" = idle ]; then
      # Warm-up: touches what every run touches once (turnpike's af_packet
      # rings, pools for 50 connections) so the idle delta is the connections'.
      ip netns exec "$NS_PEER" "$TPLG" --device "net_af_packet0,iface=$IF_PEER" --ipv4 "$TP_NET.3/24" \
        --target "$TP_IP:5061" --cpu "$LOAD_CPU" --file-prefix "tpcmp$RIG" --server-ca "$pki/server-ca.pem" \
        --pki-dir "$lgpki" --time-wait-ms 2000 --max-errors 1000000 --tls 1.3 --groups P-256 --mix nocert=1 \
        --phones 50 --per-conn 1 --method OPTIONS --count 3000 --duration 30 >/dev/null 2>&1
      sleep 2.5  # turnpike's TIME_WAIT (2 s) and the proxies' closes settle
    fi
    for m in "${want[@]}"; do run_mode "$p" "$m"; done
    stop_proxy
    CUR_PROXY=""
  done
done
kernel_addr_off

python3 "$here/report.py" "$results" "$work/versions.txt" "$PROXIES" "$MODES" | tee "$OUT"
echo "results: $OUT" >&2
