#!/bin/bash
# build-kernel.sh [variant]   (variant: test (default) or debug)
# Out-of-tree, incremental bzImage build of $TREE in build/obj/<variant>.
set -eo pipefail
. "$(dirname "$0")/common.sh"
variant=${1:-${VARIANT:-test}}
case $variant in
test)  frags=("$TOP/configs/test.config") ;;
debug) frags=("$TOP/configs/test.config" "$TOP/configs/debug.config") ;;
*) die "unknown variant '$variant' (test or debug)" ;;
esac
[ -e "$TREE/.git" ] || die "no kernel tree at $TREE (run make tree)"
obj=$OBJ_BASE/$variant
log=$LOGS/build-$variant.log
ccache_setup
start=$(date +%s)
note "building $variant kernel in ${obj#$TOP/} (log: ${log#$TOP/})"
# The lock also covers config generation: it writes into the obj dir.
if ! flock "$KBUILD_LOCK" "$TOP/scripts/gen-config.sh" "$obj" "${frags[@]}" >"$log" 2>&1; then
	cat "$log" >&2; die "config generation failed"
fi
# The build proper, under the lock; its start is recorded to tell the time
# spent waiting for the lock (another build) from the build itself.
stampf=$obj/.build-start
rm -f "$stampf"
if ! flock "$KBUILD_LOCK" bash -c 'date +%s > "$0"; exec "$@"' "$stampf" \
	make -C "$TREE" O="$obj" -j"$JOBS" CC="$KCC" bzImage >>"$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -40 >&2
	die "kernel build failed ($variant); see ${log#$TOP/}"
fi
grep -E ': warning:' "$log" | sort -u | head -20 || true
"$TOP/scripts/check-config.sh" "$obj/.config" "${frags[@]}"
end=$(date +%s)
echo "$(git -C "$TREE" rev-parse HEAD)" > "$obj/.built-head"
bstart=$(cat "$stampf" 2>/dev/null || echo "$start")
note "built $variant kernel: ${obj#$TOP/}/arch/x86/boot/bzImage in $((end-bstart)) s$([ $((bstart-start)) -gt 1 ] && echo " (after waiting $((bstart-start)) s for the build lock)") (HEAD $(git -C "$TREE" log -1 --format=%h))"
