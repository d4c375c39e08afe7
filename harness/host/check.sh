#!/bin/bash
# check.sh: setup, tree, kernel, gates, kunit, selftests.  TAP per part,
# then one closing line "N passed, N failed, N skipped" and the skips.
set -o pipefail
. "$(dirname "$0")/common.sh"
export TAP_RESULTS=$LOGS/check-results.tsv
: > "$TAP_RESULTS"
SCR=$TOP/harness/host   # (not S: make exports S, the KUnit suite glob)
start=$(date +%s)
echo "TAP version 13"

# step <name> <command...>: a part that is one result (its output is logged).
step() {
	local name=$1 t0 rc log=$LOGS/check-$1.log; shift
	t0=$(date +%s)
	echo "# == $name"
	"$@" > "$log" 2>&1
	rc=$?
	sed 's/^/#   /' "$log" | tail -n 8
	if [ $rc -eq 0 ]; then
		echo "ok - $name # $(( $(date +%s) - t0 )) s"
		printf 'ok\t%s\t\n' "$name" >> "$TAP_RESULTS"
	else
		echo "not ok - $name # exit $rc, see build/logs/check-$name.log"
		printf 'fail\t%s\texit %s\n' "$name" "$rc" >> "$TAP_RESULTS"
	fi
	return $rc
}

# part <name> <command...>: a part that prints its own TAP lines.
part() {
	local name=$1 t0; shift
	t0=$(date +%s)
	echo "# == $name"
	"$@" 2>&1 | grep --line-buffered -v '^TAP version'
	echo "# $name: $(( $(date +%s) - t0 )) s"
}

# The gates make check runs, all of them.  The per-commit builds
# ("bisect", the longest) run apart from the others, as a second
# background chain (bg_builds).
CHECK_GATES=(lint checkpatch sparse mpath debian)

# bg_builds: two chains in the background while the guests run, under
# SCHED_IDLE: a TCG guest leaves part of this 2-core machine idle (its
# tests wait on timers), and the builds take only that.  (At nice 19 they
# still slowed the selftests by 17 %.)
#  - the modular kernel (modunload needs it before the end), then the
#    gates but bisect, in the worktree build/gates;
#  - the per-commit builds, in the worktree build/bisect, under a lock of
#    their own.
# One chain left a core idle in each of its serial steps (configs, the
# prepare of each commit's make, checkpatch, shellcheck), and its
# per-commit builds ran on after the guests; two chains fill those gaps
# with each other's work.
bg_builds() {
	local t0 idle=()
	t0=$(date +%s)
	chrt --idle 0 true 2>/dev/null && idle=(chrt --idle 0)
	rm -f "$LOGS/modunload-build.done"
	(
		"${idle[@]}" nice -n 19 "$SCR/build-kernel.sh" modular \
			> "$LOGS/modunload-build.log" 2>&1
		touch "$LOGS/modunload-build.done"
		BISECT=$BUILD/gates "${idle[@]}" nice -n 19 "$SCR/gates.sh" \
			"${CHECK_GATES[@]}" > "$LOGS/check-gates.out" 2>&1
		echo $(( $(date +%s) - t0 )) > "$LOGS/check-gates.time"
	) &
	BG_PID=$!
	(
		BISECT=$BUILD/bisect KBUILD_LOCK=$BUILD/.kbuild-bisect.lock \
			"${idle[@]}" nice -n 19 "$SCR/gates.sh" bisect \
			> "$LOGS/check-bisect.out" 2>&1
		echo $(( $(date +%s) - t0 )) > "$LOGS/check-bisect.time"
	) &
	BISECT_PID=$!
}

# bg_wait <file> <pid>: until the background chain wrote it (or ended)
bg_wait() {
	while [ ! -f "$1" ] && kill -0 "$2" 2>/dev/null; do
		sleep 5
	done
}

# bg_report <name> <out> <time file> <pid>: wait for a background
# chain's gates, print them as a part.
bg_report() {
	echo "# == $1 (built in the background during the guests)"
	bg_wait "$3" "$4"
	grep -v '^TAP version' "$2"
	echo "# $1: $(cat "$3" 2>/dev/null || echo '?') s (in the background)"
	wait "$4"
}

skip_part() {
	echo "# == $1"
	echo "ok - $1 # SKIP $2"
	printf 'skip\t%s\t%s\n' "$1" "$2" >> "$TAP_RESULTS"
}

step setup "$SCR/setup.sh"
tree_ok=0 kernel_ok=0
BG_PID=
BISECT_PID=
rm -f "$LOGS/check-gates.time" "$LOGS/check-bisect.time"
step tree "$SCR/tree.sh" --auto && tree_ok=1
if [ $tree_ok = 1 ]; then
	step kernel "$SCR/build-kernel.sh" test && kernel_ok=1
	if [ $kernel_ok = 1 ]; then
		# the kselftests are installed before the builds take the lock
		SELFTEST_INSTALL=only "$SCR/selftests.sh" > /dev/null
		bg_builds
	else
		part gates "$SCR/gates.sh" "${CHECK_GATES[@]}" bisect
	fi
else
	skip_part kernel "no tree"
	skip_part gates "no tree"
fi
if [ $kernel_ok = 1 ]; then
	part kunit "$SCR/kunit.sh"
	# Each test in the naming modes it declares (nvme-mpath-names:): the
	# tests of what the names are and of what is reached by name run in
	# both, the tests of behaviour alone once, for the time budget (make
	# selftests NAMES=nvme runs them all in the "nvme" mode).
	# RUN_QUICK=1: each test's shorter run (nvme-mpath-quick:), as
	# hotplug-stress's 4 cycles, not 20: make selftests runs all 20, and
	# soak-short below cycles the controllers again.
	part selftests env NAMES=declared RUN_QUICK=1 SELFTEST_INSTALL=skip \
		"$SCR/selftests.sh"
	part udev "$SCR/udev-test.sh"
	part nvme-mpath-ll "$SCR/ll-test.sh"
	# the flapping soak, short and on the test kernel (make soak: 10
	# minutes on the debug kernel)
	part soak-short env SOAK_VARIANT=test SOAK_SECS=60 SOAK_CYCLES=10 "$SCR/soak.sh"
	bg_wait "$LOGS/modunload-build.done" "$BG_PID"
	part modunload "$SCR/modunload-test.sh"
	bg_report gates "$LOGS/check-gates.out" "$LOGS/check-gates.time" "$BG_PID"
	bg_report gates:bisect "$LOGS/check-bisect.out" "$LOGS/check-bisect.time" "$BISECT_PID"
else
	skip_part kunit "no test kernel"
	skip_part selftests "no test kernel"
	skip_part udev "no test kernel"
	skip_part nvme-mpath-ll "no test kernel"
	skip_part modunload "no test kernel"
	skip_part soak-short "no test kernel"
fi

pass=$(grep -c '^ok' "$TAP_RESULTS")
fail=$(grep -c '^fail' "$TAP_RESULTS")
skip=$(grep -c '^skip' "$TAP_RESULTS")
echo "# make check took $(( $(date +%s) - start )) s"
if [ "$fail" -gt 0 ]; then
	echo "# failed:"
	awk -F'\t' '$1 == "fail" { print "#   " $2 (length($3) ? ": " $3 : "") }' "$TAP_RESULTS"
fi
echo "$pass passed, $fail failed, $skip skipped"
awk -F'\t' '$1 == "skip" { print "  skipped " $2 ": " $3 }' "$TAP_RESULTS"
[ "$fail" -eq 0 ]
