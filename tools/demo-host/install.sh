#!/bin/sh
# Demo installer for a Lockstep site host: install.sh PACKAGE VERSION PRODUCT
#
# PACKAGE is a .tar.gz with a VERSION file at its root (the vendor tool makes them). The
# script unpacks it, checks that VERSION is the requested version, "installs" the contents into
# the host state directory and records the installed version, printing progress as it goes.
#
#   LOCKSTEP_DEMO_HOST_DIR        host state directory (default var/host)
#   LOCKSTEP_DEMO_INSTALL_SECONDS how long the install takes, whole seconds (default 1)
#   LOCKSTEP_DEMO_INSTALL_FAIL    set and non-empty: fail half-way (the failure scenario)
#
# Every run that starts installing appends one line "<UTC time> <product> <version> <pid>" to
# HOST_DIR/installer-runs: the host's own count of installer runs (the fault tests check that
# an update ran the installer exactly once, whatever crashed around it).
#
# Exits non-zero with a message on any problem; the installed version is unchanged then.
set -eu

die() {
    echo "install: error: $*" >&2
    exit 1
}

[ "$#" -eq 3 ] || die "usage: install.sh PACKAGE VERSION PRODUCT"
package=$1
version=$2
product=$3
host_dir=${LOCKSTEP_DEMO_HOST_DIR:-var/host}
seconds=${LOCKSTEP_DEMO_INSTALL_SECONDS:-1}

case $product in
    '' | .* | */* | *[!A-Za-z0-9._-]*) die "invalid product name '$product'" ;;
esac
case $version in
    '' | *[!0-9._]*) die "invalid version '$version'" ;;
esac
case $seconds in
    '' | *[!0-9]*) die "LOCKSTEP_DEMO_INSTALL_SECONDS must be whole seconds, got '$seconds'" ;;
esac
[ -f "$package" ] || die "package not found: $package"

mkdir -p "$host_dir" || die "cannot create the host directory $host_dir"
printf '%s %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$product" "$version" "$$" \
    >>"$host_dir/installer-runs"
work=$(mktemp -d "$host_dir/.install.XXXXXX") || die "cannot create a work directory in $host_dir"
trap 'rm -rf "$work"' EXIT
trap 'echo "install: stopped by a signal" >&2; exit 143' INT TERM

echo "progress 5% installing $product $version from $package"
mkdir "$work/unpacked"
tar -xzf "$package" -C "$work/unpacked" || die "cannot unpack $package (not a .tar.gz?)"
[ -f "$work/unpacked/VERSION" ] || die "the package has no VERSION file at its root"
package_version=$(head -n 1 "$work/unpacked/VERSION" | tr -d ' \t\r')
[ "$package_version" = "$version" ] ||
    die "the package contains version '$package_version', not the requested '$version'"
echo "progress 20% unpacked version $package_version"

i=0
while [ "$i" -lt "$seconds" ]; do
    sleep 1
    i=$((i + 1))
    echo "progress $((20 + 70 * i / seconds))% installing files ($i/$seconds s)"
    if [ -n "${LOCKSTEP_DEMO_INSTALL_FAIL:-}" ]; then
        die "simulated failure (LOCKSTEP_DEMO_INSTALL_FAIL=$LOCKSTEP_DEMO_INSTALL_FAIL)"
    fi
done
if [ -n "${LOCKSTEP_DEMO_INSTALL_FAIL:-}" ]; then
    die "simulated failure (LOCKSTEP_DEMO_INSTALL_FAIL=$LOCKSTEP_DEMO_INSTALL_FAIL)"
fi

# Swap the product's files in, then record the version: a crash before the last step leaves
# the old version recorded, never a version whose files are missing.
rm -rf "$host_dir/$product.old"
[ ! -d "$host_dir/$product" ] || mv "$host_dir/$product" "$host_dir/$product.old"
mv "$work/unpacked" "$host_dir/$product"
printf '%s\n' "$version" >"$work/version"
mv "$work/version" "$host_dir/$product.version"
rm -rf "$host_dir/$product.old"
echo "progress 100% installed $product $version"
