#!/bin/sh
# run.sh - runs the amqplib interop tests (test/*.test.js) with node's test
# runner; each test file starts its own edad ($EDAD_BIN, default ./edad: the
# top build dir `make check` runs in; EDAD_TEST_ADDR=host:port uses a running
# daemon).  Installs node_modules from the committed lock file (npm ci) when
# missing.  Exits 77 (automake SKIP) without node >= 20 or npm.
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

if [ -z "${EDAD_BIN:-}" ]; then
    EDAD_BIN=$(pwd)/edad
fi
export EDAD_BIN
if [ -z "${EDAD_TEST_ADDR:-}" ] && [ ! -x "$EDAD_BIN" ]; then
    echo "edad binary not found at $EDAD_BIN (build it, or set EDAD_BIN / EDAD_TEST_ADDR)"
    exit 99
fi

# node_modules lives next to package.json when that folder is writable,
# otherwise (a read-only source tree) in a cache under $TMPDIR.
if [ -w "$here" ]; then
    moddir=$here
else
    sum=$(cat "$here/package-lock.json" | cksum | cut -d' ' -f1)
    moddir=${TMPDIR:-/tmp}/edad-interop-modules-$sum
    mkdir -p "$moddir"
    cp "$here/package.json" "$here/package-lock.json" "$moddir/"
fi
if [ ! -f "$moddir/node_modules/amqplib/package.json" ]; then
    echo "installing node modules in $moddir (npm ci)"
    (cd "$moddir" && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "npm ci failed"
        exit 99
    }
fi
NODE_PATH=$moddir/node_modules${NODE_PATH:+:$NODE_PATH}
export NODE_PATH

# tls.test.js: a CA and certificates made now with the openssl command
# (tests/conformance/tls-certs.sh), passed as EDAD_TLS_DIR; removed at exit.
if command -v openssl >/dev/null 2>&1; then
    tlsdir=$(mktemp -d "${TMPDIR:-/tmp}/edad-interop-tls.XXXXXX")
    trap 'rm -rf "$tlsdir"' EXIT
    if sh "$here/../conformance/tls-certs.sh" "$tlsdir"; then
        EDAD_TLS_DIR=$tlsdir
        export EDAD_TLS_DIR
    fi
fi

# One test file at a time: each starts its own edad.
node --test --test-concurrency=1 --test-timeout=120000 "$here"/test/*.test.js
