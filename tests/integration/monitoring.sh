#!/bin/bash
# The monitoring files the packages ship (packaging/monitoring/), checked
# with Debian's prometheus package: promtool check rules on the alert
# rules; promtool test rules with tests/data/monitoring/rules-test.yml,
# which fires every alert on synthetic series and checks it stays quiet
# where it should; every PromQL expression of the rules and the Grafana
# dashboard names only metrics, labels and label values of the daemon's
# catalogue (tests/data/monitoring/metrics.txt) and parses; the dashboard
# is JSON with its data source and instance variables and the panels the
# README lists; the scrape snippet, added to a prometheus.yml, passes
# promtool check config, and a real prometheus loads it with the rules and
# evaluates them (PcsDown pending for the snippet's job when its target
# is down).  About 5 s; starts no daemon.
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

# The scrape snippet: the job the rules watch, on the default port; added
# to a prometheus.yml beside a copy of the rules, as the README says,
# promtool check config passes and reads the rules.
expect "scrape job" "$(sed -n 's/^ *- job_name: //p' "$SCRAPE")" "persistent-cache-service"
expect "rules' job" "$(grep -o 'up{job="[^"]*"}' "$RULES")" 'up{job="persistent-cache-service"}'
expect "metrics_path" "$(sed -n 's/^ *metrics_path: //p' "$SCRAPE")" "/metrics"
expect "target" "$(sed -n 's/^ *- \(localhost:[0-9]*\)$/\1/p' "$SCRAPE")" "localhost:4000"
rules_line=$(sed -n 's/^ *- \(.*\.rules\.yml\)$/\1/p' "$SCRAPE")
expect "rule_files line" "$rules_line" "/etc/prometheus/persistent-cache-service.rules.yml"
mkdir "$WORK/prom"
cp "$RULES" "$WORK/prom/"
DOWN_PORT=$(free_port)
{
    printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
    printf 'alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: []\n'
    sed -e "s|$rules_line|$WORK/prom/persistent-cache-service.rules.yml|" \
        -e "s|localhost:4000|127.0.0.1:$DOWN_PORT|" "$SCRAPE"
} >"$WORK/prom/prometheus.yml"
out=$(promtool check config "$WORK/prom/prometheus.yml" 2>&1)
case "$out" in
*"is valid prometheus config file syntax"*"SUCCESS: 8 rules found"*) ok "promtool check config with the snippet" ;;
*) fail "promtool check config: $out" ;;
esac

# A real prometheus on loopback with that configuration: the rules load,
# are evaluated without error, and the target the snippet names (here on
# a port nobody listens on) is down, so PcsDown is pending for it.
PROM_PORT=$(free_port)
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prom/log" 2>&1 &
HELPER_PIDS="$HELPER_PIDS $!"
api() { curl -s -m 5 "http://127.0.0.1:$PROM_PORT/api/v1/$1"; }
# rules_state: the alerting rules' "name health" pairs and the alerts' "name state instance".
rules_state() {
    api rules | node -e '
        let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
          for (const g of JSON.parse(s).data.groups) for (const r of g.rules) {
            console.log(`rule ${g.name} ${r.name} ${r.health} ${r.lastError || ""}`);
            for (const a of r.alerts || []) console.log(`alert ${r.name} ${a.state} ${a.labels.instance}`);
          }
        });'
}
pending_down() { rules_state | grep -qx "alert PcsDown pending 127.0.0.1:$DOWN_PORT"; }
if wait_for 30 pending_down; then
    ok "prometheus: PcsDown pending for the snippet's target"
else
    fail "prometheus: PcsDown never pending: $(rules_state) $(tail -n 5 "$WORK/prom/log")"
fi
rules_state >"$WORK/prom/state"
expect "prometheus: rules loaded" "$(grep -c '^rule persistent-cache-service ' "$WORK/prom/state")" 8
expect "prometheus: rules evaluated, healthy" "$(grep -c '^rule persistent-cache-service [A-Za-z]* ok $' "$WORK/prom/state")" 8
expect "prometheus: no other alert" "$(grep '^alert' "$WORK/prom/state" | grep -vc '^alert PcsDown ')" 0
finish
