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
	tap_guest "udev[$m]" "$out" $?
done
tap_summary
