#!/bin/bash
# nvme-mpath-name: modunload
# nvme-mpath-variant: modular
# nvme-mpath-timeout: 300
# Guest side of modunload-test.sh (modular kernel, topology none): what only
# a modular nvme_core shows about a head that waits for a path
# (delayed_removal_secs).  Over NVMe/TCP to an in-kernel nvmet target:
#  - with a reader queued on a waiting head, nvme_core cannot be unloaded
#    (the open head holds it) and the reader keeps waiting; writing 0 fails
#    its read with EIO;
#  - a waiting head that nobody holds open does not hold nvme_core either:
#    unloading it ends the wait, removes the head and frees the subsystem,
#    with no kernel report (harness/host/vm.py fails the run on one), and the
#    modules load again afterwards;
#  - a write held by the fence of a lost controller (its port delayed,
#    the target refusing Cross-Controller Resets, so the fence is
#    time-based and long) does not keep nvme_tcp from unloading: the
#    unload deletes every controller, the head goes with its last path,
#    and the held write fails (EIO), never sent early; then nvme_core
#    unloads too, so nothing held a reference.
MODS=${1:-${OBJ_BASE:?}/modular/mods}
. "${NVME_MPATH_LIB:?path of the nvme-mpath selftests lib.sh}" || exit 1
NQN=nqn.2024-11.org.kernel:nvme-mpath-modunload
IMG=$TMP/mu-ns1.img

mp() { modprobe -d "$MODS" "$@"; }
load() { mp nvme-tcp && mp nvme-core && [ -e /dev/nvme-fabrics ]; }

ktap_print_header
[ -d "$MODS" ] || skip_all "no modules at $MODS"
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
load || skip_all "cannot load nvme-tcp from $MODS"
[ -e /sys/module/nvme_core/parameters/delayed_removal_secs ] ||
	skip_all "nvme_core has no delayed_removal_secs"
ktap_set_plan 11

nvmet_target_2port "$NQN" "$IMG" 64M 7d0c9a52-3b1e-4f6a-8c2d-19e0f4a5b601 ||
	ktap_exit_fail_msg "nvmet setup failed"

# head_joined: the first head (in h) has two paths or more
head_joined() { h=$(mp_heads | head -1) && head_npaths_ge "$h" 2; }
# connect_head <secs>: two controllers, one head (in h) waiting <secs> for
# a path
h=""
connect_head() {
	echo "$1" > /sys/module/nvme_core/parameters/delayed_removal_secs
	nvmf_connect_2port "$NQN" &&
	wait_for 20 head_joined
}
delete_all() {
	local c
	for c in $(ctrls_of_subsys "$NQN"); do ctrl_delete "$c"; done
	wait_for 30 subsys_disconnected "$NQN"
}

# 1-4: a queued reader holds the head, the head holds nvme_core
connect_head 120 || ktap_exit_fail_msg "no head with two paths"
msg "head $h"
timeout 120 dd if="/dev/$h" of=/dev/null bs=4k iflag=direct 2> "$TMP/dd.err" &
rpid=$!
wait_io_running "$h" || ktap_exit_fail_msg "dd does not run on $h"
delete_all
expect "both controllers deleted, $h waits with its reader" \
	"$([ "$(head_npaths "$h")" = 0 ] && kill -0 $rpid; echo $?)"
rmmod nvme_tcp && rmmod nvme_fabrics
expect "nvme_tcp and nvme_fabrics unload under the waiting head" $?
out=$(rmmod nvme_core 2>&1)
rc=$?
msg "rmmod nvme_core: rc $rc: $out"
expect "nvme_core stays while the head is open (EBUSY), the reader waits" \
	"$([ $rc != 0 ] && [ -d /sys/module/nvme_core ] && kill -0 $rpid; echo $?)"
