#!/bin/bash
# The writer's settings and recoveries against the real parts: a Redis
# that forgot the script (SCRIPT FLUSH: NOSCRIPT, then EVAL), a negative
# KEYS_TTL_IN_SECS, ENVIRONMENT_PREFIX and REDIS_DB, UPDATE_IF_EXISTS,
# poison_policy delete, purges of ids with glob characters, and SQS
# trouble: a queue that does not exist, and the emulator going away.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs
settle() { wait_for 20 queue_is "${1:-0 0}" || die "queue not settled: $(sqs count "$SQS_URL")"; }
send() { sqs send "$SQS_URL" "$@" >/dev/null || die "cannot send $*"; }

# --- prefix, db, no expiry, and a script Redis forgot
CONSUMERS=1 WAIT_TIME_SECONDS=1 ENVIRONMENT_PREFIX=staging REDIS_DB=3 \
    KEYS_TTL_IN_SECS=-1 POISON_POLICY=delete start_pcs
wait_for 10 ready_with 1 || die "not ready: $(http GET /readyz)"
send "$EX/entitlements-updated.json"
settle
expect "written under the prefix in db 3" "$(redis_cli -n 3 --scan --pattern 'staging:c_acme' )" "staging:c_acme"
expect "nothing in db 0" "$(redis_cli -n 0 DBSIZE)" 0
expect "no expiry with a negative TTL" "$(redis_cli -n 3 TTL staging:c_acme)" -1
expect "no expiry on the timestamp" "$(redis_cli -n 3 TTL 'staging:c_acme#timestamp')" -1
redis_cli -n 3 SCRIPT FLUSH >/dev/null
send "$EX/measurement-reported.json"
settle
expect "written after SCRIPT FLUSH (NOSCRIPT, then EVAL)" \
    "$(redis_cli -n 3 GET 'staging:c_acme:f_api-calls#timestamp')" 1763150401002

# --- poison_policy delete: the bad message is deleted, not kept
send "$EX/bad-no-type.json"
settle "0 0"
grep -q "rejected: .*; deleted (poison_policy delete)" "$PCS_LOG" && ok "bad message deleted under poison_policy delete" \
    || fail "no 'deleted (poison_policy delete)' line"

# --- purge of an id with glob characters touches only that id
for id in 'a*' 'ab' 'a?' 'a[b]' 'a\x' 'a b'; do
    jq_id=$(node -e 'console.log(JSON.stringify(process.argv[1]))' "$id")
    sed "s/\"acme\"/$(printf '%s' "$jq_id" | sed 's/[\\&/]/\\&/g')/" "$EX/entitlements-updated.json" >"$WORK/e.json"
    send "$WORK/e.json"
done
settle
expect "six customers with glob characters" \
    "$(redis_cli -n 3 EXISTS 'staging:c_a*' 'staging:c_ab' 'staging:c_a?' 'staging:c_a[b]' 'staging:c_a\x' 'staging:c_a b')" 6
printf '{"type":"customer.deleted","id":"a*"}' >"$WORK/del.json"
send "$WORK/del.json"
settle
expect "purge of 'a*' removed its keys" "$(redis_cli -n 3 EXISTS 'staging:c_a*' 'staging:c_a*:f_seats')" 0
expect "purge of 'a*' left 'ab', 'a?', 'a[b]', 'a\\x', 'a b'" \
    "$(redis_cli -n 3 EXISTS 'staging:c_ab' 'staging:c_a?' 'staging:c_a[b]' 'staging:c_a\x' 'staging:c_a b')" 5
stop_pcs

# --- UPDATE_IF_EXISTS: only customers already cached are written
redis_cli FLUSHALL >/dev/null
CONSUMERS=1 WAIT_TIME_SECONDS=1 CACHE_UPDATE_POLICY=UPDATE_IF_EXISTS start_pcs
wait_for 10 ready_with 1 || die "not ready: $(http GET /readyz)"
send "$EX/entitlements-updated.json"
settle
expect "UPDATE_IF_EXISTS: an uncached customer is not written" "$(redis_cli DBSIZE)" 0
redis_cli SET 'production:c_acme' '{}' >/dev/null
redis_cli SET 'production:c_acme#timestamp' 1 >/dev/null
send "$EX/entitlements-updated.json"
settle
expect "UPDATE_IF_EXISTS: a cached customer is written" "$(redis_cli GET 'production:c_acme#timestamp')" 1763150385133
stop_pcs

# --- SQS trouble.  A queue that does not exist: a client error, logged
# once, not ready.
QUEUE_URL=${SQS_URL%/*}/no-such-queue CONSUMERS=1 start_pcs
wait_for 15 grep -q "sqs: ReceiveMessage: HTTP 400 .*QueueDoesNotExist\|NonExistentQueue" "$PCS_LOG" \
    || die "missing queue not reported"
ok "missing queue reported"
wait_for 10 readyz_like '503 {"status":"DOWN","consumers":0,"redis":"CONNECTED","reason":"sqs: ReceiveMessage: HTTP 400 *"}' \
    && ok "not ready on a client error" || fail "readiness with a missing queue: $(http GET /readyz)"
stop_pcs

# The emulator goes away and comes back: the consumers notice, back off,
# and resume; what was sent before and after is written.
CONSUMERS=2 WAIT_TIME_SECONDS=1 start_pcs
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"
sqs_port=$SQS_PORT
stop_sqs
wait_for 10 grep -q "sqs: ReceiveMessage: .*retrying in" "$PCS_LOG" && ok "SQS outage logged with its backoff" \
    || fail "SQS outage not logged"
# Same port again, so the daemon's QUEUE_URL still points at it.
node "$SUPPORT/sqs-emulator.js" --port "$sqs_port" --queue events >"$WORK/sqs2.out" 2>&1 &
SQS_PID=$!
wait_for 15 grep -qx ready "$WORK/sqs2.out" || die "emulator did not restart"
send "$EX/entitlements-updated.json"
settle
expect "written after SQS came back" "$(redis_cli GET 'production:c_acme#timestamp')" 1763150385133
wait_for 10 grep -q "sqs: receiving again" "$PCS_LOG" && ok "recovery logged" || fail "no recovery line"
finish
