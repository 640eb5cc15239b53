#!/bin/bash
# Delivery as SQS really does it, through four consumers: many versions of
# many customers, shuffled and each sent twice, end with the newest
# version of every key; redis-server killed mid-stream (and restarted from
# its append-only file) loses no update, because nothing is deleted from
# the queue before it is in Redis; SIGTERM finishes the batch in hand.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis --appendonly yes --appendfsync always
start_sqs
CONSUMERS=4 BATCH_SIZE=10 WAIT_TIME_SECONDS=1 VISIBILITY_TIMEOUT_SECS=3 start_pcs
wait_for 10 ready_with 4 || die "not ready: $(http GET /readyz)"

# gen CUSTOMERS VERSIONS TAG: one entitlements.updated per customer and
# version (usageLimit = version, so the value shows which one won) and one
# measurement per customer and version (currentUsage = version).
gen() {
    node -e '
const [nc, nv, tag] = [+process.argv[1], +process.argv[2], process.argv[3]];
const base = Date.UTC(2025, 10, 14);
for (let c = 0; c < nc; c++) for (let v = 1; v <= nv; v++) {
  const id = `${tag}-${c}:ü*`;
  console.log(JSON.stringify({type: "entitlements.updated", messageId: `${id}-e${v}`,
    customer: {id}, entitlementsUpdatedAt: new Date(base + v * 1000).toISOString(),
    entitlements: [{feature: {id: "api-calls", featureType: "NUMBER", meterType: "INCREMENTAL"},
      usageLimit: v, currentUsage: 0}]}));
  console.log(JSON.stringify({type: "MEASUREMENT_REPORTED", customerId: id, featureId: "api-calls",
    currentUsage: v, usageUpdatedAt: base + 100000 + v * 1000}));
}' "$@"
}

# newest CUSTOMERS VERSIONS TAG: every customer holds version VERSIONS.
newest() {
    local c bad=0 k v u
    for c in $(seq 0 $(($1 - 1))); do
        k="production:c_$3-$c:ü*"
        v=$(redis_cli GET "$k" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s)["api-calls"].calculatedEntitlement.usageLimit)}catch(e){console.log("none")}})')
        u=$(redis_cli GET "$k:f_api-calls#timestamp")
        if [ "$v" != "$2" ] || [ "$(redis_cli GET "$k#timestamp")" != $((1763078400000 + $2 * 1000)) ]; then
            echo "customer $c: usageLimit $v"; bad=1
        fi
        # Usage comes from the newest measurement, unless it arrived before
        # the customer was cached (then a later one or the entitlements
        # write carries it): it is never older than the newest write.
        [ -n "$u" ] || { echo "customer $c: no usage timestamp"; bad=1; }
    done
    return $bad
}

gen 50 10 shuffled >"$WORK/msgs"
# The entitlements of each customer first (usage is written only for cached
# customers), then everything again, shuffled, twice.
grep entitlements.updated "$WORK/msgs" | sqs send-batch "$SQS_URL" - >/dev/null
wait_for 60 queue_is "0 0" || die "first pass not drained: $(sqs count "$SQS_URL")"
sqs send-batch "$SQS_URL" --shuffle --repeat 2 - <"$WORK/msgs" >/dev/null
wait_for 120 queue_is "0 0" || die "not drained: $(sqs count "$SQS_URL")"
if out=$(newest 50 10 shuffled); then ok "1500 shuffled, duplicated messages: newest version of all 50 customers"; else fail "$out"; fi
usage_ok=1
for c in 0 17 49; do
    u=$(redis_cli GET "production:c_shuffled-$c:ü*:f_api-calls")
    case "$u" in '{"currentUsage":10,'*) ;; *) usage_ok=0; echo "customer $c usage: $u" ;; esac
done
[ "$usage_ok" = 1 ] && ok "usage holds the newest measurement" || fail "usage not the newest"
expect "no message rejected" "$(grep -c 'rejected' "$PCS_LOG")" 0

# Redis killed mid-stream: nothing is lost.  2000 updates stream in; Redis
# dies while they are being applied; 300 more arrive during the outage.
outage_written() { redis_cli --scan --pattern 'production:c_outage-*:ü\*#timestamp' | wc -l; }
gen 2300 1 outage | grep entitlements.updated >"$WORK/outage"
head -n 2000 "$WORK/outage" | sqs send-batch "$SQS_URL" - >/dev/null
some() { [ "$(outage_written)" -gt 20 ]; }
wait_for 30 some || die "nothing applied before the outage"
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=
tail -n 300 "$WORK/outage" | sqs send-batch "$SQS_URL" - >/dev/null
# DOWN, for Redis: a consumer with messages in hand says how many it holds.
shopt -s extglob
down_for_redis() {
    case "$(http GET /readyz)" in
    '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"'?(holding +([0-9]) message?(s): )'redis: '*'"}') return 0 ;;
    esac
    return 1
}
wait_for 10 down_for_redis || fail "not DOWN for Redis during the outage: $(http GET /readyz)"
set -- $(sqs count "$SQS_URL")
[ $(($1 + $2)) -ge 300 ] && ok "during the outage $1 + $2 messages wait on the queue" \
    || fail "during the outage only '$*' on the queue"
start_redis --appendonly yes --appendfsync always
wait_for 20 ready_with 4 || die "not ready after Redis came back"
wait_for 60 queue_is "0 0" || die "not drained after the outage: $(sqs count "$SQS_URL")"
expect "all 2300 customers written despite the outage" "$(outage_written)" 2300

# SIGTERM with work in hand: what was received is applied and deleted.
gen 200 1 drain | grep entitlements.updated | sqs send-batch "$SQS_URL" - >/dev/null
kill -TERM "$PCS_PID"
wait_for 30 pid_gone "$PCS_PID" || die "did not stop"
PCS_PID=
n=$(redis_cli --scan --pattern 'production:c_drain-*:ü\*#timestamp' | wc -l)
left=$(sqs count "$SQS_URL")
# Every message is either written, or still on the queue; none is in
# flight forever and none was deleted unwritten.
set -- $left
[ $((n + $1 + $2)) -ge 200 ] && ok "after SIGTERM: $n written, $left on the queue, none lost" \
    || fail "after SIGTERM: $n written, queue '$left': messages lost"
finish
