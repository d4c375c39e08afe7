#!/usr/bin/env python3
"""make bench: our multipath against a single path, the 6.12 in-tree
multipath and dm-multipath, in one run; writes a report under bench/results/.

Builds what is missing (our kernel: base + series; the base kernel
unmodified, 6.12 with its own CONFIG_NVME_MULTIPATH=y; both from
configs/test.config), then boots each under QEMU (harness/host/vm.py) and runs
bench/bench-guest.py there:

  iops-ours    our kernel:  single-path controller vs /dev/nvm-subXnY
  iops-intree  base kernel: single-path controller vs 6.12's /dev/nvmeXnY
  iops-dm      base kernel, nvme_core.multipath=N: single-path controller vs
               dm-multipath (round-robin, service-time) over the 2 paths
  iops-*-ic    the QD32 workloads of iops-ours and iops-intree again, with
               the guest's clock counting instructions (QEMU -icount): host
               load cannot reach guest time, so a round repeats to a few
               tenths of a percent
  stall-*      fio QD16 through the multipath node while a controller is
               hot-unplugged / reset / a TCP path blackholed
  fence-*      fio QD16 randwrite and randread over nvmet TCP, the active
               path blackholed: the lost controller's writes held until a
               Cross-Controller Reset or the time-based wait ends its fence,
               or resent at once (failover_writes=immediate, 6.12's way)
  scale-*      nvmet TCP with 1..1024 namespaces over two paths
  fsync-*      fsync() latency, single-path controller vs the head, on the
               device (an empty PREFLUSH) and on ext4 (journal commits:
               PREFLUSH|FUA writes with data); file-backed controllers
  policy-*     nvmet TCP, one namespace over two paths: the I/O policies with
               one path slowed by netem, on equal paths, and on a path that
               degrades mid-run

Environment: QUICK=1 (a short run), BENCH_ROUNDS, BENCH_RUNTIME,
BENCH_OUT (default bench/results), BENCH_PARTS (iops,profile,fsync,stall,fence,scale,policy),
BENCH_FSYNC_ROUNDS (rounds of the fsync part: 21, QUICK 9),
BENCH_FENCE_ROUNDS (rounds of the fence part: 5, QUICK 3),
BENCH_ICOUNT (the -icount shift of the iops-*-ic boots, 2^N ns per
instruction; default 3, "off" leaves them out and runs the profile in real
time), BENCH_IC_ROUNDS (their rounds: 11, QUICK 7),
BENCH_COUNTS (namespace counts of the scale part, e.g. 1024,1024,1024),
BENCH_POLICY_ROUNDS, BENCH_POLICY_RUNTIME (rounds and seconds per fio run of
the policy part), BENCH_NOBUILD=1 (boot the kernels as they are built, build
nothing), BENCH_RAWDIR (raw output directory, default build/bench/<stem>),
BENCH_README=0/1 (write bench/results/LATEST.md; default: not for QUICK=1), BENCH_REPORT=<file.jsonl>
(only rewrite the report from an earlier run's records, kept beside each
report as <stem>.jsonl).
It measures and reports; it asserts nothing about speed.  Exit status is
non-zero only when a part could not be measured.
"""

import csv
import datetime
import hashlib
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
GUEST = os.path.join(TOP, "bench", "bench-guest.py")
QUICK = os.environ.get("QUICK", "0") not in ("", "0")

KERNELS = {"test": "ours", "base": "in-tree"}
ICOUNT = os.environ.get("BENCH_ICOUNT", "3")
# boot name -> column label of the IOPS tables
BOOT_LABEL = {"iops-ours": "ours", "iops-intree": "in-tree",
              "iops-ours-ic": "ours-ic", "iops-intree-ic": "in-tree-ic",
              "iops-direct-ic": "direct-ic"}
CASE_LABEL = {"single": "single path", "mp": None, "dm-rr": "dm-mpath round-robin",
              "dm-st": "dm-mpath service-time"}



