#!/bin/bash
# ll-test.sh: tools/nvme-mpath-ll (the admin's view of heads, paths,
# states and counters) checked against sysfs in a guest
# (harness/guest/ll-guest.sh), in each naming mode it declares (NAMES=
# nvm-sub or nvme runs one), through harness/host/guests.sh.
. "$(dirname "$0")/common.sh"
echo "TAP version 13"
NAMES=${NAMES:-declared} exec "$TOP/harness/host/guests.sh" "$TOP/harness/guest/ll-guest.sh"
