#!/bin/bash
# A reload keeps what it promises: each consumer runs the configuration
# of its generation until the roll replaces it, so one that restarts
# mid-roll (a crash, or a roll stopped by a replacement that never gets
# ready, or one that timed out) comes back with the configuration it ran,
# not the new one.  The replacement starts first: the consumer it
# replaces serves until it is ready, and takes its slot back when it
# never is, so a reload that cannot work stops no consumption, not even
# with one consumer.  Also: /readyz and systemd's STATUS= say why the
# service is not ready.
#
# The Redis port comes from the file (the environment would override it),
# so a reload can point the consumers at a port where nobody listens.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
start_sqs
BAD=$(free_port)	# reserved for this test, and nobody listens there
start_notify

CONF=$WORK/pcs.conf
# [N=CONSUMERS] conf REDIS-PORT [MORE SETTINGS]
conf() {
    printf 'consumers = %s;\nredis_host = "127.0.0.1";\nredis_port = %s;\n' "${N:-2}" "$1" >"$CONF"
    printf 'drain_timeout = 5;\nwait_time = 1;\n%s' "${2:-}" >>"$CONF"
}
# The pids of consumer N (its process name is "pcs consumer N"; two
# while a reload replaces it), not counting one killed that the master
# has not reaped yet.
slot_pid() {
    local p
    for p in $(consumers); do
        grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && continue
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "pcs consumer $1" ] && echo "$p"
    done
}
# Log lines since mark (a line count taken before).
since() { tail -n +$(($1 + 1)) "$PCS_LOG"; }
mark() { wc -l <"$PCS_LOG"; }

HTTP_PORT=$(free_port)
conf "$BAD"
env -u REDIS_PORT -u REDIS_HOST NOTIFY_SOCKET="$SOCK" QUEUE_URL="$SQS_URL" \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 LOG_LEVEL=debug \
    "$PCS_BIN" -c "$CONF" >>"$PCS_LOG" 2>&1 &
PCS_PID=$!
ALL_PIDS="$ALL_PIDS $PCS_PID"

# --- Not ready, and why: the consumers' own reason, on /readyz (503
# only: the 200 body stays Stigg's) and in STATUS=.
down_why() {
    case "$(http GET /readyz)" in
    '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"redis: '*"$BAD"*'"}') ;;
    *) return 1 ;;
    esac
}
if wait_for 10 down_why; then
    ok "/readyz DOWN says why: $(http GET /readyz)"
    reason=$(http GET /readyz | sed 's/.*"reason":"\(.*\)"}$/\1/')
    status_why() { msgs | grep -qxF "STATUS=0 of 2 consumers ready, redis disconnected: $reason"; }
    wait_for 5 status_why && ok "STATUS= says why too" \
        || fail "no STATUS= with the reason '$reason': $(msgs | grep STATUS | tail -n 3)"
else
    fail "/readyz DOWN without the reason: $(http GET /readyz)"
fi
body=$(http GET /readyz | cut -d' ' -f2-)
node -e 'JSON.parse(process.argv[1])' "$body" 2>/dev/null && ok "the 503 body is JSON" \
    || fail "the 503 body is not JSON: $body"

# --- A good configuration: the roll completes, the old one is freed.
m=$(mark)
conf "$REDIS_PORT"
kill -HUP "$PCS_PID"
wait_for 30 ready_with 2 || die "not ready after the good reload: $(http GET /readyz)"
wait_for 10 eval 'since $m | grep -q "reload complete"' || die "first roll did not complete"
expect "ready: the 200 body is unchanged" "$(http GET /readyz)" '200 {"status":"UP","consumers":2,"redis":"CONNECTED"}'
since "$m" | grep -q "configuration 0: no consumer runs it; freed" \
    && ok "the roll complete, the previous configuration is freed" \
    || fail "the previous configuration was not freed after the roll"

# --- A configuration whose consumers never get ready stops the roll at
# consumer 1, whose replacement keeps trying while the consumer it
# replaces serves on.  Consumer 2 crashes meanwhile: it must come back
# with the configuration it ran (the good Redis), as the log promises.
m=$(mark)
old1=$(slot_pid 1)
old2=$(slot_pid 2)
conf "$BAD"
kill -HUP "$PCS_PID"
# The replacement: slot 1's process that is not old1.
new1() {
    local p
    for p in $(slot_pid 1); do [ "$p" != "$old1" ] && { echo "$p"; return 0; }; done
    return 1
}
wait_for 20 new1 >/dev/null || die "consumer 1's replacement not started"
rep1=$(new1)
wait_for 10 eval 'since $m | grep -q "consumer 1\[$rep1\]: redis: connect to 127.0.0.1:$BAD"' \
    || die "consumer 1's replacement did not try the new Redis"
if kill -0 "$old1" 2>/dev/null && ! since "$m" | grep -q "consumer 1\[$old1\]: stopping"; then
    ok "the consumer being replaced serves on while its replacement is not ready"
else
    fail "consumer 1 (pid $old1) was stopped before its replacement was ready"
