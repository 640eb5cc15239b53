#!/bin/bash
# Redis over TLS, against a real redis-server listening on a TLS port
# only, with tests/support/mkcerts.sh's certificates:
# (a) REDIS_TLS with the test CA and REDIS_HOST=localhost (the name
#     checked): ready, a message written, the connection named;
# (b) REDIS_HOST=127.0.0.1: the certificate's IP address checked; the CA
#     from REDIS_TLS_CA_DIR;
# (c) an unrelated CA: not ready, "redis: TLS: certificate verify
#     failed: <OpenSSL's reason> (<host:port>)" on /readyz and in the log,
#     for a server that sends its CA along and for one that sends its
#     certificate alone;
# (d) an expired certificate and (e) one for another name: the same, with
#     OpenSSL's reason; REDIS_TLS_VERIFY=false takes the expired one, and
#     REDIS_TLS_SERVER_NAME naming the other name takes that one;
# (f) mutual TLS: a client certificate, its key encrypted with a
#     passphrase that is never shown, and no certificate: refused;
# (g) REDIS_URL=rediss:// alone turns TLS on;
# (h) no TLS against a TLS port: not ready, no crash, consumers kept;
# (j) TLS against a plain port: not ready, the handshake named;
# (k) a reload with a TLS file that cannot be used: refused, and the
#     consumers keep the configuration they have;
# (l) Sentinel over TLS: the sentinel asked over TLS, then the primary;
# (i) -t: a CA file that does not exist, a wrong passphrase: configuration
#     errors that name the file (and never the passphrase).
# No consumer ever crashes or restarts for any of it.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

# None of the test's environment's own (start_pcs passes it on).
unset REDIS_URL REDIS_TLS REDIS_TLS_CA_FILE REDIS_TLS_CA_DIR REDIS_TLS_CERT_FILE \
    REDIS_TLS_KEY_FILE REDIS_TLS_KEY_PASSPHRASE REDIS_TLS_SERVER_NAME REDIS_TLS_VERIFY
make_certs
EX=$PCS_SRCDIR/tests/data/examples
VERIFY_FAILED="redis: TLS: certificate verify failed:"
start_sqs
HTTP_PORT=$(free_port)

# pcs ENV...: the daemon, one consumer, with these settings; since prints
# what it has logged from then on.
pcs() {
    local kv
    mark_log
    for kv in "$@"; do export "${kv?}"; done
    CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
    for kv in "$@"; do unset "${kv%%=*}"; done
}
# /readyz now, or that the daemon is not running (its log says why).
readyz_now() { if kill -0 "$PCS_PID" 2>/dev/null; then http GET /readyz; else echo "(the daemon is not running)"; fi; }
recent() { since | tail -n 8 | sed 's/^/#   /'; }
readyz_down() { readyz_like '503 {"status":"DOWN","consumers":0,"redis":"DISCONNECTED","reason":"redis: *'; }

# up NAME ENV...: with ENV, the daemon becomes ready (UP, Redis CONNECTED).
up() {
    local name=$1
    shift
    pcs "$@"
    if wait_for 15 ready_with 1; then
        ok "$name: UP"
    else
        fail "$name: not ready: $(readyz_now)"
        recent
    fi
}

