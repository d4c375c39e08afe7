#!/usr/bin/env python3
"""The blktests table, test by test, per kernel (called by blktests.sh)."""
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
