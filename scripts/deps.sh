#!/bin/sh
# Install, from Debian's archive, what building and testing the service
# needs.  Only packages that are missing are installed, so a second run
# costs nothing; apt-get update runs once, and only when something is
# missing.  Run as root (the README's commands are run as root).
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
libcurl4-openssl-dev libhiredis-dev libjson-c-dev libssl-dev libconfig-dev
libev-dev check redis-server redis-tools curl procps ca-certificates"

case "${1-}" in
--demo) ;;
"") ;;
*) echo "usage: $0 [--demo]" >&2; exit 64 ;;
esac

missing=""
for p in $PKGS; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

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
