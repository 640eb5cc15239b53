#!/bin/bash
# A consumer killed with SIGKILL is replaced by a new process and
# readiness comes back to all consumers; a consumer that stops sending
# heartbeats (SIGSTOP) is killed after the hang timeout and replaced; a
# crash storm holds restarts at the backoff ceiling.
# Every exit is logged once with slot, pid, how it ended and uptime.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
CONSUMERS=3 HANG_TIMEOUT_SECS=3 RESTART_BACKOFF_MAX_MS=3000 start_pcs
wait_for 10 ready_with 3 || die "not ready: $(http GET /readyz)"
before=$(consumers)
victim=$(echo "$before" | head -n 1)
kill -KILL "$victim"
t0=$(date +%s%N)
replaced() { ! consumers | grep -qx "$victim" && [ "$(consumers | wc -l)" = 3 ]; }
wait_for 10 replaced || die "consumer $victim was not replaced: $(consumers | tr '\n' ' ')"
wait_for 10 ready_with 3 || die "readiness did not return to 3: $(http GET /readyz)"
t1=$(date +%s%N)
ok "killed consumer $victim replaced, 3 ready again ($(( (t1 - t0) / 1000000 )) ms)"
grep -Eq "consumer [0-9] \(pid $victim\) killed by signal 9 \(Killed\) after [0-9.]+s" "$PCS_LOG" \
    && ok "exit logged with slot, pid, signal and uptime" || fail "exit of $victim not logged"
expect "exit logged once" "$(grep -c "(pid $victim) killed by signal" "$PCS_LOG")" 1
remember_consumers

# A hung consumer: stopped, it sends no heartbeat.
hung=$(consumers | tail -n 1)
kill -STOP "$hung"
gone() { ! consumers | grep -qx "$hung"; }
wait_for 15 gone || die "hung consumer $hung not killed"
grep -q "consumer [0-9] (pid $hung) sent no heartbeat for 3s; killing it" "$PCS_LOG" \
    && ok "hung consumer killed after the hang timeout" || fail "hang kill not logged"
wait_for 10 ready_with 3 || die "readiness did not return after the hang: $(http GET /readyz)"
ok "hung consumer replaced"

# Crash storm: ten unexpected exits within a minute hold every restart at
# the backoff ceiling.
kills=0
while [ "$kills" -lt 10 ]; do
    wait_for 10 sh -c "pgrep -P $PCS_PID >/dev/null" || die "no consumer to kill (after $kills kills)"
    pgrep -P "$PCS_PID" | xargs -r kill -KILL
    kills=$(grep -c "killed by signal 9" "$PCS_LOG")
done
wait_for 10 grep -q "crash storm: 10 consumer exits within 60s; restarts are held at 3.0s" "$PCS_LOG" \
    || die "crash storm not detected"
ok "crash storm detected"
wait_for 5 grep -q "restarting consumer [0-9] in 3.00s" "$PCS_LOG" && ok "restarts held at the ceiling" || fail "restart delay not held at the ceiling"
wait_for 20 ready_with 3 || die "consumers did not come back after the storm: $(http GET /readyz)"
ok "consumers back after the storm"
finish
