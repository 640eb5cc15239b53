#!/bin/bash
# Sentinel, with the real parts on loopback: a primary and a replica
# redis-server and three sentinels (redis-server --sentinel, quorum 2).
# (0) a master no sentinel knows: not ready, the reason says so;
# (1) discovery: the daemon finds the primary and writes to it, and an
# invalidation, like a write, waits for a replica (WAIT);
# (2) SENTINEL FAILOVER during a workload with an oracle
#     (tests/support/workload.js): every update on the new primary, the
#     newest winning, nothing in the dead-letter queue;
# (3) SIGKILL of the primary during a workload: the same (the killed one
#     comes back as a replica: with WAIT 1, writes wait for a replica);
# (4) no sentinel answering: ready while the primary serves, and not
#     ready, with the reason, once the primary is gone too.
# It runs once, in the suite's first pass: failovers are timed by the
# sentinels, and a sanitizer build, slower, makes them take spurious
# ones (PCS_SKIP_LONG=1 skips it there, as chaos.sh).
if [ "${PCS_SKIP_LONG:-0}" = 1 ]; then
    echo "SKIP: failover test (PCS_SKIP_LONG=1)"
    exit 77
fi
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)
MASTER=m

pong() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }
# start_node NAME PORT ARGS...: a redis-server (PID_<NAME> its pid).
start_node() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/$name"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK/$name" --logfile "$WORK/$name.log" "$@" &
    eval "PID_$name=$!"
    HELPER_PIDS="$HELPER_PIDS $!"
    wait_for 10 pong "$port" || die "redis-server $name did not start on $port"
}
# start_sentinel NAME PORT: a sentinel watching master m at $P1.
start_sentinel() {
    local name=$1 port=$2
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
dir $WORK/$name
logfile $WORK/$name.log
sentinel monitor $MASTER 127.0.0.1 $P1 2
sentinel down-after-milliseconds $MASTER 2000
sentinel failover-timeout $MASTER 10000
sentinel parallel-syncs $MASTER 1
EOF
    redis-server "$WORK/$name/sentinel.conf" --sentinel &
    eval "PID_$name=$!"
    HELPER_PIDS="$HELPER_PIDS $!"
    wait_for 10 pong "$port" || die "sentinel $name did not start on $port"
}
# The primary the sentinels agree on, "ip port".
sentinel_says() { redis-cli -p "$S1" SENTINEL get-master-addr-by-name "$MASTER" | tr '\n' ' ' | sed 's/ $//'; }
primary_port() { sentinel_says | cut -d' ' -f2; }
primary_is() { [ "$(primary_port)" = "$1" ]; }
replicas_are() { [ "$(replicas_of)" = "$1" ]; }
exists_on() { [ "$(redis-cli -p "$1" EXISTS "$2")" = 1 ]; }
role_of() { redis-cli -p "$1" ROLE 2>/dev/null | head -n 1; }
replicas_of() { redis-cli -p "$S1" SENTINEL replicas "$MASTER" 2>/dev/null | grep -c '^ip$'; }
in_sync() { [ "$(redis-cli -p "$1" INFO replication | tr -d '\r' | sed -n 's/^master_link_status://p')" = up ]; }

P1=$(free_port); P2=$(free_port)
S1=$(free_port); S2=$(free_port); S3=$(free_port)
start_node r1 "$P1"
start_node r2 "$P2" --replicaof 127.0.0.1 "$P1"
wait_for 10 in_sync "$P2" || die "the replica did not sync"
start_sentinel s1 "$S1"; start_sentinel s2 "$S2"; start_sentinel s3 "$S3"
sentinels_see() { [ "$(redis-cli -p "$S1" SENTINEL master "$MASTER" | sed -n '/^num-other-sentinels$/{n;p}')" = 2 ] && [ "$(replicas_of)" = 1 ]; }
wait_for 20 sentinels_see || die "the sentinels did not find each other and the replica"

