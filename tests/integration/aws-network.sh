#!/bin/bash
# The network between the daemon and AWS, as fleets have it: the queue
# behind HTTPS with a CA of its own (a TLS-inspecting proxy's), reached
# through a CONNECT proxy.  The SQS emulator sits behind
# tests/support/tls-front.js, an HTTPS server with mkcerts.sh's certificate
# for localhost.
# (a) without AWS_CA_BUNDLE the certificate is refused: not ready, and
#     the reason is curl's;
# (b) AWS_CA_BUNDLE=the CA: ready, a message applied;
# (c) HTTPS_PROXY: the requests go through the proxy (its log shows the
#     CONNECT to the queue's host), and a message is applied;
# (d) NO_PROXY naming the queue's host: nothing goes through the proxy.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
make_certs
start_redis
start_sqs
TLS_PORT=$(free_port)
node "$SUPPORT/tls-front.js" --port "$TLS_PORT" --cert "$CERTS/server.crt" \
    --key "$CERTS/server.key" --target "http://127.0.0.1:$SQS_PORT" >"$WORK/front.out" 2>&1 &
HELPER_PIDS="$HELPER_PIDS $!"
wait_for 10 grep -q '^ready' "$WORK/front.out" || die "tls-front did not start: $(cat "$WORK/front.out")"
HTTPS_URL="https://localhost:$TLS_PORT/${SQS_URL#http://*/}"
start_proxy

# pcs ENV...: the daemon on the HTTPS queue URL, one consumer.
pcs() {
    mark_log
    PCS_WRAP="env $*" QUEUE_URL="$HTTPS_URL" CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
}
# applied NAME: a message sent now lands in Redis.
applied() {
    if applied_within 20; then
        ok "$1: a message applied"
    else
        fail "$1: the message was not applied"
        since | tail -n 8
    fi
}

# --- (a) The queue's certificate is from a CA the system does not know.
pcs
if wait_for 20 readyz_like '503 *"reason":"sqs: *SSL certificate problem*'; then
    ok "(a) no AWS_CA_BUNDLE: not ready, curl's reason: $(http GET /readyz)"
else
    fail "(a) no AWS_CA_BUNDLE: /readyz: $(http GET /readyz)"
fi
stop_pcs

# --- (b) AWS_CA_BUNDLE: the queue's CA is trusted.
pcs "AWS_CA_BUNDLE=$CERTS/ca.crt"
wait_for 20 ready_with 1 && ok "(b) AWS_CA_BUNDLE: ready" || fail "(b) AWS_CA_BUNDLE: $(http GET /readyz)"
applied "(b) AWS_CA_BUNDLE"
stop_pcs
grep -q CONNECT "$WORK/proxy.out" && fail "(b) the proxy was used without HTTPS_PROXY"

# --- (c) HTTPS_PROXY: every connection to the queue is tunnelled.
pcs "AWS_CA_BUNDLE=$CERTS/ca.crt" "HTTPS_PROXY=$PROXY_URL"
wait_for 20 ready_with 1 && ok "(c) HTTPS_PROXY: ready" || fail "(c) HTTPS_PROXY: $(http GET /readyz)"
applied "(c) HTTPS_PROXY"
if grep -q "^CONNECT localhost:$TLS_PORT" "$WORK/proxy.out"; then
    ok "(c) the proxy tunnelled to localhost:$TLS_PORT"
else
    fail "(c) no CONNECT localhost:$TLS_PORT in the proxy's log: $(tail -n 3 "$WORK/proxy.out")"
fi
stop_pcs

# --- (d) NO_PROXY: the queue's host is reached directly.
before=$(grep -c '^CONNECT' "$WORK/proxy.out")
pcs "AWS_CA_BUNDLE=$CERTS/ca.crt" "HTTPS_PROXY=$PROXY_URL" NO_PROXY=localhost
wait_for 20 ready_with 1 && ok "(d) NO_PROXY: ready" || fail "(d) NO_PROXY: $(http GET /readyz)"
applied "(d) NO_PROXY"
expect "(d) nothing went through the proxy" "$(grep -c '^CONNECT' "$WORK/proxy.out")" "$before"
stop_pcs