# verify_failed NAME PHRASE ENV...: with ENV the daemon stays not ready
# because the server's certificate does not verify: /readyz says
# "redis: TLS: certificate verify failed: PHRASE (HOST:PORT)" (PHRASE,
# OpenSSL's, matched without case), the log says it too, and no
# connection was ever taken as made.
verify_failed() {
    local name=$1 phrase=$2 body
    shift 2
    pcs "$@"
    if ! wait_for 15 readyz_like "503 *\"reason\":\"$VERIFY_FAILED *"; then
        fail "$name: /readyz does not say '$VERIFY_FAILED': $(readyz_now)"
        recent
        stop_pcs
        return
    fi
    body=$(http GET /readyz)
    ok "$name: not ready: $body"
    readyz_down && ok "$name: 503 DOWN, Redis DISCONNECTED" || fail "$name: /readyz: $(http GET /readyz)"
    printf '%s\n' "$body" | grep -Fiq -- "$VERIFY_FAILED $phrase" \
        && ok "$name: the reason is OpenSSL's '$phrase'" \
        || fail "$name: the reason is not '$phrase': $body"
    printf '%s\n' "$body" | grep -Eq -- "[ (]\[?[^ ()]+\]?:${REDIS_PORT}([ )\"]|\$)" \
        && ok "$name: the reason names the server (host:$REDIS_PORT)" \
        || fail "$name: the reason does not name host:$REDIS_PORT: $body"
    if wait_for 5 eval 'since | grep -Fq -- "$VERIFY_FAILED"'; then
        ok "$name: logged '$VERIFY_FAILED'"
        since | grep -F -- "$VERIFY_FAILED" | grep -Fiq -- "$phrase" \
            && ok "$name: logged '$phrase'" || { fail "$name: '$phrase' not logged"; recent; }
    else
        fail "$name: '$VERIFY_FAILED' not logged"
        recent
    fi
    expect "$name: never connected" "$(since | grep -c 'redis: connected to')" 0
    stop_pcs
}

TLS=(REDIS_TLS=true "REDIS_TLS_CA_FILE=$CERTS/ca.crt")

