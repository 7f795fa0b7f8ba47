#!/usr/bin/env bash
# Installs everything turnpike needs to build, test and benchmark on Debian 12.
# Idempotent: a re-run with everything present takes seconds.
# Run as root. wolfSSL 5.5.4 is built from Debian's source package into a
# project-local prefix (.deps/wolfssl) and never installed over the system one.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
deps="${TURNPIKE_DEPS:-$here/.deps}"
wolf_prefix="$deps/wolfssl"

log() { printf '[setup-deps] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  dpdk dpdk-dev libmimalloc-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev lld-14
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  iproute2 iputils-ping iputils-arping ethtool hping3 tcpdump
  openssl python3 python3-pyelftools
  dpkg-dev autoconf automake libtool
  haproxy nginx libnginx-mod-stream hitch stunnel4 kamailio kamailio-tls-modules
  sipsak libcivetweb-dev curl
  libarchive-dev tshark
  debhelper help2man lintian man-db logrotate kmod   # deploy/build-deb.sh, tests/deploy
)
mkdir -p "$deps"
# dpkg-query answers in milliseconds: ask it every time instead of keeping a stamp.
missing=$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>&1 | grep -v 'install ok installed' || true)
if [ -n "$missing" ]; then
  log "installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${PKGS[@]}"
else
  log "Debian packages present"
fi

# --- promtool (validates /metrics in tests) ------------------------------------
# Debian ships promtool only inside the `prometheus` package, whose install
# adds a user and starts a server on :9090. We take the one binary from the
# .deb instead (apt-get download + dpkg-deb), so nothing runs.
promtool="$deps/promtool/promtool"
if [ -x "$promtool" ] && "$promtool" --version >/dev/null 2>&1; then
  log "promtool present in $deps/promtool"
else
  log "extracting promtool from Debian's prometheus package (no daemon installed)"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt's _apt user writes the download here
  (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) \
    || { apt-get update -q && (cd "$tmp" && apt-get download -q prometheus >/dev/null); }
  mkdir -p "$deps/promtool"
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  mv "$tmp/usr/bin/promtool" "$promtool"
  rm -rf "$tmp"
fi

# --- wolfSSL 5.5.4 from Debian's source package -------------------------------
WOLF_VERSION=5.5.4
# Flags: AES-NI/intelasm/SP asm for speed; the TLS features later layers need;
# PK callbacks (signature memo for the verdict cache); ALWAYS_VERIFY_CB so our
# verify callback sees every peer certificate; IGNORE_KEY_EXTENSIONS so the
# whole keyUsage/EKU policy lives in turnpike's callback (see docs/);
# altcertchains so a CA certificate the peer presents is never added to the
# context's signers (trust comes only from turnpike's trust store).
# HAVE_SECRET_CALLBACK: the diagnostics key log gets TLS 1.3 secrets through
# wolfSSL_set_tls13_secret_cb, set only on sessions armed for it (no cost
# to the others).
# WOLFSSL_FPKI: the only way in 5.5.4 to accept a SAN URI without "//" such as
# "sip:example.com" (RFC 5922 §7.1's preferred identity; strict mode refuses
# it with ASN_ALT_NAME_E, although RFC 3986 calls it an absolute URI). Read in
# asn.c: of the WOLFSSL_NO_ASN_STRICT checks, FPKI lifts only that URI one;
# unknown critical extensions, duplicate extensions and name constraints in
# non-CA certificates stay refused, whereas NO_ASN_STRICT would lift them all
# (unsafe). FPKI also decodes the FASC-N/UPN otherName SANs (listed as
# ASN_OTHER_TYPE, which turnpike ignores) and adds the FPKI policy OIDs.
# Name constraints are unchanged: 5.5.4 has no URI constraints, and it holds
# every SAN entry, URIs included, against DNS constraints (can only refuse).
# Renegotiation: no --enable-secure-renegotiation. The default
# secure-renegotiation-info still sends and checks renegotiation_info
# (RFC 5746 §3.6: the server's indication; a client's SCSV is honoured),
# but a TLS 1.2 client's renegotiating ClientHello ends the connection
# (a second full handshake is a CPU lever for the client, RFC 5746 only
# makes it safe). --enable-renegotiation-indication would instead turn
# the server's indication off (configure drops secure-renegotiation-info).
# --enable-sessionexport=nopeer: wolfSSL_tls_export/import, which idle
# sessions use to hibernate (dataplane/tls/wolf_state.c; nopeer: no socket
# address in the blob, turnpike has no socket). wolfssl/internal.h is
# installed too: wolf_state.c reads the TLS 1.3 traffic secrets the export
# leaves out, compiled against this options.h (sizes checked at run time).
WOLF_CONF=(
  --prefix="$wolf_prefix" --enable-static --disable-shared --with-pic
  --enable-intelasm --enable-aesni --enable-sp --enable-sp-asm
  --enable-tls13 --enable-tlsv12 --enable-session-ticket --enable-sni --enable-alpn
  --enable-crl --enable-ocsp --enable-certgen --enable-keygen --enable-certreq
  --enable-certext --enable-pkcallbacks --enable-opensslextra --enable-ed25519
  --enable-curve25519 --enable-ecc --enable-supportedcurves --enable-sessionexport=nopeer
  --enable-altcertchains --enable-des3 --enable-aesgcm --enable-chacha --enable-poly1305 --enable-harden
  --disable-examples --disable-crypttests --disable-benchmark
)
WOLF_CFLAGS="-O3 -DWOLFSSL_ALWAYS_VERIFY_CB -DIGNORE_KEY_EXTENSIONS -DWOLFSSL_VERIFY_CB_ALL_CERTS -DKEEP_PEER_CERT -DWOLFSSL_PUBLIC_MP -DHAVE_EX_DATA -DWOLFSSL_CERT_NAME_ALL -DHAVE_SECRET_CALLBACK -DWOLFSSL_FPKI"
# deploy/wolfssl-rand.h, injected at make time only (EXTRA_CFLAGS: configure's
# probes never see it and options.h does not name it, so no structure
# changes): random bytes from the kernel CSPRNG through a per-thread buffer
# instead of a Hash_DRBG instantiated per connection; its comment argues the
# safety.
wolf_rand="$here/deploy/wolfssl-rand.h"
WOLF_MAKE_CFLAGS="-include $wolf_rand"
want_sig="$WOLF_VERSION ${WOLF_CONF[*]} $WOLF_CFLAGS $WOLF_MAKE_CFLAGS internal.h $(sha256sum "$wolf_rand" | cut -d' ' -f1)"
if [ -f "$wolf_prefix/.build-sig" ] && [ "$(cat "$wolf_prefix/.build-sig")" = "$want_sig" ] \
   && [ -f "$wolf_prefix/lib/libwolfssl.a" ]; then
  log "wolfSSL $WOLF_VERSION present in $wolf_prefix"
