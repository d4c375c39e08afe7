#!/bin/bash
# blktests.sh: the upstream blktests nvme group (nvmet loop and tcp), run as
# it is in a guest, against our kernel in the "nvme" naming mode
# (nvme_core.multipath_names=nvme, the names blktests looks for) and against
# the unmodified base in the same invocation; prints a table test by test.
# BLKTESTS_DIR: the blktests source (default ../shared/vendor/blktests),
# never modified: it is copied and built under build/blktests.
# BLKTESTS_TESTS: tests or groups to run (default nvme);
# BLKTESTS_KERNELS: "ours base" (default) or one of them;
# BLKTESTS_TABLE_ONLY=1 prints the table of the last run again.
set -o pipefail
. "$(dirname "$0")/common.sh"
srcdir=${BLKTESTS_DIR:-$TOP/../shared/vendor/blktests}
[ -x "$srcdir/check" ] || die "no blktests at $srcdir (set BLKTESTS_DIR)"
srcdir=$(cd "$srcdir" && pwd)
out=$BUILD/blktests
kernels=${BLKTESTS_KERNELS:-ours base}
if [ -n "${BLKTESTS_TABLE_ONLY:-}" ]; then
	kernels_run=
else
	kernels_run=$kernels
fi
[ -z "$kernels_run" ] || { rm -rf "$out/src" && mkdir -p "$out" && cp -a "$srcdir" "$out/src"; }
[ -z "$kernels_run" ] || make -s -C "$out/src" > "$out/make.log" 2>&1 || echo "==> note: building blktests' helpers failed (see $out/make.log)"

[ -z "$kernels_run" ] || "$TOP/harness/host/tree.sh" --auto || exit 1
for k in $kernels_run; do
	v="test"
	[ "$k" = base ] && v=base
	"$TOP/harness/host/build-kernel.sh" "$v" || exit 1
done

for k in $kernels_run; do
	v=test cmdline=nvme_core.multipath_names=nvme
	[ "$k" = base ] && v=base cmdline=
	obj=$OBJ_BASE/$v
	echo "==> blktests on $k ($v kernel${cmdline:+, $cmdline}): log build/logs/blktests-$k.log"
	t0=$(date +%s)
	"$TOP/harness/host/vm.py" --variant "$v" --topo none --cmdline "$cmdline" --mem 3072 \
		--name "blktests-$k" --quiet --output "$out/$k.out" --allow-warnings \
		--timeout "${BLKTESTS_TIMEOUT:-3000}" \
		--env "BLKTESTS_TESTS=${BLKTESTS_TESTS:-nvme}" \
		-- "bash $TOP/harness/guest/blktests-guest.sh $out/src $obj/.config $obj"
	echo "==> $k: guest status $?, $(( $(date +%s) - t0 )) s"
	grep '^blktests-result' "$out/$k.out" | cut -f2- > "$out/$k.tsv"
done

# table: test, transport, one column per kernel, reason where not passed
# shellcheck disable=SC2086 # one argument per kernel
python3 "$(dirname "$0")/blktests_table.py" "$out" $kernels