# --- (a) TLS with the host name checked.
start_redis_tls "$CERTS/server.crt" "$CERTS/server.key"
[ "$(timeout 10 redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] \
    && fail "(a) the server answers plain TCP: the test proves nothing" \
    || ok "(a) the server speaks TLS only (plain redis-cli is refused)"
up "(a) REDIS_HOST=localhost" REDIS_HOST=localhost "${TLS[@]}"
sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null || die "(a) cannot send"
wait_for 20 queue_is "0 0" || fail "(a) queue not settled: $(sqs count "$SQS_URL")"
expect "(a) written over TLS" "$(redis_cli GET 'production:c_acme#timestamp')" 1763150385133
redis_cli CLIENT LIST | grep -q ' name=persistent-cache-service:' \
    && ok "(a) the daemon's connection is named (CLIENT LIST over TLS)" \
    || fail "(a) no connection named persistent-cache-service: in: $(redis_cli CLIENT LIST)"
stop_pcs

# --- (b) An address: the certificate's IP address is checked.
up "(b) REDIS_HOST=127.0.0.1" REDIS_HOST=127.0.0.1 "${TLS[@]}"
stop_pcs
# The CA from a hashed directory instead of a file.
up "(b) REDIS_TLS_CA_DIR" REDIS_HOST=localhost REDIS_TLS=true "REDIS_TLS_CA_DIR=$CERTS/cadir"
stop_pcs

# --- (c) The wrong CA.  This server sends its CA along with its
# certificate (OpenSSL completes the chain from its trust store): a root
# the client does not trust.
verify_failed "(c) wrong CA, root sent" "self-signed certificate in certificate chain" \
    REDIS_HOST=localhost REDIS_TLS=true "REDIS_TLS_CA_FILE=$CERTS/other-ca.crt"

# --- (g) rediss:// alone: TLS without REDIS_TLS.
PCS_WRAP="env -u REDIS_HOST -u REDIS_PORT" up "(g) REDIS_URL=rediss://" \
    "REDIS_URL=rediss://localhost:$REDIS_PORT/0" "REDIS_TLS_CA_FILE=$CERTS/ca.crt"
stop_pcs

# --- (h) No TLS against the TLS port: not ready, named, no crash, and the
# consumer is the same one through the reconnects.
reconnects() { [ "$(since | grep -c 'redis: reconnecting in')" -ge "$1" ]; }
pcs REDIS_HOST=127.0.0.1
if wait_for 15 readyz_like "503 *\"reason\":\"redis: *127.0.0.1:$REDIS_PORT*(a TLS port? see REDIS_TLS)*"; then
    ok "(h) plain TCP to a TLS port: not ready, the reason suggests TLS: $(http GET /readyz)"
else
    fail "(h) plain TCP to a TLS port: /readyz: $(readyz_now)"
    recent
fi
wait_for 5 eval '[ -n "$(consumers)" ]' || fail "(h) no consumer running"
before=$(consumers)
n=$(since | grep -c 'redis: reconnecting in')
wait_for 15 reconnects $((n + 2)) || fail "(h) no reconnects"
readyz_down && ok "(h) still not ready after two more attempts" || fail "(h) /readyz: $(http GET /readyz)"
expect "(h) the consumer was kept" "$(consumers)" "$before"
kill -0 "$PCS_PID" 2>/dev/null && ok "(h) the daemon is running" || fail "(h) the daemon exited"
stop_pcs
stop_redis

# --- (j) TLS against a plain port: Redis reads the ClientHello as the
# start of a command and waits; the connect timeout names the handshake.
start_redis
pcs REDIS_HOST=127.0.0.1 REDIS_TLS=true "REDIS_TLS_CA_FILE=$CERTS/ca.crt"
if wait_for 15 readyz_like "503 *\"reason\":\"redis: TLS: no handshake within *(is the server speaking TLS on this port?); connecting to 127.0.0.1:$REDIS_PORT\"*"; then
    ok "(j) TLS to a plain port: not ready, the handshake named: $(http GET /readyz)"
else
    fail "(j) TLS to a plain port: /readyz: $(readyz_now)"
    recent
fi
stop_pcs
stop_redis

# --- (c) again: a server that sends its certificate alone (its own trust
# store lacks the issuer): no issuer the client knows.
start_redis_tls "$CERTS/server.crt" "$CERTS/server.key" --tls-ca-cert-file "$CERTS/other-ca.crt"
verify_failed "(c) wrong CA, certificate alone" "unable to get local issuer certificate" \
    REDIS_HOST=localhost REDIS_TLS=true "REDIS_TLS_CA_FILE=$CERTS/other-ca.crt"
stop_redis

# --- (d) An expired certificate.
start_redis_tls "$CERTS/expired.crt" "$CERTS/expired.key"
verify_failed "(d) expired" "certificate has expired" REDIS_HOST=localhost "${TLS[@]}"
# REDIS_TLS_VERIFY=false takes it, and from a CA it does not know either.
up "(d) REDIS_TLS_VERIFY=false" REDIS_HOST=localhost REDIS_TLS=true \
    "REDIS_TLS_CA_FILE=$CERTS/other-ca.crt" REDIS_TLS_VERIFY=false
stop_pcs
stop_redis

# --- (e) A certificate for another name; REDIS_TLS_SERVER_NAME names it.
start_redis_tls "$CERTS/wrong-name.crt" "$CERTS/wrong-name.key"
verify_failed "(e) wrong host name" "hostname mismatch" REDIS_HOST=localhost "${TLS[@]}"
up "(e) REDIS_TLS_SERVER_NAME=wrong.example" REDIS_HOST=localhost "${TLS[@]}" \
    REDIS_TLS_SERVER_NAME=wrong.example
stop_pcs
stop_redis

# --- (f) Mutual TLS: the server refuses a client without a certificate.
start_redis_tls "$CERTS/server.crt" "$CERTS/server.key" --tls-auth-clients yes
[ "$(timeout 10 redis-cli -p "$REDIS_PORT" --tls --cacert "$CERTS/ca.crt" ping 2>/dev/null)" = PONG ] \
    && fail "(f) the server takes a client without a certificate: the test proves nothing" \
    || ok "(f) the server asks for a client certificate"
up "(f) client certificate" REDIS_HOST=localhost "${TLS[@]}" \
    "REDIS_TLS_CERT_FILE=$CERTS/client.crt" "REDIS_TLS_KEY_FILE=$CERTS/client.key"
stop_pcs
PASS=$(cat "$CERTS/client-enc.pass")
up "(f) encrypted key and REDIS_TLS_KEY_PASSPHRASE" REDIS_HOST=localhost "${TLS[@]}" \
    "REDIS_TLS_CERT_FILE=$CERTS/client.crt" "REDIS_TLS_KEY_FILE=$CERTS/client-enc.key" \
    "REDIS_TLS_KEY_PASSPHRASE=$PASS"
case "$(http GET /readyz)" in *"$PASS"*) fail "(f) the passphrase is on /readyz" ;; *) ok "(f) no passphrase on /readyz" ;; esac
stop_pcs
# No certificate: TLS 1.3 ends the handshake before the server has checked
# it, so the refusal comes as an alert ("certificate required") after it.
reason_says() { readyz_down && printf '%s\n' "$(http GET /readyz)" | grep -iq 'TLS' &&
    printf '%s\n' "$(http GET /readyz)" | grep -iq 'certificate'; }