else
  log "building wolfSSL $WOLF_VERSION from Debian's source package (about 30-60 s)"
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    log "adding a deb-src entry for bookworm"
    cat > /etc/apt/sources.list.d/turnpike-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -q
  fi
  src="$deps/src"
  rm -rf "$src"; mkdir -p "$src"
  (cd "$src" && apt-get source -q --download-only "wolfssl=$WOLF_VERSION*" >/dev/null 2>&1 \
      || apt-get source -q --download-only wolfssl)
  (cd "$src" && dpkg-source -x --no-copy wolfssl_*.dsc wolfssl >/dev/null)
  (cd "$src/wolfssl" && grep -q "$WOLF_VERSION" configure.ac) \
    || { echo "setup-deps.sh: Debian's wolfssl source is not $WOLF_VERSION" >&2; exit 1; }
  cd "$src/wolfssl"
  [ -x configure ] || ./autogen.sh >/dev/null 2>&1
  ./configure "${WOLF_CONF[@]}" CFLAGS="$WOLF_CFLAGS" >"$deps/wolfssl-configure.log" 2>&1 \
    || { tail -30 "$deps/wolfssl-configure.log" >&2; exit 1; }
  make -j"$(nproc)" EXTRA_CFLAGS="$WOLF_MAKE_CFLAGS" >"$deps/wolfssl-build.log" 2>&1 || { tail -30 "$deps/wolfssl-build.log" >&2; exit 1; }
  # Stage, then swap directories: builds using the old library never see a
  # half-installed prefix.
  stage="$deps/stage"
  rm -rf "$stage"
  make install DESTDIR="$stage" EXTRA_CFLAGS="$WOLF_MAKE_CFLAGS" >>"$deps/wolfssl-build.log" 2>&1
  cp wolfssl/internal.h "$stage$wolf_prefix/include/wolfssl/internal.h"
  echo "$want_sig" > "$stage$wolf_prefix/.build-sig"
  # Headers whose text did not change keep their old time stamps, so a
  # library-only change relinks turnpike instead of recompiling it all.
  if [ -d "$wolf_prefix/include" ]; then
    (cd "$stage$wolf_prefix/include" && find . -type f) | while read -r h; do
      old="$wolf_prefix/include/$h"
      if [ -f "$old" ] && cmp -s "$old" "$stage$wolf_prefix/include/$h"; then
        touch -r "$old" "$stage$wolf_prefix/include/$h"
      fi
    done
  fi
  rm -rf "$wolf_prefix.old"
  [ -d "$wolf_prefix" ] && mv "$wolf_prefix" "$wolf_prefix.old"
  mv "$stage$wolf_prefix" "$wolf_prefix"
  rm -rf "$wolf_prefix.old" "$stage"
  cd "$here"; rm -rf "$src"
  log "wolfSSL installed in $wolf_prefix"
fi
log "done"
