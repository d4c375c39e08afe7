#!/bin/bash
# PID 1 of the test guest (see harness/host/vm.py).  The root filesystem is the
# host's, read-only over 9p; the run's share is mounted at /mnt/host.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
TOP=${0%/harness/guest/*}
export NVME_MPATH_TOP=$TOP
SHARE=/mnt/host

# Every external command costs tens of ms in a TCG guest (a dynamic
# exec), and this runs before each of some fifty guests: the mounts are
# one table for one "mount -a", written with shell builtins to a tmpfs.
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
fstab=/run/fstab
mnt() { printf '%s %s %s %s 0 0\n' "$@" >> $fstab; }
mnt sysfs /sys sysfs defaults
# The kernel mounts devtmpfs on /dev itself (DEVTMPFS_MOUNT) when it
# mounted the root; else it is mounted here.
devtmpfs=
while read -r _ m _; do [ "$m" = /dev ] && devtmpfs=1; done < /proc/mounts
[ -n "$devtmpfs" ] || mnt devtmpfs /dev devtmpfs defaults
mnt devpts /dev/pts devpts X-mount.mkdir
mnt tmpfs /dev/shm tmpfs X-mount.mkdir
# Keep a view of the host root: the project may live under a directory that
# gets a tmpfs below (a CI clone in /tmp, say); it is bound back in place.
mnt / /run/hostroot none bind,X-mount.mkdir
TMPFS_DIRS="/tmp /var/tmp /root /var/log /var/lib /mnt /media"
for d in $TMPFS_DIRS; do
	mnt tmpfs "$d" tmpfs defaults
	case $TOP/ in
	"$d"/*) mnt "/run/hostroot$TOP" "$TOP" none bind,X-mount.mkdir ;;
	esac
done
mnt debugfs /sys/kernel/debug debugfs defaults
mnt configfs /sys/kernel/config configfs defaults
mnt hostshare $SHARE 9p trans=virtio,version=9p2000.L,msize=262144,X-mount.mkdir
mount -a -T $fstab
# devtmpfs has no /dev/fd, /dev/std*: udev would make them.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
# /etc/nvme (hostnqn, hostid) is read from the host copy; give the guest a
# writable one in case a tool wants to write there.
if [ -d /etc/nvme ]; then
	mkdir -p /run/etc-nvme && cp -a /etc/nvme/. /run/etc-nvme/ 2>/dev/null
	mount --bind /run/etc-nvme /etc/nvme
fi
ip link set lo up 2>/dev/null
echo nvme-mpath-guest > /proc/sys/kernel/hostname
[ -f $SHARE/time ] && date -s @"$(cat $SHARE/time)" >/dev/null 2>&1
export NVME_MPATH_HOSTCTL=$TOP/harness/guest/hostctl
export NVME_MPATH_SHARE=$SHARE
# published by the launcher: controller ids and slots, the kernel-report rule
export NVME_MPATH_TOPOLOGY=$SHARE/topology
export NVME_MPATH_KERNEL_REPORTS=$SHARE/kernel-reports
# NVME_MPATH_LIB, the guest library (the selftests' lib.sh), comes in env

cd /tmp || exit 1
[ -f $SHARE/cwd ] && { cd "$(cat $SHARE/cwd)" || exit 1; }
[ -f $SHARE/env ] && . $SHARE/env

echo "nvme-mpath-guest: running command" > /dev/kmsg
set -o pipefail
bash $SHARE/cmd.sh </dev/null 2>&1 | tee -a $SHARE/output >/dev/console
rc=$?
set +o pipefail
echo "nvme-mpath-guest: command exited rc=$rc" > /dev/kmsg

if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak > /dev/console
fi
# The share is mounted without a cache: what is written there is on the
# host when the write returns.
echo "$rc" > $SHARE/rc
# Power off.  PID 1 must neither exit (that panics) nor run meanwhile: the
# 9p root goes away during the shutdown and a page fault in bash then kills
# it with SIGBUS.  So PID 1 has a child to wait for before it asks for the
# power-off (sysrq o: kernel_power_off() from a workqueue), and sleeps in
# wait(2) until the machine is off.
sleep 120 &
echo o > /proc/sysrq-trigger
wait $!
# Only reached if that failed.
echo b > /proc/sysrq-trigger
while :; do sleep 60; done
