#!/bin/bash
# Our own outages do not burn the queue's redrive budget.  On a queue with
# a dead-letter queue and maxReceiveCount 3, and a visibility timeout of
# 3 s: (a) redis-server SIGKILLed for several visibility timeouts while
# messages arrive and are in hand, (b) a Redis that refuses writes (OOM:
# maxmemory below use, noeviction) for as long, (c) the Edge API answering
# 503 for as long: the messages in hand are held, kept invisible, written
# once the dependency is back; /readyz says 503 meanwhile; nothing reaches
# the dead-letter queue.  (d) A message whose refill outlasts its
# visibility timeout (a slow Edge API answer) is not received again
# meanwhile: one Edge request, one write.  (e) Past held_messages_max
# the oldest held are released, and at the drain deadline the rest: they
# come back to the next consumer and are written; none is lost.  (f) A
# write Redis refuses while taking others is released, not held for ever.
# (g) Any Edge API answer ends its outage for the messages held for it.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis --appendonly yes --appendfsync always
start_sqs dead "events:VisibilityTimeout=3:dlq=dead:maxReceiveCount=3"
DLQ_URL=${SQS_URL%/events}/dead

start_fake_edge sk-hold

CONSUMERS=2 BATCH_SIZE=10 WAIT_TIME_SECONDS=1 VISIBILITY_TIMEOUT_SECS=3 \
    DRAIN_TIMEOUT_SECS=5 SERVER_API_KEY=sk-hold \
    EDGE_API_URL=http://127.0.0.1:$EDGE_PORT start_pcs
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"

# How long each outage lasts: four visibility timeouts, more than the
# three receives the redrive policy allows.
OUTAGE_SECS=12

# gen COUNT TAG: one entitlements.updated for each of COUNT customers.
gen() {
    node -e '
const [n, tag] = [+process.argv[1], process.argv[2]];
for (let c = 0; c < n; c++)
  console.log(JSON.stringify({type: "entitlements.updated", messageId: `${tag}-${c}`,
    customer: {id: `${tag}-${c}`}, entitlementsUpdatedAt: "2025-11-14T21:00:00Z",
    entitlements: [{feature: {id: "api-calls", featureType: "NUMBER", meterType: "INCREMENTAL"},
      usageLimit: c, currentUsage: 0}]}));' "$@"
}
# thin COUNT TAG: thin notifications (refilled from the Edge API).
thin() {
    node -e '
const [n, tag] = [+process.argv[1], process.argv[2]];
for (let c = 0; c < n; c++)
  console.log(JSON.stringify({type: "entitlements.updated", messageId: `${tag}-${c}`,
    customer: {id: `${tag}-${c}`}, entitlementsUpdatedAt: "2025-11-14T21:00:00Z"}));' "$@"
}
# written TAG: how many customers TAG-N are written (their own #timestamp).
written() { redis_cli --scan --pattern "production:c_$1-*#timestamp" | grep -Ec "^production:c_$1-[0-9]+#timestamp\$"; }
written_at_least() { [ "$(written "$1")" -ge "$2" ]; }
readyz_code_is() { [ "$(http GET /readyz | cut -d' ' -f1)" = "$1" ]; }
not_both_ready() { ! ready_with 2; }
dlq_empty() { expect "$1: nothing in the dead-letter queue" "$(sqs count "$DLQ_URL")" "0 0"; }
settled() { wait_for "$1" queue_is "0 0" || fail "$2: queue not settled: $(sqs count "$SQS_URL")"; }

# --- (a) Redis killed for several visibility timeouts
gen 300 outage >"$WORK/outage"
head -n 200 "$WORK/outage" | sqs send-batch "$SQS_URL" - >/dev/null
wait_for 30 written_at_least outage 10 || die "(a) nothing written before the outage"
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=
tail -n 100 "$WORK/outage" | sqs send-batch "$SQS_URL" - >/dev/null
wait_for 10 readyz_code_is 503 && ok "(a) /readyz 503 while Redis is down" \
    || fail "(a) /readyz during the outage: $(http GET /readyz)"
sleep "$OUTAGE_SECS"	# the outage itself
readyz_code_is 503 && ok "(a) still 503 after ${OUTAGE_SECS}s" || fail "(a) /readyz: $(http GET /readyz)"
start_redis --appendonly yes --appendfsync always
wait_for 20 ready_with 2 || fail "(a) not ready after Redis came back: $(http GET /readyz)"
settled 60 "(a)"
expect "(a) all 300 messages written after Redis came back" "$(written outage)" 300
dlq_empty "(a)"

# --- (b) Redis refusing writes: maxmemory below use, noeviction
gen 200 oom >"$WORK/oom"
redis_cli CONFIG SET maxmemory-policy noeviction >/dev/null
redis_cli CONFIG SET maxmemory 1 >/dev/null
sqs send-batch "$SQS_URL" - <"$WORK/oom" >/dev/null
wait_for 10 readyz_code_is 503 && ok "(b) /readyz 503 while Redis refuses writes" \
    || fail "(b) /readyz while Redis refuses writes: $(http GET /readyz)"
