#!/usr/bin/env python3
"""make bench: our multipath against a single path, the 6.12 in-tree
multipath and dm-multipath, in one run; writes a report under bench/results/.

Builds what is missing (our kernel: base + series; the base kernel
unmodified, 6.12 with its own CONFIG_NVME_MULTIPATH=y; both from
configs/test.config), then boots each under QEMU (scripts/vm.py) and runs
scripts/bench-guest.py there:

  iops-ours    our kernel:  single-path controller vs /dev/nvm-subXnY
  iops-intree  base kernel: single-path controller vs 6.12's /dev/nvmeXnY
  iops-dm      base kernel, nvme_core.multipath=N: single-path controller vs
               dm-multipath (round-robin, service-time) over the 2 paths
  stall-*      fio QD16 through the multipath node while a controller is
               hot-unplugged / reset / a TCP path blackholed
  scale-*      nvmet TCP with 1..1024 namespaces over two paths

Environment: QUICK=1 (a short run), BENCH_ROUNDS, BENCH_RUNTIME,
BENCH_OUT (default bench/results), BENCH_PARTS (iops,stall,scale),
BENCH_README=0/1 (update README.md; default: not for QUICK=1), BENCH_REPORT=<file.jsonl>
(only rewrite the report from an earlier run's records, kept beside each
report as <stem>.jsonl).
It measures and reports; it asserts nothing about speed.  Exit status is
non-zero only when a part could not be measured.
"""

import csv
import datetime
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
GUEST = os.path.join(TOP, "scripts", "bench-guest.py")
QUICK = os.environ.get("QUICK", "0") not in ("", "0")

KERNELS = {"test": "ours", "base": "in-tree"}
CASE_LABEL = {"single": "single path", "mp": None, "dm-rr": "dm-mpath round-robin",
              "dm-st": "dm-mpath service-time"}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def plan():
    rounds = int(os.environ.get("BENCH_ROUNDS", 3 if QUICK else 7))
    runtime = float(os.environ.get("BENCH_RUNTIME", 1.5 if QUICK else 2))
    if QUICK:
        wls = "randread:1:1,randread:32:1,randwrite:1:1,randwrite:32:1"
        events, counts = "unplug,tcp-kato1", "1,64"
    else:
        wls = ",".join(f"{rw}:{qd}:{j}" for rw in ("randread", "randwrite")
                       for qd in (1, 32) for j in (1, 2))
        events, counts = "unplug,reset,tcp-katodefault,tcp-kato1", "1,64,512,1024"
    parts = os.environ.get("BENCH_PARTS", "iops,stall,scale").split(",")
    iops = f"iops --workloads {wls} --rounds {rounds} --runtime {runtime} --ramp 0.5"
    n_runs = len(wls.split(",")) * rounds
    t_iops = int(n_runs * (runtime + 2.5) * 3) + 120
    boots = []
    if "iops" in parts:
        boots += [
            ("iops-ours", "test", "pcie-dual+single", "", 2048, f"{iops} --cases single,mp", t_iops),
            ("iops-intree", "base", "pcie-dual+single", "", 2048, f"{iops} --cases single,mp", t_iops),
            ("iops-dm", "base", "pcie-dual+single", "nvme_core.multipath=N", 2048,
             f"{iops} --cases single,dm-rr,dm-st", t_iops),
        ]
    for v in ("test", "base"):
        if "stall" in parts:
            boots.append((f"stall-{KERNELS[v]}", v, "pcie-dual", "", 2048,
                          f"stall --events {events}", 600))
    for v in ("test", "base"):
        if "scale" in parts:
            boots.append((f"scale-{KERNELS[v]}", v, "none", "", 4096,
                          f"scale --counts {counts}", 1800))
    return dict(rounds=rounds, runtime=runtime, workloads=wls, events=events,
                counts=counts, boots=boots)


def build():
    subprocess.run([os.path.join(TOP, "scripts", "tree.sh"), "--auto"], check=True)
    for v in KERNELS:
        subprocess.run([os.path.join(TOP, "scripts", "build-kernel.sh"), v], check=True)


