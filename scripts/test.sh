#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: install what is
# missing, build with -Wall -Wextra -Werror, run the unit and integration
# tests (real redis-server), then check that the release tarball builds
# and passes the same tests (make distcheck).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/build.sh
cd _build
status=0
make -j2 check || status=$?
if [ "$status" != 0 ]; then
	for f in $(grep -l -E '^:test-result: (FAIL|ERROR)' tests/*/*.trs 2>/dev/null); do
		echo "==== ${f%.trs}.log"
		cat "${f%.trs}.log"
	done
fi
if [ "$status" = 0 ] && [ "${PCS_SKIP_DISTCHECK-}" != 1 ]; then
	make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
		>distcheck.log 2>&1 || { tail -n 60 distcheck.log; status=1; }
	[ "$status" = 0 ] && echo "distcheck: OK"
fi
pass=$(cat tests/*/*.trs 2>/dev/null | grep -c '^:test-result: PASS' || true)
fail=$(cat tests/*/*.trs 2>/dev/null | grep -c -E '^:test-result: (FAIL|ERROR|XPASS)' || true)
skip=$(cat tests/*/*.trs 2>/dev/null | grep -c '^:test-result: SKIP' || true)
echo "$pass passed, $fail failed, $skip skipped"
exit "$status"