mark_b=$(wc -l <"$PCS_LOG")
sleep "$OUTAGE_SECS"	# the refusal itself
expect "(b) nothing written while Redis refuses" "$(written oom)" 0
expect "(b) the write probe never passed while Redis refused" \
    "$(tail -n +"$mark_b" "$PCS_LOG" | grep -c 'writes accepted again')" 0
readyz_code_is 503 && ok "(b) still 503 after ${OUTAGE_SECS}s" || fail "(b) /readyz: $(http GET /readyz)"
grep -q "not ready: .*OOM" "$PCS_LOG" && ok "(b) the reason names the refusal" \
    || fail "(b) no not-ready line naming OOM"
redis_cli CONFIG SET maxmemory 0 >/dev/null
wait_for 30 ready_with 2 || fail "(b) not ready after Redis took writes again: $(http GET /readyz)"
settled 60 "(b)"
expect "(b) all 200 messages written after the refusal" "$(written oom)" 200
dlq_empty "(b)"

# --- (c) the Edge API answering 503 for several visibility timeouts
thin 20 edge >"$WORK/edge-msgs"
for c in $(seq 0 19); do
    sed "s/\"usageLimit\":500/\"usageLimit\":$c/" "$PCS_SRCDIR/tests/data/edge/globex.json" >"$EDGE_DIR/edge-$c.json"
    echo 503 >"$EDGE_DIR/edge-$c.status"
done
sqs send-batch "$SQS_URL" - <"$WORK/edge-msgs" >/dev/null
# The consumers that took them (one, or both) are not ready.
wait_for 10 not_both_ready && ok "(c) not ready while the Edge API fails: $(http GET /readyz)" \
    || fail "(c) /readyz while the Edge API fails: $(http GET /readyz)"
sleep "$OUTAGE_SECS"	# the outage itself
expect "(c) nothing written while the Edge API fails" "$(written edge)" 0
grep -q "not ready: holding [0-9]* messages*: edge: " "$PCS_LOG" \
    && ok "(c) the reason names the Edge API and the count held" \
    || fail "(c) no not-ready line naming the Edge API"
rm -f "$EDGE_DIR"/edge-*.status
wait_for 40 ready_with 2 || fail "(c) not ready after the Edge API came back: $(http GET /readyz)"
settled 40 "(c)"
expect "(c) all 20 thin notifications written" "$(written edge)" 20
dlq_empty "(c)"

# --- (d) a refill slower than the visibility timeout
sed 's/"usageLimit":500/"usageLimit":8/' "$PCS_SRCDIR/tests/data/edge/globex.json" >"$EDGE_DIR/slow-0.json"
echo "slow=8000 1" >"$EDGE_DIR/slow-0.status"
thin 1 slow | sqs send "$SQS_URL" - >/dev/null
# The slow answer comes 8 s after its request; any second request (a
# second receive) was made and answered before it.
wait_for 30 grep -q '"customerId":"slow-0".*"slow":8000' "$WORK/edge.out" \
    || fail "(d) the slow answer was not given"
slow_applied() { grep -q 'message .* (event slow-0): entitlements.updated applied' "$PCS_LOG"; }
wait_for 10 slow_applied || fail "(d) the slow message was not written"
settled 20 "(d)"
expect "(d) one Edge request: never received twice" \
    "$(grep -c '"customerId":"slow-0"' "$WORK/edge.out")" 1
expect "(d) written once" "$(grep -c 'message .* (event slow-0): entitlements.updated applied' "$PCS_LOG")" 1
dlq_empty "(d)"

# --- (e) the bound, and the drain deadline: one consumer holding at most
# 5 messages, draining for at most 3 s.  The extra, then the held, are
# released (visible again at once), not lost; nothing is written twice.
kill -TERM "$PCS_PID"
wait_for 20 pid_gone "$PCS_PID" || die "(e) the daemon did not stop"
thin 12 bound >"$WORK/bound-msgs"
for c in $(seq 0 11); do
    cp "$PCS_SRCDIR/tests/data/edge/globex.json" "$EDGE_DIR/bound-$c.json"
    echo 503 >"$EDGE_DIR/bound-$c.status"
done
CONSUMERS=1 BATCH_SIZE=10 WAIT_TIME_SECONDS=1 VISIBILITY_TIMEOUT_SECS=3 \
    DRAIN_TIMEOUT_SECS=3 HELD_MESSAGES_MAX=5 SERVER_API_KEY=sk-hold \
    EDGE_API_URL=http://127.0.0.1:$EDGE_PORT start_pcs
wait_for 10 ready_with 1 || die "(e) not ready: $(http GET /readyz)"
sqs send-batch "$SQS_URL" - <"$WORK/bound-msgs" >/dev/null
wait_for 20 queue_is "7 5" && ok "(e) 5 held (invisible), 7 released past the bound" \
    || fail "(e) queue with held_messages_max 5: $(sqs count "$SQS_URL")"
