#!/bin/bash
# Every example message of the spec through the real SQS emulator and a
# real redis-server: the exact keys and values each one writes (or that it
# writes nothing), and its fate on the queue (deleted, or kept for the
# redrive policy when it is bad).
. "${PCS_SRCDIR:-.}/tests/integration/lib.sh"

EX=$PCS_SRCDIR/tests/data/examples
P=production
start_redis
start_sqs
CONSUMERS=1 BATCH_SIZE=10 WAIT_TIME_SECONDS=1 POISON_VISIBILITY_TIMEOUT_SECS=600 start_pcs
wait_for 10 ready_with 1 || die "not ready: $(http GET /readyz)"

# send FILE: send it, then wait until the queue has nothing visible and
# nothing in flight (or, for a kept bad message, one in flight).
KEPT=0	# bad messages kept in flight so far
send() {
    local want=${2:-0 $KEPT}
    sqs send "$SQS_URL" "$EX/$1" >/dev/null || die "cannot send $1"
    wait_for 15 queue_is "$want" || die "$1: queue is '$(sqs count "$SQS_URL")', want '$want'"
}

# --- entitlements.updated: customer key, metadata, usage per metered feature
send entitlements-updated.json
T1=1763150385133
expect "keys of acme" "$(redis_keys "$P:c_acme*" | tr '\n' ' ')" \
    "$P:c_acme $P:c_acme#keys $P:c_acme#timestamp $P:c_acme:f_api-calls $P:c_acme:f_api-calls#timestamp $P:c_acme:f_seats $P:c_acme:f_seats#timestamp $P:c_acme:metadata $P:c_acme:metadata#timestamp "
