#!/bin/bash
# build-kernel.sh [variant]   (variant: test (default), debug, base or modular)
# Out-of-tree, incremental bzImage build of $TREE in build/obj/<variant>.
# `base` is the unmodified base (tag base, 6.12 with its own multipath) from
# a worktree at build/base/linux, built in build/base/obj/base with the test
# config: ../../linux from there as from build/obj/test, so ccache hits for
# every file the series does not touch.
set -eo pipefail
. "$(dirname "$0")/common.sh"
variant=${1:-${VARIANT:-test}}
case $variant in
test)  frags=("$TOP/configs/test.config") ;;
debug) frags=("$TOP/configs/test.config" "$TOP/configs/debug.config") ;;
base)  frags=("$TOP/configs/test.config") ;;
modular) frags=("$TOP/configs/test.config" "$TOP/configs/modular.config") ;;
*) die "unknown variant '$variant' (test, debug, base or modular)" ;;
esac
[ -e "$TREE/.git" ] || die "no kernel tree at $TREE (run make tree)"
obj=$OBJ_BASE/$variant
if [ "$variant" = base ]; then
	base_tree=$BUILD/base/linux
	if [ ! -e "$base_tree/.git" ]; then
		git -C "$TREE" worktree prune
		git -C "$TREE" worktree add -q --detach "$base_tree" base
	fi
	git -C "$base_tree" checkout -q --detach base
	export TREE=$base_tree
	obj=$BUILD/base/obj/base
	# harness/host/vm.py --variant base looks in build/obj/base
	mkdir -p "$OBJ_BASE" && ln -sfn "$obj" "$OBJ_BASE/base"
fi
log=$LOGS/build-$variant.log
ccache_setup
start=$(date +%s)
note "building $variant kernel in ${obj#"$TOP"/} (log: ${log#"$TOP"/})"
# The modular kernel differs from the test kernel only in the NVMe
# options: its first build starts from a copy of the test kernel's objects,
# and kbuild's per-option dependencies rebuild only what those options
# reach (some 70 objects: 48 s, against a build from scratch).
if [ "$variant" = modular ] && [ ! -f "$obj/.config" ] && [ -f "$OBJ_BASE/test/vmlinux" ]; then
	mkdir -p "$obj"
	flock "$KBUILD_LOCK" cp -a "$OBJ_BASE/test/." "$obj/"
	rm -f "$obj/.built-head"
	note "modular kernel: starting from the test kernel's objects"
fi
# The lock also covers config generation: it writes into the obj dir.
if ! flock "$KBUILD_LOCK" "$TOP/harness/host/gen-config.sh" "$obj" "${frags[@]}" >"$log" 2>&1; then
	cat "$log" >&2; die "config generation failed"
fi
# The build proper, under the lock; its start is recorded to tell the time
# spent waiting for the lock (another build) from the build itself.
stampf=$obj/.build-start
targets=(bzImage)
# the modular variant's modules go to $obj/mods, for modprobe -d in a guest
[ "$variant" = modular ] && targets=(bzImage modules)
rm -f "$stampf"
# shellcheck disable=SC2016 # the inner bash expands $0 and $@
if ! flock "$KBUILD_LOCK" bash -c 'date +%s > "$0"; exec "$@"' "$stampf" \
	make -C "$TREE" O="$obj" -j"$JOBS" CC="$KCC" "${targets[@]}" >>"$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -40 >&2
	die "kernel build failed ($variant); see ${log#"$TOP"/}"
fi
grep -E ': warning:' "$log" | sort -u | head -20 || true
if [ "$variant" = modular ]; then
	rm -rf "$obj/mods"
	make -C "$TREE" O="$obj" INSTALL_MOD_PATH="$obj/mods" modules_install >>"$log" 2>&1 ||
		die "modules_install failed; see ${log#"$TOP"/}"
fi
"$TOP/harness/host/check-config.sh" "$obj/.config" "${frags[@]}"
end=$(date +%s)
# HEAD, or HEAD-dirty when the tree held more (gates.sh reuses a clean one)
dirty=
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] || dirty=-dirty
echo "$(git -C "$TREE" rev-parse HEAD)$dirty" > "$obj/.built-head"
bstart=$(cat "$stampf" 2>/dev/null || echo "$start")
note "built $variant kernel: ${obj#"$TOP"/}/arch/x86/boot/bzImage in $((end-bstart)) s$([ $((bstart-start)) -gt 1 ] && echo " (config and build lock: $((bstart-start)) s before)") (HEAD $(git -C "$TREE" log -1 --format=%h))"
