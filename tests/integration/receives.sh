#!/bin/bash
# The receives in flight adapt to the backlog, with the defaults
# (BATCH_SIZE and RECEIVES_IN_FLIGHT unset).  An idle queue costs what
# one long poll at a time per consumer costs: the ReceiveMessage requests
# counted in /metrics over a few seconds stay within one per wait_time
# per consumer, and pcs_sqs_receives_in_flight is one per consumer.  A
# backlog of a few thousand messages opens more polls (the debug log says
# a consumer reached its ceiling), drains, and every message is written;
# then both consumers are back to one poll each, as idle as before.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

N=4000
start_redis
start_sqs
# One-second long polls: an idle consumer makes about one request a second.
CONSUMERS=2 WAIT_TIME_SECONDS=1 start_pcs
wait_for 20 ready_with 2 || die "not ready: $(http GET /readyz)"

scrape() { curl -s -m 10 "http://127.0.0.1:$HTTP_PORT/metrics"; }
# The ReceiveMessage requests so far, every outcome.
receives() {
    scrape | awk '/^pcs_sqs_requests_total\{action="ReceiveMessage",/ { n += $2 } END { print n + 0 }'
}
in_flight() { scrape | awk '$1 == "pcs_sqs_receives_in_flight" { print $2 }'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# idle NAME: over about 5 s, at most one request per second and consumer
# (2 s of slack: the counters come with each second's heartbeat), and
# one poll in flight per consumer at every scrape.
idle() {
    local t0 t1 r0 r1 n max i g bad=
    # The first heartbeats carry the gauges: wait until they are there.
    wait_for 10 eval '[ "$(in_flight)" = 2 ]' || bad=" $(in_flight)"
    r0=$(receives); t0=$(now_ms)
    for i in 1 2 3 4 5; do
        sleep 1
        g=$(in_flight)
        [ "$g" = 2 ] || bad="$bad $g"
    done
    r1=$(receives); t1=$(now_ms)
    n=$((r1 - r0))
    max=$(( 2 * ((t1 - t0) / 1000 + 2) ))
    if [ "$n" -ge 1 ] && [ "$n" -le "$max" ]; then
        ok "$1: $n ReceiveMessage requests in $((t1 - t0)) ms by 2 consumers (one long poll each: at most $max)"
    else
        fail "$1: $n ReceiveMessage requests in $((t1 - t0)) ms by 2 consumers; one long poll each makes at most $max"
    fi
    if [ -z "$bad" ]; then
        ok "$1: pcs_sqs_receives_in_flight 2 (one per consumer) at every scrape"
    else
        fail "$1: pcs_sqs_receives_in_flight was$bad, not 2"
    fi
}

idle "idle queue"

# The backlog: N messages waiting when the daemon starts again (sent
# while it runs, they would be taken as they come, in short batches).
stop_pcs
node -e '
const n = +process.argv[1], base = Date.UTC(2025, 10, 14);
for (let c = 0; c < n; c++)
  console.log(JSON.stringify({type: "entitlements.updated", messageId: `adapt-${c}`,
    customer: {id: `adapt-${c}`}, entitlementsUpdatedAt: new Date(base).toISOString(),
    entitlements: [{feature: {id: "api-calls", featureType: "NUMBER", meterType: "INCREMENTAL"},
      usageLimit: c, currentUsage: 0}]}));' "$N" >"$WORK/backlog"
sqs send-batch "$SQS_URL" - <"$WORK/backlog" >/dev/null || die "could not send the backlog"
expect "the backlog is waiting" "$(sqs count "$SQS_URL")" "$N 0"
mark_log
CONSUMERS=2 WAIT_TIME_SECONDS=1 start_pcs
# The consumers that logged LINE (a pattern), counted once each.
logged_by() { since | grep -- "$1" | grep -o 'consumer [0-9]*' | sort -u | wc -l; }
if wait_for 60 eval '[ "$(logged_by "receives in flight: up to 32 (the ceiling")" -ge 1 ]'; then
    ok "the backlog opened more polls: $(since | grep -m1 'receives in flight: up to' | sed 's/^.*sqs: //')"
else
    fail "no consumer opened more than one poll for $N messages: $(since | grep 'receives in flight' | head -n 3)"
fi
wait_for 60 queue_is "0 0" && ok "the backlog drained" || fail "the backlog did not drain: $(sqs count "$SQS_URL")"
# Each customer's own #timestamp (its :metadata and feature keys aside).
n=$(redis_cli --scan --pattern 'production:c_adapt-*#timestamp' | grep -Ec '^production:c_adapt-[0-9]+#timestamp$')
expect "every message written (one customer each)" "$n" "$N"
wait_for 10 eval '[ "$(logged_by "receives in flight: back to 1: receives come back")" = 2 ]' \
    && ok "both consumers back to one poll: $(since | grep -m1 'receives in flight: back to 1' | sed 's/^.*sqs: //')" \
    || fail "the consumers did not both log their return to one poll: $(since | grep 'receives in flight' | tail -n 3)"
wait_for 20 ready_with 2 || die "not ready again: $(http GET /readyz)"

idle "idle again after the backlog"

finish
