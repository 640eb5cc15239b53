#!/bin/bash
# Signatures proven in the suite: the SQS emulator's front checks every
# request's AWS Signature V4 with an implementation of its own
# (@smithy/signature-v4, tests/support/aws-sigv4.js) and refuses a
# tampered one as SQS does; fake-aws.js's STS does the same, and the
# credentials it (and its container and IMDSv2 fakes) issue are accepted
# by the front through the keys file they share, until they expire; the
# test proxy tunnels and forwards to loopback only.  And the daemon's own
# requests pass: long-term and temporary keys, while a wrong secret or an
# expired token leaves it not ready with AWS's reason.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs probe events
PROBE_URL=${SQS_URL%/events}/probe

probe() { node "$SUPPORT/sigv4-probe.js" "$@"; }
# probe_is NAME STATUS-AND-CODE MESSAGE-PATTERN PROBE-ARGS...: the answer's
# status and code, its message's first line (a shell pattern), an
# x-amzn-query-error of CODE;Sender for an SQS refusal, and a Date header.
probe_is() {
    local name=$1 want=$2 msg=$3 out line2 qe date
    shift 3
    out=$(probe "$@") || { fail "$name: the probe failed"; return; }
    line2=$(sed -n 2p <<<"$out")
    qe=$(sed -n 's/^query-error: //p' <<<"$out")
    date=$(sed -n 's/^date: //p' <<<"$out")
    expect "$name: status and code" "$(sed -n 1p <<<"$out")" "$want"
    # shellcheck disable=SC2053
    [[ $line2 == $msg ]] && ok "$name: message" || fail "$name: message '$line2', want '$msg'"
    if [ "$1" = sqs ]; then
        case $want in
        2*) expect "$name: no query error" "$qe" - ;;
        *) expect "$name: x-amzn-query-error" "$qe" "${want#* };Sender" ;;
        esac
    fi
    [[ $date =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ GMT$ ]] \
        && ok "$name: a Date header" || fail "$name: Date header '$date'"
}
# The emulator's refusals with this reason and key.
rejected() { sigv4_rejections | grep -c -x "sigv4: rejected $1 $2"; }
MISMATCH='The request signature we calculated does not match the signature you provided. *'

# --- The front: a good request, then each way of spoiling one.
sqs send "$PROBE_URL" "$EX/entitlements-updated.json" >/dev/null || die "cannot send to the probe queue"
probe_is "a signed header changed (X-Amz-Target: PurgeQueue)" "403 SignatureDoesNotMatch" "$MISMATCH" \
    sqs "$PROBE_URL" --tamper header
expect "the tampered PurgeQueue purged nothing" "$(sqs count "$PROBE_URL")" "1 0"
probe_is "signed ReceiveMessage" "200 -" "" sqs "$PROBE_URL"
expect "the signed ReceiveMessage received" "$(sqs count "$PROBE_URL")" "0 1"
probe_is "the body changed after signing" "403 SignatureDoesNotMatch" "$MISMATCH" sqs "$PROBE_URL" --tamper body
probe_is "a wrong secret" "403 SignatureDoesNotMatch" "$MISMATCH" sqs "$PROBE_URL" --key test:wrong
probe_is "an unknown access key" "403 InvalidClientTokenId" "The security token included in the request is invalid." \
    sqs "$PROBE_URL" --key nosuchkey:test
probe_is "signed 10 minutes ago" "403 SignatureDoesNotMatch" \
    'Signature expired: ????????T??????Z is now earlier than ????????T??????Z (????????T??????Z - 5 min.)' \
    sqs "$PROBE_URL" --skew -600
probe_is "signed 10 minutes ahead" "403 SignatureDoesNotMatch" \
    'Signature not yet current: ????????T??????Z is still later than ????????T??????Z (????????T??????Z + 5 min.)' \
    sqs "$PROBE_URL" --skew 600
probe_is "scoped to another region" "403 SignatureDoesNotMatch" "Credential should be scoped to a valid region." \
    sqs "$PROBE_URL" --region eu-west-1
probe_is "scoped to another service" "403 SignatureDoesNotMatch" "Credential should be scoped to correct service: 'sqs'." \
    sqs "$PROBE_URL" --service sts
probe_is "unsigned" "403 MissingAuthenticationToken" "Request is missing Authentication Token" \
    sqs "$PROBE_URL" --unsigned