expect "(e) each release past the bound logged" \
    "$(grep -c 'released, visible again now: more than 5 messages held' "$PCS_LOG")" 7
kill -TERM "$PCS_PID"
wait_for 20 pid_gone "$PCS_PID" || die "(e) the daemon did not stop after its drain deadline"
PCS_PID=
grep -Eq "drain deadline passed with 5 messages in hand \([45] held\); releasing them" "$PCS_LOG" \
    && ok "(e) the held released at the drain deadline" || fail "(e) no release at the drain deadline"
expect "(e) all 12 visible again at once" "$(sqs count "$SQS_URL")" "12 0"
rm -f "$EDGE_DIR"/bound-*.status
CONSUMERS=1 BATCH_SIZE=10 WAIT_TIME_SECONDS=1 VISIBILITY_TIMEOUT_SECS=3 \
    SERVER_API_KEY=sk-hold EDGE_API_URL=http://127.0.0.1:$EDGE_PORT start_pcs
settled 30 "(e)"
expect "(e) all 12 written by the next daemon" "$(written bound)" 12
dlq_empty "(e)"

# --- (f) a write Redis refuses while it takes others (an ACL that denies
# this customer's keys only) is the message's own trouble: after 4
# refusals it is released to be delivered again, the consumer receives
# again meanwhile, and it is written once the ACL lets it.  A #timestamp
# of another type (someone else's key) is repaired, not an error.
kill -TERM "$PCS_PID"
wait_for 20 pid_gone "$PCS_PID" || die "(f) the daemon did not stop"
redis_cli ACL SETUSER limited on '>pw-limited' '~production:c_fine-*' \
    '~production:c_#persistent-cache-service-probe*' '&*' '+@all' >/dev/null
REDIS_USER=limited REDIS_PASSWORD=pw-limited CONSUMERS=1 BATCH_SIZE=10 \
    WAIT_TIME_SECONDS=1 VISIBILITY_TIMEOUT_SECS=3 DRAIN_TIMEOUT_SECS=5 \
    SERVER_API_KEY=sk-hold EDGE_API_URL=http://127.0.0.1:$EDGE_PORT start_pcs
wait_for 10 ready_with 1 || die "(f) not ready: $(http GET /readyz)"
gen 1 denied | sqs send "$SQS_URL" - >/dev/null
wait_for 40 grep -q "(event denied-0): entitlements.updated not written: .*; refused 4 times while Redis took other writes: delivered again in [0-9]*s" "$PCS_LOG" \
    && ok "(f) released after 4 refusals while the write probe passed" \
    || fail "(f) the refused message was not released"
gen 5 fine >"$WORK/fine"
sqs send-batch "$SQS_URL" - <"$WORK/fine" >/dev/null
wait_for 20 written_at_least fine 5 && ok "(f) the consumer receives again after the release" \
    || fail "(f) other messages not written: $(written fine)"
expect "(f) nothing of it written meanwhile" "$(redis_cli EXISTS production:c_denied-0 'production:c_denied-0#timestamp')" 0
redis_cli ACL SETUSER limited '~production:c_denied-*' '~production:c_typed-*' \
    '~production:c_gone-*' '~production:c_good-*' >/dev/null
settled 30 "(f)"
expect "(f) written once the ACL lets it" "$(written denied)" 1
dlq_empty "(f)"
redis_cli RPUSH 'production:c_typed-0:metadata#timestamp' x >/dev/null
gen 1 typed | sqs send "$SQS_URL" - >/dev/null
settled 20 "(f)"
expect "(f) a #timestamp of another type is repaired" "$(redis_cli GET 'production:c_typed-0:metadata#timestamp')" 1763154000000

# --- (g) an Edge API that answers again, if only with a 404 for one
# customer, is back: the other messages held for it are tried again (one
# consumer, so both wait on the same probe).
cp "$PCS_SRCDIR/tests/data/edge/globex.json" "$EDGE_DIR/good-0.json"
echo 503 >"$EDGE_DIR/gone-0.status"
echo 503 >"$EDGE_DIR/good-0.status"
thin 1 gone | sqs send "$SQS_URL" - >/dev/null
thin 1 good | sqs send "$SQS_URL" - >/dev/null
held_two() { readyz_like '503 *"reason":"holding 2 messages: edge: *'; }
wait_for 20 held_two && ok "(g) both held for the Edge API" || fail "(g) not both held: $(http GET /readyz)"
echo 404 >"$EDGE_DIR/gone-0.status"
gone_404() { grep -q "(event gone-0): refill of customer 'gone-0' from the Edge API failed: .*404" "$PCS_LOG"; }
wait_for 40 gone_404 || fail "(g) the 404 never came"
rm -f "$EDGE_DIR/good-0.status"
wait_for 40 written_at_least good 1 && ok "(g) the other held message written after the 404" \
    || fail "(g) the other held message stayed held: $(http GET /readyz)"

finish