pcs REDIS_HOST=localhost "${TLS[@]}"
if wait_for 15 reason_says; then
    ok "(f) no client certificate: not ready, the reason says TLS and certificate: $(http GET /readyz)"
else
    fail "(f) no client certificate: /readyz: $(readyz_now)"
    recent
fi
expect "(f) no client certificate: never ready" "$(since | grep -c 'is ready$')" 0
stop_pcs
stop_redis
grep -qF -- "$PASS" "$PCS_LOG" && fail "(f) the passphrase is in the log" || ok "(f) no passphrase in the log"

# --- (i) -t checks the files.
tcheck() {
    env -i PATH="$PATH" QUEUE_URL=http://127.0.0.1:9/000000000000/q AWS_REGION=us-east-1 \
        REDIS_TLS=true "$@" "$PCS_BIN" -t -c /dev/null 2>&1
}
out=$(tcheck "REDIS_TLS_CA_FILE=$CERTS/ca.crt"); rc=$?
expect "(i) -t with the CA file: exit status ($out)" "$rc" 0
out=$(tcheck "REDIS_TLS_CA_FILE=$WORK/no-such-ca.crt"); rc=$?
expect "(i) -t with a missing CA file: exit status ($out)" "$rc" 78
expect "(i) -t with a missing CA file: one line" "$(printf '%s\n' "$out" | wc -l)" 1
case "$out" in
*REDIS_TLS_CA_FILE*"$WORK/no-such-ca.crt"*) ok "(i) the line names REDIS_TLS_CA_FILE and the file: $out" ;;
*) fail "(i) the line does not name REDIS_TLS_CA_FILE and $WORK/no-such-ca.crt: $out" ;;
esac
# The key's passphrase: right, the configuration is OK; wrong, the key
# file is named, and no passphrase is shown.
KEYS=("REDIS_TLS_CA_FILE=$CERTS/ca.crt" "REDIS_TLS_CERT_FILE=$CERTS/client.crt"
    "REDIS_TLS_KEY_FILE=$CERTS/client-enc.key")
out=$(tcheck "${KEYS[@]}" "REDIS_TLS_KEY_PASSPHRASE=$PASS"); rc=$?
expect "(i) -t with the encrypted key and its passphrase: exit status ($out)" "$rc" 0
out=$(tcheck "${KEYS[@]}" "REDIS_TLS_KEY_PASSPHRASE=wrong-$PASS"); rc=$?
expect "(i) -t with a wrong passphrase: exit status ($out)" "$rc" 78
case "$out" in
*"$PASS"*) fail "(i) -t shows the passphrase" ;;
*"$CERTS/client-enc.key: bad decrypt"*) ok "(i) a wrong passphrase names the key file and OpenSSL's reason, not the passphrase: $out" ;;
*) fail "(i) a wrong passphrase does not name $CERTS/client-enc.key and 'bad decrypt': $out" ;;
esac
# No passphrase for the encrypted key, and a key that is not the
# certificate's: OpenSSL's reason, and what to do.
out=$(tcheck "${KEYS[@]}"); rc=$?
expect "(i) -t without the passphrase: exit status ($out)" "$rc" 78
case "$out" in
*"bad decrypt (an encrypted key: set redis_tls_key_passphrase)"*) ok "(i) no passphrase: $out" ;;
*) fail "(i) no passphrase: the line does not say so: $out" ;;
esac
out=$(tcheck "REDIS_TLS_CERT_FILE=$CERTS/client.crt" "REDIS_TLS_KEY_FILE=$CERTS/server.key"); rc=$?
expect "(i) -t with another certificate's key: exit status ($out)" "$rc" 78
case "$out" in
*"$CERTS/server.key: key values mismatch"*) ok "(i) another certificate's key: $out" ;;
*) fail "(i) another certificate's key: the line does not say so: $out" ;;
esac