# Temporary credentials from the keys file, appended while the front runs.
now_ms=$(( $(date +%s) * 1000 ))
echo "ASIAPROBEEXPIRED probe-secret probe-token $((now_ms - 60000))" >>"$KEYS_FILE"
echo "ASIAPROBEVALID valid-secret valid-token $((now_ms + 3600000))" >>"$KEYS_FILE"
probe_is "an expired temporary credential" "403 ExpiredToken" "The security token included in the request is expired" \
    sqs "$PROBE_URL" --key ASIAPROBEEXPIRED:probe-secret:probe-token
probe_is "a temporary credential of the keys file" "200 -" "" \
    sqs "$PROBE_URL" --key ASIAPROBEVALID:valid-secret:valid-token
probe_is "a temporary credential without its token" "403 InvalidClientTokenId" \
    "The security token included in the request is invalid." sqs "$PROBE_URL" --key ASIAPROBEVALID:valid-secret
probe_is "a temporary credential with another token" "403 InvalidClientTokenId" \
    "The security token included in the request is invalid." sqs "$PROBE_URL" --key ASIAPROBEVALID:valid-secret:other
expect "refusals logged: signature" "$(rejected signature test)" 3
expect "refusals logged: the rest" \
    "$(rejected unknown-key nosuchkey) $(rejected skewed test) $(rejected region test) $(rejected service test) $(rejected unsigned -) $(rejected expired-token ASIAPROBEEXPIRED) $(rejected bad-token ASIAPROBEVALID)" \
    "1 2 1 1 1 1 2"

# --- A front whose clock is an hour ahead: its Date header says so, and a
# request signed by the real clock is 'Signature expired' there.
skew_port=$(free_port)
node "$SUPPORT/sqs-emulator.js" --port "$skew_port" --clock-offset 3600 --queue probe \
    >"$WORK/skew.out" 2>"$WORK/skew.err" &
HELPER_PIDS="$HELPER_PIDS $!"
wait_for 15 grep -qx ready "$WORK/skew.out" || die "the emulator with --clock-offset did not start"
out=$(probe sqs "http://127.0.0.1:$skew_port/000000000000/probe")
expect "a front an hour ahead: refused" "$(sed -n 1p <<<"$out")" "403 SignatureDoesNotMatch"
ahead=$(( $(date -d "$(sed -n 's/^date: //p' <<<"$out")" +%s) - $(date +%s) ))
[ "$ahead" -ge 3590 ] && [ "$ahead" -le 3610 ] && ok "its Date header is an hour ahead" \
    || fail "its Date header is ${ahead}s ahead: $out"

# --- fake-aws.js: STS checks AssumeRole's signature; what it issues works.
start_fake_aws --key root:root-secret --container-token ctoken --web-identity-token wtoken
STS=$FAKE_AWS_URL/
out=$(probe sts "$STS" --key root:root-secret)
expect "AssumeRole signed by a known key" "$(sed -n 1p <<<"$out")" "200 -"
read -r AKID SECRET TOKEN EXPIRATION <<<"$(sed -n 2p <<<"$out")"
[[ $AKID =~ ^ASIA[A-Z0-9]{16}$ ]] && [ -n "$SECRET" ] && [ -n "$TOKEN" ] \
    && [[ $EXPIRATION =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] \
    && ok "AssumeRole: temporary credentials ($AKID, until $EXPIRATION)" || fail "AssumeRole answered: $out"
probe_is "AssumeRole tampered after signing" "403 SignatureDoesNotMatch" "$MISMATCH" \
    sts "$STS" --key root:root-secret --tamper body
probe_is "AssumeRole by an unknown key" "403 InvalidClientTokenId" "The security token included in the request is invalid." \
    sts "$STS" --key test:test
probe_is "the assumed role's credentials, on the SQS front" "200 -" "" sqs "$PROBE_URL" --key "$AKID:$SECRET:$TOKEN"
out=$(probe sts "$STS" --key "$AKID:$SECRET:$TOKEN")
expect "role chaining: AssumeRole signed by an assumed role" "$(sed -n 1p <<<"$out")" "200 -"
out=$(curl -s -m 5 "$STS" --data-urlencode Action=AssumeRoleWithWebIdentity --data-urlencode Version=2011-06-15 \
    --data-urlencode RoleArn=arn:aws:iam::000000000000:role/pcs-test-role --data-urlencode RoleSessionName=web \
    --data-urlencode WebIdentityToken=wtoken)
[[ $out == *"<AssumeRoleWithWebIdentityResult>"*"<SubjectFromWebIdentityToken>"*"<AccessKeyId>ASIA"* ]] \
    && ok "AssumeRoleWithWebIdentity with the token" || fail "AssumeRoleWithWebIdentity: $out"
out=$(curl -s -m 5 -w ' %{http_code}' "$STS" -d Action=AssumeRoleWithWebIdentity -d Version=2011-06-15 \
    -d RoleArn=arn:aws:iam::000000000000:role/pcs-test-role -d RoleSessionName=web -d WebIdentityToken=other)
[[ $out == *"<Code>InvalidIdentityToken</Code>"*" 400" ]] && ok "AssumeRoleWithWebIdentity with another token: 400" \
    || fail "another web identity token: $out"
fake_aws_fail sts 1 >/dev/null
probe_is "AssumeRole after /_fail" "500 InternalFailure" "injected failure*" sts "$STS" --key root:root-secret
# Container credentials and IMDSv2.
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Authorization: other' "$FAKE_AWS_URL/container/creds")
expect "container credentials with another token" "$code" 403
out=$(curl -s -m 5 -H 'Authorization: ctoken' "$FAKE_AWS_URL/container/creds")
read -r AKID SECRET TOKEN <<<"$(node -e 'const c=JSON.parse(process.argv[1]);
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.Expiration)) console.log(c.AccessKeyId, c.SecretAccessKey, c.Token)' \
    "$out" 2>/dev/null)"
