#!/bin/bash
# Redis going away turns /readyz into 503 DISCONNECTED (while /livez stays
# 200); Redis coming back on the same port turns it into 200 again, and
# the consumers were never restarted for it.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
CONSUMERS=2 start_pcs
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"
before=$(consumers)

stop_redis
t0=$(date +%s%N)
wait_for 10 readyz_like '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"redis: *"}' \
    || die "/readyz did not go DOWN: $(http GET /readyz)"
ok "Redis down shows on /readyz ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
expect "/livez while Redis is down" "$(http GET /livez)" '200 {"status":"UP"}'
grep -q "redis: connection to 127.0.0.1:$REDIS_PORT lost" "$PCS_LOG" \
    && ok "loss logged" || fail "loss of Redis not logged"

start_redis
wait_for 15 ready_with 2 || die "/readyz did not come back: $(http GET /readyz)"
ok "Redis back: /readyz UP again"
expect "consumers kept through the outage" "$(consumers)" "$before"

# A Redis that accepts connections but never answers (SIGSTOP) is down too.
kill -STOP "$REDIS_PID"
wait_for 10 readyz_like '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"redis: *"}' \
    || { kill -CONT "$REDIS_PID"; die "/readyz did not go DOWN for a stuck Redis"; }
ok "stuck Redis shows as DOWN"
kill -CONT "$REDIS_PID"
wait_for 15 ready_with 2 || die "/readyz did not recover from a stuck Redis"
ok "recovered from a stuck Redis"
finish
