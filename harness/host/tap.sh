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

# guest_verdict <out> <rc>: the one rule for the result of a guest that
# printed KTAP to <out> (through run_kselftest.sh or not) and ended with
# status <rc>, printed as "<ok|fail|skip><TAB><reason>".  A kernel report
# on the console (vm.py's <name>.problems beside <out>) fails it, as do a
# "not ok", no result at all and a non-zero status; it skipped when every
# result is a skip or it planned none ("1..0 # SKIP").  The checks counted
# in the reason are the innermost KTAP results (a kselftest's own).
guest_verdict() {
	local out=$1 rc=$2 log res total failed skipped checks bad reason
	log=build/logs/$(basename "${out%.out}").log
	res=$(grep -E '^(not )?ok [0-9]+ ' "$out")
	total=$(grep -c . <<< "$res")
	failed=$(grep -c '^not ok' <<< "$res")
	skipped=$(grep -c '# SKIP' <<< "$res")
	checks=$(grep -E '^(# )*(not )?ok [0-9]+ ' "$out" | grep -vc ' selftests: ')
	bad=$(grep -E '^(# )*not ok [0-9]+ ' "$out" | grep -vc ' selftests: ')
	if [ -s "${out%.out}.problems" ]; then
		printf 'fail\tkernel warnings/bugs on the console (see %s)\n' "$log"
	elif grep -qE '^1\.\.0 # SKIP' "$out" ||
		{ [ "$total" -gt 0 ] && [ "$skipped" = "$total" ] && [ "$failed" = 0 ]; }; then
		reason=$(grep -E '#[[:space:]]*SKIP' "$out" | grep -vE '^ok [0-9]+ selftests:' |
			tail -1 | sed -E 's/.*SKIP[]:)]*[[:space:]]*//')
		printf 'skip\t%s\n' "${reason:-skipped (exit 4)}"
	elif [ "$rc" = 0 ] && [ "$total" -gt 0 ] && [ "$failed" = 0 ]; then
		printf 'ok\t%s checks\n' "$checks"
	elif [ "$total" = 0 ]; then
		printf 'fail\tno result (guest status %s; see %s)\n' "$rc" "$log"
	else
		printf 'fail\t%s of %s checks failed (guest status %s; see %s)\n' \
			"$bad" "$checks" "$rc" "$log"
	fi
}
