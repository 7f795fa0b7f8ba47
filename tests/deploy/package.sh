#!/usr/bin/env bash
# The Debian package end to end on this machine, as root: build it from the
# release build (deploy/build-deb.sh --no-build), lintian without errors,
# install with dpkg -i, check files, modes, user, conffile, unit
# (systemd-analyze verify), the daemon starting under the unit's identity
# (user turnpike, the unit's capability set, in a private network namespace),
# the conffile kept on reinstall, remove, purge. The service is never started
# and everything is purged at the end.
# usage: package.sh SOURCE_DIR
set -uo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
fails=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() {  # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (dpkg -i)"; exit 77; }
# dpkg's state of the package: empty when dpkg knows nothing of it.
pkg_state() { dpkg-query -W -f='${db:Status-Status}' turnpike 2>/dev/null | grep -v '^not-installed$'; }
# Never touch a real installation on the machine running the tests.
if [ -n "$(pkg_state)" ]; then
  echo "SKIP: a turnpike package is installed here; not touching it"
  exit 77
fi
[ -e /etc/turnpike ] && { echo "SKIP: /etc/turnpike exists (not from a package); not touching it"; exit 77; }
user_before=0
getent passwd turnpike >/dev/null && user_before=1
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  if [ -n "$(pkg_state)" ]; then
    dpkg -P turnpike >/dev/null 2>&1 || echo "cleanup: dpkg -P turnpike failed"
  fi
  # The package leaves its system user on purge (Debian practice); a test
  # machine should not keep one it did not have.
  if [ $user_before -eq 0 ] && getent passwd turnpike >/dev/null; then
    deluser --system --quiet turnpike >/dev/null 2>&1 || echo "cleanup: deluser turnpike failed"
    getent group turnpike >/dev/null && delgroup --system --quiet turnpike >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- build and lint --------------------------------------------------------
deb=$(bash "$src/deploy/build-deb.sh" --no-build --out "$tmp/deb") || { echo "FAIL - build-deb.sh"; exit 1; }
ok "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
lint=$(lintian --fail-on error "$deb" 2>&1)
rc=$?
lint=$(grep -v 'running with root privileges' <<<"$lint")
check "lintian: no errors${lint:+ (other tags: $(echo "$lint" | tr '\n' ' '))}" test $rc -eq 0
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/turnpike ./usr/sbin/turnpike-prepare ./usr/bin/turnpikectl ./usr/bin/turnpike-certs \
         ./usr/bin/turnpike-loadgen ./usr/share/man/man1/turnpike-loadgen.1.gz \
         ./etc/turnpike/turnpike.toml ./lib/systemd/system/turnpike.service ./etc/logrotate.d/turnpike \
         ./usr/share/bash-completion/completions/turnpikectl ./usr/share/man/man8/turnpike.8.gz \
         ./usr/share/man/man1/turnpikectl.1.gz ./usr/share/man/man1/turnpike-certs.1.gz \
         ./usr/share/man/man8/turnpike-prepare.8.gz; do
  check "package holds $f" grep -q " $f\$" <<<"$contents"
done
depends=$(dpkg-deb -f "$deb" Depends)
for d in librte-eal23 librte-ethdev23 libmimalloc2.0 dpdk librte-mempool-ring23 adduser; do
  check "Depends names $d" grep -qE "(^|, )$d( |,|$)" <<<"$depends"
done
check "wolfSSL is linked in, not a dependency" bash -c "! grep -qi wolfssl <<<'$depends'"

# --- install ------------------------------------------------------------------
if ! DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" </dev/null >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL - dpkg -i"
  exit 1
fi
ok "dpkg -i"
mode() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "/usr/sbin/turnpike 755 root:root" test "$(mode /usr/sbin/turnpike)" = "755 root:root"
check "/etc/turnpike/turnpike.toml 644 root:root" test "$(mode /etc/turnpike/turnpike.toml)" = "644 root:root"
check "turnpike.toml is a conffile" grep -q '/etc/turnpike/turnpike.toml' <(dpkg-query -W -f='${Conffiles}' turnpike)
pw=$(getent passwd turnpike)
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
check "user turnpike is a system user (uid $uid < 1000)" test -n "$uid" -a "${uid:-9999}" -lt 1000
check "user turnpike: home /var/lib/turnpike, no login shell ($shell)" \
  test "$home" = /var/lib/turnpike -a "$shell" = /usr/sbin/nologin
check "group turnpike is the user's group" test "$(getent group turnpike | cut -d: -f3)" = "$gid"
check "/var/lib/turnpike 750 turnpike:turnpike" test "$(mode /var/lib/turnpike)" = "750 turnpike:turnpike"
check "/var/lib/turnpike/stores 750 turnpike:turnpike" test "$(mode /var/lib/turnpike/stores)" = "750 turnpike:turnpike"
check "/var/log/turnpike 750 turnpike:adm" test "$(mode /var/log/turnpike)" = "750 turnpike:adm"
check "unit not enabled at install" test ! -e /etc/systemd/system/multi-user.target.wants/turnpike.service
check "man turnpike finds the page" bash -c 'man -w turnpike | grep -q man8/turnpike.8'
check "installed daemon runs (--version)" bash -c '/usr/sbin/turnpike --version | grep -q "^turnpike "'
check "installed daemon checks the packaged config" \
  bash -c '/usr/sbin/turnpike --check-config --config /etc/turnpike/turnpike.toml >/dev/null'
# turnpike-prepare reads the installed daemon's sizing line (dry run: nothing
# reserved or bound): none for the sample's --no-huge, pages for a config
# with hugepages (reserved or already free, depending on the host).
out=$(/usr/sbin/turnpike-prepare start --dry-run 2>&1)
check "turnpike-prepare: the sample (--no-huge) needs no hugepages" grep -q "hugepages: none needed" <<<"$out"
printf '[eal]\nargs = ["--no-pci"]\n[[ports]]\nname = "t0"\ndevice = "net_tap0"\nipv4 = "198.18.250.1/24"\n' \
  >"$tmp/huge.toml"
out=$(/usr/sbin/turnpike-prepare start --dry-run --config "$tmp/huge.toml" 2>&1)
check "turnpike-prepare: a hugepage config gets pages from the daemon's sizing" grep -qE '^hugepages: .* needed' <<<"$out"
check "logrotate accepts /etc/logrotate.d/turnpike" bash -c 'logrotate -d /etc/logrotate.d/turnpike >/dev/null 2>&1'
verify=$(systemd-analyze verify /lib/systemd/system/turnpike.service 2>&1)
check "systemd-analyze verify turnpike.service: clean${verify:+ ($verify)}" test -z "$verify"
# ExecReload as systemd runs it ($$ -> $, MAINPID in the environment): with
# no control socket to reach (turnpikectl exit 3) it falls back to SIGHUP.
reload_cmd=$(sed -n 's/^ExecReload=//p' /lib/systemd/system/turnpike.service | sed 's/\$\$/$/g')
# The stand-in main process notes the SIGHUP and exits.
bash -c 'trap "echo hup >\"$1\"; kill \$!; exit 0" HUP; sleep 30 & wait' _ "$tmp/hup" &
victim=$!
sleep 0.2
(eval "MAINPID=$victim TURNPIKE_SOCKET=$tmp/no.sock $reload_cmd") >/dev/null 2>&1
for _ in $(seq 1 50); do [ -s "$tmp/hup" ] && break; sleep 0.1; done
check "ExecReload falls back to SIGHUP when the control socket is unreachable" test -s "$tmp/hup"
kill "$victim" 2>/dev/null
wait "$victim" 2>/dev/null
score=$(systemd-analyze security --offline=yes /lib/systemd/system/turnpike.service 2>/dev/null | tail -1)
echo "     ${score#→ }"

check "the unit filters system calls and denies write+execute memory" \
  bash -c 'grep -q "^SystemCallFilter=@system-service" "$1" && grep -qx "MemoryDenyWriteExecute=yes" "$1"' \
  _ /lib/systemd/system/turnpike.service

# --- the daemon under the unit's identity -------------------------------------
# What systemd would do (User=, AmbientCapabilities=, CapabilityBoundingSet=,
# NoNewPrivileges=) done with setpriv, SystemCallFilter= and
# MemoryDenyWriteExecute= with unit_sandbox.py, in a private network namespace with a
# net_tap port and no hugepages: the non-root EAL and the PMD must come up
# with that capability set alone. Bounded: 20 s for the ready line.
caps=$(sed -n 's/^AmbientCapabilities=//p' /lib/systemd/system/turnpike.service)
capl=$(for c in $caps; do printf '+%s,' "$(echo "${c#CAP_}" | tr A-Z a-z)"; done)
capl=${capl%,}
mkdir -p "$tmp/run"
chown turnpike:turnpike "$tmp/run"
chmod 755 "$tmp"
cat >"$tmp/unit-test.toml" <<END
[eal]
args = ["--no-huge", "-m", "128", "--no-pci"]
file_prefix = "tpdeb$$"
[metrics]
listen = "off"
[control]
socket = "off"
readonly_socket = "off"
[[ports]]
name = "t0"
device = "net_tap0,iface=tpdeb0"
ipv4 = "198.18.250.1/24"
END
chmod 644 "$tmp/unit-test.toml"
: >"$tmp/daemon.log"
unshare -n env XDG_RUNTIME_DIR="$tmp/run" setpriv --reuid=turnpike --regid=turnpike --init-groups \
  --inh-caps="-all,$capl" --ambient-caps="-all,$capl" --bounding-set="-all,$capl" --no-new-privs \
  /usr/bin/python3 "$src/tests/deploy/unit_sandbox.py" /lib/systemd/system/turnpike.service -- \
  /usr/sbin/turnpike --config "$tmp/unit-test.toml" >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  grep -q 'ready:' "$tmp/daemon.log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if grep -q 'ready:' "$tmp/daemon.log"; then
  ok "turnpike starts as user turnpike with the unit's capabilities only ($caps) and its system-call filter"
  kill -TERM "$pid"
  wait "$pid"
  check "and stops cleanly on SIGTERM" test $? -eq 0
else
  bad "turnpike as user turnpike with the unit's capabilities did not get ready:"
  tail -20 "$tmp/daemon.log"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
fi
pid=""

# --- reinstall keeps a changed conffile and the stores ------------------------
echo '# changed by tests/deploy/package.sh' >>/etc/turnpike/turnpike.toml
echo secret >/var/lib/turnpike/stores/marker
chown turnpike:turnpike /var/lib/turnpike/stores/marker
if DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" </dev/null >"$tmp/reinstall.log" 2>&1; then
  ok "dpkg -i again (reinstall, no question asked)"
else
  cat "$tmp/reinstall.log"
  bad "dpkg -i again"
fi
check "reinstall kept the changed conffile" grep -q 'changed by tests/deploy/package.sh' /etc/turnpike/turnpike.toml
check "reinstall left no .dpkg-dist/.dpkg-new" bash -c '! ls /etc/turnpike/*.dpkg-* 2>/dev/null | grep -q .'
check "reinstall kept the stores" test "$(cat /var/lib/turnpike/stores/marker 2>/dev/null)" = secret
check "reinstall kept the stores' mode" test "$(mode /var/lib/turnpike/stores)" = "750 turnpike:turnpike"

# --- remove, then purge -------------------------------------------------------
dpkg -r turnpike >"$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log"; bad "dpkg -r"; }
check "remove: binaries gone" test ! -e /usr/sbin/turnpike
check "remove: conffile kept" grep -q 'changed by tests/deploy/package.sh' /etc/turnpike/turnpike.toml
check "remove: stores kept" test -e /var/lib/turnpike/stores/marker
dpkg -P turnpike >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; bad "dpkg -P"; }
check "purge: conffile gone" test ! -e /etc/turnpike/turnpike.toml
check "purge: /etc/turnpike gone" test ! -e /etc/turnpike
check "purge: /var/lib/turnpike gone" test ! -e /var/lib/turnpike
check "purge: /var/log/turnpike gone" test ! -e /var/log/turnpike
check "purge: unit gone" test ! -e /lib/systemd/system/turnpike.service
check "purge: package unknown to dpkg" test -z "$(pkg_state)"
check "purge: the system user stays (Debian practice)" bash -c 'getent passwd turnpike >/dev/null'

echo "package: $fails failure(s)"
[ $fails -eq 0 ]
