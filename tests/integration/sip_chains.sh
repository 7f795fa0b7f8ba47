#!/usr/bin/env bash
# Client chains with extraneous certificates (issue 15 part 1, RFC 8446
# §4.4.2: after the leaf, certificates may come in any order and some may
# not be needed). Real clients in the peer namespace: `openssl s_client
# -cert LEAF -cert_chain FILE` (TLS 1.2) and Python ssl with a chain file
# (TLS 1.3). For an accepted leaf, a serverAuth-only leaf, a revoked leaf,
# an expired leaf, a leaf under a serverAuth-only intermediate and a leaf two
# intermediates down, in EKU mode On and Off, each of
#   chain / duplicate leaf / extra unrelated certificate / with root / root first
# must give the plain chain's outcome and Detail, and every refusal exactly
# one "Inbound TLS Negotiation Error" line (accepted: none).
# usage: sip_chains.sh TURNPIKE_BINARY PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
pki_script=$2
rig_init "${3:-172}"
rig_up
rig_pki_stores "$pki_script"
cp "$pki/inter.crl" "$stores/inter.crl"
events="$RIG_TMP/events.log"
T0=$(date +%s)

ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null; wait $BACKEND_PID 2>/dev/null; rig_down' EXIT
start() {  # start EKU_MODE
  rig_start_turnpike "$bin" 1 --set "stores.dir=$stores" --set "stores.eku_mode=$1" \
    --set "sip.backends=[\"$PEER_IP:5060\"]" --set sip.client_cert=require --set sip.health_check_interval_ms=0 \
    --set sip.handshake_timeout_ms=3000 --set "events.file=$events" --set events.rate_per_second=1000
}

# Chain files. extras-LEAF-VARIANT.pem: what follows the leaf (s_client's
# -cert_chain); full-LEAF-VARIANT.pem: leaf + extras (Python's chain file).
chains="$RIG_TMP/chains"
mkdir -p "$chains"
cas_of() {  # the leaf's intermediates, issuer first
  case $1 in
    srvsub-both) echo inter-srv ;;
    deep) echo "inter2 inter" ;;
    *) echo inter ;;
  esac
}
VARIANTS="chain dupleaf unrelated withroot rootfirst"
LEAVES="client server revoked expired srvsub-both deep"
for leaf in $LEAVES; do
  cas=""
  for c in $(cas_of "$leaf"); do cas+=" $pki/$c.pem"; done
  for v in $VARIANTS; do
    case $v in
      chain) files="$cas" ;;
      dupleaf) files="$pki/$leaf.pem $cas" ;;  # `-cert F -cert_chain F`, F = leaf + chain
      unrelated) files="$cas $pki/unrelated.pem" ;;
      withroot) files="$cas $pki/root.pem" ;;
      rootfirst) files="$pki/root.pem $cas" ;;
    esac
    # shellcheck disable=SC2086
    cat $files >"$chains/extras-$leaf-$v.pem"
    cat "$pki/$leaf.pem" "$chains/extras-$leaf-$v.pem" >"$chains/full-$leaf-$v.pem"
  done
done

REQ='OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-c\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n'
# A refused client certificate is answered with an alert and a close. Over
# TLS 1.3 the client finishes its handshake first and may send its request
# while the alert is on the way; arriving after the close, that request draws
# a RST, which makes the client's kernel drop the unread alert (any server
# that closes does this). So: s_client runs TLS 1.2, where the verdict comes
# before the server's Finished; the Python client runs TLS 1.3 and listens
# for a verdict for a moment before it sends anything.
# s_client LEAF VARIANT: one OPTIONS; returns as soon as the answer or the
# refusal is in (stdin is held open until then, so no -ign_eof wait).
s_client() {
  local out="$RIG_TMP/sc.out" fifo="$RIG_TMP/sc.in" pid i
  rm -f "$fifo"
  mkfifo "$fifo"
  : >"$out"
  peer timeout 6 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
    -key "$pki/$1.key" -cert_chain "$chains/extras-$1-$2.pem" -tls1_2 <"$fifo" >"$out" 2>&1 &
  pid=$!
  exec 3>"$fifo"
  printf "$REQ" >&3
  for i in $(seq 1 150); do
    grep -qE 'SIP/2.0 200 OK|alert|:error:' "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  exec 3>&-
  wait "$pid" 2>/dev/null
  rm -f "$fifo"
  cat "$out"
}
# pyclient LEAF VARIANT: Python ssl with the chain file; "ok STATUS" or "error REASON".
pyclient() {
  peer timeout 10 python3 - "$TP_IP" "$pki" "$chains/full-$1-$2.pem" "$pki/$1.key" <<'PY'
import socket, ssl, sys
host, pki, chain, key = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.pem")
ctx.check_hostname = False
ctx.load_cert_chain(chain, key)
try:
    s = ctx.wrap_socket(socket.create_connection((host, 5061), timeout=5), server_hostname="both.test")
    s.settimeout(0.15)  # the verdict on our certificate, if it is a refusal
    try:
        print("unexpected", s.recv(1))  # the server never speaks first
        sys.exit(0)
    except socket.timeout:
        s.settimeout(5)
    s.sendall(b"OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-p\r\n"
              b"To: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: p1\r\nCSeq: 1 OPTIONS\r\n"
              b"Content-Length: 0\r\n\r\n")
    head = s.recv(4096)
    print("ok", head.split(b"\r\n")[0].decode() if head else "EOF")
except (ssl.SSLError, OSError) as e:
    print("error", getattr(e, "reason", None) or e)
PY
}
tls_events() { grep -c '^Event="Inbound TLS Negotiation Error"' "$events" 2>/dev/null || true; }

