#!/bin/bash
# modunload-test.sh: build the modular variant (configs/modular.config) and
# run scripts/modunload-guest.sh in it: unloading nvme_core while a head
# waits for a path, with and without an opener.  TAP output.
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
echo "TAP version 13"
name=modunload
if ! "$TOP/scripts/build-kernel.sh" modular > "$LOGS/$name-build.log" 2>&1; then
	tail -5 "$LOGS/$name-build.log" | sed 's/^/# /'
	tap_fail "modunload" "the modular kernel did not build (see build/logs/$name-build.log)"
	tap_summary
	exit 1
fi
out=$LOGS/$name.out
"$TOP/scripts/vm.py" --variant modular --topo none --name "$name" --quiet \
	--output "$out" --timeout 300 \
	-- "bash $TOP/scripts/modunload-guest.sh $OBJ_BASE/modular/mods"
tap_guest modunload "$out" $?
tap_summary
