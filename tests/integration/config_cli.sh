#!/usr/bin/env bash
# --check-config and configuration errors from the real binary.
# usage: config_cli.sh TURNPIKE_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bin=$1
TP_LOG=/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$("$bin" --check-config 2>&1)
check "embedded default validates" grep -q "embedded default: configuration OK" <<<"$out"
"$bin" --check-config --config "$here/../../deploy/turnpike.toml" >/dev/null 2>&1
check "sample deploy/turnpike.toml validates" test $? -eq 0
printf '[[ports]]\ndevice = "net_ring0"\nipv4 = "198.18.0.1/24"\n[workers]\ncount = 99\n' >"$tmp/bad.toml"
out=$("$bin" --check-config --config "$tmp/bad.toml" 2>&1)
rc=$?
check "bad value: exit 2" test $rc -eq 2
check "bad value: names file, line and key" grep -q "bad.toml:5: workers.count: must be between 1 and 64" <<<"$out"
out=$("$bin" --check-config --config "$tmp/missing.toml" 2>&1)
check "missing file: clear error" grep -q "missing.toml: cannot open config file" <<<"$out"
out=$("$bin" --check-config --set idle.policy=spin 2>&1)
check "bad override: clear error" grep -q 'idle.policy: expected "poll", "adaptive" or "auto"' <<<"$out"
out=$("$bin" --check-config --workers 2 --ipv4 198.18.9.1/24 2>&1)
check "CLI overrides applied" grep -q "workers=2.*" <<<"$out"
check "CLI address applied" grep -q "ipv4=198.18.9.1/24" <<<"$out"
finish
