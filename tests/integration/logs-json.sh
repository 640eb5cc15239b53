#!/bin/bash
# Logs for pipelines and for Stigg: with log_format json every line of a
# real run (startup, messages applied, rejected messages, a reload, a
# broken reload again and again, shutdown) is one JSON object with time,
# level, process, pid and msg, whatever the text holds; a line about a
# message carries its SQS message id and Stigg's messageId and traceId, a
# rejected message's too.  The answer to each reload is written, however often it
# repeats (check_log tests the collapsing of other repeated errors).
# In text format a rejected message's line names messageId and traceId;
# under the journal a JSON line follows the "<N>" prefix.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs
CONF=$WORK/pcs.conf
printf 'log_format = "json";\n' >"$CONF"
CONSUMERS=2 WAIT_TIME_SECONDS=1 POISON_POLICY=delete start_pcs -c "$CONF"
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"

# Applied: the examples carry messageId and traceId.
sqs send "$SQS_URL" "$EX/entitlements-updated.json" "$EX/measurement-reported.json" >/dev/null
wait_for 15 queue_is "0 0" || die "good messages not settled: $(sqs count "$SQS_URL")"
# Rejected: a customer missing; and, without a type, ids that need escaping
# (quotes, a backslash, UTF-8, a control character that events cleans).
printf '%s' '{"type":"entitlements.updated","messageId":"m-bad-json","traceId":"t-bad-json","entitlementsUpdatedAt":"2025-11-14T19:59:45.133Z","entitlements":[]}' >"$WORK/bad1.json"
printf '%s' '{"messageId":"m-\"q\"\\\u00e9\u0001","traceId":"t-bad-2"}' >"$WORK/bad2.json"
sqs send "$SQS_URL" "$WORK/bad1.json" "$WORK/bad2.json" >/dev/null
wait_for 15 queue_is "0 0" || die "bad messages not deleted: $(sqs count "$SQS_URL")"
wait_for 5 grep -q 't-bad-2' "$PCS_LOG" || die "no line for the second bad message"

# A reload, then a broken file, SIGHUP after SIGHUP: each answered.
kill -HUP "$PCS_PID"
wait_for 20 grep -q '"msg":"reload complete' "$PCS_LOG" || die "reload did not complete"
wait_for 10 ready_with 2 || die "not ready after the reload"
printf 'log_format = "json";\nconsumers = ;\n' >"$CONF"
HUPS=12
broken() { grep -c "keeping the current configuration" "$PCS_LOG"; }
for i in $(seq "$HUPS"); do
    kill -HUP "$PCS_PID"
    wait_for 5 eval '[ "$(broken)" -ge "$i" ]' || die "broken reload $i not answered: $(broken) lines"
done
stop_pcs

# Every line one JSON object with the fields; the facts checked in node.
node -e '
const fs = require("fs");
const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(l => l !== "");
const hups = +process.argv[2];
let bad = 0;
const out = [];
const objs = [];
for (const l of lines) {
  let o;
  try { o = JSON.parse(l); } catch (e) { bad++; out.push("not JSON: " + l); continue; }
  objs.push(o);
  const miss = [];
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(o.time)) miss.push("time");
  if (!["error", "warn", "info", "debug"].includes(o.level)) miss.push("level");
  if (!/^(master|consumer [12])$/.test(o.process)) miss.push("process");
  if (!Number.isInteger(o.pid) || o.pid <= 0) miss.push("pid");
  if (typeof o.msg !== "string") miss.push("msg");
  if (miss.length) { bad++; out.push("missing " + miss.join(",") + ": " + l); }
}
const has = (name, f) => { const o = objs.find(f); out.push((o ? "ok " : "FAIL ") + name); return o; };
console.log("lines " + lines.length + " bad " + bad);
has("startup line", o => o.process === "master" && /^persistent-cache-service .* starting/.test(o.msg));
has("consumer ready line", o => /^consumer [12]$/.test(o.process) && o.msg === "ready");
const ap = has("applied line with ids", o => /applied/.test(o.msg) && o.message_id === "m-ent-1" &&
  o.trace_id === "t-1" && o.event === "entitlements.updated" && o.sqs_message_id);
// The measurement may come before its customer is cached: skipped, then.
has("the measurement line with ids", o => / (applied|skipped): /.test(o.msg) &&
  o.message_id === "m-meas-1" && o.trace_id === "t-2");
