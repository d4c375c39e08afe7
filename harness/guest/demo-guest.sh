#!/bin/bash
# Guest side of `make demo` (topology pcie-dual): show the multipath
# topology, run fio through the multipath node while the host hot-unplugs
# the controller that carries the I/O, then plug it back.
RUNTIME=${DEMO_RUNTIME:-20}
UNPLUG_AT=${DEMO_UNPLUG_AT:-7}
HOSTCTL=${NVME_MPATH_HOSTCTL:?not running under harness/host/vm.py}
SUBNQN_PART=mpath0

LL=$(dirname "$(readlink -f "$0")")/../../tools/nvme-mpath-ll
. "${NVME_MPATH_LIB:?path of the nvme-mpath selftests lib.sh}" || exit 1
section() { echo; echo "=== $* ==="; }

ctrls() { # controllers of the demo subsystem: "nvme0 live" lines
	local c
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c/subsysnqn" ] || continue
		grep -q "$SUBNQN_PART" "$c/subsysnqn" 2>/dev/null || continue
		echo "$(basename "$c") $(cat "$c/state" 2>/dev/null)"
	done
}

show_paths() {
	local n h p c
	n=$(ctrls | grep -c .)
	echo "controllers in subsystem $SUBNQN_PART: $n"
	ctrls | while read -r c st; do echo "  $c: $st"; done
	for h in $(mp_heads); do
		echo -n "  $h paths:"
		for p in $(head_paths "$h"); do
			c=$(path_ctrl "$p")
			echo -n " $p ($c, $(ctrl_state "$c"))"
		done
		echo
	done
}

# The id hostctl takes of the controller whose path carries the head's I/O.
active_ctrl_id() {
	local p

	p=$(active_path "$1") && pcie_id "$(path_ctrl "$p")"
}

section "Topology"
lsblk -d -o NAME,SIZE,TYPE 2>/dev/null | grep -v '^loop'
for s in /sys/class/nvme-subsystem/*; do
	[ -e "$s" ] || continue
	echo "$(basename "$s"): $(cat "$s/subsysnqn")"
	echo "  entries: $(cd "$s" && shopt -s nullglob && printf '%s ' nvme* nvm-sub* ng*)"
	[ -f "$s/iopolicy" ] && echo "  iopolicy: $(cat "$s/iopolicy")"
done
echo
nvme list-subsys 2>&1 | sed 's/^/  /'
echo
show_paths
echo
echo "tools/nvme-mpath-ll (what multipath -ll shows for dm):"
"$LL" | sed 's/^/  /'

dev=$(mp_heads | head -1)
[ -n "$dev" ] || { echo "no multipath head (native NVMe multipath off?)"; exit 1; }
dev=/dev/$dev

section "fio: ${RUNTIME}s 4k randrw with verify on $dev (io_uring, direct, QD16); the active controller unplugged after ${UNPLUG_AT}s"
fio --name=demo --filename="$dev" --ioengine=io_uring --direct=1 --rw=randrw \
	--bs=4k --iodepth=16 --size=256M --runtime="$RUNTIME" --time_based \
	--verify=crc32c --verify_backlog=256 --verify_fatal=1 \
	--output-format=json --output=/tmp/fio.json > /tmp/fio.out 2>&1 &
fio_pid=$!
sleep "$((UNPLUG_AT - 1))"
victim=$(active_ctrl_id "$(basename "$dev")")
echo "[t=${UNPLUG_AT}s] host: unplug $victim (it carries the I/O) -> $("$HOSTCTL" unplug "$victim" 2>&1)"
sleep 2
show_paths | sed 's/^/    /'
wait $fio_pid
fio_rc=$?

python3 "$(dirname "$0")/demo_fio.py" "$fio_rc"
fio_ok=$?

section "Re-plug $victim"
echo "host: plug $victim -> $("$HOSTCTL" plug "$victim" 2>&1)"
two_live() { [ "$(ctrls | grep -c ' live$')" -ge 2 ]; }
wait_for 30 two_live
show_paths
nvme list-subsys 2>&1 | sed 's/^/  /'
echo "tools/nvme-mpath-ll after the re-plug (the returned path is a new one):"
"$LL" | sed 's/^/  /'

section "Result"
n=$(ctrls | grep -c ' live$')
if [ $fio_ok -eq 0 ] && [ "$n" -ge 2 ]; then
	echo "PASS: I/O survived the unplug with no errors, and the path came back ($n live controllers)"
	exit 0
fi
echo "FAIL: fio ok=$([ $fio_ok -eq 0 ] && echo yes || echo no), live controllers after re-plug: $n"
exit 1