def errno_note(errnos):
    """Failed reads of the scale part by errno, as ", EIO 2, EMFILE 1"."""
    if not errnos:
        return ""
    return "".join(f", {e} {n}" for e, n in sorted(errnos.items()))


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def plan():
    # many short rounds, the cases alternating job by job in one fio: the
    # paired ratios then give a median with an interval narrow enough to
    # tell 1 % (QUICK: about 3 %)
    rounds = int(os.environ.get("BENCH_ROUNDS", 9 if QUICK else 21))
    runtime = float(os.environ.get("BENCH_RUNTIME", 1))
    if QUICK:
        wls = "randread:1:1,randread:32:1,randwrite:1:1,randwrite:32:1"
        events, counts = "unplug,tcp-kato1", "1,64"
    else:
        wls = ",".join(f"{rw}:{qd}:{j}" for rw in ("randread", "randwrite")
                       for qd in (1, 32) for j in (1, 2))
        events, counts = "unplug,reset,tcp-katodefault,tcp-kato1", "1,64,512,1024"
    parts = os.environ.get("BENCH_PARTS",
                           "iops,profile,fsync,stall,fence,scale,policy").split(",")
    counts = os.environ.get("BENCH_COUNTS", counts)
    iops = (f"iops --workloads {wls} --rounds {rounds} --runtime {runtime} --ramp 0.25 "
            "--alternate --cpus 0")
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
    if "iops" in parts and ICOUNT != "off":
        # Under -icount an idle guest's clock jumps to its next timer, so a
        # QD1 run measures timer deadlines: only the QD32 workloads, where
        # the guest CPU is busy, are measured this way.
        ic_wls = ",".join(w for w in wls.split(",") if w.split(":")[1] != "1")
        ic_rounds = int(os.environ.get("BENCH_IC_ROUNDS", 7 if QUICK else 11))
        ic = (f"iops --workloads {ic_wls} --rounds {ic_rounds} --runtime {runtime} "
              "--ramp 0.25 --alternate --cpus 0 --cases single,mp")
        t_ic = int(len(ic_wls.split(",")) * ic_rounds * 2 * (runtime + 2.5) * 4) + 300
        boots += [
            ("iops-ours-ic", "test", "pcie-dual+single", "", 2048, ic, t_ic),
            ("iops-intree-ic", "base", "pcie-dual+single", "", 2048, ic, t_ic),
            # the head's path device opened as a plain disk: how much of a
            # head's ratio is the device (a controller of a subsystem, two
            # namespaces sharing its tags) rather than the head
            ("iops-direct-ic", "base", "pcie-dual+single", "nvme_core.multipath=N", 2048,
             ic.replace("single,mp", "single,direct"), t_ic),
        ]
    if "profile" in parts:
        vml = os.path.join(BUILD, "obj", "test", "vmlinux")
        prof = (f"profile --workloads randread:32:1,randwrite:32:1 --rounds {2 if QUICK else 4} "
                f"--runtime {3 if QUICK else 5} --vmlinux {vml}")
        boots.append(("profile-ours", "test", "pcie-dual+single", "nokaslr", 2048, prof,
                      900))
    fs_rounds = int(os.environ.get("BENCH_FSYNC_ROUNDS", 9 if QUICK else 21))
    for v in ("test", "base"):
        if "fsync" in parts:
            boots.append((f"fsync-{KERNELS[v]}", v, "pcie-dual+single", "", 2048,
                          f"fsync --rounds {fs_rounds} --runtime {runtime}",
                          int(fs_rounds * 2 * 2 * (runtime + 1.5) * 3) + 240))
    for v in ("test", "base"):
        if "stall" in parts:
            boots.append((f"stall-{KERNELS[v]}", v, "pcie-dual", "", 2048,
                          f"stall --events {events}", 600))
    # each fence event: the fence, then every kernel's immediate resend
    fence_events = "fence-ccr-w,fence-time-w,fence-immediate-w,fence-time-r,fence-immediate-r"
    f_rounds = int(os.environ.get("BENCH_FENCE_ROUNDS", 3 if QUICK else 5))
    for v in ("test", "base"):
        if "fence" in parts:
            # 6.12 runs only the immediate events: 2 of 5
            n = f_rounds * (5 if v == "test" else 2)
            boots.append((f"fence-{KERNELS[v]}", v, "none", "", 2048,
                          f"stall --events {fence_events} --fence-runtime 20 "
                          f"--rounds {f_rounds}", n * 60 + 300))
    for v in ("test", "base"):
        if "scale" in parts:
            boots.append((f"scale-{KERNELS[v]}", v, "none", "", 4096,
                          f"scale --counts {counts}", 1800))
    # policy: unequal paths (netem delays), equal paths, degrading path
    pol = dict(policies="numa,round-robin,queue-depth,latency", ref="first",
               delays="30" if QUICK else "5,30",
               rounds=int(os.environ.get("BENCH_POLICY_ROUNDS", 2 if QUICK else 5)),
               runtime=float(os.environ.get("BENCH_POLICY_RUNTIME", 1 if QUICK else 2)),
               ramp=0.5, pre=4 if QUICK else 10, post=4 if QUICK else 10, degrade_delay=30)
    pargs = (f"policy --policies {pol['policies']} --ref {pol['ref']} --delays {pol['delays']} "
             f"--rounds {pol['rounds']} --runtime {pol['runtime']} --ramp {pol['ramp']} "
             f"--pre {pol['pre']} --post {pol['post']} --degrade-delay {pol['degrade_delay']}")
    # fio runs: (delays x (policies + fast alone) + 2 x (policies + ref)) x rounds
    n_pol = len(pol["policies"].split(","))
    n_runs = (len(pol["delays"].split(",")) * (n_pol + 1) + 2 * (n_pol + 1)) * pol["rounds"]
    t_pol = int(n_runs * (pol["runtime"] + pol["ramp"] + 3) * 2
                + n_pol * (pol["pre"] + pol["post"] + 10) * 2) + 180
    for v in ("test", "base"):
        if "policy" in parts:
            boots.append((f"policy-{KERNELS[v]}", v, "none", "", 2048, pargs, t_pol))
    return dict(rounds=rounds, runtime=runtime, workloads=wls, events=events, icount=ICOUNT,
                counts=counts, policy=pol, boots=boots)


def build():
    subprocess.run([os.path.join(TOP, "harness", "host", "tree.sh"), "--auto"], check=True)
    for v in KERNELS:
        subprocess.run([os.path.join(TOP, "harness", "host", "build-kernel.sh"), v], check=True)


def run_boot(name, variant, topo, cmdline, mem, args, timeout, outdir):
    out = os.path.join(outdir, f"{name}.out")
    # fsync: a file system on the disks, which null-co would not keep
    backing = "file" if name.startswith("fsync") else "null"
    cmd = [sys.executable, os.path.join(TOP, "harness", "host", "vm.py"), "--variant", variant,
           "--topo", topo, "--backing", backing, "--mem", str(mem), "--timeout", str(timeout),
           "--name", f"bench-{name}", "--quiet", "--output", out]
    if name.endswith("-ic") or (name.startswith("profile") and ICOUNT != "off"):
        # one host thread runs every vCPU under -icount: nothing to pin
        cmd += ["--icount", ICOUNT, "--smp", os.environ.get("BENCH_SMP", "2")]
    elif name.startswith(("iops", "fsync")):
        cmd += ["--pin", "--smp", os.environ.get("BENCH_SMP", "2")]
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
    # commands the guest's driver timed out on (a round with one is an
    # outlier the medians ride over, but the report says it happened)
    con = os.path.join(BUILD, "logs", f"bench-{name}.log")
    try:
        with open(con, errors="replace") as f:
            tmo = sum(1 for line in f if re.search(r"I/O tag \d+ .* timeout", line))
    except OSError:
        tmo = 0
    if tmo:
        recs.append(dict(kind="io-timeouts", boot=name, count=tmo, kernel=KERNELS[variant]))
    if rc:
        recs.append(dict(kind="boot-error", boot=name, rc=rc, kernel=KERNELS[variant]))
    return recs


def config_symbols(path):
    """CONFIG_* symbol -> value of a .config ("n" for "is not set")."""
    syms = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"(CONFIG_\w+)=(.*)", line)
            if m:
                syms[m.group(1)] = m.group(2)
                continue
            m = re.match(r"# (CONFIG_\w+) is not set", line)
            if m:
                syms[m.group(1)] = "n"
    return syms


