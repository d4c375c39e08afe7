#!/bin/bash
# selftests.sh [T=<test>]: install the nvme-mpath kselftests from the tree
# and run each one in its own VM, under the topology it declares:
#   # nvme-mpath-topology: <pcie-dual|pcie-single|pcie-dual+single|pcie-zoned|none>
#   # nvme-mpath-cmdline: <extra kernel args>
#   # nvme-mpath-timeout: <seconds>
#   # nvme-mpath-names: <naming modes make check runs it in: nvm-sub nvme>
# NAMES=nvm-sub|nvme boots with nvme_core.multipath_names=<NAMES> and tags
# the results "nvme-mpath[<NAMES>]:"; NAMES=declared runs each test in the
# modes it declares (nvm-sub if none), the default mode untagged, as make
# check does; SKIP_T="a b" leaves tests out, ONLY_T="a b" runs only those;
# SELFTEST_ENV="K=V ..." sets variables for the tests (e.g. CYCLES=10);
# SELFTEST_INSTALL=only installs the tests and stops, =skip runs the ones
# installed (make check installs them before its background builds).
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
variant=${VARIANT:-test}
only=${T:-}
mode_arg=${NAMES:-}
src=$TREE/tools/testing/selftests/nvme-mpath
inst=$BUILD/kselftest
echo "TAP version 13"
echo "# selftests: nvme-mpath in the $variant kernel"
if [ ! -d "$src" ]; then
	tap_skip "nvme-mpath" "tools/testing/selftests/nvme-mpath does not exist in the tree yet"
	tap_summary; exit
fi
grep -q '^TARGETS += nvme-mpath$' "$TREE/tools/testing/selftests/Makefile" ||
	echo "# note: nvme-mpath is not in tools/testing/selftests/Makefile TARGETS"
if [ "${SELFTEST_INSTALL:-}" != skip ]; then
	rm -rf "$inst"
	if ! flock "$KBUILD_LOCK" make -s -C "$TREE/tools/testing/selftests" \
		O="$BUILD/obj/kselftest" TARGETS=nvme-mpath INSTALL_PATH="$inst" install \
		> "$LOGS/kselftest-install.log" 2>&1; then
		tail -20 "$LOGS/kselftest-install.log"
		tap_fail "nvme-mpath:install" "kselftest install failed (see build/logs/kselftest-install.log)"
		tap_summary; exit
	fi
fi
[ "${SELFTEST_INSTALL:-}" = only ] && exit 0
list=$inst/kselftest-list.txt
tests=$(grep '^nvme-mpath:' "$list" 2>/dev/null | cut -d: -f2-)
if [ -z "$tests" ]; then
	tap_skip "nvme-mpath" "no tests installed (empty TEST_PROGS?)"
	tap_summary; exit
fi
default_timeout=45
[ -f "$inst/nvme-mpath/settings" ] &&
	default_timeout=$(sed -n 's/^timeout=//p' "$inst/nvme-mpath/settings" | tail -1)
default_timeout=${default_timeout:-45}

header() { # header <file> <key>
	sed -n "s/^#[[:space:]]*nvme-mpath-$2:[[:space:]]*//p" "$1" 2>/dev/null | head -1 | sed 's/[[:space:]]*$//'
}

# SELFTEST_LANES=N runs up to N guests at once (default 1).  The results
# are printed in the list's order as they complete.
lanes=${SELFTEST_LANES:-1}
res_dir=$LOGS/selftests-res${mode_arg:+-$mode_arg}
rm -rf "$res_dir"
mkdir -p "$res_dir"