def run_boot(name, variant, topo, cmdline, mem, args, timeout, outdir):
    out = os.path.join(outdir, f"{name}.out")
    cmd = [sys.executable, os.path.join(TOP, "scripts", "vm.py"), "--variant", variant,
           "--topo", topo, "--backing", "null", "--mem", str(mem), "--timeout", str(timeout),
           "--name", f"bench-{name}", "--quiet", "--output", out]
    if cmdline:
        cmd += ["--cmdline", cmdline]
    cmd += ["--", f"python3 {GUEST} {args}"]
    log(f"{name}: {KERNELS[variant]} kernel, {topo}{' ' + cmdline if cmdline else ''}: {args}")
    t = time.time()
    rc = subprocess.run(cmd).returncode
    recs = []
    with open(out, errors="replace") as f:
        for line in f:
            if line.startswith("@BENCH "):
                r = json.loads(line[7:])
                r.update(boot=name, kernel=KERNELS[variant], variant=variant)
                recs.append(r)
            elif line.startswith("# ") or "Traceback" in line or "Error" in line:
                print(f"    {line.rstrip()}")
    log(f"{name}: {len(recs)} records, guest exit {rc}, {time.time() - t:.0f} s")
    if rc:
        recs.append(dict(kind="boot-error", boot=name, rc=rc, kernel=KERNELS[variant]))
    return recs


def kernel_configs(outdir, stem):
    info = {}
    for v, label in KERNELS.items():
        cfg = os.path.join(BUILD, "obj", v, ".config")
        if not os.path.exists(cfg):
            continue
        data = open(cfg, "rb").read()
        dst = f"{stem}.config-{label}"
        with open(os.path.join(outdir, dst), "wb") as f:
            f.write(data)
        info[label] = dict(file=dst, sha256=hashlib.sha256(data).hexdigest()[:16])
    return info


# ---------------------------------------------------------------------------
# report

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def wl_name(rw, qd, jobs):
    return f"{rw} QD{qd} {jobs}j"


def iops_table(recs):
    """{(boot, rw, qd, jobs, case): [iops...]}"""
    t = {}
    for r in recs:
        if r["kind"] == "iops":
            t.setdefault((r["boot"], r["rw"], r["qd"], r["jobs"], r["case"]), []).append(r["iops"])
    return t


def paired(recs):
    """{(boot, rw, qd, jobs, case): [case/single of the same round...]}:
    adjacent runs, so that drift within a boot cancels."""
    by = {}
    for r in recs:
        if r["kind"] == "iops":
            by[(r["boot"], r["rw"], r["qd"], r["jobs"], r["round"], r["case"])] = r["iops"]
    out = {}
    for (boot, rw, qd, jobs, rnd, case), v in by.items():
        s = by.get((boot, rw, qd, jobs, rnd, "single"))
        if case != "single" and s:
            out.setdefault((boot, rw, qd, jobs, case), []).append(v / s)
    return out


def ratios(t):
    """Per workload: the median ratio of each case to the single path of its boot."""
    out = {}
    for (boot, rw, qd, jobs, case), xs in t.items():
        if case == "single":
            continue
        base = t.get((boot, rw, qd, jobs, "single"))
        if not base:
            continue
        label = {"iops-ours": "ours", "iops-intree": "in-tree"}.get(boot, case)
        out[(rw, qd, jobs, label)] = dict(median=med(xs), min=min(xs), max=max(xs),
                                          ratio=med(xs) / med(base), single=med(base), n=len(xs))
    return out


def spread(xs):
    m = med(xs)
    return (max(xs) - min(xs)) / m * 100 if m else float("nan")


def fmt_ratio(x):
    return "-" if x is None or x != x else f"{x:.2f}"


