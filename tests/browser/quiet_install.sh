#!/bin/sh
# A demo installer that stays silent a while before installing: the console must show the
# agent "not responding — do not interrupt" meanwhile (U8). quiet_install.sh SECONDS PACKAGE VERSION PRODUCT
seconds=$1
shift
sleep "$seconds"
exec sh "$(dirname "$0")/../../tools/demo-host/install.sh" "$@"
