#!/bin/bash
# soak.sh: the flapping soak.  One pcie-dual guest (harness/guest/soak-guest.sh):
# fio write+verify on every head (two PCIe heads, one NVMe/TCP head) while a
# seeded random schedule unplugs, resets, rescans controllers, cuts TCP
# ports, changes ANA states and injects path errors, one at a time and never
# taking a head's last path; then TCP connect/disconnect cycles and a
# kmemleak scan.  TAP lines per criterion; report in build/soak/report.md.
#
#   SOAK_SECS=600      seconds of events (fio runs through all of them)
#   SOAK_CYCLES=100    connect/disconnect cycles afterwards
#   SOAK_SEED=<n>      replay a run's schedule (default: from the date)
#   SOAK_VARIANT / VARIANT   kernel (default debug: lockdep, KASAN, kmemleak,
#                      hung-task detector, which are what a soak is for)
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"

seed=${SOAK_SEED:-$(date +%y%m%d%H%M%S)}
# First line, before anything can fail: the seed replays the schedule.
echo "# soak seed $seed (replay: SOAK_SEED=$seed)"
[[ $seed =~ ^[0-9]+$ ]] || die "SOAK_SEED must be a decimal number, not '$seed'"
variant=${SOAK_VARIANT:-${VARIANT:-debug}}
secs=${SOAK_SECS:-600}
cycles=${SOAK_CYCLES:-100}
out_dir=$BUILD/soak
report=$out_dir/report.md
out=$out_dir/guest.out
lib=$TREE/tools/testing/selftests/nvme-mpath/lib.sh
kernel=$OBJ_BASE/$variant/arch/x86/boot/bzImage
mkdir -p "$out_dir"

# wait_kernel: a bzImage that is missing may be being rebuilt right now
wait_kernel() {
	local i
	for i in $(seq 60); do
		[ -f "$kernel" ] && return 0
		[ "$i" = 1 ] && echo "# waiting for $kernel (being rebuilt?)"
		sleep 5
	done
	return 1
}

# The debug kernel runs several times slower under TCG: the guest gets its
# own time per part, and hot-plug requests more patience.
timeout_for() {
	local f=1
	[ "$variant" = debug ] && f=4
	echo $((300 + secs + 300 * f + cycles * 5 * f + 300 * f))
}


# report_section <title>: one "## <title>" section of the report
report_section() {
	sed -n "/^## $1/,/^## /p" "$report" | sed '$ { /^## /d }'
}

echo "TAP version 13"
echo "# soak: $variant kernel, ${secs}s of events, $cycles connect/disconnect cycles;" \
	"tree $(git -C "$TREE" log -1 --format='%h %s' 2>/dev/null)"
[ -f "$lib" ] || die "no $lib (make tree)"
wait_kernel || die "no kernel at $kernel (make kernel VARIANT=$variant)"
start=$(date +%s)
hc_tmo=90
[ "$variant" = debug ] && hc_tmo=300
"$TOP/harness/host/vm.py" --variant "$variant" --topo pcie-dual --name soak \
	--timeout "$(timeout_for)" --output "$out" \
	--env SOAK_SEED="$seed" --env SOAK_SECS="$secs" --env SOAK_CYCLES="$cycles" \
	--env HOSTCTL_TIMEOUT="$hc_tmo" \
	-- "$TOP/harness/guest/soak-guest.sh" | sed -u 's/^/# /'
rc=${PIPESTATUS[0]}
took=$(($(date +%s) - start))

# The results go to a file too: the report quotes them.
tap_file=$out_dir/tap.txt
{
	tap_guest_each "soak:" "$out" ||
		tap_fail "soak: guest results" "none (guest status $rc, see build/logs/soak.log)"
	problems=$LOGS/soak.problems
	case $rc in
	124) tap_fail "soak: guest finished in time" "timed out after $(timeout_for) s" ;;
	125) tap_fail "soak: guest finished in time" "the guest died (see build/logs/soak.log)" ;;
	esac
	# vm.py's own scan of the console (status 126): reports the guest's
	# dmesg may have lost, and the ones after the guest's last look
	if [ "$rc" = 126 ] || [ -s "$problems" ]; then
		sed 's/^/#   kernel: /' "$problems" 2>/dev/null | head -20
		tap_fail "soak: no kernel report on the console" \
			"$(grep -c . "$problems" 2>/dev/null) lines, see build/logs/soak.log"
	else
		tap_ok "soak: no kernel report on the console"
	fi
} > "$tap_file"
cat "$tap_file"

{
	echo "# Flapping soak, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- seed: $seed (replay: \`SOAK_SEED=$seed SOAK_SECS=$secs SOAK_CYCLES=$cycles" \
		"VARIANT=$variant make soak\`)"
	echo "- kernel: $variant ($(git -C "$TREE" log -1 --format='%h %s' 2>/dev/null))"
	echo "- wall time: $took s, guest status $rc; console log build/logs/soak.log"
	echo "- result: $TAP_PASS passed, $TAP_FAIL failed, $TAP_SKIP skipped"
	echo
	echo "## Criteria"
	echo
	grep -E '^(not )?ok ' "$tap_file" | sed 's/^/    /'
	echo
	# the guest's report blocks: the soak's, then what came after it
	sed -n '/^# ==== report.md$/,/^# ==== end report.md$/ { /^# ==== /d; p }' "$out" |
		sed 's/^# \{0,1\}//'
	if [ -s "$problems" ]; then
		echo
		echo "## Kernel reports on the console"
		echo
		sed 's/^/    /' "$problems" | head -40
	fi
} > "$report"

echo "# report: ${report#"$TOP"/}"
if [ "$TAP_FAIL" -gt 0 ]; then
	echo "# FAILED: replay with SOAK_SEED=$seed SOAK_SECS=$secs VARIANT=$variant make soak"
	report_section Schedule | sed 's/^/# /'
fi
tap_summary