const r1 = has("rejected line with sqs_message_id, message_id, trace_id", o => o.level === "warn" &&
  /^rejected: customer id is missing; deleted/.test(o.msg) && typeof o.sqs_message_id === "string" &&
  o.sqs_message_id.length > 0 && o.message_id === "m-bad-json" && o.trace_id === "t-bad-json" &&
  o.event === "entitlements.updated");
has("rejected line with escaped ids", o => /^rejected: no type/.test(o.msg) &&
  o.message_id === "m-\"q\"\\\u00e9?" && o.trace_id === "t-bad-2" && o.sqs_message_id && !("event" in o));
has("reload line", o => /^reload complete/.test(o.msg));
has("shutdown line", o => o.msg === "all consumers stopped; exiting");
if (r1 && ap && r1.sqs_message_id === ap.sqs_message_id) out.push("FAIL two messages, one SQS id");
const raw = objs.filter(o => o.level === "error" && / keeping the current configuration$/.test(o.msg));
out.push((raw.length === hups ? "ok " : "FAIL ") + "the broken reload answered " + raw.length + " times for " + hups + " SIGHUPs");
if (objs.some(o => / keeping the current configuration \(repeated/.test(o.msg))) out.push("FAIL a reload answer counted, not written");
console.log(out.join("\n"));
' "$PCS_LOG" "$HUPS" >"$WORK/check.out" 2>&1 || cat "$WORK/check.out"
while read -r line; do
    case "$line" in
    "lines "*" bad 0") ok "every line is a JSON object with time, level, process, pid, msg (${line%% bad*})" ;;
    "lines "*) fail "lines that are not such JSON objects: $line" ;;
    "ok "*) ok "${line#ok }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
    *) fail "$line" ;;
    esac
done <"$WORK/check.out"
[ -s "$WORK/check.out" ] || fail "the check printed nothing"

# Text: the rejected message's line names Stigg's ids after the SQS id.
: >"$PCS_LOG"
HTTP_PORT=
CONSUMERS=1 WAIT_TIME_SECONDS=1 POISON_POLICY=delete start_pcs
wait_for 10 ready_with 1 || die "not ready (text): $(http GET /readyz)"
sqs send "$SQS_URL" "$WORK/bad1.json" >/dev/null
wait_for 15 grep -q 'rejected' "$PCS_LOG" || die "no rejected line (text)"
grep -Eq '\[warn\] consumer 1\[[0-9]+\]: message [^ ]+ \(event m-bad-json, trace t-bad-json\): rejected: customer id is missing; deleted \(poison_policy delete\)$' "$PCS_LOG" \
    && ok "text: the rejected line names the SQS id, messageId and traceId" \
    || fail "text: rejected line: $(grep rejected "$PCS_LOG")"
stop_pcs

# Journal: the "<N>" prefix, then the object (journald takes the prefix).
journal=$WORK/journal.log
: >"$journal"
HTTP_PORT=$(free_port)
JOURNAL_STREAM=$(stat -c '%d:%i' "$journal") LOG_FORMAT=json QUEUE_URL=http://127.0.0.1:9/0/q \
    AWS_REGION=us-east-1 AWS_NO_SIGN_REQUEST=true REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
    PORT="$HTTP_PORT" LISTEN_ADDRESS=127.0.0.1 CONSUMERS=1 "$PCS_BIN" -c /dev/null 2>>"$journal" &
PCS_PID=$!
ALL_PIDS="$ALL_PIDS $PCS_PID"
wait_for 10 grep -q '"msg":"ready"' "$journal" || die "no consumer line under the journal: $(head -n 3 "$journal")"
stop_pcs
if node -e '
const ls = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(l => l);
for (const l of ls) {
  const m = /^<([3467])>(\{.*\})$/.exec(l);
  if (!m) throw new Error("no prefix: " + l);
  const o = JSON.parse(m[2]);
  if ({3: "error", 4: "warn", 6: "info", 7: "debug"}[m[1]] !== o.level) throw new Error("priority: " + l);
}' "$journal"; then
    ok "journal: each line is <N> and a JSON object of that level"
else
    fail "journal lines: $(head -n 3 "$journal")"
fi
finish
