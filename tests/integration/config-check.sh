#!/bin/bash
# -V, -t and configuration errors: each bad setting is named on one line
# with exit status 78, a good configuration says "configuration OK", and
# no secret ever appears in what the daemon prints.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

version=$(sed -n 's/^AC_INIT(\[persistent-cache-service\], \[\([^]]*\)\].*/\1/p' "$PCS_SRCDIR/configure.ac")
expect "-V" "$("$PCS_BIN" -V)" "persistent-cache-service $version"
for page in persistent-cache-service.8 persistent-cache-service.conf.5; do
    expect "$page shows the version" "$(sed -n 's/^\.Os //p' "$PCS_SRCDIR/man/$page")" \
        "persistent-cache-service $version"
done

base() { env -i PATH="$PATH" QUEUE_URL=http://127.0.0.1:9/000000000000/q AWS_REGION=us-east-1 "$@"; }

# check NAME WANT_STATUS PATTERN COMMAND...: one line of output, matching.
check() {
    local name=$1 want=$2 pat=$3 out rc
    shift 3
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" != "$want" ]; then fail "$name: exit $rc, want $want ($out)"; return; fi
    if [ "$(printf '%s\n' "$out" | wc -l)" != 1 ]; then fail "$name: not one line: $out"; return; fi
    if ! printf '%s\n' "$out" | grep -Eq -- "$pat"; then fail "$name: '$out' does not match '$pat'"; return; fi
    ok "$name: $out"
}

check "good environment" 0 "configuration OK" base "$PCS_BIN" -t -c /dev/null
check "missing QUEUE_URL" 78 "queue_url.*QUEUE_URL|QUEUE_URL" env -i PATH="$PATH" AWS_REGION=us-east-1 "$PCS_BIN" -t -c /dev/null
check "missing AWS_REGION, an emulator's URL" 78 "aws_region.*names no region.*AWS_REGION" env -i PATH="$PATH" QUEUE_URL=http://127.0.0.1:9/000000000000/q "$PCS_BIN" -t -c /dev/null
check "the region from the queue URL" 0 "configuration OK .*; region eu-west-1 \(from the queue URL\); AWS credentials: " env -i PATH="$PATH" QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/q "$PCS_BIN" -t -c /dev/null
check "the region from a VPC endpoint's URL" 0 "; region ap-southeast-2 \(from the queue URL\); " env -i PATH="$PATH" QUEUE_URL=https://vpce-0a1b-2c3d.sqs.ap-southeast-2.vpce.amazonaws.com/123456789012/q "$PCS_BIN" -t -c /dev/null
check "AWS_REGION against the queue URL's" 78 "^persistent-cache-service: AWS_REGION us-west-2 does not match the queue URL's region us-east-1 \(QUEUE_URL\); SQS would refuse the signature$" env -i PATH="$PATH" QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/q AWS_REGION=us-west-2 "$PCS_BIN" -t -c /dev/null
check "a secret with a line break" 78 "^persistent-cache-service: SERVER_API_KEY: value contains a control character \(a line break\?\); it is not shown$" base SERVER_API_KEY="$(printf 'sk-abc\ndef')" "$PCS_BIN" -t -c /dev/null
check "bad PORT" 78 "PORT" base PORT=70000 "$PCS_BIN" -t -c /dev/null
check "a URL's password is not shown" 78 "QUEUE_URL: 'https://u:\*\*\*@h/1/q' is invalid" \
    base QUEUE_URL='https://u:hunter2@h/1/q' "$PCS_BIN" -t -c /dev/null
base QUEUE_URL='https://u:hunter2@h/1/q' "$PCS_BIN" -t -c /dev/null 2>&1 | grep -q hunter2 \
    && fail "-t shows a URL's password" || ok "-t never shows a URL's password"
check "-t applies the consumers' URL rules (port 0)" 78 "QUEUE_URL" \
    base QUEUE_URL='https://h:0/1/q' "$PCS_BIN" -t -c /dev/null
check "REDIS_URL" 0 "configuration OK" base REDIS_URL='redis://u:hunter2@[::1]:6380/3' "$PCS_BIN" -t -c /dev/null
check "REDIS_URL masked" 78 "^persistent-cache-service: REDIS_URL: 'redis://u:\*\*\*@h/x' has a path that is not a database number" \
    base REDIS_URL='redis://u:hunter2@h/x' "$PCS_BIN" -t -c /dev/null
check "REDIS_URL with REDIS_HOST" 78 "REDIS_URL and REDIS_HOST both set; use one$" \
    base REDIS_URL='redis://u:hunter2@h' REDIS_HOST=h "$PCS_BIN" -t -c /dev/null
check "rediss://" 0 "configuration OK" base REDIS_URL='rediss://u:hunter2@h' "$PCS_BIN" -t -c /dev/null
check "rediss:// with REDIS_TLS=false" 78 "REDIS_URL is rediss:// but REDIS_TLS is false; use one$" \
    base REDIS_URL='rediss://u:hunter2@h' REDIS_TLS=false "$PCS_BIN" -t -c /dev/null
check "a TLS setting without TLS" 78 "REDIS_TLS_CA_FILE: needs redis_tls \(REDIS_TLS\)$" \
    base REDIS_TLS_CA_FILE=/etc/ssl/certs/ca-certificates.crt "$PCS_BIN" -t -c /dev/null
check "a relative TLS path" 78 "REDIS_TLS_CERT_FILE: 'c.pem' is invalid: must be an absolute path$" \
    base REDIS_TLS=true REDIS_TLS_CERT_FILE=c.pem "$PCS_BIN" -t -c /dev/null
base REDIS_TLS=yes REDIS_TLS_KEY_PASSPHRASE=hunter2 "$PCS_BIN" -t -c /dev/null 2>&1 | grep -q hunter2 \
    && fail "-t shows the key's passphrase" || ok "-t never shows the key's passphrase"
base REDIS_URL='redis://u:hunter2@h:0' "$PCS_BIN" -t -c /dev/null 2>&1 | grep -q hunter2 \
    && fail "-t shows REDIS_URL's password" || ok "-t never shows REDIS_URL's password"
check "non-numeric REDIS_PORT" 78 "REDIS_PORT" base REDIS_PORT=abc "$PCS_BIN" -t -c /dev/null
check "BATCH_SIZE 11" 78 "BATCH_SIZE" base BATCH_SIZE=11 "$PCS_BIN" -t -c /dev/null
check "BATCH_SIZE 0" 78 "BATCH_SIZE" base BATCH_SIZE=0 "$PCS_BIN" -t -c /dev/null
check "KEYS_TTL_IN_SECS 0" 78 "KEYS_TTL_IN_SECS" base KEYS_TTL_IN_SECS=0 "$PCS_BIN" -t -c /dev/null
check "CACHE_UPDATE_POLICY" 78 "CACHE_UPDATE_POLICY" base CACHE_UPDATE_POLICY=SOMETIMES "$PCS_BIN" -t -c /dev/null
check "LOG_LEVEL" 78 "LOG_LEVEL" base LOG_LEVEL=loud "$PCS_BIN" -t -c /dev/null
check "LOG_FORMAT" 78 "^persistent-cache-service: LOG_FORMAT: 'xml' is not one of text, json" base LOG_FORMAT=xml "$PCS_BIN" -t -c /dev/null
check "LOG_FORMAT json, any case" 0 "configuration OK" base LOG_FORMAT=JSON "$PCS_BIN" -t -c /dev/null
check "CONSUMERS" 78 "CONSUMERS" base CONSUMERS=0 "$PCS_BIN" -t -c /dev/null
check "conflicting prefixes" 78 "ENVIRONMENT_PREFIX.*REDIS_ENVIRONMENT_PREFIX|REDIS_ENVIRONMENT_PREFIX.*ENVIRONMENT_PREFIX" \
    base ENVIRONMENT_PREFIX=a REDIS_ENVIRONMENT_PREFIX=b "$PCS_BIN" -t -c /dev/null
check "missing file" 78 "$WORK/nope.conf" base "$PCS_BIN" -t -c "$WORK/nope.conf"

conf() { printf '%s\n' "$1" >"$WORK/t.conf"; }
conf 'redis_prot = 1;'
check "unknown key" 78 "redis_prot" base "$PCS_BIN" -t -c "$WORK/t.conf"
conf 'redis_port = "6379";'
check "wrong type" 78 "t.conf:1: redis_port" base "$PCS_BIN" -t -c "$WORK/t.conf"
printf 'port = 4000;\nconsumers = ;\n' >"$WORK/t.conf"
check "parse error names file:line" 78 "t.conf:2" base "$PCS_BIN" -t -c "$WORK/t.conf"
conf 'drain_timeout = 0;'
check "drain_timeout range" 78 "drain_timeout" base "$PCS_BIN" -t -c "$WORK/t.conf"
conf 'restart_backoff_min_ms = 5000; restart_backoff_max_ms = 1000;'
check "backoff bounds" 78 "restart_backoff" base "$PCS_BIN" -t -c "$WORK/t.conf"
conf 'hang_timeout = 1;'
check "hang_timeout range" 78 "hang_timeout" base "$PCS_BIN" -t -c "$WORK/t.conf"
conf 'queue_url = "https://sqs.us-east-1.amazonaws.com/1/q"; aws_region = "us-east-1"; port = 4001;'
check "file alone" 0 "configuration OK" env -i PATH="$PATH" "$PCS_BIN" -t -c "$WORK/t.conf"
conf 'port = 4001;'
check "environment overrides the file" 78 "PORT" base PORT=0 "$PCS_BIN" -t -c "$WORK/t.conf"
check "the example configuration" 0 "configuration OK" base "$PCS_BIN" -t -c "$PCS_SRCDIR/etc/persistent-cache-service.conf"
out=$("$PCS_BIN" -x 2>&1); rc=$?
expect "bad option exits 64 (EX_USAGE)" "$rc" 64
case "$out" in *"invalid option -- 'x'"*usage:*) ok "bad option named, usage shown" ;; *) fail "bad option output: $out" ;; esac

