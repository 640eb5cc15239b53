#!/bin/bash
# The monitoring files the packages ship (packaging/monitoring/), checked
# with Debian's prometheus package and against the daemon itself:
# promtool check rules on the alert rules; promtool test rules with
# tests/data/monitoring/rules-test.yml, which fires every alert on
# synthetic series and checks it stays quiet where it should; every
# PromQL expression of the rules and the Grafana dashboard names only
# metrics, labels and label values of the daemon's catalogue
# (tests/data/monitoring/metrics.txt) and parses; the dashboard is JSON
# with its data source and instance variables and the panels the README
# lists.  Then the real parts: the daemon's GET /metrics renders exactly
# what metrics.txt lists, both ways (families, types, label names, label
# values); the scrape snippet, added to a prometheus.yml with its target
# rewritten to the daemon and to a port nobody listens on, passes promtool
# check config, and a real prometheus scrapes with it and evaluates the
# rules every second: while the daemon is ready no alert is ever pending
# or firing but PcsDown for the dead target; every dashboard expression
# evaluates without error on the scraped data; with Redis stopped,
# PcsNotReady and PcsRedisDisconnected are pending.  About 12 s.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

command -v promtool >/dev/null && command -v prometheus >/dev/null ||
    { echo "SKIP: promtool or prometheus missing (Debian package prometheus: scripts/deps.sh)"; exit 77; }
MON=$PCS_SRCDIR/packaging/monitoring
DATA=$PCS_SRCDIR/tests/data/monitoring
RULES=$MON/persistent-cache-service.rules.yml
DASH=$MON/persistent-cache-service.dashboard.json
SCRAPE=$MON/prometheus-scrape.yml
NAMES=$SUPPORT/promql-names.js
ALERTS="PcsConsumersCrashLooping PcsCredentialsExpiring PcsDown PcsLagHigh PcsMessagesHeld PcsMessagesRejected PcsNotReady PcsRedisDisconnected"

# The rules: valid, the eight alerts, each with a severity, a summary and
# a description, and each fired by the unit tests.
out=$(promtool check rules "$RULES" 2>&1)
case "$out" in
*"SUCCESS: 8 rules found"*) ok "promtool check rules: 8 rules" ;;
*) fail "promtool check rules: $out" ;;
esac
expect "alerts" "$(sed -n 's/^ *- alert: //p' "$RULES" | LC_ALL=C sort | tr '\n' ' ')" "$ALERTS "
expect "groups" "$(sed -n 's/^ *- name: //p' "$RULES")" "persistent-cache-service"
for key in "severity: " "summary: " "description: "; do
    expect "alerts with ${key%: }" "$(grep -c "^ *$key" "$RULES")" 8
done
if out=$(promtool test rules "$DATA/rules-test.yml" 2>&1); then
    ok "promtool test rules"
else
    fail "promtool test rules: $out"
fi
# Every alert has a test case where it fires (exp_alerts) and one where it
# must not (a case without exp_alerts).
awk '/alertname:/ { if (a != "") print a, e; a = $NF; e = "quiet" }
     /exp_alerts:/ { e = "fires" }
     END { if (a != "") print a, e }' "$DATA/rules-test.yml" | LC_ALL=C sort -u >"$WORK/cases"
for a in $ALERTS; do
    grep -qx "$a fires" "$WORK/cases" && grep -qx "$a quiet" "$WORK/cases" &&
        ok "rules-test: $a fires and stays quiet" || fail "rules-test: $a lacks a firing or a quiet case"
done

# The rules' expressions (one a line in the file) name only the daemon's
# metrics, and Prometheus' own up.
sed -n 's/^ *expr: //p' "$RULES" >"$WORK/rule-exprs"
expect "rule expressions" "$(wc -l <"$WORK/rule-exprs")" 8
if out=$(node "$NAMES" --allow up "$DATA/metrics.txt" - <"$WORK/rule-exprs"); then
    ok "rules name only the daemon's metrics"
else
    fail "rules: $(grep FAIL <<<"$out")"
fi
# The checker itself catches a misspelt name, label and label value.
printf '%s\n' 'pcs_mesages_total' 'pcs_messages_total{outcome="rejectd"}' \
    'pcs_consumer_exits_total{cause=~"crash|hang"}' 'sum by (kind) (pcs_messages_total)' \
    'pcs_ready{slot="1"}' 'pcs_message_lag_seconds' >"$WORK/bad-exprs"
expect "misspellings caught" "$(node "$NAMES" "$DATA/metrics.txt" - <"$WORK/bad-exprs" | grep -c '^FAIL')" 6

