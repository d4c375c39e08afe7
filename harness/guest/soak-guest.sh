#!/bin/bash
# soak-guest.sh: guest side of the flapping soak (harness/host/soak.sh boots it
# in one pcie-dual guest).
#
# Heads: the two shared namespaces of the QEMU PCIe subsystem (ctrl0 and
# ctrl1), plus one nvmet TCP namespace exported on two ports of 127.0.0.1
# (A 4420, B 4421; ANA group 2 on each port), so three heads of two paths.
# fio writes and verifies on every head for SOAK_SECS while a schedule drawn
# from SOAK_SEED runs one event at a time: hot-unplug and replug a PCIe
# controller, reset or rescan a controller, cut a TCP port with tc, change a
# port's ANA state, inject path errors on one path, delay a TCP port's
# packets past keep-alive so its controller is lost with writes in flight
# (held-write: the fence holds them until a Cross-Controller Reset through
# the other port, or the time-based wait, ends it).  Every event ends when
# all paths are back, so no head ever loses both paths at once (a head with
# no path may rightly fail I/O).  A sampler reads each head's stat every
# 100 ms and records every interval without a completed I/O (a stall).
# Then SOAK_CYCLES connect/disconnect cycles of the TCP subsystem, and a
# kmemleak scan where the kernel has kmemleak.
#
# Output: KTAP results (harness/host/soak.sh turns them into its TAP lines) and
# the report (markdown between "# ==== report.md" markers).
set -o pipefail

SEED=${SOAK_SEED:?set by harness/host/soak.sh}
SECS=${SOAK_SECS:-600}
CYCLES=${SOAK_CYCLES:-100}
RECOVER_TMO=${SOAK_RECOVER_TMO:-180}	# an event must be undone within this
IOPOLICY=${SOAK_IOPOLICY:-round-robin}	# both paths busy: every event hits I/O
STALL_MIN_US=300000			# shorter gaps are sampling noise
# shellcheck source=/dev/null
. "${NVME_MPATH_LIB:?path of the nvme-mpath selftests lib.sh}" || exit 1

W=$TMP/soak			# lib.sh's scratch dir in the guest's tmpfs
mkdir -p "$W"
NQN=nqn.2026-11.io.nvme-mpath:soak
TCP_OPTS="keep_alive_tmo=2,reconnect_delay=1,ctrl_loss_tmo=60"
GRP=2				# ANA group of the TCP namespace (1 is the fixed default)
declare -A SVC=([A]=4420 [B]=4421) PORT=()
H1='' H2='' HT='' PCIE_NQN=''
FIO_PID='' SAMPLER_PID='' DMESG_PID=''
EVENTS=$W/events.tsv STALLS=$W/stalls.txt
: > "$EVENTS"; : > "$STALLS"

now_us() { echo "${EPOCHREALTIME/./}"; }
secs_since() { # secs_since <us>: "12.3"
	local d=$(($(now_us) - $1))
	printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}

# ------------------------------------------------------------------------
# The schedule: its own generator, not $RANDOM (lib.sh and fio seeds draw
# from that), so the same seed gives the same events in the same order
# however long each one takes.

