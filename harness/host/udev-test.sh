#!/bin/bash
# udev-test.sh: the persistent-name test of tools/61-nvme-mpath.rules
# (harness/guest/udev-guest.sh) in a guest with Debian's systemd-udevd, once per
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
	guest_test "udev[$m]" "udev-$m" --variant "$variant" --topo pcie-dual \
		--cmdline "$cmdline" --timeout 240 -- "bash $TOP/harness/guest/udev-guest.sh"
done
tap_summary
