#!/bin/bash
# The packages: scripts/package.sh builds the .deb and the .rpm from the
# release tarball (or finds them current).  This checks their versions
# against configure.ac, what they hold and with which modes (the
# monitoring files uncompressed), lintian, the man pages (mandoc), then
# installs the .deb on this machine, where it checks the service's user,
# the files' owners and modes, the unit (systemd-analyze verify, and
# security: exposure at most 2.0), the configuration check run as the
# service's user, the installed alert rules (promtool), a reinstall over
# an edited conffile, removal (the configuration stays) and purge
# (nothing is left but the user).  About 15 s when the packages must be built
# (12 s of it the build), 4 s when they are current.
#
# It installs into the real system, as root: the package is purged at
# exit whatever happens.  A marker file says the package on this machine
# is the test's own; one installed otherwise is left alone (SKIP).  Runs
# beside the other tests: they use the build tree's binary and pass
# -c /dev/null, so the installed one and its /etc files do not disturb
# them.  PID 1 need not be systemd: the maintainer scripts cope.
[ "$(id -u)" = 0 ] || { echo "SKIP: installs a package: needs root"; exit 77; }
set -u
: "${PCS_SRCDIR:?PCS_SRCDIR must name the source tree (make check sets it)}"

# lib.sh's reporting helpers (ok, fail, die, expect, finish), without the
# rest of lib.sh: this test starts no redis-server, SQS emulator or
# daemon, so it does not need them, nor skip when they are missing.
. "${PCS_SRCDIR:-.}/tests/integration/assert.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcs-$TEST_NAME.XXXXXX")

PKG=persistent-cache-service
MARKER=/var/tmp/$PKG-package-test.installed
CONF=/etc/$PKG/$PKG.conf
DEFAULTS=/etc/default/$PKG
UNIT=/lib/systemd/system/$PKG.service
export DEBIAN_FRONTEND=noninteractive

pkg_status() { dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null; }

# Purge the package if this test installed it (now or in a run that was
# killed), whatever the test's outcome.
pkg_cleanup() {
    [ -e "$MARKER" ] || return 0
    dpkg -P "$PKG" >/dev/null 2>&1 || { echo "FAIL: could not purge $PKG"; return 1; }
    rm -f "$MARKER"
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local rc=$?
    pkg_cleanup || rc=1
    [ "$rc" = 0 ] && [ "$FAILS" -gt 0 ] && rc=1
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# install_missing PKG...: Debian packages the checks need, only if missing.
install_missing() {
    local p missing=
    for p in "$@"; do
        case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" in
        *" installed") ;;
        *) missing="$missing $p" ;;
        esac
    done
    [ -z "$missing" ] && return 0
    echo "installing$missing"
    apt-get update -qq -o DPkg::Lock::Timeout=60 >/dev/null 2>&1
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=60 $missing >"$WORK/apt-tools.log" 2>&1
}

if [ -e "$MARKER" ]; then
    pkg_cleanup
elif [ -n "$(pkg_status)" ] && [ "$(pkg_status)" != "unknown ok not-installed" ]; then
    echo "SKIP: $PKG is installed on this machine ($(pkg_status)): not replacing it"
    exit 77
fi

# Build (or find current) both packages.
start=$SECONDS
if ! sh "$PCS_SRCDIR/scripts/package.sh" >"$WORK/package.out" 2>&1; then
    cat "$WORK/package.out"
    command -v dpkg-buildpackage >/dev/null ||
        { echo "SKIP: dpkg-buildpackage is missing and could not be installed"; exit 77; }
    die "scripts/package.sh failed"
fi
cat "$WORK/package.out"
echo "packages ready in $((SECONDS - start)) s"
deb=$(sed -n 's/^deb: //p' "$WORK/package.out")
rpm=$(sed -n 's/^rpm: //p' "$WORK/package.out")
[ -f "$deb" ] || die "no .deb: '$deb'"
[ -f "$rpm" ] || die "no .rpm: '$rpm'"

# The versions agree: configure.ac's AC_INIT, debian/changelog, the spec.
version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$PCS_SRCDIR/configure.ac")
expect "debian/changelog version" \
    "$(dpkg-parsechangelog -l "$PCS_SRCDIR/debian/changelog" -S Version)" "$version-1"
