#!/bin/bash
# Purges in the version order, with the real parts: grant@T2, an empty
# list@T1 and a late grant@T0 end as grant@T2; after a purge@T3 a late
# older grant does not resurrect the customer, a re-delivered older purge
# does not delete newer data, and the real SDK's own refill (MGET then
# MULTI, version from entitlementUpdatedAt, 0 for an empty list) still
# lands.  An empty list is a cached denial the SDK reads from Redis
# (isFallback false, hasAccess false).  A purge is exact, without SCAN:
# customer "acme" goes with its resources and usage keys, customer
# "acme:eu" stays; a resource purge takes that resource only.
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
start_redis
start_sqs
CONSUMERS=2 WAIT_TIME_SECONDS=1 start_pcs
wait_for 10 ready_with 2 || die "not ready: $(http GET /readyz)"

settle() { wait_for 20 queue_is "0 0" || die "queue not settled: $(sqs count "$SQS_URL")"; }
send() { sqs send "$SQS_URL" "$1" >/dev/null || die "cannot send $1"; settle; }
ts() { redis_cli GET "production:c_$1#timestamp"; }
scans() { redis_cli INFO commandstats | sed -n 's/^cmdstat_scan:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0; }

# grant CUSTOMER ISO-DATE [FILE]: the example grant for CUSTOMER at that version.
grant() {
    sed "s/\"id\": \"acme\"/\"id\": $(node -e 'console.log(JSON.stringify(process.argv[1]))' "$1")/;
        s/2025-11-14T19:59:45.133Z/$2/" "${3:-$EX/entitlements-updated.json}" >"$WORK/g.json"
    send "$WORK/g.json"
}
empty() {
    printf '{"type":"entitlements.updated","customer":{"id":"%s"},"entitlementsUpdatedAt":"%s","entitlements":[]}' \
        "$1" "$2" >"$WORK/e.json"
    send "$WORK/e.json"
}
purge() {
    printf '{"type":"customer.deleted","id":"%s","timestamp":"%s"}' "$1" "$2" >"$WORK/p.json"
    send "$WORK/p.json"
}
T0=2025-11-14T19:00:00.000Z T0MS=1763146800000
T1=2025-11-14T19:30:00.000Z T1MS=1763148600000
T2=2025-11-14T19:59:45.133Z T2MS=1763150385133
T3=2025-11-14T20:30:00.000Z T3MS=1763152200000
T4=2025-11-14T21:00:00.000Z T4MS=1763154000000

# --- the issue's reproduction: grant@T2, empty@T1, late grant@T0
grant acme "$T2"
empty acme "$T1"
expect "an older empty list does not remove a newer grant" "$(ts acme)" "$T2MS"
grant acme "$T0"
expect "a late older grant is not written" "$(ts acme)" "$T2MS"
expect "usage keys kept" "$(redis_cli EXISTS 'production:c_acme:f_api-calls' 'production:c_acme:f_seats')" 2

# --- purge@T3, then a late grant@T2 (a duplicate): stays purged
purge acme "$T3"
expect "purged: only the marker is left" "$(redis_keys 'production:c_acme*')" "production:c_acme#purged"
grant acme "$T2"
expect "a late grant older than the purge does not resurrect the customer" \
    "$(redis_keys 'production:c_acme*')" "production:c_acme#purged"
# Newer than the purge: written; the older purge delivered again removes nothing.
grant acme "$T4"
expect "a grant newer than the purge is written" "$(ts acme)" "$T4MS"
purge acme "$T3"
expect "a re-delivered older purge does not delete newer data" "$(ts acme)" "$T4MS"
expect "nor its usage" "$(redis_cli EXISTS 'production:c_acme:f_api-calls' 'production:c_acme:f_seats')" 2

# --- the SDK's own refill after a purge lands, with an older version or
# with 0 (an empty list), through its real write path.
cat >"$WORK/sdk-refill.js" <<'EOF'
'use strict';
// The real SDK's refill write (entitlementsService.setEntitlements:
// cache mapper, redlock, MGET of the #timestamp keys, then MULTI).
const { Stigg } = require('@stigg/node-server-sdk');
const [port, customerId, updatedAt] = process.argv.slice(2);
class Quiet { log() {} debug() {} warn() {} error(...a) { process.stderr.write(`${a.map(String).join(' ')}\n`); } }
setTimeout(() => { console.error('sdk-refill: timed out'); process.exit(2); }, 20000).unref();
(async () => {
  const client = Stigg.initialize({
    apiKey: 'server-sdk-refill-test-key', baseUri: 'http://127.0.0.1:9', baseEdgeUri: 'http://127.0.0.1:9',
    enableRemoteConfig: false, realtimeUpdatesEnabled: false,
    logConfiguration: { logger: new Quiet(), logLevel: 'ERROR' },
    redis: { host: '127.0.0.1', port: Number(port), environmentPrefix: 'production' },
  });
  await client.waitForInitialization();
  const svc = client.entitlementsService;
  while (svc.cacheService.redisClient.status !== 'ready') await new Promise((r) => setTimeout(r, 50));
  const entitlements = updatedAt === 'empty' ? [] : [
    { feature: { refId: 'api-calls', featureType: 'NUMBER', meterType: 'Incremental', featureUnits: 'call', featureUnitsPlural: 'calls' },
      usageLimit: 500, hasUnlimitedUsage: false, hasSoftLimit: false, currentUsage: 12,
      usagePeriodStart: '2025-11-01T00:00:00.000Z', usagePeriodEnd: '2030-01-01T00:00:00.000Z', resetPeriod: 'MONTH',
      entitlementUpdatedAt: updatedAt, usageUpdatedAt: updatedAt },
    { feature: { refId: 'sso', featureType: 'BOOLEAN' }, hasUnlimitedUsage: false, hasSoftLimit: false, entitlementUpdatedAt: updatedAt },
  ];
  await svc.setEntitlements({ entitlements, customerId });
  process.exit(0);
})().catch((e) => { console.error(e.stack); process.exit(1); });
EOF
grant initech "$T2"
purge initech "$T3"
node "$WORK/sdk-refill.js" "$REDIS_PORT" initech "$T1" || fail "the SDK's refill failed"
expect "the SDK's refill at an older version lands after the purge" "$(ts initech)" "$T1MS"
r=$(sdk --customer initech --metered api-calls --boolean sso)
sdk_check "and reads as a hit" "$r" 'r.hit && r.metered["api-calls"].usageLimit===500 && r.boolean.sso.hasAccess'
grant globex "$T2"
purge globex "$T3"
node "$WORK/sdk-refill.js" "$REDIS_PORT" globex empty || fail "the SDK's empty refill failed"
expect "the SDK's refill of an empty list (version 0) lands after the purge" "$(ts globex)" 0
expect "as {}" "$(redis_cli GET production:c_globex)" "{}"

# --- an empty list is a cached denial
empty hooli "$T1"
expect "empty list: the customer key is {}" "$(redis_cli GET production:c_hooli)" "{}"
json_eq "empty list: the metadata key" "$(redis_cli GET production:c_hooli:metadata)" '{"accessDeniedReason":null}'
expect "empty list: at the event's version" "$(ts hooli)" "$T1MS"
r=$(sdk --customer hooli --metered api-calls --boolean sso)
sdk_check "the SDK reads the empty list from Redis as a denial" "$r" \
    'r.hit && r.misses.length===0 && r.edgeRequests.length===0 && !r.boolean.sso.isFallback && r.boolean.sso.hasAccess===false && !r.metered["api-calls"].isFallback && r.metered["api-calls"].hasAccess===false'

# --- exactness: "acme" with a resource, "acme:eu", and no SCAN
redis_cli FLUSHALL >/dev/null
grant acme "$T2"
sed 's/"id": "site:eu\/1"/"id": "site:eu\/1"/' "$EX/entitlements-updated-resource.json" >"$WORK/res.json"
send "$WORK/res.json"
sed 's/"id": "site:eu\/1"/"id": "site:us\/2"/' "$EX/entitlements-updated-resource.json" >"$WORK/res2.json"
send "$WORK/res2.json"
grant 'acme:eu' "$T2"
# A usage key the SDK wrote itself, named only by the customer's value.
redis_cli SET 'production:c_acme:f_max-projects' '{"currentUsage":1}' >/dev/null
redis_cli SET 'production:c_acme:f_max-projects#timestamp' 1 >/dev/null
eu_before=$(redis_keys 'production:c_acme:eu*')
[ -n "$(redis_keys 'production:c_acme:r_site:eu/1*')" ] || die "resource not written"
scans_before=$(scans)
purge acme "$T3"
expect "the purge of 'acme' ran no SCAN" "$(scans)" "$scans_before"
expect "'acme', its usage, its resources and their keys are gone" \
    "$(redis_keys 'production:c_acme*' | grep -v '^production:c_acme:eu')" "production:c_acme#purged"
expect "'acme:eu' is untouched" "$(redis_keys 'production:c_acme:eu*')" "$eu_before"
r=$(sdk --customer 'acme:eu' --metered api-calls --boolean sso)
sdk_check "'acme:eu' still reads as a hit" "$r" 'r.hit && r.metered["api-calls"].usageLimit===1000'

# A resource purge takes that resource only.
grant acme "$T4"
sed 's/2025-11-14T20:10:00.000Z/2025-11-14T21:10:00.000Z/' "$WORK/res.json" >"$WORK/res-new.json"
send "$WORK/res-new.json"
sed 's/2025-11-14T20:10:00.000Z/2025-11-14T21:10:00.000Z/' "$WORK/res2.json" >"$WORK/res2-new.json"
send "$WORK/res2-new.json"
scans_before=$(scans)
printf '{"type":"PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED","customerId":"acme","resourceId":"site:eu/1","timestamp":"2025-11-14T21:20:00.000Z"}' >"$WORK/rp.json"
send "$WORK/rp.json"
expect "the resource purge ran no SCAN" "$(scans)" "$scans_before"
expect "the resource's keys are gone" "$(redis_keys 'production:c_acme:r_site:eu/1*')" "production:c_acme:r_site:eu/1#purged"
expect "the other resource stays" "$(redis_cli EXISTS 'production:c_acme:r_site:us/2' 'production:c_acme:r_site:us/2#timestamp')" 2
expect "the customer stays" "$(ts acme)" "$T4MS"
finish