fi
expect "both slots ready meanwhile" "$(http GET /readyz)" '200 {"status":"UP","consumers":2,"redis":"CONNECTED"}'
# slot_status N: "pid outgoing_pid state" of slot N in /status.
slot_status() {
    node -e 'const s = JSON.parse(process.argv[1].slice(4));
const c = s.consumers.find(c => c.slot === +process.argv[2]);
console.log(c.pid, c.outgoing_pid, c.state)' "$(http GET /status)" "$1"
}
expect "/status: the replacement, and the consumer it replaces" "$(slot_status 1)" "$rep1 $old1 starting"
# The consumer being replaced crashes: it is restarted on its own
# configuration, so the slot still has one that serves.
m=$(mark)
kill -KILL "$old1"
if wait_for 15 eval 'since $m | grep -q "restarting consumer 1 in .* on its previous configuration, its replacement not being ready"' &&
    wait_for 15 eval 'since $m | grep -q "consumer 1 (pid [0-9]*) is ready"'; then
    old1=$(since "$m" | sed -n 's/.*consumer 1 (pid \([0-9]*\)) is ready.*/\1/p' | head -n 1)
    ok "the consumer being replaced, killed, restarts on its previous configuration"
else
    fail "the consumer being replaced was not restarted: $(since "$m" | grep 'consumer 1' | tail -n 3)"
fi
kill -KILL "$old2"
new2() { p=$(slot_pid 2); [ -n "$p" ] && [ "$p" != "$old2" ]; }
wait_for 10 new2 || die "consumer 2 not restarted"
pid2=$(slot_pid 2)
if wait_for 15 eval 'since $m | grep -q "consumer 2 (pid $pid2) is ready"'; then
    ok "consumer 2 restarted mid-roll runs its previous configuration"
else
    fail "consumer 2 restarted mid-roll did not get ready (it runs the new configuration?)"
fi
wait_for 10 ready_with 2 && ok "/readyz UP with consumer 2 on the good Redis" \
    || fail "after consumer 2's restart: $(http GET /readyz)"
since "$m" | grep -q "restarting consumer 2 in .* on its previous configuration" \
    && ok "the restart names the previous configuration" || fail "restart line does not say which configuration"
since "$m" | grep -q "reload: replacing consumer 2" && fail "the roll went past the consumer that is not ready" \
    || ok "the roll stopped at consumer 1"

# --- The roll times out (hang_timeout bounds a replacement's wait to get
# ready): the replacement is stopped and the consumer it was to replace
# takes its slot back; the remaining consumer keeps its configuration,
# restarts too.
m=$(mark)
old2=$(slot_pid 2)
conf "$BAD" 'hang_timeout = 4;
'
kill -HUP "$PCS_PID"
if wait_for 25 eval 'since $m | grep -q "reload: consumer 1 did not become ready within 4s; it and the remaining consumers keep the previous configuration"'; then
    ok "roll timed out after hang_timeout"
else
    die "no roll timeout within hang_timeout: $(since "$m" | grep reload)"
fi
wait_for 10 eval '[ "$(slot_pid 1)" = "$old1" ]' \
    && since "$m" | grep -q "consumer 1 (pid $old1) keeps serving on its previous configuration" \
    && ok "the consumer the roll was replacing took its slot back" \
    || fail "slot 1 after the timed-out roll: $(slot_pid 1 | tr '\n' ' ') (was $old1)"
expect "consumer 2 not replaced by the stopped roll" "$(slot_pid 2)" "$old2"
kill -KILL "$old2"
wait_for 10 new2 || die "consumer 2 not restarted after the timeout"
pid2=$(slot_pid 2)
if wait_for 15 eval 'since $m | grep -q "consumer 2 (pid $pid2) is ready"'; then
    ok "after a timed-out roll, consumer 2 restarts on its previous configuration"
else
    fail "after a timed-out roll, consumer 2 did not get ready again"
fi
wait_for 10 ready_with 2 && ok "/readyz UP with both consumers after the timed-out roll" \
    || fail "after the timed-out roll: $(http GET /readyz)"
since "$m" | grep -q "configuration 2: no consumer runs it; freed" \
    && ok "the configuration no consumer runs any more is freed" \
    || fail "configuration 2 (consumer 1's first replacement) not freed"

# --- A good reload again replaces both: every generation but the last
# is freed (and the leak checker of a sanitizer build sees the rest freed
# at exit).
m=$(mark)
conf "$REDIS_PORT"
kill -HUP "$PCS_PID"
wait_for 30 eval 'since $m | grep -q "reload complete"' || die "last roll did not complete"
wait_for 10 ready_with 2 && ok "the last reload completed with 2 consumers" \
    || fail "after the last reload: $(http GET /readyz)"
expect "older configurations freed" "$(since "$m" | grep -c 'no consumer runs it; freed')" 2

