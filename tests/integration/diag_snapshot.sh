#!/usr/bin/env bash
# The diagnostics snapshot end to end (issue 11 item 2): a 3 s snapshot with
# KeyLog On while openssl s_client sends a SIP OPTIONS over TLS 1.2 and 1.3; the
# tar.gz holds the spec's file names and no private key; tshark reads the
# workers' pcapng (the TCP SYN and the TLS ClientHello of that connection)
# and, with the key log, decrypts both OPTIONS. Then a capture bounded to 4
# frames stops there and counts the rest; one snapshot at a time; the
# socket answers other clients during a capture; the read-only socket
# refuses it; the key-log events (Level 1) on and off.
# usage: diag_snapshot.sh TURNPIKE_BINARY TURNPIKECTL PKI_SCRIPT RIG_ID
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rig/rig.sh"
source "$here/lib.sh"
bin=$1
ctlbin=$2
pki_script=$3
rig_init "${4:-178}"
for tool in tshark capinfos tar; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool is not installed (deploy/setup-deps.sh installs it)"; exit 1; }
done
rig_up
rig_pki_stores "$pki_script" client
sock="$RIG_TMP/run/ctl.sock"
rosock="$RIG_TMP/run/ctl.ro.sock"
diagdir="$RIG_TMP/diag"
ip netns exec "$NS_PEER" python3 "$here/sip_peers.py" backend "$PEER_IP" 5060 "$RIG_TMP/backend.log" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID ${DIAG_PID:-} 2>/dev/null; rig_down' EXIT
rig_start_turnpike "$bin" 2 --set "stores.dir=$stores" \
  --set "sip.backends=[\"$PEER_IP:5060\"]" --set "events.file=$RIG_TMP/events.log" \
  --set "control.socket=$sock" --set "control.readonly_socket=$rosock" --set "diagnostics.dir=$diagdir" || exit 1
ctl() { "$ctlbin" --socket "$sock" "$@"; }
options() {  # options VERSION CALL-ID: one SIP OPTIONS over TLS (-tls1_2|-tls1_3) with the client certificate
  printf 'OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.0.9;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nTo: <sip:edge.test>\r\nFrom: <sip:diag@test>;tag=1\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' "$2" "$2" |
    peer timeout 2 openssl s_client -connect "$TP_IP:5061" "$1" -CAfile "$pki/ca.pem" -cert "$pki/client.pem" \
      -key "$pki/client.key" -cert_chain "$pki/inter.pem" -ign_eof 2>&1
}

# --- the snapshot: 3 s, key log on, one connection inside the window.
ctl diag 3 keylog >"$RIG_TMP/diag.out" 2>&1 &
DIAG_PID=$!
sleep 0.5
t0=$(date +%s%N)
st=$(ctl status Snapshot 2>&1)
t1=$(date +%s%N)
check "the socket answers another client during the capture ($(( (t1 - t0) / 1000000 )) ms)" \
  bash -c '[ $(( ($2 - $1) / 1000000 )) -lt 1000 ] && grep -q Generation <<<"$3"' _ "$t0" "$t1" "$st"
out=$(ctl diag 1 2>&1)
check "a second snapshot is refused while one runs (exit 1)" \
  bash -c '[ "$1" -ne 0 ] && grep -q "already running" <<<"$2"' _ "$?" "$out"
check "the read-only socket refuses a snapshot" \
  grep -q "read-only control socket" <<<"$("$ctlbin" --socket "$rosock" diag 1 2>&1)"
# Both connections at once: each s_client holds its connection for 2 s, and
# both must fall inside the 3 s window.
options -tls1_3 diag-13 >"$RIG_TMP/sc13.out" &
SC13_PID=$!
sc=$(options -tls1_2 diag-12)
check "s_client: TLS 1.2 handshake and a 200 to the OPTIONS" \
  bash -c 'grep -q "Protocol *: TLSv1.2" <<<"$1" && grep -q "SIP/2.0 200" <<<"$1"' _ "$sc"
wait $SC13_PID
sc=$(cat "$RIG_TMP/sc13.out")
check "s_client: TLS 1.3 handshake and a 200 to the OPTIONS" \
  bash -c 'grep -q "TLSv1.3" <<<"$1" && grep -q "SIP/2.0 200" <<<"$1"' _ "$sc"
