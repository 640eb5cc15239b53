# Shared helpers for the integration tests: a real redis-server on a free
# loopback port, the daemon under test, HTTP through curl, and polling
# with deadlines (never a bare sleep-and-hope).  Sourced by each test;
# an EXIT trap stops everything the test started and fails the test if
# any process of the daemon outlives it.
set -u

: "${PCS_BIN:?PCS_BIN must name the daemon binary (make check sets it)}"
. "${PCS_SRCDIR:-.}/tests/integration/assert.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcs-$TEST_NAME.XXXXXX")
PCS_LOG=$WORK/pcs.log
PCS_PID=
REDIS_PID=
REDIS_PORT=
SQS_PID=
SQS_PORT=
SQS_URL=
HTTP_PORT=
ALL_PIDS=
HELPER_PIDS=	# other servers a test starts (fake Edge API...): stopped at exit
# The AWS keys the SQS emulator and fake-aws.js share: fake-aws appends
# each credential it issues, "AKID SECRET TOKEN EXPIRES_EPOCH_MS" a line,
# and the emulator accepts it until it expires (a test may append too).
KEYS_FILE=$WORK/aws-keys
FAKE_AWS_PORT=
FAKE_AWS_URL=
PROXY_PORT=
PROXY_URL=

command -v redis-server >/dev/null || { echo "SKIP: redis-server missing"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v node >/dev/null || { echo "SKIP: node missing"; exit 77; }
# The npm packages the tests use (package.json): from the source tree, or
# from PCS_NODE_MODULES when the tree is a release tarball (make distcheck).
export NODE_PATH="${PCS_NODE_MODULES:-$PCS_SRCDIR/node_modules}"
for npm_pkg in local-aws-sqs @smithy/signature-v4 @smithy/hash-node; do
    [ -d "$NODE_PATH/$npm_pkg" ] || { echo "SKIP: npm package $npm_pkg missing (run npm ci)"; exit 77; }
done
SUPPORT=$PCS_SRCDIR/tests/support

show_log() { [ -f "$PCS_LOG" ] && { echo "---- daemon log"; tail -n 80 "$PCS_LOG"; echo "----"; }; }

# A TCP port nobody listens on, reserved for this test: tests run in
# parallel, so each port is claimed with an atomic mkdir (released at
# exit).  Ports come from below Linux's ephemeral range (32768-60999),
# where outgoing connections would take them from under us.
# free_port runs in $(...), so the claims are listed in a file, and a
# claim left by a test that was killed is taken back after an hour.
PORT_DIR=${TMPDIR:-/tmp}/pcs-test-ports
mkdir -p "$PORT_DIR"
find "$PORT_DIR" -mindepth 1 -maxdepth 1 -mmin +60 -exec rmdir {} + 2>/dev/null
free_port() {
    local p
    while :; do
        p=$((10000 + RANDOM % 22000))
        mkdir "$PORT_DIR/$p" 2>/dev/null || continue
        echo "$p" >>"$WORK/ports"
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_for() {
    local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

start_redis() {
    [ -n "$REDIS_PORT" ] || REDIS_PORT=$(free_port)
    REDIS_CLI_TLS=()
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" "$@" &
    REDIS_PID=$!
    # redis-cli exits 0 on "LOADING ..." too: wait for the answer itself.
    wait_for 10 redis_pong || die "redis-server did not start on $REDIS_PORT"
}

stop_redis() {
    [ -n "$REDIS_PID" ] || return 0
    kill "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=
}

# TLS: make_certs makes tests/support/mkcerts.sh's certificates in $CERTS
# (or skips the test without openssl); start_redis_tls CERT KEY [ARGS...]
# runs redis-server with TLS only (no plain port: REDIS_PORT is the TLS
# port) on 127.0.0.1 (and ::1 where there is one: "localhost" may be
# either), CERT and KEY (absolute paths) its certificate, $CERTS/ca.crt
# the CA of the client certificates it asks for only when ARGS say
# --tls-auth-clients yes (a later --tls-... in ARGS wins).  redis_cli then
# speaks TLS, with the test CA's client certificate; stop_redis stops it.
CERTS=$WORK/certs
REDIS_CLI_TLS=()
make_certs() {
    command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
    sh "$SUPPORT/mkcerts.sh" "$CERTS" || die "cannot make the test certificates"
}
start_redis_tls() {
    local cert=$1 key=$2
    shift 2
    [ -n "$REDIS_PORT" ] || REDIS_PORT=$(free_port)
    REDIS_CLI_TLS=(--tls --cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key")
    redis-server --port 0 --tls-port "$REDIS_PORT" --bind '127.0.0.1 -::1' \
        --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" \
        --tls-cert-file "$cert" --tls-key-file "$key" \
        --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients no "$@" &
    REDIS_PID=$!
    # Serving, whatever its certificate is worth (expired...): --insecure.
    wait_for 10 redis_pong --insecure || die "redis-server (TLS) did not start on $REDIS_PORT"
}

redis_cli() { redis-cli -p "$REDIS_PORT" "${REDIS_CLI_TLS[@]}" "$@"; }
# Serving: PONG (or NOAUTH, with a password), not "LOADING ...".
redis_pong() { case "$(redis_cli "$@" ping 2>/dev/null)" in PONG|NOAUTH*) return 0 ;; esac; return 1; }

# start_sqs [QUEUE-SPEC...]: the SQS emulator on a free port; SQS_URL is the
# last queue's URL (default: one queue "events"); a dead-letter queue is
# named first, before the queue that redrives to it.  It checks every
# request's signature: the key test:test, and those of $KEYS_FILE; each
# refusal is a line "sigv4: rejected REASON AKID" of sqs.err (SQS_ARGS, when
# set, are more options: --region, --key, --clock-offset...).
start_sqs() {
    local spec
    [ $# -gt 0 ] || set -- events
    # SQS_SAME_PORT=1: again on the port of the last start (bench/run.sh).
    [ "${SQS_SAME_PORT-}" = 1 ] && [ -n "${SQS_PORT-}" ] || SQS_PORT=$(free_port)
    set -- $(for spec in "$@"; do printf -- '--queue %s ' "$spec"; done)
    node "$SUPPORT/sqs-emulator.js" --port "$SQS_PORT" --keys-file "$KEYS_FILE" ${SQS_ARGS-} "$@" \
        >"$WORK/sqs.out" 2>"$WORK/sqs.err" &
    SQS_PID=$!
    wait_for 15 grep -qx ready "$WORK/sqs.out" || die "SQS emulator did not start: $(cat "$WORK/sqs.err")"
    SQS_URL=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/sqs.out" | tail -n 1)
}

stop_sqs() {
    [ -n "$SQS_PID" ] || return 0
    kill "$SQS_PID" 2>/dev/null
    wait "$SQS_PID" 2>/dev/null
    SQS_PID=
}

sqs() { node "$SUPPORT/sqs.js" "$@"; }
# The emulator's signature refusals so far, one a line (see start_sqs).
sigv4_rejections() { grep '^sigv4: rejected ' "$WORK/sqs.err" 2>/dev/null; }

# start_fake_aws [ARGS...]: tests/support/fake-aws.js (fake STS, container
# credentials and EC2 IMDSv2; ARGS are its options: --ttl, --key,
# --container-token, --web-identity-token, --require-external-id...) on a
# free port, issuing credentials into $KEYS_FILE, which the SQS emulator
# reads.  FAKE_AWS_URL is its base URL (http://127.0.0.1:N): STS at
# $FAKE_AWS_URL/, container credentials under $FAKE_AWS_URL/container/,
# IMDS under $FAKE_AWS_URL/latest/.  fake_aws_stats prints its counts
# (JSON); fake_aws_fail ENDPOINT N fails the next N requests to sts,
# container or imds with a 500; fake_aws_ttl SECONDS sets the lifetime of
# the credentials it issues next.
start_fake_aws() {
    FAKE_AWS_PORT=$(free_port)
    node "$SUPPORT/fake-aws.js" --port "$FAKE_AWS_PORT" --keys-file "$KEYS_FILE" "$@" \
        >"$WORK/fake-aws.out" 2>"$WORK/fake-aws.err" &
    HELPER_PIDS="$HELPER_PIDS $!"
    wait_for 10 grep -q '^ready http' "$WORK/fake-aws.out" \
        || die "fake-aws did not start: $(cat "$WORK/fake-aws.err")"
    FAKE_AWS_URL=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/fake-aws.out" | tail -n 1)
}
fake_aws_stats() { curl -s -m 5 "$FAKE_AWS_URL/_stats"; }
fake_aws_fail() { curl -s -m 5 -X POST "$FAKE_AWS_URL/_fail?endpoint=$1&count=$2"; }
fake_aws_ttl() { curl -s -m 5 -X POST "$FAKE_AWS_URL/_ttl?seconds=$1"; }

# start_fake_edge KEY: tests/support/fake-edge.js on a free port (EDGE_PORT,
# EDGE_PID), answering requests with X-API-KEY KEY from the files in
# EDGE_DIR ($WORK/edge, made here); edge.out has a line per request.
start_fake_edge() {
    EDGE_DIR=$WORK/edge
    mkdir -p "$EDGE_DIR"
    EDGE_PORT=$(free_port)
    node "$SUPPORT/fake-edge.js" --port "$EDGE_PORT" --dir "$EDGE_DIR" --key "$1" >"$WORK/edge.out" 2>&1 &
    EDGE_PID=$!
    HELPER_PIDS="$HELPER_PIDS $EDGE_PID"
    wait_for 10 grep -q '^ready' "$WORK/edge.out" || die "fake Edge API did not start"
}

# start_proxy [ARGS...]: tests/support/connect-proxy.js (HTTP CONNECT and
# absolute-URI proxying to loopback targets only; ARGS: --auth USER:PASS)
# on a free port; PROXY_URL is http://127.0.0.1:N, and proxy.out has one
# line per request ("CONNECT 127.0.0.1:1234", "POST http://127.0.0.1:1234/").
start_proxy() {
    PROXY_PORT=$(free_port)
    node "$SUPPORT/connect-proxy.js" --port "$PROXY_PORT" "$@" >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
    HELPER_PIDS="$HELPER_PIDS $!"
    wait_for 10 grep -q '^ready http' "$WORK/proxy.out" \
        || die "connect-proxy did not start: $(cat "$WORK/proxy.err")"
    PROXY_URL=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/proxy.out" | tail -n 1)
}

# start_pcs [ARGS...]: run the daemon with the test's environment (and,
# without ARGS, no configuration file: the machine's own is never read).
# PCS_WRAP, when set, is a command (with its words) that runs the daemon,
# the same process: see no_dns.
start_pcs() {
    [ $# -gt 0 ] || set -- -c /dev/null
    [ -n "$HTTP_PORT" ] || HTTP_PORT=$(free_port)
    [ -n "${QUEUE_URL-}" ] || [ -n "$SQS_URL" ] || start_sqs
    env QUEUE_URL="${QUEUE_URL:-$SQS_URL}" \
        AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" \
        AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" \
        AWS_REGION="${AWS_REGION:-us-east-1}" \
        REDIS_HOST="${REDIS_HOST:-127.0.0.1}" REDIS_PORT="$REDIS_PORT" \
        PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 \
        LOG_LEVEL="${LOG_LEVEL:-debug}" \
        ${PCS_WRAP-} "$PCS_BIN" "$@" >>"$PCS_LOG" 2>&1 &
    PCS_PID=$!
    ALL_PIDS="$ALL_PIDS $PCS_PID"
}

# no_dns: a PCS_WRAP under which host names do not resolve, at once and
# without any network: a mount namespace of its own whose resolv.conf names
# a loopback nameserver where nothing listens.
no_dns() {
    printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"
    printf '#!/bin/sh\nmount --bind "%s" /etc/resolv.conf && exec "$@"\n' \
        "$WORK/resolv.conf" >"$WORK/no-dns"
    chmod +x "$WORK/no-dns"
    echo "unshare -m $WORK/no-dns"
}

# start_dead_dns: a nameserver that never answers (tests/support/
# dead-dns.js: reads UDP and TCP, answers nothing) on port 53, the only
# port glibc asks, of a loopback address of this test's own (127.x.y.z:
# tests run in parallel); an address already taken is passed over.  Its
# address is DEAD_DNS_ADDR; its output (one line per query) dead-dns.out.
DEAD_DNS_ADDR=
start_dead_dns() {
    local i pid
    for i in 1 2 3 4 5 6 7 8; do
        DEAD_DNS_ADDR=127.$((RANDOM % 200 + 50)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
        node "$SUPPORT/dead-dns.js" "$DEAD_DNS_ADDR" >"$WORK/dead-dns.out" 2>&1 &
        pid=$!
        wait_for 10 grep -q '^ready\|^busy' "$WORK/dead-dns.out"
        if grep -q '^ready' "$WORK/dead-dns.out"; then
            HELPER_PIDS="$HELPER_PIDS $pid"
            return 0
        fi
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    die "no loopback address free for a nameserver: $(cat "$WORK/dead-dns.out")"
}

# dead_dns: a PCS_WRAP (see no_dns) whose resolv.conf names start_dead_dns's
# nameserver with glibc's patience at its longest: a lookup of a name not
# in /etc/hosts waits 30 s per try, three times, and never gets an answer.
dead_dns() {
    printf 'nameserver %s\noptions timeout:30 attempts:3\n' "$DEAD_DNS_ADDR" \
        >"$WORK/dead-resolv.conf"
    printf '#!/bin/sh\nmount --bind "%s" /etc/resolv.conf && exec "$@"\n' \
        "$WORK/dead-resolv.conf" >"$WORK/dead-dns"
    chmod +x "$WORK/dead-dns"
    echo "unshare -m $WORK/dead-dns"
}

# with_hosts FILE: a PCS_WRAP under which FILE is /etc/hosts (bind-mounted:
# rewrite it in place, never rename over it, and the daemon sees the
# change at its next lookup) and nothing else resolves (as no_dns).
with_hosts() {
    printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"
    printf '#!/bin/sh\nmount --bind "%s" /etc/resolv.conf && mount --bind "%s" /etc/hosts && exec "$@"\n' \
        "$WORK/resolv.conf" "$1" >"$WORK/with-hosts"
    chmod +x "$WORK/with-hosts"
    echo "unshare -m $WORK/with-hosts"
}

# start_prometheus CONFIG: Debian's prometheus server (scripts/deps.sh) on
# a free loopback port, PROM_PORT, with the configuration file CONFIG, its
# data in $WORK/prom-data and its log in $WORK/prometheus.log; returns once
# it answers /-/ready.  prom_api PATH [CURL-ARGS...] asks its HTTP API
# (/api/v1/PATH, JSON; -G --data-urlencode "query=..." for a query), and
# prom_query EXPR prints the value of an instant query with one result,
# else nothing.
PROM_PORT=
start_prometheus() {
    command -v prometheus >/dev/null ||
        { echo "SKIP: prometheus missing (Debian package prometheus: scripts/deps.sh)"; exit 77; }
    PROM_PORT=$(free_port)
    mkdir -p "$WORK/prom-data"
    prometheus --config.file="$1" --storage.tsdb.path="$WORK/prom-data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
    HELPER_PIDS="$HELPER_PIDS $!"
    wait_for 30 prom_ready || die "prometheus did not start: $(tail -n 5 "$WORK/prometheus.log")"
}
prom_ready() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROM_PORT/-/ready")" = 200 ]; }
prom_api() {
    local path=$1
    shift
    curl -s -m 5 "$@" "http://127.0.0.1:$PROM_PORT/api/v1/$path"
}
prom_query() {
    prom_api query -G --data-urlencode "query=$1" |
        node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
  try { const r = JSON.parse(s); if (r.status === "success" && r.data.result.length === 1) console.log(r.data.result[0].value[1]); } catch (e) {} })'
}

# The consumers of the running daemon, one pid a line.
consumers() { pgrep -P "$PCS_PID" | sort; }
remember_consumers() { ALL_PIDS="$ALL_PIDS $(consumers | tr '\n' ' ')"; }

# http METHOD PATH: prints "CODE BODY".
http() {
    curl -s -m 5 -X "$1" -o "$WORK/body" -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT$2" >"$WORK/code" 2>/dev/null
    echo "$(cat "$WORK/code") $(cat "$WORK/body" 2>/dev/null)"
}

# Raw bytes to the health port; prints the status line.
http_raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" || return 1
    printf '%b' "$1" >&3
    timeout 5 head -n 1 <&3 | tr -d '\r'
    exec 3<&-
}

readyz_is() { [ "$(http GET /readyz)" = "$1" ]; }
# readyz_like PATTERN: /readyz matches a shell pattern (a 503's reason varies).
readyz_like() { case "$(http GET /readyz)" in $1) return 0 ;; esac; return 1; }
ready_with() { readyz_is "200 {\"status\":\"UP\",\"consumers\":$1,\"redis\":\"CONNECTED\"}"; }