RNG=$((SEED % 2147483648))
rnd() { # rnd <n>: R = 0..n-1
	RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
	R=$(((RNG >> 16) % $1))
}
pick() { rnd $#; shift "$R"; PICK=$1; }

# Event types are dealt from a shuffled deck holding each once, shuffled
# again when it runs out: any seven events in a row have every type, so even
# a slow (debug) kernel that gets through few events in the time sees them
# all.
EVENT_TYPES="unplug reset tcp-cut ana fault rescan held-write"
DECK=()
deal() {
	local i t
	if [ ${#DECK[@]} = 0 ]; then
		read -ra DECK <<< "$EVENT_TYPES"
		for ((i = ${#DECK[@]} - 1; i > 0; i--)); do
			rnd $((i + 1))
			t=${DECK[i]}; DECK[i]=${DECK[R]}; DECK[R]=$t
		done
	fi
	PICK=${DECK[0]}
	DECK=("${DECK[@]:1}")
}

# next_event: EV_TYPE, EV_TARGET, EV_ARG, EV_HOLD (s), EV_GAP (s, before it)
next_event() {
	rnd 5; EV_GAP=$((R + 1))
	deal; EV_TYPE=$PICK
	EV_ARG='' EV_HOLD=0
	case $EV_TYPE in
	unplug)
		pick ctrl0 ctrl1; EV_TARGET=pcie:$PICK
		rnd 5; EV_HOLD=$((R + 1)) ;;
	reset | rescan)
		pick pcie:ctrl0 pcie:ctrl1 tcp:A tcp:B; EV_TARGET=$PICK ;;
	tcp-cut)
		# 2..8 s: well under ctrl_loss_tmo, longer than keep_alive_tmo
		pick A B; EV_TARGET=tcp:$PICK
		rnd 7; EV_HOLD=$((R + 2)) ;;
	held-write)
		# packets 3..6 s late: keep-alive (2 s) gives up on the
		# controller while its writes are still on their way
		pick A B; EV_TARGET=tcp:$PICK
		rnd 4; EV_HOLD=$((R + 3)) ;;
	ana)
		pick A B; EV_TARGET=tcp:$PICK
		pick non-optimized inaccessible; EV_ARG=$PICK
		rnd 7; EV_HOLD=$((R + 2)) ;;
	fault)
		pick pcie-ns1@ctrl0 pcie-ns1@ctrl1 pcie-ns2@ctrl0 pcie-ns2@ctrl1 tcp@A tcp@B
		EV_TARGET=$PICK
		# host path error, controller path error: both fail over
		pick 0x370 0x360; EV_ARG=status=$PICK
		pick 20 50 100; EV_ARG="$EV_ARG,probability=$PICK"
		rnd 7; EV_HOLD=$((R + 2)) ;;
	esac
}

# ------------------------------------------------------------------------
# Naming: controller instances change on every replug and reconnect, so
# targets are kept as QEMU ids (ctrl0/ctrl1) and TCP ports (A/B).

pcie_ctrl() { # pcie_ctrl <ctrl0|ctrl1>: its nvmeN now
	local c
	for c in $(ctrls_of_subsys "$PCIE_NQN"); do
		[ "$(pcie_id "$c")" = "$1" ] && { echo "$c"; return 0; }
	done
	return 1
}
tcp_ctrl() { # tcp_ctrl <A|B>
	local c
	for c in $(ctrls_of_subsys "$NQN"); do
		grep -q "trsvcid=${SVC[$1]}\b" "/sys/class/nvme/$c/address" 2>/dev/null &&
			{ echo "$c"; return 0; }
	done
	return 1
}
ctrl_of() { # ctrl_of <pcie:ctrlX|tcp:A|tcp:B>
	case $1 in
	pcie:*) pcie_ctrl "${1#pcie:}" ;;
	tcp:*) tcp_ctrl "${1#tcp:}" ;;
	esac
}
# path_of <pcie-ns1@ctrl0|tcp@A|...>: the path disk
path_of() {
	local h c
	case $1 in
	pcie-ns1@*) h=$H1; c=$(pcie_ctrl "${1#*@}") ;;
	pcie-ns2@*) h=$H2; c=$(pcie_ctrl "${1#*@}") ;;
	tcp@*) h=$HT; c=$(tcp_ctrl "${1#*@}") ;;
	esac
	[ -n "$c" ] && path_on_ctrl "$h" "$c"
}