# The dashboard: JSON, for a Grafana of schema 39, its data source a
# variable, an instance variable, every panel on that data source and
# with a query, and the panels the README names.
if out=$(node - "$DASH" <<'EOF' 2>&1
const d = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const bad = [];
const want = ['Messages/s by outcome', 'End-to-end lag', 'Processing time',
  'Consumers ready vs configured', 'Messages in hand / held', 'SQS requests/s by outcome',
  'SQS request latency', 'Redis errors/s', 'Edge refills/s', 'AWS credentials expiry',
  'Consumer exits by cause'];
if (d.schemaVersion !== 39) bad.push(`schemaVersion ${d.schemaVersion}`);
if (d.uid !== 'persistent-cache-service') bad.push(`uid ${d.uid}`);
const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
if (!vars.DS_PROMETHEUS || vars.DS_PROMETHEUS.type !== 'datasource' || vars.DS_PROMETHEUS.query !== 'prometheus')
  bad.push('no DS_PROMETHEUS data source variable');
if (!vars.instance || vars.instance.type !== 'query' || !vars.instance.multi || !vars.instance.includeAll)
  bad.push('no multi-value instance variable');
const titles = new Set();
for (const p of d.panels) {
  titles.add(p.title);
  const dss = [p.datasource, ...(p.targets || []).map((t) => t.datasource)];
  if (dss.some((ds) => !ds || ds.type !== 'prometheus' || ds.uid !== '${DS_PROMETHEUS}'))
    bad.push(`panel "${p.title}": not on \${DS_PROMETHEUS}`);
  if (!p.targets || p.targets.length === 0 || p.targets.some((t) => !t.expr))
    bad.push(`panel "${p.title}": no query`);
  else if (p.targets.some((t) => !t.expr.includes('instance=~"$instance"')))
    bad.push(`panel "${p.title}": a query ignores $instance`);
  if (new Set(p.targets.map((t) => t.refId)).size !== p.targets.length)
    bad.push(`panel "${p.title}": refIds repeat`);
}
for (const t of want) if (!titles.has(t)) bad.push(`no panel "${t}"`);
if (new Set(d.panels.map((p) => p.id)).size !== d.panels.length) bad.push('panel ids repeat');
if (bad.length) { console.log(bad.join('\n')); process.exit(1); }
console.log(`${d.panels.length} panels`);
EOF
); then
    ok "dashboard: $out"
else
    fail "dashboard: $out"
fi
if out=$(node "$NAMES" "$DATA/metrics.txt" "$DASH"); then
    ok "dashboard names only the daemon's metrics ($(grep -c '^ok' <<<"$out") expressions)"
else
    fail "dashboard: $(grep FAIL <<<"$out")"
fi
# Its expressions parse: promtool reads them as recording rules.
node "$NAMES" --dump "$DASH" >"$WORK/dash-rules.yml"
n=$(grep -c '^ *- record: ' "$WORK/dash-rules.yml")
out=$(promtool check rules "$WORK/dash-rules.yml" 2>&1)
case "$out" in
*"SUCCESS: $n rules found"*) ok "dashboard expressions parse ($n)" ;;
*) fail "dashboard expressions: $out" ;;
esac

# The daemon itself, one consumer (short long polls, so that it stops
# soon).  A consumer that has just become ready says so with its gauges:
# the first scrape that says pcs_ready 1 says pcs_redis_connected 1 too.
start_redis
start_sqs
CONSUMERS=1 WAIT_TIME_SECONDS=1 start_pcs
PCS=127.0.0.1:$HTTP_PORT
first_ready() {
    curl -s -m 5 -o "$WORK/first" "http://$PCS/metrics" && grep -qx 'pcs_ready 1' "$WORK/first"
}
wait_for 20 first_ready || die "/metrics never said ready: $(http GET /readyz)"
expect "the first ready scrape: Redis connected" "$(grep '^pcs_redis_connected ' "$WORK/first")" "pcs_redis_connected 1"
wait_for 20 ready_with 1 || die "not ready: $(http GET /readyz)"

# What it renders is the list, both ways: every family (a histogram by
# its base name) with its type, its label names and every value of a
# closed label.  The checker catches a family missing, one too many, a
# label value renamed, an extra label and a sample of no family.
curl -s -m 5 -o "$WORK/scrape" "http://$PCS/metrics" || die "scrape failed"
if out=$(node "$NAMES" --exposition "$DATA/metrics.txt" "$WORK/scrape"); then
    ok "GET /metrics renders exactly metrics.txt ($(grep -c '^ok' <<<"$out") families)"
else
    fail "GET /metrics against metrics.txt: $(grep FAIL <<<"$out")"
