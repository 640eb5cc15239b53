#!/bin/bash
# The benchmark of issue 11, one command from a fresh Debian 12 (as root):
#
#   bench/run.sh                 # 20 000 messages, 1000 customers: ~7 min
#   BENCH_N=2000 bench/run.sh    # a quick try: a couple of minutes
#
# It installs what it needs (scripts/deps.sh, plus gnuplot-nox, wrk,
# iproute2 and socat for the bench only), builds (scripts/build.sh), copies
# ../shared/bench-peer (BENCH_PEER) to _build/bench/peer and runs `npm ci`
# there, then starts one redis-server and the SQS emulator
# (tests/integration/lib.sh) and, for each drain, on a flushed Redis db and
# a freshly started emulator, preloads the same BENCH_N mixed messages
# (bench/bench.js gen) and measures the drain (bench/bench.js watch: msg/s
# from the front's first receive to its last delete, CPU-us per message
# and peak PSS of the process tree):
#   noop     a receive+delete loop doing no work, once
#   peer     ../shared/bench-peer as it is (its own defaults), once
#   sweep    the daemon with BATCH_SIZE=10 and each RECEIVES_IN_FLIGHT of
#            BENCH_SWEEP_RIF x CONSUMERS of BENCH_SWEEP_CONSUMERS, once
#   h<i>-*   the daemon with only the required settings against the two
#            fastest of the sweep, BENCH_ROUNDS rounds in turn; "best" is
#            the one of the two with the higher median
# then the latency at half, a quarter and an eighth of the best rate
# (send-to-visible p50/p99) and /readyz under wrk while consuming, then
# the peer once and the defaults against the best for BENCH_ROUNDS rounds
# with 20 ms of round trip between consumer and emulator (BENCH_REGION=0
# skips it).  Every daemon run's final Redis state must equal the peer's,
# key by key (bench/bench.js diff): else the differences are printed and
# the exit status is 1.  Writes _build/bench/results.{md,json,png}.
#
# Knobs: BENCH_N (20000), BENCH_CUSTOMERS (1000), BENCH_SWEEP_RIF
# ("4 8 16 32"), BENCH_SWEEP_CONSUMERS ("1 2 4"), BENCH_ROUNDS (5),
# BENCH_LAT_SECS (10), BENCH_REGION (1), BENCH_NOOP_CONCURRENCY (8),
# BENCH_SKIP_DEPS=1 (no scripts/deps.sh, no build), BENCH_PEER
# (../shared/bench-peer).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
OUT=$top/_build/bench
N=${BENCH_N:-20000}
C=${BENCH_CUSTOMERS:-1000}
SWEEP_RIF=${BENCH_SWEEP_RIF:-"4 8 16 32"}
SWEEP_CONSUMERS=${BENCH_SWEEP_CONSUMERS:-"1 2 4"}
LAT_SECS=${BENCH_LAT_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-5}
REGION_RUN=${BENCH_REGION:-1}
NOOP_K=${BENCH_NOOP_CONCURRENCY:-8}
PEER_SRC=${BENCH_PEER:-$top/../shared/bench-peer}
[ -d "$PEER_SRC" ] || PEER_SRC=/work/shared/bench-peer

if [ "${BENCH_SKIP_DEPS-}" != 1 ]; then
	sh "$top/scripts/deps.sh" gnuplot-nox wrk iproute2 socat
	sh "$top/scripts/build.sh"
