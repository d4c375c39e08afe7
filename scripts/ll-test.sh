#!/bin/bash
# ll-test.sh: scripts/nvme-mpath-ll (the admin's view of heads, paths,
# states and counters) checked against sysfs in a guest, once per naming
# mode (LL_MODES, default "nvm-sub nvme").
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
echo "TAP version 13"
for m in ${LL_MODES:-nvm-sub nvme}; do
	name=ll-$m
	out=$LOGS/$name.out
	"$TOP/scripts/vm.py" --variant "${VARIANT:-test}" --topo pcie-dual \
		--cmdline "nvme_core.multipath_names=$m" --name "$name" --quiet \
		--output "$out" --timeout 180 -- "bash $TOP/scripts/ll-guest.sh"
	rc=$?
	grep -E '^(not )?ok |^# ' "$out" | sed 's/^/# /'
	total=$(grep -c -E '^(not )?ok [0-9]' "$out")
	failed=$(grep -c -E '^not ok [0-9]' "$out")
	if grep -qE '^1\.\.0 # SKIP' "$out"; then
		tap_skip "nvme-mpath-ll[$m]" "$(sed -n 's/^1\.\.0 # SKIP //p' "$out")"
	elif [ "$rc" = 0 ] && [ "$total" -gt 0 ] && [ "$failed" = 0 ]; then
		tap_ok "nvme-mpath-ll[$m]" "$total checks"
	else
		tap_fail "nvme-mpath-ll[$m]" "$failed of $total checks failed (guest status $rc; see build/logs/$name.log)"
	fi
done
tap_summary
