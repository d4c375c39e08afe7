#!/bin/bash
# kunit.sh [S=<suite glob>]: boot the test kernel with KUnit enabled, collect
# the KTAP output from the console and report one TAP line per suite.
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
variant=${VARIANT:-test}
glob=${S:-}
obj=$OBJ_BASE/$variant
name=kunit${glob:+-$(echo "$glob" | tr -c 'A-Za-z0-9_.-' '_')}
log=$LOGS/$name.log
echo "TAP version 13"
echo "# kunit: suites ${glob:-(all built in)} in the $variant kernel"
if ! grep -q '^CONFIG_KUNIT=y' "$obj/.config" 2>/dev/null; then
	tap_skip "kunit" "CONFIG_KUNIT is not set in ${obj#"$TOP"/}/.config"
	tap_summary; exit
fi
cmdline="kunit.enable=1${glob:+ kunit.filter_glob=$glob}"
"$TOP/harness/host/vm.py" --variant "$variant" --topo none --name "$name" --quiet \
	--timeout "${KUNIT_TIMEOUT:-600}" --cmdline "$cmdline" -- true
vmrc=$?
json=$LOGS/$name.json
python3 "$TREE/tools/testing/kunit/kunit.py" parse --json="$json" "$log" > "$LOGS/$name.parsed" 2>&1
python3 "$(dirname "$0")/kunit_results.py" "$json" > "$LOGS/$name.results"
# Fall back on the parser's own summary for totals.
summary=$(grep -E 'Testing complete|Ran [0-9]+ tests' "$LOGS/$name.parsed" | tail -1)
[ -n "$summary" ] && echo "# $summary"
while IFS=$'\t' read -r status suite detail; do
	case $status in
	none)
		if [ -n "$glob" ]; then
			tap_skip "kunit:$glob" "no KUnit suite matching '$glob' is built into the $variant kernel"
		else
			tap_skip "kunit" "no KUnit suites are built into the $variant kernel"
		fi ;;
	PASS) tap_ok "kunit:$suite" "$detail" ;;
	SKIP) tap_skip "kunit:$suite" "$detail" ;;
	error) tap_fail "kunit" "$detail" ;;
	*) tap_fail "kunit:$suite" "$status $detail" ;;
	esac
done < "$LOGS/$name.results"
if [ $vmrc -ne 0 ]; then
	tap_fail "kunit:guest" "the guest run failed (status $vmrc, see ${log#"$TOP"/})"
fi
tap_summary
