#!/bin/bash
# nvme-mpath-name: nvme-mpath-ll
# nvme-mpath-topology: pcie-dual
# nvme-mpath-timeout: 180
# nvme-mpath-names: nvm-sub nvme
# Guest side of ll-test.sh (topology pcie-dual): tools/nvme-mpath-ll shows
# every head with its paths, their states and counters as sysfs has them.
LL=$(dirname "$(readlink -f "$0")")/../../tools/nvme-mpath-ll
. "${NVME_MPATH_LIB:?path of the nvme-mpath selftests lib.sh}" || exit 1

# all_joined: both heads with both paths.  The no-path counters checked
# below stay 0 through boot: the heads' partition scans, which meet the
# paths' queues frozen by the block layer while the controllers add their
# second namespace, wait for them without counting (series patch 57; they
# counted before, in runs with builds in the background).
all_joined() {
	local n=0 x
	for x in $(mp_heads); do n=$((n + $(head_npaths "$x"))); done
	[ "$n" -ge 4 ]
}
ktap_print_header
wait_for 30 mp_heads_ge 2
wait_for 30 all_joined
h=$(mp_heads | head -1)
[ -n "$h" ] || skip_all "no multipath head"
ktap_set_plan 6
dd if="/dev/$h" of=/dev/null bs=4k count=100 iflag=direct status=none
out=$("$LL")
echo "$out" | sed 's/^/# /'

check "one line per head, as sysfs has them" \
	test "$(echo "$out" | grep -cE '^[^ ].* nsid [0-9]+ ')" = "$(mp_heads | wc -l)"
block=$(echo "$out" | awk -v h="$h" '$1 == h { p = 1; print; next } /^[^ ]/ { p = 0 } p')
paths=$(for p in /sys/block/"$h"/paths/*; do echo "${p##*/}"; done | sort)
check "$h: a line per path, each live and usable" \
	test "$(echo "$block" | grep -E '^  [|`]-' | grep -c ' live optimized usable ')" = \
	"$(echo "$paths" | grep -c .)"
sum_ll=$(echo "$block" | grep -E '^  [|`]-' | awk '{ for (i = 1; i < NF; i++) if ($i == "io") s += $(i + 1) } END { print s + 0 }')
sum_sys=0
for p in $paths; do sum_sys=$((sum_sys + $(cat "/sys/block/$p/diag/io_sent"))); done
check "$h: I/O sent per path as in sysfs ($sum_ll), 100 reads or more" \
	test "$sum_ll" = "$sum_sys" -a "$sum_ll" -ge 100
head_info() {
	echo "$block" | head -1 | grep -q 'delayed_removal 0s' &&
		echo "$block" | grep -q 'no path: queued 0, failed 0'
}
check "$h: its delayed_removal_secs and no-path counters" head_info
refused() { ! "$LL" sda-not-a-head 2>/dev/null; }
check "a name that is no head is refused" refused
if command -v setpriv > /dev/null; then
	check "runs as an unprivileged user, with the same output" \
		bash -c "[ \"\$(setpriv --reuid=65534 --regid=65534 --clear-groups '$LL' $h)\" = \"\$('$LL' $h)\" ]"
else
	ktap_test_skip "runs as an unprivileged user: no setpriv (util-linux)"
fi
ktap_finished