fi
mkdir -p "$OUT"
if [ ! -f "$OUT/peer/node_modules/.package-lock.json" ] ||
	! cmp -s "$PEER_SRC/peer.js" "$OUT/peer/peer.js"; then
	rm -rf "$OUT/peer"
	mkdir -p "$OUT/peer"
	cp "$PEER_SRC/peer.js" "$PEER_SRC/package.json" "$PEER_SRC/package-lock.json" "$OUT/peer/"
	(cd "$OUT/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# lib.sh: free ports, redis-server, the emulator, the daemon, and an EXIT
# trap that stops them (and fails on a daemon process left behind).
export PCS_BIN=$top/_build/src/persistent-cache-service PCS_SRCDIR=$top
TEST_NAME=bench
# The environment the systemd unit gives the daemon (see ENVIRONMENT in
# persistent-cache-service(8)).
export GNUTLS_NO_IMPLICIT_INIT=1
# shellcheck source=../tests/integration/lib.sh
. "$top/tests/integration/lib.sh"
set -e
export NODE_PATH="$NODE_PATH:$OUT/peer/node_modules"
B="node $top/bench/bench.js"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
CONS_PID=	# the peer or the noop loop
NS=
PROXY_PID=
SOCAT_PID=
SQS2_PID=
SQS2_PORT=
WATCH_PID=
WRK_PID=

bench_cleanup() {
	local rc=$?
	set +e
	for p in $CONS_PID $WATCH_PID $WRK_PID $PROXY_PID $SOCAT_PID $SQS2_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	(exit "$rc")
	cleanup
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

machine() {
	printf 'nproc %s, %s, Linux %s, Debian %s' "$(nproc)" \
		"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
		"$(uname -r)" "$(cat /etc/debian_version 2>/dev/null || echo '?')"
}

start_redis
start_sqs events
QURL=$SQS_URL
say "redis on $REDIS_PORT, emulator at $QURL; workload: $N messages, $C customers"
$B gen --out "$WORK/w" --n "$N" --customers "$C" | tee "$WORK/workload.txt" >&2

# The region set-up: the emulator in a network namespace of its own,
# reached through a veth pair with netem's 10 ms each way, exposed on the
# namespace's address by socat; without netem in the kernel (no
# sch_netem), a user-space proxy (bench/delay-proxy.js) delays each
# direction by 10 ms on loopback instead.  R_QURL is the consumers' URL,
# R_LOCAL the preloader's and watcher's (no delay), R_EXEC their prefix.
R_QURL= R_LOCAL= R_EXEC= R_HOW=
region_up() {
	local port sub=$(( $$ % 200 + 20 )) a b
	port=$(free_port)
	NS=pcsb$$
	a=pcsb$$a b=pcsb$$b
	if ip netns add "$NS" 2>/dev/null &&
		ip link add "$a" type veth peer name "$b" &&
		ip link set "$b" netns "$NS" &&
		ip addr add "10.231.$sub.1/30" dev "$a" && ip link set "$a" up &&
		ip netns exec "$NS" ip addr add "10.231.$sub.2/30" dev "$b" &&
		ip netns exec "$NS" ip link set "$b" up &&
		ip netns exec "$NS" ip link set lo up &&
		tc qdisc add dev "$a" root netem delay 10ms 2>/dev/null &&
		ip netns exec "$NS" tc qdisc add dev "$b" root netem delay 10ms 2>/dev/null; then
		SQS2_PORT=$port
		fresh_emulator region
		ip netns exec "$NS" socat "TCP-LISTEN:$port,bind=10.231.$sub.2,fork,reuseaddr" \
			"TCP:127.0.0.1:$port" &
		SOCAT_PID=$!
		R_LOCAL=$(sed -n 's/^ready \(http.*\)$/\1/p' "$WORK/sqs2.out")
		R_QURL=$(echo "$R_LOCAL" | sed "s/127\.0\.0\.1/10.231.$sub.2/")
		R_EXEC="ip netns exec $NS"
		R_HOW="network namespace, veth, tc netem 10 ms each way"
	else
		# Whatever part was made: the veth pair goes with either end.
		ip link del "$a" 2>/dev/null
		ip netns del "$NS" 2>/dev/null
		NS=
		say "no netem qdisc in this kernel: a user-space delay proxy instead"
		local pport
		pport=$(free_port)
		node "$top/bench/delay-proxy.js" --listen "$pport" --target "$SQS_PORT" --delay 10 \
			>"$WORK/proxy.out" 2>&1 &
		PROXY_PID=$!
		wait_for 10 grep -qx ready "$WORK/proxy.out" || die "delay proxy did not start"
		R_LOCAL=$QURL
		R_QURL=$(echo "$QURL" | sed "s/:$SQS_PORT\//:$pport\//")
		R_EXEC=
		R_HOW="user-space proxy (bench/delay-proxy.js), 10 ms each way: no sch_netem in this kernel"
	fi
}

# fresh_emulator [region]: the emulator stopped and started again, empty,
# on the same port (the consumers' URL unchanged): each drain starts from
# the same emulator, not one that has served every run before it (it gets
# slower as it serves more).  region: the one in the network namespace.
fresh_emulator() {
	if [ "${1-}" = region ]; then
		if [ -n "$SQS2_PID" ]; then kill "$SQS2_PID"; wait "$SQS2_PID" 2>/dev/null; fi
		ip netns exec "$NS" node "$SUPPORT/sqs-emulator.js" --port "$SQS2_PORT" --queue events \
			>"$WORK/sqs2.out" 2>"$WORK/sqs2.err" &
		SQS2_PID=$!
		wait_for 15 grep -qx ready "$WORK/sqs2.out" || die "region emulator did not start: $(cat "$WORK/sqs2.err")"
		return
	fi
	stop_sqs
	SQS_SAME_PORT=1 start_sqs events
	[ "$SQS_URL" = "$QURL" ] || die "the emulator came back with another URL: $SQS_URL"
}

# run NAME CONSUMER NET [VAR=VALUE...]: one drain.  CONSUMER: noop, peer
# or pcs; NET: loopback or region; VARs: the daemon's settings.
run() {
	local name=$1 kind=$2 net=$3 qurl=$QURL local=$QURL ex= pid json v
	shift 3
	if [ "$net" = region ]; then qurl=$R_QURL local=$R_LOCAL ex=$R_EXEC; fi
	redis_cli flushdb >/dev/null
	if [ -n "$NS" ] && [ "$net" = region ]; then fresh_emulator region; else fresh_emulator; fi
	$ex $B preload --queue "$local" --file "$WORK/w/mix.jsonl" >"$WORK/$name.preload"
	# The watcher first (it resets the front's drain timings), then the
	# consumer: a drain faster than the watcher's start is still timed.
	rm -f "$WORK/$name.pid" "$WORK/$name.ready"
	$ex $B watch --queue "$local" --n "$N" --pidfile "$WORK/$name.pid" --ready "$WORK/$name.ready" \
		--timeout 900 >"$WORK/$name.watch" &
	WATCH_PID=$!
	wait_for 20 test -f "$WORK/$name.ready" || { fail "$name: the watcher did not start"; return 1; }
	case $kind in
	noop)
		$B noop --queue "$qurl" --concurrency "$NOOP_K" 2>"$WORK/$name.log" &
		CONS_PID=$! pid=$! ;;
	peer)
		env QUEUE_URL="$qurl" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
			AWS_SECRET_ACCESS_KEY=test REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
			node "$OUT/peer/peer.js" 2>"$WORK/$name.log" &
		CONS_PID=$! pid=$! ;;
	pcs)
		HTTP_PORT=
		PCS_LOG=$WORK/$name.log
		for v in "$@"; do export "${v?}"; done
		QUEUE_URL=$qurl LOG_LEVEL=info start_pcs
		for v in "$@"; do unset "${v%%=*}"; done
		pid=$PCS_PID ;;
	esac
	echo "$pid" >"$WORK/$name.pid"
	if ! wait "$WATCH_PID"; then
		WATCH_PID=
		fail "$name: the drain did not finish"
		return 1
	fi
	WATCH_PID=
	json=$(cat "$WORK/$name.watch")
	stop_consumer "$kind"
	say "$name: $json"
	printf '{"name":"%s","consumer":"%s","net":"%s","settings":"%s","result":%s}\n' \
		"$name" "$kind" "$net" "$*" "$json" >>"$RESULTS"
	[ "$kind" = noop ] || $B dump --port "$REDIS_PORT" --out "$WORK/$name.dump" 2>/dev/null
}