spec=$PCS_SRCDIR/rpm/$PKG.spec
expect "rpm spec version" "$(sed -n 's/^Version: *//p' "$spec")" "$version"
expect "rpm spec release" "$(sed -n 's/^Release: *//p' "$spec")" "1%{?dist}"
expect "rpm spec changelog" "$(sed -n '/^%changelog/{n;s/.* - //p;q}' "$spec")" "$version-1"

arch=$(dpkg --print-architecture)
expect ".deb file name" "$(basename "$deb")" "${PKG}_$version-1_$arch.deb"
expect ".rpm file name" "$(basename "$rpm")" "$PKG-$version-1.$(uname -m).rpm"

# The .deb: every path, with mode and owner where they matter.
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' >"$WORK/deb.list"
has_deb() {
    if grep -qxF -- "$1" "$WORK/deb.list"; then ok ".deb: $1"; else fail ".deb lacks '$1'"; fi
}
has_deb "-rwxr-xr-x root/root ./usr/sbin/$PKG"
has_deb "-rw-r--r-- root/root .$UNIT"
has_deb "-rw-r--r-- root/root ./usr/lib/sysusers.d/$PKG.conf"
has_deb "-rw-r--r-- root/root ./usr/share/man/man8/$PKG.8.gz"
has_deb "-rw-r--r-- root/root ./usr/share/man/man5/$PKG.conf.5.gz"
has_deb "-rw-r--r-- root/root ./usr/share/doc/$PKG/examples/$PKG.conf"
has_deb "-rw-r--r-- root/root ./usr/share/doc/$PKG/copyright"
# The monitoring files, uncompressed (dh_compress -X): Prometheus and
# Grafana read them as they are.
MON_DOC=/usr/share/doc/$PKG/monitoring
MON_FILES="$PKG.rules.yml $PKG.dashboard.json prometheus-scrape.yml"
for f in $MON_FILES; do
    has_deb "-rw-r--r-- root/root .$MON_DOC/$f"
done
has_deb "-rw-r----- root/root .$CONF"
has_deb "-rw-r----- root/root .$DEFAULTS"
expect ".deb conffiles" "$(dpkg-deb -I "$deb" conffiles | LC_ALL=C sort | tr '\n' ' ')" \
    "$DEFAULTS $CONF "
case "$(dpkg-deb -f "$deb" Depends)" in
*"systemd | systemd-standalone-sysusers | systemd-sysusers"*) ok ".deb depends on a systemd-sysusers" ;;
*) fail ".deb Depends lacks systemd-sysusers: $(dpkg-deb -f "$deb" Depends)" ;;
esac
# The unit, the sysusers entry and the files in /etc are the tree's.
mkdir "$WORK/deb"
dpkg-deb -x "$deb" "$WORK/deb"
same() {
    if cmp -s "$2" "$3"; then ok "$1"; else fail "$1: $2 differs from $3"; fi
}
sed 's|@sbindir@|/usr/sbin|g' "$PCS_SRCDIR/packaging/$PKG.service.in" >"$WORK/unit.want"
same ".deb unit is packaging/'s, for /usr/sbin" "$WORK/deb$UNIT" "$WORK/unit.want"
same ".deb sysusers.d entry is packaging/'s" "$WORK/deb/usr/lib/sysusers.d/$PKG.conf" \
    "$PCS_SRCDIR/packaging/$PKG.sysusers"
same ".deb $CONF is the example" "$WORK/deb$CONF" "$PCS_SRCDIR/etc/$PKG.conf"
same ".deb $DEFAULTS is packaging/'s" "$WORK/deb$DEFAULTS" "$PCS_SRCDIR/packaging/$PKG.default"
for f in $MON_FILES; do
    same ".deb $MON_DOC/$f is packaging/monitoring/'s" "$WORK/deb$MON_DOC/$f" "$PCS_SRCDIR/packaging/monitoring/$f"
done

# The .rpm: the same layout, %config(noreplace) with mode and group.
expect ".rpm version" "$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpm" 2>/dev/null)" "$version-1"
# MODE|OWNER|GROUP|FLAGS (c: config, n: noreplace, d: doc, as man pages are)|PATH, man
# pages compressed or not.
rpm -qp --qf '[%{FILEMODES:perms}|%{FILEUSERNAME}|%{FILEGROUPNAME}|%{FILEFLAGS:fflags}|%{FILENAMES}\n]' \
    "$rpm" 2>/dev/null | sed 's/\.gz$//' >"$WORK/rpm.list"
