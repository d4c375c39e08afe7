#!/bin/bash
# blktests-guest.sh <blktests copy> <kernel .config> <modules dir>: run the
# upstream blktests nvme group (loop and tcp transports) in the guest, as
# it is.  What it needs and the guest lacks (shared/notes: a writable copy,
# /boot/config-<release>, a depmod'ed tree for _have_driver) is set up here.
set -u
src=$1 config=$2 mods=$3
rel=$(uname -r)
bt=/tmp/blktests
cp -a "$src" "$bt" || exit 1
# _have_kernel_option reads /boot/config-$(uname -r)
mkdir -p /boot && mount -t tmpfs tmpfs /boot && cp "$config" "/boot/config-$rel"
# _have_driver: modprobe -qn / modinfo against the kernel's modules.builtin
mkdir -p /tmp/mods/lib/modules/"$rel" /tmp/bin
cp "$mods"/modules.builtin "$mods"/modules.builtin.modinfo /tmp/mods/lib/modules/"$rel"/
depmod -b /tmp/mods "$rel" 2>/dev/null
printf '#!/bin/sh\nexec /sbin/modprobe -d /tmp/mods "$@"\n' > /tmp/bin/modprobe
printf '#!/bin/sh\nexec /sbin/modinfo -b /tmp/mods "$@"\n' > /tmp/bin/modinfo
chmod +x /tmp/bin/modprobe /tmp/bin/modinfo
export PATH=/tmp/bin:$PATH
cat > "$bt/config" <<CFG
TEST_DEVS=()
NVMET_TRTYPES="loop tcp"
NVME_IMG_SIZE=256M
NVME_NUM_ITER=20
CFG
cd "$bt" || exit 1
echo "blktests: kernel $rel, names: $(cat /sys/module/nvme_core/parameters/multipath_names 2>/dev/null || echo 6.12)"
# nvme/002 (1000 subsystems) does not finish under TCG in reasonable time
# shellcheck disable=SC2086
./check -x nvme/002 ${BLKTESTS_EXTRA:-} ${BLKTESTS_TESTS:-nvme}
echo "blktests: check exited $?"
for f in results/*/nvme/*; do
	case $f in *.full|*.out.bad|*.dmesg|*.*) continue ;; esac
	[ -f "$f" ] || continue
	# the per-test result file: status and reason
	st=$(sed -n 's/^status\t//p' "$f" | head -1)
	why=$(sed -n 's/^reason\t//p' "$f" | head -1)
	printf 'blktests-result\t%s\tnvme/%s\t%s\t%s\n' "$(basename "$(dirname "$(dirname "$f")")")" \
		"$(basename "$f")" "$st" "$why"
done
