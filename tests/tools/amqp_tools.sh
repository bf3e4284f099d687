#!/bin/sh
# amqp_tools.sh - issue 3's test with the rabbitmq-c command-line tools from
# Debian's amqp-tools (amqp-declare-queue, amqp-publish, amqp-get,
# amqp-consume, amqp-delete-queue) against an edad this script starts on a
# free 127.0.0.1 port (EDAD_BIN, default ./edad of the build dir), or against
# EDAD_TEST_ADDR=host:port when set (e.g. RabbitMQ, for the cross-check).
# Prints one line per check and "N passed, N failed"; exits 77 (SKIP)
# without the tools.  It stops what it starts.
set -u

skip() {
    echo "SKIP: $*"
    exit 77
}

for t in amqp-declare-queue amqp-publish amqp-get amqp-consume amqp-delete-queue; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is missing (Debian: apt-get install amqp-tools)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/edad-amqp-tools-XXXXXX")
edad_pid=""
bg_pids=""
cleanup() {
    for p in $bg_pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ -n "$edad_pid" ]; then
        kill -TERM "$edad_pid" 2>/dev/null
        i=0
        while kill -0 "$edad_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$edad_pid" 2>/dev/null
        wait "$edad_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the broker --------------------------------------------------------------
if [ -n "${EDAD_TEST_ADDR:-}" ]; then
    host=${EDAD_TEST_ADDR%:*}
    port=${EDAD_TEST_ADDR##*:}
else
    EDAD_BIN=${EDAD_BIN:-$(pwd)/edad}
    [ -x "$EDAD_BIN" ] || { echo "edad binary not found at $EDAD_BIN (set EDAD_BIN)"; exit 99; }
    host=127.0.0.1
    # A random high port; edad exits when it cannot bind, and we try another.
    attempt=0
    while :; do
        attempt=$((attempt + 1))
        [ $attempt -le 10 ] || { echo "edad did not start (see $work/edad.log)"; cat "$work/edad.log"; exit 99; }
        port=$(( ($(od -An -N2 -tu2 /dev/urandom) % 30000) + 20000 ))
        cat >"$work/edad.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
data_dir = $work/data
log.console.level = info
CONF
        "$EDAD_BIN" -c "$work/edad.conf" >"$work/edad.log" 2>&1 &
        edad_pid=$!
        i=0
        while [ $i -lt 100 ]; do
            grep -q "listening on 127.0.0.1:$port" "$work/edad.log" && break 2
            kill -0 "$edad_pid" 2>/dev/null || break
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$edad_pid" 2>/dev/null
        wait "$edad_pid" 2>/dev/null
        edad_pid=""
    done
fi
url="amqp://guest:guest@$host:$port"
echo "broker: $host:$port"

# ---- checks -----------------------------------------------------------------------
passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
    echo "FAIL: $1"
    shift
    for f in "$@"; do [ -f "$f" ] && sed 's/^/    /' "$f"; done
    failed=$((failed + 1))
}

# wait_for_exit PID SECONDS: true when PID ends in time.
wait_for_exit() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        [ $i -lt $(($2 * 10)) ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 0
}

q=edadtest.tools.$$
qd=edadtest.tools.durable.$$

# 1. amqp-declare-queue prints the name it declared.
out=$(amqp-declare-queue -u "$url" -q "$q" 2>"$work/err")
if [ "$out" = "$q" ]; then pass "declare_queue_prints_name"; else
    echo "got '$out'" >>"$work/err"; fail "declare_queue_prints_name" "$work/err"; fi

# 2. An empty name gets a server-generated amq.gen- name.
gen=$(amqp-declare-queue -u "$url" -q "" 2>"$work/err")
case "$gen" in
amq.gen-?*) pass "declare_server_named_queue" ;;
*) echo "got '$gen'" >>"$work/err"; fail "declare_server_named_queue" "$work/err" ;;
esac
[ -n "$gen" ] && amqp-delete-queue -u "$url" -q "$gen" >/dev/null 2>&1

# 3. publish, then get the same body back; the queue is empty afterwards.
amqp-publish -u "$url" -r "$q" -C text/plain -H "x-test: 1" -b "hello from amqp-tools" 2>"$work/err"
out=$(amqp-get -u "$url" -q "$q" 2>>"$work/err")
if [ "$out" = "hello from amqp-tools" ]; then pass "publish_then_get"; else
    echo "got '$out'" >>"$work/err"; fail "publish_then_get" "$work/err"; fi