fi
{
    grep -v 'pcs_messages_released_total' "$WORK/scrape" |
        sed -e 's/outcome="rejected"/outcome="refused"/' -e 's/^pcs_ready 1$/pcs_ready{slot="1"} 1/'
    printf '# TYPE pcs_extra_total counter\npcs_extra_total 0\npcs_orphan 1\n'
} >"$WORK/bad-scrape"
expect "exposition differences caught" \
    "$(node "$NAMES" --exposition "$DATA/metrics.txt" "$WORK/bad-scrape" | grep -c '^FAIL')" 5

# The scrape snippet: the job the rules watch, on the default port; added
# to a prometheus.yml beside a copy of the rules, as the README says,
# promtool check config passes and reads the rules.  Its one target is
# rewritten to two: the daemon, and a port nobody listens on.
expect "scrape job" "$(sed -n 's/^ *- job_name: //p' "$SCRAPE")" "persistent-cache-service"
expect "rules' job" "$(grep -o 'up{job="[^"]*"}' "$RULES")" 'up{job="persistent-cache-service"}'
expect "metrics_path" "$(sed -n 's/^ *metrics_path: //p' "$SCRAPE")" "/metrics"
expect "target" "$(sed -n 's/^ *- \(localhost:[0-9]*\)$/\1/p' "$SCRAPE")" "localhost:4000"
rules_line=$(sed -n 's/^ *- \(.*\.rules\.yml\)$/\1/p' "$SCRAPE")
expect "rule_files line" "$rules_line" "/etc/prometheus/persistent-cache-service.rules.yml"
mkdir "$WORK/prom"
cp "$RULES" "$WORK/prom/"
DOWN=127.0.0.1:$(free_port)
{
    printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
    printf 'alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: []\n'
    sed -e "s|$rules_line|$WORK/prom/persistent-cache-service.rules.yml|" \
        -e "s|^\( *\)- localhost:4000$|\1- $PCS\n\1- $DOWN|" "$SCRAPE"
} >"$WORK/prom/prometheus.yml"
expect "targets" "$(grep -c "^ *- \($PCS\|$DOWN\)$" "$WORK/prom/prometheus.yml")" 2
out=$(promtool check config "$WORK/prom/prometheus.yml" 2>&1)
case "$out" in
*"is valid prometheus config file syntax"*"SUCCESS: 8 rules found"*) ok "promtool check config with the snippet" ;;
*) fail "promtool check config: $out" ;;
esac

