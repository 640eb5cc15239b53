#!/bin/bash
# The AWS credential chain against fakes of its sources on loopback
# (tests/support/fake-aws.js: STS, container credentials and IMDSv2, every
# credential it issues written to $WORK/aws-keys) and the SQS emulator,
# which verifies each request's SigV4 signature against those keys and
# refuses them once expired.  Each source alone (credential_process,
# instance metadata, web identity, container credentials, a profile's
# static keys, role_arn with source_profile, AWS_ROLE_ARN on top with an
# external id) signs every request: the messages are applied and the
# emulator rejected nothing.  Credentials that expire 20 s after issue are
# refreshed ahead of their expiry while a workload runs, with no failed
# request and nothing lost; a failed refresh is retried while the current
# ones last, never not ready.  -t names the source and never a secret; no
# source at all is a configuration error; AWS_NO_SIGN_REQUEST=true is how
# an emulator gets unsigned requests.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

[ -f "$SUPPORT/fake-aws.js" ] || { echo "SKIP: tests/support/fake-aws.js missing"; exit 77; }
grep -q -- '--keys-file' "$SUPPORT/sqs-emulator.js" ||
    { echo "SKIP: the SQS emulator verifies no signature (no --keys-file)"; exit 77; }

# Nothing of the machine's own AWS setup: no variable, no ~/.aws.
for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export HOME=$WORK/home
mkdir -p "$HOME/.aws"

P=production
EX=$PCS_SRCDIR/tests/data/examples
# Not "test", start_pcs's secret, which error lines redact.
ROLE=arn:aws:iam::123456789012:role/pcs-reader
EXT=ext-$RANDOM$RANDOM			# the external id the fake requires
CTOKEN=container-token-$RANDOM$RANDOM
WTOKEN=web-identity-token-$RANDOM$RANDOM
printf '%s\n' "$CTOKEN" >"$WORK/container-token"
printf '%s\n' "$WTOKEN" >"$WORK/web-identity-token"

# lib.sh's start_fake_aws, or the same here for a lib.sh without it.
if ! declare -F start_fake_aws >/dev/null; then
    start_fake_aws() {
        node "$SUPPORT/fake-aws.js" --port "$(free_port)" --keys-file "$WORK/aws-keys" "$@" \
            >"$WORK/fake-aws.out" 2>"$WORK/fake-aws.err" &
        HELPER_PIDS="$HELPER_PIDS $!"
        wait_for 15 grep -q '^ready ' "$WORK/fake-aws.out" || die "fake-aws did not start: $(cat "$WORK/fake-aws.err")"
        FAKE_AWS_URL=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/fake-aws.out" | tail -n 1)
    }
fi

start_redis
# test:test is start_pcs's key, which the emulator knows: AssumeRole may
# be signed with it too.
start_fake_aws --ttl 20 --key test:test --container-token "$CTOKEN" \
    --web-identity-token "$WTOKEN" --require-external-id "$EXT"
F=$FAKE_AWS_URL
start_sqs
CONSUMERS=2

stop_pcs() { remember_consumers; kill -TERM "$PCS_PID" 2>/dev/null; wait_for 15 pid_gone "$PCS_PID" || die "did not stop"; PCS_PID=; }
# pcs [-k] ENV...: the daemon with these settings and, without -k, none of
# start_pcs's keys; since prints what it has logged from then on.  Short
# polls: a long poll of the daemon stopped before would still take the
# next case's message at the emulator, hiding it for the visibility
# timeout.
pcs() {
    local kv wrap="env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY"
    [ "${1-}" = -k ] && { wrap=; shift; }
    mark_log
    for kv in "$@"; do export "${kv?}"; done
    PCS_WRAP=$wrap CONSUMERS=$CONSUMERS WAIT_TIME_SECONDS=0 \
        VISIBILITY_TIMEOUT_SECS=5 start_pcs
    for kv in "$@"; do unset "${kv%%=*}"; done
}
recent() { since | tail -n 12 | sed 's/^/#   /'; }
# -t with ENV alone (and the queue and region): its output, and $rc.
check_t() {
    out=$(env -i PATH="$PATH" HOME="$HOME" QUEUE_URL="$SQS_URL" AWS_REGION=us-east-1 "$@" \
        "$PCS_BIN" -t -c /dev/null 2>&1)
    rc=$?
}
no_tokens() {
    case "$2" in
    *"$CTOKEN"*|*"$WTOKEN"*) fail "$1: a token appears: $2" ;;
    *) ok "$1: no token shown" ;;
    esac
}
# A message of its own for customer C, and whether it is in Redis.
send_for() {
    sed "s/\"acme\"/\"$1\"/" "$EX/entitlements-updated.json" >"$WORK/$1.json"
    sqs send "$SQS_URL" "$WORK/$1.json" >/dev/null || fail "$1: cannot send"
}
applied() { [ -n "$(redis_cli GET "$P:c_$1")" ]; }
# The requests the fake's STS has had: its /_stats' sts.requests.
sts_requests() {
    curl -s -m 5 "$F/_stats" | node -e 'let s = ""; process.stdin.on("data", d => s += d)
        .on("end", () => console.log(((JSON.parse(s).sts || {}).requests) || 0))'
}
# Readiness lost after the first ready, stopping aside.
drops() { since | grep 'not ready: ' | grep -vc 'not ready: stopping$'; }