probe_is "container credentials, on the SQS front" "200 -" "" sqs "$PROBE_URL" --key "$AKID:$SECRET:$TOKEN"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$FAKE_AWS_URL/latest/meta-data/iam/security-credentials/")
expect "IMDS without a token (IMDSv1)" "$code" 401
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 0' \
    "$FAKE_AWS_URL/latest/api/token")
expect "IMDS token with a TTL of 0" "$code" 400
itoken=$(curl -s -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$FAKE_AWS_URL/latest/api/token")
role=$(curl -s -m 5 -H "X-aws-ec2-metadata-token: $itoken" "$FAKE_AWS_URL/latest/meta-data/iam/security-credentials/")
expect "IMDS role name" "$role" pcs-test-role
out=$(curl -s -m 5 -H "X-aws-ec2-metadata-token: $itoken" \
    "$FAKE_AWS_URL/latest/meta-data/iam/security-credentials/pcs-test-role")
read -r AKID SECRET TOKEN <<<"$(node -e 'const c=JSON.parse(process.argv[1]);
    if (c.Code === "Success" && c.Type === "AWS-HMAC") console.log(c.AccessKeyId, c.SecretAccessKey, c.Token)' \
    "$out" 2>/dev/null)"
probe_is "IMDS credentials, on the SQS front" "200 -" "" sqs "$PROBE_URL" --key "$AKID:$SECRET:$TOKEN"
# A short lifetime: the front refuses the credential once it expired.
fake_aws_ttl 1 >/dev/null
out=$(curl -s -m 5 -H 'Authorization: ctoken' "$FAKE_AWS_URL/container/creds")
read -r AKID SECRET TOKEN <<<"$(node -e 'const c=JSON.parse(process.argv[1]);
    console.log(c.AccessKeyId, c.SecretAccessKey, c.Token)' "$out" 2>/dev/null)"
expired() { [ "$(probe sqs "$PROBE_URL" --key "$AKID:$SECRET:$TOKEN" | head -n 1)" = "403 ExpiredToken" ]; }
wait_for 5 expired && ok "a credential with a 1 s lifetime: ExpiredToken once it is over" \
    || fail "a 1 s credential: $(probe sqs "$PROBE_URL" --key "$AKID:$SECRET:$TOKEN" | head -n 1)"
node -e 'const s=JSON.parse(process.argv[1]);
    const want = { sts: [7, 3, 4, 1, 3], container: [3, 2, 1, 0, 2], imds: [5, 3, 2, 0, 1] };
    for (const [e, [requests, ok, failed, injected, credentials]] of Object.entries(want)) {
      const g = s[e];
      if (g.requests !== requests || g.ok !== ok || g.failed !== failed || g.injected !== injected ||
          g.credentials !== credentials) process.exit(1);
    }
    if (s.sts.codes.SignatureDoesNotMatch !== 1 || s.sts.codes.InvalidClientTokenId !== 1 || s.ttl !== 1) process.exit(1);' \
    "$(fake_aws_stats)" && ok "fake-aws /_stats counts" || fail "fake-aws /_stats: $(fake_aws_stats)"

# --- The proxy: absolute-URI and CONNECT to the front, nothing else.
start_proxy
probe_is "through the proxy (absolute URI)" "200 -" "" sqs "$PROBE_URL" --proxy "$PROXY_URL"
probe_is "through the proxy (CONNECT)" "200 -" "" sqs "$PROBE_URL" --connect-proxy "$PROXY_URL"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -x "$PROXY_URL" http://pcs-test.invalid/)
expect "the proxy refuses a target off loopback" "$code" 403
curl -s -m 5 -o /dev/null -p -x "$PROXY_URL" http://pcs-test.invalid:443/ 2>/dev/null
expect "the proxy log" "$(grep -v '^ready' "$WORK/proxy.out")" \
"POST http://127.0.0.1:$SQS_PORT/
CONNECT 127.0.0.1:$SQS_PORT
GET http://pcs-test.invalid/ refused
CONNECT pcs-test.invalid:443 refused"

# --- The daemon's own requests pass the front.
stop_pcs() {
    remember_consumers
    kill -TERM "$PCS_PID"
    wait_for 20 pid_gone "$PCS_PID" || die "the daemon did not stop"
    PCS_PID=
}
# landed: the example message was written.
landed() { [ "$(redis_cli GET 'production:c_acme#timestamp')" = 1763150385133 ]; }
# new_rejections: the front's refusals since the mark.
mark() { MARK=$(sigv4_rejections | wc -l); }
new_rejections() { sigv4_rejections | tail -n +$((MARK + 1)); }

mark
CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
wait_for 10 ready_with 1 || die "not ready with the test keys: $(http GET /readyz)"
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "cannot send"
wait_for 15 landed && ok "the daemon (test:test) received and wrote a message" || fail "nothing written"
# Settled: the daemon's DeleteMessageBatch went through too.
wait_for 15 queue_is "0 0" || fail "the queue did not settle: $(sqs count "$SQS_URL")"
expect "no request of the daemon refused" "$(new_rejections)" ""
stop_pcs

# Temporary credentials: a signed X-Amz-Security-Token.
redis_cli FLUSHALL >/dev/null
mark
AWS_ACCESS_KEY_ID=ASIAPROBEVALID AWS_SECRET_ACCESS_KEY=valid-secret AWS_SESSION_TOKEN=valid-token \
    CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
wait_for 10 ready_with 1 || die "not ready with a temporary credential: $(http GET /readyz)"
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "cannot send"
wait_for 15 landed && ok "the daemon (a session token) received and wrote a message" || fail "nothing written"
wait_for 15 queue_is "0 0" || fail "the queue did not settle: $(sqs count "$SQS_URL")"
expect "no request of the daemon refused (session token)" "$(new_rejections)" ""
stop_pcs

# A wrong secret: not ready, AWS's reason.
mark
AWS_SECRET_ACCESS_KEY=wrong CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
if wait_for 10 readyz_like '503 *"reason":"sqs: ReceiveMessage: HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match*'; then
    ok "a wrong secret: not ready, SignatureDoesNotMatch"
else
    fail "a wrong secret: $(http GET /readyz)"
fi
expect "the front refused the daemon's signature" "$(new_rejections | sort -u)" "sigv4: rejected signature test"
stop_pcs

# A wrong secret with a session token: the canonical request that AWS
# sends back holds the token; the daemon never logs it.
mark
AWS_ACCESS_KEY_ID=ASIAPROBEVALID AWS_SECRET_ACCESS_KEY=wrong AWS_SESSION_TOKEN=valid-token \
    CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
wait_for 10 readyz_like '503 *"reason":"sqs: ReceiveMessage: HTTP 403 SignatureDoesNotMatch*' \
    && ok "a wrong secret with a token: not ready, SignatureDoesNotMatch" || fail "a wrong secret with a token: $(http GET /readyz)"
stop_pcs
grep -q valid-token "$PCS_LOG" && fail "the session token is in the daemon's log" || ok "the session token is never logged"

# An expired token.
AWS_ACCESS_KEY_ID=ASIAPROBEEXPIRED AWS_SECRET_ACCESS_KEY=probe-secret AWS_SESSION_TOKEN=probe-token \
    CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
wait_for 10 readyz_like '503 *"reason":"sqs: ReceiveMessage: HTTP 403 ExpiredToken: The security token included in the request is expired"}' \
    && ok "an expired token: not ready, ExpiredToken" || fail "an expired token: $(http GET /readyz)"
stop_pcs
finish
