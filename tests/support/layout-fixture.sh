#!/bin/sh
# The Redis state redis-layout.md describes for customer "acme", written by
# hand with redis-cli: what the daemon must produce from
# spec/examples/entitlements-updated.json and
# spec/examples/entitlements-updated-resource.json, and what the real SDK
# (tests/support/sdk-read.js) reads as a hit.  The daemon's tests compare
# their Redis against it.
#
#   layout-fixture.sh PORT [PREFIX [DB]]     write it (prefix: production)
#   layout-fixture.sh --print [PREFIX]       print "KEY<TAB>VALUE" lines instead
#
# Customer "acme" (version 2025-11-14T19:59:45.133Z = 1763150385133):
#   api-calls     NUMBER Incremental, usageLimit 1000, usage 42, MONTH period
#                 2025-11-01 .. 2030-01-01
#   seats         NUMBER Fluctuating, hasUnlimitedUsage, usage 7, no period
#   max-projects  NUMBER (meterType NONE: omitted), usageLimit 10
#   region        ENUM ["eu","us"]
#   sso           BOOLEAN
# Resource "site:eu/1" of acme (version 2025-11-14T20:10:00.000Z =
# 1763151000000, newer than the customer's, as the SDK requires):
#   api-calls (as above) and sso.
# Every value key has its #timestamp sibling; every key gets the TTL
# KEYS_TTL_IN_SECS (default 604800; negative: no expiry).  REDIS_HOST
# defaults to 127.0.0.1.
set -eu

usage() { echo "usage: $0 PORT [PREFIX [DB]] | $0 --print [PREFIX]" >&2; exit 64; }
[ $# -ge 1 ] || usage
print=
if [ "$1" = --print ]; then
	print=1
	P=${2-production}
else
	port=$1
	P=${2-production}
	db=${3-0}
	case "$port$db" in *[!0-9]*|'') usage ;; esac
fi
ttl=${KEYS_TTL_IN_SECS-604800}
host=${REDIS_HOST-127.0.0.1}

T=1763150385133       # acme: entitlementsUpdatedAt 2025-11-14T19:59:45.133Z
TR=1763151000000      # acme / site:eu/1: 2025-11-14T20:10:00.000Z
C="$P:c_acme"
R="$P:c_acme:r_site:eu/1"

API_CALLS='"api-calls":{"calculatedEntitlement":{"feature":{"id":"api-calls","featureType":"NUMBER","meterType":"Incremental","units":"call","unitsPlural":"calls"},"usageLimit":1000,"hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"resetPeriod":"MONTH","resetPeriodConfiguration":{"accordingTo":"SubscriptionStart"},"currentUsage":42,"usagePeriodAnchor":1761955200000,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}}'
SEATS='"seats":{"calculatedEntitlement":{"feature":{"id":"seats","featureType":"NUMBER","meterType":"Fluctuating","units":"seat","unitsPlural":"seats"},"usageLimit":null,"hasUnlimitedUsage":true,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"currentUsage":7}}'
MAX_PROJECTS='"max-projects":{"calculatedEntitlement":{"feature":{"id":"max-projects","featureType":"NUMBER","units":"project","unitsPlural":"projects"},"usageLimit":10,"hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"currentUsage":0}}'
REGION='"region":{"calculatedEntitlement":{"feature":{"id":"region","featureType":"ENUM","units":"","unitsPlural":""},"usageLimit":null,"hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":["eu","us"]},"featureUsage":{"currentUsage":0}}'
SSO='"sso":{"calculatedEntitlement":{"feature":{"id":"sso","featureType":"BOOLEAN","units":"","unitsPlural":""},"usageLimit":null,"hasUnlimitedUsage":false,"hasSoftLimit":false,"enumValues":[]},"featureUsage":{"currentUsage":0}}'
USAGE_API_CALLS='{"currentUsage":42,"usagePeriodStart":1761955200000,"usagePeriodEnd":1893456000000}'
USAGE_SEATS='{"currentUsage":7,"usagePeriodStart":null,"usagePeriodEnd":null}'
METADATA='{"accessDeniedReason":null}'

# put KEY VALUE TIMESTAMP: the value and its #timestamp sibling.
put() {
	if [ -n "$print" ]; then
		printf '%s\t%s\n%s#timestamp\t%s\n' "$1" "$2" "$1" "$3"
		return
	fi
	if [ "$ttl" -lt 0 ]; then
		set -- "$1" "$2" "$3"
	else
		set -- "$1" "$2" "$3" EX "$ttl"
	fi
	k=$1 v=$2 ts=$3
	shift 3
	for kv in "$k" "$k#timestamp"; do
		if [ "$kv" = "$k" ]; then val=$v; else val=$ts; fi
		out=$(redis-cli -h "$host" -p "$port" -n "$db" SET "$kv" "$val" "$@" 2>&1) || true
		if [ "$out" != OK ]; then
			echo "layout-fixture: SET $kv: $out" >&2
			exit 1
		fi
	done
}

put "$C" "{$API_CALLS,$SEATS,$MAX_PROJECTS,$REGION,$SSO}" "$T"
put "$C:metadata" "$METADATA" "$T"
put "$C:f_api-calls" "$USAGE_API_CALLS" "$T"
put "$C:f_seats" "$USAGE_SEATS" "$T"
put "$R" "{$API_CALLS,$SSO}" "$TR"
put "$R:metadata" "$METADATA" "$TR"
put "$R:f_api-calls" "$USAGE_API_CALLS" "$TR"
