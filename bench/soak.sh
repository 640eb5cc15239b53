#!/bin/bash
# Soak (issue 11, item 7; not part of the test suite or CI): the daemon at
# half the peak rate for SOAK_SECS (600), one consumer killed with SIGKILL
# every SOAK_KILL_EVERY seconds (60), Redis restarted in the middle (a
# clean SIGTERM: its append-only file keeps the data); PSS and open
# descriptors of the master and of the consumers sampled every
# SOAK_SAMPLE_SECS (10) and their growth reported; at the end, once the
# queue is empty, Redis must equal the oracle of the newest version of
# every key (tests/support/workload.js compare, as lib.sh's oracle_check).
#
#   bench/soak.sh                          # 10 minutes
#   SOAK_SECS=90 bench/soak.sh             # a short try
#
# SOAK_RATE (msg/s): default half the best rate of the last bench/run.sh
# (_build/bench/results.json), else 1000.  SOAK_SETTINGS: the daemon's
# settings, default the best of the last run, else "BATCH_SIZE=10
# RECEIVES_IN_FLIGHT=8 CONSUMERS=2"; VISIBILITY_TIMEOUT_SECS=5 is added so
# that the messages of a killed consumer come back within the run.
# SOAK_CUSTOMERS (1000).  Run bench/run.sh (or scripts/deps.sh and
# scripts/build.sh) first: this script installs and builds nothing.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
OUT=$top/_build/bench
SECS=${SOAK_SECS:-600}
KILL_EVERY=${SOAK_KILL_EVERY:-60}
SAMPLE=${SOAK_SAMPLE_SECS:-10}
C=${SOAK_CUSTOMERS:-1000}
[ -f "$OUT/peer/node_modules/.package-lock.json" ] ||
	{ echo "soak: run bench/run.sh first (it installs ioredis in $OUT/peer)" >&2; exit 1; }
last_best() {
	[ -f "$OUT/results.json" ] && node -e '
const r = require(process.argv[1]);
const b = (r.summary || {})["(d) this daemon, best of the sweep"];
if (b) console.log(process.argv[2] === "rate" ? Math.round(b.rate / 2) : b.settings);' "$OUT/results.json" "$1"
}
RATE=${SOAK_RATE:-$(last_best rate || true)}
RATE=${RATE:-1000}
SETTINGS=${SOAK_SETTINGS:-$(last_best settings || true)}
SETTINGS="${SETTINGS:-BATCH_SIZE=10 RECEIVES_IN_FLIGHT=8 CONSUMERS=2} VISIBILITY_TIMEOUT_SECS=5"

export PCS_BIN=$top/_build/src/persistent-cache-service PCS_SRCDIR=$top
# The environment the systemd unit gives the daemon (see ENVIRONMENT in
# persistent-cache-service(8)).
export GNUTLS_NO_IMPLICIT_INIT=1
# shellcheck source=../tests/integration/lib.sh
. "$top/tests/integration/lib.sh"
set -e
export NODE_PATH="$NODE_PATH:$OUT/peer/node_modules"
B="node $top/bench/bench.js"
SENDER=
soak_cleanup() {
	local rc=$?
	set +e
	[ -n "$SENDER" ] && kill "$SENDER" 2>/dev/null && wait "$SENDER" 2>/dev/null
	remember_consumers 2>/dev/null
	(exit "$rc")
	cleanup
}
trap soak_cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '%s soak: %s\n' "$(date +%T)" "$*" >&2; }

N=$(( RATE * SECS ))
start_redis --appendonly yes --appendfsync everysec
start_sqs events
$B gen --out "$WORK/w" --n "$N" --customers "$C" --metered-deletes 0 >&2
for v in $SETTINGS; do export "${v?}"; done
LOG_LEVEL=info start_pcs
for v in $SETTINGS; do unset "${v%%=*}"; done
wait_for 20 readyz_like '200 *' || die "the daemon is not ready: $(http GET /readyz)"
remember_consumers
say "$N messages at $RATE msg/s for $SECS s; daemon: $SETTINGS"
$B preload --queue "$SQS_URL" --file "$WORK/w/mix.jsonl" --rate "$RATE" >"$WORK/sender.out" 2>&1 &
SENDER=$!

# samples: "SECONDS MASTER_PSS MASTER_FDS CONSUMERS_PSS CONSUMERS_FDS NCONSUMERS"
sample() {
	$B tree "$PCS_PID" | awk -v t="$1" -v m="$PCS_PID" '
NR > 1 { if ($1 == m) { mp = $2; mf = $3 } else { cp += $2; cf += $3; n++ } }
END { print t, mp, mf, cp, cf, n }' >>"$WORK/samples"
}
t0=$(date +%s) next_kill=$KILL_EVERY next_sample=0 restarted=0 kills=0 planned=0
while :; do
	t=$(( $(date +%s) - t0 ))
	[ "$t" -ge "$SECS" ] && break
	if [ "$t" -ge "$next_sample" ]; then sample "$t"; next_sample=$(( next_sample + SAMPLE )); fi
	if [ "$t" -ge "$next_kill" ]; then
		planned=$(( planned + 1 ))
		mapfile -t cs < <(consumers)
		if [ "${#cs[@]}" -gt 0 ]; then
			victim=${cs[$(( RANDOM % ${#cs[@]} ))]}
			kill -KILL "$victim" && kills=$(( kills + 1 ))
			say "t=${t}s: killed consumer $victim"
		fi
		next_kill=$(( next_kill + KILL_EVERY ))
	fi
	if [ "$restarted" = 0 ] && [ "$t" -ge $(( SECS / 2 )) ]; then
		say "t=${t}s: restarting Redis"
		stop_redis
		sleep 2
		start_redis --appendonly yes --appendfsync everysec
		restarted=1
	fi
	remember_consumers 2>/dev/null || true
	sleep 1
done
wait "$SENDER" || fail "the sender failed: $(cat "$WORK/sender.out")"
SENDER=
say "sent: $(cat "$WORK/sender.out"); waiting for the queue to empty"
wait_for 120 queue_is "0 0" || fail "the queue did not empty: $(sqs count "$SQS_URL")"
sample "$(( $(date +%s) - t0 ))"
pid_gone "$PCS_PID" && fail "the daemon died"
# One kill per KILL_EVERY strictly before SECS (none at SECS: the loop
# ends first): 9 in the default 600 s, not 600 / 60.
expect "consumers killed" "$kills" "$planned"
expect "Redis restarted" "$restarted" 1

# Growth: from the first sample after the first tenth of the run (warm)
# to the last one.
awk -v warm=$(( SECS / 10 )) '
$1 >= warm && !f { f = 1; a = $0 } { z = $0 }
END {
	split(a, x, " "); split(z, y, " ")
	printf "samples %ds..%ds\n", x[1], y[1]
	printf "master    PSS %d -> %d kB (%+d), fds %d -> %d (%+d)\n", x[2], y[2], y[2] - x[2], x[3], y[3], y[3] - x[3]
	printf "consumers PSS %d -> %d kB (%+d), fds %d -> %d (%+d), %d -> %d consumers\n", x[4], y[4], y[4] - x[4], x[5], y[5], y[5] - x[5], x[6], y[6]
}' "$WORK/samples" | tee "$OUT/soak.txt"
cp "$WORK/samples" "$OUT/soak-samples.txt"
set +e
oracle_check "Redis after the soak" "$WORK/w/oracle.json" "$REDIS_PORT"
finish
