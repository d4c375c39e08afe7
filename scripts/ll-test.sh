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
	tap_guest "nvme-mpath-ll[$m]" "$out" $?
done
tap_summary