pid_gone() { ! kill -0 "$1" 2>/dev/null; }
# stop_pcs: SIGTERM the daemon and wait (with a deadline) for it to exit.
stop_pcs() { kill -TERM "$PCS_PID" 2>/dev/null; wait_for 15 pid_gone "$PCS_PID" || die "did not stop"; PCS_PID=; }
# mark_log, then since: what the daemon has logged after the mark.
FROM=1
mark_log() { FROM=1; [ -f "$PCS_LOG" ] && FROM=$(( $(wc -l <"$PCS_LOG") + 1 )); }
since() { tail -n +"$FROM" "$PCS_LOG"; }

cleanup() {
    local rc=$? p left=
    [ -n "$PCS_PID" ] && remember_consumers 2>/dev/null
    [ -n "$PCS_PID" ] && kill -TERM "$PCS_PID" 2>/dev/null && wait_for 20 pid_gone "$PCS_PID"
    for p in $ALL_PIDS; do
        if kill -0 "$p" 2>/dev/null && grep -q persistent-cache "/proc/$p/cmdline" 2>/dev/null; then
            left="$left $p"
            kill -KILL "$p" 2>/dev/null
        fi
    done
    for p in $HELPER_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stop_redis
    stop_sqs
    if [ -n "$left" ]; then
        echo "FAIL: processes left behind:$left"
        rc=1
    fi
    [ "$rc" = 0 ] && [ "$FAILS" -gt 0 ] && rc=1
    [ "$rc" != 0 ] && show_log
    for p in $(cat "$WORK/ports" 2>/dev/null); do rmdir "$PORT_DIR/$p" 2>/dev/null; done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT


# json_eq NAME ACTUAL WANTED: the same JSON value (member order aside).
json_eq() {
    if node -e 'const a=process.argv[1],b=process.argv[2];
        require("assert").deepStrictEqual(JSON.parse(a), JSON.parse(b))' "$2" "$3" 2>/dev/null; then
        ok "$1"
    else
        fail "$1: got '$2', want '$3'"
    fi
}

# The queue is settled: nothing visible and nothing in flight.
queue_is() { [ "$(sqs count "$SQS_URL")" = "$1" ]; }
# applied_within SECS: Redis flushed, the example entitlements.updated
# sent, and its key written within SECS (0), or not (1; a send that fails
# dies).
applied_within() {
    redis_cli FLUSHALL >/dev/null
    sqs send "$SQS_URL" "$PCS_SRCDIR/tests/data/examples/entitlements-updated.json" >/dev/null \
        || die "cannot send the example message"
    wait_for "$1" eval '[ -n "$(redis_cli GET production:c_acme#timestamp)" ]'
}

# start_notify: a stand-in for systemd's notification socket at $SOCK
# (set NOTIFY_SOCKET=$SOCK for the daemon); msgs prints what it got, the
# messages alone, one datagram a line (notify.raw has their senders).
start_notify() {
    : "${PCS_NOTIFY_LISTEN:?make check sets PCS_NOTIFY_LISTEN}"
    SOCK=$WORK/notify.sock
    "$PCS_NOTIFY_LISTEN" "$SOCK" >"$WORK/notify.raw" 2>&1 &
    HELPER_PIDS="$HELPER_PIDS $!"
    wait_for 5 test -S "$SOCK" || die "notify-listen did not start"
}
msgs() { cut -d' ' -f2- "$WORK/notify.raw"; }

# The real Stigg SDK reading the test's Redis (tests/support/sdk-read.js).
sdk() { node "$SUPPORT/sdk-read.js" --redis-port "$REDIS_PORT" "$@"; }
# sdk_check NAME JSON JS-EXPRESSION: the expression, with r = the SDK's answer, holds.
sdk_check() {
    if node -e 'const r=JSON.parse(process.argv[1]); if (!(eval(process.argv[2]))) process.exit(1)' "$2" "$3"; then
        ok "$1"
    else
        fail "$1: $3 does not hold for $2"
    fi
}

# oracle_check NAME ORACLE PORT: the Redis at PORT equals the oracle that
# tests/support/workload.js wrote, key by key (the differences shown).
oracle_check() {
    local rc summary out=$WORK/compare.$RANDOM
    node "$SUPPORT/workload.js" compare --oracle "$2" --port "$3" --limit 40 >"$out" 2>&1
    rc=$?
    summary=$(tail -n 1 "$out")
    if [ "$rc" = 0 ]; then
        ok "$1 equals the oracle: $summary"
    else
        sed 's/^/# /' "$out"
        fail "$1 differs from the oracle: $summary"
    fi
}

# Every key under the pattern, sorted, one a line.
redis_keys() { redis_cli --scan --pattern "${1:-*}" | LC_ALL=C sort; }
