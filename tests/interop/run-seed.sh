#!/bin/sh
# run-seed.sh - issue 3's seed test: seed/producer.js and seed/consumer.js,
# verbatim from the article, connect to amqp://localhost:5672; this script
# re-runs itself in a private network namespace (unshare --net) where edad
# listens on 127.0.0.1:5672, and checks that the event reaches the consumer,
# which acks it.  Exits 77 (SKIP) without node or when no network namespace
# can be made; needs edad itself (it listens on 5672 in the namespace), so
# EDAD_TEST_ADDR is not honoured.
set -u

here=$(cd "$(dirname "$0")" && pwd)

skip() {
    echo "SKIP: $*"
    exit 77
}

if [ "${EDAD_SEED_IN_NETNS:-}" != 1 ]; then
    command -v node >/dev/null 2>&1 || skip "node is not installed"
    if [ -z "${EDAD_BIN:-}" ]; then
        EDAD_BIN=$(pwd)/edad
    fi
    [ -x "$EDAD_BIN" ] || { echo "edad binary not found at $EDAD_BIN"; exit 99; }
    export EDAD_BIN
    # node_modules: the same places run.sh uses.
    if [ -f "$here/node_modules/amqplib/package.json" ]; then
        :
    else
        sum=$(cat "$here/package-lock.json" | cksum | cut -d' ' -f1)
        cache=${TMPDIR:-/tmp}/edad-interop-modules-$sum
        if [ ! -f "$cache/node_modules/amqplib/package.json" ]; then
            mkdir -p "$cache" && cp "$here/package.json" "$here/package-lock.json" "$cache/" &&
                (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error) ||
                { echo "npm ci failed"; exit 99; }
        fi
        NODE_PATH=$cache/node_modules
        export NODE_PATH
    fi
    export EDAD_SEED_IN_NETNS=1
    if unshare --net true 2>/dev/null; then
        exec unshare --net -- "$0" "$@"
    elif unshare --user --map-root-user --net true 2>/dev/null; then
        exec unshare --user --map-root-user --net -- "$0" "$@"
    fi
    skip "cannot create a network namespace (unshare --net)"
fi

# ---- inside the private network namespace ----------------------------------
# Its own loopback, shared with nothing: port 5672 is free here.  The seed
# scripts never exit on their own; they are killed once the result is known.
ip link set lo up 2>/dev/null || { echo "cannot bring up lo in the namespace"; exit 99; }

work=$(mktemp -d "${TMPDIR:-/tmp}/edad-seed-XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cat >"$work/edad.conf" <<CONF
listeners.tcp.default = 127.0.0.1:5672
data_dir = $work/data
CONF
"$EDAD_BIN" -c "$work/edad.conf" &
edad_pid=$!
pids="$edad_pid"

# wait_for FILE PATTERN SECONDS: true once FILE contains PATTERN.
wait_for() {
    i=0
    while [ "$i" -lt $(($3 * 10)) ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

i=0
until node -e "require('net').connect(5672,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "FAIL: edad does not listen on 127.0.0.1:5672"; exit 1; }
    kill -0 "$edad_pid" 2>/dev/null || { echo "FAIL: edad exited at start"; exit 1; }
    sleep 0.1
done

cd "$here/seed"
node consumer.js >"$work/consumer.out" 2>&1 &
pids="$! $pids"
consumer_pid=$!
wait_for "$work/consumer.out" "Waiting for messages" 20 || {
    echo "FAIL: consumer.js did not start consuming"; cat "$work/consumer.out"; exit 1; }

node producer.js >"$work/producer.out" 2>&1 &
pids="$! $pids"
status=0
if wait_for "$work/consumer.out" "Received USER_REGISTERED" 20 &&
    grep -q "Sent" "$work/producer.out"; then
    echo "PASS: the producer's event reached the consumer"
else
    echo "FAIL: the event did not reach the consumer"
    status=1
fi
echo "--- producer.js"; cat "$work/producer.out"
echo "--- consumer.js"; cat "$work/consumer.out"

# The consumer acked: once it is gone, a new consumer gets nothing.
kill "$consumer_pid" 2>/dev/null
wait "$consumer_pid" 2>/dev/null
if [ "$status" = 0 ]; then
    node consumer.js >"$work/consumer2.out" 2>&1 &
    pids="$! $pids"
    wait_for "$work/consumer2.out" "Waiting for messages" 20 || {
        echo "FAIL: second consumer did not start"; status=1; }
    sleep 2
    if grep -q "Received" "$work/consumer2.out"; then
        echo "FAIL: the event was redelivered: the first consumer's ack was lost"
        status=1
    else
        echo "PASS: the event was acked (a second consumer receives nothing)"
    fi
fi

kill -TERM "$edad_pid" 2>/dev/null
wait "$edad_pid"
rc=$?
[ "$rc" = 0 ] || { echo "FAIL: edad exited with $rc after SIGTERM"; status=1; }
if [ "$status" = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit "$status"
