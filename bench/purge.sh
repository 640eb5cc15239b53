#!/bin/bash
# Purge latency of one customer against the size of the keyspace, with the
# daemon's own Lua script (the purge step of cache_script: the #keys index,
# no SCAN) and, for comparison, the SCAN + UNLINK of "P:c_<id>:*" that
# purges used before.  A throwaway redis-server on a free loopback port,
# filled by a Lua script; prints a markdown table.  Not part of the test
# suite.
#
# The script is taken from src/cache.c of this tree.  Times are Redis's
# own (SLOWLOG: the microseconds the commands ran in the server, summed
# over every command of one purge), so redis-cli's start-up does not
# count; the SCAN purge's also excludes its round trips, which a real
# client pays once per SCAN call on top.
#
#   SIZES="10000 1000000" RUNS=20 SCAN_RUNS=3 bench/purge.sh   (about 2 min)
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-"10000 1000000"}
RUNS=${RUNS:-20}		# purges timed with the script
SCAN_RUNS=${SCAN_RUNS:-3}	# with SCAN: slow, a redis-cli per SCAN call
command -v redis-server >/dev/null || { echo "redis-server missing" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcs-bench.XXXXXX")
REDIS_PID=
cleanup() {
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# The script as the daemon sends it: the C string literal of src/cache.c.
node -e '
const s = require("fs").readFileSync(process.argv[1], "utf8");
const body = s.slice(s.indexOf("const char cache_script[] ="), s.indexOf("enum conn_state {"));
let out = "";
for (const m of body.matchAll(/^    "(.*)"[;]?$/gm)) out += JSON.parse("\"" + m[1] + "\"");
process.stdout.write(out);' "$SRC/src/cache.c" >"$WORK/script.lua"
[ -s "$WORK/script.lua" ] || { echo "cannot extract the script from src/cache.c" >&2; exit 1; }

while :; do
    PORT=$((20000 + RANDOM % 10000))
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
REDIS_PID=$!
r() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 100); do r PING >/dev/null 2>&1 && break; sleep 0.05; done
r PING >/dev/null || { echo "redis-server did not start" >&2; exit 1; }
SHA=$(r SCRIPT LOAD "$(cat "$WORK/script.lua")")
r CONFIG SET slowlog-log-slower-than 0 >/dev/null
r CONFIG SET slowlog-max-len 100000 >/dev/null
# Microseconds the server spent in the commands since the last reset,
# and how many SCAN calls they were.
spent() {
    r --json SLOWLOG GET 100000 | node -e '
let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
  let us = 0, scans = 0;
  for (const e of JSON.parse(s)) {
    const cmd = String(e[3][0]).toUpperCase();
    if (cmd === "EVALSHA" || cmd === "SCAN" || cmd === "UNLINK") us += e[2];
    if (cmd === "SCAN") scans++;
  }
  console.log(us + " " + scans);
});'
}

# fill N: N keys of other customers (value + #timestamp pairs, 5 keys a
# customer), in chunks of one Lua call each.
fill() {
    local n=$1 done=0 chunk
    while [ "$done" -lt "$n" ]; do
        chunk=$(( n - done < 50000 ? n - done : 50000 ))
        r EVAL "for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1 do
            local c = 'p:c_other' .. math.floor(i / 5)
            local k = (i % 5 == 0) and c or (c .. ':f_' .. (i % 5))
            redis.call('SET', k, '{}') end return 1" 0 "$done" "$chunk" >/dev/null
        done=$((done + chunk))
    done
}

# One customer: value, metadata and 4 metered features, all with timestamps.
write_acme() {
    local keys="p:c_acme p:c_acme:metadata p:c_acme:f_a p:c_acme:f_b p:c_acme:f_c p:c_acme:f_d"
    r EVALSHA "$SHA" 8 p:c_acme p:c_acme $keys W 1000 0 0 \
        '{"a":{},"b":{},"c":{},"d":{}}' '{"accessDeniedReason":null}' \
        '{"currentUsage":1}' '{"currentUsage":1}' '{"currentUsage":1}' '{"currentUsage":1}' >/dev/null
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Median server time (us) of RUNS purges, each after a fresh write.
time_script() {
    local i
    for i in $(seq "$RUNS"); do
        write_acme
        r DEL p:c_acme#purged >/dev/null
        r SLOWLOG RESET >/dev/null
        r EVALSHA "$SHA" 2 p:c_acme p:c_acme P 2000 1209600 >/dev/null
        spent | cut -d' ' -f1
    done | median
}
# The old way: exact keys, then SCAN MATCH p:c_acme:* COUNT 500 + UNLINK
# of each chunk found; prints the median time and SCAN calls.
time_scan() {
    local i cursor out keys
    for i in $(seq "$SCAN_RUNS"); do
        write_acme
        r SLOWLOG RESET >/dev/null
        r UNLINK p:c_acme p:c_acme#timestamp >/dev/null
        cursor=0
        while :; do
            out=$(r --raw SCAN "$cursor" MATCH 'p:c_acme:*' COUNT 500)
            cursor=$(printf '%s\n' "$out" | head -n 1)
            keys=$(printf '%s\n' "$out" | tail -n +2)
            [ -n "$keys" ] && printf '%s\n' "$keys" | xargs redis-cli -p "$PORT" UNLINK >/dev/null
            [ "$cursor" = 0 ] && break
        done
        spent
    done >"$WORK/scan"
    echo "$(cut -d' ' -f1 "$WORK/scan" | median) $(cut -d' ' -f2 "$WORK/scan" | median)"
}

echo "| keys in Redis | purge (Lua, #keys index) | SCAN purge (before) | SCAN calls |"
echo "|---:|---:|---:|---:|"
for size in $SIZES; do
    r FLUSHALL >/dev/null
    fill "$size"
    lua=$(time_script)
    set -- $(time_scan)
    printf '| %s | %.3f ms | %.1f ms | %s |\n' "$size" "$(echo "$lua / 1000" | bc -l)" \
        "$(echo "$1 / 1000" | bc -l)" "$2"
done
echo
echo "Median of $RUNS (SCAN: $SCAN_RUNS) purges of one customer (6 keys and their timestamps), Redis's"
echo "own time (SLOWLOG); the SCAN purge pays one round trip per SCAN call on top."
