#!/bin/sh
# Install, from Debian's archive, what building and testing the service
# needs.  Only packages that are missing are installed, so a second run
# costs nothing; apt-get update runs once, and only when something is
# missing.  Run as root (the README's commands are run as root).
# prometheus gives the tests a real Prometheus server and promtool (the
# metrics scrape in metrics.sh, the shipped alert rules and dashboard); its
# service is not needed and may stay stopped.
# clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizers' runtime)
# build the fuzzers of scripts/fuzz.sh; the normal build uses gcc.
# Node.js (Debian's nodejs and npm, only when there is no node at all) runs
# the test helpers in tests/support/; their npm packages are pinned in
# package-lock.json and installed with `npm ci` into node_modules/ when it
# is missing or older than the lockfile.  Further Debian packages can be
# named as arguments (scripts/package.sh names its build tools).
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
libcurl4-openssl-dev libhiredis-dev libjson-c-dev libssl-dev libconfig-dev
libev-dev check redis-server redis-tools openssl curl procps ca-certificates
faketime prometheus clang-14 libclang-rt-14-dev"

case "${1-}" in
-*) echo "usage: $0 [DEBIAN-PACKAGE...]" >&2; exit 64 ;;
esac
PKGS="$PKGS $*"

missing=""
for p in $PKGS; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
# Any Node.js will do (>= 18): take Debian's only when there is none.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The test helpers' npm packages, exactly as locked.  npm ci writes
# node_modules/.package-lock.json last, so its absence means no complete
# install; a lockfile newer than it means the pins changed.  Not for a
# tree that is only being packaged (PCS_DEPS_NO_NPM=1: scripts/package.sh,
# which may run in make distcheck's read-only tree).
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$top/package-lock.json" ] && [ "${PCS_DEPS_NO_NPM-}" != 1 ]; then
	stamp=$top/node_modules/.package-lock.json
	if [ ! -f "$stamp" ] ||
		[ -n "$(find "$top/package-lock.json" -newer "$stamp")" ]; then
		echo "deps: npm ci"
		(cd "$top" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
fi
