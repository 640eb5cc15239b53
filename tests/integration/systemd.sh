#!/bin/bash
# The systemd notification protocol, against a stand-in for systemd's
# socket: READY=1 once a consumer is ready, WATCHDOG=1 at half the
# WATCHDOG_USEC interval, RELOADING=1 then READY=1 around a reload (a
# broken one too), STOPPING=1 on SIGTERM; every message comes from the
# master itself (NotifyAccess=main).  Also: a secret read from $CREDENTIALS_DIRECTORY, as
# LoadCredential= provides it.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
start_notify	# the senders are checked at the end

CONF=$WORK/pcs.conf
printf 'consumers = 2;\n' >"$CONF"
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 start_pcs -c "$CONF"
master=$PCS_PID
got_ready() { msgs | grep -q '^READY=1 STATUS=[12] of 2 consumers ready, redis connected$'; }
wait_for 10 got_ready || die "no READY=1: $(msgs)"
ok "READY=1 with a STATUS once ready"
wait_for 10 ready_with 2 || die "not ready"
watchdogs() { [ "$(msgs | grep -c '^WATCHDOG=1$')" -ge 3 ]; }
wait_for 5 watchdogs && ok "WATCHDOG=1 keeps coming (interval 1 s)" || fail "watchdog pings: $(msgs | grep -c WATCHDOG)"

# Reload with a broken file: RELOADING=1, then READY=1 with the old one.
lines=$(msgs | wc -l)
printf 'consumers = ;\n' >"$CONF"
kill -HUP "$PCS_PID"
after() { msgs | tail -n +$((lines + 1)) | grep -v '^WATCHDOG=1$'; }
reload_done() { after | grep -q '^READY=1'; }
wait_for 10 reload_done || die "no READY=1 after a broken reload: $(after)"
expect "broken reload: RELOADING=1, then READY=1" "$(after | cut -d' ' -f1 | head -n 2 | tr '\n' ' ')" "RELOADING=1 READY=1 "

# A good reload: READY=1 only once the roll is complete.
lines=$(msgs | wc -l)
printf 'consumers = 2;\ndrain_timeout = 5;\n' >"$CONF"
kill -HUP "$PCS_PID"
wait_for 20 reload_done || die "no READY=1 after a reload: $(after)"
grep -q "reload complete" "$PCS_LOG" && ok "READY=1 came with the reload complete" || fail "READY=1 before the roll finished"
expect "good reload starts with RELOADING=1" "$(after | head -n 1 | cut -d' ' -f1)" "RELOADING=1"

# SIGTERM: STOPPING=1.
kill -TERM "$PCS_PID"
wait_for 10 pid_gone "$PCS_PID" || die "did not stop"
PCS_PID=
msgs | grep -q '^STOPPING=1' && ok "STOPPING=1 on SIGTERM" || fail "no STOPPING=1"
expect "every message from the master (pid $master)" "$(cut -d' ' -f1 "$WORK/notify.raw" | sort -u)" "$master"

# Credentials: the Redis password from $CREDENTIALS_DIRECTORY.
stop_redis
secret=cred-$RANDOM$RANDOM
start_redis --requirepass "$secret"
mkdir -p "$WORK/creds"
printf '%s\n' "$secret" >"$WORK/creds/redis_password"
CREDENTIALS_DIRECTORY=$WORK/creds CONSUMERS=1 start_pcs
wait_for 10 ready_with 1 && ok "redis_password read from \$CREDENTIALS_DIRECTORY" \
    || fail "not ready with the password credential: $(http GET /readyz)"
grep -q -- "$secret" "$PCS_LOG" && fail "the credential appears in the log" || ok "the credential is not logged"
finish
