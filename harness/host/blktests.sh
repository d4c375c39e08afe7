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
python3 - "$out" $kernels <<'PY'
import sys, collections
out, kernels = sys.argv[1], sys.argv[2:]
res = collections.defaultdict(dict)
import re
notrun = {}
for k in kernels:
    # the reasons of "not run" are only in check's output: the indented
    # lines after the test's "[not run]" line
    try:
        lines = open(f"{out}/{k}.out", errors="replace").read().splitlines()
    except FileNotFoundError:
        lines = []
    for i, l in enumerate(lines):
        m = re.match(r"(nvme/\d+) \(([^)]*)\).*\[not run\]", l)
        if not m:
            continue
        why = []
        for n in lines[i + 1:]:
            if not n.startswith("    "):
                break
            if not n.strip().startswith("runtime"):
                why.append(n.strip())
        cond = "tr_" + m.group(2).replace("tr=", "").replace(" bd=", "_bd_")
        notrun[(k, m.group(1), cond)] = ", ".join(why)
for k in kernels:
    try:
        for line in open(f"{out}/{k}.tsv"):
            f = line.rstrip("\n").split("\t") + ["", "", "", ""]
            tr = f[0].replace("nodev_tr_", "").replace("nodev", "-")
            why = f[3] or notrun.get((k, f[1], f[0].replace("nodev_", "")), "")
            res[(f[1], tr)][k] = (f[2] or "?", why)
    except FileNotFoundError:
        pass
hdr = ["test", "transport"] + kernels + ["reason (where not passed)"]
rows = []
for key in sorted(res):
    cells = [res[key].get(k, ("-", ""))[0] for k in kernels]
    why = "; ".join(f"{k}: {res[key][k][1]}" for k in kernels
                    if k in res[key] and res[key][k][0] != "pass" and res[key][k][1])
    rows.append(list(key) + cells + [why])
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr) - 1)]
fmt = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r[:-1])) + " | " + r[-1] + " |"
print(fmt(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|---|")
for r in rows: print(fmt(r))
# compact: one row per test, each kernel's results over its transports
comp = collections.OrderedDict()
for (t, tr), v in sorted(res.items()):
    comp.setdefault(t, {k: [] for k in kernels})
    for k in kernels:
        comp[t][k].append(v.get(k, ("-", ""))[0])
def summ(l):
    c = collections.Counter(l)
    return ", ".join(f"{n} {st}" if len(c) > 1 or n > 1 else st for st, n in c.items())
with open(f"{out}/table.md", "w") as f:
    f.write("| test | " + " | ".join(kernels) + " | why not passed |\n|---|" + "---|" * len(kernels) + "---|\n")
    for t, v in comp.items():
        whys = sorted({res[(t2, tr)][k][1] for (t2, tr) in res if t2 == t for k in kernels
                       if k in res[(t2, tr)] and res[(t2, tr)][k][0] != "pass" and res[(t2, tr)][k][1]})
        f.write(f"| {t} | " + " | ".join(summ(v[k]) for k in kernels) + " | " + "; ".join(whys) + " |\n")
print(f"\ncompact table (one row per test, over its transports): {out}/table.md")
if len(kernels) == 2:
    a, b = kernels
    worse = [f"{t} ({tr})" for (t, tr), v in sorted(res.items())
             if v.get(b, ("",))[0] == "pass" and v.get(a, ("",))[0] != "pass"]
    print(f"\n{len(rows)} results; passed on {b} but not on {a}: {len(worse)}" + (": " + ", ".join(worse) if worse else ""))
PY