start_sqs dead "events:VisibilityTimeout=5:dlq=dead:maxReceiveCount=3"
queue_url() { sed -n "s|^ready \(http.*/$1\)\$|\1|p" "$WORK/sqs.out"; }
SQS_URL=$(queue_url events)
DLQ_URL=$(queue_url dead)
[ -n "$SQS_URL" ] && [ -n "$DLQ_URL" ] || die "queues missing: $(cat "$WORK/sqs.out")"
HTTP_PORT=$(free_port)

# run_pcs MASTER: the daemon with the sentinels and no fixed address.
run_pcs() {
    env -u REDIS_HOST -u REDIS_PORT -u REDIS_URL \
        REDIS_SENTINELS="127.0.0.1:$S1, 127.0.0.1:$S2,[::ffff:127.0.0.1]:$S3" \
        REDIS_SENTINEL_MASTER="$1" \
        QUEUE_URL="$SQS_URL" AWS_ACCESS_KEY_ID=test \
        AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 CONSUMERS=2 \
        BATCH_SIZE=10 WAIT_TIME_SECONDS=1 VISIBILITY_TIMEOUT_SECS=5 \
        PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 \
        LOG_LEVEL="${LOG_LEVEL:-debug}" "$PCS_BIN" -c /dev/null >>"$PCS_LOG" 2>&1 &
    PCS_PID=$!
    ALL_PIDS="$ALL_PIDS $PCS_PID"
}

# --- (0) A master no sentinel knows.
run_pcs nosuch
wait_for 15 readyz_like "503 *\"reason\":\"redis: sentinel: no sentinel knows master 'nosuch'\"}" \
    && ok "(0) not ready: no sentinel knows master 'nosuch'" \
    || fail "(0) /readyz: $(http GET /readyz)"
stop_pcs

# --- (1) Discovery.
LOG_LEVEL=info run_pcs "$MASTER"
wait_for 15 ready_with 2 || die "(1) not ready: $(http GET /readyz)"
ok "(1) ready with REDIS_SENTINELS"
grep -q "redis: connected to 127.0.0.1:$P1 db 0 (master '$MASTER')" "$PCS_LOG" \
    && ok "(1) connected to the primary" || fail "(1) no connection to 127.0.0.1:$P1 logged"
sqs send "$SQS_URL" "$PCS_SRCDIR/tests/data/examples/entitlements-updated.json" >/dev/null \
    || die "(1) cannot send"
wait_for 20 queue_is "0 0" || die "(1) queue not settled: $(sqs count "$SQS_URL")"
expect "(1) written to the primary" "$(redis-cli -p "$P1" EXISTS production:c_acme)" 1
wait_for 5 exists_on "$P2" production:c_acme \
    && ok "(1) and replicated" || fail "(1) not on the replica"