# source NAME SOURCE [-k] ENV...: -t with ENV names SOURCE; the daemon
# with ENV gets ready and applies a message for customer NAME.
source_case() {
    local name=$1 src=$2 k=
    shift 2
    [ "${1-}" = -k ] && { k=-k; shift; }
    if [ -n "$k" ]; then check_t AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$@"; else check_t "$@"; fi
    case "$rc $out" in
    "0 persistent-cache-service: configuration OK (/dev/null); region us-east-1; AWS credentials: $src") ok "$name: -t: $src" ;;
    *) fail "$name: -t: exit $rc: $out (want: $src)" ;;
    esac
    no_tokens "$name: -t" "$out"
    pcs $k "$@"
    if ! wait_for 15 ready_with "$CONSUMERS"; then
        fail "$name: not ready: $(http GET /readyz)"
        recent
        stop_pcs
        return 1
    fi
    send_for "$name"
    if wait_for 15 applied "$name"; then ok "$name: received and applied"; else fail "$name: not applied"; recent; fi
    since | grep -qF "master[$PCS_PID]: aws: credentials: $src" && ok "$name: the master logged the source" ||
        fail "$name: the master did not log 'aws: credentials: $src'"
    case "$src" in
    none:*) ;;
    *) since | grep -q "aws: credentials from " && ok "$name: the consumers logged theirs" ||
        fail "$name: no 'aws: credentials from' line" ;;
    esac
}
runs() { [ "$(wc -l <"$WORK/process-runs" 2>/dev/null || echo 0)" -ge "$1" ]; }

# --- credential_process alone (the signing helper's way): 20 s credentials
# from a script, run again before they expire.  The daemon runs with the
# systemd unit's GNUTLS_NO_IMPLICIT_INIT=1, which the helper must not get.
cat >"$WORK/process.sh" <<EOF
#!/bin/sh
echo run >>"$WORK/process-runs"
echo "GNUTLS_NO_IMPLICIT_INIT=\${GNUTLS_NO_IMPLICIT_INIT-unset}" >>"$WORK/process-env"
curl -sf -H "Authorization: $CTOKEN" "$F/container/process" |
    node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
        const j = JSON.parse(s);
        console.log(JSON.stringify({Version: 1, AccessKeyId: j.AccessKeyId,
            SecretAccessKey: j.SecretAccessKey, SessionToken: j.Token, Expiration: j.Expiration}));
    })'
EOF
printf '[profile ci]\ncredential_process = /bin/sh %s\n' "$WORK/process.sh" >"$HOME/.aws/config"
if source_case process "profile 'ci' (credential_process) in $HOME/.aws/config" \
    AWS_PROFILE=ci AWS_EC2_METADATA_DISABLED=true GNUTLS_NO_IMPLICIT_INIT=1; then
    # 20 s credentials: each consumer runs it again after ~13 s.
    wait_for 25 runs $((2 * CONSUMERS)) &&
        ok "process: run again before the credentials expired ($(wc -l <"$WORK/process-runs") runs)" ||
        fail "process: not run again: $(wc -l <"$WORK/process-runs" 2>/dev/null) runs"
    send_for process2
    wait_for 15 applied process2 && ok "process: applied with the new credentials" || fail "process: not applied after the refresh"
    expect "process: never not ready" "$(drops)" 0
    expect "process: the helper's environment lacks the unit's GnuTLS setting" \
        "$(sort -u "$WORK/process-env")" "GNUTLS_NO_IMPLICIT_INIT=unset"
    stop_pcs
fi
rm -f "$HOME/.aws/config"

# --- The instance's role alone (IMDSv2).
source_case imds "instance metadata (IMDSv2) at $F" AWS_EC2_METADATA_SERVICE_ENDPOINT="$F" &&
    stop_pcs

