#!/bin/bash
# udev-test.sh: the persistent-name test of udev/61-nvme-mpath.rules
# (scripts/udev-guest.sh) in a guest with Debian's systemd-udevd, once per
# naming mode (UDEV_MODES, default "nvm-sub nvme"); VARIANT=base runs it on
# the unmodified 6.12 kernel (its nvmeXnY heads, untouched by our rules).
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
variant=${VARIANT:-test}
modes=${UDEV_MODES:-nvm-sub nvme}
[ "$variant" = base ] && modes=6.12
echo "TAP version 13"
for m in $modes; do
	cmdline=
	[ "$m" = 6.12 ] || cmdline=nvme_core.multipath_names=$m
	name=udev-$m
	out=$LOGS/$name.out
	"$TOP/scripts/vm.py" --variant "$variant" --topo pcie-dual --cmdline "$cmdline" \
		--name "$name" --quiet --output "$out" --timeout 240 \
		-- "bash $TOP/scripts/udev-guest.sh"
	rc=$?
	grep -E '^(not )?ok |^# ' "$out" | sed 's/^/# /'
	total=$(grep -c -E '^(not )?ok [0-9]' "$out")
	failed=$(grep -c -E '^not ok [0-9]' "$out")
	if grep -qE '^1\.\.0 # SKIP' "$out"; then
		tap_skip "udev[$m]" "$(sed -n 's/^1\.\.0 # SKIP //p' "$out")"
	elif [ -s "$LOGS/$name.problems" ]; then
		tap_fail "udev[$m]" "kernel warnings/bugs on the console (see build/logs/$name.log)"
	elif [ "$rc" = 0 ] && [ "$total" -gt 0 ] && [ "$failed" = 0 ]; then
		tap_ok "udev[$m]" "$total checks"
	else
		tap_fail "udev[$m]" "$failed of $total checks failed (guest status $rc; see build/logs/$name.log)"
	fi
done
tap_summary