wait "$DIAG_PID"
rc=$?
DIAG_PID=""
cat "$RIG_TMP/diag.out"
check "turnpikectl diag: exit 0" test "$rc" -eq 0
tgz=$(sed -n 's/^Path: //p' "$RIG_TMP/diag.out")
check "the reply names the archive under diagnostics.dir" bash -c '[ -f "$1" ] && [[ $1 == "$2"/diagnostics_*.tar.gz ]]' _ "$tgz" "$diagdir"
check "the archive is mode 0600" test "$(stat -c %a "$tgz")" = 600
list=$(tar -tzf "$tgz")
echo "$list" | sed 's/^/  | /'
host='[A-Za-z0-9.-]+'
ts='[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}'
for kind in ca.pem client.pem server.pem xconf_dump.txt xconf_dump.json xstat_dump.txt xstat_dump.json \
            loggingsnapshot.txt keylog.txt eth0_diagnostic_logging_tcpdump00.pcapng; do
  k=${kind%%.*} ext=${kind#*.}
  check "archive holds ${k}_<host>_<time>.$ext" grep -Eq "^${k}_${host}_${ts}\.${ext}\$" <<<"$list"
done
check "every name follows <kind>_<host>_<YYYY-MM-DD_HH_MM_SS>.<ext>" \
  bash -c '! grep -Evq "^[a-z0-9_]+_$1_$2\.[a-z]+\$" <<<"$3"' _ "$host" "$ts" "$list"
x="$RIG_TMP/x"
mkdir -p "$x"
tar -xzf "$tgz" -C "$x"
check "no private key inside" bash -c '! grep -rlq "PRIVATE KEY" "$1"' _ "$x"
check "server PEM is the live server chain" \
  bash -c 'diff -q <(openssl x509 -in "$1"/server_*.pem -noout -fingerprint) <(openssl x509 -in "$2" -noout -fingerprint)' _ "$x" "$pki/both-chain.pem"
check "xconf_dump JSON parses and shows the EKU mode" \
  python3 -c 'import json,sys,glob; d=json.load(open(glob.glob(sys.argv[1]+"/xconf_dump_*.json")[0])); assert "SIP" in d' "$x"
check "xstat_dump JSON parses and shows the workers" \
  python3 -c 'import json,sys,glob; d=json.load(open(glob.glob(sys.argv[1]+"/xstat_dump_*.json")[0])); assert "Worker" in d' "$x"
check "xstat_dump text has xStatus lines" grep -q "^\*s " "$x"/xstat_dump_*.txt
check "loggingsnapshot holds the event log (key logging enabled)" grep -q "TLS Key Logging Enabled" "$x"/loggingsnapshot_*.txt
pcap=$(ls "$x"/eth0_diagnostic_logging_tcpdump00_*.pcapng)
kl=$(ls "$x"/keylog_*.txt)
echo "  capinfos: $(capinfos -c -M "$pcap" 2>&1 | grep 'Number of packets')"
syn=$(tshark -r "$pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 5061" 2>/dev/null | wc -l)
check "tshark: the TCP SYNs of the connections ($syn)" test "$syn" -ge 2
synack=$(tshark -r "$pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.srcport == 5061" 2>/dev/null | wc -l)
check "tshark: our SYN-ACK (transmitted frames are captured too) ($synack)" test "$synack" -ge 1
hello=$(tshark -r "$pcap" -Y "tls.handshake.type == 1" 2>/dev/null | wc -l)
check "tshark: the TLS ClientHellos ($hello)" test "$hello" -ge 2
sed 's/^\([A-Z_0-9]*\) .*/  key log: \1/' "$kl"
check "key log: a CLIENT_RANDOM line (TLS 1.2)" grep -Eq "^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}\$" "$kl"
for l in CLIENT_HANDSHAKE_TRAFFIC_SECRET SERVER_HANDSHAKE_TRAFFIC_SECRET CLIENT_TRAFFIC_SECRET_0 SERVER_TRAFFIC_SECRET_0; do
  check "key log: $l (TLS 1.3)" grep -Eq "^$l [0-9a-f]{64} [0-9a-f]{64,96}\$" "$kl"
done
# The TLS leg only (port 5061): the backend leg carries the same OPTIONS in clear.
dec=$(tshark -r "$pcap" -o "tls.keylog_file:$kl" -Y "sip && tcp.port == 5061" -T fields -e sip.Method -e sip.Call-ID 2>/dev/null)
echo "  decrypted: $(tr '\n' ' ' <<<"$dec")"
check "tshark with the key log decrypts the SIP OPTIONS over TLS 1.2" grep -q "OPTIONS.*diag-12" <<<"$dec"
check "tshark with the key log decrypts the SIP OPTIONS over TLS 1.3" grep -q "OPTIONS.*diag-13" <<<"$dec"
check "without the key log it does not" \
  bash -c '! tshark -r "$1" -Y "sip && tcp.port == 5061" 2>/dev/null | grep -q OPTIONS' _ "$pcap"
check "events: key logging enabled and disabled, Level 1" \
  bash -c 'grep "TLS Key Logging Enabled" "$1" | grep -q "Level=\"1\"" && grep "TLS Key Logging Disabled" "$1" | grep -q "Level=\"1\""' _ "$RIG_TMP/events.log"

# --- a bounded capture: 4 frames at most, the rest counted.
peer ping -c 20 -i 0.05 -q "$TP_IP" >/dev/null 2>&1 &
PING_PID=$!
out=$(ctl diag 2 max-packets 4 2>&1)
wait $PING_PID
echo "$out" | grep -E "^(Frames|FramesDropped|Path):" | sed 's/^/  | /'
frames=$(sed -n 's/^Frames: //p' <<<"$out")
dropped=$(sed -n 's/^FramesDropped: //p' <<<"$out")
check "bounded capture: at most 4 frames kept ($frames)" test "${frames:-99}" -le 4
check "bounded capture: the rest counted ($dropped)" test "${dropped:-0}" -gt 0
tgz2=$(sed -n 's/^Path: //p' <<<"$out")
y="$RIG_TMP/y"
mkdir -p "$y"
tar -xzf "$tgz2" -C "$y"
n=$(capinfos -c -M "$y"/eth0_diagnostic_logging_tcpdump00_*.pcapng 2>/dev/null | sed -n 's/.*Number of packets: *//p')
check "the bounded pcapng holds $n frame(s) (at most 4)" test "${n:-99}" -le 4
check "no key log without KeyLog On" bash -c '! ls "$1"/keylog_* >/dev/null 2>&1' _ "$y"
check "json reply" bash -c 'python3 -c "import json,sys; d=json.loads(sys.stdin.read()); assert d[\"Path\"].endswith(\".tar.gz\") and d[\"Members\"]" <<<"$1"' _ "$(ctl --json diag 0)"

tp_stop TERM
check "clean exit" test $? -eq 0
finish
