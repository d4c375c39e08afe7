#!/bin/bash
# PID 1 of the test guest (see harness/host/vm.py).  The root filesystem is the
# host's, read-only over 9p; the run's share is mounted at /mnt/host.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export NVME_MPATH_TOP=$TOP
SHARE=/mnt/host

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
# devtmpfs has no /dev/fd, /dev/std*: udev would make them.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
# Keep a view of the host root: the project may live under a directory that
# gets a tmpfs below (a CI clone in /tmp, say); it is bound back in place.
mkdir -p /run/hostroot
mount --bind / /run/hostroot
TMPFS_DIRS="/tmp /var/tmp /root /var/log /var/lib /mnt /media"
for d in $TMPFS_DIRS; do
	mount -t tmpfs tmpfs "$d"
	case $TOP/ in
	"$d"/*) mkdir -p "$TOP" && mount --bind "/run/hostroot$TOP" "$TOP" ;;
	esac
done
# /etc/nvme (hostnqn, hostid) is read from the host copy; give the guest a
# writable one in case a tool wants to write there.
if [ -d /etc/nvme ]; then
	mkdir -p /run/etc-nvme && cp -a /etc/nvme/. /run/etc-nvme/ 2>/dev/null
	mount --bind /run/etc-nvme /etc/nvme
fi
mkfifo /run/init-wait
mount -t debugfs debugfs /sys/kernel/debug
mount -t configfs configfs /sys/kernel/config
mkdir -p $SHARE
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 hostshare $SHARE
ip link set lo up 2>/dev/null
hostname nvme-mpath-guest 2>/dev/null
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
echo "$rc" > $SHARE/rc.tmp && mv $SHARE/rc.tmp $SHARE/rc
sync
# Power off.  PID 1 must neither exit (that panics) nor run meanwhile: the
# 9p root goes away during the shutdown and a page fault in bash then kills
# it with SIGBUS.  So a child makes the reboot(2) call, which does not
# return, while PID 1 sleeps in wait(2).
python3 -c 'import ctypes; ctypes.CDLL(None).reboot(0x4321FEDC)' &
wait $!
# Only reached if that failed.
exec 9<> /run/init-wait
echo o > /proc/sysrq-trigger
read -r -t 60 -u 9 _
echo b > /proc/sysrq-trigger
while :; do read -r -t 60 -u 9 _; done
