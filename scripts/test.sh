#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: install what is
# missing, build with -Wall -Wextra -Werror, run the unit and integration
# tests (real redis-server), run every fuzzer for 20 s (scripts/fuzz.sh,
# two at a time; PCS_SKIP_FUZZ=1 skips it), run the tests again built
# with AddressSanitizer and UndefinedBehaviorSanitizer (any report, from
# any process, fails the run), then check that the release tarball builds and passes the same
# tests (make distcheck).  The long fault scenario (chaos.sh) runs once,
# in the first run only: PCS_SKIP_LONG=1 skips it in the other two.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/build.sh
# The test helpers' npm packages, for the release tarball's tests too
# (make distcheck runs them in a tree without node_modules/).
PCS_NODE_MODULES=$top/node_modules
export PCS_NODE_MODULES
# The logs of the tests that failed under build directory $1: CI keeps
# only what this prints.
show_failed() {
	for f in $(grep -l -E '^:test-result: (FAIL|ERROR)' "$1"/tests/*/*.trs 2>/dev/null); do
		echo "==== ${f%.trs}.log"
		cat "${f%.trs}.log" || true
	done
}
cd _build
status=0
make -j2 check || status=$?
[ "$status" = 0 ] || show_failed .
if [ "$status" = 0 ] && [ "${PCS_SKIP_FUZZ-}" != 1 ]; then
	if PCS_FUZZ_JOBS=2 "$top/scripts/fuzz.sh" 20 >fuzz.log 2>&1; then
		grep '^fuzz: [a-z]*: ' fuzz.log || true
	else
		cat fuzz.log
		status=1
	fi
fi
if [ "$status" = 0 ] && [ "${PCS_SKIP_SANITIZERS-}" != 1 ]; then
	san=$top/_build-san
	reports=$san/sanitizer-reports
	mkdir -p "$san"
	rm -rf "$reports"
	mkdir -p "$reports"
	(
		cd "$san"
		[ -f Makefile ] && [ Makefile -nt ../configure ] ||
			../configure -q --enable-werror --sysconfdir=/etc \
			CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
			LDFLAGS="-fsanitize=address,undefined"
		make -s -j"$(nproc)"
		PCS_SKIP_LONG=1 \
		ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
		UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan" \
			make -s -j2 check >"$san/check.log" 2>&1
	) || { echo "sanitizer build: tests failed"; tail -n 40 "$san/check.log"; show_failed "$san"; status=1; }
	if [ -n "$(ls -A "$reports")" ]; then
		echo "sanitizer reports:"
		cat "$reports"/*
		status=1
	elif [ "$status" = 0 ]; then
		echo "sanitizers (ASan, UBSan, LeakSanitizer): no reports"
	fi
fi
if [ "$status" = 0 ] && [ "${PCS_SKIP_DISTCHECK-}" != 1 ]; then
	PCS_SKIP_LONG=1 make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
		>distcheck.log 2>&1 || {
		tail -n 60 distcheck.log
		# The tree make distcheck left: its build directory is _build/sub.
		for d in persistent-cache-service-*/_build/sub; do
			[ -d "$d" ] && show_failed "$d"
		done
		status=1
	}
	[ "$status" = 0 ] && echo "distcheck: OK"
fi
pass=$(cat tests/*/*.trs 2>/dev/null | grep -c '^:test-result: PASS' || true)
fail=$(cat tests/*/*.trs 2>/dev/null | grep -c -E '^:test-result: (FAIL|ERROR|XPASS)' || true)
skip=$(cat tests/*/*.trs 2>/dev/null | grep -c '^:test-result: SKIP' || true)
echo "$pass passed, $fail failed, $skip skipped"
exit "$status"