# A real prometheus on loopback with that configuration, rules evaluated
# every second.
start_prometheus "$WORK/prom/prometheus.yml"
# rules_state: the alerting rules' "name health" pairs and the alerts' "name state instance".
rules_state() {
    prom_api rules | node -e '
        let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
          for (const g of JSON.parse(s).data.groups) for (const r of g.rules) {
            console.log(`rule ${g.name} ${r.name} ${r.health} ${r.lastError || ""}`);
            for (const a of r.alerts || []) console.log(`alert ${r.name} ${a.state} ${a.labels.instance}`);
          }
        });'
}
# results EXPR: an instant query's results, "{labels} value" a line.
results() {
    prom_api query -G --data-urlencode "query=$1" | node -e '
        let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
          const r = JSON.parse(s);
          if (r.status !== "success") { console.log(`error ${r.error}`); process.exit(1); }
          for (const x of r.data.result) console.log(JSON.stringify(x.metric), x.value[1]);
        });'
}
# evaluated_since T: the group was last evaluated after T (Prometheus' clock, seconds).
evaluated_since() {
    prom_api rules | node -e '
        let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
          const g = JSON.parse(s).data.groups.find((g) => g.name === "persistent-cache-service");
          const t = Date.parse(g.lastEvaluation.replace(/(\.\d{3})\d*/, "$1")) / 1000;
          process.exit(t > +process.argv[1] ? 0 : 1);
        });' "$1"
}
scraped_ready() { [ "$(prom_query "count_over_time(pcs_ready{instance=\"$PCS\"}[5m])")" -ge 3 ] 2>/dev/null; }
pending_down() { rules_state | grep -qx "alert PcsDown pending $DOWN"; }

# While the daemon is ready: three scrapes of it, the rules evaluated
# since, PcsDown pending for the target that is down, and no alert at
# all, pending or firing, at any evaluation so far (Prometheus' ALERTS
# series) but PcsDown for that target.
wait_for 30 scraped_ready || die "prometheus did not scrape the daemon: $(results up) $(tail -n 5 "$WORK/prometheus.log")"
now=$(prom_query 'vector(time())')
wait_for 10 evaluated_since "$now" || die "rules not evaluated since $now: $(rules_state)"
if wait_for 30 pending_down; then
    ok "prometheus: PcsDown pending for the target that is down"
else
    fail "prometheus: PcsDown never pending: $(rules_state) $(tail -n 5 "$WORK/prometheus.log")"
fi
rules_state >"$WORK/prom/state"
expect "prometheus: rules loaded" "$(grep -c '^rule persistent-cache-service ' "$WORK/prom/state")" 8
expect "prometheus: rules evaluated, healthy" "$(grep -c '^rule persistent-cache-service [A-Za-z]* ok $' "$WORK/prom/state")" 8
expect "prometheus: the daemon was ready at every scrape" \
    "$(prom_query "min_over_time(pcs_ready{instance=\"$PCS\"}[5m]) + min_over_time(pcs_redis_connected{instance=\"$PCS\"}[5m])")" 2
expect "prometheus: ALERTS records PcsDown pending for the dead target" \
    "$(results 'count_over_time(ALERTS{alertname="PcsDown",alertstate="pending"}[5m])' | grep -c "\"instance\":\"$DOWN\"")" 1
expect "prometheus: no alert while ready (ALERTS)" \
    "$(results "count_over_time(ALERTS{alertname!=\"PcsDown\"}[5m]) or count_over_time(ALERTS{instance!=\"$DOWN\"}[5m])")" ""

# Every expression of the dashboard, for the daemon's instance, is
# evaluated without error or warning; the only empty results are the
# credentials' expiry, absent with keys that never expire; and the
# instance variable's label_values() lists the daemon.
node "$NAMES" --queries "$DASH" "$PCS" >"$WORK/dash-queries"
if out=$(node - "http://127.0.0.1:$PROM_PORT" "$WORK/dash-queries" <<'EOF' 2>&1
const [base, file] = process.argv.slice(2);
const exprs = require('fs').readFileSync(file, 'utf8').split('\n').filter(Boolean);
(async () => {
  const bad = [];
  let filled = 0;
  for (const e of exprs) {
    const r = await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(e)}`)).json();
    if (r.status !== 'success') bad.push(`${e}: ${r.errorType} ${r.error}`);
    else if (r.warnings) bad.push(`${e}: warnings ${r.warnings.join('; ')}`);
    else if (r.data.result.length > 0) filled++;
    else if (!e.includes('pcs_aws_credentials_expiry_seconds')) bad.push(`${e}: empty`);
  }
  if (bad.length) { console.log(bad.join('\n')); process.exit(1); }
  console.log(`${exprs.length} expressions, ${filled} with data`);
})().catch((e) => { console.log(e.message); process.exit(1); });
EOF
); then
    ok "prometheus: the dashboard's expressions evaluate: $out"
else
    fail "prometheus: dashboard expressions: $out"
fi
expect "dashboard expressions evaluated" "$(wc -l <"$WORK/dash-queries")" "$(grep -c '^ *- record: ' "$WORK/dash-rules.yml")"
lv=$(node -e 'const d = require(process.argv[1]);
const q = d.templating.list.find((v) => v.name === "instance").query;
const m = /^label_values\((\w+), (\w+)\)$/.exec(q.query || q); console.log(m[1], m[2])' "$DASH")
read -r lv_metric lv_label <<<"$lv"
expect "instance variable: label_values($lv_metric, $lv_label) lists the daemon" \
    "$(prom_api "label/$lv_label/values" -G --data-urlencode "match[]=$lv_metric" |
        node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => console.log(JSON.parse(s).data.join(" ")))')" "$PCS"

# Redis stops: the daemon is not ready, and PcsNotReady and
# PcsRedisDisconnected are pending for it (their "for" is minutes), and
# no other alert is (PcsDown for the dead target aside).
stop_redis
alerts() {
    prom_api alerts | node -e '
        let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
          for (const a of JSON.parse(s).data.alerts) console.log(a.labels.alertname, a.state, a.labels.instance);
        });' | grep -v "^PcsDown [a-z]* $DOWN$" | LC_ALL=C sort
}
redis_alerts() { [ "$(alerts | tr '\n' ';')" = "PcsNotReady pending $PCS;PcsRedisDisconnected pending $PCS;" ]; }
if wait_for 30 redis_alerts; then
    ok "prometheus: Redis stopped: PcsNotReady and PcsRedisDisconnected pending, no other alert"
else
    fail "prometheus: Redis stopped: alerts $(alerts | tr '\n' ';'), /readyz $(http GET /readyz)"
fi
expect "prometheus: pcs_ready" "$(prom_query "pcs_ready{instance=\"$PCS\"}")" 0
finish
