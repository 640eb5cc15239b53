#!/bin/bash
# Sentry, against tests/support/fake-sentry.js (which checks every
# request's path, X-Sentry-Auth and envelope): a consumer killed by SIGSEGV
# makes one crash event naming the signal and the slot, with no secret in
# it (the AWS keys, the API key, the Redis password, the DSN's key: that
# one only in the auth header); a second SIGSEGV within ten minutes is
# held back and counted; a hung consumer is one hang event, not a crash
# too; a 429 with Retry-After pauses sending that long; a poison message
# is one event with its SQS id, and another of its kind is grouped with
# it; failed sends are logged once a minute at most; Redis unreachable
# longer than SENTRY_REDIS_DOWN_SECS is one event; credentials refused by
# SQS, or by STS, are one event an episode.  A bad DSN is an error
# of -t naming SENTRY_DSN, not its value; without a DSN, or with
# DISABLE_SENTRY, nothing is sent.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

KEY=5e1f0c0ffee0ddba11deadbeef5ca1ab
PROJECT=4242
AKID=AKIAPCSSENTRYTEST01
ASECRET=sentry-aws-secret-9f8e7d6c
API_KEY=server-api-key-sentry-31337
REDIS_PW=redis-pw-sentry-2718
VERSION=$("$PCS_BIN" -V | awk '{print $2}')

SENTRY_PORT=$(free_port)
node "$SUPPORT/fake-sentry.js" --port "$SENTRY_PORT" --key "$KEY" --project "$PROJECT" \
    --client "persistent-cache-service/$VERSION" >"$WORK/sentry.out" 2>"$WORK/sentry.err" &
HELPER_PIDS="$HELPER_PIDS $!"
wait_for 10 grep -q '^ready http' "$WORK/sentry.out" || die "fake-sentry did not start: $(cat "$WORK/sentry.err")"
DSN="http://$KEY@127.0.0.1:$SENTRY_PORT/$PROJECT"

# The requests the fake got, one JSON line each.
requests() { grep '^{' "$WORK/sentry.out"; }
nreq() { requests | wc -l; }
nreq_is() { [ "$(nreq)" -ge "$1" ]; }
# field N EXPR: the JavaScript expression over request N (r; e = its event).
field() {
    requests | sed -n "$1p" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
        const r=JSON.parse(s), e=r.event||{}; console.log(String(eval(process.argv[1])))})' "$2"
}
slot_of() { sed -n "s/.*consumer \([0-9]*\) started (pid $1).*/\1/p" "$PCS_LOG" | tail -n 1; }

# -t: a DSN that would send the key in clear is refused, naming the setting.
out=$(env QUEUE_URL=http://127.0.0.1:1/000000000000/q AWS_REGION=us-east-1 \
    SENTRY_DSN="http://$KEY@sentry.example.com/$PROJECT" "$PCS_BIN" -t -c /dev/null 2>&1)
rc=$?
expect "-t with a bad DSN exits 78" "$rc" 78
case "$out" in
*"SENTRY_DSN: value must be an https:// URL"*) ok "-t names SENTRY_DSN" ;;
*) fail "-t said: $out" ;;
esac
case "$out" in *"$KEY"*|*sentry.example.com*) fail "-t showed the DSN: $out" ;; *) ok "-t does not show the DSN" ;; esac
out=$(env QUEUE_URL=http://127.0.0.1:1/000000000000/q AWS_REGION=us-east-1 \
    SENTRY_ENVIRONMENT="a b" "$PCS_BIN" -t -c /dev/null 2>&1)
case "$out" in
*"SENTRY_ENVIRONMENT: 'a b' is invalid"*) ok "-t checks SENTRY_ENVIRONMENT" ;;
*) fail "-t said: $out" ;;
esac

start_redis --requirepass "$REDIS_PW"
SQS_ARGS="--key $AKID:$ASECRET" start_sqs
SENTRY_DSN=$DSN SENTRY_ENVIRONMENT=staging SENTRY_REDIS_DOWN_SECS=2 \
    AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$ASECRET SERVER_API_KEY=$API_KEY \
    REDIS_PASSWORD=$REDIS_PW CONSUMERS=2 HANG_TIMEOUT_SECS=3 RESTART_BACKOFF_MAX_MS=500 start_pcs
