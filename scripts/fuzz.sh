#!/bin/sh
# Fuzz the parsers of outside input: build the libFuzzer harnesses
# (tests/fuzz/fuzz_<target>.c) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in _build-fuzz/, then run each for SECONDS
# (default 60), PCS_FUZZ_JOBS at a time (default: the number of CPUs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      targets: all by default
#
# Each fuzzer starts from tests/fuzz/corpus/<target>/ and
# tests/fuzz/regressions/<target>/ (read, never written) and keeps what it
# finds in _build-fuzz/corpus/<target>/, so a second run goes on where the
# first stopped.  A crash, a leak, a sanitizer report, a timeout (10 s on
# one input) or a broken promise of a parser (the harness aborts) stops
# that fuzzer: its input is saved under _build-fuzz/crashes/<target>/, the
# end of its log is printed, and the script exits 1 once every fuzzer is
# done.  Fix the bug, then copy the input to
# tests/fuzz/regressions/<target>/, where make check replays it.
# Needs clang-14 and libclang-rt-14-dev (scripts/deps.sh); PCS_FUZZ_CC
# names another clang.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
all="http events edge sqs config ipc creds url date sentry"

secs=60
case "${1-}" in
'') ;;
*[!0-9]* | 0) echo "usage: $0 [SECONDS] [TARGET...] (targets: $all)" >&2; exit 64 ;;
*) secs=$1; shift ;;
esac
targets=${*:-$all}
for t in $targets; do
	case " $all " in
	*" $t "*) ;;
	*) echo "fuzz: no target '$t' (targets: $all)" >&2; exit 64 ;;
	esac
done
cc=${PCS_FUZZ_CC:-clang-14}
jobs=${PCS_FUZZ_JOBS:-$(nproc)}
command -v "$cc" >/dev/null 2>&1 ||
	{ echo "fuzz: $cc not found (scripts/deps.sh installs it)" >&2; exit 1; }

build=$top/_build-fuzz
mkdir -p "$build"
cd "$build"
[ -f "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null 2>&1)
if [ ! -f Makefile ] || [ ../configure -nt Makefile ]; then
	echo "fuzz: configuring $build"
	../configure -q --enable-fuzzing --sysconfdir=/etc CC="$cc" \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Wno-format-nonliteral" \
		LDFLAGS="-fsanitize=address,undefined"
fi
progs=""
for t in $targets; do progs="$progs tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
make -s -j"$jobs" $progs

# The dictionaries: tokens of the input's language.
mkdir -p dict
cat "$top/tests/fuzz/dict/json.dict" "$top/tests/fuzz/dict/xml.dict" >dict/creds.dict
dict_of() {
	case "$1" in
	http) echo "$top/tests/fuzz/dict/http.dict" ;;
	events | edge | sqs) echo "$top/tests/fuzz/dict/json.dict" ;;
	creds) echo "$build/dict/creds.dict" ;;
	config) echo "$top/tests/fuzz/dict/config.dict" ;;
	url | sentry) echo "$top/tests/fuzz/dict/url.dict" ;;
	esac
}

run() {
	t=$1
	mkdir -p "corpus/$t" "crashes/$t" logs
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="crashes/$t/"
	d=$(dict_of "$t")
	[ -n "$d" ] && set -- "$@" -dict="$d"
	set -- "$@" "corpus/$t" "$top/tests/fuzz/corpus/$t"
	[ -d "$top/tests/fuzz/regressions/$t" ] &&
		set -- "$@" "$top/tests/fuzz/regressions/$t"
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    LSAN_OPTIONS=suppressions="$top/tests/fuzz/lsan.supp":print_suppressions=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    "tests/fuzz/fuzz_$t" "$@" >"logs/$t.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log")
		echo "fuzz: $t: ${runs:-?} inputs in ${secs}s, no crash"
		rm -f "logs/$t.failed"
	else
		echo "fuzz: $t: FAILED (log: $build/logs/$t.log)"
		tail -n 40 "logs/$t.log"
		for f in "crashes/$t"/*; do
			[ -f "$f" ] && echo "fuzz: $t: input saved in $build/$f"
		done
		: >"logs/$t.failed"
	fi
}

status=0
set -- $targets
while [ $# -gt 0 ]; do
	n=0
	batch=""
	while [ $# -gt 0 ] && [ "$n" -lt "$jobs" ]; do
		batch="$batch $1"
		run "$1" &
		shift
		n=$((n + 1))
	done
	wait
	for t in $batch; do
		[ -f "logs/$t.failed" ] && status=1
	done
done
exit "$status"
