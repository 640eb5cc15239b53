#!/bin/bash
# SIGHUP: a broken configuration is logged and the old one kept (the same
# consumers keep serving); a good one replaces the consumers one at a
# time and applies the new consumer count.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
CONF=$WORK/pcs.conf
cat >"$CONF" <<CONF
consumers = 3;
drain_timeout = 5;
CONF
start_pcs -c "$CONF"
wait_for 10 ready_with 3 || die "not ready: $(http GET /readyz)"
before=$(consumers)

# Broken: a syntax error, then an out-of-range value.
echo 'consumers = ;' >"$CONF"
kill -HUP "$PCS_PID"
wait_for 10 grep -q "reload: $CONF:1: .*keeping the current configuration" "$PCS_LOG" \
    || die "broken reload not logged"
ok "syntax error on reload logged with file:line"
printf 'consumers = 3;\nredis_port = 99999;\n' >"$CONF"
kill -HUP "$PCS_PID"
wait_for 10 grep -q "reload: .*redis_port: 99999 is out of range.*keeping the current configuration" "$PCS_LOG" \
    || die "out-of-range reload not logged"
ok "bad value on reload logged"
expect "still ready with the old configuration" "$(http GET /readyz)" '200 {"status":"UP","consumers":3,"redis":"CONNECTED"}'
expect "same consumers after a broken reload" "$(consumers)" "$before"
remember_consumers

# Good: two consumers from now on; every old consumer is replaced.
printf 'consumers = 2;\ndrain_timeout = 5;\n' >"$CONF"
kill -HUP "$PCS_PID"
rolled() {
    local now
    now=$(consumers)
    [ "$(echo "$now" | wc -l)" = 2 ] && ! echo "$now" | grep -qxF "$before"
}
wait_for 20 rolled || die "consumers not replaced: before $(echo $before) now $(consumers | tr '\n' ' ')"
wait_for 10 ready_with 2 || die "not ready after reload: $(http GET /readyz)"
ok "reload replaced every consumer and now runs 2"
grep -q "reload complete" "$PCS_LOG" && ok "reload completion logged" || fail "no 'reload complete' line"
# One at a time: each replacement was announced before the next.
expect "replacements announced one by one" "$(grep -c 'reload: replacing consumer' "$PCS_LOG")" 2

# Two reloads in a row while consumers are still draining from the
# first: 3 -> 2 -> 3 must end with 3.  SIGSTOP holds slot 2's and 3's
# consumers in their drain until both reloads are in.
printf 'consumers = 3;\ndrain_timeout = 5;\n' >"$CONF"
kill -HUP "$PCS_PID"
wait_for 20 ready_with 3 || die "not back to 3: $(http GET /readyz)"
held=$(consumers | tail -n 2)
kill -STOP $held
printf 'consumers = 1;\ndrain_timeout = 5;\n' >"$CONF"
kill -HUP "$PCS_PID"
wait_for 5 grep -q "reload: consumers 3 -> 1" "$PCS_LOG" || { kill -CONT $held; die "first reload not seen"; }
printf 'consumers = 3;\ndrain_timeout = 5;\n' >"$CONF"
kill -HUP "$PCS_PID"
wait_for 5 grep -q "reload: consumers 1 -> 3" "$PCS_LOG" || { kill -CONT $held; die "second reload not seen"; }
kill -CONT $held
wait_for 30 ready_with 3 && ok "3 -> 1 -> 3 in quick succession ends with 3 consumers" \
    || fail "after two quick reloads: $(http GET /readyz), $(consumers | wc -l) consumers"

# The listen port moves on reload.  start_pcs puts PORT in the
# environment, which would override the file, so start without it.
kill -TERM "$PCS_PID"; wait_for 10 pid_gone "$PCS_PID" || die "did not stop"; PCS_PID=
old_port=$(free_port)
printf 'consumers = 1;\nport = %s;\nlisten_address = "127.0.0.1";\n' "$old_port" >"$CONF"
env -u PORT -u LISTEN_ADDRESS QUEUE_URL=http://127.0.0.1:9/0/q AWS_REGION=us-east-1 AWS_NO_SIGN_REQUEST=true \
    REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" "$PCS_BIN" -c "$CONF" >>"$PCS_LOG" 2>&1 &
PCS_PID=$!
ALL_PIDS="$ALL_PIDS $PCS_PID"
HTTP_PORT=$old_port
wait_for 10 ready_with 1 || die "not ready on port $old_port"
new_port=$(free_port)
printf 'consumers = 1;\nport = %s;\nlisten_address = "127.0.0.1";\n' "$new_port" >"$CONF"
kill -HUP "$PCS_PID"
HTTP_PORT=$new_port
wait_for 10 ready_with 1 || die "not answering on the new port $new_port"
ok "reload moved the health endpoint to port $new_port"
HTTP_PORT=$old_port
expect "old port closed" "$(http GET /livez | cut -d' ' -f1)" 000
kill -0 "$PCS_PID" && ok "master survived" || fail "master died"
finish
