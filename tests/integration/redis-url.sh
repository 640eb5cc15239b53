#!/bin/bash
# REDIS_URL against a real redis-server: the URL alone (no REDIS_HOST,
# REDIS_PORT or REDIS_DB in the daemon's environment) picks the server,
# the database and the ACL user, with a password that needs
# percent-encoding; the password never reaches the log; a wrong one keeps
# the consumers not ready, and a URL beside REDIS_HOST is refused.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
PW='p@ss/w:rd%-'$RANDOM		# '@', '/', ':' and '%' must be encoded
PW_ENC=$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$PW")
start_redis
start_sqs
redis_cli ACL SETUSER stigg on ">$PW" '~*' '&*' '+@all' >/dev/null \
    || die "cannot create the ACL user"
HTTP_PORT=$(free_port)

# run_pcs URL: the daemon with REDIS_URL and none of the discrete settings.
run_pcs() {
    env -u REDIS_HOST -u REDIS_PORT -u REDIS_DB -u REDIS_USER \
        -u REDIS_USERNAME -u REDIS_PASSWORD REDIS_URL="$1" \
        QUEUE_URL="$SQS_URL" AWS_ACCESS_KEY_ID=test \
        AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 CONSUMERS=1 \
        WAIT_TIME_SECONDS=1 PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 \
        LOG_LEVEL=debug "$PCS_BIN" -c /dev/null >>"$PCS_LOG" 2>&1 &
    PCS_PID=$!
    ALL_PIDS="$ALL_PIDS $PCS_PID"
}

# --- The URL alone: host, port, db 3, user and decoded password.
run_pcs "redis://stigg:$PW_ENC@127.0.0.1:$REDIS_PORT/3"
wait_for 10 ready_with 1 || die "not ready with REDIS_URL: $(http GET /readyz)"
ok "ready with REDIS_URL (user and percent-encoded password)"
redis_cli CLIENT LIST | grep -q ' user=stigg ' \
    && ok "connected as the URL's user" || fail "no connection as user stigg: $(redis_cli CLIENT LIST)"
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "cannot send"
wait_for 20 queue_is "0 0" || die "queue not settled: $(sqs count "$SQS_URL")"
expect "written in the URL's db 3" "$(redis_cli -n 3 --scan --pattern 'production:c_acme')" "production:c_acme"
expect "nothing in db 0" "$(redis_cli -n 0 DBSIZE)" 0
stop_pcs

# --- A wrong password: not ready, and no password in the log.
run_pcs "redis://stigg:wrong-$PW_ENC@127.0.0.1:$REDIS_PORT/3"
if wait_for 10 readyz_like '503 *"reason":"redis: *'; then
    ok "a wrong password: not ready ($(http GET /readyz))"
else
    fail "a wrong password: $(http GET /readyz)"
fi
stop_pcs
if grep -qF -e "$PW" -e "$PW_ENC" "$PCS_LOG"; then
    fail "the URL's password is in the log"
else
    ok "the URL's password is never logged"
fi

# --- Beside a discrete setting: refused, exit 78, password not shown.
out=$(env REDIS_URL="redis://stigg:$PW_ENC@127.0.0.1:$REDIS_PORT/3" \
    REDIS_HOST=127.0.0.1 QUEUE_URL="$SQS_URL" AWS_REGION=us-east-1 \
    "$PCS_BIN" -c /dev/null 2>&1)
expect "REDIS_URL and REDIS_HOST: exit 78" "$?" 78
expect "REDIS_URL and REDIS_HOST: the conflict named" "$out" \
    "persistent-cache-service: REDIS_URL and REDIS_HOST both set; use one"
finish
