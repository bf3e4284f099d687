#!/bin/sh
# with-rabbitmq.sh - cross-check tool: start Debian's rabbitmq-server by hand
# on free 127.0.0.1 ports with a temporary config, data dir and Erlang cookie,
# run COMMAND with EDAD_TEST_ADDR pointing at it, then stop RabbitMQ (always)
# and exit with COMMAND's status.  Not run by `make check`; used to check
# that the conformance and interop expectations are RabbitMQ's:
#   tests/tools/with-rabbitmq.sh make check TESTS='tests/conformance/check_queue'
# Extra rabbitmq.conf lines may be given in RABBITMQ_EXTRA_CONF.
set -u

rmq=/usr/lib/rabbitmq/bin
[ -x "$rmq/rabbitmq-server" ] || { echo "rabbitmq-server is not installed (apt-get install rabbitmq-server)"; exit 77; }
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]"; exit 64; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

work=$(mktemp -d "${TMPDIR:-/tmp}/edad-rabbitmq-XXXXXX")
port=$(free_port)
dist=$(free_port)
epmd=$(free_port)
node=edadtest$$@localhost
export HOME=$work RABBITMQ_NODENAME=$node RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd \
    RABBITMQ_MNESIA_BASE=$work/mnesia RABBITMQ_LOG_BASE=$work/log \
    RABBITMQ_CONFIG_FILE=$work/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$work/enabled_plugins \
    RABBITMQ_PLUGINS_EXPAND_DIR=$work/plugins-expand RABBITMQ_PID_FILE=$work/rabbit.pid
mkdir -p "$work/mnesia" "$work/log"
echo '[].' >"$work/enabled_plugins"
cat >"$work/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
loopback_users = none
${RABBITMQ_EXTRA_CONF:-}
CONF

stop() {
    "$rmq/rabbitmqctl" -n "$node" stop >/dev/null 2>&1
    if [ -n "${srv:-}" ]; then
        i=0
        while kill -0 "$srv" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
        kill -9 "$srv" 2>/dev/null
        wait "$srv" 2>/dev/null
    fi
    # The epmd this node started on its private port.
    epmd -port "$epmd" -kill >/dev/null 2>&1
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

"$rmq/rabbitmq-server" >"$work/server.out" 2>&1 &
srv=$!
i=0
until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
    i=$((i + 1))
    if ! kill -0 "$srv" 2>/dev/null || [ $i -ge 600 ]; then
        echo "RabbitMQ did not start on 127.0.0.1:$port"; cat "$work/server.out"; exit 99
    fi
    sleep 0.2
done
echo "RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null) on 127.0.0.1:$port (node $node)"
EDAD_TEST_ADDR=127.0.0.1:$port
export EDAD_TEST_ADDR
"$@"