has_rpm() {
    if grep -qxF -- "$1" "$WORK/rpm.list"; then ok ".rpm: $1"; else fail ".rpm lacks '$1'"; fi
}
has_rpm "-rwxr-xr-x|root|root||/usr/sbin/$PKG"
has_rpm "-rw-r--r--|root|root||/usr/lib/systemd/system/$PKG.service"
has_rpm "-rw-r--r--|root|root||/usr/lib/sysusers.d/$PKG.conf"
has_rpm "-rw-r--r--|root|root|d|/usr/share/man/man8/$PKG.8"
has_rpm "-rw-r--r--|root|root|d|/usr/share/man/man5/$PKG.conf.5"
has_rpm "-rw-r--r--|root|root|d|/usr/share/doc/$PKG/examples/$PKG.conf"
# rpm.list has .gz taken off: the monitoring files' names are checked as
# they are in the package, uncompressed.
rpm -qlp "$rpm" 2>/dev/null >"$WORK/rpm.names"
for f in $MON_FILES; do
    has_rpm "-rw-r--r--|root|root|d|$MON_DOC/$f"
    if grep -qxF "$MON_DOC/$f" "$WORK/rpm.names"; then ok ".rpm: $MON_DOC/$f uncompressed"; else fail ".rpm: $MON_DOC/$f not as it is"; fi
done
has_rpm "-rw-r-----|root|$PKG|cn|$CONF"
has_rpm "-rw-r-----|root|$PKG|cn|/etc/sysconfig/$PKG"
rpm -qp --scripts "$rpm" >"$WORK/rpm.scripts" 2>/dev/null
for s in "preinstall scriptlet" "postinstall scriptlet" "preuninstall scriptlet" \
    "postuninstall scriptlet" "systemctl" "$PKG.service"; do
    if grep -qF "$s" "$WORK/rpm.scripts"; then ok ".rpm scripts: $s"; else fail ".rpm scripts lack '$s'"; fi
done

# lintian: no errors (its warnings and notes are shown).
lintian "$deb" >"$WORK/lintian.out" 2>&1
grep -v 'running with root privileges' "$WORK/lintian.out"
expect "lintian errors" "$(grep -c '^E:' "$WORK/lintian.out")" 0
echo "lintian: $(grep -c '^W:' "$WORK/lintian.out") warning(s)"

# The man pages, as mandoc sees them; man-db for systemd-analyze verify.
install_missing mandoc man-db || die "cannot install mandoc and man-db: $(tail -n 5 "$WORK/apt-tools.log")"
for m in "$PCS_SRCDIR/man/$PKG.8" "$PCS_SRCDIR/man/$PKG.conf.5"; do
    if out=$(mandoc -Tlint -Wwarning "$m" 2>&1) && [ -z "$out" ]; then
        ok "mandoc -Tlint: $(basename "$m")"
    else
        fail "mandoc -Tlint $(basename "$m"): $out"
    fi
done

# Install, with apt-get to bring any missing dependency.
touch "$MARKER"
apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=60 "$deb" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; die "apt-get install $deb failed"; }
expect "installed" "$(pkg_status)" "install ok installed"
expect "installed version" "$(dpkg-query -W -f='${Version}' "$PKG")" "$version-1"
expect "-V" "$(/usr/sbin/$PKG -V)" "$PKG $version"
expect "user" "$(getent passwd "$PKG" | cut -d: -f1,6,7)" "$PKG:/nonexistent:/usr/sbin/nologin"
expect "group" "$(getent group "$PKG" | cut -d: -f1)" "$PKG"
expect "user's primary group" "$(id -gn "$PKG")" "$PKG"
expect "$CONF owner and mode" "$(stat -c '%a %U %G' "$CONF")" "640 root $PKG"
expect "$DEFAULTS owner and mode" "$(stat -c '%a %U %G' "$DEFAULTS")" "640 root $PKG"
for f in "/usr/sbin/$PKG" "$UNIT" "/usr/lib/sysusers.d/$PKG.conf" \
    "/usr/share/man/man8/$PKG.8.gz" "/usr/share/man/man5/$PKG.conf.5.gz" \
    "/usr/share/doc/$PKG/examples/$PKG.conf" "$MON_DOC/$PKG.rules.yml" \
    "$MON_DOC/$PKG.dashboard.json" "$MON_DOC/prometheus-scrape.yml"; do
    if [ -f "$f" ]; then ok "installed $f"; else fail "not installed: $f"; fi
