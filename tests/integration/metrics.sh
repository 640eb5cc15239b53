#!/bin/bash
# GET /metrics and GET /status, seen as Prometheus and an operator see
# them.  A workload of known kinds (entitlements, usage, an ignored type,
# bad messages) through two consumers: the counters equal what was sent;
# a consumer killed with SIGKILL between two halves of it takes nothing
# from the totals (every counter stays >= its value before, and the totals
# still equal the workload at the end); /status names the killed slot's
# restart and its exit.  promtool check metrics passes on the golden file
# of the unit test and on a real scrape, and the real Prometheus server
# (Debian's prometheus, on loopback, its configuration written here)
# scrapes the daemon: a query through its HTTP API returns the applied
# messages equal to the number sent.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

command -v promtool >/dev/null || { echo "SKIP: promtool missing (Debian package prometheus)"; exit 77; }
command -v prometheus >/dev/null || { echo "SKIP: prometheus missing (Debian package prometheus)"; exit 77; }

# The unit test's golden exposition is valid for Prometheus' own parser
# and linter.
if out=$(promtool check metrics <"$PCS_SRCDIR/tests/data/metrics/render.prom" 2>&1); then
    ok "promtool check metrics: the golden file"
else
    fail "promtool check metrics on the golden file: $out"
fi

start_redis
start_sqs
# Short long polls, so a restarted consumer gets going soon; a bad
# message is deleted, so that it is received once and the queue settles.
CONSUMERS=2 WAIT_TIME_SECONDS=1 POISON_POLICY=delete start_pcs
wait_for 20 ready_with 2 || die "not ready: $(http GET /readyz)"

# scrape FILE: GET /metrics into FILE; fails unless 200.
scrape() {
    [ "$(curl -s -m 10 -o "$1" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/metrics")" = 200 ]
}
# value FILE SERIES: the value of the series named exactly (labels included).
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$1"; }
series() { echo "pcs_messages_total{event=\"$1\",outcome=\"$2\"}"; }

# gen TAG FROM TO KIND: one message a line for customers FROM..TO.
gen() {
    node -e '
const [tag, from, to, kind] = [process.argv[1], +process.argv[2], +process.argv[3], process.argv[4]];
const base = Date.UTC(2025, 10, 14);
for (let c = from; c <= to; c++) {
  const id = `${tag}-${c}`;
  if (kind === "entitlements")
    console.log(JSON.stringify({type: "entitlements.updated", messageId: `${id}-e`, customer: {id},
      entitlementsUpdatedAt: new Date(base).toISOString(),
      entitlements: [{feature: {id: "api-calls", featureType: "NUMBER", meterType: "INCREMENTAL"},
        usageLimit: 100, currentUsage: 0}]}));
  else if (kind === "usage")
    console.log(JSON.stringify({type: "MEASUREMENT_REPORTED", customerId: id, featureId: "api-calls",
      currentUsage: c, usageUpdatedAt: base + 100000}));
  else if (kind === "ignored")
    console.log(JSON.stringify({type: "subscription.created", messageId: `${id}-s`, id: `sub-${c}`}));
  else
    console.log(`{"type": "entitlements.updated", "customer": {"id": "${id}"`);
}' "$@"
}

# The workload: the first half grants 30 customers their entitlements, the
# second reports their usage (cached by then, so it is written); each half
# also carries 5 messages of a type the daemon ignores and 5 bad ones.
N=30 NI=5 NB=5
{ gen m 1 $N entitlements; gen m 1 $NI ignored; gen m 1 $NB bad; } >"$WORK/half1"
{ gen m 1 $N usage; gen m $((NI + 1)) $((2 * NI)) ignored; gen m $((NB + 1)) $((2 * NB)) bad; } >"$WORK/half2"

# totals_are E U I B: the counters say the workload so far was handled:
# E entitlements and U usage messages applied, I ignored, B rejected, and
# nothing else happened to any message.
totals_are() {
    local f=$WORK/totals
    scrape "$f" || return 1
    [ "$(value "$f" pcs_messages_received_total)" = $(($1 + $2 + $3 + $4)) ] &&
    [ "$(value "$f" "$(series entitlements applied)")" = "$1" ] &&
    [ "$(value "$f" "$(series usage applied)")" = "$2" ] &&
    [ "$(value "$f" "$(series other ignored)")" = "$3" ] &&
    [ "$(value "$f" "$(series unknown rejected)")" = "$4" ] &&
    [ "$(awk '/^pcs_messages_total\{/ { s += $2 } END { print s + 0 }' "$f")" = $(($1 + $2 + $3 + $4)) ] &&
    [ "$(value "$f" pcs_message_lag_seconds_count)" = $(($1 + $2 + $3)) ]
}
show_totals() {
    grep -E '^pcs_messages_received_total|^pcs_messages_total.* [1-9]|^pcs_message_lag_seconds_count' "$WORK/totals" | tr '\n' ' '
}

