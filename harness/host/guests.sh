#!/bin/bash
# guests.sh <test file>...: the one runner of the tests that run in a
# guest.  Each file runs in a guest of its own, once per naming mode, under
# the VM its header lines declare:
#   # nvme-mpath-topology: <pcie-dual|pcie-single|pcie-dual+single|pcie-zoned|none>
#   # nvme-mpath-cmdline: <extra kernel args>
#   # nvme-mpath-timeout: <seconds>
#   # nvme-mpath-names: <naming modes make check runs it in: nvm-sub nvme>
#   # nvme-mpath-transports: <what its paths are: pcie tcp loop>
#   # nvme-mpath-variant: <the kernel it needs, e.g. modular>
#   # nvme-mpath-debug-factor: <timeout factor on the debug kernel, 4>
#   # nvme-mpath-quick: <K=V ...: the shorter run of make check (RUN_QUICK=1)>
#   # nvme-mpath-name: <its TAP name> (default <RUN_PREFIX>:<file name>)
# A file of the installed kselftests (RUN_KSELFTEST=<install dir>) runs
# through run_kselftest.sh, any other with bash.  The guest prints KTAP;
# guest_verdict (tap.sh) gives one TAP line per file and mode.
#
# NAMES=nvm-sub|nvme boots with nvme_core.multipath_names=<NAMES> and tags
# the results "[<NAMES>]"; NAMES=declared runs each file in the modes it
# declares (nvm-sub if none), the default mode untagged; the base kernel
# (VARIANT=base) has one mode.  RUN_LANES=N runs up to N guests at once;
# RUN_ENV="K=V ..." sets variables for the tests; RUN_TAIL lines of each
# guest's output are shown (15); RUN_TIMEOUT is the timeout of a file
# that declares none (45 s); RUN_QUICK=1 adds what each file declares in
# nvme-mpath-quick to its variables (after RUN_ENV, so that it wins).
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
variant=${VARIANT:-test}
mode_arg=${NAMES:-}
[ "$variant" = base ] && mode_arg=
inst=${RUN_KSELFTEST:-}
prefix=${RUN_PREFIX:-guest}

header() { # header <file> <key>
	sed -n "s/^#[[:space:]]*nvme-mpath-$2:[[:space:]]*//p" "$1" 2>/dev/null | head -1 |
		sed 's/[[:space:]]*$//'
}

# is_kselftest <file>: one of the installed kselftests
is_kselftest() { [ -n "$inst" ] && [ "$(dirname "$1")" = "$inst/nvme-mpath" ]; }

lanes=${RUN_LANES:-1}
res_dir=$(mktemp -d "$LOGS/guests-res.XXXXXX")
trap 'rm -rf "$res_dir"' EXIT

# key_of <file> <names>: its results' file name in $res_dir
key_of() { echo "$(basename "$1")${2:+-$2}"; }

