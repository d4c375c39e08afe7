#!/usr/bin/env python3
"""The soak's markdown report, with each stall put to an event (called by
soak-guest.sh)."""
import json, re, sys
w, seed, secs, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def s(us): return (us - t0) / 1e6
events = []
for line in open(f"{w}/events.tsv"):
    i, a, b, typ, tgt, det, res = line.rstrip("\n").split("\t")
    events.append(dict(i=int(i), a=int(a), b=int(b), typ=typ, tgt=tgt, det=det, res=res))
stalls = []
for line in open(f"{w}/stalls.txt"):
    f = line.split()
    stalls.append(dict(head=f[0], a=int(f[1]), b=int(f[2]), open=len(f) > 3))
# a stall belongs to the event during which it began, else to the one
# that started last before it; before the first event: "(none)"
for st in stalls:
    ev = None
    for e in events:
        if e["a"] <= st["a"]:
            ev = e
    st["ev"] = ev
heads = {}
for line in open(f"{w}/heads"):
    lab, dev = line.split()
    heads[lab] = dict(dev=dev, w=0, r=0, err=None)
try:
    txt = open(f"{w}/fio.json").read()
    j = json.loads(txt[txt.index("{"):])
    for job in j["jobs"]:
        h = heads.get(job["jobname"])
        if h is not None:
            h.update(w=job["write"]["io_bytes"], r=job["read"]["io_bytes"], err=job["error"])
except Exception as e:
    print(f"# no fio JSON: {e}", file=sys.stderr)
errtxt = open(f"{w}/fio.err", errors="replace").read()
verify_fail = len(re.findall(r"verify: bad|verify failed|bad magic|bad header|mismatch", errtxt))
verify_fail += sum(1 for h in heads.values() if h["err"] == 84)	# EILSEQ
io_err = len(re.findall(r"io_u error", errtxt))
io_err += sum(1 for h in heads.values() if h["err"] not in (0, 84, None))
missing = [k for k, h in heads.items() if h["err"] is None]
unverified = [k for k, h in heads.items() if h["r"] <= 0]
with open(f"{w}/fio.summary", "w") as f:
    f.write(f"IO_ERR={io_err}\nVERIFY_FAIL={verify_fail}\n"
            f"FIO_MISSING='{' '.join(missing)}'\nUNVERIFIED='{' '.join(unverified)}'\n")
def gib(b): return f"{b / 2**30:.2f} GiB"
out = []
p = out.append
p(f"## Schedule\n\nSeed {seed}, {secs} s of events, {len(events)} events.\n")
p("| # | t (s) | event | target | detail | duration (s) | result |")
p("|---|---|---|---|---|---|---|")
for e in events:
    p(f"| {e['i']} | {s(e['a']):.1f} | {e['typ']} | {e['tgt']} | {e['det']} | "
      f"{(e['b'] - e['a']) / 1e6:.1f} | {e['res']} |")
p("\n## Events per type and the longest stall\n")
p("Stall: the longest time a head completed no I/O (its /sys/block/<head>/stat sampled "
  "every 100 ms), counted for the event during which it began or, between events, the "
  f"event before it; gaps under {300} ms are not counted.\n")
p("| event | count | failed | longest stall (s) | head | event # |")
p("|---|---|---|---|---|---|")
types = sorted({e["typ"] for e in events})
for t in types + ["(none)"]:
    evs = [e for e in events if e["typ"] == t]
    sts = [x for x in stalls if (x["ev"]["typ"] if x["ev"] else "(none)") == t]
    if t == "(none)" and not sts:
        continue
    nfail = sum(1 for e in evs if e["res"] != "ok")
    if sts:
        m = max(sts, key=lambda x: x["b"] - x["a"])
        p(f"| {t} | {len(evs)} | {nfail} | {(m['b'] - m['a']) / 1e6:.1f}"
          f"{' (open)' if m['open'] else ''} | {m['head']} | "
          f"{m['ev']['i'] if m['ev'] else '-'} |")
    else:
        p(f"| {t} | {len(evs)} | {nfail} | 0 | - | - |")
p("\n## I/O per head (fio write + verify, 4k random, QD8)\n")
p("| head | device | written | verified | fio error | stalls >= 0.3 s | longest (s) |")
p("|---|---|---|---|---|---|---|")
for k, h in heads.items():
    sts = [x for x in stalls if x["head"] == k]
    lg = max([(x["b"] - x["a"]) / 1e6 for x in sts], default=0)
    p(f"| {k} | {h['dev']} | {gib(h['w'])} | {gib(h['r'])} | {h['err']} | {len(sts)} | {lg:.1f} |")
p(f"\nfio: {io_err} I/O errors, {verify_fail} verify failures.")
top = sorted(stalls, key=lambda x: x["a"] - x["b"])[:10]
if top:
    p("\nLongest stalls:\n")
    for x in top:
        ev = x["ev"]
        p(f"- {(x['b'] - x['a']) / 1e6:.1f} s on {x['head']} from t={s(x['a']):.1f} s"
          + (f", during or after #{ev['i']} {ev['typ']} {ev['tgt']}" if ev else "")
          + (" (still open when sampling stopped)" if x["open"] else ""))
open(f"{w}/report-body.md", "w").write("\n".join(out) + "\n")
