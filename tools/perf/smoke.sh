#!/bin/sh
# smoke.sh - `make check` smoke test for edad-perf: its echo ceiling for a
# second, then one second of throughput, a short latency run, churn and a few
# idle connections against a freshly started edad on a free 127.0.0.1 port.
# Checks each SUMMARY line's shape and that messages flowed; no timing
# assertions.  Run from the build directory (automake does).
set -u
perf=./edad-perf
edad=./edad
[ -x "$perf" ] && [ -x "$edad" ] || { echo "edad-perf or edad not built"; exit 99; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/edad-perf-smoke-XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*"; exit 1; }

# field NAME LINE: the value of NAME=... in a SUMMARY line
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

summary() { grep '^SUMMARY ' "$1" | tail -n 1; }

# 1. ceiling (no broker)
"$perf" --ceiling -z 1 -s 16 -q 1000 -n 100 >"$work/ceiling.out" 2>&1 || { cat "$work/ceiling.out"; fail "ceiling run"; }
s=$(summary "$work/ceiling.out")
echo "$s"
[ "$(field mode "$s")" = throughput ] || fail "ceiling summary: $s"
[ "$(field ceiling "$s")" = 1 ] || fail "ceiling flag: $s"
[ "$(field received "$s")" -gt 0 ] || fail "ceiling received nothing"

# 2. a broker
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat >"$work/edad.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
data_dir = $work/data
log.console.level = warning
CONF
"$edad" -c "$work/edad.conf" >"$work/edad.log" 2>&1 &
pid=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
    i=$((i + 1))
    kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ] || { cat "$work/edad.log"; fail "edad did not start"; }
    sleep 0.1
done
uri=amqp://guest:guest@127.0.0.1:$port/%2f

"$perf" -h "$uri" -z 1 -s 16 -q 1000 -n 100 >"$work/tp.out" 2>&1 || { cat "$work/tp.out"; fail "throughput run"; }
s=$(summary "$work/tp.out"); echo "$s"
[ "$(field received "$s")" -gt 0 ] || fail "throughput received nothing"
[ "$(field errors "$s")" = 0 ] || fail "throughput errors"

"$perf" -h "$uri" -C 2000 -s 1024 -f persistent -c 100 -q 100 -n 10 --quiet >"$work/cnt.out" 2>&1 || { cat "$work/cnt.out"; fail "count run"; }
s=$(summary "$work/cnt.out"); echo "$s"
[ "$(field sent "$s")" = 2000 ] || fail "persistent count: sent"
[ "$(field confirmed "$s")" = 2000 ] || fail "persistent count: confirmed"
[ "$(field received "$s")" = 2000 ] || fail "persistent count: received"

"$perf" -h "$uri" -M latency -z 1 -r 200 --quiet >"$work/lat.out" 2>&1 || { cat "$work/lat.out"; fail "latency run"; }
s=$(summary "$work/lat.out"); echo "$s"
[ "$(field mode "$s")" = latency ] || fail "latency summary"
[ "$(field received "$s")" -gt 0 ] || fail "latency received nothing"

"$perf" -h "$uri" -x 2 -y 2 --queues 2 -e smoke-topic -t topic -k 'smoke.#' -C 500 --quiet >"$work/topic.out" 2>&1 || { cat "$work/topic.out"; fail "topic run"; }
s=$(summary "$work/topic.out"); echo "$s"
[ "$(field received "$s")" = 2000 ] || fail "topic fan-out: received"

"$perf" -h "$uri" -M churn -z 1 --quiet >"$work/churn.out" 2>&1 || { cat "$work/churn.out"; fail "churn run"; }
s=$(summary "$work/churn.out"); echo "$s"
[ "$(field cycles "$s")" -gt 0 ] || fail "churn: no cycles"

"$perf" -h "$uri" --connections 20 --hold 0.2 --quiet >"$work/conn.out" 2>&1 || { cat "$work/conn.out"; fail "connections run"; }
s=$(summary "$work/conn.out"); echo "$s"
[ "$(field opened "$s")" = 20 ] || fail "connections: opened"
[ "$(field pid "$s")" = "$pid" ] || fail "connections: broker pid lookup"

"$perf" -h "$uri" -u smoke-keep --publish-only -C 100 --quiet >/dev/null 2>&1 || fail "publish-only"
"$perf" -h "$uri" -M info -u smoke-keep --expect 100 -z 5 >"$work/info.out" 2>&1 || { cat "$work/info.out"; fail "info"; }
s=$(summary "$work/info.out"); echo "$s"
[ "$(field messages "$s")" = 100 ] || fail "info: messages"
"$perf" -h "$uri" -M delete -u smoke-keep >"$work/del.out" 2>&1 || { cat "$work/del.out"; fail "delete"; }
echo "edad-perf smoke: ok"
