#!/bin/bash
# ll-test.sh: tools/nvme-mpath-ll (the admin's view of heads, paths,
# states and counters) checked against sysfs in a guest, once per naming
# mode (LL_MODES, default "nvm-sub nvme").
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
echo "TAP version 13"
for m in ${LL_MODES:-nvm-sub nvme}; do
	guest_test "nvme-mpath-ll[$m]" "ll-$m" --variant "${VARIANT:-test}" --topo pcie-dual \
		--cmdline "nvme_core.multipath_names=$m" --timeout 180 \
		-- "bash $TOP/harness/guest/ll-guest.sh"
done
tap_summary
