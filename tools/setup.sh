#!/usr/bin/env bash
# tools/setup.sh - install what a fresh Debian 12 machine lacks, then build
# edad in ./build.  Safe to re-run: apt-get only installs what is missing
# and the build is incremental.  Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential autoconf automake libtool pkg-config
      libevent-dev libjansson-dev check librabbitmq-dev amqp-tools
      libssl-dev openssl libsystemd-dev clang python3 iproute2 procps curl
      chromium systemd)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q "${missing[@]}"
fi

[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --enable-werror
make -j"$(nproc)"
