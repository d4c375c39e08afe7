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