done
# The installed alert rules load (promtool, of Debian's prometheus, when
# it is here: tests/integration/monitoring.sh checks them further).
if command -v promtool >/dev/null; then
    out=$(promtool check rules "$MON_DOC/$PKG.rules.yml" 2>&1)
    case "$out" in
    *"SUCCESS: 8 rules found"*) ok "promtool check rules $MON_DOC/$PKG.rules.yml" ;;
    *) fail "promtool check rules $MON_DOC/$PKG.rules.yml: $out" ;;
    esac
fi
# deb-systemd-helper enables the unit even without a running systemd.
wants=/etc/systemd/system/multi-user.target.wants/$PKG.service
expect "unit enabled" "$(readlink "$wants")" "$UNIT"

# The unit, checked where it is installed, beside the binary and man pages.
out=$(systemd-analyze verify "$UNIT" 2>&1); rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify"; else fail "systemd-analyze verify ($rc): $out"; fi
exposure=$(systemd-analyze security --offline=true "$UNIT" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "exposure: $exposure"
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
    ok "systemd-analyze security: exposure $exposure <= 2.0"
else
    fail "systemd-analyze security: exposure '$exposure' > 2.0"
fi

# The service's user reads the installed configuration; nobody else can.
check_as() {
    runuser -u "$1" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/stigg \
        AWS_REGION=us-east-1 "/usr/sbin/$PKG" -t 2>&1
}
expect "-t as $PKG" "$(check_as "$PKG")" \
    "$PKG: configuration OK ($CONF); region us-east-1; AWS credentials: instance metadata (IMDSv2) at http://169.254.169.254"
out=$(check_as nobody); rc=$?
if [ "$rc" = 78 ]; then ok "-t as nobody: exit 78 ($out)"; else fail "-t as nobody: exit $rc: $out"; fi

# Reinstall (an upgrade to postinst) over an edited conffile: the edit
# stays, and so do owner and mode.
echo "# edited by the package test" >>"$CONF"
dpkg -i "$deb" >"$WORK/reinstall.log" 2>&1 || { cat "$WORK/reinstall.log"; fail "reinstall"; }
expect "edit kept over reinstall" "$(tail -n 1 "$CONF")" "# edited by the package test"
expect "$CONF owner and mode after reinstall" "$(stat -c '%a %U %G' "$CONF")" "640 root $PKG"

# Remove: the configuration stays.
dpkg -r "$PKG" >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; fail "dpkg -r"; }
expect "removed" "$(pkg_status)" "deinstall ok config-files"
if [ -e "/usr/sbin/$PKG" ]; then fail "binary left after remove"; else ok "binary gone after remove"; fi
if [ -e "$UNIT" ]; then fail "unit left after remove"; else ok "unit gone after remove"; fi
expect "$CONF kept after remove" "$(stat -c '%a %U %G' "$CONF" 2>&1)" "640 root $PKG"
if [ -f "$DEFAULTS" ]; then ok "$DEFAULTS kept after remove"; else fail "$DEFAULTS gone after remove"; fi

# Purge: nothing of the package is left but its user and group.
dpkg -P "$PKG" >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg -P"; }
rm -f "$MARKER"
if dpkg -L "$PKG" >/dev/null 2>&1; then fail "dpkg -L after purge"; else ok "dpkg -L fails after purge"; fi
case "$(pkg_status)" in
"" | "unknown ok not-installed") ok "not installed after purge" ;;
*) fail "status after purge: $(pkg_status)" ;;
esac
left=
for f in $(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print substr($6, 2) }') \
    "/etc/$PKG" "/usr/share/doc/$PKG" "$wants" \
    "/var/lib/systemd/deb-systemd-helper-enabled/$PKG.service.dsh-also"; do
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
expect "left after purge" "$left" ""
if getent passwd "$PKG" >/dev/null; then ok "user stays after purge"; else fail "user gone after purge"; fi

finish