def report(recs, meta, outdir, stem):
    lines = []
    w = lines.append
    w(f"# nvme-mpath benchmark, {meta['date']}\n")
    w(f"Base: {meta['base']}; ours: base + patches/series at {meta['series']}. "
      f"Run: `{meta['command']}`{' (QUICK=1)' if QUICK else ''}, {meta['elapsed_min']:.0f} min "
      f"of boots and measurements after {meta['build_min']:.1f} min of kernel builds, "
      f"host {meta['host']}. QEMU TCG (no KVM), 2 vCPUs, null-co backed NVMe controllers "
      f"(reads return zeroes, writes are dropped): what is measured is the host-side "
      f"software path, magnified by emulation.\n")
    w("Kernels: both built from `configs/test.config` "
      + ", ".join(f"{k} `.config` sha256 {v['sha256']} ({v['file']})"
                  for k, v in meta["configs"].items()) + ".\n")
    errs = [r for r in recs if r["kind"].endswith("error")]
    if errs:
        w("**Parts that failed:**\n")
        for r in errs:
            w(f"- {r['boot']}: {r.get('error', 'guest exit ' + str(r.get('rc')))}")
        w("")

    t = iops_table(recs)
    rt = ratios(t)
    if t:
        w("## 1. Per-I/O overhead (IOPS)\n")
        w(f"fio 4k, io_uring, direct, {meta['plan']['rounds']} interleaved rounds of "
          f"{meta['plan']['runtime']:g} s (+0.5 s ramp) per case; the case order rotates each "
          "round. Each multipath case is compared with the single-path controller measured "
          "in the same boot (ratio of medians); ours/in-tree and ours/dm divide those "
          "ratios, so that boot-to-boot differences cancel.\n")
        w("| workload | single path (ours boot) | ours /single | in-tree /single "
          "| dm rr /single | dm st /single | ours /in-tree | ours /dm-st | ours /dm-rr |")
        w("|---|---|---|---|---|---|---|---|---|")
        wls = sorted({(k[0], k[1], k[2]) for k in rt}, key=lambda x: (x[0], x[1], x[2]))
        for rw, qd, jobs in wls:
            g = lambda lab: rt.get((rw, qd, jobs, lab), {}).get("ratio")
            single = rt.get((rw, qd, jobs, "ours"), {}).get("single")
            div = lambda a, b: a / b if a and b else None
            w(f"| {wl_name(rw, qd, jobs)} | {single:.0f} | **{fmt_ratio(g('ours'))}** | "
              f"{fmt_ratio(g('in-tree'))} | {fmt_ratio(g('dm-rr'))} | {fmt_ratio(g('dm-st'))} | "
              f"**{fmt_ratio(div(g('ours'), g('in-tree')))}** | {fmt_ratio(div(g('ours'), g('dm-st')))} | "
              f"{fmt_ratio(div(g('ours'), g('dm-rr')))} |" if single else
              f"| {wl_name(rw, qd, jobs)} | - | | | | | | | |")
        pr = paired(recs)
        gm = {}
        for lab in ("ours", "in-tree", "dm-rr", "dm-st"):
            xs = [v["ratio"] for k, v in rt.items() if k[3] == lab]
            gm[lab] = statistics.geometric_mean(xs) if xs else None
        div2 = lambda a, b: a / b if a and b else None
        w(f"| **all (geometric mean)** | | **{fmt_ratio(gm['ours'])}** | {fmt_ratio(gm['in-tree'])} | "
          f"{fmt_ratio(gm['dm-rr'])} | {fmt_ratio(gm['dm-st'])} | "
          f"**{fmt_ratio(div2(gm['ours'], gm['in-tree']))}** | {fmt_ratio(div2(gm['ours'], gm['dm-st']))} | "
          f"{fmt_ratio(div2(gm['ours'], gm['dm-rr']))} |")
        w("\nMedian IOPS with min-max, per boot; paired: the ratio to the single path "
          "run just before or after it in the same round (median, min-max):\n")
        w("| workload | boot | case | median | min | max | spread % | paired ratio |")
        w("|---|---|---|---|---|---|---|---|")
        for (boot, rw, qd, jobs, case), xs in sorted(t.items()):
            p = pr.get((boot, rw, qd, jobs, case))
            pcol = f"{med(p):.2f} ({min(p):.2f}-{max(p):.2f})" if p else ""
            w(f"| {wl_name(rw, qd, jobs)} | {boot} | {case} | {med(xs):.0f} | {min(xs)} | "
              f"{max(xs)} | {spread(xs):.0f} | {pcol} |")
        sp = [spread(xs) for xs in t.values() if len(xs) > 1]
        singles = {}
        for (boot, rw, qd, jobs, case), xs in t.items():
            if case == "single":
                singles.setdefault((rw, qd, jobs), []).append(med(xs))
        bb = [(max(v) - min(v)) / med(v) * 100 for v in singles.values() if len(v) > 1]
        w(f"\nNoise: the spread (max-min over median) of one case across rounds was "
          f"{min(sp):.0f}-{max(sp):.0f} % (median {med(sp):.0f} %); the single-path "
          f"medians of the same device in the three boots differ by {min(bb):.0f}-{max(bb):.0f} % "
          f"(median {med(bb):.0f} %). Ratios within about that band are not differences.\n"
          if sp and bb else "")
        info = next((r for r in recs if r["kind"] == "info" and r.get("cmd")), None)
        if info:
            w(f"fio command (DEV, RW, QD, JOBS filled in): `{info['cmd']}`\n")
        for r in recs:
            if r["kind"] == "dm-table":
                w(f"- dm table `{r['case']}`: `{r['table']}`")
        w("")

    st = [r for r in recs if r["kind"] == "stall"]
    if st:
        w("## 2. Failover stall\n")
        w("fio randread QD16 through the multipath node, per-I/O latency log; the event "
          "happens 4 s into the run on the path that carries the I/O. Longest gap: the "
          "longest time without any completion.\n")
        w("| event | kernel | I/O errors | I/Os | longest completion latency (ms) "
          "| longest gap without completions (ms) | detail |")
        w("|---|---|---|---|---|---|---|")
        for r in sorted(st, key=lambda r: (r["event"], r["kernel"] != "ours")):
            w(f"| {r['event']} | {r['kernel']} | {r['errors']} | {r['ios']} | "
              f"{r.get('max_lat_ms', '-')} | {r.get('max_gap_ms', '-')} | {r['detail']} |")
        w(f"\nfio: `{st[0]['cmd']}`\n")
        w(f"![IOPS around failover events]({stem}-stall.png)\n")

    sc = [r for r in recs if r["kind"] == "scale"]
    if sc:
        w("## 3. Scale\n")
        w("nvmet TCP target in the guest (loopback, every namespace backed by null_blk), "
          "two paths (127.0.0.1:4430, 127.0.0.2:4431), keep_alive_tmo="
          f"{sc[0]['kato']}. Heads/paths: time from the first connect until every head "
          "node (every path) exists. Failover: one path blackholed, then one 4k read on "
          "every head at once; time until the last completes. Slab: /proc/meminfo Slab "
          "after the connect minus before (both controllers, 2 path namespaces and the "
          "head per namespace); marginal = (delta(N) - delta(1)) / (N - 1).\n")
        w("| namespaces | kernel | heads (s) | paths (s) | failover, all (s) "
          "| failover, median (s) | I/O errors | slab KiB/ns | marginal slab KiB/ns "
          "| disconnect (s) |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        one = {r["kernel"]: r["slab_kib_per_ns"] for r in sc if r["namespaces"] == 1}
        for r in sorted(sc, key=lambda r: (r["namespaces"], r["kernel"] != "ours")):
            n = r["namespaces"]
            marg = "-"
            if n > 1 and r["kernel"] in one:
                marg = f"{(r['slab_kib_per_ns'] * n - one[r['kernel']]) / (n - 1):.1f}"
            w(f"| {n} | {r['kernel']} | {r['heads_s']}{'' if r['heads_ok'] else ' (timeout)'} | "
              f"{r['paths_s']}{'' if r['paths_ok'] else ' (timeout)'} | {r['failover_all_s']} | "
              f"{r['failover_median_s']} | {r['errors']} ({r['completed']}/{r['heads']} done) | "
              f"{r['slab_kib_per_ns']} | {marg} | {r['disconnect_s']} |")
        w("")
    with open(os.path.join(outdir, f"{stem}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return rt


def write_csv(recs, path):
    cols = ["part", "boot", "kernel", "case", "rw", "qd", "jobs", "round", "iops",
            "lat_mean_us", "event", "errors", "ios", "max_lat_ms", "max_gap_ms",
            "namespaces", "heads_s", "paths_s", "failover_all_s", "failover_median_s",
            "slab_kib_per_ns", "disconnect_s"]
    with open(path, "w", newline="") as f:
        cw = csv.DictWriter(f, cols, extrasaction="ignore")
        cw.writeheader()
        for r in recs:
            if r["kind"] in ("iops", "stall", "scale"):
                cw.writerow(dict(r, part=r["kind"]))


def plot(recs, outdir, stem):
    st = [r for r in recs if r["kind"] == "stall" and r.get("iops_series")]
    if not st:
        return None
    tmp = os.path.join(BUILD, "bench", "plot")
    os.makedirs(tmp, exist_ok=True)
    events = sorted({r["event"] for r in st})
    script = [f"set terminal pngcairo size 1100,{300 * len(events)} font 'sans,10'",
              f"set output '{os.path.join(outdir, stem + '-stall.png')}'",
              f"set multiplot layout {len(events)},1",
              "set grid", "set key top right", "set xlabel 's from event'",
              "set ylabel 'IOPS (100 ms bins)'", "set yrange [0:*]",
              "set arrow from 0, graph 0 to 0, graph 1 nohead dt 2 lc rgb 'red'"]
    for ev in events:
        plots = []
        for r in st:
            if r["event"] != ev:
                continue
            dat = os.path.join(tmp, f"{ev}-{r['kernel']}.dat")
            with open(dat, "w") as f:
                for i, v in enumerate(r["iops_series"]):
                    f.write(f"{(r['t0_ms'] + i * r['bin_ms']) / 1000:.2f} {v}\n")
            plots.append(f"'{dat}' using 1:2 with lines lw 1.5 title '{r['kernel']} "
                         f"(gap {r['max_gap_ms']} ms, {r['errors']} errors)'")
        script.append(f"set title '{ev}: IOPS around the event (fio randread QD16)'")
        script.append("plot " + ", ".join(plots))
    script.append("unset multiplot")
    p = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
    if p.returncode:
        log(f"gnuplot failed: {p.stderr.strip()[:300]}")
        return None
    return f"{stem}-stall.png"


def update_readme(outdir, stem, rt, recs):
    readme = os.path.join(TOP, "README.md")
    text = open(readme).read()
    b, e = "<!-- bench:begin -->", "<!-- bench:end -->"
    if b not in text or e not in text:
        log("README.md has no bench markers; not updated")
        return
    rel = os.path.relpath(outdir, TOP)
    out = [b, "", f"Latest run: [{rel}/{stem}.md]({rel}/{stem}.md)"
           f"{' (QUICK=1)' if QUICK else ''}. IOPS ratio of medians to the single-path "
           "controller of the same boot (1.00 = no overhead):", "",
           "| workload | ours /single | in-tree /single | dm-st /single | dm-rr /single |",
           "|---|---|---|---|---|"]
    for rw, qd, jobs in sorted({(k[0], k[1], k[2]) for k in rt}):
        g = lambda lab: fmt_ratio(rt.get((rw, qd, jobs, lab), {}).get("ratio"))
        out.append(f"| {wl_name(rw, qd, jobs)} | {g('ours')} | {g('in-tree')} | {g('dm-st')} | {g('dm-rr')} |")
    gm = {lab: [v["ratio"] for k, v in rt.items() if k[3] == lab]
          for lab in ("ours", "in-tree", "dm-st", "dm-rr")}
    out.append("| **all (geometric mean)** | " + " | ".join(
        fmt_ratio(statistics.geometric_mean(x)) if x else "-" for x in gm.values()) + " |")
    st = [r for r in recs if r["kind"] == "stall"]
    if st:
        out += ["", "| failover event | ours: errors, longest gap | in-tree: errors, longest gap |",
                "|---|---|---|"]
        for ev in sorted({r["event"] for r in st}):
            c = {r["kernel"]: f"{r['errors']}, {r['max_gap_ms']} ms" for r in st if r["event"] == ev}
            out.append(f"| {ev} | {c.get('ours', '-')} | {c.get('in-tree', '-')} |")
        if os.path.exists(os.path.join(outdir, f"{stem}-stall.png")):
            out += ["", f"![IOPS around failover events]({rel}/{stem}-stall.png)"]
    sc = [r for r in recs if r["kind"] == "scale"]
    if sc:
        out += ["", "| namespaces (nvmet TCP, 2 paths) | ours: heads up, failover, slab/ns "
                "| in-tree: heads up, failover, slab/ns |", "|---|---|---|"]
        for n in sorted({r["namespaces"] for r in sc}):
            c = {r["kernel"]: f"{r['heads_s']} s, {r['failover_all_s']} s, "
                 f"{r['slab_kib_per_ns']:.0f} KiB" for r in sc if r["namespaces"] == n}
            out.append(f"| {n} | {c.get('ours', '-')} | {c.get('in-tree', '-')} |")
    out += ["", e]
    text = text[:text.index(b)] + "\n".join(out) + text[text.index(e) + len(e):]
    with open(readme, "w") as f:
        f.write(text)
    log("README.md bench section updated")


def base_version():
    v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "linux-source-6.12"],
                       capture_output=True, text=True).stdout.strip()
    return v or "unknown"


def main():
    start = t_all = time.time()
    p = plan()
    outdir = os.path.join(TOP, os.environ.get("BENCH_OUT", "bench/results"))
    os.makedirs(outdir, exist_ok=True)
    base = base_version()
    date = datetime.datetime.now().strftime("%Y-%m-%d")
    stem = f"{date}-linux-{base.split('-')[0]}{'-quick' if QUICK else ''}"
    rawdir = os.path.join(BUILD, "bench", stem)
    os.makedirs(rawdir, exist_ok=True)
    raw = os.environ.get("BENCH_REPORT")
    if raw:
        recs = [json.loads(x) for x in open(raw)]
    else:
        build()
        build_min = (time.time() - start) / 60
        start = time.time()
        recs = []
        for boot in p["boots"]:
            recs += run_boot(*boot, rawdir)
        recs.append(dict(kind="run", elapsed_min=round((time.time() - start) / 60, 1),
                         build_min=round(build_min, 1),
                         quick=QUICK, plan={k: v for k, v in p.items() if k != "boots"}))
        raw = os.path.join(rawdir, "raw.jsonl")
        with open(raw, "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
    series = subprocess.run(["git", "-C", os.path.join(BUILD, "linux"), "log", "-1",
                             "--format=%h %s"], capture_output=True, text=True).stdout.strip()
    meta = dict(date=date, base=f"Linux {base.split('-')[0]} (Debian linux-source-6.12 {base})",
                series=series, command="make bench", plan=p,
                elapsed_min=next((r["elapsed_min"] for r in recs if r["kind"] == "run"), 0),
                build_min=next((r["build_min"] for r in recs if r["kind"] == "run"), 0),
                host=f"{os.cpu_count()} CPUs",
                configs=kernel_configs(outdir, stem))
    if os.path.abspath(raw) != os.path.abspath(os.path.join(outdir, f"{stem}.jsonl")):
        with open(os.path.join(outdir, f"{stem}.jsonl"), "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
    plot(recs, outdir, stem)
    rt = report(recs, meta, outdir, stem)
    write_csv(recs, os.path.join(outdir, f"{stem}.csv"))
    log(f"report: {os.path.relpath(outdir, TOP)}/{stem}.md (raw data {os.path.relpath(raw, TOP)})")
    # The README shows the full set; a QUICK run only updates it on request.
    if os.environ.get("BENCH_README", "0" if QUICK else "1") != "0":
        update_readme(outdir, stem, rt, recs)
    failed = [r for r in recs if r["kind"].endswith("error")]
    for r in failed:
        log(f"FAILED part: {r}")
    log(f"done in {(time.time() - t_all) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