sqs send-batch "$SQS_URL" - <"$WORK/half1" >/dev/null || die "sending the first half failed"
wait_for 60 queue_is "0 0" || die "first half not settled: $(sqs count "$SQS_URL")"
if wait_for 30 totals_are $N 0 $NI $NB; then
    ok "first half counted: $N entitlements applied, $NI ignored, $NB rejected, $((2 * NI + N)) received"
else
    die "first half: counters $(show_totals)"
fi

# /status says it too, slot by slot; the victim is the consumer that
# counted most, so the kill has counts to lose.
status=$(http GET /status)
case "$status" in
"200 "*) ok "/status answers 200" ;;
*) die "/status: $status" ;;
esac
sum_received=$(node -e 'const s = JSON.parse(process.argv[1].slice(4));
console.log(s.consumers.reduce((a, c) => a + c.counters.received, 0))' "$status")
expect "/status: the slots' received add up to the workload" "$sum_received" $((N + NI + NB))
read -r vslot victim vcount < <(node -e 'const s = JSON.parse(process.argv[1].slice(4));
const v = s.consumers.slice().sort((a, b) => b.counters.received - a.counters.received)[0];
console.log(v.slot, v.pid, v.counters.received)' "$status")
[ "$vcount" -gt 0 ] || die "no consumer counted anything: $status"
scrape "$WORK/before" || die "scrape failed"
if out=$(promtool check metrics <"$WORK/before" 2>&1); then
    ok "promtool check metrics: a real scrape"
else
    fail "promtool check metrics on a scrape: $out"
fi

# Every counter series, histogram series included, of a scrape.
counters() {
    awk '/^# TYPE / { t[$3] = $4; next }
        /^#/ { next }
        { n = $1; sub(/\{.*/, "", n); f = n; sub(/_(bucket|sum|count)$/, "", f)
          if (t[n] == "counter" || t[f] == "histogram") print $1, $2 }' "$1"
}
counters "$WORK/before" >"$WORK/before.counters"
# never_less FILE: no counter of FILE is below its value before the kill.
never_less() {
    counters "$1" | awk 'NR == FNR { b[$1] = $2; next }
        ($1 in b) && $2 + 0 < b[$1] + 0 { print $1, b[$1], "->", $2; bad = 1 }
        { seen[$1] = 1 }
        END { for (s in b) if (!(s in seen)) { print s, "gone"; bad = 1 }; exit bad }' \
        "$WORK/before.counters" - >"$WORK/backwards"
}

kill -KILL "$victim"
remember_consumers
backwards=0 scrapes=0
replaced() {
    scrape "$WORK/after" && scrapes=$((scrapes + 1)) || return 1
    never_less "$WORK/after" || backwards=1
    ready_with 2 && ! consumers | grep -qx "$victim"
}
wait_for 30 replaced || die "consumer $victim (slot $vslot) not replaced: $(http GET /readyz)"
if [ "$backwards" = 0 ]; then
    ok "no counter went backwards across the kill ($scrapes scrapes, $(wc -l <"$WORK/before.counters") series)"
else
    fail "counters went backwards across the kill: $(cat "$WORK/backwards" | head -5)"
fi
expect "exits by cause: one crash" "$(value "$WORK/after" 'pcs_consumer_exits_total{cause="crash"}')" 1
expect "restarts: one" "$(value "$WORK/after" pcs_consumer_restarts_total)" 1

sqs send-batch "$SQS_URL" - <"$WORK/half2" >/dev/null || die "sending the second half failed"
wait_for 60 queue_is "0 0" || die "second half not settled: $(sqs count "$SQS_URL")"
if wait_for 30 totals_are $N $N $((2 * NI)) $((2 * NB)); then
    ok "the whole workload counted across the kill: $N entitlements and $N usage applied, $((2 * NI)) ignored, $((2 * NB)) rejected"
else
    fail "whole workload: counters $(show_totals)"
fi
scrape "$WORK/end" && never_less "$WORK/end" && ok "every counter at the end >= before the kill" \
    || fail "counters below their value before the kill: $(head -5 "$WORK/backwards")"

# /status: the killed slot restarted once, and says how it ended.
status=$(http GET /status)
slot_field() {
    node -e 'const s = JSON.parse(process.argv[1].slice(4));
const c = s.consumers.find(c => c.slot === +process.argv[2]);
console.log(JSON.stringify(c[process.argv[3]]))' "$status" "$1" "$2"
}
other=$((3 - vslot))
expect "/status: slot $vslot restarted once" "$(slot_field "$vslot" restarts)" 1
expect "/status: slot $vslot's last exit" "$(slot_field "$vslot" last_exit)" '"killed by signal 9"'
expect "/status: slot $vslot runs a new process" "$(slot_field "$vslot" state)" '"ready"'
expect "/status: slot $other never restarted" "$(slot_field "$other" restarts)" 0
expect "/status: slot $other never exited" "$(slot_field "$other" last_exit)" null
expect "/status: UP" "$(node -e 'console.log(JSON.parse(process.argv[1].slice(4)).status)' "$status")" UP
total=$(node -e 'const s = JSON.parse(process.argv[1].slice(4)); const t = {};
for (const c of s.consumers) for (const k in c.counters) t[k] = (t[k] || 0) + c.counters[k];
console.log(JSON.stringify(t))' "$status")
json_eq "/status: the slots' counters add up to the workload" "$total" \
    "{\"received\":$((2 * (N + NI + NB))),\"applied\":$((2 * N)),\"skipped\":0,\"ignored\":$((2 * NI)),\"rejected\":$((2 * NB))}"
hdr=$(curl -s -m 5 -D - -o /dev/null "http://127.0.0.1:$HTTP_PORT/metrics" | tr -d '\r' | grep -i '^content-type:')
expect "/metrics: the text format's content type" "$hdr" "Content-Type: text/plain; version=0.0.4; charset=utf-8"

# The real Prometheus scrapes the daemon every second.
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: persistent-cache-service
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
EOF
start_prometheus "$WORK/prometheus.yml"
applied_is() { [ "$(prom_query 'sum(pcs_messages_total{job="persistent-cache-service",outcome="applied"})')" = "$1" ]; }
if wait_for 60 applied_is $((2 * N)); then
    ok "Prometheus scraped the daemon: sum(pcs_messages_total{outcome=\"applied\"}) = $((2 * N))"
else
    fail "Prometheus query: '$(prom_query 'sum(pcs_messages_total{outcome="applied"})')', want $((2 * N)); up=$(prom_query up); $(tail -n 5 "$WORK/prometheus.log")"
fi
expect "Prometheus: the target is up" "$(prom_query 'up{job="persistent-cache-service"}')" 1
expect "Prometheus: pcs_ready" "$(prom_query pcs_ready)" 1

# A reload replaces both consumers, one at a time: two normal exits, a
# reload counted, and the totals still whole, the last counters of each
# consumer read from its channel before the master closes it.
kill -HUP "$PCS_PID"
rolled() {
    scrape "$WORK/reload" &&
    [ "$(value "$WORK/reload" 'pcs_config_reloads_total{outcome="ok"}')" = 1 ] &&
    [ "$(value "$WORK/reload" 'pcs_consumer_exits_total{cause="normal"}')" = 2 ] &&
    ready_with 2
}
wait_for 60 rolled && ok "reload: counted, both consumers replaced (two normal exits)"     || fail "reload: $(grep -E '^pcs_(config_reloads|consumer_exits)_total' "$WORK/reload" | tr '\n' ' ')"
totals_are $N $N $((2 * NI)) $((2 * NB)) && ok "the totals are whole after the roll"     || fail "after the roll: counters $(show_totals)"
expect "restarts: still one" "$(value "$WORK/totals" pcs_consumer_restarts_total)" 1
stop_pcs

# /status passes a consumer's reason through the redaction of the
# configuration's secrets: here the reason names a Redis host that does not
# resolve, and the host is also the API key.
secret=redis-at-the-api-key.invalid
SERVER_API_KEY=$secret REDIS_HOST=$secret CONSUMERS=1 PCS_WRAP=$(no_dns) start_pcs
last_error() {
    http GET /status | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
  const e = JSON.parse(s.slice(4)).consumers[0].last_error; if (e !== null) console.log(e); })'
}
has_error() { [ -n "$(last_error)" ]; }
if wait_for 30 has_error; then
    err=$(last_error)
    case "$err" in
    *"$secret"*) fail "/status shows the secret: $err" ;;
    *"[redacted]"*) ok "/status: the reason with the secret redacted: $err" ;;
    *) fail "/status: reason not as expected: $err" ;;
    esac
else
    fail "/status: no last_error: $(http GET /status)"
fi
scrape "$WORK/secret" && ! grep -q "$secret" "$WORK/secret" && ok "/metrics: no secret" \
    || fail "/metrics names the secret (or failed)"
finish
