#!/bin/bash
# The health port holds: with 2000 idle connections and 500 slowloris
# clients held against it (tests/support/health-load.js reopens each one
# the server closes), /livez and /readyz keep answering 200 within curl's
# timeout, and the slowloris clients are closed by the request deadline
# (with a 408).  Then a burst of more connections than the cap: the
# oldest idle ones make room, new ones are still served, one warning
# names the listener and the count.  Last, a daemon with too few
# descriptors for the cap: warned at start, and at EMFILE an idle
# connection is closed for the new one.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

# Both the clients and the daemon need thousands of descriptors.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 3000 ]; then
    echo "SKIP: the hard open files limit is $hard, below 3000"
    exit 77
fi
ulimit -n "$hard" || die "ulimit -n $hard"

start_redis
CONSUMERS=1 start_pcs
wait_for 10 ready_with 1 || die "not ready: $(http GET /readyz)"
ok "/readyz is UP"

LOAD_OUT=$WORK/load.out
node "$SUPPORT/health-load.js" --port "$HTTP_PORT" --idle 2000 --slow 500 \
    --interval 500 >"$LOAD_OUT" 2>&1 &
LOAD_PID=$!
HELPER_PIDS="$HELPER_PIDS $LOAD_PID"
wait_for 20 grep -q '^ready$' "$LOAD_OUT" || die "the clients did not connect: $(tail -n 3 "$LOAD_OUT")"
# stat FIELD: the field of the load script's last report.
stat() { tail -n 1 "$LOAD_OUT" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=JSON.parse(s)[process.argv[1]];console.log(v===undefined?"":v)}catch(e){console.log("")}})' "$1"; }
held() { [ "$(stat idle_open)" -ge 1800 ] && [ "$(stat slow_open)" -ge 400 ]; }
wait_for 10 held || die "the load is not held: $(tail -n 1 "$LOAD_OUT")"
ok "held: $(tail -n 1 "$LOAD_OUT")"

# Probe while the load is held: every answer within curl's 5 s timeout.
worst=0 bad=0
for i in $(seq 1 10); do
    for path in /livez /readyz; do
        out=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$HTTP_PORT$path")
        code=${out%% *} t=${out#* }
        if [ "$code" != 200 ]; then
            bad=$((bad + 1))
            echo "  $path: $out (open: $(stat idle_open) idle, $(stat slow_open) slowloris)"
        fi
        [ "$path" = /livez ] && [ "$code" = 200 ] && worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
    done
    sleep 0.3
done
expect "/livez and /readyz answered 200 under load (20 probes)" "$bad" 0
echo "info: worst /livez time under load: ${worst}s"

# Each of the first 500 slowloris clients was closed by the deadline.
slow_done() { [ "$(stat slow_first_closed)" = 500 ]; }
wait_for 15 slow_done && ok "the 500 slowloris clients were closed by the server" \
    || fail "slowloris clients closed: $(stat slow_first_closed) of 500"
[ "$(stat slow_408)" -ge 500 ] && ok "with 408 ($(stat slow_408) in all)" || fail "408s: $(stat slow_408)"
idle_done() { [ "$(stat idle_first_closed)" = 2000 ]; }
wait_for 10 idle_done && ok "the 2000 idle connections were closed by the server" \
    || fail "idle connections closed: $(stat idle_first_closed) of 2000"
kill "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null
echo "info: $(tail -n 1 "$LOAD_OUT")"
kill -0 "$PCS_PID" 2>/dev/null && ok "master alive" || fail "master died"

# Over the cap (4096): a burst of 4500 idle connections within the
# deadline.  The oldest make room; a probe is still answered.
if [ "$hard" != unlimited ] && [ "$hard" -lt 6000 ]; then
    echo "info: the hard open files limit is $hard: not testing the cap"
else
    mark_log
    node "$SUPPORT/health-load.js" --port "$HTTP_PORT" --idle 4500 >"$LOAD_OUT" 2>&1 &
    LOAD_PID=$!
    HELPER_PIDS="$HELPER_PIDS $LOAD_PID"
    wait_for 20 grep -q '^ready$' "$LOAD_OUT" || die "the burst did not connect: $(tail -n 3 "$LOAD_OUT")"
    evicted() { since | grep -q "health: 127.0.0.1:$HTTP_PORT: [0-9]* connections open (the limit is 4096): closed [0-9]* waiting for their requests"; }
    wait_for 10 evicted && ok "eviction warned: $(since | grep -o 'connections open.*' | head -n 1)" \
        || fail "no eviction warning: $(since | grep health | tail -n 3)"
    expect "one warning a minute" "$(since | grep -c 'connections open (the limit is 4096)')" 1
    bad=0
    for i in $(seq 1 5); do
        code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/livez")
        [ "$code" = 200 ] || bad=$((bad + 1))
    done
    expect "/livez answered at the cap" "$bad" 0
    kill "$LOAD_PID"
    wait "$LOAD_PID" 2>/dev/null
    echo "info: $(tail -n 1 "$LOAD_OUT")"
fi
expect "/livez after the load" "$(http GET /livez)" '200 {"status":"UP"}'
kill -0 "$PCS_PID" 2>/dev/null && ok "master alive" || fail "master died"
grep -q "health: open files limit" "$PCS_LOG" && ok "the limit is logged at debug: $(grep -o 'health: open files limit.*' "$PCS_LOG" | head -n 1)" \
    || fail "no debug line about the open files limit"

# Out of descriptors before the cap (a hard limit of 600): a warning at
# start, and at EMFILE an idle connection is closed for the new one.
stop_pcs
printf '#!/bin/sh\nulimit -n 600 && exec "$@"\n' >"$WORK/low-nofile"
chmod +x "$WORK/low-nofile"
mark_log
PCS_WRAP=$WORK/low-nofile CONSUMERS=1 start_pcs
wait_for 10 ready_with 1 || die "not ready under a limit of 600: $(http GET /readyz)"
since | grep -q "health: the open files limit is 600, below the [0-9]* that 4096 health connections need" \
    && ok "a low limit is warned about" || fail "no warning about the limit of 600: $(since | grep -i limit)"
node "$SUPPORT/health-load.js" --port "$HTTP_PORT" --idle 1000 >"$LOAD_OUT" 2>&1 &
LOAD_PID=$!
HELPER_PIDS="$HELPER_PIDS $LOAD_PID"
wait_for 20 grep -q '^ready$' "$LOAD_OUT" || die "the clients did not connect: $(tail -n 3 "$LOAD_OUT")"
emfile() { since | grep -q "accept: Too many open files" && since | grep -q "connections open (the limit is 4096): closed"; }
wait_for 10 emfile && ok "EMFILE warned, idle connections closed for new ones" \
    || fail "no EMFILE eviction: $(since | grep health | tail -n 3)"
bad=0
for i in $(seq 1 5); do
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/livez")
    [ "$code" = 200 ] || bad=$((bad + 1))
done
expect "/livez answered out of descriptors" "$bad" 0
kill "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null
echo "info: $(tail -n 1 "$LOAD_OUT")"
kill -0 "$PCS_PID" 2>/dev/null && ok "master alive" || fail "master died"
finish
