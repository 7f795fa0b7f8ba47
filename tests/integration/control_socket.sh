#!/usr/bin/env bash
# The control socket end to end, in the HAProxy set_ssl_cert.vtc pattern:
# the SHA-256 fingerprint of the certificate a new TLS handshake (a real
# client in the peer namespace) sees before a staged server-certificate
# change, while it is staged, after Abort (unchanged) and after Commit (new),
# with the commit-to-visible latency measured by a client handshaking in a
# loop. Then the EKU mode through turnpikectl (a serverAuth-only client is
# refused in On, accepted in Off), the read-only socket, a second
# transaction refused, a client killed mid-transaction, reload, exit codes.
# usage: control_socket.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
pki_script=$3
rig_init "${4:-173}"
rig_up
rig_pki_stores "$pki_script" client
sock="$RIG_TMP/run/ctl.sock"
rosock="$RIG_TMP/run/ctl.ro.sock"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID ${PROBE_PID:-} ${SESS_PID:-} ${SESS2_PID:-} 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" --set stores.eku_mode=on \
  --set "sip.backends=[\"$PEER_IP:5060\"]" --set "events.file=$RIG_TMP/events.log" \
  --set "control.socket=$sock" --set "control.readonly_socket=$rosock" || exit 1

ctl() { "$ctlbin" --socket "$sock" "$@"; }
out=$("$bin" --check-config --set "stores.dir=$stores" --set control.mode=0999 2>&1)
rc=$?
check "a bad [control] mode is a configuration error naming the key" \
  bash -c '[ "$1" -eq 2 ] && grep -q "control.mode: \"0999\" is not an octal mode" <<<"$2"' _ "$rc" "$out"
check "--check-config shows the control sockets" \
  grep -q "control socket: $sock read-only: $rosock group=(the daemon's) mode=0660" \
  <<<"$("$bin" --check-config --set "stores.dir=$stores" --set "control.socket=$sock" --set "control.readonly_socket=$rosock")"
fp_of() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
# fp_seen: the SHA-256 fingerprint of the certificate a new handshake presents.
fp_seen() {
  peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
sc() {  # sc LEAF: s_client's output for one OPTIONS presenting LEAF
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-h\r\nTo: <sip:edge.test>\r\nFrom: <sip:a@test>;tag=1\r\nCall-ID: h1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' |
    peer timeout 4 openssl s_client -connect "$TP_IP:5061" -CAfile "$pki/ca.pem" -cert "$pki/$1.pem" \
      -key "$pki/$1.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}
# A session held open (turnpikectl -f -): send a line, read to its status line.
sess_cmd() {  # sess_cmd LINE
  echo "$1" >&"${SESS[1]}"
  local l
  while IFS= read -r -t 20 l <&"${SESS[0]}"; do
    echo "  | $l"
    [ "$l" = OK ] && return 0
    [[ $l == ERROR:* ]] && return 1
  done
  return 2
}

old_fp=$(fp_of "$pki/both.pem")
new_fp=$(fp_of "$pki/san.pem")
check "socket created with mode 0660" test "$(stat -c %a "$sock")" = 660
check "read-only socket created" test -S "$rosock"
check "turnpikectl: mode reads On" grep -q "Mode: On" <<<"$(ctl mode)"

# --- set_ssl_cert.vtc: before, staged, abort, commit.
check "before: a new handshake sees the current server certificate" test "$(fp_seen)" = "$old_fp"
coproc SESS { "$ctlbin" --socket "$sock" -f -; }
SESS_PID=$!
sess_cmd "xCommand Certificate Upload Store: Server Certificate: $pki/san-chain.pem Key: $pki/san.key"
check "staged a new server certificate (session held open)" test $? -eq 0
check "staged: new handshakes still see the old certificate" test "$(fp_seen)" = "$old_fp"
staged=$(ctl cert show staged)
check "cert show staged (another client) shows the staged certificate" grep -q "Staged Server SHA256: $new_fp" <<<"$staged"
out=$(ctl cert swap server "$pki/both-chain.pem" "$pki/both.key" 2>&1)
rc=$?
echo "  second transaction: $out"
check "a second transaction is refused (exit 1) naming the ongoing one" \
  bash -c '[ "$1" -eq 1 ] && grep -q "another certificate transaction is in progress (uid 0 pid [0-9]*.*san-chain.pem" <<<"$2"' _ "$rc" "$out"
sess_cmd "xCommand Certificate Abort"
check "abort answered OK" test $? -eq 0
check "after Abort: unchanged" test "$(fp_seen)" = "$old_fp"

# Commit while a client handshakes in a loop: the first handshake that
# presents the new certificate gives the commit-to-visible latency.
cat >"$RIG_TMP/probe.py" <<'PY'
import hashlib, socket, ssl, sys, time
host, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
import os
with open(out, "w") as f:
    end = time.time() + 20
    while time.time() < end and not os.path.exists(stop):
        t = time.time()
        try:
            with ctx.wrap_socket(socket.create_connection((host, 5061), timeout=3)) as s:
                fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest().upper()
        except Exception as e:
            fp = "error:" + type(e).__name__
        f.write(f"{t:.6f} {time.time():.6f} {fp}\n")
        f.flush()
PY
sess_cmd "xCommand Certificate Upload Store: Server Certificate: $pki/san-chain.pem Key: $pki/san.key" >/dev/null
check "staged again" test $? -eq 0
ip netns exec "$NS_PEER" python3 "$RIG_TMP/probe.py" "$TP_IP" "$RIG_TMP/probe.out" "$RIG_TMP/probe.stop" &
PROBE_PID=$!
sleep 1
t_sent=$(date +%s.%N)
commit_out=$(sess_cmd "xCommand Certificate Commit")
rc=$?
t_ok=$(date +%s.%N)
echo "$commit_out"
check "commit answered OK" test $rc -eq 0
commit_us=$(grep -o 'CommitUs: [0-9]*' <<<"$commit_out" | cut -d' ' -f2)
sleep 1
touch "$RIG_TMP/probe.stop"
wait "$PROBE_PID"
PROBE_PID=
check "after Commit: a new handshake sees the new certificate" test "$(fp_seen)" = "$new_fp"
python3 - "$RIG_TMP/probe.out" "$t_sent" "$t_ok" "${old_fp//:/}" "${new_fp//:/}" "${commit_us:-0}" >"$RIG_TMP/latency.txt" <<'PY'
import sys
path, t_sent, t_ok, old, new = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
commit_us = int(sys.argv[6])
rows = [l.split() for l in open(path)]
rows = [(float(a), float(b), fp) for a, b, fp in rows]
errors = sum(1 for r in rows if r[2].startswith("error"))
first_new = min((r[0] for r in rows if r[2] == new), default=None)
late_old = [r for r in rows if r[2] == old and r[0] > t_ok]
hs = sorted(r[1] - r[0] for r in rows if not r[2].startswith("error"))
print(f"handshakes {len(rows)}, errors {errors}, median handshake {1000 * hs[len(hs) // 2]:.1f} ms" if hs else "no handshakes")
print(f"commit reply after {1000 * (t_ok - t_sent):.1f} ms; in the daemon: {commit_us / 1000:.1f} ms (validate, build contexts, write and fsync the generation, publish)")
last_old = max((r[0] for r in rows if r[2] == old), default=None)
if first_new is not None:
    print(f"commit-to-visible: first handshake presenting the new certificate started {1000 * (first_new - t_sent):.1f} ms after the Commit was sent")
if last_old is not None:
    print(f"last handshake presenting the old certificate started {1000 * (t_ok - last_old):.1f} ms before the commit reply")
print(f"old certificate after the commit reply: {len(late_old)}")
ok = errors == 0 and first_new is not None and not late_old
print("LATENCY_OK" if ok else "LATENCY_BAD")
PY
cat "$RIG_TMP/latency.txt"
check "every handshake after the commit reply presents the new certificate; no handshake failed" \
  grep -q LATENCY_OK "$RIG_TMP/latency.txt"
out=$(sess_cmd "xCommand Certificate Show")  # (a pipeline would not see the coproc's fds)
check "cert show: the live server store is the new certificate" grep -q "Server SHA256: $new_fp" <<<"$out"
eval "exec ${SESS[1]}>&-"
wait "$SESS_PID" 2>/dev/null
SESS_PID=

# --- EKU mode through turnpikectl.
check "mode On: a serverAuth-only client is refused" grep -q "alert unsupported certificate" <<<"$(sc server)"
ctl mode off
check "turnpikectl mode off: exit 0" test $? -eq 0
check "mode Off: the serverAuth-only client is accepted" grep -q "SIP/2.0 200 OK" <<<"$(sc server)"
check "turnpikectl mode reads Off" grep -q "Mode: Off" <<<"$(ctl mode)"
check "xConfiguration JSON form" test "$(json_get "$(ctl config SIP TLS Certificate --json)" 'd["SIP"]["TLS"]["Certificate"]["ExtendedKeyUsage"]["Checking"]["Mode"]')" = Off
ctl xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode: On
check "raw xConfiguration ... Mode: On: exit 0" test $? -eq 0
check "mode On again: refused again" grep -q "alert unsupported certificate" <<<"$(sc server)"
out=$(ctl xConfiguration XCP TLS Certificate CVS EnableServerEkuUpload: On)
check "deprecated EnableServerEkuUpload accepted and reported" grep -q "deprecated and ignored" <<<"$out"

# --- read-only socket, exit codes.
out=$("$ctlbin" --socket "$rosock" mode off 2>&1)
rc=$?
check "read-only socket refuses a change (exit 1)" bash -c '[ "$1" -eq 1 ] && grep -q "read-only control socket" <<<"$2"' _ "$rc" "$out"
check "mode unchanged by the refused change" grep -q "Mode: On" <<<"$(ctl mode)"
st=$("$ctlbin" --socket "$rosock" --json status)
check "read-only socket serves xStatus JSON (snapshot generation, workers, SIP)" \
  test "$(json_get "$st" '(d["Snapshot"]["Generation"] >= 3, "0" in d["Worker"], "1" in d["Worker"], d["SIP"]["handshakes_ok"] > 0, d["Backend"]["1"]["Status"])')" = "(True, True, True, True, 'up')"
"$ctlbin" --socket "$RIG_TMP/none.sock" status >/dev/null 2>&1
check "no daemon on the socket: exit 3" test $? -eq 3
ctl frobnicate >/dev/null 2>&1
check "usage error: exit 2" test $? -eq 2
ctl xCommand Frobnicate >/dev/null 2>&1
check "unknown daemon command: exit 1" test $? -eq 1

# --- a client killed mid-transaction leaves nothing staged.
coproc SESS { "$ctlbin" --socket "$sock" -f -; }
SESS2_PID=$!
sess_cmd "xCommand Certificate Upload Store: Server Certificate: $pki/both-chain.pem Key: $pki/both.key" >/dev/null
check "staged in a session" test $? -eq 0
kill -KILL "$SESS2_PID"
wait "$SESS2_PID" 2>/dev/null
SESS2_PID=
sleep 0.3
out=$(ctl cert show staged 2>&1)
check "killed mid-transaction: nothing staged any more" grep -q "no certificate transaction is open" <<<"$out"
check "the abort is an event" grep -q "the client disconnected with the transaction open" <<<"$(ctl events 20)"
check "still the committed certificate" test "$(fp_seen)" = "$new_fp"

# --- reload through the socket (the SIGHUP path), audit.
gen_before=$(json_get "$(ctl --json status Snapshot)" 'd["Snapshot"]["Generation"]')
ctl reload
check "turnpikectl reload: exit 0" test $? -eq 0
gen_after=$(json_get "$(ctl --json status Snapshot)" 'd["Snapshot"]["Generation"]')
check "reload published a new snapshot ($gen_before -> $gen_after)" test "$gen_after" -gt "$gen_before"
check "xCommand Audit answers" test -n "$(ctl audit)"
check "every change is in the events file" \
  bash -c 'grep -q "Certificate Staged" "$1" && grep -q "Certificate Transaction Aborted" "$1" && grep -q "EKU Checking Mode Change" "$1"' _ "$RIG_TMP/events.log"

tp_stop TERM
check "clean exit" test $? -eq 0
check "socket files removed at stop" bash -c '! test -e "$1" && ! test -e "$2"' _ "$sock" "$rosock"
finish
