#!/bin/bash
# The demo: install what is missing, build, start a throw-away
# redis-server on loopback, run the daemon against it with three
# consumers, show its health endpoints, stop it, and show its log.  Everything it starts is
# stopped when it ends (Ctrl-C included).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/build.sh

BIN=$top/_build/src/persistent-cache-service
WORK=$(mktemp -d /tmp/pcs-demo.XXXXXX)
REDIS_PORT=${DEMO_REDIS_PORT:-6390}
HTTP_PORT=${DEMO_PORT:-4000}
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

echo "== redis-server on 127.0.0.1:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
pids+=($!)
wait_for 10 redis-cli -p "$REDIS_PORT" ping || { echo "redis-server did not start"; exit 1; }

echo "== persistent-cache-service $("$BIN" -V | cut -d' ' -f2), 3 consumers, health on 127.0.0.1:$HTTP_PORT"
export QUEUE_URL=http://127.0.0.1:9324/000000000000/stigg-demo AWS_REGION=us-east-1 \
    REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" PORT="$HTTP_PORT" \
    LISTEN_ADDRESS=127.0.0.1 CONSUMERS=3
"$BIN" -c /dev/null -t
"$BIN" -c /dev/null >"$WORK/pcs.log" 2>&1 &
pcs=$!
pids+=("$pcs")
up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz")" = 200 ]; }
wait_for 15 up || { echo "the service did not become ready"; cat "$WORK/pcs.log"; exit 1; }
echo "== GET /livez";  curl -s -w '  (HTTP %{http_code})\n' "http://127.0.0.1:$HTTP_PORT/livez"
echo "== GET /readyz"; curl -s -w '  (HTTP %{http_code})\n' "http://127.0.0.1:$HTTP_PORT/readyz"
echo "== processes (pid, parent, name)"; ps -o pid=,ppid=,comm= --pid "$pcs" --ppid "$pcs" | sed 's/^/  /'
victim=$(pgrep -P "$pcs" | head -n 1)
echo "== kill -9 consumer $victim: the master replaces it"
kill -KILL "$victim"
replaced() { [ "$(pgrep -P "$pcs" | grep -cvx "$victim")" = 3 ] && up &&
    curl -s "http://127.0.0.1:$HTTP_PORT/readyz" | grep -q '"consumers":3'; }
wait_for 10 replaced || { echo "consumer $victim was not replaced"; exit 1; }
echo "   consumers now: $(pgrep -P "$pcs" | tr '\n' ' ')"
echo "== GET /readyz"; curl -s -w '  (HTTP %{http_code})\n' "http://127.0.0.1:$HTTP_PORT/readyz"
echo "== stopping: SIGTERM drains the consumers, then the master exits"
kill -TERM "$pcs"
gone() { ! kill -0 "$pcs" 2>/dev/null; }
wait_for 35 gone || { echo "the service did not stop"; exit 1; }
wait "$pcs" && echo "   exit status 0"
echo "== the service's log"
sed 's/^/  /' "$WORK/pcs.log"
