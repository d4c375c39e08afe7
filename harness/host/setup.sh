#!/bin/bash
# setup.sh: install the Debian packages the harness needs (idempotent; a
# fast no-op when everything is there).
set -eo pipefail
PKGS="linux-source-6.12 linux-config-6.12 build-essential flex bison libelf-dev
libssl-dev bc cpio kmod rsync ccache sparse qemu-system-x86 fio nvme-cli
iproute2 dmsetup xz-utils python3 git gnuplot-nox jq udev gawk fdisk e2fsprogs
util-linux sysstat linux-perf mdadm xfsprogs shellcheck pyflakes3 python3-ply
python3-git"
missing=()
for p in $PKGS; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all packages present"
	exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/nvme-mpath-setup.log 2>&1; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/nvme-mpath-setup.log 2>&1 ||
		{ tail -20 /tmp/nvme-mpath-setup.log; exit 1; }
fi
echo "setup: done"