# --- (k) A reload whose TLS file cannot be used is refused as a whole,
# and the consumers go on with the configuration they have.
start_redis_tls "$CERTS/server.crt" "$CERTS/server.key"
printf 'redis_tls = true;\nredis_tls_ca_file = "%s";\n' "$CERTS/ca.crt" >"$WORK/tls.conf"
mark_log
CONSUMERS=1 REDIS_HOST=localhost start_pcs -c "$WORK/tls.conf"
wait_for 15 ready_with 1 && ok "(k) TLS from the file: UP" || fail "(k) TLS from the file: $(readyz_now)"
before=$(consumers)
printf 'redis_tls = true;\nredis_tls_ca_file = "%s";\n' "$WORK/gone-ca.crt" >"$WORK/tls.conf"
kill -HUP "$PCS_PID"
if wait_for 10 eval 'since | grep -Fq "reload: redis_tls_ca_file (REDIS_TLS_CA_FILE) $WORK/gone-ca.crt: No such file or directory; keeping the current configuration"'; then
    ok "(k) the reload is refused, naming the file"
else
    fail "(k) no refusal of the reload"
    recent
fi
ready_with 1 && ok "(k) still UP" || fail "(k) after the reload: $(readyz_now)"
expect "(k) the consumer was kept" "$(consumers)" "$before"
stop_pcs
stop_redis

# --- (l) Sentinel over TLS: a sentinel on a TLS port only, watching the
# TLS primary over TLS; the daemon asks it over TLS (its certificate
# checked against its host, 127.0.0.1) and connects to the primary it
# names, the certificate checked against that address.
start_redis_tls "$CERTS/server.crt" "$CERTS/server.key"
SP=$(free_port)
mkdir -p "$WORK/sentinel"
cat >"$WORK/sentinel/sentinel.conf" <<EOF
port 0
tls-port $SP
bind 127.0.0.1
dir $WORK/sentinel
logfile $WORK/sentinel.log
tls-cert-file $CERTS/server.crt
tls-key-file $CERTS/server.key
tls-ca-cert-file $CERTS/ca.crt
tls-auth-clients no
tls-replication yes
sentinel monitor m 127.0.0.1 $REDIS_PORT 1
EOF
redis-server "$WORK/sentinel/sentinel.conf" --sentinel &
HELPER_PIDS="$HELPER_PIDS $!"
sentinel_pong() { [ "$(redis-cli -p "$SP" "${REDIS_CLI_TLS[@]}" ping 2>/dev/null)" = PONG ]; }
wait_for 10 sentinel_pong || die "(l) the TLS sentinel did not start on $SP"
redis-cli -p "$SP" ping >/dev/null 2>&1 && fail "(l) the sentinel answers plain TCP"
PCS_WRAP="env -u REDIS_HOST -u REDIS_PORT" up "(l) Sentinel over TLS" \
    "REDIS_SENTINELS=127.0.0.1:$SP" REDIS_SENTINEL_MASTER=m REDIS_TLS=true \
    "REDIS_TLS_CA_FILE=$CERTS/ca.crt"
since | grep -q "redis: connected to 127.0.0.1:$REDIS_PORT db 0 (master 'm')" \
    && ok "(l) connected to the primary the sentinel named" \
    || { fail "(l) not connected to the primary at $REDIS_PORT"; recent; }
stop_pcs
stop_redis

# --- Nothing crashed or restarted, at any step.
expect "no consumer crashed or was restarted" \
    "$(grep -Ec 'killed by signal|crash storm|restarting consumer' "$PCS_LOG")" 0
finish