# expect MODE LEAF -> Detail of the plain chain ("" = accepted)
expect() {
  case $2 in
    client | deep) echo "" ;;
    revoked) echo "certificate revoked" ;;
    expired) echo "certificate has expired" ;;
    server | srvsub-both) [ "$1" = on ] && echo "unsupported certificate purpose" || echo "" ;;
  esac
}
# The client-side words for that Detail's alert (RFC 8446 §6.2).
alert_re() {
  case $1 in
    "unsupported certificate purpose") echo 'alert unsupported certificate|ALERT_UNSUPPORTED_CERTIFICATE' ;;
    "certificate revoked") echo 'alert certificate revoked|ALERT_CERTIFICATE_REVOKED' ;;
    "certificate has expired") echo 'alert certificate expired|ALERT_CERTIFICATE_EXPIRED' ;;
  esac
}

run_mode() {  # run_mode on|off
  local mode=$1 leaf v client out want n0 n1 i line refusals=0 wrong=0 total=0
  start "$mode" || exit 1
  local base
  base=$(tls_events)
  for leaf in $LEAVES; do
    want=$(expect "$mode" "$leaf")
    for v in $VARIANTS; do
      for client in s_client pyclient; do
        total=$((total + 1))
        n0=$(tls_events)
        out=$($client "$leaf" "$v")
        if [ -z "$want" ]; then
          if ! grep -q "SIP/2.0 200 OK" <<<"$out"; then
            echo "FAIL - mode $mode $leaf/$v/$client: expected 200 OK, got: $(grep -vE "^(depth|verify|---|    )" <<<"$out" | tail -3)"
            wrong=$((wrong + 1))
          fi
          continue
        fi
        refusals=$((refusals + 1))
        if ! grep -qE "$(alert_re "$want")" <<<"$out" || grep -q "SIP/2.0 200 OK" <<<"$out"; then
          echo "FAIL - mode $mode $leaf/$v/$client: expected the alert for \"$want\", got: $(grep -E 'alert|error|200' <<<"$out" | head -2)"
          wrong=$((wrong + 1))
        fi
        # Its event line (written by the sink's thread: wait for it, bounded).
        for i in $(seq 1 100); do
          n1=$(tls_events)
          [ "$n1" -gt "$n0" ] && break
          sleep 0.02
        done
        line=$(grep '^Event="Inbound TLS Negotiation Error"' "$events" | tail -1)
        if [ "$n1" -ne $((n0 + 1)) ] || ! grep -q "Src-ip=\"$PEER_IP\" .*Detail=\"$want\"" <<<"$line"; then
          echo "FAIL - mode $mode $leaf/$v/$client: event lines $n0 -> $n1, last: $line"
          wrong=$((wrong + 1))
        fi
      done
    done
  done
  sleep 0.3
  local got=$(($(tls_events) - base))
  check "mode $mode: $total connections (6 leaves x 5 chain forms x 2 clients) each got the plain chain's outcome and Detail" \
    test "$wrong" -eq 0
  check "mode $mode: one event line per refusal ($refusals refusals, $got lines)" test "$got" -eq "$refusals"
  tp_stop TERM
  check "mode $mode: clean exit" test $? -eq 0
}

run_mode on
grep '^Event="Inbound TLS Negotiation Error"' "$events" | sed 's/ Src-port="[0-9]*"//; s/ UTCTime=.*//' | sort | uniq -c
run_mode off
echo "elapsed: $(($(date +%s) - T0)) s"
finish
