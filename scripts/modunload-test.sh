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
rc=$?
grep -E '^(not )?ok |^# ' "$out" | sed 's/^/# /'
total=$(grep -c -E '^(not )?ok [0-9]' "$out")
failed=$(grep -c -E '^not ok [0-9]' "$out")
if grep -qE '^1\.\.0 # SKIP' "$out"; then
	tap_skip "modunload" "$(sed -n 's/^1\.\.0 # SKIP //p' "$out")"
elif [ "$rc" = 0 ] && [ "$total" -gt 0 ] && [ "$failed" = 0 ]; then
	tap_ok "modunload" "$total checks"
else
	tap_fail "modunload" "$failed of $total checks failed (guest status $rc; see build/logs/$name.log)"
fi
tap_summary