# --- Web identity alone.
source_case web "web identity: role $ROLE (AWS_WEB_IDENTITY_TOKEN_FILE $WORK/web-identity-token)" \
    AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/web-identity-token" AWS_ROLE_ARN="$ROLE" \
    AWS_ENDPOINT_URL_STS="$F" AWS_EC2_METADATA_DISABLED=true && stop_pcs

# --- Container credentials alone.
source_case container "container credentials at $F/container/pcs, with the token in $WORK/container-token" \
    AWS_CONTAINER_CREDENTIALS_FULL_URI="$F/container/pcs" \
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$WORK/container-token" \
    AWS_EC2_METADATA_DISABLED=true && stop_pcs

# --- A profile's static keys, then a profile's role with source_profile.
printf '[default]\naws_access_key_id = test\naws_secret_access_key = test\n' >"$HOME/.aws/credentials"
source_case static "profile 'default' (static keys) in $HOME/.aws/credentials" \
    AWS_EC2_METADATA_DISABLED=true && stop_pcs
printf '[base]\naws_access_key_id = test\naws_secret_access_key = test\n' >"$HOME/.aws/credentials"
printf '[profile dev]\nrole_arn = %s\nsource_profile = base\nexternal_id = %s\n' "$ROLE" "$EXT" \
    >"$HOME/.aws/config"
source_case role "profile 'dev' (role $ROLE) in $HOME/.aws/config, from profile 'base' (static keys) in $HOME/.aws/credentials" \
    AWS_PROFILE=dev AWS_ENDPOINT_URL_STS="$F" AWS_EC2_METADATA_DISABLED=true && stop_pcs
rm -f "$HOME/.aws/config" "$HOME/.aws/credentials"

# --- A role on top of the explicit keys, with the external id the
# cross-account trust asks for; with another, never ready, and why.
source_case top "role $ROLE (AWS_ROLE_ARN, with an external id), from static keys (aws_access_key_id)" -k \
    AWS_ROLE_ARN="$ROLE" AWS_ROLE_EXTERNAL_ID="$EXT" AWS_ENDPOINT_URL_STS="$F" && stop_pcs
pcs -k AWS_ROLE_ARN="$ROLE" AWS_ROLE_EXTERNAL_ID=wrong-id AWS_ENDPOINT_URL_STS="$F"
wait_for 15 readyz_like "503 *\"reason\":\"aws: credentials: STS AssumeRole $ROLE: HTTP 403 AccessDenied*" &&
    ok "the wrong external id: not ready: $(http GET /readyz)" ||
    { fail "the wrong external id: /readyz: $(http GET /readyz)"; recent; }
stop_pcs

# The next part runs about a minute: once, in the first run of the suite
# (PCS_SKIP_LONG=1 skips it under the sanitizers and in distcheck, as
# chaos.sh).
if [ "${PCS_SKIP_LONG:-0}" != 1 ]; then
# --- A workload over 45 s with credentials that live 20 s (web identity:
# every refresh is an STS call), then a refresh that fails twice.
W=$WORK/workload
redis_cli FLUSHALL >/dev/null
node "$SUPPORT/workload.js" gen --dir "$W" --seed 9 --customers 60 >"$WORK/gen.out" ||
    die "workload.js gen failed"
pcs AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/web-identity-token" AWS_ROLE_ARN="$ROLE" \
    AWS_ENDPOINT_URL_STS="$F" AWS_EC2_METADATA_DISABLED=true BATCH_SIZE=10
wait_for 15 ready_with "$CONSUMERS" || die "workload: not ready: $(http GET /readyz)"
sts_before=$(sts_requests)
t0=$SECONDS
sqs send-batch "$SQS_URL" - <"$W/initial.jsonl" >/dev/null || die "cannot send the initial grants"
wait_for 30 queue_is "0 0" || die "workload: initial grants not settled: $(sqs count "$SQS_URL")"
split -d -n l/9 "$W/mix.jsonl" "$W/part."
for part in "$W"/part.*; do
    sqs send-batch "$SQS_URL" - <"$part" >/dev/null || fail "workload: cannot send $part"
    sleep 5
done
wait_for 60 queue_is "0 0" || fail "workload: not settled: $(sqs count "$SQS_URL")"
oracle_check "workload: Redis" "$W/oracle.json" "$REDIS_PORT"
# Over 45 s and more, each consumer's 20 s credentials twice at least.
n=$(since | grep -c 'aws: credentials refreshed from STS AssumeRoleWithWebIdentity')
[ "$n" -ge $((2 * CONSUMERS)) ] && ok "workload: $n refreshes ahead of the expiry in $((SECONDS - t0)) s" ||
    fail "workload: $n refreshes in $((SECONDS - t0)) s, want at least $((2 * CONSUMERS))"
