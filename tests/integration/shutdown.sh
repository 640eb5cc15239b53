#!/bin/bash
# SIGTERM drains and exits 0 within the drain timeout with no process left
# behind; a second SIGTERM exits at once; consumers die with a master that
# is killed outright.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
CONSUMERS=3 DRAIN_TIMEOUT_SECS=5 start_pcs
wait_for 10 ready_with 3 || die "not ready: $(http GET /readyz)"
kids=$(consumers)
remember_consumers
kill -TERM "$PCS_PID"
if wait_for 10 pid_gone "$PCS_PID"; then
    wait "$PCS_PID"; rc=$?
    expect "exit status after SIGTERM" "$rc" 0
else
    die "master still running 10 s after SIGTERM (drain timeout 5 s)"
fi
for k in $kids; do wait_for 5 pid_gone "$k" || fail "consumer $k outlived the master"; done
grep -q "all consumers stopped; exiting" "$PCS_LOG" && ok "clean drain logged" || fail "no drain line"
PCS_PID=

# SIGINT behaves as SIGTERM.
CONSUMERS=2 start_pcs
wait_for 10 ready_with 2 || die "second start not ready"
remember_consumers
kill -INT "$PCS_PID"
wait_for 10 pid_gone "$PCS_PID" || die "SIGINT did not stop the master"
wait "$PCS_PID"; expect "exit status after SIGINT" "$?" 0
PCS_PID=

# Master killed outright: the consumers notice (PR_SET_PDEATHSIG, EOF on
# the channel) and exit.
CONSUMERS=2 start_pcs
wait_for 10 ready_with 2 || die "third start not ready"
kids=$(consumers)
remember_consumers
kill -KILL "$PCS_PID"
wait "$PCS_PID" 2>/dev/null
for k in $kids; do
    wait_for 10 pid_gone "$k" && ok "consumer $k died with the master" || fail "consumer $k outlived a killed master"
done
PCS_PID=

# A second SIGTERM during the drain stops at once.  The drain is made slow
# by a consumer that cannot stop (SIGSTOP) and a long deadline.
CONSUMERS=2 DRAIN_TIMEOUT_SECS=600 start_pcs
wait_for 10 ready_with 2 || die "fourth start not ready"
remember_consumers
kill -STOP "$(consumers | head -n 1)"
kill -TERM "$PCS_PID"
wait_for 5 grep -q "SIGTERM: draining 2 consumers" "$PCS_LOG" || die "drain not started"
draining() { readyz_is '503 {"status":"DOWN","consumers":0,"redis":"CONNECTED","reason":"draining"}' || readyz_is '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"draining"}'; }
wait_for 5 draining && ok "/readyz is DOWN while draining" || fail "/readyz not DOWN while draining: $(http GET /readyz)"
kill -0 "$PCS_PID" && ok "drain waits for the stuck consumer" || fail "master exited before the deadline"
kill -TERM "$PCS_PID"
wait_for 10 pid_gone "$PCS_PID" || die "second SIGTERM did not stop the master"
grep -q "SIGTERM again: stopping now" "$PCS_LOG" && ok "second SIGTERM logged" || fail "no second-SIGTERM line"
PCS_PID=
finish