# Secrets: wrong values next to secrets, then a running daemon's log.
secret=s3cr3t-value-$RANDOM
out=$(base AWS_SECRET_ACCESS_KEY="$secret" SERVER_API_KEY="$secret" REDIS_PASSWORD="$secret" \
    AWS_ACCESS_KEY_ID="$secret" AWS_SESSION_TOKEN="$secret" PORT=x "$PCS_BIN" -t -c /dev/null 2>&1)
case "$out" in *"$secret"*) fail "a secret appears in: $out" ;; *) ok "no secret in the error" ;; esac

start_redis --requirepass "$secret"
# The SQS emulator checks signatures: it learns the key from the keys file.
echo "pcs-config-check $secret - 0" >>"$KEYS_FILE"
REDIS_PASSWORD="$secret" SERVER_API_KEY="$secret" AWS_ACCESS_KEY_ID=pcs-config-check \
    AWS_SECRET_ACCESS_KEY="$secret" CONSUMERS=1 start_pcs -c /dev/null
wait_for 10 ready_with 1 || die "not ready with a Redis password: $(http GET /readyz)"
ok "AUTH with a password"
kill -TERM "$PCS_PID"; wait_for 10 pid_gone "$PCS_PID"; PCS_PID=
REDIS_PASSWORD=wrong-$secret CONSUMERS=1 start_pcs -c /dev/null
wait_for 10 grep -q "redis: AUTH: WRONGPASS" "$PCS_LOG" || die "wrong password not reported"
wait_for 5 readyz_like '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"redis: AUTH: WRONGPASS*"}' \
    && ok "wrong password: not ready, and /readyz says why" || fail "wrong password: $(http GET /readyz)"
grep -q -- "$secret" "$PCS_LOG" && fail "a secret appears in the log" || ok "no secret in the log"
finish
