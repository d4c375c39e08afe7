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
# RUN_BATCH=N (8) runs up to N kselftests of the same naming mode that
# need no PCIe controllers (topology none: they set up their nvmet targets
# and tear them down) one after the other in one guest, each still with
# its own timeout, TAP line, log and kernel reports (batch_split.py); a
# guest boot costs some 4 s of TCG.  RUN_BATCH=1: a guest for each.
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

# job_setup <file> <names>: what running the file in that naming mode
# takes, in the caller's variables t, key, topo, extra, tmo, kvar, name,
# cmd, cwd, vmtmo, quick and desc (the first line of its report).
job_setup() {
	local f=$1 names=$2 factor
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
	quick=
	[ "${RUN_QUICK:-0}" = 1 ] && quick=$(header "$f" quick)
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
	desc="# $t: ${kvar} kernel, topology ${topo:-none}, timeout ${tmo}s${extra:+, cmdline \"$extra\"}${quick:+, quick: $quick}"
}

# job_report <key> <name> <rc> <first line> <vm.py's output>: the lines
# to show, to $res_dir/<key>.txt, and guest_verdict's line, to
# <key>.result.
job_report() {
	local out=$LOGS/$2.out
	{
	echo "$4"
	cat "$5"
	sed 's/^/# /' "$out" | grep -v '^# TAP version\|^# 1\.\.' | tail -n "${RUN_TAIL:-15}"
	sed 's/^/#   kernel: /' "$LOGS/$2.problems" 2>/dev/null | head -10
	} > "$res_dir/$1.txt" 2>&1
	guest_verdict "$out" "$3" > "$res_dir/$1.result"
}

# vm_envs: the --env arguments of RUN_ENV, in envs
vm_envs() {
	local kv
	envs=()
	for kv in ${RUN_ENV:-}; do envs+=(--env "$kv"); done
}

# run_one <file> <names>: boot its guest (with nvme_core.multipath_names=
# <names> unless empty), run it, report it (job_report).
run_one() {
	local t key topo extra tmo kvar name cmd cwd vmtmo quick desc kv rc envs
	job_setup "$1" "$2"
	vm_envs
	for kv in $quick; do envs+=(--env "$kv"); done
	"$TOP/harness/host/vm.py" --variant "$kvar" --topo "${topo:-none}" --cmdline "$extra" \
		--name "$name" --quiet --output "$LOGS/$name.out" --timeout "$vmtmo" "${envs[@]}" \
		--env "OBJ_BASE=$OBJ_BASE" --cwd "$cwd" -- "$cmd" > "$res_dir/$key.vm" 2>&1
	rc=$?
	job_report "$key" "$name" "$rc" "$desc" "$res_dir/$key.vm"
}

# run_batch <names> <file>...: kselftests that declare the same guest
# (topology, command line, kernel) run one after the other in one guest,
# each with its own timeout, variables and report, as if alone: the guest
# marks where each begins and ends, and batch_split.py gives each its part
# of the output and the console, its status and its kernel reports.
run_batch() {
	local names=$1 f t key topo extra tmo kvar name cmd cwd vmtmo quick desc rc envs
	local bname keys=() members=() firsts=() script="" total=180 i
	shift
	for f in "$@"; do
		job_setup "$f" "$names"
		keys+=("$key")
		members+=("$name")
		firsts+=("$desc, in a guest with $# tests")
		script+="echo 'nvme-mpath-batch: begin $name' > /dev/kmsg; echo '# nvme-mpath-batch: begin $name'
${quick:+env $quick }$cmd
rc=\$?; echo \"nvme-mpath-batch: end $name rc=\$rc\" > /dev/kmsg; echo \"# nvme-mpath-batch: end $name rc=\$rc\"
"
		total=$((total + vmtmo - 180 + 30))
	done
	bname=batch-${members[0]#selftest-}
	vm_envs
	"$TOP/harness/host/vm.py" --variant "$kvar" --topo "${topo:-none}" --cmdline "$extra" \
		--name "$bname" --quiet --output "$LOGS/$bname.out" --timeout "$total" "${envs[@]}" \
		--env "OBJ_BASE=$OBJ_BASE" --cwd "$cwd" -- "$script" > "$res_dir/$bname.vm" 2>&1
	rc=$?
	"$TOP/harness/host/batch_split.py" "$bname" "${members[@]}"
	for i in "${!members[@]}"; do
		# a test that did not end: the guest's status (124 when it timed out)
		job_report "${keys[$i]}" "${members[$i]}" \
			"$(cat "$LOGS/${members[$i]}.rc" 2>/dev/null || echo "$rc")" "${firsts[$i]}" \
			"$res_dir/$bname.vm"
	done
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
# batch_key <file> <names>: the guest a kselftest can share with others
# (RUN_BATCH > 1): one without PCIe controllers, which only the tests
# themselves set up and tear down; empty for a guest of its own.
batch_key() {
	local topo
	[ "${RUN_BATCH:-8}" -gt 1 ] && is_kselftest "$1" || return 0
	topo=$(header "$1" topology)
	[ "${topo:-none}" = none ] || return 0
	echo "$2|$(header "$1" cmdline)|$(header "$1" variant)"
}

# units: the guests to boot, in order, each "<names>|<file> <file>..."
units=()
declare -A open_unit=()
for job in "${selected[@]}"; do
	f=${job%%|*} names=${job#*|}
	bk=$(batch_key "$f" "$names")
	if [ -n "$bk" ] && [ -n "${open_unit[$bk]:-}" ]; then
		i=${open_unit[$bk]}
		units[i]+=" $f"
		read -r -a n <<< "${units[i]#*|}"
		[ ${#n[@]} -ge "${RUN_BATCH:-8}" ] && unset "open_unit[$bk]"
		continue
	fi
	units+=("$names|$f")
	[ -n "$bk" ] && open_unit[$bk]=$((${#units[@]} - 1))
done
for unit in "${units[@]}"; do
	while [ "$(jobs -pr | wc -l)" -ge "$lanes" ]; do
		wait -n
		print_done
	done
	names=${unit%%|*}
	# shellcheck disable=SC2086 # one argument per file
	set -- ${unit#*|}
	if [ $# = 1 ]; then
		run_one "$1" "$names" &
	else
		run_batch "$names" "$@" &
	fi
	# the first guests start a little apart: their boots do not coincide
	[ "$lanes" -gt 1 ] && sleep 2
done
wait
print_done
tap_summary
