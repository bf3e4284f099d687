#!/bin/sh
# run.sh - the dashboard's end-to-end test (test/dashboard.test.js): Debian's
# headless chromium driven by playwright-core, amqplib as the AMQP client,
# against an edad it starts itself ($EDAD_BIN, default ./edad of the build
# dir `make check` runs in).  Installs node_modules from the committed lock
# file (npm ci) when missing.  Exits 77 (automake SKIP) without node >= 20,
# npm or /usr/bin/chromium (Debian: apt-get install chromium), 99 when the
# edad binary is missing.  The screenshot goes to $EDAD_TEST_OUTPUT (default
# tests/output/ of the build dir).
set -u

here=$(cd "$(dirname "$0")" && pwd)

skip() {
    echo "SKIP: $*"
    exit 77
}

command -v node >/dev/null 2>&1 || skip "node is not installed (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (Debian: apt-get install npm)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] 2>/dev/null || skip "node $major is older than 20"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "$CHROMIUM not found (Debian: apt-get install chromium)"
export CHROMIUM

if [ -z "${EDAD_BIN:-}" ]; then
    EDAD_BIN=$(pwd)/edad
fi
export EDAD_BIN
[ -x "$EDAD_BIN" ] || { echo "edad binary not found at $EDAD_BIN (build it or set EDAD_BIN)"; exit 99; }
EDAD_TEST_OUTPUT=${EDAD_TEST_OUTPUT:-$(pwd)/tests/output}
mkdir -p "$EDAD_TEST_OUTPUT"
export EDAD_TEST_OUTPUT

# node_modules next to package.json when that folder is writable, otherwise
# (a read-only source tree: make distcheck) in a cache under $TMPDIR.
if [ -w "$here" ]; then
    moddir=$here
else
    sum=$(cksum < "$here/package-lock.json" | cut -d' ' -f1)
    moddir=${TMPDIR:-/tmp}/edad-browser-modules-$sum
    mkdir -p "$moddir"
    cp "$here/package.json" "$here/package-lock.json" "$moddir/"
fi
if [ ! -f "$moddir/node_modules/playwright-core/package.json" ] ||
   [ ! -f "$moddir/node_modules/amqplib/package.json" ]; then
    echo "installing node modules in $moddir (npm ci)"
    (cd "$moddir" && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "npm ci failed"
        exit 99
    }
fi
NODE_PATH=$moddir/node_modules${NODE_PATH:+:$NODE_PATH}
export NODE_PATH

node --test --test-concurrency=1 --test-timeout=120000 "$here"/test/*.test.js