stop_consumer() {
	if [ "$1" = pcs ]; then
		stop_pcs
	else
		kill "$CONS_PID" 2>/dev/null
		wait "$CONS_PID" 2>/dev/null || true
		CONS_PID=
	fi
}

# compare NAME: the run's final Redis state against the peer's.
compare() {
	if $B diff "$WORK/peer.dump" "$WORK/$1.dump" --names "peer,$1" >"$WORK/$1.diff"; then
		ok "$1: $(tail -n 1 "$WORK/$1.diff")"
	else
		cat "$WORK/$1.diff" >&2
		fail "$1: the final Redis state differs from the peer's"
	fi
}

# settings_of rif<R>-c<C>: the daemon's settings of that sweep run.
settings_of() {
	local r=${1#rif} c=${1##*-c}
	echo "BATCH_SIZE=10 RECEIVES_IN_FLIGHT=${r%-c*} CONSUMERS=$c"
}
# median_of NAME: the median rate of the loopback head-to-head runs
# h<i>-NAME.
median_of() {
	sed -n "s/.*\"name\":\"h[0-9]*-$1\".*\"rate\":\([0-9]*\).*/\1/p" "$RESULTS" |
		sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }'
}
# pcs_run NAME NET [VAR=VALUE...]: a daemon drain, checked against the peer.
pcs_run() {
	local name=$1 net=$2
	shift 2
	run "$name" pcs "$net" "$@" && compare "$name"
}
# head_to_head PREFIX NET LABEL=SETTINGS...: BENCH_ROUNDS rounds of one
# drain each, the order turning each round (a slow spell of the machine
# falls on each in turn): runs PREFIX<round>-LABEL.
head_to_head() {
	local prefix=$1 net=$2 i j k n
	shift 2
	local -a cands=("$@")
	n=${#cands[@]}
	for i in $(seq 1 "$ROUNDS"); do
		for j in $(seq 0 $((n - 1))); do
			k=${cands[$(( (i + j) % n ))]}
			# shellcheck disable=SC2086
			pcs_run "$prefix$i-${k%%=*}" "$net" ${k#*=}
		done
	done
}

say "(a) receive+delete, no work"
run noop noop loopback
say "(b) the peer"
run peer peer loopback
say "(d) the daemon, sweep: RECEIVES_IN_FLIGHT $SWEEP_RIF x CONSUMERS $SWEEP_CONSUMERS, BATCH_SIZE=10"
for c in $SWEEP_CONSUMERS; do
	for r in $SWEEP_RIF; do
		# shellcheck disable=SC2046
		pcs_run "rif$r-c$c" loopback $(settings_of "rif$r-c$c")
	done
done
# The two fastest of the sweep against the defaults, BENCH_ROUNDS times
# each: one run of each is within the machine's noise of the others.
top2=$(sed -n 's/.*"name":"\(rif[0-9]*-c[0-9]*\)".*"rate":\([0-9]*\).*/\2 \1/p' "$RESULTS" |
	sort -rn | head -n 2 | cut -d' ' -f2)
cands=(default=)
for t in $top2; do cands+=("$t=$(settings_of "$t")"); done
say "(c) and (d): the defaults against $(echo $top2), $ROUNDS rounds"
head_to_head h loopback "${cands[@]}"
best= best_rate=-1
for t in $top2; do
	m=$(median_of "$t")
	if [ "$m" -gt "$best_rate" ]; then best_rate=$m best=$t; fi
done
BEST=$(settings_of "$best")
say "best: $BEST (median $best_rate msg/s; the defaults' median $(median_of default))"

# Latency at half the best rate: send-to-visible alone, then again with
# wrk on /readyz.
lat_rate=$(( best_rate / 2 ))
[ "$lat_rate" -ge 10 ] || lat_rate=10
redis_cli flushdb >/dev/null
fresh_emulator
HTTP_PORT= PCS_LOG=$WORK/latency.log
for v in $BEST; do export "${v?}"; done
LOG_LEVEL=info start_pcs
for v in $BEST; do unset "${v%%=*}"; done
wait_for 20 ready_with "${best##*-c}" || die "the daemon is not ready: $(http GET /readyz)"
# At half the best rate the emulator takes the sends besides the
# receives and deletes; a quarter and an eighth show the daemon's latency
# where the emulator has room (each line gives the emulator's CPU).
lat() { $B latency --queue "$QURL" --port "$REDIS_PORT" --rate "$1" --secs "$LAT_SECS" --emulator-pid "$SQS_PID"; }
ladder=
for d in 2:half 4:a\ quarter 8:an\ eighth; do
	r=$(( best_rate / ${d%%:*} ))
	[ "$r" -ge 10 ] || r=10
	say "latency at $r msg/s (${d#*:} of the best rate) for $LAT_SECS s"
	l=$(lat "$r")
	say "latency: $l"
	ladder="$ladder${ladder:+,}$(echo "$l" | sed "s/^{/{\"what\":\"${d#*:} of the best rate\",/")"
done
say "latency with wrk on /readyz"
wrk -t1 -c8 -d"${LAT_SECS}s" --latency "http://127.0.0.1:$HTTP_PORT/readyz" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
lat_wrk=$(lat "$lat_rate")
wait "$WRK_PID" || fail "wrk failed: $(cat "$WORK/wrk.txt")"
WRK_PID=
wrk_q() { awk -v q="$1" '$1 == q { print $2 }' "$WORK/wrk.txt" | head -n 1; }
wrk_rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.txt")
wrk_non2xx=$(awk '/Non-2xx/ { print $NF }' "$WORK/wrk.txt")
say "latency under wrk: $lat_wrk; wrk: p50 $(wrk_q 50%) p99 $(wrk_q 99%), $wrk_rps req/s"
stop_pcs
printf '{"ladder":[%s],"latency_under_wrk":%s,"rate":%s,"wrk":{"p50":"%s","p75":"%s","p90":"%s","p99":"%s","rps":"%s","non2xx":"%s"}}\n' \
	"$ladder" "$lat_wrk" "$lat_rate" "$(wrk_q 50%)" "$(wrk_q 75%)" "$(wrk_q 90%)" "$(wrk_q 99%)" \
	"$wrk_rps" "${wrk_non2xx:-0}" >"$WORK/latency.json"

if [ "$REGION_RUN" = 1 ]; then
	region_up
	say "region: $R_HOW"
	run region-peer peer region
	compare region-peer
	head_to_head rh region default= "best=$BEST"
fi

$B report --results "$RESULTS" --latency "$WORK/latency.json" --out "$OUT" \
	--machine "$(machine)" --workload "$(cat "$WORK/workload.txt")" --best "$BEST" --best-name "$best" \
	--region "$R_HOW"
(cd "$OUT" && gnuplot results.gp) || fail "gnuplot failed"
cat "$OUT/results.md"
say "wrote $OUT/results.md, $OUT/results.json, $OUT/results.png"
finish
