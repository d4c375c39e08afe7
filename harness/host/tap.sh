# shellcheck shell=bash
# TAP helpers (sourced).  Each result line goes to stdout and, when
# TAP_RESULTS is set (make check), is appended to that file as
#   <ok|fail|skip>\t<name>\t<reason>
TAP_N=0 TAP_PASS=0 TAP_FAIL=0 TAP_SKIP=0
TAP_SKIPS=()
tap_record() {
	[ -n "${TAP_RESULTS:-}" ] && printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >> "$TAP_RESULTS"
	return 0
}
tap_ok() {
	TAP_N=$((TAP_N + 1)); TAP_PASS=$((TAP_PASS + 1))
	echo "ok $TAP_N $1${2:+ # $2}"
	tap_record ok "$1" "${2:-}"
}
tap_fail() {
	TAP_N=$((TAP_N + 1)); TAP_FAIL=$((TAP_FAIL + 1))
	echo "not ok $TAP_N $1${2:+ # $2}"
	tap_record fail "$1" "${2:-}"
}
tap_skip() {
	TAP_N=$((TAP_N + 1)); TAP_SKIP=$((TAP_SKIP + 1))
	TAP_SKIPS+=("$1: $2")
	echo "ok $TAP_N $1 # SKIP $2"
	tap_record skip "$1" "$2"
}
# tap_summary: the closing line of a part run on its own; status 1 on failure.
tap_summary() {
	echo "1..$TAP_N"
	if [ -n "${TAP_RESULTS:-}" ]; then
		# under make check: the overall summary comes at the end
		echo "# $TAP_PASS passed, $TAP_FAIL failed, $TAP_SKIP skipped"
		[ "$TAP_FAIL" -eq 0 ]; return
	fi
	echo "$TAP_PASS passed, $TAP_FAIL failed, $TAP_SKIP skipped"
	local s
	for s in "${TAP_SKIPS[@]}"; do echo "  skipped $s"; done
	[ "$TAP_FAIL" -eq 0 ]
}

# guest_test <tap name> <log name> <vm.py options...> -- <command>: boot a
# guest (harness/host/vm.py, which fails it on a kernel report), run a guest
# script that prints KTAP, and give one result for it (tap_guest).
guest_test() {
	local tname=$1 name=$2 out
	shift 2
	out=$LOGS/$name.out
	"$TOP/harness/host/vm.py" --name "$name" --quiet --output "$out" "$@"
	tap_guest "$tname" "$out" $?
}

# tap_guest_each <prefix> <out>: each KTAP result line the guest printed to
# <out> as a TAP line of its own ("<prefix> <description>"); status 1 if
# it printed none.  A skip's reason is what follows the description's
# first ": " (ktap_test_skip has no reason field).
tap_guest_each() {
	local line desc n=0
	while IFS= read -r line; do
		n=$((n + 1))
		desc=${line#*ok [0-9]* }
		case $line in
		*"# SKIP"*)
			desc=${desc%% # SKIP*}
			tap_skip "$1 ${desc%%: *}" "${desc#*: }" ;;
		"not ok "*) tap_fail "$1 $desc" ;;
		*) tap_ok "$1 $desc" ;;
		esac
	done < <(grep -E '^(not )?ok [0-9]+ ' "$2")
	[ $n -gt 0 ]
}

# tap_guest <name> <out> <rc>: one result for a guest that printed KTAP to
# <out> and ended with status <rc>: its lines echoed as comments, then ok
# (all its checks passed), skip (it skipped all), or fail (a check failed,
# it printed none, exited non-zero, or the console had a kernel report).
tap_guest() {
	local name=$1 out=$2 rc=$3 log=build/logs/${2##*/} total failed
	log=${log%.out}
	grep -E '^(not )?ok |^# ' "$out" | sed 's/^/# /'
	total=$(grep -c -E '^(not )?ok [0-9]' "$out")
	failed=$(grep -c -E '^not ok [0-9]' "$out")
	if grep -qE '^1\.\.0 # SKIP' "$out"; then
		tap_skip "$name" "$(sed -n 's/^1\.\.0 # SKIP //p' "$out")"
	elif [ -s "${out%.out}.problems" ]; then
		tap_fail "$name" "kernel warnings/bugs on the console (see $log.log)"
	elif [ "$rc" = 0 ] && [ "$total" -gt 0 ] && [ "$failed" = 0 ]; then
		tap_ok "$name" "$total checks"
	else
		tap_fail "$name" "$failed of $total checks failed (guest status $rc; see $log.log)"
	fi
}