def config_diff(ref, cfg):
    """Lines "-SYM old", "+SYM new", "SYM old -> new" from ref to cfg."""
    a, b = config_symbols(ref), config_symbols(cfg)
    out = [f"-{k} {a[k]}" for k in sorted(a.keys() - b.keys())]
    out += [f"+{k} {b[k]}" for k in sorted(b.keys() - a.keys())]
    out += [f" {k} {a[k]} -> {b[k]}" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    return out


def kernel_configs(outdir, stem):
    """Record each kernel's .config as its sha256 and its difference from
    the test kernel's (the full config configs/test.config gives): a few
    lines, not a 3,000-line copy per kernel per run."""
    info = {}
    ref = os.path.join(BUILD, "obj", "test", ".config")
    dst = f"{stem}.config.diff"
    repo = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    lines = [f"# kernel configs of this run, as differences from {ref[len(TOP) + 1:]}",
             f"# (the full config configs/test.config gives; repository at {repo})"]
    for v, label in KERNELS.items():
        cfg = os.path.join(BUILD, "obj", v, ".config")
        if not os.path.exists(cfg):
            continue
        data = open(cfg, "rb").read()
        sha = hashlib.sha256(data).hexdigest()[:16]
        diff = config_diff(ref, cfg)
        lines.append(f"[{label}] sha256 {sha}: {len(diff)} difference(s)")
        lines += diff
        info[label] = dict(file=dst, sha256=sha)
    with open(os.path.join(outdir, dst), "w") as f:
        f.write("\n".join(lines) + "\n")
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


def median_ci(xs, conf=0.95):
    """A distribution-free interval for the median of xs (order statistics,
    binomial ranks): (lo, hi), at least conf, or (nan, nan) when xs is too
    small for one."""
    n = len(xs)
    ys = sorted(xs)
    cdf, k = 0.0, 0
    # the largest k with P(Binomial(n, 1/2) < k) <= (1 - conf) / 2
    while k < n and cdf + math.comb(n, k) / 2 ** n <= (1 - conf) / 2:
        cdf += math.comb(n, k) / 2 ** n
        k += 1
    if k == 0:
        return float("nan"), float("nan")
    return ys[k - 1], ys[n - k]


def ratio_ci(a, b, conf=0.95, n=4000):
    """med(a) / med(b) with a percentile bootstrap interval: a and b are the
    paired ratios of two boots (ours/single, in-tree/single), resampled
    independently.  Seeded, so a report rebuilt from its records is the
    same."""
    if not a or not b:
        return None, float("nan"), float("nan")
    rng = random.Random(20261126)
    rs = sorted(med(rng.choices(a, k=len(a))) / med(rng.choices(b, k=len(b)))
                for _ in range(n))
    lo = rs[int(n * (1 - conf) / 2)]
    hi = rs[int(n * (1 + conf) / 2) - 1]
    return med(a) / med(b), lo, hi


def verdict(wl, what, x, lo, hi):
    """One line on whether an interval shows a difference."""
    if x is None or x != x or lo is None or lo != lo:
        return None
    if hi < 1:
        return (f"{wl}, {what}: {x:.3f}, slower by {(1 - hi) * 100:.1f} to "
                f"{(1 - lo) * 100:.1f} % (real)")
    if lo > 1:
        return (f"{wl}, {what}: {x:.3f}, faster by {(lo - 1) * 100:.1f} to "
                f"{(hi - 1) * 100:.1f} % (real)")
    return (f"{wl}, {what}: {x:.3f}, no difference resolved (interval "
            f"{lo:.3f}..{hi:.3f}, +-{max(1 - lo, hi - 1) * 100:.1f} %)")


def fmt_ci(x, lo, hi):
    if x is None or x != x:
        return "-"
    return f"{x:.3f} [{lo:.3f}, {hi:.3f}]" if lo == lo else f"{x:.2f}"


def ratios(t, pr=None):
    """Per workload: each case against the single path of its boot.  With
    paired ratios (pr) the ratio is their median and lo..hi its 95 %
    interval; without, the ratio of the medians."""
    pr = pr or {}
    out = {}
    for (boot, rw, qd, jobs, case), xs in t.items():
        if case == "single":
            continue
        base = t.get((boot, rw, qd, jobs, "single"))
        if not base:
            continue
        label = BOOT_LABEL.get(boot, case)
        p = pr.get((boot, rw, qd, jobs, case), [])
        lo, hi = median_ci(p) if p else (float("nan"), float("nan"))
        out[(rw, qd, jobs, label)] = dict(median=med(xs), min=min(xs), max=max(xs),
                                          ratio=med(p) if p else med(xs) / med(base),
                                          lo=lo, hi=hi, paired=p,
                                          single=med(base), n=len(xs))
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
      + ", ".join(f"{k} `.config` sha256 {v['sha256']}" for k, v in meta["configs"].items())
      + (f"; their differences in {next(iter(meta['configs'].values()))['file']}"
         if meta["configs"] else "") + ".\n")
    errs = [r for r in recs if r["kind"].endswith("error")]
    if errs:
        w("**Parts that failed:**\n")
        for r in errs:
            w(f"- {r['boot']}: {r.get('error', 'guest exit ' + str(r.get('rc')))}")
        w("")

    t = iops_table(recs)
    pr = paired(recs)
    rt = ratios(t, pr)
    if t:
        alt = any(r.get("alternate") for r in recs if r["kind"] == "iops")
        w("## 1. Per-I/O overhead (IOPS)\n")
        if alt:
            w(f"fio 4k, io_uring, direct, pinned to guest CPU 0, the QEMU vCPU threads pinned "
              f"to host CPUs; one fio per workload with {meta['plan']['rounds']} rounds of "
              f"{meta['plan']['runtime']:g} s (+0.25 s ramp) per case, back to back "
              "(stonewalled jobs), the case order alternating every round (ABBA). Each "
              "round gives a paired ratio, case/single path of the same round; the table "
              "shows their median and its 95 % interval (order statistics). ours/in-tree "
              "divides the medians of two boots; its interval is a bootstrap of both sets "
              "of paired ratios, so boot-to-boot differences of the single path cancel.\n")
        else:
            w(f"fio 4k, io_uring, direct, {meta['plan']['rounds']} interleaved rounds of "
              f"{meta['plan']['runtime']:g} s (+0.5 s ramp) per case; the case order rotates "
              "each round. Each multipath case is compared with the single-path controller "
              "measured in the same boot (median of the per-round paired ratios).\n")
        w("| workload | single path (ours boot) | ours /single [95 %] | in-tree /single [95 %] "
          "| dm rr /single | dm st /single | ours /in-tree [95 %] |")
        w("|---|---|---|---|---|---|---|")
        wls = sorted({(k[0], k[1], k[2]) for k in rt}, key=lambda x: (x[0], x[1], x[2]))
        verdicts = []
        for rw, qd, jobs in wls:
            e = lambda lab: rt.get((rw, qd, jobs, lab), {})
            single = e("ours").get("single")
            if not single:
                w(f"| {wl_name(rw, qd, jobs)} | - | | | | | |")
                continue
            ci = lambda lab: fmt_ci(e(lab).get("ratio"), e(lab).get("lo", float("nan")),
                                    e(lab).get("hi", float("nan")))
            oi = ratio_ci(e("ours").get("paired"), e("in-tree").get("paired"))
            w(f"| {wl_name(rw, qd, jobs)} | {single:.0f} | **{ci('ours')}** | {ci('in-tree')} | "
              f"{fmt_ratio(e('dm-rr').get('ratio'))} | {fmt_ratio(e('dm-st').get('ratio'))} | "
              f"**{fmt_ci(*oi)}** |")
            verdicts.append(verdict(wl_name(rw, qd, jobs), "ours/single",
                                    e("ours").get("ratio"), e("ours").get("lo"), e("ours").get("hi")))
            verdicts.append(verdict(wl_name(rw, qd, jobs), "ours/in-tree", *oi))
        gm = {}
        for lab in ("ours", "in-tree", "dm-rr", "dm-st"):
            xs = [v["ratio"] for k, v in rt.items() if k[3] == lab]
            gm[lab] = statistics.geometric_mean(xs) if xs else None
        div2 = lambda a, b: a / b if a and b else None
        w(f"| **all (geometric mean)** | | **{fmt_ratio(gm['ours'])}** | {fmt_ratio(gm['in-tree'])} | "
          f"{fmt_ratio(gm['dm-rr'])} | {fmt_ratio(gm['dm-st'])} | "
          f"**{fmt_ratio(div2(gm['ours'], gm['in-tree']))}** |")
        w("\nWhat the intervals say (an interval that holds 1.000 is no resolved "
          "difference; its half-width is the resolution reached):\n")
        for v in verdicts:
            if v:
                w(f"- {v}")
        w("")
        w("\nMedian IOPS with min-max, per boot; paired: the ratio to the single path "
          "run just before or after it in the same round (median, min-max):\n")
        w("| workload | boot | case | median | min | max | spread % | paired ratio |")
        w("|---|---|---|---|---|---|---|---|")
        for (boot, rw, qd, jobs, case), xs in sorted(t.items()):
            p = pr.get((boot, rw, qd, jobs, case))
            pcol = f"{med(p):.2f} ({min(p):.2f}-{max(p):.2f})" if p else ""
            w(f"| {wl_name(rw, qd, jobs)} | {boot} | {case} | {med(xs):.0f} | {min(xs)} | "
              f"{max(xs)} | {spread(xs):.0f} | {pcol} |")
        # the real-time boots' noise; section 1a states its own
        sp = [spread(xs) for k, xs in t.items() if len(xs) > 1 and not k[0].endswith("-ic")]
        singles = {}
        for (boot, rw, qd, jobs, case), xs in t.items():
            if case == "single" and not boot.endswith("-ic"):
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

    icount_report(rt, recs, meta, w)
    profile_report(recs, meta, w)
    fsync_report(recs, w)

    st = [r for r in recs if r["kind"] == "stall" and not r["event"].startswith("fence-")]
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

    fence_report(recs, w)

    sc = [r for r in recs if r["kind"] == "scale"]
    if sc:
        w("## 3. Scale\n")
        w("nvmet TCP target in the guest (loopback, every namespace backed by null_blk), "
          "two paths (127.0.0.1:4430, 127.0.0.2:4431), keep_alive_tmo="
          f"{sc[0]['kato']}. Heads/paths: time from the first connect until every head "
          "node (every path) exists. Failover: one path blackholed, then one 4k read on "
          "every head at once; time until the last completes. Slab: /proc/meminfo Slab "
          "after the connect minus before (both controllers, 2 path namespaces and the "
          "head per namespace); marginal = (delta(N) - delta(1)) / (N - 1). I/O errors: "
          "failed reads but those refused for want of file descriptors (EMFILE; the "
          "guest raises its limit first); every failed read's errno is listed.\n")
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
              f"{r['failover_median_s']} | {r['errors']} ({r['completed']}/{r['heads']} done"
              f"{errno_note(r.get('errnos'))}) | "
              f"{r['slab_kib_per_ns']} | {marg} | {r['disconnect_s']} |")
        w("")
        hs = {}
        for r in sc:
            hs.setdefault((r["namespaces"], r["kernel"]), []).append(r["heads_s"])
        for n in sorted({k[0] for k in hs}):
            o, t = hs.get((n, "ours")), hs.get((n, "in-tree"))
            if not o or not t:
                continue
            mo, mt = statistics.median(o), statistics.median(t)
            w(f"Heads for {n} namespaces: median {mo:.2f} s ours ({len(o)} runs, "
              f"{min(o):.2f}..{max(o):.2f}) vs {mt:.2f} s in-tree ({len(t)} runs, "
              f"{min(t):.2f}..{max(t):.2f}): ratio {mo / mt:.2f}.\n")
    policy_report(recs, meta, outdir, stem, w)
    with open(os.path.join(outdir, f"{stem}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return rt


def icount_rows(rt):
    """[(workload, ours-ic entry, in-tree-ic entry, ours/in-tree (x, lo, hi),
    direct-ic entry)]"""
    rows = []
    for rw, qd, jobs in sorted({k[:3] for k in rt if k[3] == "ours-ic"}):
        o, t = rt.get((rw, qd, jobs, "ours-ic"), {}), rt.get((rw, qd, jobs, "in-tree-ic"), {})
        d = rt.get((rw, qd, jobs, "direct-ic"), {})
        rows.append((wl_name(rw, qd, jobs), o, t, ratio_ci(o.get("paired"), t.get("paired")), d))
    return rows


def icount_report(rt, recs, meta, w):
    rows = icount_rows(rt)
    if not rows:
        return
    shift = meta["plan"].get("icount", ICOUNT)
    w("## 1a. Per-I/O overhead at QD32, instruction-counted\n")
    w(f"The QD32 workloads again, in two more boots (ours, in-tree) under QEMU "
      f"`-icount shift={shift},sleep=off`: the guest's clock advances "
      f"{2 ** int(shift)} ns per emulated instruction, so a host that runs the guest "
      "slower or faster does not change the guest's IOPS, and a round repeats to a few "
      "tenths of a percent where the table above varies by tens. What is measured is "
      "guest work: the head's extra instructions per I/O. The device's own latency is "
      "not (an idle guest's clock jumps to its next timer), which is why QD1, where the "
      "guest waits for every I/O, is measured in real time only. Paired ratios, medians "
      "and intervals as above; ours/in-tree compares two deterministic boots. The last "
      "column opens the head's path device itself, with no head (the base kernel, "
      "nvme_core.multipath=N): what of a head's ratio is its device's, not its own.\n")
    w("| workload | single path IOPS (ours boot) | ours /single [95 %] "
      "| in-tree /single [95 %] | ours /in-tree [95 %] | paired ratios, ours (min-max) "
      "| path device, no head /single [95 %] |")
    w("|---|---|---|---|---|---|---|")
    verdicts = []
    for name, o, t, oi, d in rows:
        ci = lambda e: fmt_ci(e.get("ratio"), e.get("lo", float("nan")), e.get("hi", float("nan")))
        p = o.get("paired") or [float("nan")]
        w(f"| {name} | {o.get('single', float('nan')):.0f} | **{ci(o)}** | {ci(t)} | "
          f"**{fmt_ci(*oi)}** | {min(p):.3f}-{max(p):.3f} ({len(p)}) | {ci(d)} |")
        verdicts.append(verdict(name, "ours/single", o.get("ratio"), o.get("lo"), o.get("hi")))
        verdicts.append(verdict(name, "in-tree/single", t.get("ratio"), t.get("lo"), t.get("hi")))
        verdicts.append(verdict(name, "ours/in-tree", *oi))
    w("")
    for v in verdicts:
        if v:
            w(f"- {v}")
    tmo = [r for r in recs if r["kind"] == "io-timeouts"]
    for r in tmo:
        w(f"- {r['boot']}: the guest's driver timed out {r['count']} commands (a round "
          "that waited for them is an outlier among the paired ratios)")
    w("")


IDLE = re.compile(r"safe_halt|default_idle|cpu_idle|mwait|poll_idle|acpi_idle|do_idle")


def profile_report(recs, meta, w):
    """Side by side: CPU time per I/O of each kernel symbol, single path and
    head, from perf record -e cpu-clock -a in the same boot."""
    pf = [r for r in recs if r["kind"] == "profile"]
    if not pf:
        return
    w("## 1b. Where the time goes (perf)\n")
    ic = meta["plan"].get("icount", "off") != "off"
    w("`perf record -e cpu-clock -C 0` (a software event: it works under TCG) over fio, "
      "pinned to guest CPU 0, on the single path and on the head, alternating, in one "
      "boot of our kernel; CPU 0's time per completed I/O, by symbol (median over the "
      "rounds). "
      + (f"The boot runs under `-icount shift={meta['plan']['icount']}` as in section 1a, "
         "so time is instructions and the samples fall in proportion to them: "
         "the differences are the head's own work and what it makes the paths do.\n"
         if ic else "Under TCG every emulated instruction counts, so the differences are "
         "the head's own work and what it makes the paths do.\n"))
    for rw, qd in sorted({(r["rw"], r["qd"]) for r in pf}):
        runs = {"single": [], "mp": []}
        for r in pf:
            if (r["rw"], r["qd"]) == (rw, qd) and r["ios"] and r["case"] in runs:
                runs[r["case"]].append(r)
        if not runs["single"] or not runs["mp"]:
            continue
        # us of CPU per I/O of one symbol (0 where it fell under the cut)
        us = lambda r, n: n * 1e6 / r["freq"] / r["ios"]
        get = lambda case, sym: med([us(r, r["top"].get(sym, 0)) for r in runs[case]])
        busy = lambda r: r["samples"] - sum(n for k, n in r["top"].items() if IDLE.search(k))
        tot = lambda case: med([us(r, busy(r)) for r in runs[case]])
        iops = lambda case: med([r["iops"] for r in runs[case]])
        syms = {k for case in runs for r in runs[case] for k in r["top"] if not IDLE.search(k)}
        rows = sorted(syms, key=lambda x: -abs(get("mp", x) - get("single", x)))[:20]
        w(f"### {wl_name(rw, qd, 1)}: IOPS single {iops('single'):.0f}, head {iops('mp'):.0f}; "
          f"busy CPU us per I/O (idle loop left out) single {tot('single'):.1f}, "
          f"head {tot('mp'):.1f} "
          f"({len(runs['mp'])} rounds)\n")
        w("| symbol | single us/IO | head us/IO | head - single |")
        w("|---|---|---|---|")
        for sym in rows:
            a, b = get("single", sym), get("mp", sym)
            w(f"| `{sym}` | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
        w("")


def fence_report(recs, w):
    """2b: the stall of a lost controller's writes, per way its fence ends."""
    fe = [r for r in recs if r["kind"] == "stall" and r["event"].startswith("fence-")
          and r.get("max_gap_ms") is not None]
    if not fe:
        return
    gaps, errs = {}, {}
    for r in fe:
        k = (r["event"], r["kernel"])
        gaps.setdefault(k, []).append(r["max_gap_ms"])
        errs[k] = errs.get(k, 0) + (r["errors"] or 0)
    w("## 2b. Stall of a lost controller's writes\n")
    w("fio QD16 over nvmet TCP (two paths, null_blk), the port of the active path "
      "blackholed 4 s into each run; keep_alive_tmo 2 s, the target's CQT 2000 ms. "
      "A write the lost controller had is held until its fence ends: by a "
      "Cross-Controller Reset through the other controller (ccr), or by the "
      "time-based wait, 3 x KATO + CQT = 8 s (time); immediate resends at once "
      "(failover_writes=immediate: unsafe, 6.12's way). Longest gap: the longest "
      "time without any completion in a run; it includes the keep-alive's "
      "detection of the loss, which varies by about a KATO from run to run. "
      "Rounds interleave the events; median and range over the rounds.\n")
    w("| event | kernel | runs | I/O errors | longest gap, median (ms) | range (ms) |")
    w("|---|---|---|---|---|---|")
    order = ["fence-ccr-w", "fence-time-w", "fence-immediate-w", "fence-time-r",
             "fence-immediate-r"]
    key = {e: i for i, e in enumerate(order)}
    med = {k: statistics.median(v) for k, v in gaps.items()}
    for k in sorted(gaps, key=lambda k: (key.get(k[0], 99), k[1] != "ours")):
        v = gaps[k]
        w(f"| {k[0]} | {k[1]} | {len(v)} | {errs[k]} | {med[k]:.0f} | "
          f"{min(v)}..{max(v)} |")
    ccr, imm = med.get(("fence-ccr-w", "ours")), med.get(("fence-immediate-w", "ours"))
    if ccr is not None and imm is not None:
        band = max(gaps[("fence-immediate-w", "ours")]) - min(gaps[("fence-immediate-w", "ours")])
        w(f"\nWrites, ours: with a reset the median stall is {ccr - imm:+.0f} ms from "
          f"the unsafe resend-at-once ({ccr:.0f} vs {imm:.0f} ms; the resend-at-once "
          f"runs alone spread over {band} ms).")
    tin = med.get(("fence-immediate-w", "in-tree"))
    if ccr is not None and tin is not None:
        w(f"6.12's resend-at-once: {tin:.0f} ms.")
    rt, ri = med.get(("fence-time-r", "ours")), med.get(("fence-immediate-r", "ours"))
    if rt is not None and ri is not None:
        w(f"Reads, ours: {rt:.0f} ms with the time-based fence vs {ri:.0f} ms resending "
          "at once: reads are not held.")
    w("")


def fsync_report(recs, w):
    """fsync() latency, the head against a single path in the same boot
    (paired rounds), and the two kernels' ratios against each other."""
    rs = [r for r in recs if r["kind"] == "fsync"]
    if not rs:
        return
    by = {}
    for r in rs:
        by[(r["kernel"], r["wl"], r["round"], r["case"])] = r["fsync_p50_us"]
    pairs, lat = {}, {}
    for (k, wl, rnd, case), v in by.items():
        lat.setdefault((k, wl, case), []).append(v)
        s = by.get((k, wl, rnd, "single"))
        if case == "mp" and s:
            pairs.setdefault((k, wl), []).append(v / s)
    w("## fsync() latency\n")
    w("4 KiB writes, each followed by fsync(), one job at a time, head and "
      "single-path controller alternating (file-backed QEMU controllers, "
      "volatile write cache on). `raw`: buffered writes to the block device, "
      "fsync() writes the page back, then sends an empty PREFLUSH. `ext4`: a file on ext4 (data=ordered), "
      "fsync() commits the journal, a PREFLUSH|FUA write with data. "
      "Latency: the median per round of fio's fsync latency (p50); ratio: "
      "head / single path of the same round, its median with a 95 % interval; "
      "ours/in-tree: the two ratios against each other (bootstrap 95 %).\n")
    w("| workload | kernel | single p50 µs | head p50 µs | head/single | 95 % |")
    w("|---|---|---|---|---|---|")
    wls = sorted({r["wl"] for r in rs}, key=lambda x: x != "raw")
    for wl in wls:
        for k in ("ours", "in-tree"):
            p = pairs.get((k, wl), [])
            if not p:
                continue
            lo, hi = median_ci(p)
            w(f"| {wl} | {k} | {med(lat[(k, wl, 'single')]):.0f} | "
              f"{med(lat[(k, wl, 'mp')]):.0f} | {med(p):.3f} | {lo:.3f}..{hi:.3f} |")
    w("")
    for wl in wls:
        v = verdict(f"{wl} fsync", "ours/in-tree head/single",
                    *ratio_ci(pairs.get(("ours", wl), []), pairs.get(("in-tree", wl), [])))
        if v:
            w(f"- {v.replace('slower', 'lower').replace('faster', 'higher')}")
    w("")


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


# ---------------------------------------------------------------------------
# policy part: report, plot, CSV

POLICY_ORDER = ["fast-alone", "numa", "first", "round-robin", "queue-depth", "latency"]
POLICY_LABEL = {"fast-alone": "fast path alone"}


def pol_sorted(names):
    return sorted(names, key=lambda n: (POLICY_ORDER.index(n) if n in POLICY_ORDER else 99, n))


def pol_group(recs, kind, fields, **match):
    """{(kernel, case): {field: [values over rounds]}}"""
    out = {}
    for r in recs:
        if r["kind"] != kind or any(r.get(k) != v for k, v in match.items()):
            continue
        d = out.setdefault((r["kernel"], r["case"]), {f: [] for f in fields})
        for f in fields:
            if r.get(f) is not None:
                d[f].append(r[f])
    return out


def fmt_ms(us):
    if us is None or us != us:
        return "-"
    return f"{us / 1000:.1f}" if us >= 10000 else f"{us / 1000:.2f}"


def fmt_rng(xs, f=lambda x: f"{x:.0f}"):
    if not xs:
        return "-"
    return f"{f(med(xs))} ({f(min(xs))}..{f(max(xs))})"


def policy_report(recs, meta, outdir, stem, w):
    info = {r["kernel"]: r for r in recs if r["kind"] == "policy-info"}
    if not info and not any(r["kind"].startswith("policy-") for r in recs):
        return
    kernels = ("ours", "in-tree")
    pl = meta["plan"].get("policy", {})
    w("## 4. I/O policies\n")
    any_info = next(iter(info.values()), {})
    w("nvmet TCP target in the guest on loopback: one namespace on null_blk "
      f"({any_info.get('backing', '/dev/nullb0')}; reads complete without touching data), "
      "in a subsystem exposed on two ports, 127.0.0.1:4420 and 127.0.0.2:4421; the host "
      "connects both (one controller per port, default queues and keep-alive). The slow "
      "path is the one the `numa` policy uses (the path a static policy keeps); its port "
      "gets a `tc netem delay` through a prio qdisc on `lo` and a u32 filter on the "
      "**destination** port: the delay applies **one way**, host to target (commands, and "
      "the host's TCP ACKs), not to the target's replies, so each I/O on the slow path takes "
      "the delay once more. **Fast path alone**: a second nvmet subsystem with a namespace "
      "on the same null_blk device, exposed only on the fast port, so its head has that "
      "one path; measured in the same boot, in every round, under the same qdisc.\n")
    for k in kernels:
        i = info.get(k)
        if i:
            ports = ", ".join(f"`{p}` (port {i['port_of'][p]})" for p in i["paths"])
            w(f"- {k}: head `{i['head']}`, paths {ports}; "
              f"slow path `{i['slow_path']}` (port {i['slow_port']}); fast path alone: head "
              f"`{i['fast_head']}`; policies accepted: {', '.join(i['accepted']) or 'none'}; "
              f"refused by the kernel (skipped): {', '.join(i['refused']) or 'none'}.")
    w("")
    if any_info.get("cmd"):
        w(f"fio (DEV, QD, JOBS filled in; QD32 with 2 jobs for the unequal paths): "
          f"`{any_info['cmd']}`; {any_info.get('rounds', pl.get('rounds', '?'))} interleaved "
          "rounds per kernel, the case order "
          "rotating every round; medians over the rounds with (min..max), which is the noise "
          "band: differences inside it are not differences. Latencies are fio completion "
          "latency (clat) percentiles, in ms.\n")
    fields = ["iops", "clat_p50_us", "clat_p99_us", "clat_p999_us", "slow_share", "lat_mean_us"]
    delays = sorted({r["delay_ms"] for r in recs if r["kind"] == "policy-unequal"})
    spreads = []
    for ms in delays:
        g = pol_group(recs, "policy-unequal", fields, delay_ms=ms)
        w(f"### Unequal paths: {ms} ms on one path\n")
        w("| policy | ours: IOPS | ours: p50 / p99 / p99.9 ms | ours x fast alone: IOPS, p50, p99, p99.9 "
          "| ours: reads on slow path | in-tree: IOPS | in-tree: p50 / p99 / p99.9 ms "
          "| in-tree x fast alone: IOPS, p50, p99, p99.9 | in-tree: reads on slow path |")
        w("|---|---|---|---|---|---|---|---|---|")
        for case in pol_sorted({c for _, c in g}):
            cells = []
            for k in kernels:
                d = g.get((k, case))
                if not d or not d["iops"]:
                    refused = case in info.get(k, {}).get("refused", [])
                    cells += ["refused" if refused else "-", "", "", ""]
                    continue
                fa = g.get((k, "fast-alone"))
                rat = []
                for f in ("iops", "clat_p50_us", "clat_p99_us", "clat_p999_us"):
                    b = med(fa[f]) if fa and fa[f] else None
                    rat.append(f"{med(d[f]) / b:.2f}" if b and d[f] else "-")
                lat = (f"{fmt_ms(med(d['clat_p50_us']))} / "
                       f"{fmt_rng(d['clat_p99_us'], fmt_ms)} / {fmt_ms(med(d['clat_p999_us']))}")
                share = f"{med(d['slow_share']) * 100:.0f} %" if d["slow_share"] else "-"
                cells += [fmt_rng(d["iops"]), lat, ", ".join(rat), share]
                for f in ("iops", "clat_p99_us"):
                    if len(d[f]) > 1:
                        spreads.append((f, spread(d[f])))
            w(f"| {POLICY_LABEL.get(case, case)} | " + " | ".join(cells) + " |")
        pk = {r["kernel"]: r["pkts"] for r in recs if r["kind"] == "policy-netem" and r["delay_ms"] == ms}
        w("\nPackets through netem: " + ", ".join(f"{k} {v}" for k, v in pk.items()) + ".\n"
          if pk else "")
    if spreads:
        si = [x for f, x in spreads if f == "iops"]
        sp = [x for f, x in spreads if f == "clat_p99_us"]
        w(f"Noise: the spread (max-min over median) of one case over the rounds was "
          f"{min(si):.0f}-{max(si):.0f} % (median {med(si):.0f} %) for IOPS and "
          f"{min(sp):.0f}-{max(sp):.0f} % (median {med(sp):.0f} %) for p99.\n")
    if os.path.exists(os.path.join(outdir, f"{stem}-policy.png")):
        w(f"![IOPS and p99 per policy, 30 ms on one path]({stem}-policy.png)\n")

    eq = [r for r in recs if r["kind"] == "policy-equal"]
    if eq:
        g1 = pol_group(recs, "policy-equal", fields, qd=1)
        g32 = pol_group(recs, "policy-equal", fields, qd=32)
        ref = {k: info.get(k, {}).get("ref", "numa") for k in kernels}
        w("### Equal paths (no delay)\n")
        w("IOPS of QD32 (2 jobs) against round-robin; mean latency (fio lat, submission to "
          "completion) at QD1 (1 job) and QD32 (2 jobs), and its difference from the reference "
          "policy: " + "; ".join(f"{k}: `{ref[k]}`" for k in kernels if k in info)
          + (" (6.12 has no `first`: `numa`, which also always takes the same path, stands in)"
             if info.get("in-tree", {}).get("ref") == "numa" else "")
          + ". Mean latency, not clat: at QD1 an io_uring submission over loopback TCP "
          "mostly completes the I/O before it returns, so fio counts most of the time as "
          "submission latency (slat) and clat is a few us.\n")
        w("| policy | ours: QD32 IOPS | ours: /rr | ours: QD1 mean us (diff vs ref) "
          "| ours: QD32 mean us (diff vs ref) | in-tree: QD32 IOPS | in-tree: /rr "
          "| in-tree: QD1 mean us (diff vs ref) | in-tree: QD32 mean us (diff vs ref) |")
        w("|---|---|---|---|---|---|---|---|---|")
        for case in pol_sorted({c for _, c in list(g1) + list(g32)}):
            cells = []
            for k in kernels:
                d32, d1 = g32.get((k, case)), g1.get((k, case))
                if not d32 and not d1:
                    refused = case in info.get(k, {}).get("refused", [])
                    cells += ["refused" if refused else "-", "", "", ""]
                    continue
                rr = g32.get((k, "round-robin"))
                ratio = (f"{med(d32['iops']) / med(rr['iops']):.2f}"
                         if d32 and rr and rr["iops"] and d32["iops"] else "-")
                lats = []
                for g, d in ((g1, d1), (g32, d32)):
                    rf = g.get((k, ref[k]))
                    if not d or not d["lat_mean_us"]:
                        lats.append("-")
                        continue
                    diff = (f"{med(d['lat_mean_us']) - med(rf['lat_mean_us']):+.0f}"
                            if rf and rf["lat_mean_us"] else "-")
                    lats.append(f"{fmt_rng(d['lat_mean_us'])} ({'ref' if case == ref[k] else diff})")
                cells += [fmt_rng(d32["iops"]) if d32 else "-", ratio] + lats
            w(f"| {case} | " + " | ".join(cells) + " |")
        w("")

    dg = [r for r in recs if r["kind"] == "policy-degrade"]
    if dg:
        r0 = dg[0]
        w("### Degrading path\n")
        w(f"fio randread QD16 (1 job) on equal paths; {any_info.get('pre', pl.get('pre', '?'))} s in, "
          f"{r0['delay_ms']} ms of netem delay (one way, as above) is added on the path that "
          "carried most reads until then (per-path `/sys/block/<path>/stat` read counters); "
          "the counters are sampled every 100 ms and interpolated on a 100 ms grid starting "
          "when the delay is in place (the end of the `tc filter add`, sent to a `tc -batch` "
          "started beforehand). Time to < 10 %: from the delay to the end of the first 100 ms "
          "interval in which the delayed path completed less than 10 % of the reads (intervals "
          "with fewer than 5 reads in all do not count; the resolution is 100 ms: \"100 ms\" "
          "is within the first interval); sustained: to the end of the first "
          "interval from which it stays "
          f"below 10 % to the end of the run ({any_info.get('post', pl.get('post', '?'))} s after the delay, at "
          "least 1 s); \"never\": not within the run. Share before: over the reads from "
          "the start to the delay (what chose the path); IOPS before: the last second before "
          "the delay; after: median of the 100 ms intervals after it. One run per policy.\n")
        w("| policy | ours: delayed path's share before -> last 1 s | ours: time to < 10 % "
          "(sustained) | ours: IOPS before -> after | in-tree: delayed path's share before "
          "-> last 1 s | in-tree: time to < 10 % (sustained) | in-tree: IOPS before -> after |")
        w("|---|---|---|---|---|---|---|")
        by = {(r["kernel"], r["policy"]): r for r in dg}
        pct = lambda x: "-" if x is None else f"{x * 100:.0f} %"
        tms = lambda x: "never" if x is None else f"{x} ms"
        for pol in pol_sorted({p for _, p in by}):
            cells = []
            for k in kernels:
                r = by.get((k, pol))
                if not r:
                    refused = pol in info.get(k, {}).get("refused", [])
                    cells += ["refused" if refused else "-", "", ""]
                    continue
                cells += [f"{pct(r['share_before'])} -> {pct(r['share_last_s'])}",
                          f"{tms(r['below10_ms'])} ({tms(r['sustained10_ms'])})",
                          f"{r['iops_before']} -> {r['iops_after']}"]
            w(f"| {pol} | " + " | ".join(cells) + " |")
        w(f"\nfio: `{info.get('ours', any_info).get('degrade_cmd', '')}`\n")


def plot_policy(recs, outdir, stem):
    """IOPS and p99 per policy at the largest delay (30 ms), ours against
    in-tree, bars at the median with min..max error bars."""
    un = [r for r in recs if r["kind"] == "policy-unequal"]
    if not un:
        return None
    ms = 30 if any(r["delay_ms"] == 30 for r in un) else max(r["delay_ms"] for r in un)
    g = pol_group(recs, "policy-unequal", ["iops", "clat_p99_us"], delay_ms=ms)
    cases = pol_sorted({c for _, c in g})
    tmp = os.path.join(BUILD, "bench", "plot")
    os.makedirs(tmp, exist_ok=True)
    dat = os.path.join(tmp, f"policy-{ms}.dat")
    with open(dat, "w") as f:
        for c in cases:
            row = ["fast alone" if c == "fast-alone" else c]
            for field, scale in (("iops", 1), ("clat_p99_us", 1000)):
                for k in ("ours", "in-tree"):
                    xs = g.get((k, c), {}).get(field)
                    row += ([f"{med(xs) / scale:.3f}", f"{min(xs) / scale:.3f}",
                             f"{max(xs) / scale:.3f}"] if xs else ["NaN"] * 3)
            f.write(" ".join(f'"{x}"' if i == 0 else x for i, x in enumerate(row)) + "\n")
    script = ["set terminal pngcairo size 1200,440 font 'sans,10'",
              f"set output '{os.path.join(outdir, stem + '-policy.png')}'",
              "set multiplot layout 1,2",
              "set style data histograms", "set style histogram errorbars gap 1 lw 1",
              "set style fill solid 0.6 border -1", "set grid ytics", "set key below",
              "set yrange [0:*]", "set xtics nomirror", "set bmargin 3",
              f"set title 'IOPS, {ms} ms on one path (median, min..max)'",
              "set ylabel 'IOPS (fio 4k randread QD32 x 2 jobs)'",
              f"plot '{dat}' using 2:3:4:xtic(1) title 'ours', '' using 5:6:7 title 'in-tree'",
              f"set title 'p99 completion latency, {ms} ms on one path'",
              "set ylabel 'p99 clat (ms)'",
              f"plot '{dat}' using 8:9:10:xtic(1) title 'ours', '' using 11:12:13 title 'in-tree'",
              "unset multiplot"]
    p = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
    if p.returncode:
        log(f"gnuplot (policy) failed: {p.stderr.strip()[:300]}")
        return None
    return f"{stem}-policy.png"


def write_policy_csv(recs, path):
    rows = [r for r in recs if r["kind"] in ("policy-unequal", "policy-equal", "policy-degrade")]
    if not rows:
        return
    cols = ["part", "boot", "kernel", "case", "delay_ms", "qd", "jobs", "round", "iops",
            "clat_p50_us", "clat_p99_us", "clat_p999_us", "lat_mean_us", "slow_share",
            "errors", "delayed_path", "share_before", "share_last_s", "below10_ms",
            "sustained10_ms", "iops_before", "iops_after"]
    with open(path, "w", newline="") as f:
        cw = csv.DictWriter(f, cols, extrasaction="ignore")
        cw.writeheader()
        for r in rows:
            r = dict(r, part=r["kind"])
            if r["kind"] == "policy-degrade":
                r["case"] = r["policy"]
            elif r["kind"] == "policy-unequal":
                r.update(qd=32, jobs=2)
            cw.writerow(r)


def update_readme(outdir, stem, rt, recs):
    """Write the headline tables of this run to bench/results/LATEST.md
    (linked from the README, which keeps the how-to only)."""
    latest = os.path.join(outdir, "LATEST.md")
    rel = "."
    out = ["# Latest `make bench` headline (generated by bench/bench.py)", "",
           f"Latest run: [{stem}.md]({stem}.md)"
           f"{' (QUICK=1)' if QUICK else ''}. IOPS of the multipath node over the "
           "single-path controller of the same boot, median of the paired per-round "
           "ratios with its 95 % interval (1.000 = no overhead):", "",
           "| workload | ours /single | in-tree /single | ours /in-tree | dm-st /single "
           "| dm-rr /single |",
           "|---|---|---|---|---|---|"]
    for rw, qd, jobs in sorted({(k[0], k[1], k[2]) for k in rt}):
        e = lambda lab: rt.get((rw, qd, jobs, lab), {})
        ci = lambda lab: fmt_ci(e(lab).get("ratio"), e(lab).get("lo", float("nan")),
                                e(lab).get("hi", float("nan")))
        oi = fmt_ci(*ratio_ci(e("ours").get("paired"), e("in-tree").get("paired")))
        out.append(f"| {wl_name(rw, qd, jobs)} | {ci('ours')} | {ci('in-tree')} | {oi} | "
                   f"{fmt_ratio(e('dm-st').get('ratio'))} | {fmt_ratio(e('dm-rr').get('ratio'))} |")
    gm = {lab: [v["ratio"] for k, v in rt.items() if k[3] == lab]
          for lab in ("ours", "in-tree", "dm-st", "dm-rr")}
    g = {lab: statistics.geometric_mean(x) if x else None for lab, x in gm.items()}
    oi = g["ours"] / g["in-tree"] if g["ours"] and g["in-tree"] else None
    out.append(f"| **all (geometric mean)** | {fmt_ratio(g['ours'])} | {fmt_ratio(g['in-tree'])} "
               f"| {fmt_ratio(oi)} | {fmt_ratio(g['dm-st'])} | {fmt_ratio(g['dm-rr'])} |")
    ic = icount_rows(rt)
    if ic:
        out += ["", "Instruction-counted (QEMU -icount: host load cannot reach the guest's "
                "clock; QD32 only, see the report's section 1a):", "",
                "| workload | ours /single | in-tree /single | ours /in-tree |",
                "|---|---|---|---|"]
        for name, o, t, oi, _ in ic:
            ci = lambda e: fmt_ci(e.get("ratio"), e.get("lo", float("nan")),
                                  e.get("hi", float("nan")))
            out.append(f"| {name} | {ci(o)} | {ci(t)} | {fmt_ci(*oi)} |")
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
    with open(latest, "w") as f:
        f.write("\n".join(out) + "\n")
    log(f"{os.path.relpath(latest, TOP)} written")


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
    rawdir = os.environ.get("BENCH_RAWDIR") or os.path.join(BUILD, "bench", stem)
    os.makedirs(rawdir, exist_ok=True)
    raw = os.environ.get("BENCH_REPORT")
    if raw:
        recs = [json.loads(x) for x in open(raw)]
    else:
        if os.environ.get("BENCH_NOBUILD", "0") in ("", "0"):
            build()
        else:
            log("BENCH_NOBUILD: booting the kernels as built")
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
    # a report rebuilt from records describes the plan they were run with
    ran = next((r["plan"] for r in recs if r["kind"] == "run" and "plan" in r), p)
    meta = dict(date=date, base=f"Linux {base.split('-')[0]} (Debian linux-source-6.12 {base})",
                series=series, command="make bench", plan=ran,
                elapsed_min=next((r["elapsed_min"] for r in recs if r["kind"] == "run"), 0),
                build_min=next((r["build_min"] for r in recs if r["kind"] == "run"), 0),
                host=f"{os.cpu_count()} CPUs",
                configs=kernel_configs(outdir, stem))
    if os.path.abspath(raw) != os.path.abspath(os.path.join(outdir, f"{stem}.jsonl")):
        with open(os.path.join(outdir, f"{stem}.jsonl"), "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
    plot(recs, outdir, stem)
    plot_policy(recs, outdir, stem)
    rt = report(recs, meta, outdir, stem)
    write_csv(recs, os.path.join(outdir, f"{stem}.csv"))
    write_policy_csv(recs, os.path.join(outdir, f"{stem}-policy.csv"))
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