wait_for 15 ready_with 2 || die "not ready: $(http GET /readyz)"
grep -q "sentry: reporting to 127.0.0.1, project $PROJECT, environment staging" "$PCS_LOG" \
    && ok "the client names where it reports" || fail "no 'sentry: reporting to' line"
expect "nothing sent while all is well" "$(nreq)" 0
remember_consumers

# A crash: one event, the signal and the slot in it.
victim=$(consumers | head -n 1)
slot=$(slot_of "$victim")
kill -SEGV "$victim"
wait_for 15 nreq_is 1 || die "no crash event reached the fake Sentry"
expect "the request passed every check" "$(field 1 'r.problems.join("; ")')" ""
expect "answered 200" "$(field 1 r.status)" 200
expect "auth header with key, version, client" "$(field 1 r.authOk)" true
expect "kind crash" "$(field 1 e.tags.kind)" crash
expect "signal tag" "$(field 1 e.tags.signal)" SIGSEGV
expect "slot tag" "$(field 1 e.tags.slot)" "$slot"
expect "level fatal" "$(field 1 e.level)" fatal
expect "environment" "$(field 1 e.environment)" staging
expect "release" "$(field 1 e.release)" "persistent-cache-service@$VERSION"
expect "server name" "$(field 1 e.server_name)" "$(hostname)"
expect "fingerprint" "$(field 1 'JSON.stringify(e.fingerprint)')" '["crash","SIGSEGV"]'
case "$(field 1 e.message)" in
"consumer $slot (pid $victim) killed by signal 11 (SIGSEGV) after "*s) ok "message: $(field 1 e.message)" ;;
*) fail "message: $(field 1 e.message)" ;;
esac
field 1 'e.extra.uptime_seconds >= 0' | grep -qx true && ok "uptime in extra" || fail "no uptime in extra"
for secret in "$KEY" "$AKID" "$ASECRET" "$API_KEY" "$REDIS_PW"; do
    if grep -qF "$secret" "$WORK/sentry.out"; then fail "a secret ($secret) reached Sentry's bodies"; else ok "no ${secret:0:6}... in the bodies"; fi
done
grep -qF "$KEY" "$PCS_LOG" && fail "the DSN's key is in the log" || ok "the DSN's key is not in the log"

# The same crash again within ten minutes: held back, counted.
wait_for 15 ready_with 2 || die "not ready after the crash: $(http GET /readyz)"
remember_consumers
victim=$(consumers | tail -n 1)
kill -SEGV "$victim"
wait_for 15 grep -q "sentry: crash event held back by the rate limits (1 of its kind since the last one sent)" "$PCS_LOG" \
    && ok "second SIGSEGV held back and counted" || fail "second SIGSEGV not held back"
# Another kind goes; the held-back one would have gone before it.
wait_for 15 ready_with 2 || die "not ready after the second crash: $(http GET /readyz)"
remember_consumers
victim=$(consumers | head -n 1)
kill -ABRT "$victim"
wait_for 15 nreq_is 2 || die "no SIGABRT event"
expect "the next request is the SIGABRT one" "$(field 2 e.tags.signal)" SIGABRT
expect "and passed every check" "$(field 2 'r.problems.join("; ")')" ""

# A hung consumer: one hang event, and its SIGKILL is no crash event.
wait_for 15 ready_with 2 || die "not ready after SIGABRT: $(http GET /readyz)"
remember_consumers
hung=$(consumers | tail -n 1)
slot=$(slot_of "$hung")
kill -STOP "$hung"
wait_for 15 nreq_is 3 || die "no hang event"
expect "hang event" "$(field 3 e.tags.kind)" hang
expect "hang slot" "$(field 3 e.tags.slot)" "$slot"
wait_for 15 grep -q "(pid $hung) killed by signal 9" "$PCS_LOG" || die "hung consumer not killed"

# A 429 with Retry-After: 4 pauses sending; the next event waits for it.
wait_for 15 ready_with 2 || die "not ready after the hang: $(http GET /readyz)"
remember_consumers
curl -s -m 5 -X POST "http://127.0.0.1:$SENTRY_PORT/_fault?status=429&retry_after=4&count=1" >/dev/null
victim=$(consumers | head -n 1)
kill -BUS "$victim"
wait_for 15 nreq_is 4 || die "no SIGBUS event"
expect "SIGBUS answered 429" "$(field 4 r.status)" 429
wait_for 10 grep -q "sentry: 127.0.0.1 answered HTTP 429; event [0-9a-f]* dropped, sending paused for 4s" "$PCS_LOG" \
    && ok "429 logged with the pause" || fail "429 not logged"