# 4. amqp-get on an empty queue fails.
if amqp-get -u "$url" -q "$q" >"$work/out" 2>"$work/err"; then
    fail "get_on_empty_queue_fails" "$work/out"
else
    pass "get_on_empty_queue_fails"
fi

# 5. line-buffered publish of three messages (each keeps its newline),
#    consumed in order with -c 3.
printf 'one\ntwo\nthree\n' | amqp-publish -u "$url" -r "$q" -l 2>"$work/err"
amqp-consume -u "$url" -q "$q" -c 3 cat >"$work/out" 2>>"$work/err" &
cpid=$!
bg_pids="$cpid"
if wait_for_exit "$cpid" 20 && [ "$(cat "$work/out")" = "$(printf 'one\ntwo\nthree')" ]; then
    pass "publish_lines_consume_in_order"
else
    fail "publish_lines_consume_in_order" "$work/out" "$work/err"
fi
kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
bg_pids=""

# 6. amqp-consume -e/-r: its own queue bound to amq.topic with a wildcard.
amqp-consume -u "$url" -e amq.topic -r "orders.*" -c 1 cat >"$work/out" 2>"$work/err" &
cpid=$!
bg_pids="$cpid"
i=0
while kill -0 "$cpid" 2>/dev/null && [ $i -lt 50 ]; do
    # Until the consumer's binding exists these are unroutable and dropped.
    amqp-publish -u "$url" -e amq.topic -r "orders.created" -b "order-$i" 2>/dev/null
    amqp-publish -u "$url" -e amq.topic -r "invoices.created" -b "not for orders" 2>/dev/null
    sleep 0.2
    i=$((i + 1))
done
if wait_for_exit "$cpid" 5 && grep -q '^order-[0-9]*$' "$work/out"; then
    pass "consume_with_topic_binding"
else
    fail "consume_with_topic_binding" "$work/out" "$work/err"
fi
kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
bg_pids=""

# 7. no-ack consumer with prefetch 1 takes two messages.
amqp-publish -u "$url" -r "$q" -b "a" 2>"$work/err"
amqp-publish -u "$url" -r "$q" -b "b" 2>>"$work/err"
amqp-consume -u "$url" -q "$q" -A -p 1 -c 2 -- sh -c 'cat; echo' >"$work/out" 2>>"$work/err" &
cpid=$!
bg_pids="$cpid"
if wait_for_exit "$cpid" 20 && [ "$(cat "$work/out")" = "$(printf 'a\nb')" ]; then
    pass "consume_no_ack_prefetch"
else
    fail "consume_no_ack_prefetch" "$work/out" "$work/err"
fi
kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
bg_pids=""

# 8. a 1 MB body from stdin, split over many frames, comes back intact.
head -c 1000000 /dev/urandom >"$work/big"
amqp-publish -u "$url" -r "$q" <"$work/big" 2>"$work/err"
amqp-get -u "$url" -q "$q" >"$work/big.out" 2>>"$work/err"
if cmp -s "$work/big" "$work/big.out"; then pass "large_body_round_trip"; else
    fail "large_body_round_trip" "$work/err"; fi

# 9. a durable queue and a persistent message.
amqp-declare-queue -u "$url" -d -q "$qd" >/dev/null 2>"$work/err"
amqp-publish -u "$url" -r "$qd" -p -b "persistent" 2>>"$work/err"
out=$(amqp-get -u "$url" -q "$qd" 2>>"$work/err")
if [ "$out" = "persistent" ]; then pass "durable_queue_persistent_message"; else
    echo "got '$out'" >>"$work/err"; fail "durable_queue_persistent_message" "$work/err"; fi
amqp-delete-queue -u "$url" -q "$qd" >/dev/null 2>&1

# 10. delete, then the queue is gone: amqp-get fails with 404.
amqp-publish -u "$url" -r "$q" -b "left over" 2>"$work/err"
amqp-delete-queue -u "$url" -q "$q" >"$work/out" 2>>"$work/err"
if amqp-get -u "$url" -q "$q" >/dev/null 2>"$work/err2"; then
    fail "delete_queue_then_get_404" "$work/err2"
elif grep -q "404" "$work/err2"; then
    pass "delete_queue_then_get_404"
else
    fail "delete_queue_then_get_404" "$work/err2"
fi

# 11. the broker is still up (our own edad has not died).
if [ -n "$edad_pid" ] && ! kill -0 "$edad_pid" 2>/dev/null; then
    fail "edad_still_running" "$work/edad.log"
else
    pass "edad_still_running"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