# run_one <file> <names>: boot its guest (with nvme_core.multipath_names=
# <names> unless empty), run it; writes the lines to show to
# $res_dir/<key>.txt and guest_verdict's line to <key>.result.
run_one() {
	local f=$1 names=$2 t topo extra tmo vmtmo name out rc key kv kvar cmd cwd factor quick=
	local envs=()
	t=$(basename "$f")
	key=$(key_of "$f" "$names")
	topo=$(header "$f" topology)
	extra=$(header "$f" cmdline)
	[ -n "$names" ] && extra="${extra:+$extra }nvme_core.multipath_names=$names"
	tmo=$(header "$f" timeout)
	tmo=${tmo:-${RUN_TIMEOUT:-45}}
	kvar=$(header "$f" variant)
	kvar=${kvar:-$variant}
	# the debug kernel (KASAN, lockdep, kmemleak) runs several times slower
	factor=$(header "$f" debug-factor)
	[ "$kvar" = debug ] && tmo=$((tmo * ${factor:-${DEBUG_TIMEOUT_FACTOR:-4}}))
	# run_kselftest.sh times a kselftest out itself; the guest gets more
	if is_kselftest "$f"; then
		name=selftest-${t%.*}${names:+-$names}
		cmd="./run_kselftest.sh -o $tmo -t nvme-mpath:$t"
		cwd=$inst
		vmtmo=$((tmo + 180))
	else
		name=${t%.*}${names:+-$names}
		cmd="bash $f"
		cwd=/
		vmtmo=$tmo
	fi
	out=$LOGS/$name.out
	for kv in ${RUN_ENV:-}; do envs+=(--env "$kv"); done
	[ "${RUN_QUICK:-0}" = 1 ] && quick=$(header "$f" quick)
	for kv in $quick; do envs+=(--env "$kv"); done
	{
	echo "# $t: ${kvar} kernel, topology ${topo:-none}, timeout ${tmo}s${extra:+, cmdline \"$extra\"}${quick:+, quick: $quick}"
	"$TOP/harness/host/vm.py" --variant "$kvar" --topo "${topo:-none}" --cmdline "$extra" \
		--name "$name" --quiet --output "$out" --timeout "$vmtmo" "${envs[@]}" \
		--env "OBJ_BASE=$OBJ_BASE" --cwd "$cwd" -- "$cmd"
	rc=$?
	sed 's/^/# /' "$out" | grep -v '^# TAP version\|^# 1\.\.' | tail -n "${RUN_TAIL:-15}"
	sed 's/^/#   kernel: /' "$LOGS/$name.problems" 2>/dev/null | head -10
	} > "$res_dir/$key.txt" 2>&1
	guest_verdict "$out" "$rc" > "$res_dir/$key.result"
}

# tap_name <file> <names>
tap_name() {
	local n
	n=$(header "$1" name)
	n=${n:-$prefix:$(basename "$1")}
	case $n in
	*:*) echo "${n%%:*}${2:+[$2]}:${n#*:}" ;;
	*) echo "$n${2:+[$2]}" ;;
	esac
}

# print_done: the results not printed yet that are complete, in order.
printed=0
print_done() {
	local job f names key kind reason i=0
	for job in "${selected[@]}"; do
		i=$((i + 1))
		[ $i -le $printed ] && continue
		f=${job%%|*} names=${job#*|}
		key=$(key_of "$f" "$names")
		[ -f "$res_dir/$key.result" ] || return 0
		cat "$res_dir/$key.txt"
		IFS=$'\t' read -r kind reason < "$res_dir/$key.result"
		case $kind in
		ok) tap_ok "$(tap_name "$f" "$names")" "$reason" ;;
		skip) tap_skip "$(tap_name "$f" "$names")" "$reason" ;;
		*) tap_fail "$(tap_name "$f" "$names")" "$reason" ;;
		esac
		printed=$i
	done
}

# modes_of <file>: the naming modes to run it in, as "names" values (empty
# for the kernel's default, nvm-sub).
modes_of() {
	local m
	if [ "$mode_arg" != declared ]; then
		echo "|$mode_arg"
		return
	fi
	for m in $(header "$1" names); do
		case $m in nvm-sub) echo "|" ;; *) echo "|$m" ;; esac
	done | grep . || echo "|"
}

selected=()	# "<file>|<names>"
for f in "$@"; do
	for m in $(modes_of "$f"); do selected+=("$f$m"); done
done
# the default mode first, then each other mode: as two passes would
mapfile -t selected < <(printf '%s\n' "${selected[@]}" | grep '|$'
	printf '%s\n' "${selected[@]}" | grep -v '|$')
[ "${#selected[@]}" = 1 ] && [ -z "${selected[0]}" ] && selected=()
for job in "${selected[@]}"; do
	while [ "$(jobs -pr | wc -l)" -ge "$lanes" ]; do
		wait -n
		print_done
	done
	run_one "${job%%|*}" "${job#*|}" &
	# the first guests start a little apart: their boots do not coincide
	[ "$lanes" -gt 1 ] && sleep 2
done
wait
print_done
tap_summary
