#!/bin/bash
# Guest side of ll-test.sh (topology pcie-dual): scripts/nvme-mpath-ll shows
# every head with its paths, their states and counters as sysfs has them.
LL=$(dirname "$(readlink -f "$0")")/nvme-mpath-ll
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

heads() {
	local d
	for d in /sys/block/*; do [ -d "$d/paths" ] && basename "$d"; done
}
for _ in $(seq 60); do [ "$(heads | wc -l)" -ge 2 ] && break; sleep 0.5; done
for _ in $(seq 60); do
	n=0
	for p in /sys/block/*/paths/*; do [ -e "$p" ] && n=$((n + 1)); done
	[ $n -ge 4 ] && break
	sleep 0.5
done
h=$(heads | sort -V | head -1)
[ -n "$h" ] || { echo "1..0 # SKIP no multipath head"; exit 0; }
dd if="/dev/$h" of=/dev/null bs=4k count=100 iflag=direct status=none
out=$("$LL")
echo "$out" | sed 's/^/# /'

check "one line per head, as sysfs has them" \
	test "$(echo "$out" | grep -cE '^[^ ].* nsid [0-9]+ ')" = "$(heads | wc -l)"
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
fi
echo "1..$n"