# healthy: every head has both paths, every controller is live, both TCP
# paths are optimized.  Each event waits for this before the next starts:
# that is what keeps a path of every head usable at every moment.  Shell
# builtins only, as lib.sh's head_of_nqn: polled under load, where every
# fork costs tens of ms in a TCG guest.
healthy() {
	local h c v paths n=0
	for h in "$H1" "$H2" "$HT"; do
		paths=("/sys/block/$h/paths/"*)
		[ ${#paths[@]} = 2 ] && [ -e "${paths[1]}" ] || return 1
	done
	for c in /sys/class/nvme/nvme*; do
		read -r v < "$c/subsysnqn" 2>/dev/null || continue
		[ "$v" = "$PCIE_NQN" ] || [ "$v" = "$NQN" ] || continue
		read -r v < "$c/state" 2>/dev/null && [ "$v" = live ] || return 1
		n=$((n + 1))
	done
	[ $n = 4 ] || return 1
	for c in "/sys/block/$HT/paths/"*; do
		read -r v < "$c/ana_state" 2>/dev/null && [ "$v" = optimized ] || return 1
	done
}
health_report() {
	local h p
	for h in "$H1" "$H2" "$HT"; do
		echo -n "$h:"
		for p in $(head_paths "$h"); do
			echo -n " $p($(path_ctrl "$p") $(ctrl_state "$(path_ctrl "$p")") $(path_ana "$p"))"
		done
		echo -n "; "
	done
	echo
}

# ------------------------------------------------------------------------
# Setup

setup_tcp_target() {
	local rc
	truncate -s 128M "$W/tcp-ns1.img"
	nvmet_target_ana "$NQN" "$W/tcp-ns1.img" 5e3c0a11-50a4-4b1e-9c2d-50a450a4aaaa $GRP \
		"${SVC[A]}" "${SVC[B]}"
	rc=$?
	PORT[A]=$NVMET_P1
	PORT[B]=$NVMET_P2
	return $rc
}

tcp_connect_both() {
	nvmf_connect_tcp "$NQN" 127.0.0.1 "${SVC[A]}" "$TCP_OPTS" >/dev/null &&
	nvmf_connect_tcp "$NQN" 127.0.0.1 "${SVC[B]}" "$TCP_OPTS" >/dev/null
}

tcp_head_up() { # tcp_head_up: HT set, with 2 paths on live controllers
	local d v paths
	HT=$(head_of_nqn "$NQN" 1) || return 1
	paths=("/sys/block/$HT/paths/"*)
	[ ${#paths[@]} = 2 ] && [ -e "${paths[1]}" ] || return 1
	for d in "${paths[@]}"; do
		read -r v < "$d/device/state" 2>/dev/null && [ "$v" = live ] || return 1
	done
}

cleanup() {
	[ -n "$SAMPLER_PID" ] && touch "$W/sampler.stop" && wait "$SAMPLER_PID" 2>/dev/null
	[ -n "$FIO_PID" ] && kill -KILL "$FIO_PID" 2>/dev/null
	[ -n "$DMESG_PID" ] && kill "$DMESG_PID" 2>/dev/null
	fault_all_off
	net_restore
	nvmet_ana_optimized $GRP "${PORT[A]:-}" "${PORT[B]:-}"
	nvmet_target_ana_del "$NQN" "${PORT[A]:-}" "${PORT[B]:-}"
}

# ------------------------------------------------------------------------
# Events.  Each returns non-zero with EV_NOTE set when it could not be done.

one_path_each() { # one_path_each <head>...: each of them has one path
	local h
	for h in "$@"; do head_npaths_is "$h" 1 || return 1; done
}

ev_unplug() {
	local id=${EV_TARGET#pcie:}
	EV_NOTE=$(pcie_ctrl "$id")
	hostctl unplug "$id" >/dev/null || { EV_NOTE+=" hostctl unplug failed"; return 1; }
	wait_for 60 one_path_each "$H1" "$H2" ||
		EV_NOTE+=" paths still there after the unplug;"
	sleep "$EV_HOLD"
	hostctl plug "$id" >/dev/null || { EV_NOTE+=" hostctl plug failed"; return 1; }
}

ev_reset() {
	local c
	c=$(ctrl_of "$EV_TARGET") || { EV_NOTE="no controller for $EV_TARGET"; return 1; }
	EV_NOTE=$c
	echo 1 > "/sys/class/nvme/$c/reset_controller" || { EV_NOTE+=" reset refused"; return 1; }
}

ev_rescan() {
	local c
	c=$(ctrl_of "$EV_TARGET") || { EV_NOTE="no controller for $EV_TARGET"; return 1; }
	EV_NOTE=$c
	echo 1 > "/sys/class/nvme/$c/rescan_controller" || { EV_NOTE+=" rescan refused"; return 1; }
}

ev_tcp_cut() {
	local x=${EV_TARGET#tcp:}
	EV_NOTE=$(tcp_ctrl "$x")
	net_cut_port "${SVC[$x]}" || { net_restore; EV_NOTE+=" tc failed"; return 1; }
	sleep "$EV_HOLD"
	net_restore
}

fence_ended() { # fence_ended <ctrl>: its fence is over
	[ "$(fence_attr "$1" state)" = none ]
}

ev_held_write() {
	local x=${EV_TARGET#tcp:} c held0 ok0 timed0
	c=$(tcp_ctrl "$x") || { EV_NOTE="no controller for $EV_TARGET"; return 1; }
	EV_NOTE=$c
	held0=$(fence_attr "$c" writes_held) ok0=$(fence_attr "$c" ccr_succeeded)
	timed0=$(fence_attr "$c" time_based)
	net_netem_port "${SVC[$x]}" delay "${EV_HOLD}s" limit 100000 ||
		{ net_restore; EV_NOTE+=" tc failed"; return 1; }
	sleep "$EV_HOLD"
	net_restore
	# the fence ends by a reset within a second, else by time (2 x 3 s
	# keep-alive + 10 s default quiesce time)
	wait_for 30 fence_ended "$c"
	EV_NOTE+=" writes held +$(($(fence_attr "$c" writes_held) - held0)),"
	EV_NOTE+=" fence ended by CCR +$(($(fence_attr "$c" ccr_succeeded) - ok0)),"
	EV_NOTE+=" by time +$(($(fence_attr "$c" time_based) - timed0))"
}

ev_ana() {
	local x=${EV_TARGET#tcp:} p
	p=$(path_on_ctrl "$HT" "$(tcp_ctrl "$x")")
	EV_NOTE=$p
	nvmet_ana_set "${PORT[$x]}" $GRP "$EV_ARG" || { EV_NOTE+=" cannot set $EV_ARG"; return 1; }
	wait_for 15 path_ana_is "$p" "$EV_ARG" ||
		EV_NOTE+=" host saw $(path_ana "$p") not $EV_ARG;"
	sleep "$EV_HOLD"
	nvmet_ana_set "${PORT[$x]}" $GRP optimized || { EV_NOTE+=" cannot set optimized"; return 1; }
}

FAULT_TIMES=1000000
FAULT_PATHS=()
fault_all_off() { fault_inject_off "${FAULT_PATHS[@]}"; }
ev_fault() {
	local p status prob left
	p=$(path_of "$EV_TARGET") || { EV_NOTE="no path for $EV_TARGET"; return 1; }
	EV_NOTE=$p
	have_fault_inject "$p" || { EV_NOTE+=" has no fault_inject"; return 1; }
	FAULT_PATHS+=("$p")
	status=${EV_ARG#status=}; status=${status%%,*}
	prob=${EV_ARG##*probability=}
	# dont_retry 0: a path error must fail over, not reach fio
	fault_inject "$p" "$status" "$FAULT_TIMES" 0 0 "$prob" ||
		{ fault_inject_off "$p"; EV_NOTE+=" cannot set up injection"; return 1; }
	sleep "$EV_HOLD"
	left=$(fault_inject_left "$p")
	fault_inject_off "$p"
	EV_NOTE+=" injected $((FAULT_TIMES - left))"
}

# run_event <idx>: the drawn event, then the wait for every path; one line
# in events.tsv: idx start end type target detail result
run_event() {
	local i=$1 t0 t1 rc=0 res
	EV_NOTE=
	t0=$(now_us)
	"ev_${EV_TYPE//-/_}" || rc=1
	if [ $rc = 0 ] && ! wait_for "$RECOVER_TMO" healthy; then
		rc=1
		EV_NOTE+=" not recovered within ${RECOVER_TMO}s: $(health_report)"
	fi
	t1=$(now_us)
	res=ok
	[ $rc = 0 ] || res=FAILED
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$t0" "$t1" "$EV_TYPE" "$EV_TARGET" \
		"${EV_ARG:+$EV_ARG }${EV_HOLD:+hold ${EV_HOLD}s }${EV_NOTE}" "$res" >> "$EVENTS"
	msg "[$(((t0 - SOAK_T0) / 1000000)) s] #$i $EV_TYPE $EV_TARGET ${EV_ARG:+$EV_ARG }hold ${EV_HOLD}s" \
		"($EV_NOTE): $res in $(((t1 - t0) / 100000 / 10)).$(((t1 - t0) / 100000 % 10)) s"
	return $rc
}

# ------------------------------------------------------------------------
# I/O and its sampler

start_fio() {
	cat > "$W/soak.fio" <<-EOF
	[global]
	direct=1
	ioengine=io_uring
	rw=randwrite
	bs=4k
	iodepth=8
	size=64M
	verify=crc32c
	do_verify=1
	verify_fatal=1
	verify_backlog=32
	verify_state_save=0
	time_based=1
	runtime=$((SECS + 7200))
	randseed=$SEED
	[pcie-ns1]
	filename=/dev/$H1
	[pcie-ns2]
	filename=/dev/$H2
	[tcp]
	filename=/dev/$HT
	EOF
	# stopped with SIGINT after the schedule; runtime is only a backstop
	fio --output-format=json --output="$W/fio.json" "$W/soak.fio" > "$W/fio.err" 2>&1 &
	FIO_PID=$!
}

stop_fio() {
	kill -INT "$FIO_PID" 2>/dev/null
	# a fio that does not stop has I/O that never completes: say so
	if ! wait_for 120 pid_gone "$FIO_PID"; then
		msg "fio did not stop within 120 s of SIGINT (I/O stuck?): killed"
		echo "fio did not stop within 120 s of SIGINT" >> "$W/fio.err"
		kill -KILL "$FIO_PID"
	fi
	wait "$FIO_PID" 2>/dev/null
	FIO_PID=
}

# sampler <label:head>...: every 100 ms, each head's completed I/Os (reads +
# writes in its stat); a gap of STALL_MIN_US or more between two samples
# that see progress is a stall: "label start_us end_us" in $STALLS.
# Builtins only (no fork per sample): the guest has two slow CPUs.
sampler() {
	local lh now n r w fd
	declare -A last since
	mkfifo "$W/tick" && exec {fd}<>"$W/tick"
	now=$(now_us)
	for lh; do last[$lh]=-1; since[$lh]=$now; done
	while [ ! -e "$W/sampler.stop" ]; do
		now=${EPOCHREALTIME/./}
		for lh; do
			read -r r _ _ _ w _ < "/sys/block/${lh#*:}/stat" || continue
			n=$((r + w))
			[ "$n" = "${last[$lh]}" ] && continue
			[ $((now - since[$lh])) -ge $STALL_MIN_US ] &&
				echo "${lh%%:*} ${since[$lh]} $now" >> "$STALLS"
			last[$lh]=$n since[$lh]=$now
		done
		read -r -t 0.1 -u "$fd" _
	done
	# a stall still open when sampling stops ends there
	now=${EPOCHREALTIME/./}
	for lh; do
		[ $((now - since[$lh])) -ge $STALL_MIN_US ] &&
			echo "${lh%%:*} ${since[$lh]} $now open" >> "$STALLS"
	done
}

# ------------------------------------------------------------------------
# After the soak

tcp_gone() { # tcp_gone: no controller of the TCP subsystem left, nor its head
	subsys_disconnected "$NQN" && ! head_of_nqn "$NQN" 1 >/dev/null
}

cycle_once() { # cycle_once: disconnect the TCP subsystem, connect it again
	local out
	out=$(nvme disconnect -n "$NQN" 2>&1) || { msg "nvme disconnect: $out"; return 1; }
	wait_for 60 tcp_gone ||
		{ msg "still there after disconnect: $(ctrls_of_subsys "$NQN" | tr '\n' ' ')" \
			"head $(head_of_nqn "$NQN" 1)"; return 1; }
	local x
	for x in A B; do
		out=$(nvme connect -t tcp -a 127.0.0.1 -s "${SVC[$x]}" -n "$NQN" \
			--hostnqn="$HOSTNQN" --hostid="$HOSTID" -k 2 -c 1 -l 60 2>&1) ||
			{ msg "nvme connect port $x: $out"; return 1; }
	done
	wait_for 60 tcp_head_up ||
		{ msg "after connect: head ${HT:-none}, $(ctrls_of_subsys "$NQN" | tr '\n' ' ')"; return 1; }
}


# report <fio summary file>: the markdown report (python: stall attribution)
write_report() {
	python3 "$(dirname "$0")/soak_report.py" "$W" "$SEED" "$SECS" "$SOAK_T0"
}

# ------------------------------------------------------------------------
# Main

ktap_print_header
require_cmd fio jq tc nvme python3
require_nvmet
[ -n "$NVME_MPATH_HOSTCTL" ] || skip_all "NVME_MPATH_HOSTCTL unset: no hot-plug control"
hostctl ping >/dev/null || skip_all "hostctl does not answer"
msg "soak: seed $SEED, ${SECS}s of events, $CYCLES connect/disconnect cycles, kernel $(uname -r)"
dmesg -w > "$W/dmesg.txt" 2>&1 &
DMESG_PID=$!
if [ -w /proc/sys/kernel/hung_task_timeout_secs ]; then
	echo 30 > /proc/sys/kernel/hung_task_timeout_secs
	msg "hung-task detector: 30 s"
else
	msg "no hung-task detector in this kernel"
fi

require_pcie_dual
H1=$(head_for_nsid 1) && H2=$(head_for_nsid 2) ||
	ktap_exit_fail_msg "no PCIe heads (heads: $(mp_heads | tr '\n' ' '))"
PCIE_NQN=$(cat "/sys/block/$H1/device/subsysnqn")
wait_for 30 head_npaths_is "$H2" 2 || ktap_exit_fail_msg "$H2 has no two paths"
setup_tcp_target || ktap_exit_fail_msg "nvmet setup failed"
tcp_connect_both || ktap_exit_fail_msg "cannot connect to the nvmet TCP ports"
wait_for 60 tcp_head_up || ktap_exit_fail_msg "no TCP head with two live paths"
for h in "$H1" "$H2" "$HT"; do
	sysfs_write "$(head_iopolicy_file "$h")" "$IOPOLICY" >/dev/null ||
		msg "iopolicy $IOPOLICY refused for $h"
	show_head "$h"
done
msg "iopolicy: $(cat "$(head_iopolicy_file "$H1")") / $(cat "$(head_iopolicy_file "$HT")")"
printf '%s %s\n' pcie-ns1 "$H1" pcie-ns2 "$H2" tcp "$HT" > "$W/heads"
wait_for 60 healthy || ktap_exit_fail_msg "not all paths up before the soak: $(health_report)"
ktap_set_plan 7

start_fio
for h in "$H1" "$H2" "$HT"; do
	wait_io_running "$h" || ktap_exit_fail_msg "fio does not run on $h: $(tail -3 "$W/fio.err")"
done
SOAK_T0=$(now_us)
sampler "pcie-ns1:$H1" "pcie-ns2:$H2" "tcp:$HT" &
SAMPLER_PID=$!

n=0 sched_ok=0 sched_note=
while [ $(($(now_us) - SOAK_T0)) -lt $((SECS * 1000000)) ]; do
	next_event
	sleep "$EV_GAP"
	if ! kill -0 "$FIO_PID" 2>/dev/null; then
		sched_ok=1 sched_note="fio ended early, after $n events"
		break
	fi
	n=$((n + 1))
	if ! run_event $n; then
		# a path may be missing: more events could take a head's last one
		sched_ok=1 sched_note="event #$n $EV_TYPE $EV_TARGET failed; schedule stopped"
		break
	fi
done
sleep 2
touch "$W/sampler.stop"
wait "$SAMPLER_PID"
SAMPLER_PID=
stop_fio
msg "soak done: $n events in $(secs_since "$SOAK_T0") s"
write_report
. "$W/fio.summary"

# The soak's own results and report now, before the cycles: a run stopped
# later (a timeout in the slow debug guest) still tells how the soak went.
expect "fio: $IO_ERR I/O errors on $H1 $H2 $HT${FIO_MISSING:+ (no result for $FIO_MISSING)}" \
	"$([ "$IO_ERR" = 0 ] && [ -z "$FIO_MISSING" ]; echo $?)"
expect "fio: $VERIFY_FAIL verify failures${UNVERIFIED:+ (nothing verified on $UNVERIFIED)}" \
	"$([ "$VERIFY_FAIL" = 0 ] && [ -z "$UNVERIFIED" ]; echo $?)"
expect "schedule: $n events, each undone with a path of every head kept${sched_note:+ ($sched_note)}" \
	"$sched_ok"
echo "# ==== report.md"
sed 's/^/# /' "$W/report-body.md"
echo "# ==== end report.md"

# connect/disconnect cycles with nothing else running
ok_cycles=0
for i in $(seq "$CYCLES"); do
	cycle_once || { msg "cycle $i failed"; break; }
	ok_cycles=$i
	[ $((i % 10)) = 0 ] && msg "$i connect/disconnect cycles done"
done
msg "$ok_cycles of $CYCLES connect/disconnect cycles"

wait_for 60 healthy
end_state=$(health_report)

# kmemleak: two scans a few seconds apart, so that objects in flight during
# the first one are not reported
leaks=
if [ -e /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak
	sleep 5
	echo scan > /sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak > "$W/kmemleak.txt"
	leaks=$(grep -c '^unreferenced object' "$W/kmemleak.txt")
fi
sleep 1
kill "$DMESG_PID" 2>/dev/null
DMESG_PID=
kreports=$(kernel_reports < "$W/dmesg.txt")
head_ioerr=$(grep -cE "I/O error, dev ($H1|$H2|$HT)[ ,]" "$W/dmesg.txt")

expect "$ok_cycles/$CYCLES connect/disconnect cycles of the TCP subsystem" \
	"$([ "$ok_cycles" = "$CYCLES" ]; echo $?)"
expect "every head present with both paths at the end" "$(healthy; echo $?)" "end: $end_state"
if [ -z "$leaks" ]; then
	ktap_test_skip "kmemleak: no /sys/kernel/debug/kmemleak in this kernel (CONFIG_DEBUG_KMEMLEAK off), leaks not checked"
else
	[ "$leaks" = 0 ] || sed 's/^/#   /' "$W/kmemleak.txt" | head -40
	expect "kmemleak: $leaks leaks after two scans" "$([ "$leaks" = 0 ]; echo $?)"
fi
[ -z "$kreports" ] || echo "$kreports" | head -20 | sed 's/^/#   /'
expect "guest dmesg: $(echo -n "$kreports" | grep -c .) kernel reports (warning, BUG, lockdep, KASAN, leak, hung task, stall)" \
	"$([ -z "$kreports" ]; echo $?)"

echo "# ==== report.md"
{
	echo
	echo "## After the soak"
	echo
	echo "Kernel: $(uname -r); I/O errors the kernel logged on a head: $head_ioerr;" \
		"connect/disconnect cycles: $ok_cycles/$CYCLES;" \
		"kmemleak: ${leaks:-not in this kernel}."
	echo
	echo "End state: $end_state"
} | sed 's/^/# /'
echo "# ==== end report.md"
ktap_finished