wait_for 15 ready_with 2 || die "not ready after SIGBUS: $(http GET /readyz)"
remember_consumers
victim=$(consumers | tail -n 1)
kill -FPE "$victim"
wait_for 15 grep -q "(pid $victim) killed by signal 8" "$PCS_LOG" || die "SIGFPE exit not seen"
wait_for 20 nreq_is 5 || die "the event after the pause never came"
expect "then the SIGFPE event" "$(field 5 e.tags.signal)" SIGFPE
gap=$(( $(field 5 r.t) - $(field 4 r.t) ))
[ "$gap" -ge 3800 ] && ok "sent after the pause (${gap} ms after the 429)" || fail "sent ${gap} ms after the 429, within the pause"

# A poison message: one event with its SQS id; another of the same kind
# (other values, same reason) groups with it and is held back.
EX=$PCS_SRCDIR/tests/data/examples
wait_for 15 ready_with 2 || die "not ready after SIGFPE: $(http GET /readyz)"
PCS_SQS_KEY="$AKID:$ASECRET" sqs send "$SQS_URL" "$EX/bad-date.json" >/dev/null || die "cannot send"
wait_for 15 nreq_is 6 || die "no poison event"
# The log line: "message <SQS id> (event m-bad-3): rejected: ...".
sqs_id=$(sed -n 's/.*message \([0-9a-f-]*\) (event m-bad-3): rejected: entitlementsUpdatedAt.*/\1/p' "$PCS_LOG" | head -n 1)
[ -n "$sqs_id" ] || die "no rejected line with the SQS id and messageId m-bad-3 in the log"
expect "poison event" "$(field 6 e.tags.kind)" poison
expect "poison level" "$(field 6 e.level)" warning
expect "poison SQS id tag" "$(field 6 e.tags.sqs_message_id)" "$sqs_id"
expect "poison messageId tag (Stigg's, kept for a rejected message)" "$(field 6 e.tags.message_id)" m-bad-3
expect "poison fingerprint: the reason's first words" "$(field 6 'JSON.stringify(e.fingerprint)')" \
    '["poison","entitlementsupdatedat is not an"]'
case "$(field 6 e.message)" in
"message $sqs_id rejected: entitlementsUpdatedAt: 'yesterday' "*) ok "poison message names the id and reason" ;;
*) fail "poison message: $(field 6 e.message)" ;;
esac
sed 's/"yesterday"/"last tuesday"/; s/m-bad-3/m-bad-33/' "$EX/bad-date.json" >"$WORK/bad-date2.json"
PCS_SQS_KEY="$AKID:$ASECRET" sqs send "$SQS_URL" "$WORK/bad-date2.json" >/dev/null || die "cannot send"
wait_for 15 grep -q "sentry: poison event held back by the rate limits (1 of its kind" "$PCS_LOG" \
    && ok "a second poison message of the same kind is grouped and held back" || fail "second poison not held back"

# Failed sends: logged once a minute at most, without the DSN.
curl -s -m 5 -X POST "http://127.0.0.1:$SENTRY_PORT/_fault?status=500&count=2" >/dev/null
for sig in ILL SYS; do
    wait_for 15 ready_with 2 || die "not ready before SIG$sig: $(http GET /readyz)"
    remember_consumers
    n=$(nreq)
    kill -$sig "$(consumers | head -n 1)"
    wait_for 15 nreq_is $((n + 1)) || die "no SIG$sig event"
done
expect "two sends failed" "$(requests | grep -c '"status":500')" 2
wait_for 5 grep -q "sentry: sending to 127.0.0.1 failed: HTTP 500; event dropped" "$PCS_LOG" \
    && ok "a failed send is logged" || fail "failed send not logged"
expect "the second failure within the minute is not" "$(grep -c 'sentry: sending to .* failed' "$PCS_LOG")" 1

