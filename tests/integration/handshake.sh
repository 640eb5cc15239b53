#!/bin/bash
# A Redis the daemon cannot use is never reported as usable: a wrong
# REDIS_DB, a REDIS_PASSWORD for a Redis without one, an ACL user without
# EVALSHA or without UNLINK (the write probe's step) each keep the daemon
# not ready with one line naming the step and Redis's answer, logged once
# however many reconnects follow, /readyz 503, and no message received (a
# message sent stays visible, its receive count untouched).  Fixing the
# ACL brings it up and the message is written.  And a Redis that refuses
# writes (maxmemory below use: OOM) makes it not ready until the write
# probe passes again.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "cannot send"
readyz_down() { case "$(http GET /readyz)" in '503 {"status":"DOWN"'*) return 0 ;; esac; return 1; }
# At least N reconnect attempts logged since line FROM of the log.
reconnects() { [ "$(tail -n +"$1" "$PCS_LOG" | grep -c 'redis: reconnecting in')" -ge "$2" ]; }

# not_ready NAME REASON ENV...: the daemon started with ENV stays not
# ready with REASON, logged once, through several reconnects, and does not
# receive.
not_ready() {
    local name=$1 reason=$2 from kv
    shift 2
    from=1
    [ -f "$PCS_LOG" ] && from=$(( $(wc -l <"$PCS_LOG") + 1 ))
    for kv in "$@"; do export "${kv?}"; done
    CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
    for kv in "$@"; do unset "${kv%%=*}"; done
    wait_for 15 grep -qF -- "$reason" "$PCS_LOG" \
        || { fail "$name: '$reason' not logged"; stop_pcs; return; }
    ok "$name: logged '$reason'"
    wait_for 20 reconnects "$from" 4 || fail "$name: no reconnects with backoff"
    expect "$name: the reason logged once over the reconnects" \
        "$(tail -n +"$from" "$PCS_LOG" | grep -cF -- "$reason")" 1
    expect "$name: never connected" "$(tail -n +"$from" "$PCS_LOG" | grep -c 'redis: connected to')" 0
    expect "$name: never ready" "$(tail -n +"$from" "$PCS_LOG" | grep -c ': ready$')" 0
    readyz_down && ok "$name: /readyz 503" || fail "$name: /readyz: $(http GET /readyz)"
    expect "$name: the message is still visible, not received" "$(sqs count "$SQS_URL")" "1 0"
    stop_pcs
}

not_ready "REDIS_DB=99" "redis: SELECT 99: ERR DB index is out of range" REDIS_DB=99
not_ready "REDIS_PASSWORD without a password in Redis" \
    "redis: AUTH: ERR AUTH <password> called without any password configured" \
    REDIS_PASSWORD=hunter2-secret
grep -q hunter2-secret "$PCS_LOG" && fail "the password appears in the log" || ok "no password in the log"
# A host name that does not resolve fails the lookup (resolve.c, off the
# loop): not ready with the reason, not a crash.
PCS_WRAP=$(no_dns) not_ready "a Redis host that does not resolve" \
    "redis: resolving nonexistent-host.invalid: " REDIS_HOST=nonexistent-host.invalid
grep -q "killed by signal" "$PCS_LOG" && fail "a consumer crashed: $(grep 'killed by signal' "$PCS_LOG")" \
    || ok "no consumer crashed on a host that does not resolve"

redis_cli ACL SETUSER noeval on '>pw-noeval' '~*' '&*' '+@all' '-evalsha' '-eval' >/dev/null
redis_cli ACL SETUSER nounlink on '>pw-nounlink' '~*' '&*' '+@all' '-unlink' >/dev/null
not_ready "ACL user without EVALSHA" \
    "redis: EVALSHA (write probe): NOPERM this user has no permissions to run the 'evalsha' command" \
    REDIS_USER=noeval REDIS_PASSWORD=pw-noeval
not_ready "ACL user without UNLINK" \
    "redis: EVALSHA (write probe): ERR The user executing the script can't run this command" \
    REDIS_USER=nounlink REDIS_PASSWORD=pw-nounlink

# Nothing received it: the peek below is its first receive.
count=$(sqs receive "$SQS_URL" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
    const m=s.trim().split("\n").filter(Boolean).map(JSON.parse); console.log(m.length+" "+(m[0]?m[0].Attributes.ApproximateReceiveCount:"-"))})')
expect "the message was never received by the daemon" "$count" "1 1"
expect "nothing written" "$(redis_keys 'production:c_acme*')" ""

# Fixed while it runs: the next attempt passes and the message is written.
CONSUMERS=1 WAIT_TIME_SECONDS=1 REDIS_USER=noeval REDIS_PASSWORD=pw-noeval start_pcs
wait_for 15 grep -qF "redis: EVALSHA (write probe): NOPERM" "$PCS_LOG" || die "no probe failure"
redis_cli ACL SETUSER noeval '+evalsha' '+eval' >/dev/null
wait_for 15 ready_with 1 && ok "ready once the ACL allows EVALSHA" || fail "not ready after the fix: $(http GET /readyz)"
wait_for 20 queue_is "0 0" || fail "queue not settled: $(sqs count "$SQS_URL")"
expect "written after the fix" "$(redis_cli GET 'production:c_acme#timestamp')" 1763150385133
stop_pcs

# --- Redis refusing writes: not ready until the write probe passes.
CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
wait_for 15 ready_with 1 || die "not ready: $(http GET /readyz)"
from=$(( $(wc -l <"$PCS_LOG") + 1 ))
redis_cli CONFIG SET maxmemory 1 >/dev/null
sed 's/2025-11-14T19:59:45.133Z/2025-11-14T19:59:59.000Z/' "$EX/entitlements-updated.json" >"$WORK/newer.json"
sqs send "$SQS_URL" "$WORK/newer.json" >/dev/null
refusing() { tail -n +"$from" "$PCS_LOG" | grep -q "redis: refusing writes: OOM command not allowed when used memory > 'maxmemory'\.$"; }
wait_for 15 refusing && ok "OOM logged as Redis refusing writes" || fail "no refusing line"
wait_for 10 readyz_down && ok "not ready while Redis refuses writes" || fail "readiness while refusing: $(http GET /readyz)"
expect "not written while refused" "$(redis_cli GET 'production:c_acme#timestamp')" 1763150385133
redis_cli CONFIG SET maxmemory 0 >/dev/null
wait_for 15 ready_with 1 && ok "ready again once writes are accepted" || fail "not ready again: $(http GET /readyz)"
grep -q "redis: writes accepted again" "$PCS_LOG" && ok "recovery logged" || fail "no recovery line"
wait_for 40 eval '[ "$(redis_cli GET "production:c_acme#timestamp")" = 1763150399000 ]' \
    && ok "written once Redis accepts writes" || fail "not written after the refusal"
finish
