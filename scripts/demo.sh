#!/bin/bash
# The demo, end to end on this machine: install what is missing, build,
# start a throw-away redis-server and the SQS emulator on loopback (and a
# stand-in for Stigg's Edge API), create a queue, run the daemon with two
# consumers, send it the spec's example events, and print what the real
# Stigg SDK (@stigg/node-server-sdk 3.95.0) reads for the example customer.
# Everything it starts is stopped when it ends (Ctrl-C included).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/build.sh

BIN=$top/_build/src/persistent-cache-service
EX=$top/tests/data/examples
SUPPORT=$top/tests/support
export NODE_PATH=$top/node_modules
WORK=$(mktemp -d /tmp/pcs-demo.XXXXXX)
REDIS_PORT=${DEMO_REDIS_PORT:-6390}
SQS_PORT=${DEMO_SQS_PORT:-9324}
EDGE_PORT=${DEMO_EDGE_PORT:-3061}
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
# The emulator checks every request's signature: the demo's key, for the
# service and for sqs.js alike.
sqs() { PCS_SQS_KEY=demo:demo-secret node "$SUPPORT/sqs.js" "$@"; }

echo "== redis-server on 127.0.0.1:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
pids+=($!)
wait_for 10 redis-cli -p "$REDIS_PORT" ping || { echo "redis-server did not start"; exit 1; }

echo "== SQS emulator on 127.0.0.1:$SQS_PORT with queue stigg-demo"
node "$SUPPORT/sqs-emulator.js" --port "$SQS_PORT" --key demo:demo-secret --queue stigg-demo >"$WORK/sqs.out" 2>&1 &
pids+=($!)
wait_for 15 grep -qx ready "$WORK/sqs.out" || { echo "the SQS emulator did not start"; cat "$WORK/sqs.out"; exit 1; }
QUEUE=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/sqs.out" | head -n 1)
echo "   $QUEUE"

echo "== a stand-in Edge API on 127.0.0.1:$EDGE_PORT (refills thin notifications)"
mkdir -p "$WORK/edge"
cp "$top/tests/data/edge/globex.json" "$WORK/edge/"
node "$SUPPORT/fake-edge.js" --port "$EDGE_PORT" --dir "$WORK/edge" --key demo-api-key >"$WORK/edge.out" 2>&1 &
pids+=($!)
wait_for 10 grep -q '^ready' "$WORK/edge.out" || { echo "the Edge stand-in did not start"; exit 1; }

export QUEUE_URL=$QUEUE AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo \
    AWS_SECRET_ACCESS_KEY=demo-secret SERVER_API_KEY=demo-api-key \
    EDGE_API_URL=http://127.0.0.1:$EDGE_PORT REDIS_HOST=127.0.0.1 \
    REDIS_PORT="$REDIS_PORT" PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 \
    CONSUMERS=2 BATCH_SIZE=10 WAIT_TIME_SECONDS=2
echo "== persistent-cache-service $("$BIN" -V | cut -d' ' -f2), 2 consumers, health on 127.0.0.1:$HTTP_PORT"
"$BIN" -c /dev/null -t
"$BIN" -c /dev/null >"$WORK/pcs.log" 2>&1 &
pcs=$!
pids+=("$pcs")
up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz")" = 200 ]; }
wait_for 15 up || { echo "the service did not become ready"; cat "$WORK/pcs.log"; exit 1; }
echo "== GET /readyz"; curl -s -w '  (HTTP %{http_code})\n' "http://127.0.0.1:$HTTP_PORT/readyz"

# send WANT FILE...: send the examples, wait until the queue shows WANT
# ("visible in-flight").  Usage is written only for cached customers, so
# the entitlements go first.
send() {
    local want=$1 f
    shift
    for f in "$@"; do
        sqs send "$QUEUE" "$EX/$f" >/dev/null
        echo "   $f"
    done
    settled() { [ "$(sqs count "$QUEUE")" = "$want" ]; }
    wait_for 30 settled || { echo "the queue did not settle: $(sqs count "$QUEUE")"; cat "$WORK/pcs.log"; exit 1; }
}
echo "== sending the example events"
send "0 0" entitlements-updated.json entitlements-updated-resource.json
# In flight at the end: only the bad message, kept for the redrive policy.
send "0 1" measurement-reported.json sns-wrapped.json \
    ignored-subscription-created.json entitlements-updated-thin.json bad-date.json

echo "== Redis keys for customer acme"
redis-cli -p "$REDIS_PORT" --scan --pattern 'production:c_acme*' | LC_ALL=C sort | sed 's/^/   /'

echo "== what the Stigg SDK reads for acme (from Redis, no network)"
node "$SUPPORT/sdk-read.js" --redis-port "$REDIS_PORT" --customer acme \
    --metered api-calls,seats --boolean sso --numeric max-projects --enum region |
node -e '
let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
  const r = JSON.parse(s);
  console.log(`   cache hit: ${r.hit}`);
  for (const kind of ["metered", "boolean", "numeric", "enum"])
    for (const [id, e] of Object.entries(r[kind] || {})) {
      const parts = [`hasAccess=${e.hasAccess}`, `isFallback=${e.isFallback}`];
      if (e.usageLimit !== undefined) parts.push(`usageLimit=${e.usageLimit}`);
      if (e.isUnlimited) parts.push("unlimited");
      if (e.currentUsage !== undefined) parts.push(`currentUsage=${e.currentUsage}`);
      if (e.value !== undefined) parts.push(`value=${e.value}`);
      if (e.enumValues !== undefined) parts.push(`enumValues=${JSON.stringify(e.enumValues)}`);
      console.log(`   ${kind.padEnd(8)} ${id.padEnd(13)} ${parts.join(" ")}`);
    }
});'
echo "== and for resource site:eu/1 of acme, and for globex (refilled from the Edge API)"
node "$SUPPORT/sdk-read.js" --redis-port "$REDIS_PORT" --customer acme --resource site:eu/1 --metered api-calls |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s),e=r.metered["api-calls"];
      console.log(`   acme/site:eu/1 api-calls: hit=${r.hit} usageLimit=${e.usageLimit} currentUsage=${e.currentUsage}`)})'
node "$SUPPORT/sdk-read.js" --redis-port "$REDIS_PORT" --customer globex --metered api-calls |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s),e=r.metered["api-calls"];
      console.log(`   globex api-calls: hit=${r.hit} usageLimit=${e.usageLimit} currentUsage=${e.currentUsage}`)})'

echo "== stopping: SIGTERM drains the consumers, then the master exits"
kill -TERM "$pcs"
gone() { ! kill -0 "$pcs" 2>/dev/null; }
wait_for 35 gone || { echo "the service did not stop"; exit 1; }
wait "$pcs" && echo "   exit status 0"
echo "== the service's log (info and above)"
grep -v '\[debug\]' "$WORK/pcs.log" | sed 's/^/   /'
