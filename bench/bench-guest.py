#!/usr/bin/env python3
"""Guest side of `make bench` (see bench/bench.py): runs in a guest booted
by harness/host/vm.py and prints one "@BENCH <json>" line per measurement.

  bench-guest.py iops  --cases single,mp[,dm-rr,dm-st] --workloads ... --rounds N
  bench-guest.py stall --events unplug,reset,tcp-kato5,tcp-kato1
  bench-guest.py scale --counts 1,64,512,1024
  bench-guest.py policy --policies numa,round-robin,queue-depth,latency --ref first
  bench-guest.py fsync --rounds N --runtime S

The same script serves our kernel (heads /dev/nvm-subXnY) and the unmodified
base (6.12's heads /dev/nvmeXnY under nvme-subsysX); with
nvme_core.multipath=N it builds dm-multipath tables over the two
per-controller nodes.
"""

import argparse
import bisect
import errno
import glob
import json
import mmap
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

SINGLE_SERIAL = "single0serial"
MPATH_SERIAL = "mpath0serial"
NVMET = "/sys/kernel/config/nvmet"
HOSTCTL = os.environ.get("NVME_MPATH_HOSTCTL")
LIB = os.environ.get("NVME_MPATH_LIB")


def emit(kind, **kw):
    print("@BENCH " + json.dumps(dict(kind=kind, **kw)), flush=True)


def say(msg):
    print(f"# {msg}", flush=True)


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def write(path, val):
    with open(path, "w") as f:
        f.write(str(val))


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{cmd}: rc {r.returncode}: {r.stderr.strip()}")
    return r.stdout.strip()


def lib(*args, check=True):
    """Run one function of the guest library (the selftests' lib.sh, which
    vm.py names in NVME_MPATH_LIB): its recipes for nvmet targets,
    connecting, netem and finding heads and paths are the harness's only
    ones.  Returns the function's output."""
    if not LIB:
        raise RuntimeError("not under harness/host/vm.py (no NVME_MPATH_LIB)")
    args = [str(x) for x in args]
    r = subprocess.run(["bash", "-c", '. "$0" >/dev/null || exit 99; "$@"', LIB] + args,
                       capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"lib.sh {' '.join(args)}: rc {r.returncode}: {r.stderr.strip()}")
    return r.stdout.strip()


