#!/bin/bash
# gates.sh [gate...]: quality gates on the committed series (base..HEAD of
# $TREE), run in a git worktree of it (build/bisect/linux) so that the
# working tree of build/linux is never touched.
#   lint        shellcheck (.shellcheckrc) and pyflakes3 on the harness,
#               and the nvme-mpath kselftests and their Python helpers
#   checkpatch  checkpatch.pl --strict on every patch of patches/series
#   bisect      every commit builds (drivers/nvme/ block/, and the other
#               C files it changes), full vmlinux at HEAD
#   sparse      no new sparse (C=2) / W=1 warnings in drivers/nvme/host/ and
#               the block/ files the series changes
#   mpath       drivers/nvme/ builds with CONFIG_NVME_MULTIPATH=y and =n
#   debian      drivers/nvme/host builds as modules under Debian's config
# Prints TAP lines; exits non-zero if any gate fails.
set -o pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/tap.sh"
PATCHES=${PATCHES:-$TOP/patches}
WT_BASE=${BISECT:-$BUILD/bisect}
case $WT_BASE in /*) ;; *) WT_BASE=$TOP/$WT_BASE ;; esac
WT=$WT_BASE/linux
ALLOW=$PATCHES/checkpatch-allow
DEBIAN_CONFIG=${DEBIAN_CONFIG:-/usr/src/linux-config-6.12/config.amd64_none_amd64.xz}
# The objects of the sparse gate and of the mpath gate's =n and kunit-m,
# one after the other: a fresh object directory first builds kconfig,
# objtool and the other host programs (some 40 s of CPU here).
GATES_OBJ=$OBJ_BASE/gates
gates=("$@")
[ ${#gates[@]} -gt 0 ] || gates=(lint checkpatch bisect sparse mpath debian)
ccache_setup

# show_errors <log>: the compiler's errors, else make's.
show_errors() {
	local e
	e=$(grep -E ': (fatal )?error:|undefined reference|ERROR: modpost' "$1" | head -8)
	[ -n "$e" ] || e=$(grep -E 'Error [0-9]|\*\*\*' "$1" | head -5)
	echo "$e" | sed -E "s#^(\.\./)+##; s#^#\#   #"
}

series() {
	[ -f "$PATCHES/series" ] || return 0
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' "$PATCHES/series"
}

# wmake <objdir> <args>: a make in the worktree, under the build lock.
wmake() {
	local obj=$1; shift
	mkdir -p "$obj"
	flock "$KBUILD_LOCK" make -C "$WT" O="$obj" -j"$JOBS" CC="$KCC" "$@"
}

# wconfig <objdir> <fragment...>: test config for the worktree's checkout.
wconfig() {
	flock "$KBUILD_LOCK" env TREE="$WT" "$TOP/harness/host/gen-config.sh" "$@" >/dev/null
}

# setup_worktree: $WT, a worktree of $TREE.  Under a lock: make check runs
# two gates.sh at once, in two worktrees, and one's "worktree prune" must
# not meet the other's "worktree add".
setup_worktree() {
	(
	flock 9
	if [ -d "$WT" ] && [ "$(git -C "$WT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" != "$(cd "$TREE/.git" && pwd)" ]; then
		rm -rf "$WT"
	fi
	if [ ! -d "$WT" ]; then
		mkdir -p "$WT_BASE"
		git -C "$TREE" worktree prune
		git -C "$TREE" worktree add -q --detach "$WT" base || exit 1
	fi
	) 9> "$BUILD/.worktree.lock"
}

wcheckout() {
	git -C "$WT" checkout -q --detach -f "$1"
}

# checkpatch_all <out>: checkpatch.pl --terse on the whole series, its
# lines ("<patch>:<line>: <TYPE>:<NAME>: ...") into <out>.  One process
# for a share of the patches, $JOBS shares at once: checkpatch.pl asks
# get_maintainer.pl once per file it sees, and a file that many patches
# change (core.c, nvme.h) is asked once per process, not once per patch
# (52 s for the 64 patches, against some 250 s one patch at a time).
# The SPDX check runs scripts/spdxcheck.py through "env python3": Debian's
# (common.sh), with python3-ply and python3-git from make setup; without
# them the check passes every licence.
checkpatch_all() {
	local patches=() k share
	mapfile -t patches < <(series | sed "s#^#$PATCHES/#")
	share=$(( (${#patches[@]} + JOBS - 1) / JOBS ))
	for ((k = 0; k < ${#patches[@]}; k += share)); do
		(cd "$TREE" && ./scripts/checkpatch.pl --strict \
			--show-types --terse --no-summary "${patches[@]:k:share}" > "$1.$k" 2>&1) &
	done
	wait
	cat "$1".* > "$1"
	rm -f "$1".*
}

gate_checkpatch() {
	local p out bad allowed checks n=0 fails=0 line type tmp
	echo "# gate checkpatch: checkpatch.pl --strict on patches/series"
	tmp=$(mktemp)
	checkpatch_all "$tmp"
	while read -r p; do
		n=$((n + 1))
		out=$(grep -F "$PATCHES/$p:" "$tmp")
		bad=() allowed=0 checks=0
		while IFS= read -r line; do
			[[ $line =~ :\ (ERROR|WARNING|CHECK):([A-Z0-9_]+): ]] || continue
			type=${BASH_REMATCH[2]}
			case ${BASH_REMATCH[1]} in
			CHECK) checks=$((checks + 1)) ;;
			ERROR) bad+=("$line") ;;
			WARNING)
				if [ -f "$ALLOW" ] && awk -v p="$p" -v t="$type" \
					'!/^#/ && ($1 == p || $1 == "*") && $2 == t { f = 1 } END { exit !f }' "$ALLOW"; then
					allowed=$((allowed + 1))
				else
					bad+=("$line")
				fi ;;
			esac
		done <<< "$out"
		if [ ${#bad[@]} -gt 0 ]; then
			fails=$((fails + 1))
			printf '#   %s\n' "${bad[@]/#$PATCHES\//}"
			tap_fail "gates:checkpatch:$p" "${#bad[@]} error(s)/warning(s)"
		else
			tap_ok "gates:checkpatch:$p" "$([ $allowed -gt 0 ] && echo "$allowed allowed warning(s), ")$checks CHECK(s)"
		fi
	done < <(series)
	rm -f "$tmp"
	[ $n -gt 0 ] || tap_skip "gates:checkpatch" "patches/series is empty"
}

# Was build/obj/test, whose config is the one this gate builds with, built
# from HEAD with nothing else in the tree?  Its vmlinux is then HEAD's, and
# building it again in the worktree would prove nothing new.
test_kernel_is_head() {
	local obj=$OBJ_BASE/test
	[ -f "$obj/vmlinux" ] && [ -f "$obj/.built-head" ] || return 1
	[ "$(cat "$obj/.built-head")" = "$(git -C "$TREE" rev-parse HEAD)" ] || return 1
	[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] || return 1
	[ "$obj/vmlinux" -nt "$obj/.config" ]
}

# other_objects <changed files>: the objects, outside drivers/nvme/ and
# block/ (which every commit builds), of the C files a commit changes that
# the test kernel builds (drivers/md/md.o for md on heads).  A header
# outside them that a commit changes is built by the files that include it
# only at HEAD (vmlinux).
other_objects() {
	local f
	for f in $1; do
		case $f in drivers/nvme/*|block/*) continue ;; *.c) ;; *) continue ;; esac
		[ -f "$OBJ_BASE/test/${f%.c}.o" ] && echo "${f%.c}.o"
	done
}

BISECT_HEAD_OK=0
gate_bisect() {
	local commits c i=0 n log others
	echo "# gate bisect: every commit of base..HEAD builds"
	commits=$(git -C "$TREE" rev-list --reverse base..HEAD)
	n=$(echo "$commits" | grep -c . || true)
	local obj=$WT_BASE/obj/bisect  # ../../linux from here, as from build/obj/test: ccache hits
	log=$LOGS/gate-bisect.log
	: > "$log"
	if [ "$n" -eq 0 ]; then
		tap_skip "gates:bisect" "no commits beyond base"
		return
	fi
	local changed last_ok=0
	for c in $commits; do
		i=$((i + 1))
		local subj
		subj=$(git -C "$TREE" log -1 --format='%h %s' "$c")
		echo "## $i/$n $subj ($(date +%T))" >> "$log"
		changed=$(git -C "$TREE" diff --name-only "$c^" "$c")
		# A commit that changes no file of the build (documentation,
		# selftests) builds as its parent did.
		if [ $i -gt 1 ] && ! echo "$changed" | grep -qvE '^(Documentation|tools)/|^MAINTAINERS$'; then
			echo "no file of the build changed" >> "$log"
			[ $i = "$n" ] && BISECT_HEAD_OK=$last_ok
			if [ $last_ok = 1 ]; then
				tap_ok "gates:bisect:$i/$n $subj" "no file of the build changed"
			else
				tap_fail "gates:bisect:$i/$n $subj" "builds as its parent, which does not"
			fi
			continue
		fi
		wcheckout "$c"
		# the config is made again only when a Kconfig file changed
		if { [ $i = 1 ] || echo "$changed" | grep -q 'Kconfig'; } &&
			! wconfig "$obj" "$TOP/configs/test.config" > "$log.one" 2>&1; then
			cat "$log.one" >> "$log"
			last_ok=0
			tap_fail "gates:bisect:$i/$n $subj" "config generation failed (see build/logs/gate-bisect.log)"
			continue
		fi
		mapfile -t others < <(other_objects "$changed")
		if wmake "$obj" -s drivers/nvme/ block/ "${others[@]}" > "$log.one" 2>&1; then
			cat "$log.one" >> "$log"
			last_ok=1
			[ $i = "$n" ] && BISECT_HEAD_OK=1
			tap_ok "gates:bisect:$i/$n $subj"
		else
			cat "$log.one" >> "$log"
			last_ok=0
			show_errors "$log.one"
			tap_fail "gates:bisect:$i/$n $subj" "does not build (see build/logs/gate-bisect.log)"
		fi
	done
	rm -f "$log.one"
	echo "## vmlinux at HEAD" >> "$log"
	if test_kernel_is_head; then
		echo "the test kernel (build/obj/test) was built from HEAD" >> "$log"
		tap_ok "gates:bisect:vmlinux at HEAD" "the test kernel's build"
	elif wmake "$obj" -s vmlinux > "$log.one" 2>&1; then
		cat "$log.one" >> "$log"
		tap_ok "gates:bisect:vmlinux at HEAD"
	else
		cat "$log.one" >> "$log"
		show_errors "$log.one"
		tap_fail "gates:bisect:vmlinux at HEAD" "see build/logs/gate-bisect.log"
	fi
}

# The objects the sparse gate checks: all of drivers/nvme/host/, and the
# block/ files the series changes that the test config builds.  A warning
# in a header the series changes shows in the nvme files, which include
# the block headers; the other block/ files are the same at base and HEAD.
sparse_targets() {
	local f
	echo drivers/nvme/host/
	for f in $(git -C "$TREE" diff --name-only base..HEAD -- 'block/*.c'); do
		[ -f "$OBJ_BASE/test/${f%.c}.o" ] && echo "${f%.c}.o"
	done
}

# sparse_run <rev> <out>: normalised sparse + W=1 warnings of sparse_targets
sparse_run() {
	local obj=$GATES_OBJ log=$LOGS/gate-sparse-$1.log t targets=()
	wcheckout "$2" || return 1
	wconfig "$obj" "$TOP/configs/test.config" || return 1
	for t in $(sparse_targets); do
		# a block file the series adds does not exist at base
		case $t in *.o) [ -f "$WT/${t%.o}.c" ] || continue ;; esac
		targets+=("$t")
	done
	# Drop the objects so that every file is compiled again and its W=1
	# warnings are seen (ccache replays them cheaply); C=2 re-runs sparse.
	find "$obj/drivers/nvme/host" -name '*.o' -delete 2>/dev/null
	for t in "${targets[@]}"; do
		case $t in *.o) rm -f "$obj/$t" ;; esac
	done
	wmake "$obj" C=2 W=1 "${targets[@]}" > "$log" 2>&1 || return 1
	# ccache (CCACHE_BASEDIR) makes the paths relative to the object dir
	local relwt=${WT#"$BUILD"/}
	{ grep -E '^[^ ]+:[0-9]+(:[0-9]+)?: (warning|error):' "$log" || true; } |
		sed -E -e "s|^$WT/||" -e "s#^(\.\./)+$relwt/##" -e 's/:[0-9]+(:[0-9]+)?: /: /' |
		sort -u > "$3"
}

gate_sparse() {
	echo "# gate sparse: C=2 W=1 on drivers/nvme/host/ and the block/ files changed, base vs HEAD"
	local head b h new
	head=$(git -C "$TREE" rev-parse HEAD)
	b=$LOGS/gate-sparse-base.warnings h=$LOGS/gate-sparse-head.warnings
	if ! sparse_run base base "$b"; then
		tap_fail "gates:sparse" "base does not build with C=2 W=1 (see build/logs/gate-sparse-base.log)"
		return
	fi
	if ! sparse_run head "$head" "$h"; then
		tap_fail "gates:sparse" "HEAD does not build with C=2 W=1 (see build/logs/gate-sparse-head.log)"
		return
	fi
	new=$(comm -13 "$b" "$h")
	if [ -n "$new" ]; then
		echo "$new" | sed 's/^/#   /'
		tap_fail "gates:sparse" "$(echo "$new" | wc -l) new warning(s) ($(wc -l < "$b") at base, $(wc -l < "$h") at HEAD)"
	else
		tap_ok "gates:sparse" "no new warnings ($(wc -l < "$b") at base, $(wc -l < "$h") at HEAD)"
	fi
}

gate_mpath() {
	echo "# gate mpath: drivers/nvme/ with CONFIG_NVME_MULTIPATH=y and =n, and a"
	echo "# built-in nvme-core with a modular KUnit (its tests must not be built in)"
	wcheckout "$(git -C "$TREE" rev-parse HEAD)" || return
	if ! grep -qE '^config NVME_MULTIPATH$' "$WT/drivers/nvme/host/Kconfig"; then
		tap_skip "gates:mpath" "CONFIG_NVME_MULTIPATH does not exist in the tree (HEAD)"
		return
	fi
	local v frag obj log dir
	for v in y n kunit-m; do
		# =y is the test config: the bisect gate built it at HEAD, or
		# the test kernel was built from HEAD (make check)
		if [ $v = y ] && grep -q '^CONFIG_NVME_MULTIPATH=y' "$TOP/configs/test.config"; then
			if [ "$BISECT_HEAD_OK" = 1 ]; then
				tap_ok "gates:mpath=$v" "built by the bisect gate at HEAD"
				continue
			fi
			if test_kernel_is_head; then
				tap_ok "gates:mpath=$v" "the test kernel's build (HEAD)"
				continue
			fi
		fi
		# =y is the test config itself: reuse the bisect gate's objects.
		if [ $v = y ]; then obj=$WT_BASE/obj/bisect; else obj=$GATES_OBJ; fi
		log=$LOGS/gate-mpath-$v.log
		frag=$LOGS/gate-mpath-$v.fragment
		mkdir -p "$obj"
		case $v in
		y) echo "CONFIG_NVME_MULTIPATH=y" > "$frag" ;;
		n) echo "# CONFIG_NVME_MULTIPATH is not set" > "$frag" ;;
		kunit-m) printf '%s\n' CONFIG_MODULES=y CONFIG_KUNIT=m \
			CONFIG_NVME_MULTIPATH_KUNIT_TEST=y > "$frag" ;;
		esac
		if ! wconfig "$obj" "$TOP/configs/test.config" "$frag" > "$log" 2>&1; then
			tap_fail "gates:mpath=$v" "config generation failed"
			continue
		fi
		if [ $v = y ] && ! grep -q '^CONFIG_NVME_MULTIPATH=y' "$obj/.config"; then
			tap_fail "gates:mpath=$v" "CONFIG_NVME_MULTIPATH=y did not stick"
			continue
		fi
		if [ $v = n ] && grep -q '^CONFIG_NVME_MULTIPATH=y' "$obj/.config"; then
			tap_fail "gates:mpath=$v" "CONFIG_NVME_MULTIPATH cannot be disabled"
			continue
		fi
		if [ $v = kunit-m ]; then
			if ! grep -q '^CONFIG_NVME_CORE=y' "$obj/.config" ||
			   ! grep -q '^CONFIG_KUNIT=m' "$obj/.config"; then
				tap_fail "gates:mpath=$v" "could not configure NVME_CORE=y with KUNIT=m"
				continue
			fi
			# built into vmlinux, the tests would not link against kunit.ko
			if grep -qE '^CONFIG_NVME_MULTIPATH_KUNIT_TEST=(y|m)' "$obj/.config"; then
				tap_fail "gates:mpath=$v" "KUnit tests built into nvme-core with KUNIT=m"
				continue
			fi
		fi
		# kunit-m differs from the test config in KUnit alone, which
		# only the host driver's tests use
		dir=drivers/nvme/
		[ $v = kunit-m ] && dir=drivers/nvme/host/
		if wmake "$obj" -s "$dir" >> "$log" 2>&1; then
			tap_ok "gates:mpath=$v"
		else
			show_errors "$log"
			tap_fail "gates:mpath=$v" "$dir does not build (see build/logs/gate-mpath-$v.log)"
		fi
	done
}

# lint_files <sh|py>: the harness's tracked shell or Python files (by
# extension, or for shell by a "#!...sh" first line).
lint_files() {
	local f
	git -C "$TOP" ls-files | while read -r f; do
		case $f in patches/*|bench/results/*) continue ;; esac
		case $1:$f in
		py:*.py|sh:*.sh) echo "$f" ;;
		sh:*.*) ;;
		sh:*) head -n 1 "$TOP/$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba)?sh$' && echo "$f" ;;
		esac
	done
}

# lint_one <name> <tool and options> -- <sh|py>: one TAP result.
lint_one() {
	local name=$1 kind out files=()
	shift
	kind=${*: -1}
	set -- "${@:1:$#-2}"
	if ! command -v "$1" > /dev/null; then
		tap_fail "gates:lint:$name" "$1 is not installed (make setup)"
		return
	fi
	mapfile -t files < <(lint_files "$kind")
	out=$(cd "$TOP" && "$@" "${files[@]}" 2>&1)
	lint_result "$name" "$out" ${#files[@]}
}

# lint_result <name> <findings> <number of files>: one TAP result.
lint_result() {
	local n
	n=$(echo "$2" | grep -c .)
	if [ "$n" = 0 ]; then
		tap_ok "gates:lint:$1" "$3 files"
	else
		echo "$2" | head -20 | sed 's/^/#   /'
		tap_fail "gates:lint:$1" "$n finding(s) in $3 files"
	fi
}

# lint_selftests: shellcheck on the series' kselftests in the tree, with
# the checks .shellcheckrc turns off, and pyflakes3 on their Python helpers.
lint_selftests() {
	local ks=tools/testing/selftests tmp dir off out files=()
	tmp=$(mktemp -d)
	dir=$tmp/$ks/nvme-mpath
	# the committed files (HEAD), as the other gates check
	if ! git -C "$TREE" archive HEAD "$ks/nvme-mpath" "$ks/kselftest/ktap_helpers.sh" 2>/dev/null |
		tar -x -C "$tmp" 2>/dev/null || [ ! -d "$dir" ]; then
		rm -rf "$tmp"
		tap_skip "gates:lint:selftests" "no $ks/nvme-mpath in the tree"
		return
	fi
	files=("$dir"/*.sh "$dir"/*.py)
	# .shellcheckrc's checks off too: it is not found from $tmp
	off=$(sed -n 's/^disable=//p' "$TOP/.shellcheckrc" | paste -sd, -)
	out=$(cd "$dir" && shellcheck -x -s bash -e "$off" -f gcc -- *.sh 2>&1
		pyflakes3 -- *.py 2>&1)
	rm -rf "$tmp"
	lint_result selftests "$out" ${#files[@]}
}

gate_lint() {
	echo "# gate lint: shellcheck and pyflakes3 on the harness's scripts and on the selftests"
	lint_one shellcheck shellcheck -f gcc -- sh
	lint_one pyflakes pyflakes3 -- py
	lint_selftests
}

gate_debian() {
	echo "# gate debian: drivers/nvme/host as modules under Debian's amd64 config"
	local obj=$OBJ_BASE/debian log=$LOGS/gate-debian.log cfg
	wcheckout "$(git -C "$TREE" rev-parse HEAD)" || return
	if [ ! -f "$DEBIAN_CONFIG" ]; then
		tap_skip "gates:debian" "$DEBIAN_CONFIG missing (linux-config-6.12)"
		return
	fi
	mkdir -p "$obj"
	cfg=$obj/.config.debian
	xz -dc "$DEBIAN_CONFIG" > "$cfg.new"
	# Debian's signing keys and debug info are not needed for a build test.
	cat >> "$cfg.new" <<-'EOF'
	CONFIG_SYSTEM_TRUSTED_KEYS=""
	CONFIG_SYSTEM_REVOCATION_KEYS=""
	CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"
	# CONFIG_MODULE_SIG_ALL is not set
	# CONFIG_DEBUG_INFO_DWARF5 is not set
	# CONFIG_DEBUG_INFO_BTF is not set
	CONFIG_DEBUG_INFO_NONE=y
	EOF
	{
		if ! cmp -s "$cfg.new" "$cfg" || [ ! -f "$obj/.config" ]; then
			mv "$cfg.new" "$cfg"
			cp "$cfg" "$obj/.config"
			wmake "$obj" -s olddefconfig
		fi
		wmake "$obj" -s modules_prepare &&
		wmake "$obj" -s drivers/nvme/host/ &&
		# Link the .ko files.  Without vmlinux every kernel symbol is
		# "undefined": KBUILD_MODPOST_WARN turns that into warnings, and
		# the ones defined in drivers/nvme/host itself are checked below.
		mapfile -t ko_files < <(sed 's/\.o$/.ko/' "$obj/drivers/nvme/host/modules.order") &&
		wmake "$obj" -s KBUILD_MODPOST_WARN=1 "${ko_files[@]}"
	} > "$log" 2>&1
	local rc=$?
	rm -f "$cfg.new"
	if [ $rc -ne 0 ]; then
		show_errors "$log"
		tap_fail "gates:debian" "drivers/nvme/host does not build under Debian's config (see build/logs/gate-debian.log)"
		return
	fi
	# A symbol that one nvme module uses and another one defines must be
	# exported (modpost cannot tell: it has no vmlinux here).
	local mods m others missing
	mods=$(sed 's/\.o$//' "$obj/drivers/nvme/host/modules.order")
	missing=$(for m in $mods; do
		others=$(for o in $mods; do [ "$o" != "$m" ] && echo "$obj/$o.o"; done)
		# shellcheck disable=SC2086
		comm -12 <(nm -u "$obj/$m.o" | awk '{ print $2 }' | sort -u) \
			<(nm --defined-only $others | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort -u) |
			comm -23 - <(nm $others | sed -n 's/.* __export_symbol_//p' | sort -u) |
			sed "s/\$/ (used by $(basename "$m").ko)/"
	done)
	if [ -n "$missing" ]; then
		echo "$missing" | sed 's/^/#   not exported: /'
		tap_fail "gates:debian" "symbols used across nvme modules without EXPORT_SYMBOL"
		return
	fi
	local kos
	kos=$(cd "$obj" && for m in $mods; do [ -f "$m.ko" ] && basename "$m.ko"; done | tr '\n' ' ')
	tap_ok "gates:debian" "modules: $kos"
}

echo "TAP version 13"
need_tree=0 need_wt=0
for g in "${gates[@]}"; do
	[ "$g" != lint ] && need_tree=1
	[ "$g" != lint ] && [ "$g" != checkpatch ] && need_wt=1
done
if [ $need_tree = 1 ] && [ ! -d "$TREE/.git" ]; then
	tap_fail "gates" "no tree at $TREE"
	tap_summary
	exit
fi
if [ $need_wt = 1 ] && ! setup_worktree; then
	tap_fail "gates" "cannot create the worktree $WT"
	tap_summary; exit
fi
for g in "${gates[@]}"; do
	case $g in
	lint|checkpatch|bisect|sparse|mpath|debian)
		t0=$SECONDS
		"gate_$g"
		echo "# gate $g: $((SECONDS - t0)) s" ;;
	*) tap_fail "gates:$g" "unknown gate" ;;
	esac
done
tap_summary
