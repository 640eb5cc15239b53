#!/bin/bash
# Logs: LOG_FILE receives the master's and the consumers' lines and is
# reopened on SIGUSR1 (log rotation); with stderr connected to the journal
# (JOURNAL_STREAM names it) lines carry a "<N>" priority prefix and no
# time; LOG_LEVEL filters.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

start_redis
LOGFILE=$WORK/service.log
CONSUMERS=2 LOG_LEVEL=info LOG_FILE=$LOGFILE start_pcs
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"
wait_for 5 grep -q "consumer [12]\[[0-9]*\]: ready" "$LOGFILE" || die "no consumer line in LOG_FILE"
ok "master and consumers write to LOG_FILE"
grep -q '\[debug\]' "$LOGFILE" && fail "debug lines at LOG_LEVEL=info" || ok "LOG_LEVEL=info filters debug"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \[info\] master\[[0-9]+\]: ' "$LOGFILE" \
    && ok "line format: time, level, process[pid]" || fail "unexpected line format: $(head -n 1 "$LOGFILE")"

mv "$LOGFILE" "$LOGFILE.1"
kill -USR1 "$PCS_PID"
wait_for 5 grep -q "SIGUSR1: reopened $LOGFILE" "$LOGFILE" || die "master did not reopen LOG_FILE"
ok "master reopened LOG_FILE on SIGUSR1"
# A consumer writes to the new file once it has reopened too: make it log.
victim=$(consumers | head -n 1)
kill -KILL "$victim"
wait_for 10 ready_with 2 || die "not ready after the kill"
wait_for 5 grep -q "consumer [12]\[[0-9]*\]: redis: connected" "$LOGFILE" || fail "consumer lines missing from the new file"
if grep -q "consumer [12]\[[0-9]*\]" "$LOGFILE.1" && ! grep -q "SIGUSR1" "$LOGFILE.1"; then
    ok "rotated file keeps the earlier lines only"
else
    fail "rotated file content unexpected"
fi
kill -TERM "$PCS_PID"; wait_for 10 pid_gone "$PCS_PID" || die "did not stop"; PCS_PID=

# Journal: JOURNAL_STREAM holds the device and inode of stderr.
journal=$WORK/journal.log
: >"$journal"
export JOURNAL_STREAM=$(stat -c '%d:%i' "$journal")
HTTP_PORT=$(free_port)
# No AWS keys: unsigned, or the chain would wait for instance metadata.
env QUEUE_URL=http://127.0.0.1:9/0/q AWS_REGION=us-east-1 AWS_NO_SIGN_REQUEST=true \
    REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
    PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 CONSUMERS=1 "$PCS_BIN" -c /dev/null 2>>"$journal" &
PCS_PID=$!
ALL_PIDS="$ALL_PIDS $PCS_PID"
wait_for 10 ready_with 1 || die "not ready under the journal"
unset JOURNAL_STREAM
wait_for 5 grep -q '^<6>consumer 1: ready$' "$journal" && ok "journal line: <6>consumer 1: ready" || fail "no journal-style consumer line: $(head -n 3 "$journal")"
grep -q '^<6>master: persistent-cache-service ' "$journal" && ok "journal line for the master" || fail "no journal-style master line"
grep -Eq '^[0-9]{4}-' "$journal" && fail "timestamps under the journal" || ok "no timestamp under the journal"
finish
