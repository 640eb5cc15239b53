#!/bin/sh
# Build the Debian package and the RPM package of the service, both from
# the release tarball (`make dist`), on this machine: Debian 12, as root.
# Installs what is missing first (the Build-Depends of debian/control and
# the packaging tools: debhelper, lintian, rpm), works under _build/pkg/
# and leaves the two packages in _build/packages/, then prints their paths:
#
#   deb: .../_build/packages/persistent-cache-service_0.1.0-1_amd64.deb
#   rpm: .../_build/packages/persistent-cache-service-0.1.0-1.x86_64.rpm
#
# The source tree is not written to, except that ./autogen.sh runs when
# configure is missing or stale, as in scripts/build.sh.  A second run
# with the same sources rebuilds nothing: the packages are rebuilt only
# when the tarball's contents change (a checksum of them is kept beside
# the packages).  Both builds run the unit tests (not the integration
# tests, which need redis-server and Node.js); DEB_BUILD_OPTIONS=nocheck
# skips them in both.
#
# PCS_PKG_DIR=DIR works in DIR/pkg/ and leaves the packages in
# DIR/packages/ instead of _build/.
set -eu
# Run from make (the test suite), the package builds must not inherit its
# jobserver or its variables (make check TESTS=...).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
top=$(cd "$(dirname "$0")/.." && pwd)
base=${PCS_PKG_DIR:-$top/_build}
work=$base/pkg
out=$base/packages
name=persistent-cache-service

# Build dependencies: those of debian/control (debhelper provides
# debhelper-compat and the dh-sequence-* ones), and the tools, installed
# only when missing.
bdeps=$(sed -n '/^Build-Depends:/,/^[^ ]/p' "$top/debian/control" |
	sed '1s/^Build-Depends://; /^[^ ]/d' | tr ',' '\n' |
	sed 's/[[(<].*//; s/|.*//; s/^ *//; s/ *$//; /^$/d; s/^debhelper-compat$/debhelper/; s/^dh-sequence-.*/debhelper/')
# shellcheck disable=SC2086
PCS_DEPS_NO_NPM=1 "$top/scripts/deps.sh" dpkg-dev debhelper lintian rpm $bdeps

mkdir -p "$work" "$out"
# One build at a time (the test suite may run this while a person does).
exec 9>"$work/.lock"
flock 9

# The release tarball, from a build directory of its own: _build/ may be
# running the test suite meanwhile.
if [ -w "$top" ]; then
	cd "$top"
	[ -x configure ] && [ configure -nt configure.ac ] &&
		[ Makefile.in -nt Makefile.am ] || ./autogen.sh >"$work/autogen.log" 2>&1 ||
		{ cat "$work/autogen.log"; exit 1; }
fi
mkdir -p "$work/dist"
cd "$work/dist"
[ -f Makefile ] && [ Makefile -nt "$top/configure" ] ||
	"$top/configure" -q >"$work/configure.log" 2>&1 ||
	{ cat "$work/configure.log"; exit 1; }
rm -f ./*.tar.gz
make -s dist >"$work/dist.log" 2>&1 || { cat "$work/dist.log"; exit 1; }
set -- "$work"/dist/$name-*.tar.gz
tarball=$1
version=$(basename "$tarball" .tar.gz)
version=${version#"$name"-}

# What the tarball holds, file by file: its checksum decides whether the
# packages in $out are current.
rm -rf "$work/src"
mkdir -p "$work/src"
tar -xzf "$tarball" -C "$work/src"
src=$work/src/$name-$version
sum=$(cd "$src" && find . -type f -printf '%m %p\n' | LC_ALL=C sort |
	while read -r mode f; do echo "$mode $(sha256sum <"$f") $f"; done |
	sha256sum | cut -d' ' -f1)
deb=$(ls "$out"/*.deb 2>/dev/null || true)
rpm=$(ls "$out"/*.rpm 2>/dev/null || true)
if [ "$(cat "$out/.source-sha256" 2>/dev/null || true)" = "$sum" ] &&
	[ -f "$deb" ] && [ -f "$rpm" ]; then
	echo "package: up to date with $(basename "$tarball")"
	echo "deb: $deb"
	echo "rpm: $rpm"
	exit 0
fi
rm -f "$out/.source-sha256" "$out"/*.deb "$out"/*.rpm

# The .deb: dpkg-buildpackage in the unpacked tarball, with the tarball
# as its .orig.tar.gz (source format 3.0 (quilt)).  No dbgsym package.
echo "package: building the .deb from $(basename "$tarball")"
rm -rf "$work/deb"
mkdir -p "$work/deb"
cp "$tarball" "$work/deb/${name}_$version.orig.tar.gz"
cp -a "$src" "$work/deb/"
(
	cd "$work/deb/$name-$version"
	DEB_BUILD_OPTIONS="noddebs parallel=$(nproc) ${DEB_BUILD_OPTIONS-}" \
		nice dpkg-buildpackage -us -uc -b
) >"$work/deb.log" 2>&1 || { tail -n 60 "$work/deb.log"; echo "package: the .deb build failed: $work/deb.log"; exit 1; }
cp "$work/deb"/"$name"_*.deb "$out/"

# The .rpm: rpmbuild from the tarball, with this machine's rpm macros
# (Debian's rpm lacks the RPM family's build dependencies: --nodeps).
echo "package: building the .rpm"
rm -rf "$work/rpm"
mkdir -p "$work/rpm/SOURCES"
cp "$tarball" "$work/rpm/SOURCES/"
cp "$src/packaging/$name.sysusers" "$work/rpm/SOURCES/"
case " ${DEB_BUILD_OPTIONS-} " in
*" nocheck "*) rpmcheck="--without check" ;;
*) rpmcheck= ;;
esac
# shellcheck disable=SC2086
nice rpmbuild --define "_topdir $work/rpm" --nodeps $rpmcheck \
	-bb "$src/rpm/$name.spec" >"$work/rpm.log" 2>&1 ||
	{ tail -n 60 "$work/rpm.log"; echo "package: the .rpm build failed: $work/rpm.log"; exit 1; }
cp "$work/rpm"/RPMS/*/"$name"-"$version"-*.rpm "$out/"

echo "$sum" >"$out/.source-sha256"
echo "deb: $(ls "$out"/*.deb)"
echo "rpm: $(ls "$out"/*.rpm)"
