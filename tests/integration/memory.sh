#!/bin/bash
# Running out of memory is the daemon's trouble, not the message's: an
# allocation that fails while a consumer reads (a) an event it received
# or (b) the Edge API's answer to a thin notification's refill holds the
# message and tries it again; it is written, never rejected as poison nor
# deleted unwritten.  The failure is real: tests/support/failalloc.so,
# preloaded, fails the allocation that follows one of a given size: the
# text's length + 2, which the parser (jdoc) asks for its strings before
# its nodes; the rest of the run allocates as usual.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

# ASan's runtime, shared (gcc) or linked in (clang), takes malloc first.
if ldd "$PCS_BIN" 2>/dev/null | grep -q 'libasan' ||
    nm -D "$PCS_BIN" 2>/dev/null | grep -q ' __asan_init'; then
    echo "SKIP: an allocator cannot be preloaded into an ASan build"
    exit 77
fi
FAILALLOC=${PCS_FAILALLOC:-$PWD/tests/support/failalloc.so}
[ -f "$FAILALLOC" ] || die "no $FAILALLOC (make check builds it)"

start_redis
start_sqs

start_fake_edge sk-mem
cp "$PCS_SRCDIR/tests/data/edge/globex.json" "$EDGE_DIR/thin-1.json"

# poison_policy delete: a message wrongly taken for poison is deleted,
# and then its customer is missing from Redis for good.
run_case() {
    local name=$1 parsed=$2 body=$3 customer=$4
    mark_log
    printf '%s\n' "$body" >"$WORK/$name.json"
    # The text whose parse runs out of memory: the body, or the answer.
    [ -n "$parsed" ] || parsed=$WORK/$name.json
    PCS_WRAP="env LD_PRELOAD=$FAILALLOC PCS_FAILALLOC_SIZE=$(($(wc -c <"$parsed") + 2))" \
        CONSUMERS=1 WAIT_TIME_SECONDS=1 POISON_POLICY=delete \
        SERVER_API_KEY=sk-mem EDGE_API_URL=http://127.0.0.1:$EDGE_PORT start_pcs
    wait_for 10 ready_with 1 || die "$name: not ready: $(http GET /readyz)"
    sqs send "$SQS_URL" "$WORK/$name.json" >/dev/null || die "$name: cannot send"
    if wait_for 20 eval "since | grep -q 'failalloc: failing an allocation'"; then
        ok "$name: an allocation failed: $(since | grep -m1 'failalloc:')"
    else
        fail "$name: no allocation was failed"
    fi
    if wait_for 20 eval "[ -n \"\$(redis_cli GET 'production:c_$customer#timestamp')\" ]"; then
        ok "$name: the customer was written after the failure"
    else
        fail "$name: the customer was not written"
    fi
    wait_for 20 queue_is "0 0" && ok "$name: the message was deleted once written" \
        || fail "$name: the queue holds $(sqs count "$SQS_URL")"
    expect "$name: held for memory" "$(since | grep -c 'out of memory.*; held')" 1
    expect "$name: not rejected" "$(since | grep -c 'rejected')" 0
    stop_pcs
    [ "$(since | grep -c 'rejected')" = 0 ] || since | tail -n 12
}

run_case event '' \
    '{"type":"entitlements.updated","messageId":"mem-1","customer":{"id":"full-1"},"entitlementsUpdatedAt":"2025-11-14T21:00:00Z","entitlements":[{"feature":{"id":"api-calls","featureType":"NUMBER","meterType":"INCREMENTAL"},"usageLimit":5,"currentUsage":0}]}' \
    full-1
# The thin notification parses; the failure comes in the answer's.
run_case refill "$EDGE_DIR/thin-1.json" \
    '{"type":"entitlements.updated","messageId":"mem-2","customer":{"id":"thin-1"},"entitlementsUpdatedAt":"2025-11-14T21:00:00Z"}' \
    thin-1
expect "refill: the answer was fetched again" \
    "$(grep -c '"customerId":"thin-1"' "$WORK/edge.out")" 2
finish