echo 0 > "/sys/block/$h/delayed_removal_secs"
wait_for 20 pid_gone "$rpid"
wait $rpid
rrc=$?
expect "writing 0 fails the queued read with EIO" \
	"$([ $rrc != 0 ] && [ $rrc != 124 ] && grep -q 'Input/output error' "$TMP/dd.err"; echo $?)" \
	"dd rc=$rrc: $(head -1 "$TMP/dd.err")"

# 5-8: a waiting head nobody holds: unloading nvme_core ends the wait
load && connect_head 300 || ktap_exit_fail_msg "no head with two paths after reloading"
subsys=$(basename "$(readlink -f "/sys/block/$h/device")")
delete_all
kmsg_mark
expect "$h waits for a path with no opener" \
	"$([ "$(head_npaths "$h")" = 0 ] && head_exists "$h"; echo $?)"
t0=$SECONDS
rmmod nvme_tcp && rmmod nvme_fabrics && rmmod nvme_core
rc=$?
msg "rmmod nvme_tcp nvme_fabrics nvme_core: rc $rc after $((SECONDS - t0)) s"
expect "nvme_core unloads at once while a head waits (for up to 300 s)" \
	"$([ $rc = 0 ] && [ ! -d /sys/module/nvme_core ] && [ $((SECONDS - t0)) -lt 60 ]; echo $?)"
kmsg_since_mark | grep -E 'no path came back|removing' | sed 's/^/#   /'
expect "the head and its subsystem went with it" \
	"$(! head_exists "$h" && [ ! -e "/sys/class/nvme-subsystem/$subsys" ] &&
	   kmsg_since_mark | grep -q "$h: no path came back, removing"; echo $?)"
load && connect_head 0
expect "the modules load again and make a head" $?

# 9-11: unloading nvme_tcp while the fence of a lost controller holds a write
IOTMO=/sys/module/nvme_core/parameters/io_timeout
echo 2 > $IOTMO
[ -e "$NVMET/subsystems/$NQN/attr_ccrl" ] && echo 0 > "$NVMET/subsystems/$NQN/attr_ccrl"
act=$(active_path "$h") || ktap_exit_fail_msg "no path of $h carries I/O"
actc=$(path_ctrl "$act")
port=$(sed -n 's/.*trsvcid=\([0-9]*\).*/\1/p' "/sys/class/nvme/$actc/address")
kmsg_mark
net_netem_port "$port" delay 5000ms limit 100000 || ktap_exit_fail_msg "cannot delay port $port"
dd if=/dev/urandom of="/dev/$h" bs=4k count=1 oflag=direct 2> "$TMP/w1.err" &
wpid=$!
wait_for 20 kmsg_has "holding its aborted writes"
state=$(cat "/sys/class/nvme/$actc/fencing/state" 2>/dev/null)
held=$(cat "/sys/class/nvme/$actc/fencing/writes_held" 2>/dev/null)
msg "$actc fencing: $state, writes_held $held"
expect "a write is held by $actc's time-based fence" \
	"$(kill -0 $wpid && [ "${held:-0}" -ge 1 ] && [ "${state%% *}" = time-based ]; echo $?)"
t0=$SECONDS
timeout 120 rmmod nvme_tcp
rc=$?
wait_for 30 pid_gone "$wpid"
wait $wpid
wrc=$?
msg "rmmod nvme_tcp: rc $rc after $((SECONDS - t0)) s; the held write: rc $wrc, $(head -1 "$TMP/w1.err")"
expect "nvme_tcp unloads while the fence holds a write, the write fails (EIO)" \
	"$([ $rc = 0 ] && [ $((SECONDS - t0)) -lt 20 ] && [ $wrc != 0 ] &&
	   grep -q 'Input/output error' "$TMP/w1.err"; echo $?)"
net_restore
rmmod nvme_fabrics && rmmod nvme_core
rc=$?
expect "nvme_core unloads after: nothing kept a reference" \
	"$([ $rc = 0 ] && [ ! -d /sys/module/nvme_core ]; echo $?)"
nvmet_teardown "$NQN"
ktap_finished