def wait_for(pred, timeout, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


# ---------------------------------------------------------------------------
# Topology: works on both kernels.

def disk_parent(disk):
    return os.path.basename(os.path.realpath(f"/sys/block/{disk}/device"))


def is_head(disk):
    # ours: nvm-subXnY; 6.12: nvmeXnY whose device is the subsystem
    return disk.startswith("nvm-sub") or disk_parent(disk).startswith("nvme-subsys")


def heads():
    return lib("mp_heads").split()


def head_paths(h):
    return lib("head_paths", h).split()


def ctrl_serial(ctrl):
    return read(f"/sys/class/nvme/{ctrl}/serial")


def visible_disks(serial, nsid="1"):
    """Visible per-controller nodes of controllers with this serial."""
    out = []
    for d in sorted(os.listdir("/sys/block")):
        if not re.fullmatch(r"nvme\d+n\d+", d) or is_head(d):
            continue
        if ctrl_serial(disk_parent(d)) == serial and read(f"/sys/block/{d}/nsid") == nsid \
                and os.path.exists(f"/dev/{d}"):
            out.append(d)
    return out


def mp_head(nqn_part=None, nsid="1"):
    pat = f"*{nqn_part}*" if nqn_part else "*"
    return lib("head_of_nqn", pat, nsid, check=False) or None


def path_ios(disk):
    f = read(f"/sys/block/{disk}/stat", "0 0 0 0 0").split()
    return int(f[0]) + int(f[4])


def active_path(h):
    return lib("active_path", h, check=False) or None


def pcie_id(ctrl):
    """The id hostctl takes of a PCIe controller, from the topology the
    launcher publishes."""
    return lib("pcie_id", ctrl, check=False) or None


def hostctl(*args):
    if not HOSTCTL:
        raise RuntimeError("not under harness/host/vm.py (no NVME_MPATH_HOSTCTL)")
    return sh(" ".join([HOSTCTL] + list(args)))


def kernel_info():
    return dict(release=os.uname().release, version=os.uname().version,
                cmdline=read("/proc/cmdline"),
                multipath=read("/sys/module/nvme_core/parameters/multipath", "n/a"))


# ---------------------------------------------------------------------------
# fio

def fio_cmd(dev, rw, qd, jobs, runtime, ramp, extra=()):
    return ["fio", "--name=bench", f"--filename=/dev/{dev}", "--ioengine=io_uring",
            "--direct=1", f"--rw={rw}", "--bs=4k", f"--iodepth={qd}",
            f"--numjobs={jobs}", "--group_reporting", "--time_based",
            f"--runtime={int(runtime * 1000)}ms", f"--ramp_time={int(ramp * 1000)}ms",
            "--size=1G",
            "--norandommap", "--randrepeat=0", "--output-format=json"] + list(extra)


def fio_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    try:
        j = json.loads(r.stdout[r.stdout.index("{"):])
    except (ValueError, json.JSONDecodeError):
        raise RuntimeError(f"fio rc {r.returncode}: {r.stderr.strip()[:300]}")
    return r.returncode, j


# ---------------------------------------------------------------------------
# Part 1: per-I/O overhead

def dm_setup(paths):
    """dm-multipath maps over the per-controller nodes, two selectors."""
    size = sh(f"blockdev --getsz /dev/{paths[0]}")
    tables = {
        "dm-rr": f"0 {size} multipath 0 0 1 1 round-robin 0 {len(paths)} 1 "
                 + " ".join(f"/dev/{p} 1" for p in paths),
        "dm-st": f"0 {size} multipath 0 0 1 1 service-time 0 {len(paths)} 2 "
                 + " ".join(f"/dev/{p} 1 1" for p in paths),
    }
    devs = {}
    for name, table in tables.items():
        sh(f"dmsetup create --noudevsync bench-{name} --table '{table}'")
        sh("dmsetup mknodes")
        minor = sh(f"dmsetup info -c --noheadings -o minor bench-{name}")
        devs[name] = f"dm-{minor.strip()}"
        emit("dm-table", case=name, table=table, dev=devs[name],
             status=sh(f"dmsetup status bench-{name}"))
    return devs


def cmd_iops(a):
    cases = a.cases.split(",")
    devs = {}
    single = visible_disks(SINGLE_SERIAL)
    if "single" in cases:
        if not single:
            raise SystemExit("no single-path controller (topology pcie-dual+single?)")
        devs["single"] = single[0]
    if "mp" in cases:
        wait_for(lambda: mp_head(), 30)
        h = mp_head()
        if not h:
            raise SystemExit("no multipath head")
        wait_for(lambda: len(head_paths(h)) >= 2, 30)
        devs["mp"] = h
        emit("topology", head=h, paths=head_paths(h))
    if "direct" in cases:
        # a path of the multipath subsystem opened as a plain disk
        # (multipath off): the head's emulated device without a head
        paths = visible_disks(MPATH_SERIAL)
        if not paths:
            raise SystemExit("no plain node of the multipath subsystem (multipath on?)")
        devs["direct"] = paths[0]
    if any(c.startswith("dm-") for c in cases):
        paths = visible_disks(MPATH_SERIAL)
        if len(paths) != 2:
            raise SystemExit(f"dm-multipath needs 2 visible paths, found {paths}")
        devs.update(dm_setup(paths))
    emit("info", kernel=kernel_info(), devs=devs,
         fio=sh("fio --version"), cmd=" ".join(fio_cmd("DEV", "RW", "QD", "JOBS",
                                                        a.runtime, a.ramp)))
    wls = [w.split(":") for w in a.workloads.split(",")]
    if a.alternate:
        for rw, qd, jobs in wls:
            iops_alternating(a, devs, cases, rw, qd, jobs)
        wls = []
    for rnd in range(a.rounds):
        for rw, qd, jobs in wls:
            # rotate the case order every round: no case always runs first
            k = rnd % len(cases)
            for case in cases[k:] + cases[:k]:
                rc, j = fio_json(fio_cmd(devs[case], rw, qd, jobs, a.runtime, a.ramp))
                job = j["jobs"][0]
                d = job["read" if "read" in rw else "write"]
                emit("iops", case=case, dev=devs[case], rw=rw, qd=int(qd), jobs=int(jobs),
                     round=rnd, iops=round(d["iops"]), lat_mean_us=round(d["lat_ns"]["mean"] / 1000, 1),
                     errors=job.get("total_err", 0), rc=rc)
    for name in devs:
        if name.startswith("dm-"):
            sh(f"dmsetup remove --noudevsync bench-{name}", check=False)


def iops_alternating(a, devs, cases, rw, qd, jobs):
    """One fio process per workload: a stonewalled job per case and round,
    the case order rotating every round (ABBA for two cases), so that a case
    and its reference run back to back, with no fio start-up between them
    and the same drift on both sides of every pair."""
    order = []
    for rnd in range(a.rounds):
        k = rnd % len(cases)
        order += [(rnd, c) for c in cases[k:] + cases[:k]]
    cmd = fio_cmd(devs[order[0][1]], rw, qd, jobs, a.runtime, a.ramp)
    cmd = [x for x in cmd if not x.startswith(("--name=", "--filename="))]
    if a.cpus:
        cmd.append(f"--cpus_allowed={a.cpus}")
    for i, (rnd, case) in enumerate(order):
        cmd += [f"--name={case}.{rnd}", f"--filename=/dev/{devs[case]}"]
        if i:
            cmd.append("--stonewall")
    rc, j = fio_json(cmd)
    for job in j["jobs"]:
        case, rnd = job["jobname"].rsplit(".", 1)
        d = job["read" if "read" in rw else "write"]
        emit("iops", case=case, dev=devs[case], rw=rw, qd=int(qd), jobs=int(jobs),
             round=int(rnd), iops=round(d["iops"]),
             lat_mean_us=round(d["lat_ns"]["mean"] / 1000, 1),
             errors=job.get("error", 0), rc=rc, alternate=True)


# ---------------------------------------------------------------------------
# Part 1c: what a flush costs.  The head sends each PREFLUSH as an empty
# flush bio of its own before the data (so that a flush a path fails can
# move to another path); fsync() on the block device sends an empty
# PREFLUSH, and a journalling file system's commit block a PREFLUSH|FUA
# write with data, which after its flush goes out from the requeue work.

def fsync_job(name, path, raw):
    job = [f"--name={name}", f"--filename={path}", "--stonewall"]
    if not raw:
        job.append("--size=64M")
    return job


def fsync_setup_fs(devs):
    files = {}
    for case, dev in devs.items():
        mnt = f"/mnt/fsync-{case}"
        os.makedirs(mnt, exist_ok=True)
        sh(f"mkfs.ext4 -q -F /dev/{dev}")
        sh(f"mount -o data=ordered /dev/{dev} {mnt}")
        files[case] = f"{mnt}/f"
    return files


def cmd_fsync(a):
    """Per workload one fio, the cases alternating job by job (ABBA):
    raw = 4 KiB writes to the device, each followed by fsync() (the page
    written back, then an empty PREFLUSH); ext4 = 4 KiB writes to a file on ext4, each
    followed by fsync() (a jbd2 commit: data, then PREFLUSH|FUA)."""
    wait_for(lambda: mp_head(), 30)
    h = mp_head()
    single = visible_disks(SINGLE_SERIAL)
    if not h or not single:
        raise SystemExit(f"need a head and a single-path disk: {h} {single}")
    wait_for(lambda: len(head_paths(h)) >= 2, 30)
    devs = {"single": single[0], "mp": h}
    wc = {c: read(f"/sys/block/{d}/queue/write_cache") for c, d in devs.items()}
    emit("info", kernel=kernel_info(), devs=devs, write_cache=wc, fio=sh("fio --version"))
    if any(v != "write back" for v in wc.values()):
        raise SystemExit(f"no volatile write cache, flushes are not sent: {wc}")
    cases = list(devs)
    for wl in ("raw", "ext4"):
        # the file systems only after the raw writes to their devices
        paths = ({c: f"/dev/{d}" for c, d in devs.items()} if wl == "raw"
                 else fsync_setup_fs(devs))
        cmd = ["fio", "--ioengine=psync", "--rw=write", "--bs=4k", "--fsync=1",
               "--time_based", f"--runtime={int(a.runtime * 1000)}ms",
               f"--ramp_time={int(a.ramp * 1000)}ms", "--output-format=json",
               f"--cpus_allowed={a.cpus}"]
        if wl == "raw":
            # buffered: fio sends no fsync() after an O_DIRECT write
            cmd += ["--size=256M"]
        for rnd in range(a.rounds):
            k = rnd % len(cases)
            for case in cases[k:] + cases[:k]:
                cmd += fsync_job(f"{case}.{rnd}", paths[case], wl == "raw")
        rc, j = fio_json(cmd)
        if rc:
            raise SystemExit(f"fio {wl}: rc {rc}")
        for job in j["jobs"]:
            case, rnd = job["jobname"].rsplit(".", 1)
            sync = job["sync"]["lat_ns"]
            pct = sync.get("percentile", {})
            emit("fsync", case=case, dev=devs[case], wl=wl, round=int(rnd),
                 fsyncs=sync["N"], fsync_mean_us=round(sync["mean"] / 1000, 1),
                 fsync_p50_us=round(pct.get("50.000000", 0) / 1000, 1),
                 write_iops=round(job["write"]["iops"]), errors=job.get("error", 0), rc=rc)
    for case in devs:
        sh(f"umount /mnt/fsync-{case}", check=False)


# ---------------------------------------------------------------------------
# Part 1b: where the time goes (perf record -e cpu-clock, a software event
# that works under TCG), single path and head side by side

PERF_LINE = re.compile(r"^\s+([\d.]+)%\s+(\d+)\s+\[(.)\]\s+(\S.*?)\s*$")


KSYMS = None


def ksym(addr, vmlinux):
    """The kernel function holding addr, from vmlinux's symbol table: the
    test kernel has no kallsyms for perf, and the guest runs with nokaslr,
    so the sampled addresses are vmlinux's own."""
    global KSYMS
    if KSYMS is None:
        KSYMS = ([], [])
        out = subprocess.run(["nm", "-n", vmlinux], capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "tTwW":
                KSYMS[0].append(int(f[0], 16))
                KSYMS[1].append(f[2])
    i = bisect.bisect_right(KSYMS[0], addr) - 1
    return KSYMS[1][i] if i >= 0 else hex(addr)


def perf_symbols(data, vmlinux):
    """{symbol: samples} of a perf.data; raw kernel addresses are resolved
    through vmlinux and summed per function."""
    cmd = ["perf", "report", "--stdio", "-n", "--no-children", "--sort", "sym",
           "-g", "none", "-i", data]
    r = subprocess.run(cmd, capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        m = PERF_LINE.match(line)
        if not m:
            continue
        sym = m.group(4)
        if vmlinux and m.group(3) == "k" and re.fullmatch(r"0x[0-9a-f]+", sym):
            sym = ksym(int(sym, 16), vmlinux)
        key = f"[{m.group(3)}] {sym}"
        out[key] = out.get(key, 0) + int(m.group(2))
    return out


def cmd_profile(a):
    devs = {"single": visible_disks(SINGLE_SERIAL)[0]}
    wait_for(lambda: mp_head(), 30)
    devs["mp"] = mp_head()
    wait_for(lambda: len(head_paths(devs["mp"])) >= 2, 30)
    emit("info", kernel=kernel_info(), devs=devs, perf=sh("perf --version", check=False))
    for rw, qd, jobs in [w.split(":") for w in a.workloads.split(",")]:
        for rnd in range(a.rounds):
            for case in (["single", "mp"] if rnd % 2 == 0 else ["mp", "single"]):
                data = f"/tmp/perf-{case}.data"
                # the CPU fio is pinned to: the other one's helper threads
                # and ticks vary from run to run and are not the I/O path
                where = ["-C", a.cpus] if a.cpus else ["-a"]
                cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(a.freq)] + where + [
                       "-o", data, "--"] + fio_cmd(devs[case], rw, qd, jobs, a.runtime, 0)
                cmd += [f"--cpus_allowed={a.cpus}"] if a.cpus else []
                r = subprocess.run(cmd, capture_output=True, text=True)
                try:
                    j = json.loads(r.stdout[r.stdout.index("{"):])
                except ValueError:
                    raise RuntimeError(f"perf/fio rc {r.returncode}: {r.stderr[-300:]}")
                d = j["jobs"][0]["read" if "read" in rw else "write"]
                syms = perf_symbols(data, a.vmlinux)
                emit("profile", case=case, dev=devs[case], rw=rw, qd=int(qd), jobs=int(jobs),
                     round=rnd, ios=d["total_ios"], iops=round(d["iops"]), freq=a.freq,
                     runtime=a.runtime, samples=sum(syms.values()),
                     top={k: v for k, v in syms.items() if v >= 3})


# ---------------------------------------------------------------------------
# Part 2: failover stall

def lat_log_stats(path, event_ms, bin_ms=100):
    """Per-I/O log (unix ms, latency ns, ...) -> stall figures and a series."""
    times, lats = [], []
    with open(path) as f:
        for line in f:
            p = line.split(",")
            if len(p) < 2:
                continue
            times.append(int(p[0]))
            lats.append(int(p[1]))
    if not times:
        return dict(n=0)
    order = sorted(range(len(times)), key=times.__getitem__)
    ts = [times[i] for i in order]
    gap, gap_at = 0, ts[0]
    for x, y in zip(ts, ts[1:]):
        if y - x > gap:
            gap, gap_at = y - x, x
    after = [t for t in ts if t >= event_ms]
    t0 = ts[0]
    nbins = (ts[-1] - t0) // bin_ms + 1
    series = [0] * nbins
    for t in ts:
        series[(t - t0) // bin_ms] += 1
    imax = max(range(len(lats)), key=lats.__getitem__)
    return dict(n=len(ts), max_lat_ms=round(lats[imax] / 1e6, 1),
                max_lat_at_ms=times[imax] - event_ms,
                max_gap_ms=gap, max_gap_at_ms=gap_at - event_ms,
                first_after_event_ms=(after[0] - event_ms) if after else None,
                t0_ms=t0 - event_ms, bin_ms=bin_ms,
                iops_series=[c * 1000 // bin_ms for c in series])


def run_stall(name, dev, runtime, event_at, action, after=None, rw="randread"):
    """fio QD16 rw on dev; action() at event_at s; stall figures."""
    logp = f"/tmp/stall-{name}"
    for f in glob.glob(logp + "*"):
        os.remove(f)
    cmd = fio_cmd(dev, rw, 16, 1, runtime, 0,
                  ["--continue_on_error=all", f"--write_lat_log={logp}",
                   "--log_avg_msec=0", "--log_unix_epoch=1"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(event_at)
    event_ms = int(time.time() * 1000)
    detail = action()
    out, err = proc.communicate()
    rc = proc.returncode
    if after:
        after()
    try:
        j = json.loads(out[out.index("{"):])
        job = j["jobs"][0]
        errors = job.get("total_err", 0)
        ios = job["read"]["total_ios"] + job["write"]["total_ios"]
    except (ValueError, KeyError, json.JSONDecodeError):
        errors, ios = None, 0
        say(f"fio output unreadable: {err.strip()[:300]}")
    st = lat_log_stats(f"{logp}_lat.1.log", event_ms)
    emit("stall", event=name, dev=dev, fio_rc=rc, errors=errors, ios=ios,
         detail=detail, cmd=" ".join(cmd), **st)


def wait_paths(h, n, timeout=60):
    return wait_for(lambda: len(head_paths(h)) >= n and all(
        read(f"/sys/class/nvme/{disk_parent(p)}/state") == "live" for p in head_paths(h)),
        timeout)


def stall_pcie(event, runtime, event_at):
    h = mp_head(MPATH_SERIAL[:6])
    if not h or not wait_paths(h, 2):
        raise RuntimeError("no multipath head with 2 live paths")
    p = active_path(h)
    ctrl = disk_parent(p)
    if event == "reset":
        def act():
            write(f"/sys/class/nvme/{ctrl}/reset_controller", 1)
            return f"reset {ctrl} (path {p})"
        run_stall(event, h, runtime, event_at, act)
        wait_paths(h, 2)
        return
    qid = pcie_id(ctrl)

    def act():
        hostctl("unplug", qid)
        return f"hot-unplug {qid}={ctrl} (path {p})"

    def replug():
        hostctl("plug", qid)
        if not wait_paths(h, 2, 60):
            say(f"{h}: path of {qid} did not come back")
    run_stall(event, h, runtime, event_at, act, replug)


def nvmet_setup(nqn, count, ports):
    """nqn with count namespaces on /dev/nullb0, on each (id, addr, svc)."""
    lib("nvmet_target", nqn, count, "/dev/nullb0", *(f"{i}:{a}:{s}" for i, a, s in ports))


def nvmet_teardown(nqn):
    """The subsystem, and its ports that serve no other."""
    lib("nvmet_teardown", nqn)


def nvmf_connect(nqn, addr, svc, opts):
    return lib("nvmf_connect_tcp", nqn, addr, svc, opts)


def ctrls_of(nqn):
    return sorted(lib("ctrls_of_subsys", nqn).split())


def net_cut(port):
    lib("net_cut_port", port)


def net_restore():
    lib("net_restore", check=False)


def disconnect(nqn, timeout=300):
    for c in ctrls_of(nqn):
        try:
            write(f"/sys/class/nvme/{c}/delete_controller", 1)
        except OSError:
            pass
    return wait_for(lambda: not ctrls_of(nqn), timeout, 0.2)


TCP_PORTS = [(1, "127.0.0.1", "4420"), (2, "127.0.0.2", "4421")]


def connect_mp_head(nqn, ports, opts, tag):
    """Connect to nqn on every port; return its multipath head once both of
    its paths are live."""
    for _, addr, svc in ports:
        nvmf_connect(nqn, addr, svc, opts)
    wait_for(lambda: mp_head(tag), 30)
    h = mp_head(tag)
    if not h or not wait_paths(h, 2):
        raise RuntimeError("no TCP multipath head with 2 live paths")
    return h


def stall_tcp(event, kato, runtime, event_at):
    nqn = "nqn.2024-11.org.kernel:bench-stall"
    nvmet_setup(nqn, 1, TCP_PORTS)
    opts = "reconnect_delay=1,ctrl_loss_tmo=600" + (f",keep_alive_tmo={kato}" if kato else "")
    try:
        h = connect_mp_head(nqn, TCP_PORTS, opts, "bench-stall")
        p = active_path(h)
        ctrl = disk_parent(p)
        svc = re.search(r"trsvcid=(\d+)", read(f"/sys/class/nvme/{ctrl}/address")).group(1)
        kato_s = read(f"/sys/class/nvme/{ctrl}/kato", "?")

        def act():
            net_cut(svc)
            return f"blackhole port {svc} ({ctrl}, path {p}, kato {kato_s} s)"
        run_stall(event, h, runtime, event_at, act, net_restore)
    finally:
        net_restore()
        disconnect(nqn)
        nvmet_teardown(nqn)


# fence-*: short timers, so the time-based wait is seconds, not tens
FENCE_KATO = 2
FENCE_CQT_MS = 2000


def stall_fence(event, runtime, event_at):
    """fence-<ccr|time|immediate>-<w|r>: QD16 randwrite (w) or randread (r)
    over nvmet TCP with the active port blackholed.  The lost controller's
    writes wait until a Cross-Controller Reset (ccr) or the time-based wait
    (time, 3 x KATO + CQT) ends its fence, or are resent at once
    (immediate: failover_writes, unsafe, and what 6.12 does).  A kernel
    without fencing runs only the immediate events."""
    _, mode, d = event.split("-")
    rw = {"w": "randwrite", "r": "randread"}[d]
    nqn = "nqn.2024-11.org.kernel:bench-fence"
    sd = f"{NVMET}/subsystems/{nqn}"
    nvmet_setup(nqn, 1, TCP_PORTS)
    try:
        fences = os.path.exists(f"{sd}/attr_ccrl")
        if fences:
            write(f"{sd}/attr_ccrl", 4 if mode == "ccr" else 0)
            write(f"{sd}/attr_cqt", FENCE_CQT_MS)
        opts = f"reconnect_delay=1,ctrl_loss_tmo=600,keep_alive_tmo={FENCE_KATO}"
        h = connect_mp_head(nqn, TCP_PORTS, opts, "bench-fence")
        fw = f"/sys/class/nvme-subsystem/{disk_parent(h)}/failover_writes"
        if not (fences and os.path.exists(fw)):
            if mode != "immediate":
                emit("stall-skip", event=event, reason="this kernel does not fence")
                return
        else:
            write(fw, "immediate" if mode == "immediate" else "fenced")
        p = active_path(h)
        ctrl = disk_parent(p)
        svc = re.search(r"trsvcid=(\d+)", read(f"/sys/class/nvme/{ctrl}/address")).group(1)

        def act():
            net_cut(svc)
            return (f"blackhole port {svc} ({ctrl}), kato {FENCE_KATO} s, "
                    f"CQT {FENCE_CQT_MS} ms, {mode}")
        run_stall(event, h, runtime, event_at, act, net_restore, rw=rw)
    finally:
        net_restore()
        disconnect(nqn)
        nvmet_teardown(nqn)


def cmd_stall(a):
    emit("info", kernel=kernel_info())
    # rounds interleave the events: host load drifts over all of them alike
    for rnd, ev in ((r, e) for r in range(a.rounds) for e in a.events.split(",")):
        say(f"stall event {ev}, round {rnd + 1}/{a.rounds}")
        try:
            if ev in ("unplug", "reset"):
                stall_pcie(ev, a.runtime, a.event_at)
            elif ev.startswith("fence-"):
                stall_fence(ev, a.fence_runtime, a.event_at)
            elif ev.startswith("tcp-kato"):
                kato = ev[len("tcp-kato"):]
                kato = None if kato == "default" else int(kato)
                stall_tcp(ev, kato, a.tcp_runtime if kato is None else a.runtime, a.event_at)
            else:
                raise RuntimeError(f"unknown event {ev}")
        except Exception as e:  # one event failing does not stop the others
            emit("stall-error", event=ev, error=str(e))


# ---------------------------------------------------------------------------
# Part 3: scale

def subsys_of(nqn):
    for s in glob.glob("/sys/class/nvme-subsystem/*"):
        if read(f"{s}/subsysnqn") == nqn:
            return s
    return None


def count_heads(nqn):
    s = subsys_of(nqn)
    if not s:
        return 0
    return sum(1 for d in os.listdir(s) if re.fullmatch(r"nvm(e|-sub)\d+n\d+", d))


def count_paths(nqn):
    n = 0
    for c in ctrls_of(nqn):
        n += sum(1 for d in os.listdir(f"/sys/class/nvme/{c}")
                 if re.fullmatch(r"nvme\d+(c\d+)?n\d+", d))
    return n


def slab_kib():
    m = {}
    for line in read("/proc/meminfo").splitlines():
        k, v = line.split(":")
        m[k] = int(v.split()[0])
    return m["Slab"], m.get("Percpu", 0)


def read_once(dev, buf, res, i):
    t = time.time()
    try:
        fd = os.open(f"/dev/{dev}", os.O_RDONLY | os.O_DIRECT)
        try:
            os.preadv(fd, [buf], 0)
        finally:
            os.close(fd)
        res[i] = (time.time() - t, None)
    except OSError as e:
        res[i] = (time.time() - t, e.errno)


def scale_failover(nqn, cut_svc, timeout):
    """Cut a path, then read once from every head at the same time: the time
    until the last of them completes is the time until every namespace's I/O
    has left the cut path."""
    hs = [d for d in os.listdir(subsys_of(nqn)) if re.fullmatch(r"nvm(e|-sub)\d+n\d+", d)]
    res = [None] * len(hs)
    bufs = [mmap.mmap(-1, 4096) for _ in hs]
    net_cut(cut_svc)
    t0 = time.time()
    ths = [threading.Thread(target=read_once, args=(h, bufs[i], res, i), daemon=True)
           for i, h in enumerate(hs)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(max(0.1, timeout - (time.time() - t0)))
    done = [r for r in res if r is not None]
    lat = sorted(r[0] for r in done)
    # an open() refused for want of file descriptors is no I/O error
    errnos = {}
    for r in done:
        if r[1] is not None:
            name = errno.errorcode.get(r[1], str(r[1]))
            errnos[name] = errnos.get(name, 0) + 1
    errs = sum(n for e, n in errnos.items() if e not in ("EMFILE", "ENFILE"))
    return dict(heads=len(hs), completed=len(done), errors=errs, errnos=errnos,
                failover_all_s=round(time.time() - t0 if len(done) < len(hs) else lat[-1], 2),
                failover_median_s=round(lat[len(lat) // 2], 2) if lat else None)


def raise_nofile():
    """scale_failover() holds one descriptor per head open at once: 1024
    heads and stdin, stdout, stderr would exceed the usual limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for lim in ((65536, 65536), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, lim)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cmd_scale(a):
    emit("info", kernel=kernel_info(), nofile=raise_nofile())
    nqn = "nqn.2024-11.org.kernel:bench-scale"
    ports = [(11, "127.0.0.1", "4430"), (12, "127.0.0.2", "4431")]
    opts = f"keep_alive_tmo={a.kato},reconnect_delay=1,ctrl_loss_tmo=600"
    for n in (int(x) for x in a.counts.split(",")):
        say(f"scale: {n} namespaces")
        try:
            t = time.time()
            nvmet_setup(nqn, n, ports)
            t_target = time.time() - t
            sh("sync; echo 3 > /proc/sys/vm/drop_caches", check=False)
            time.sleep(1)
            slab0, pcpu0 = slab_kib()
            t0 = time.time()
            for _, addr, svc in ports:
                nvmf_connect(nqn, addr, svc, opts)
            ok_h = wait_for(lambda: count_heads(nqn) >= n, a.timeout, 0.2)
            t_heads = time.time() - t0
            ok_p = wait_for(lambda: count_paths(nqn) >= 2 * n, a.timeout, 0.2)
            t_paths = time.time() - t0
            time.sleep(1)
            slab1, pcpu1 = slab_kib()
            fo = scale_failover(nqn, ports[0][2], a.timeout)
            net_restore()
            t = time.time()
            ok_d = disconnect(nqn, a.timeout)
            t_disc = time.time() - t
            emit("scale", namespaces=n, target_setup_s=round(t_target, 2),
                 heads_ok=ok_h, heads_s=round(t_heads, 2), paths_ok=ok_p,
                 paths_s=round(t_paths, 2),
                 slab_kib_per_ns=round((slab1 - slab0) / n, 1),
                 percpu_kib_per_ns=round((pcpu1 - pcpu0) / n, 1),
                 disconnect_s=round(t_disc, 2), disconnected=ok_d, kato=a.kato, **fo)
        except Exception as e:
            emit("scale-error", namespaces=n, error=str(e))
        finally:
            net_restore()
            disconnect(nqn, a.timeout)
            try:
                nvmet_teardown(nqn)
            except (OSError, RuntimeError) as e:
                emit("scale-error", namespaces=n, error=f"teardown: {e}")
                break


# ---------------------------------------------------------------------------
# Part 4: I/O policies (unequal, equal and degrading paths)

POLICY_NQN = "nqn.2024-11.org.kernel:bench-policy"
FAST_NQN = "nqn.2024-11.org.kernel:bench-policy-fast"
POLICY_PORTS = [(21, "127.0.0.1", "4420"), (22, "127.0.0.2", "4421")]
PCTS = (("p50", "50.000000"), ("p99", "99.000000"), ("p999", "99.900000"))


def path_reads(disk):
    return int(read(f"/sys/block/{disk}/stat", "0").split()[0])


def ctrl_port(ctrl):
    m = re.search(r"trsvcid=(\d+)", read(f"/sys/class/nvme/{ctrl}/address"))
    return m.group(1) if m else None


def set_policy(subdir, pol):
    try:
        write(f"{subdir}/iopolicy", pol)
    except OSError:
        return False
    return read(f"{subdir}/iopolicy") == pol


def net_delay_prepare(ms):
    """netem delay on lo; nothing is sent there until a filter steers a port
    into it (net_delay_port)."""
    net_restore()
    lib("net_netem_qdisc", "delay", f"{ms}ms", "limit", 100000)


def net_delay_port(port):
    sh(f"tc {net_delay_filter(port)}")


class TcBatch:
    """A `tc -batch -` started ahead of time: at the event, one line on its
    stdin applies the change without a fork and exec (0.1-0.9 s under TCG
    while fio runs)."""

    def __init__(self):
        self.p = subprocess.Popen(["tc", "-batch", "-"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def run(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.close()
        err = self.p.stderr.read()
        if self.p.wait():
            raise RuntimeError(f"tc {line}: {err.strip()}")


def net_delay_filter(port):
    # One way: only packets to the target port (host -> target: commands,
    # the host's ACKs) go through netem; the target's replies do not.
    return lib("net_netem_filters", "dport", port)


def netem_sent():
    m = re.search(r"qdisc netem 30:.*?Sent (\d+) bytes (\d+) pkt",
                  sh("tc -s qdisc show dev lo", check=False), re.S)
    return int(m.group(2)) if m else 0


def fio_policy_run(dev, qd, jobs, runtime, ramp, paths, slow=None):
    """One fio randread through dev: IOPS, clat percentiles, mean latency,
    and the share of the reads that went to each path."""
    before = {p: path_reads(p) for p in paths}
    rc, j = fio_json(fio_cmd(dev, "randread", qd, jobs, runtime, ramp))
    d = {p: path_reads(p) - before[p] for p in paths}
    job = j["jobs"][0]
    r = job["read"]
    pc = r.get("clat_ns", {}).get("percentile", {})
    out = dict(iops=round(r["iops"]), lat_mean_us=round(r["lat_ns"]["mean"] / 1000, 1),
               slat_mean_us=round(r.get("slat_ns", {}).get("mean", 0) / 1000, 1),
               errors=job.get("total_err", 0), rc=rc,
               path_reads=d)
    for k, key in PCTS:
        out[f"clat_{k}_us"] = round(pc[key] / 1000, 1) if key in pc else None
    tot = sum(d.values())
    if slow and tot:
        out["slow_share"] = round(d.get(slow, 0) / tot, 3)
    return out


def policy_setup(a):
    """Target: one namespace on /dev/nullb0 in a subsystem on two TCP ports,
    and a second subsystem on the same null_blk device exposed only on the
    port that stays fast (the "fast path alone" baseline, its own head)."""
    nvmet_setup(POLICY_NQN, 1, POLICY_PORTS)
    opts = "reconnect_delay=1,ctrl_loss_tmo=600"
    h = connect_mp_head(POLICY_NQN, POLICY_PORTS, opts, "bench-policy")
    sub = f"/sys/class/nvme-subsystem/{disk_parent(h)}"
    paths = head_paths(h)
    port_of = {p: ctrl_port(disk_parent(p)) for p in paths}
    # The path that is made slow in the unequal-paths runs is the one the
    # numa policy uses (the one a static policy would keep).
    set_policy(sub, "numa")
    slow = active_path(h) or paths[0]
    fast = next(p for p in paths if p != slow)
    fast_port = next(x for x in POLICY_PORTS if x[2] == port_of[fast])
    nvmet_setup(FAST_NQN, 1, [fast_port])
    nvmf_connect(FAST_NQN, fast_port[1], fast_port[2], opts)
    wait_for(lambda: mp_head("bench-policy-fast"), 30)
    fh = mp_head("bench-policy-fast")
    if not fh or not wait_paths(fh, 1):
        raise RuntimeError("no head for the fast-path-alone subsystem")
    return dict(head=h, sub=sub, paths=paths, port_of=port_of, slow=slow, fast=fast,
                fast_head=fh, fast_head_paths=head_paths(fh))


def policy_teardown():
    net_restore()
    for nqn in (FAST_NQN, POLICY_NQN):
        disconnect(nqn, 120)
    try:
        nvmet_teardown(FAST_NQN)
        nvmet_teardown(POLICY_NQN)
    except (OSError, RuntimeError) as e:
        emit("policy-error", error=f"teardown: {e}")


def interp(samples, t):
    """Counters at time t, linearly interpolated between two samples."""
    for (ta, ca), (tb, cb) in zip(samples, samples[1:]):
        if ta <= t <= tb:
            f = (t - ta) / (tb - ta) if tb > ta else 1
            return [x + (y - x) * f for x, y in zip(ca, cb)]
    return samples[-1][1] if t > samples[-1][0] else samples[0][1]


def degrade_run(t, pol, a):
    """fio randread QD16 on equal paths; after a.pre s, a.degrade_delay ms
    of delay on the path that carried most reads so far; per-path read
    counters every 100 ms; when does the delayed path's share drop below
    10 %?"""
    h, paths = t["head"], t["paths"]
    net_delay_prepare(a.degrade_delay)
    tc = TcBatch()
    cmd = fio_cmd(h, "randread", 16, 1, a.pre + a.post, 0)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    samples = []
    delayed, t_delay, tc_s = None, None, None
    tick = 0
    while proc.poll() is None:
        now = time.time() - t0
        samples.append((now, [path_reads(p) for p in paths]))
        if delayed is None and now >= a.pre:
            c0, c1 = samples[0][1], samples[-1][1]
            i = max(range(len(paths)), key=lambda k: c1[k] - c0[k])
            delayed = paths[i]
            ts = time.time()
            tc.run(net_delay_filter(t["port_of"][delayed]))
            t_delay = time.time() - t0
            tc_s = time.time() - ts
        tick += 1
        time.sleep(max(0.0, t0 + tick * 0.1 - time.time()))
    samples.append((time.time() - t0, [path_reads(p) for p in paths]))
    out, err = proc.communicate()
    sent = netem_sent()
    net_restore()
    if tc.p.poll() is None:
        tc.p.kill()
    try:
        j = json.loads(out[out.index("{"):])
        fio_iops, fio_err = round(j["jobs"][0]["read"]["iops"]), j["jobs"][0].get("total_err", 0)
    except (ValueError, KeyError, json.JSONDecodeError):
        fio_iops, fio_err = None, None
        say(f"fio output unreadable: {err.strip()[:300]}")
    if delayed is None:
        raise RuntimeError(f"{pol}: fio ended before the delay ({err.strip()[:200]})")
    k = paths.index(delayed)
    # 100 ms intervals from the delay on (counters interpolated at the
    # interval ends); an interval with fewer than 5 reads has no share
    series = []       # (s from the delay to the interval end, delayed share, IOPS)
    g = t_delay
    prev = interp(samples, g)
    while g + 0.1 <= samples[-1][0] + 1e-6:
        cur = interp(samples, g + 0.1)
        tot = sum(cur) - sum(prev)
        series.append((round(g + 0.1 - t_delay, 2),
                       round((cur[k] - prev[k]) / tot, 3) if tot >= 5 else None,
                       round(tot / 0.1)))
        prev, g = cur, g + 0.1
    below = next((s[0] for s in series if s[1] is not None and s[1] < 0.1), None)
    # sustained: from then on below 10 % until the end, over at least 1 s
    sustained = None
    for i in range(len(series)):
        rest = [s for s in series[i:] if s[1] is not None]
        if rest and all(s[1] < 0.1 for s in rest):
            if series[-1][0] - series[i][0] >= 1.0:
                sustained = series[i][0]
            break
    c0, c1 = samples[0][1], interp(samples, t_delay)
    tot_pre = sum(c1) - sum(c0)
    c_pre1 = interp(samples, t_delay - 1.0)
    c_last = interp(samples, samples[-1][0] - 1.0)
    tot_last = sum(samples[-1][1]) - sum(c_last)
    emit("policy-degrade", policy=pol, head=h, delayed_path=delayed,
         delayed_port=t["port_of"][delayed], delay_ms=a.degrade_delay,
         t_delay_s=round(t_delay, 2), tc_s=round(tc_s, 3),
         share_before=round((c1[k] - c0[k]) / tot_pre, 3) if tot_pre else None,
         iops_before=round(sum(c1) - sum(c_pre1)),
         iops_after=round(statistics.median(s[2] for s in series)) if series else None,
         share_last_s=round((samples[-1][1][k] - c_last[k]) / tot_last, 3) if tot_last else None,
         below10_ms=round(below * 1000) if below is not None else None,
         sustained10_ms=round(sustained * 1000) if sustained is not None else None,
         fio_iops=fio_iops, errors=fio_err, netem_pkts=sent, samples=len(samples),
         series=series)
    wait_paths(h, 2, 30)


def cmd_policy(a):
    emit("info", kernel=kernel_info())
    try:
        t = policy_setup(a)
    except Exception as e:
        emit("policy-error", error=f"setup: {e}")
        policy_teardown()
        return
    h, sub, paths, slow = t["head"], t["sub"], t["paths"], t["slow"]
    accepted, refused = [], []
    for pol in dict.fromkeys(a.policies.split(",") + [a.ref]):
        (accepted if set_policy(sub, pol) else refused).append(pol)
    set_policy(sub, "numa")
    ref = a.ref if a.ref in accepted else "numa"
    unequal = [p for p in a.policies.split(",") if p in accepted]
    equal = [ref] + [p for p in unequal if p != ref]
    emit("policy-info", head=h, paths=paths, port_of=t["port_of"], slow_path=slow,
         slow_port=t["port_of"][slow], fast_path=t["fast"], fast_port=t["port_of"][t["fast"]],
         fast_head=t["fast_head"], fast_head_paths=t["fast_head_paths"],
         accepted=accepted, refused=refused, ref=ref, rounds=a.rounds, runtime=a.runtime,
         pre=a.pre, post=a.post, backing="/dev/nullb0 (null_blk, "
         f"not memory-backed, {read('/sys/block/nullb0/size')} sectors)",
         cmd=" ".join(fio_cmd("DEV", "randread", "QD", "JOBS", a.runtime, a.ramp)),
         degrade_cmd=" ".join(fio_cmd("DEV", "randread", 16, 1, a.pre + a.post, 0)))
    for pol in refused:
        say(f"policy {pol}: refused by this kernel")
    try:
        # 1. unequal paths: netem delay on the slow path's port
        for ms in (int(x) for x in a.delays.split(",") if x):
            say(f"policy: unequal paths, {ms} ms on port {t['port_of'][slow]}")
            net_delay_prepare(ms)
            net_delay_port(t["port_of"][slow])
            cases = ["fast-alone"] + unequal
            for rnd in range(a.rounds):
                k = rnd % len(cases)
                for case in cases[k:] + cases[:k]:
                    if case == "fast-alone":
                        dev, ps = t["fast_head"], t["fast_head_paths"]
                    else:
                        dev, ps = h, paths
                        set_policy(sub, case)
                    try:
                        r = fio_policy_run(dev, 32, 2, a.runtime, a.ramp, ps,
                                           slow if case != "fast-alone" else None)
                        emit("policy-unequal", delay_ms=ms, case=case, round=rnd, dev=dev, **r)
                    except Exception as e:
                        emit("policy-error", error=f"unequal {ms} ms {case}: {e}")
            emit("policy-netem", delay_ms=ms, pkts=netem_sent())
            net_restore()
            wait_paths(h, 2, 30)
        # 2. equal paths
        say("policy: equal paths")
        for rnd in range(a.rounds):
            k = rnd % len(equal)
            for qd, jobs in ((1, 1), (32, 2)):
                for pol in equal[k:] + equal[:k]:
                    set_policy(sub, pol)
                    try:
                        r = fio_policy_run(h, qd, jobs, a.runtime, a.ramp, paths)
                        emit("policy-equal", case=pol, qd=qd, jobs=jobs, round=rnd, **r)
                    except Exception as e:
                        emit("policy-error", error=f"equal QD{qd} {pol}: {e}")
        # 3. degrading path
        for pol in unequal:
            say(f"policy: degrading path, {pol}")
            set_policy(sub, pol)
            try:
                degrade_run(t, pol, a)
            except Exception as e:
                emit("policy-error", error=f"degrade {pol}: {e}")
    finally:
        policy_teardown()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("iops")
    p.add_argument("--cases", required=True)
    p.add_argument("--workloads", default="randread:1:1,randread:32:1")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--runtime", type=float, default=2)
    p.add_argument("--ramp", type=float, default=0.5)
    p.add_argument("--alternate", action="store_true",
                   help="one fio per workload, the cases alternating job by job")
    p.add_argument("--cpus", default="", help="fio --cpus_allowed (pin the jobs)")
    p = sub.add_parser("profile")
    p.add_argument("--workloads", default="randread:32:1")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--runtime", type=float, default=5)
    p.add_argument("--freq", type=int, default=2000)
    p.add_argument("--cpus", default="0")
    p.add_argument("--vmlinux", default="", help="kernel symbols (no kallsyms in the guest)")
    p = sub.add_parser("stall")
    p.add_argument("--events", default="unplug,reset,tcp-katodefault,tcp-kato1")
    p.add_argument("--runtime", type=int, default=12)
    p.add_argument("--tcp-runtime", type=int, default=25)
    p.add_argument("--fence-runtime", type=int, default=25)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--event-at", type=float, default=4)
    p = sub.add_parser("scale")
    p.add_argument("--counts", default="1,64,512,1024")
    p.add_argument("--kato", type=int, default=1)
    p.add_argument("--timeout", type=int, default=600)
    p = sub.add_parser("policy")
    p.add_argument("--policies", default="numa,round-robin,queue-depth,latency")
    p.add_argument("--ref", default="first", help="reference of the equal-paths overhead")
    p.add_argument("--delays", default="5,30", help="ms of netem delay on the slow path")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runtime", type=float, default=3)
    p.add_argument("--ramp", type=float, default=0.5)
    p.add_argument("--pre", type=float, default=10, help="s before the path degrades")
    p.add_argument("--post", type=float, default=10, help="s after")
    p.add_argument("--degrade-delay", type=int, default=30, help="ms")
    p = sub.add_parser("fsync")
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--runtime", type=float, default=1)
    p.add_argument("--ramp", type=float, default=0.25)
    p.add_argument("--cpus", default="0")
    a = ap.parse_args()
    {"fsync": cmd_fsync, "iops": cmd_iops, "profile": cmd_profile, "stall": cmd_stall, "scale": cmd_scale,
     "policy": cmd_policy}[a.mode](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