# Redis gone for longer than SENTRY_REDIS_DOWN_SECS: one event.
stop_redis
wait_for 20 nreq_is 9 || die "no redis event"
expect "redis event" "$(field 9 e.tags.kind)" redis
expect "redis target" "$(field 9 e.tags.redis)" "127.0.0.1:$REDIS_PORT"
case "$(field 9 e.message)" in
"redis (127.0.0.1:$REDIS_PORT) unreachable for 2s by every consumer"*) ok "redis message" ;;
*) fail "redis message: $(field 9 e.message)" ;;
esac
for secret in "$KEY" "$AKID" "$ASECRET" "$API_KEY" "$REDIS_PW"; do
    grep -qF "$secret" "$WORK/sentry.out" && fail "a secret (${secret:0:6}...) reached Sentry"
done
sleep_until() { [ "$(date +%s)" -ge "$1" ]; }
wait_for 6 sleep_until $(( $(date +%s) + 3 ))
expect "once per outage" "$(requests | grep -c '"kind":"redis"')" 1
expect "every request passed the checks" "$(requests | grep -vc '"problems":\[\]')" 0
grep -qF "$KEY" "$PCS_LOG" && fail "the DSN's key is in the log" || ok "the DSN's key never reached the log"
stop_pcs
start_redis --requirepass "$REDIS_PW"

# Credentials refused, by SQS (a wrong secret) and by STS (AssumeRole
# with the wrong external id): a "credentials" event each, naming the
# refusal, the key not in it.  A daemon each: one fingerprint, whose
# repeats the rate limit would hold back.
ROLE=arn:aws:iam::123456789012:role/pcs-sentry
start_fake_aws --key "$AKID:$ASECRET" --require-external-id "ext-right-$RANDOM"
for how in sqs sts; do
    mark_log
    before=$(nreq)
    if [ "$how" = sqs ]; then
        SENTRY_DSN=$DSN AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=wrong-secret-4e5f \
            REDIS_PASSWORD=$REDIS_PW CONSUMERS=1 start_pcs
        want="no usable aws credentials: sqs: ReceiveMessage: HTTP 403"
    else
        SENTRY_DSN=$DSN AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$ASECRET \
            AWS_ROLE_ARN=$ROLE AWS_ROLE_EXTERNAL_ID=ext-wrong AWS_ENDPOINT_URL_STS=$FAKE_AWS_URL \
            REDIS_PASSWORD=$REDIS_PW CONSUMERS=1 start_pcs
        want="no usable aws credentials: aws: credentials: STS AssumeRole $ROLE: HTTP 403"
    fi
    if wait_for 20 nreq_is $((before + 1)); then
        n=$((before + 1))
        expect "$how: kind credentials" "$(field $n e.tags.kind)" credentials
        case "$(field $n e.message)" in
        "$want"*) ok "$how: message: $(field $n e.message)" ;;
        *) fail "$how: message: $(field $n e.message)" ;;
        esac
        expect "$how: the request passed every check" "$(field $n 'r.problems.join("; ")')" ""
    else
        fail "$how: no credentials event; the log: $(since | grep -i 'credentials\|403' | tail -n 3)"
    fi
    wait_for 4 nreq_is $((before + 2))
    expect "$how: once an episode" "$(nreq)" $((before + 1))
    stop_pcs
done
for secret in "$KEY" "$ASECRET" "$API_KEY" "$REDIS_PW"; do
    grep -qF "$secret" "$WORK/sentry.out" && fail "a secret (${secret:0:6}...) reached Sentry"
done

# Without a DSN, and with DISABLE_SENTRY: no client, nothing sent.
before=$(nreq)
for how in nodsn disabled; do
    mark_log
    if [ "$how" = nodsn ]; then
        AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$ASECRET REDIS_PASSWORD=$REDIS_PW CONSUMERS=1 start_pcs
    else
        SENTRY_DSN=$DSN DISABLE_SENTRY=true AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$ASECRET \
            REDIS_PASSWORD=$REDIS_PW CONSUMERS=1 start_pcs
    fi
    wait_for 15 ready_with 1 || die "$how: not ready: $(http GET /readyz)"
    remember_consumers
    victim=$(consumers | head -n 1)
    kill -SEGV "$victim"
    wait_for 15 grep -q "(pid $victim) killed by signal 11" "$PCS_LOG" || die "$how: crash not seen"
    wait_for 15 ready_with 1 || die "$how: not ready after the crash"
    since | grep -q 'sentry:' && fail "$how: a sentry line: $(since | grep sentry: | head -n 1)" || ok "$how: no sentry client"
    expect "$how: nothing sent" "$(nreq)" "$before"
    stop_pcs
done
finish
