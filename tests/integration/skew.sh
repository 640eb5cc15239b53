#!/bin/bash
# A host whose clock is wrong: the daemon runs under libfaketime, ten minutes
# behind (and then ahead of) the SQS emulator, which refuses a signature
# dated more than five minutes off as SQS does ("Signature expired",
# "Signature not yet current", with its Date).  Each consumer corrects its
# signing clock from that answer, logs it once, and from then on every
# request is accepted: messages are applied, and only the requests already
# in flight when the first answer came were refused.  The same for a role
# assumed through STS: STS' answer corrects the clock before SQS is asked.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

# libfaketime itself, preloaded: the faketime command would run the
# daemon as its child, and the test's signals would reach faketime.
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)
[ -n "$FAKETIME_LIB" ] || { echo "SKIP: libfaketime missing (Debian: faketime)"; exit 77; }
# Under AddressSanitizer, whose runtime must come first, the preloaded
# libfaketime deadlocks the daemon at start: the sanitizer run skips it.
if ldd "$PCS_BIN" 2>/dev/null | grep -q 'libasan'; then
    echo "SKIP: libfaketime cannot be preloaded into an ASan build"
    exit 77
fi
EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs
rejections() { sigv4_rejections | grep -c "$1"; }

# skewed NAME OFFSET DIRECTION REASON: the daemon's clock OFFSET away.
skewed() {
    local name=$1 offset=$2 direction=$3 reason=$4 before n
    before=$(rejections "$reason")
    mark_log
    # libev's timers run on the monotonic clock: only the wall clock moves.
    PCS_WRAP="env LD_PRELOAD=$FAKETIME_LIB FAKETIME=$offset FAKETIME_DONT_FAKE_MONOTONIC=1" \
        CONSUMERS=2 WAIT_TIME_SECONDS=1 start_pcs
    if applied_within 30; then
        ok "$name: the message was applied"
    else
        fail "$name: the message was not applied"
        since | tail -n 8
    fi
    if wait_for 10 eval "[ \"\$(since | grep -c 'aws: the clock is [0-9]*s $direction SQS.s; signing with SQS.s time')\" = 2 ]"; then
        ok "$name: each consumer logged the correction once: $(since | grep -m1 'aws: the clock is')"
    else
        fail "$name: the correction was not logged once per consumer: $(since | grep 'aws: the clock' | head -n 3)"
    fi
    wait_for 20 ready_with 2 && ok "$name: ready" || fail "$name: $(http GET /readyz)"
    n=$(( $(rejections "$reason") - before ))
    # The long polls already sent when the first answer came (one per
    # consumer at the start, a few more at most), and none after.
    [ "$n" -ge 1 ] && [ "$n" -le 8 ] && ok "$name: $n request(s) refused, those in flight at first" \
        || fail "$name: $n requests refused as '$reason'"
    # Another message, received and deleted: nothing refused now.
    n=$(rejections .)
    sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null
    wait_for 20 queue_is "0 0" || fail "$name: the queue did not settle: $(sqs count "$SQS_URL")"
    expect "$name: no refusal after the correction" "$(rejections .)" "$n"
    stop_pcs
}

skewed "10 minutes behind" -10m behind skewed
skewed "10 minutes ahead" +10m "ahead of" skewed

# --- A role assumed through STS from a skewed host: STS refuses the first
# AssumeRole as "Signature expired" too; the provider corrects the clock
# from STS' Date and retries, and the role's credentials then sign SQS
# requests at the corrected time (their expiry reckoned by it as well).
start_fake_aws --key test:test
mark_log
PCS_WRAP="env LD_PRELOAD=$FAKETIME_LIB FAKETIME=-10m FAKETIME_DONT_FAKE_MONOTONIC=1 AWS_ROLE_ARN=arn:aws:iam::123456789012:role/pcs-reader AWS_ENDPOINT_URL_STS=$FAKE_AWS_URL" \
    CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
if wait_for 20 ready_with 1; then
    ok "role: ready"
else
    fail "role: $(http GET /readyz)"
    since | tail -n 8
fi
since | grep -q "aws: the clock is [0-9]*s behind STS's; signing with STS's time" \
    && ok "role: the clock corrected from STS' answer: $(since | grep -m1 "behind STS's")" \
    || fail "role: no correction from STS logged"
redis_cli FLUSHALL >/dev/null
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "role: cannot send"
wait_for 20 eval '[ -n "$(redis_cli GET production:c_acme#timestamp)" ]' \
    && ok "role: a message applied with the role's credentials" \
    || fail "role: the message was not applied"
stop_pcs