sts=$(( $(sts_requests) - sts_before ))
[ "$sts" -ge $((2 * CONSUMERS)) ] && ok "workload: the fake's STS answered $sts requests meanwhile" ||
    fail "workload: the fake's STS counts $sts requests: $(curl -s "$F/_stats")"
expect "workload: never not ready" "$(drops)" 0
expect "workload: no SQS request failed" "$(since | grep -c 'sqs: [A-Za-z]*: ')" 0

curl -s -X POST "$F/_fail?endpoint=sts&count=2" >/dev/null || fail "cannot inject STS failures"
FAILED_FROM=$(( $(wc -l <"$PCS_LOG") + 1 ))
wait_for 25 sh -c "tail -n +$FAILED_FROM '$PCS_LOG' | grep -q 'the current credentials stay in use'" &&
    ok "a failed refresh: logged, the current credentials kept" || fail "no failed refresh logged"
wait_for 25 sh -c "tail -n +$FAILED_FROM '$PCS_LOG' | grep 'the current credentials stay in use' -A 1000 | grep -q 'aws: credentials refreshed'" &&
    ok "a failed refresh: retried and refreshed" || fail "a failed refresh: never refreshed"
send_for after-failure
wait_for 15 applied after-failure && ok "a failed refresh: messages applied" || fail "a failed refresh: not applied"
expect "a failed refresh: never not ready" "$(drops)" 0
stop_pcs
else
    echo "# the workload across expiries skipped (PCS_SKIP_LONG=1)"
fi

# --- The emulator saw every request signed with a key it knew, unexpired.
expect "no request rejected by the emulator" "$(grep -c 'sigv4: rejected' "$WORK/sqs.err")" 0

# --- No credentials at all: a configuration error, at -t and at the start.
check_t AWS_EC2_METADATA_DISABLED=true
expect "no credentials: -t exit status" "$rc" 78
case "$out" in
"persistent-cache-service: aws: no credentials: "*AWS_EC2_METADATA_DISABLED*AWS_NO_SIGN_REQUEST=true*) ok "no credentials: $out" ;;
*) fail "no credentials: $out" ;;
esac
check_t AWS_PROFILE=nope
expect "a profile that is nowhere: -t exit status" "$rc" 78
expect "a profile that is nowhere" "$out" \
    "persistent-cache-service: aws: profile 'nope' (AWS_PROFILE) is in neither $HOME/.aws/credentials nor $HOME/.aws/config"
check_t AWS_NO_SIGN_REQUEST=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
expect "unsigned with keys: -t" "$rc $out" \
    "78 persistent-cache-service: AWS_NO_SIGN_REQUEST and AWS_ACCESS_KEY_ID both set; use one"
pcs AWS_EC2_METADATA_DISABLED=true
if wait_for 10 pid_gone "$PCS_PID"; then
    wait "$PCS_PID"
    expect "no credentials: the daemon's exit status" "$?" 78
    PCS_PID=
else
    fail "no credentials: the daemon started"
fi

# --- Unsigned requests, asked for, to an emulator that takes them.
U_PORT=$(free_port)
node "$SUPPORT/sqs-emulator.js" --port "$U_PORT" --queue events --allow-unsigned \
    >"$WORK/sqs-unsigned.out" 2>"$WORK/sqs-unsigned.err" &
HELPER_PIDS="$HELPER_PIDS $!"
wait_for 15 grep -qx ready "$WORK/sqs-unsigned.out" || die "unsigned emulator did not start: $(cat "$WORK/sqs-unsigned.err")"
SIGNED_URL=$SQS_URL
SQS_URL=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/sqs-unsigned.out" | tail -n 1)
source_case unsigned "none: requests go unsigned (aws_no_sign_request)" AWS_NO_SIGN_REQUEST=true &&
    stop_pcs
SQS_URL=$SIGNED_URL

# --- No secret in the log: the tokens, nor any key the fake issued.
no_tokens "the log" "$(cat "$PCS_LOG")"
leaked=0
for s in $(grep -oE '[A-Za-z0-9+/=]{20,}' "$WORK/aws-keys" | sort -u); do
    grep -qF -- "$s" "$PCS_LOG" && { echo "# in the log: ${s:0:6}..."; leaked=$((leaked + 1)); }
done
expect "no issued key, secret or session token in the log" "$leaked" 0
finish
