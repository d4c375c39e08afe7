#!/bin/bash
# modunload-test.sh: build the modular variant (configs/modular.config) and
# run harness/guest/modunload-guest.sh in it: unloading nvme_core while a head
# waits for a path, with and without an opener.  TAP output.
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
echo "TAP version 13"
name=modunload
if ! "$TOP/harness/host/build-kernel.sh" modular > "$LOGS/$name-build.log" 2>&1; then
	tail -5 "$LOGS/$name-build.log" | sed 's/^/# /'
	tap_fail "modunload" "the modular kernel did not build (see build/logs/$name-build.log)"
	tap_summary
	exit 1
fi
guest_test modunload "$name" --variant modular --topo none --timeout 300 \
	-- "bash $TOP/harness/guest/modunload-guest.sh $OBJ_BASE/modular/mods"
tap_summary
