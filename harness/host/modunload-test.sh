#!/bin/bash
# modunload-test.sh: build the modular variant (configs/modular.config) and
# run harness/guest/modunload-guest.sh in it through harness/host/guests.sh:
# unloading nvme_core while a head waits for a path, with and without an
# opener.  TAP output.
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
echo "TAP version 13"
if ! "$TOP/harness/host/build-kernel.sh" modular > "$LOGS/modunload-build.log" 2>&1; then
	tail -5 "$LOGS/modunload-build.log" | sed 's/^/# /'
	tap_fail "modunload" "the modular kernel did not build (see build/logs/modunload-build.log)"
	tap_summary
	exit 1
fi
exec "$TOP/harness/host/guests.sh" "$TOP/harness/guest/modunload-guest.sh"