# --- One consumer: a reload that cannot work does not stop consumption.
m=$(mark)
N=1 conf "$REDIS_PORT"
kill -HUP "$PCS_PID"
wait_for 30 eval 'since $m | grep -q "reload complete: 1 consumers"' || die "the reload to one consumer did not complete"
wait_for 10 eval '[ "$(consumers | wc -l)" = 1 ]' || die "not down to one consumer: $(consumers | tr '\n' ' ')"
only=$(slot_pid 1)
m=$(mark)
N=1 conf "$BAD" 'hang_timeout = 4;
'
kill -HUP "$PCS_PID"
old1=$only
wait_for 10 new1 >/dev/null || die "the only consumer's replacement not started"
if applied_within 20; then
    ok "with one consumer, a message sent during a reload that cannot work is applied"
else
    fail "with one consumer, nothing was applied during the reload"
fi
wait_for 15 eval '[ "$(slot_pid 1)" = "$only" ]' && ok "the only consumer keeps serving after the roll timed out" \
    || fail "slot 1 after the timed-out roll: $(slot_pid 1 | tr '\n' ' ') (was $only)"
# The same reload again: its timeout, seconds after the last one with
# the same text, is the answer to another SIGHUP: written, not counted
# as a repeat.
timed_out() {
    since "$1" | grep -c "reload: consumer 1 did not become ready within 4s; it and the remaining consumers keep the previous configuration$"
}
expect "the timed-out reload is logged" "$(timed_out "$m")" 1
kill -HUP "$PCS_PID"
if wait_for 15 eval '[ "$(timed_out $m)" = 2 ]'; then
    ok "the same reload timed out again within 10 s is logged again"
else
    fail "the second timed-out reload was not logged: $(since "$m" | grep reload | tail -n 3)"
fi
wait_for 10 eval '[ "$(slot_pid 1)" = "$only" ]' || die "slot 1 after the second timed-out roll: $(slot_pid 1 | tr '\n' ' ')"

# --- A reload while the consumer a replacement replaced still drains
# (SIGSTOP holds it there) waits for it to go, and keeps the ready
# replacement serving: it is not stopped before its own replacement.
m=$(mark)
N=1 conf "$REDIS_PORT"
kill -HUP "$PCS_PID"
kill -STOP "$only"
wait_for 20 eval 'since $m | grep -q "reload: consumer 1 (pid $only) replaced by pid [0-9]*; stopping it"' \
    || { kill -CONT "$only"; die "no replacement of the held consumer: $(since "$m" | grep reload)"; }
ready=$(since "$m" | sed -n "s/.*reload: consumer 1 (pid $only) replaced by pid \([0-9]*\).*/\1/p")
kill -HUP "$PCS_PID"
wait_for 10 eval '[ "$(since $m | grep -c "reload: configuration read")" = 2 ]' || { kill -CONT "$only"; die "second reload not seen"; }
expect "a reload during the drain keeps the ready replacement serving" "$(slot_status 1)" "$ready $only ready"
kill -CONT "$only"
wait_for 20 eval 'since $m | grep -q "reload: replacing consumer 1 (pid $ready), which serves until its replacement is ready"' \
    && ok "the roll goes on once the held consumer is gone" \
    || fail "the roll did not go on after the drain: $(since "$m" | grep reload | tail -n 3)"
wait_for 20 eval 'since $m | grep -q "reload complete: 1 consumers"' && wait_for 10 ready_with 1 \
    && ok "both reloads completed with one consumer" || fail "after the reloads: $(http GET /readyz)"

# --- A reload that cannot work, while the only consumer waits to be
# restarted after a crash: the restart still comes, on the configuration
# it ran, and serves beside the replacement that never gets ready.
m=$(mark)
N=1 conf "$REDIS_PORT" 'restart_backoff_min_ms = 2000;
restart_backoff_max_ms = 2000;
'
kill -HUP "$PCS_PID"
wait_for 20 eval 'since $m | grep -q "reload complete: 1 consumers"' || die "no reload to the longer backoff"
wait_for 10 ready_with 1 || die "not ready: $(http GET /readyz)"
m=$(mark)
kill -KILL "$(slot_pid 1)"
wait_for 10 eval 'since $m | grep -q "restarting consumer 1 in"' || die "the crash was not seen"
N=1 conf "$BAD" 'hang_timeout = 4;
restart_backoff_min_ms = 2000;
restart_backoff_max_ms = 2000;
'
kill -HUP "$PCS_PID"
if applied_within 20; then
    ok "a reload during a restart's backoff keeps the restart, which serves"
else
    fail "nothing applied after a reload during the only consumer's backoff: $(since "$m" | grep 'consumer 1' | tail -n 4)"
fi
wait_for 20 eval 'since $m | grep -q "did not become ready within 4s"' && wait_for 10 ready_with 1 \
    && ok "after the roll timed out, the restarted consumer keeps the slot" \
    || fail "after the timed-out roll: $(http GET /readyz)"
kill -TERM "$PCS_PID"
wait_for 20 pid_gone "$PCS_PID" || die "did not stop"
wait "$PCS_PID"
expect "clean exit" "$?" 0
PCS_PID=
finish