json_eq "customer key" "$(redis_cli GET "$P:c_acme")" '{
 "api-calls":{"calculatedEntitlement":{"feature":{"id":"api-calls","featureType":"NUMBER","meterType":"Incremental","units":"call","unitsPlural":"calls"},
   "usageLimit":1000,"hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":[]},
  "featureUsage":{"resetPeriod":"MONTH","resetPeriodConfiguration":{"accordingTo":"SubscriptionStart"},"currentUsage":42,
   "usagePeriodAnchor":1761955200000,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}},
 "seats":{"calculatedEntitlement":{"feature":{"id":"seats","featureType":"NUMBER","meterType":"Fluctuating","units":"seat","unitsPlural":"seats"},
   "usageLimit":null,"hasUnlimitedUsage":true,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"currentUsage":7}},
 "max-projects":{"calculatedEntitlement":{"feature":{"id":"max-projects","featureType":"NUMBER","units":"project","unitsPlural":"projects"},
   "usageLimit":10,"hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"currentUsage":0}},
 "region":{"calculatedEntitlement":{"feature":{"id":"region","featureType":"ENUM","units":"","unitsPlural":""},
   "hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":["eu","us"]},"featureUsage":{"currentUsage":0}},
 "sso":{"calculatedEntitlement":{"feature":{"id":"sso","featureType":"BOOLEAN","units":"","unitsPlural":""},
   "hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"currentUsage":0}}}'
json_eq "metadata key" "$(redis_cli GET "$P:c_acme:metadata")" '{"accessDeniedReason":null}'
json_eq "usage api-calls" "$(redis_cli GET "$P:c_acme:f_api-calls")" \
    '{"currentUsage":42,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}'
json_eq "usage seats" "$(redis_cli GET "$P:c_acme:f_seats")" \
    '{"currentUsage":7,"usagePeriodStart":null,"usagePeriodEnd":null}'
for k in "" :metadata :f_api-calls :f_seats; do
    expect "timestamp of c_acme$k" "$(redis_cli GET "$P:c_acme$k#timestamp")" "$T1"
    ttl=$(redis_cli TTL "$P:c_acme$k")
    [ "$ttl" -gt 604000 ] && [ "$ttl" -le 604800 ] && ok "TTL of c_acme$k" || fail "TTL of c_acme$k: $ttl"
done

# --- the same customer's resource
send entitlements-updated-resource.json
R="$P:c_acme:r_site:eu/1"
expect "resource keys" "$(redis_keys "$R*" | tr '\n' ' ')" \
    "$R $R#keys $R#timestamp $R:f_api-calls $R:f_api-calls#timestamp $R:metadata $R:metadata#timestamp "
expect "resource timestamp" "$(redis_cli GET "$R#timestamp")" 1763151000000
node -e 'const e=JSON.parse(process.argv[1]);
  if (Object.keys(e).join()!=="api-calls,sso") throw 1;
  if (e["api-calls"].calculatedEntitlement.resourceId!=="site:eu/1") throw 2;' "$(redis_cli GET "$R")" \
    && ok "resource entitlements carry resourceId" || fail "resource value: $(redis_cli GET "$R")"

# --- usage: measurement.reported, the same in an SNS envelope, the flat form
send measurement-reported.json
json_eq "usage after measurement.reported" "$(redis_cli GET "$P:c_acme:f_api-calls")" \
    '{"currentUsage":43,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}'
expect "usage timestamp" "$(redis_cli GET "$P:c_acme:f_api-calls#timestamp")" 1763150401002
send sns-wrapped.json
expect "SNS-wrapped: same version, same value" "$(redis_cli GET "$P:c_acme:f_api-calls#timestamp")" 1763150401002
send measurement-flat.json
json_eq "usage after the flat form" "$(redis_cli GET "$P:c_acme:f_api-calls")" \
    '{"currentUsage":44,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}'
expect "flat usage timestamp" "$(redis_cli GET "$P:c_acme:f_api-calls#timestamp")" 1763150402000
# An older usage update changes nothing.
send measurement-reported.json
json_eq "older usage skipped" "$(redis_cli GET "$P:c_acme:f_api-calls")" \
    '{"currentUsage":44,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}'
# Usage for a customer that is not cached is not written.
sed 's/"acme"/"nobody"/' "$EX/measurement-reported.json" >"$WORK/m-nobody.json"
sqs send "$SQS_URL" "$WORK/m-nobody.json" >/dev/null; wait_for 15 queue_is "0 $KEPT"
expect "usage for an uncached customer" "$(redis_keys "$P:c_nobody*")" ""
# An older entitlements.updated is skipped.
before=$(redis_cli GET "$P:c_acme")
sed 's/"2025-11-14T19:59:45.133Z"/"2025-11-14T18:00:00.000Z"/; s/"currentUsage": 42/"currentUsage": 1/' \
    "$EX/entitlements-updated.json" >"$WORK/older.json"
sqs send "$SQS_URL" "$WORK/older.json" >/dev/null; wait_for 15 queue_is "0 $KEPT"
expect "older entitlements skipped" "$(redis_cli GET "$P:c_acme")" "$before"
expect "older entitlements: timestamp kept" "$(redis_cli GET "$P:c_acme#timestamp")" "$T1"

# --- ignored types are acknowledged and write nothing
n=$(redis_cli DBSIZE)
send ignored-subscription-created.json
expect "ignored type writes nothing" "$(redis_cli DBSIZE)" "$n"
wait_for 5 grep -q "subscription.created ignored" "$PCS_LOG" && ok "ignored type logged" || fail "no 'ignored' line"

# --- bad messages: nothing written, one line with the id and the reason,
# kept on the queue (invisible for POISON_VISIBILITY_TIMEOUT_SECS)
for f in bad-date.json bad-missing-customer.json bad-no-type.json bad-not-json.txt bad-wrong-type.json; do
    KEPT=$((KEPT + 1))
    snap=$(redis_cli --scan | LC_ALL=C sort | xargs -r redis-cli -p "$REDIS_PORT" MGET | md5sum)
    send "$f"
    expect "$f: Redis untouched" "$(redis_cli --scan | LC_ALL=C sort | xargs -r redis-cli -p "$REDIS_PORT" MGET | md5sum)" "$snap"
done
expect "five rejected lines" "$(grep -c 'rejected: .*kept for the queue' "$PCS_LOG")" 5
grep -q "rejected: entitlementsUpdatedAt: 'yesterday'" "$PCS_LOG" && ok "bad date named" || fail "bad date reason"
grep -q "rejected: .*currentUsage" "$PCS_LOG" && ok "wrong type named" || fail "wrong type reason"
grep -Eq "message [0-9a-f-]+: rejected: .*JSON" "$PCS_LOG" && ok "not-JSON logged with the SQS id" || fail "not-JSON reason"

# --- purges
send purge-requested.json
expect "resource purged (its purge marker stays)" "$(redis_keys "$R*")" "$R#purged"
[ -n "$(redis_keys "$P:c_acme:f_*")" ] && ok "customer keys kept by a resource purge" || fail "resource purge removed customer keys"
send entitlements-updated-empty.json
expect "empty list: a cached denial, {}" "$(redis_cli GET "$P:c_acme")" "{}"
json_eq "empty list: its metadata" "$(redis_cli GET "$P:c_acme:metadata")" '{"accessDeniedReason":null}'
expect "empty list: at its version" "$(redis_cli GET "$P:c_acme#timestamp")" 1763150400000
send customer-deleted.json
expect "customer.deleted purges everything of acme" "$(redis_keys "$P:c_acme*" | grep -v '#purged$')" ""

# --- PACKAGE_PUBLISHED for all customers: every customer key goes
send entitlements-updated.json
sed 's/"acme"/"globex"/' "$EX/entitlements-updated.json" >"$WORK/globex.json"
sqs send "$SQS_URL" "$WORK/globex.json" >/dev/null; wait_for 15 queue_is "0 $KEPT"
redis_cli SET "$P-acme" lock >/dev/null
redis_cli SET "other:c_acme" other >/dev/null
send package-published.json
expect "package published: customer keys gone, purge markers kept" "$(redis_keys "$P:c_*" | tr '\n' ' ')" "$P:c_acme#purged $R#purged "
expect "package published: lock key kept" "$(redis_cli GET "$P-acme")" lock
expect "package published: other prefix kept" "$(redis_cli GET other:c_acme)" other

expect "master and consumer alive" "$(consumers | wc -l)" 1
finish