# An invalidation of every customer counts, as a write does, only once a
# replica has it: a WAIT follows its last UNLINK.
waits() { redis-cli -p "$P1" INFO commandstats | sed -n 's/^cmdstat_wait:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0; }
w0=$(waits)
sqs send "$SQS_URL" "$PCS_SRCDIR/tests/data/examples/package-published.json" >/dev/null \
    || die "(1) cannot send"
wait_for 20 queue_is "0 0" || die "(1) queue not settled: $(sqs count "$SQS_URL")"
expect "(1) invalidated on the primary" "$(redis-cli -p "$P1" EXISTS production:c_acme)" 0
[ "$(waits)" -gt "$w0" ] && ok "(1) the invalidation waited for a replica" \
    || fail "(1) no WAIT after the invalidation"
redis-cli -p "$P1" FLUSHALL >/dev/null

settle() {
    wait_for "$1" queue_is "0 0" && return 0
    fail "$2 not settled in $1 s: queue $(sqs count "$SQS_URL"), dead-letter $(sqs count "$DLQ_URL")"
    return 1
}
# workload TAG SEED: gen a workload into $WORK/TAG and send its initial grants.
workload() {
    W=$WORK/$1
    node "$SUPPORT/workload.js" gen --dir "$W" --seed "$2" --customers 60 \
        >"$WORK/gen.$1" || die "workload.js gen failed"
    sqs send-batch "$SQS_URL" - <"$W/initial.jsonl" >/dev/null || die "cannot send the initial grants"
    settle 30 "$1: initial grants" || die "$1: initial grants"
    split -d -n l/4 "$W/mix.jsonl" "$W/part."
}
send_part() { sqs send-batch "$SQS_URL" - <"$W/part.$1" >/dev/null || fail "cannot send part $1"; }
# check TAG PORT: the end state on the primary at PORT equals the oracle.
check() {
    oracle_check "$1: the new primary" "$W/oracle.json" "$2"
    expect "$1: dead-letter queue empty" "$(sqs count "$DLQ_URL")" "0 0"
    expect "$1: no message rejected" "$(grep -c 'rejected' "$PCS_LOG")" 0
}

# --- (2) SENTINEL FAILOVER during a workload.
workload failover 11
send_part 00
send_part 01 &
SENDER=$!
HELPER_PIDS="$HELPER_PIDS $SENDER"
redis-cli -p "$S2" SENTINEL FAILOVER "$MASTER" >/dev/null || fail "(2) SENTINEL FAILOVER refused"
wait_for 15 primary_is "$P2" || die "(2) no failover: the sentinels say $(sentinel_says)"
send_part 02
send_part 03
wait "$SENDER"
settle 60 "(2) the mix"
wait_for 15 ready_with 2 || fail "(2) not ready after the failover: $(http GET /readyz)"
grep -q "+switch-master: master '$MASTER' is now at 127.0.0.1:$P2" "$PCS_LOG" \
    && ok "(2) the switch followed" || fail "(2) no +switch-master logged"
expect "(2) the new primary is a master" "$(role_of "$P2")" master
check "(2)" "$P2"
wait_for 15 in_sync "$P1" || fail "(2) the old primary did not become a replica"
redis-cli -p "$P2" FLUSHALL >/dev/null

# --- (3) SIGKILL of the primary during a workload.
workload kill 12
wait_for 10 replicas_are 1 || fail "(3) the sentinels lost the replica"
send_part 00
send_part 01
kill -KILL "$PID_r2"; wait "$PID_r2" 2>/dev/null
send_part 02
# A sentinel that led the failover of (2) may not try again for twice the
# failover timeout (Redis Sentinel's rule): up to 20 s, plus the 2 s
# down-after; the deadline leaves room for a loaded machine.
wait_for 45 primary_is "$P1" || die "(3) no failover: the sentinels say $(sentinel_says)"
# The killed primary comes back empty, as a replica of the new one, and
# is not to be promoted before it has synced (replica-priority 0 until then).
start_node r2 "$P2" --replicaof 127.0.0.1 "$P1" --replica-priority 0
wait_for 20 in_sync "$P2" || fail "(3) the restarted server did not sync"
redis-cli -p "$P2" CONFIG SET replica-priority 100 >/dev/null
send_part 03
settle 60 "(3) the mix"
wait_for 15 ready_with 2 || fail "(3) not ready after the failover: $(http GET /readyz)"
expect "(3) the new primary is a master" "$(role_of "$P1")" master
check "(3)" "$P1"

# --- (4) No sentinel answers.
for s in s1 s2 s3; do eval "kill -KILL \$PID_$s; wait \$PID_$s 2>/dev/null"; done
sleep 1
ready_with 2 && ok "(4) still ready with no sentinel: the primary is known" \
    || fail "(4) not ready with the primary up: $(http GET /readyz)"
redis-cli -p "$P1" CLIENT KILL TYPE normal >/dev/null
wait_for 15 readyz_like '503 *"reason":"redis: sentinel: *:*: connection refused (and 2 more sentinels)"}' \
    && ok "(4) not ready while no sentinel answers, the reason given" \
    || fail "(4) /readyz: $(http GET /readyz)"
grep -q 'redis: sentinel: .*connection refused' "$PCS_LOG" \
    && ok "(4) logged" || fail "(4) not logged"
expect "no consumer died" "$(grep -c 'killed by signal' "$PCS_LOG")" 0
expect "no sanitizer report" "$(grep -cE 'AddressSanitizer|LeakSanitizer|runtime error:' "$PCS_LOG")" 0
echo "# $(( ($(now_ms) - T0) / 1000 )) s"
