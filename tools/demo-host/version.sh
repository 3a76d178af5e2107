#!/bin/sh
# Prints the version of PRODUCT installed on this demo host: version.sh PRODUCT
#   LOCKSTEP_DEMO_HOST_DIR  host state directory (default var/host)
set -eu
[ "$#" -eq 1 ] || { echo "usage: version.sh PRODUCT" >&2; exit 2; }
product=$1
case $product in
    '' | .* | */* | *[!A-Za-z0-9._-]*) echo "version: invalid product name '$product'" >&2; exit 2 ;;
esac
file=${LOCKSTEP_DEMO_HOST_DIR:-var/host}/$product.version
[ -f "$file" ] || { echo "version: $product is not installed on this host ($file missing)" >&2; exit 1; }
head -n 1 "$file"
