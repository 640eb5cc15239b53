#!/bin/bash
# Compatibility with the real reader: @stigg/node-server-sdk 3.95.0 reads
# what the daemon wrote from the example events as cache hits (metered,
# boolean, numeric, enum and resource-scoped entitlements, with their
# limits and usage), and a thin notification is refilled from a (fake,
# local) Edge API with the API key, including its failures.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs

KEY=sk-test-$RANDOM$RANDOM
start_fake_edge "$KEY"
cp "$PCS_SRCDIR/tests/data/edge/globex.json" "$EDGE_DIR/globex.json"

CONSUMERS=2 BATCH_SIZE=10 WAIT_TIME_SECONDS=1 SERVER_API_KEY=$KEY \
    EDGE_API_URL=http://127.0.0.1:$EDGE_PORT DRAIN_TIMEOUT_SECS=5 start_pcs
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"

settle() { wait_for 20 queue_is "0 0" || die "queue not settled: $(sqs count "$SQS_URL")"; }

sqs send "$SQS_URL" "$EX/entitlements-updated.json" >/dev/null
settle
sqs send "$SQS_URL" "$EX/entitlements-updated-resource.json" >/dev/null
settle

r=$(sdk --customer acme --metered api-calls,seats --boolean sso --numeric max-projects --enum region) \
    || die "sdk-read failed: $r"
sdk_check "customer read is a hit" "$r" 'r.hit === true && r.entitlements.isFallback === false'
sdk_check "metered api-calls: limit 1000, usage 42" "$r" \
    'const e=r.metered["api-calls"]; !e.isFallback && e.hasAccess && e.usageLimit===1000 && e.currentUsage===42 && e.usagePeriodEnd===1893456000000'
sdk_check "metered seats: unlimited, usage 7" "$r" \
    'const e=r.metered.seats; !e.isFallback && e.hasAccess && e.isUnlimited===true && e.currentUsage===7'
sdk_check "boolean sso: access" "$r" 'const e=r.boolean.sso; !e.isFallback && e.hasAccess===true'
sdk_check "numeric max-projects: 10" "$r" 'const e=r.numeric["max-projects"]; !e.isFallback && e.hasAccess && e.value===10'
sdk_check "enum region: eu, us" "$r" \
    'const e=r.enum.region; !e.isFallback && e.hasAccess && JSON.stringify(e.enumValues)==="[\"eu\",\"us\"]"'
sdk_check "getEntitlements lists all five" "$r" 'Object.keys(r.entitlements.features).sort().join()==="api-calls,max-projects,region,seats,sso"'

r=$(sdk --customer acme --resource site:eu/1 --metered api-calls --boolean sso) || die "sdk-read failed: $r"
sdk_check "resource-scoped read is a hit" "$r" \
    'r.hit && !r.metered["api-calls"].isFallback && r.metered["api-calls"].usageLimit===1000 && r.boolean.sso.hasAccess'

# Usage events move what the SDK reports.
sqs send "$SQS_URL" "$EX/measurement-reported.json" >/dev/null
settle
r=$(sdk --customer acme --metered api-calls)
sdk_check "usage 43 after measurement.reported" "$r" 'r.hit && r.metered["api-calls"].currentUsage===43'

# The reader does tell a miss: a customer nobody wrote.
r=$(sdk --customer nobody --metered api-calls 2>/dev/null)
sdk_check "an unknown customer is a miss" "$r" 'r.hit===false && r.metered["api-calls"].isFallback===true'

# --- thin notification: refilled from the Edge API with the API key
sqs send "$SQS_URL" "$EX/entitlements-updated-thin.json" >/dev/null
settle
expect "thin: written with the event's version" "$(redis_cli GET 'production:c_globex#timestamp')" 1763154000000
grep -q '"customerId":"globex".*"apiKeyOk":true,"apiVersion":"1"' "$WORK/edge.out" \
    && ok "Edge called with X-API-KEY and X-API-VERSION: 1" || fail "Edge request: $(cat "$WORK/edge.out")"
r=$(sdk --customer globex --metered api-calls --boolean sso)
sdk_check "refilled customer reads as a hit" "$r" \
    'r.hit && r.metered["api-calls"].usageLimit===500 && r.metered["api-calls"].currentUsage===12 && r.boolean.sso.hasAccess'

# Failures: 500s are retried; after a failed delivery the message stays on
# the queue and comes back; a 401 is not retried and the key never shows.
sed 's/"globex"/"initech"/' "$EX/entitlements-updated-thin.json" >"$WORK/thin-initech.json"
sed 's/"refId":"api-calls"/"refId":"api-calls"/; s/"usageLimit":500/"usageLimit":77/' \
    "$EDGE_DIR/globex.json" >"$EDGE_DIR/initech.json"
echo "500 4" >"$EDGE_DIR/initech.status"
sqs send "$SQS_URL" "$WORK/thin-initech.json" >/dev/null
wait_for 10 grep -q "refill of customer 'initech' from the Edge API failed" "$PCS_LOG" \
    || die "failed refill not logged"
ok "a failed refill is logged"
expect "not written after the failed refill" "$(redis_keys 'production:c_initech*')" ""
[ "$(sqs count "$SQS_URL")" = "0 1" ] && ok "message kept after the failed refill" || fail "queue after failed refill: $(sqs count "$SQS_URL")"
settle
r=$(sdk --customer initech --metered api-calls)
sdk_check "written once the Edge API recovered" "$r" 'r.hit && r.metered["api-calls"].usageLimit===77'
expect "Edge requests for initech (3 + 2)" "$(grep -c '"customerId":"initech"' "$WORK/edge.out")" 5

sed 's/"globex"/"hooli"/' "$EX/entitlements-updated-thin.json" >"$WORK/thin-hooli.json"
echo "401" >"$EDGE_DIR/hooli.status"
sqs send "$SQS_URL" "$WORK/thin-hooli.json" >/dev/null
wait_for 10 grep -q "refill of customer 'hooli' .*HTTP 401" "$PCS_LOG" || die "401 not logged"
expect "401 is not retried" "$(grep -c '"customerId":"hooli"' "$WORK/edge.out")" 1
grep -q -- "$KEY" "$PCS_LOG" && fail "the API key appears in the log" || ok "no API key in the log"

finish
