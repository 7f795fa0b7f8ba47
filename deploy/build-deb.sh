#!/usr/bin/env bash
# Builds the turnpike Debian package from the release build (as root on
# Debian 12): bash deploy/build-deb.sh [--no-build] [--out DIR]
#   --no-build  package what build/release already holds (CI: after the build)
#   --out DIR   where the .deb goes (default build/deb)
# The binaries are the release build's (wolfSSL linked in statically);
# deploy/debian is copied next to them and dpkg-buildpackage packages them:
# dh_shlibdeps derives the DPDK/mimalloc dependencies from the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=1
out="$here/build/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --out) out=$2; shift ;;
    *) echo "usage: build-deb.sh [--no-build] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
rel="$here/build/release"
bins=("$rel/dataplane/app/turnpike" "$rel/control/turnpikectl" "$rel/control/turnpike-certs"
      "$rel/bench/loadgen/turnpike-loadgen")

if [ $build -eq 1 ]; then
  bash deploy/setup-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target turnpike turnpikectl turnpike-certs turnpike-loadgen
fi
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "build-deb.sh: $b missing: build the release preset first" >&2; exit 1; }
done
for t in dpkg-buildpackage dh help2man; do
  command -v "$t" >/dev/null || { echo "build-deb.sh: $t missing: run deploy/setup-deps.sh" >&2; exit 1; }
done

# One version: CMake's project() and the package changelog must agree.
version=$(sed -nE 's/^project\(turnpike VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
deb_version=$(dpkg-parsechangelog -l deploy/debian/changelog -S Version)
[ "${deb_version%-*}" = "$version" ] || {
  echo "build-deb.sh: deploy/debian/changelog has $deb_version, CMakeLists.txt $version" >&2
  exit 1
}

mkdir -p "$out"
src="$out/turnpike-$version"
rm -rf "$src"
mkdir -p "$src/stage/bin" "$src/stage/deploy"
cp -rL deploy/debian "$src/debian"  # -L: debian/turnpike.service is deploy/turnpike.service
cp "${bins[@]}" "$src/stage/bin/"
cp deploy/turnpike.toml deploy/turnpike-prepare deploy/turnpikectl.bash-completion \
   control/data/public_ca_eku_sunset.tsv "$src/stage/deploy/"
rm -f "$out"/turnpike_"$deb_version"_*.deb "$out"/turnpike-dbgsym_"$deb_version"_*.*deb
(cd "$src" && dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1) || {
  tail -40 "$out/build.log" >&2
  echo "build-deb.sh: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
  exit 1
}
rm -rf "$src"
deb="$out/turnpike_${deb_version}_amd64.deb"
[ -f "$deb" ] || { echo "build-deb.sh: $deb not produced" >&2; exit 1; }
echo "$deb"
