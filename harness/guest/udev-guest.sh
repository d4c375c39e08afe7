#!/bin/bash
# nvme-mpath-name: udev
# nvme-mpath-topology: pcie-dual
# nvme-mpath-timeout: 240
# nvme-mpath-names: nvm-sub nvme
# udev-guest.sh: in the guest (topology pcie-dual), with Debian's
# systemd-udevd running the distribution's rules plus tools/61-nvme-mpath.rules:
# a GPT and an ext4 filesystem on a multipath head get every persistent
# link a plain NVMe namespace gets, pointing to the head, none to a hidden
# path, and the links survive the unplug and replug of one controller.
# Whatever the heads are named (nvm-subXnY, nvmeXnY): KTAP output.
TOP=${NVME_MPATH_TOP:?}
. "${NVME_MPATH_LIB:?path of the nvme-mpath selftests lib.sh}" || exit 1

ktap_print_header
require_cmd udevadm sfdisk mkfs.ext4 blkid
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || skip_all "systemd-udevd not installed (Debian package udev)"
require_pcie_dual
ktap_set_plan 6

h=$(head_for_nsid 1)
mkdir -p /run/udev/rules.d
# UDEV_NO_RULES=1: without our rules (to see the test fail)
[ -n "$UDEV_NO_RULES" ] || cp "$TOP/tools/61-nvme-mpath.rules" /run/udev/rules.d/
"$UDEVD" --daemon 2>"$TMP/udevd.err" || ktap_exit_fail_msg "systemd-udevd: $(cat "$TMP/udevd.err")"
cleanup() { udevadm control --exit 2>/dev/null; }
udevadm trigger --action=add --subsystem-match=block
udevadm settle -t 30

# a GPT with two named partitions, ext4 with a label on the first
printf 'label: gpt\nsize=16MiB, name="mp-data"\nsize=8MiB, name="mp-spare"\n' |
	sfdisk -q "/dev/$h" >/dev/null || ktap_exit_fail_msg "sfdisk on /dev/$h failed"
udevadm settle -t 30
part=$(for p in /sys/block/"$h"/"$h"*1; do [ -e "$p" ] && echo "${p##*/}"; done | head -1)
wait_for 10 test -b "/dev/$part" || ktap_exit_fail_msg "no partition node for $h"
mkfs.ext4 -q -F -L mplabel "/dev/$part" || ktap_exit_fail_msg "mkfs.ext4 /dev/$part failed"
udevadm settle -t 30
msg "head $h, partition $part; paths: $(head_paths "$h" | tr '\n' ' ')"

# the links a plain NVMe namespace gets, as systemd builds them
esc() { echo "$1" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//; s/[[:space:]]\+/_/g'; }
wwid=$(cat "/sys/block/$h/wwid")
model=$(esc "$(cat "/sys/block/$h/device/model")")
serial=$(esc "$(cat "/sys/block/$h/device/serial")")
nsid=$(cat "/sys/block/$h/nsid")
fsuuid=$(blkid -p -s UUID -o value "/dev/$part")
partuuid=$(blkid -p -s PART_ENTRY_UUID -o value "/dev/$part")
disk_links="by-id/nvme-$wwid by-id/nvme-${model}_${serial}_$nsid"
# nvme-<model>_<serial> names the controller, not the namespace: with
# several namespaces it goes to whichever one udev handled last (as for
# plain NVMe), so it only has to reach a head of the same subsystem.
ctrl_link="by-id/nvme-${model}_$serial"
part_links="by-id/nvme-$wwid-part1 by-id/nvme-${model}_${serial}_$nsid-part1
	by-uuid/$fsuuid by-label/mplabel by-partuuid/$partuuid by-partlabel/mp-data"

# links_ok: every expected link exists and resolves to the head or its
# partition; no link in /dev/disk resolves to a path.
links_ok() {
	local l bad=0 p
	for l in $disk_links; do
		[ "$(readlink -f "/dev/disk/$l")" = "/dev/$h" ] ||
			{ msg "/dev/disk/$l -> $(readlink -f "/dev/disk/$l" || echo missing), not /dev/$h"; bad=1; }
	done
	l=$(readlink -f "/dev/disk/$ctrl_link")
	[ -n "$l" ] && [ -e "$l" ] && [ -e "/sys/block/${l#/dev/}/wwid" ] &&
	[ "$(esc "$(cat "/sys/block/${l#/dev/}/device/serial")")" = "$serial" ] ||
		{ msg "/dev/disk/$ctrl_link -> ${l:-missing}, not a head of $h's subsystem"; bad=1; }
	for l in $part_links; do
		[ "$(readlink -f "/dev/disk/$l")" = "/dev/$part" ] ||
			{ msg "/dev/disk/$l -> $(readlink -f "/dev/disk/$l" || echo missing), not /dev/$part"; bad=1; }
	done
	for p in $(head_paths "$h"); do
		find /dev/disk -type l -lname "*/$p*" | grep -q . &&
			{ msg "a link points to the hidden path $p"; bad=1; }
	done
	return $bad
}

check "links by-id (wwid, model_serial_nsid), by-uuid, by-label, by-partuuid, by-partlabel" links_ok
props=$(udevadm info --query=property "/dev/$part")
expect "blkid properties of /dev/$part (ID_FS_TYPE=ext4, ID_FS_LABEL=mplabel, ID_PART_ENTRY_NAME=mp-data)" \
	"$(echo "$props" | grep -qx ID_FS_TYPE=ext4 && echo "$props" | grep -qx ID_FS_LABEL=mplabel &&
	   echo "$props" | grep -qx ID_PART_ENTRY_NAME=mp-data; echo $?)"
# what mount does with an fstab UUID=/LABEL= entry (the test kernel has no
# ext4 to mount it): resolve the tag through libblkid (/dev/disk first)
# to the head's partition, then read data written there through the link
dd if=/dev/urandom of="$TMP/blk" bs=4k count=1 status=none
dd if="$TMP/blk" of="/dev/$part" bs=4k seek=1000 count=1 oflag=direct status=none
found() {
	[ "$(findfs "UUID=$fsuuid")" = "/dev/$part" ] &&
	[ "$(findfs LABEL=mplabel)" = "/dev/$part" ] &&
	cmp -s "$TMP/blk" <(dd if="/dev/disk/by-uuid/$fsuuid" bs=4k skip=1000 count=1 \
		iflag=direct status=none)
}
check "findfs UUID= and LABEL= give /dev/$part; data read back through by-uuid" found

# one controller goes and comes back: the links stay on the head
p=$(head_paths "$h" | head -1)
c=$(path_ctrl "$p")
id=$(pcie_id "$c") || ktap_exit_fail_msg "cannot map $c to a QEMU controller"
hostctl unplug "$id" || ktap_exit_fail_msg "cannot unplug $id"
wait_for 30 head_npaths_is "$h" 1
udevadm settle -t 30
check "links kept with one controller ($id) unplugged" links_ok
hostctl plug "$id" || ktap_exit_fail_msg "cannot plug $id back"
wait_for 30 head_npaths_is "$h" 2
udevadm settle -t 30
check "links kept after $id is plugged back ($(head_paths "$h" | tr '\n' ' '))" links_ok
check "after the replug: findfs UUID=/LABEL= and the data read back through by-uuid" found
ktap_finished
