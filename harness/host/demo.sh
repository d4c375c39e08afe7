#!/bin/bash
# demo.sh: multipath failover demo (see harness/guest/demo-guest.sh).
. "$(dirname "$0")/common.sh"
variant=${VARIANT:-test}
echo "nvme-mpath demo: $variant kernel, $(git -C "$TREE" log -1 --format='%h %s' 2>/dev/null)"
echo "QEMU topology pcie-dual: subsystem mpath0, ctrl0 and ctrl1 on hotplug ports, 2 shared namespaces"
exec "$TOP/harness/host/vm.py" --variant "$variant" --topo pcie-dual --name demo \
	--timeout "${DEMO_TIMEOUT:-600}" -- "$TOP/harness/guest/demo-guest.sh"
