#!/bin/bash
# udev-test.sh: the persistent-name test of tools/61-nvme-mpath.rules
# (harness/guest/udev-guest.sh) in a guest with Debian's systemd-udevd, in
# each naming mode it declares (NAMES=nvm-sub or nvme runs one), through
# harness/host/guests.sh; VARIANT=base runs it once on the unmodified 6.12
# kernel (its nvmeXnY heads, untouched by our rules).
. "$(dirname "$0")/common.sh"
echo "TAP version 13"
NAMES=${NAMES:-declared} exec "$TOP/harness/host/guests.sh" "$TOP/harness/guest/udev-guest.sh"