# run_one <test> <names>: boot its guest (with nvme_core.multipath_names=
# <names> unless empty), run it; writes the lines to show to
# $res_dir/<test>[-<names>].txt and "<ok|fail|skip>\t<reason>" to .result.
run_one() {
	local t=$1 names=$2 f topo extra tmo name out rc res reason kind kv key
	local envs=()
	key=$t${names:+-$names}
	f=$inst/nvme-mpath/$t
	topo=$(header "$f" topology); topo=${topo:-none}
	extra=$(header "$f" cmdline)
	[ -n "$names" ] && extra="${extra:+$extra }nvme_core.multipath_names=$names"
	tmo=$(header "$f" timeout); tmo=${tmo:-$default_timeout}
	# the debug kernel (KASAN, lockdep, kmemleak) runs several times slower
	[ "$variant" = debug ] && tmo=$((tmo * ${DEBUG_TIMEOUT_FACTOR:-4}))
	name=selftest-${t%.*}${names:+-$names}
	out=$LOGS/$name.out
	for kv in ${SELFTEST_ENV:-}; do envs+=(--env "$kv"); done
	{
	echo "# $t: topology $topo, timeout ${tmo}s${extra:+, cmdline '$extra'}"
	"$TOP/harness/host/vm.py" --variant "$variant" --topo "$topo" --cmdline "$extra" \
		--name "$name" --quiet --output "$out" --timeout $((tmo + 180)) "${envs[@]}" \
		--cwd "$inst" -- "./run_kselftest.sh -o $tmo -t nvme-mpath:$t"
	rc=$?
	sed 's/^/# /' "$out" | grep -v '^# TAP version\|^# 1\.\.' | tail -n "${SELFTEST_TAIL:-15}"
	} > "$res_dir/$key.txt" 2>&1
	res=$(grep -E '^(not )?ok [0-9]+ selftests: nvme-mpath: ' "$out" | tail -1)
	if [ -s "$LOGS/$name.problems" ] && [ -n "$res" ]; then
		sed 's/^/#   kernel: /' "$LOGS/$name.problems" | head -10 >> "$res_dir/$key.txt"
		res="not ok - # kernel warnings/bugs on the console (see build/logs/$name.log)"
	fi
	case $res in
	"ok "*"# SKIP"*)
		kind=skip
		reason=$(grep -E '#[[:space:]]*SKIP' "$out" | grep -v '^ok [0-9]* selftests:' | tail -1 |
			sed -E 's/.*SKIP[]:)]*[[:space:]]*//')
		reason=${reason:-skipped (exit 4)} ;;
	"ok "*) kind=ok reason= ;;
	"not ok "*) kind=fail reason=${res##*# } ;;
	*) kind=fail reason="no result (guest status $rc; see build/logs/$name.log)" ;;
	esac
	printf '%s\t%s\n' "$kind" "$reason" > "$res_dir/$key.result"
}

# print_done: the results not printed yet that are complete, in order.
printed=0
print_done() {
	local job t names key kind reason i=0
	for job in "${selected[@]}"; do
		i=$((i + 1))
		[ $i -le $printed ] && continue
		t=${job%%:*} names=${job#*:}
		key=$t${names:+-$names}
		[ -f "$res_dir/$key.result" ] || return 0
		cat "$res_dir/$key.txt"
		IFS=$'\t' read -r kind reason < "$res_dir/$key.result"
		tag=nvme-mpath${names:+[$names]}
		case $kind in
		ok) tap_ok "$tag:$t" ;;
		skip) tap_skip "$tag:$t" "$reason" ;;
		*) tap_fail "$tag:$t" "$reason" ;;
		esac
		printed=$i
	done
}

# modes_of <test>: the naming modes to run it in, as "names" values (empty
# for the kernel's default, nvm-sub).
modes_of() {
	local m
	if [ "$mode_arg" != declared ]; then
		echo ":$mode_arg"
		return
	fi
	for m in $(header "$inst/nvme-mpath/$1" names); do
		case $m in nvm-sub) echo ":" ;; *) echo ":$m" ;; esac
	done | grep . || echo ":"
}

# SKIP_T may span lines: one space between names
skip_t=" $(echo "${SKIP_T:-}" | xargs) "
selected=()	# "<test>:<names>"
for t in $tests; do
	if [ -n "$only" ] && [ "$t" != "$only" ] && [ "${t%.*}" != "$only" ]; then
		continue
	fi
	case $skip_t in *" ${t%.*} "*) continue ;; esac
	if [ -n "${ONLY_T:-}" ]; then
		case " $(echo "$ONLY_T" | xargs) " in *" ${t%.*} "*) ;; *) continue ;; esac
	fi
	for m in $(modes_of "$t"); do selected+=("$t$m"); done
done
# the default mode first, then each other mode: as two passes would
mapfile -t selected < <(printf '%s\n' "${selected[@]}" | grep ':$'
	printf '%s\n' "${selected[@]}" | grep -v ':$')
[ "${#selected[@]}" = 1 ] && [ -z "${selected[0]}" ] && selected=()
for job in "${selected[@]}"; do
	while [ "$(jobs -pr | wc -l)" -ge "$lanes" ]; do
		wait -n
		print_done
	done
	run_one "${job%%:*}" "${job#*:}" &
	# the first guests start a little apart: their boots do not coincide
	[ "$lanes" -gt 1 ] && sleep 2
done
wait
print_done
if [ ${#selected[@]} = 0 ]; then
	tap_fail "nvme-mpath:$only" "no such test (have: $(echo "$tests" | xargs))"
fi
tap_summary
