#!/bin/sh
# Records PRODUCT as installed at VERSION on this demo host (the starting point of a demo):
#   set-version.sh PRODUCT VERSION
set -eu
[ "$#" -eq 2 ] || { echo "usage: set-version.sh PRODUCT VERSION" >&2; exit 2; }
host_dir=${LOCKSTEP_DEMO_HOST_DIR:-var/host}
mkdir -p "$host_dir"
printf '%s\n' "$2" >"$host_dir/$1.version"
