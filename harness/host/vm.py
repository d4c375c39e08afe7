#!/usr/bin/env python3
"""Boot the test kernel under QEMU (TCG) and run one command in the guest.

The guest's root filesystem is the host's, read-only over 9p; a per-run
temporary directory is shared read-write (mount tag "hostshare", mounted at
/mnt/host in the guest) and carries the command, its output, its exit status
and the host control channel (ctl/).  See README.md.

Exit status: the command's exit status; 124 on timeout; 125 when the guest
died without reporting one; 126 when the command passed but the kernel
logged a warning/bug/lockdep/KASAN/kmemleak/hung-task report.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
LOGS = os.environ.get("LOGS", os.path.join(BUILD, "logs"))

GIB = 1 << 30

# Kernel console lines (with a printk timestamp) that fail a run: the one
# kernel-report rule of the harness.  The guest gets it too (the share's
# kernel-reports file, NVME_MPATH_KERNEL_REPORTS), for the tests that look
# for reports in their own part of the log.  POSIX ERE only: grep -E in
# the guest reads the same patterns as Python here.
BAD_PATTERNS = [
    r"WARNING:",
    r"BUG:",
    r"kernel BUG at",
    r"Oops",
    r"UBSAN:",
    r"refcount_t:",
    r"general protection fault",
    r"Kernel panic",
    r"possible circular locking",
    r"inconsistent lock state",
    r"possible recursive locking",
    r"lockdep",
    r"KASAN",
    r"kmemleak",
    r"unreferenced object",
    r"hung_task",
    r"blocked for more than",
    r"suspected memory leak",
    r"detected stalls? on CPU",
    r"self-detected stall",
    r"soft lockup",
    r"hard LOCKUP",
]
# Benign lines that match the above.
BENIGN_PATTERNS = [
    r"KernelAddressSanitizer initialized",
    r"kmemleak: Kernel memory leak detector initialized",
    r"kmemleak: Automatic memory scanning thread started",
    r"Lock dependency validator",
    r"hung_task_timeout_secs",
    r"RCU lockdep checking is enabled",
    # a frame of a call trace (one an injected fault prints, say): the
    # report it belongs to, if any, has a header line of its own
    r"^\[ *[0-9]+\.[0-9]+\] +(\? )?[A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+",
]
TS_RE = re.compile(r"^\[\s*\d+\.\d+\]")
BAD_RE = re.compile("|".join(BAD_PATTERNS))
BENIGN_RE = re.compile("|".join(BENIGN_PATTERNS))

TOPOLOGIES = ("pcie-dual", "pcie-single", "pcie-dual+single", "pcie-zoned", "none")


def log(msg):
    print(f"[vm] {msg}", file=sys.stderr, flush=True)


class QMP:
    """Minimal QMP client: commands plus an event queue."""

    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.lock = threading.Condition()
        self.events = []
        self.replies = []
        self.closed = False
        greeting = json.loads(self.file.readline())
        assert "QMP" in greeting, greeting
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        self.cmd("qmp_capabilities")

    def _reader(self):
        try:
            for line in self.file:
                msg = json.loads(line)
                with self.lock:
                    if "event" in msg:
                        self.events.append(msg)
                    else:
                        self.replies.append(msg)
                    self.lock.notify_all()
        except (OSError, ValueError):
            pass
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def cmd(self, name, timeout=30, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        with self.lock:
            self.replies.clear()
            self.file.write(json.dumps(req).encode() + b"\n")
            deadline = time.time() + timeout
            while not self.replies:
                if self.closed or time.time() > deadline:
                    raise RuntimeError(f"QMP {name}: no reply")
                self.lock.wait(0.2)
            rep = self.replies.pop(0)
        if "error" in rep:
            raise RuntimeError(f"QMP {name}: {rep['error'].get('desc', rep['error'])}")
        return rep.get("return")

    def wait_event(self, name, timeout, match=None):
        deadline = time.time() + timeout
        with self.lock:
            while True:
                for i, ev in enumerate(self.events):
                    if ev["event"] == name and (match is None or match(ev.get("data", {}))):
                        return self.events.pop(i)
                if self.closed or time.time() > deadline:
                    return None
                self.lock.wait(0.2)

    def clear_events(self):
        with self.lock:
            self.events.clear()


def build_topology(topo, backing, tmp):
    """Return (qemu args, {ctrl-id: device_add arguments}, the ids of the
    controllers not plugged at boot)."""
    args = []
    ctrls = {}
    unplugged = set()

    def drive(name, size=GIB):
        if backing == "null":
            args.extend(["-blockdev",
                         f"driver=null-co,node-name={name},size={size},read-zeroes=on"])
        else:
            img = os.path.join(tmp, f"{name}.img")
            with open(img, "wb") as f:
                f.truncate(size)
            args.extend(["-blockdev",
                         f"driver=file,node-name={name}-file,filename={img},cache.direct=off",
                         "-blockdev", f"driver=raw,node-name={name},file={name}-file"])
        return name

    def ctrl(cid, bus, serial, subsys=None, plugged=True, **props):
        d = {"driver": "nvme", "id": cid, "serial": serial, "bus": bus}
        if subsys:
            d["subsys"] = subsys
        d.update(props)
        ctrls[cid] = d
        if plugged:
            args.extend(["-device", ",".join(f"{k}={v}" for k, v in d.items())])
        else:
            unplugged.add(cid)

    if topo in ("pcie-dual", "pcie-dual+single"):
        args += root_port(1) + root_port(2)
        d1, d2 = drive("ns1"), drive("ns2")
        args += ["-device", "nvme-subsys,id=subsys0,nqn=mpath0"]
        ctrl("ctrl0", "rp1", "mpath0serial", "subsys0")
        # Namespaces hang off ctrl0's bus; shared ones attach to every
        # controller of the subsystem, including a re-plugged ctrl1.
        args += ["-device", f"nvme-ns,drive={d1},nsid=1,shared=on",
                 "-device", f"nvme-ns,drive={d2},nsid=2,shared=on"]
        ctrl("ctrl1", "rp2", "mpath0serial", "subsys0")
    if topo in ("pcie-single", "pcie-dual+single"):
        args += root_port(3)
        d3 = drive("single1")
        # No nvme-subsys: a plain controller (CMIC 0), so that no multipath
        # (ours or 6.12's, which adds a head to any namespace of a
        # multi-controller subsystem) stacks on it: the single-path baseline.
        ctrl("ctrl2", "rp3", "single0serial")
        args += ["-device", f"nvme-ns,drive={d3},nsid=1,bus=ctrl2"]
    if topo == "pcie-zoned":
        # A zoned namespace (32 zones of 8 MiB) shared by two controllers,
        # on the ports and ids of pcie-dual's: zoned.sh.
        args += root_port(1) + root_port(2)
        z1 = drive("zns1", 256 * 1024 * 1024)
        args += ["-device", "nvme-subsys,id=zsubsys0,nqn=zoned0"]
        ctrl("ctrl0", "rp1", "zoned0serial", "zsubsys0")
        args += ["-device", f"nvme-ns,drive={z1},nsid=1,shared=on,zoned=on,"
                 "zoned.zone_size=8M"]
        ctrl("ctrl1", "rp2", "zoned0serial", "zsubsys0")
    # A spare hotplug-capable port lets tests add controllers.
    if topo != "none":
        args += root_port(9)
    # A third controller of subsys0 with a smaller MDTS (128 KiB against
    # the others' 512 KiB), plugged only when a test asks: limits.sh.
    if topo in ("pcie-dual", "pcie-dual+single"):
        ctrl("ctrl9", "rp9", "mpath0serial", "subsys0", plugged=False, mdts=5)
    return args, ctrls, unplugged


def root_port_addr(n):
    """PCI address of root port rp<n>: device 0x10 + n of the root bus."""
    return f"0000:00:{0x10 + n:02x}.0"


def root_port(n):
    """-device arguments of root port rp<n>, at a fixed address, so that the
    guest can tell which controller is which by the port it sits behind
    (write_topology).  The guest names hot-plug slots 0, 0-1, 0-2..., not by
    chassis or slot number: those tell it nothing."""
    return ["-device", f"pcie-root-port,id=rp{n},chassis={n},slot={n},addr=0x{0x10 + n:x}"]


def write_topology(path, topo, ctrls, unplugged):
    """Publish the topology to the guest (NVME_MPATH_TOPOLOGY): a line
    "topology <name>", then "<ctrl id> <PCI address of its root port>
    <plugged|unplugged>" per controller, so that the guest maps a
    controller to the id hostctl takes without guessing, before and after
    a re-plug."""
    with open(path, "w") as f:
        f.write(f"topology {topo}\n")
        for cid, d in sorted(ctrls.items()):
            port = root_port_addr(int(d["bus"][len("rp"):]))
            f.write(f"{cid} {port} {'unplugged' if cid in unplugged else 'plugged'}\n")


class Controller:
    """Serves the guest's control requests (share/ctl/req.*)."""

    def __init__(self, ctldir, qmp, ctrls, unplugged=()):
        self.ctldir = ctldir
        self.qmp = qmp
        self.ctrls = ctrls
        self.unplugged = set(unplugged)

    def poll(self):
        try:
            names = sorted(os.listdir(self.ctldir))
        except OSError:
            return
        for n in names:
            if not n.startswith("req.") or n.endswith(".tmp"):
                continue
            path = os.path.join(self.ctldir, n)
            try:
                with open(path) as f:
                    req = f.read().split()
            except OSError:
                continue
            os.unlink(path)
            rid = n[4:]
            try:
                reply = "ok " + self.serve(req)
            except Exception as e:  # reported to the guest
                reply = f"err {e}"
            log(f"hostctl {' '.join(req)} -> {reply}")
            tmp = os.path.join(self.ctldir, f"rep.{rid}.tmp")
            with open(tmp, "w") as f:
                f.write(reply + "\n")
            os.rename(tmp, os.path.join(self.ctldir, f"rep.{rid}"))

    def serve(self, req):
        if not req:
            raise ValueError("empty request")
        verb, args = req[0], req[1:]
        if verb == "ping":
            return "pong"
        if verb == "list":
            return " ".join(f"{c}:{'unplugged' if c in self.unplugged else 'present'}"
                            for c in sorted(self.ctrls))
        if verb in ("unplug", "plug"):
            if len(args) != 1 or args[0] not in self.ctrls:
                raise ValueError(f"usage: {verb} <{'|'.join(sorted(self.ctrls)) or 'no controllers'}>")
            cid = args[0]
            if self.qmp is None:
                raise RuntimeError("no QMP connection")
            if verb == "unplug":
                self.qmp.clear_events()
                self.qmp.cmd("device_del", id=cid)
                ev = self.qmp.wait_event("DEVICE_DELETED", 60,
                                         lambda d: d.get("device") == cid)
                if ev is None:
                    raise RuntimeError(f"{cid}: no DEVICE_DELETED within 60 s")
                self.unplugged.add(cid)
                return f"unplugged {cid}"
            self.qmp.cmd("device_add", **self.ctrls[cid])
            self.unplugged.discard(cid)
            return f"plugged {cid}"
        raise ValueError(f"unknown verb '{verb}' (ping, list, unplug, plug)")


def pin_vcpus(pid, n):
    """Pin the TCG thread of vCPU i to host CPU i (modulo the host's CPUs):
    the scheduler cannot then move a vCPU between runs of a benchmark.
    True once all n threads were found and pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    found = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                m = re.match(r"CPU (\d+)/TCG", f.read())
            if m:
                os.sched_setaffinity(int(tid), {cpus[int(m.group(1)) % len(cpus)]})
                found += 1
        except OSError:
            pass
    if found >= n:
        log(f"pinned {found} vCPU threads")
    return found >= n


def scan_console(path):
    bad = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\r\n")
                kernel = TS_RE.match(line) or "unreferenced object" in line
                if kernel and BAD_RE.search(line) and not BENIGN_RE.search(line):
                    bad.append(line)
    except OSError:
        pass
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default=os.environ.get("VARIANT", "test"))
    ap.add_argument("--kernel", default=os.environ.get("KERNEL"),
                    help="bzImage (default: $KERNEL, else build/obj/<variant>/arch/x86/boot/bzImage)")
    ap.add_argument("--topo", default="pcie-dual", choices=TOPOLOGIES)
    ap.add_argument("--backing", default="file", choices=("file", "null"))
    ap.add_argument("--timeout", type=int, default=300, help="seconds (default 300)")
    ap.add_argument("--cmdline", default="", help="extra kernel command line")
    ap.add_argument("--name", default="vm", help="log name: build/logs/<name>.log")
    ap.add_argument("--cwd", default=None, help="guest working directory")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the command")
    ap.add_argument("--mem", default="2048")
    ap.add_argument("--smp", default="2")
    ap.add_argument("--quiet", action="store_true", help="do not echo the command output")
    ap.add_argument("--output", help="also copy the command output to this file")
    ap.add_argument("--allow-warnings", action="store_true",
                    help="report kernel warnings but do not fail on them")
    ap.add_argument("--console", action="store_true", help="echo the guest console too")
    ap.add_argument("--pin", action="store_true",
                    help="pin vCPU n's TCG thread to host CPU n (benchmarks)")
    ap.add_argument("--icount", type=int, default=None, metavar="SHIFT",
                    help="count guest time in instructions, 2^SHIFT ns each, "
                    "so that host load cannot change it (benchmarks)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="shell command for the guest")
    opts = ap.parse_args()

    command = " ".join(opts.command[1:] if opts.command[:1] == ["--"] else opts.command)
    if not command.strip():
        command = "true"
    kernel = opts.kernel or os.path.join(BUILD, "obj", opts.variant, "arch/x86/boot/bzImage")
    if not os.path.exists(kernel):
        log(f"no kernel at {kernel} (run make kernel)")
        return 2
    os.makedirs(LOGS, exist_ok=True)
    # Two guests of the same name at once get separate logs.
    import fcntl
    name = opts.name
    for i in range(1, 100):
        lockf = open(os.path.join(LOGS, f".{name}.lock"), "w")
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            lockf.close()
            name = f"{opts.name}-{i + 1}"
    opts.name = name
    console_log = os.path.join(LOGS, f"{opts.name}.log")

    # Backing images and the share live in RAM when there is room: deleting a
    # fragmented sparse image from disk can take half a minute.
    tmpbase = os.environ.get("VM_TMPDIR")
    if not tmpbase and os.access("/dev/shm", os.W_OK):
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > 6 * GIB:
            tmpbase = "/dev/shm"
    tmp = tempfile.mkdtemp(prefix="nvme-mpath-vm.", dir=tmpbase)
    share = os.path.join(tmp, "share")
    ctldir = os.path.join(share, "ctl")
    os.makedirs(ctldir)
    os.chmod(share, 0o777)
    os.chmod(ctldir, 0o777)
    with open(os.path.join(share, "cmd.sh"), "w") as f:
        f.write(command + "\n")
    with open(os.path.join(share, "env"), "w") as f:
        # the one guest library: the selftests' lib.sh of the tree
        tree = os.environ.get("TREE", os.path.join(BUILD, "linux"))
        lib = os.path.join(os.path.abspath(tree), "tools/testing/selftests/nvme-mpath/lib.sh")
        f.write(f"export NVME_MPATH_LIB={shlex.quote(lib)}\n")
        for kv in opts.env:
            k, _, v = kv.partition("=")
            f.write(f"export {k}={shlex.quote(v)}\n")
    if opts.cwd:
        with open(os.path.join(share, "cwd"), "w") as f:
            f.write(opts.cwd + "\n")
    with open(os.path.join(share, "time"), "w") as f:
        f.write(f"{int(time.time())}\n")
    # the kernel-report rule: the pattern of a report, then of benign lines
    with open(os.path.join(share, "kernel-reports"), "w") as f:
        f.write("|".join(BAD_PATTERNS) + "\n" + "|".join(BENIGN_PATTERNS) + "\n")
    out_path = os.path.join(share, "output")
    open(out_path, "w").close()

    qmp_sock = os.path.join(tmp, "qmp.sock")
    topo_args, ctrls, unplugged = build_topology(opts.topo, opts.backing, tmp)
    write_topology(os.path.join(share, "topology"), opts.topo, ctrls, unplugged)
    init = os.path.join(TOP, "harness", "guest", "guest-init.sh")
    append = ("console=ttyS0 root=hostroot rootfstype=9p "
              "rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro "
              f"init={init} panic=-1 oops=panic " + opts.cmdline).strip()
    # oops=panic: a guest that oopsed is stopped at once, the log keeps the oops.
    qemu = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg",
            "-cpu", "max", "-smp", opts.smp, "-m", opts.mem,
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            # thread names ("CPU 0/TCG"), for --pin
            "-name", "nvme-mpath,debug-threads=on",
            "-qmp", f"unix:{qmp_sock},server=on,wait=off",
            "-kernel", kernel, "-append", append,
            "-fsdev", "local,id=r,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=r,mount_tag=hostroot",
            "-fsdev", f"local,id=s,path={share},security_model=none,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=s,mount_tag=hostshare",
            ] + topo_args
    if opts.icount is not None:
        # sleep=off: an idle guest's clock jumps to its next timer instead
        # of waiting it out in real time
        qemu += ["-icount", f"shift={opts.icount},sleep=off"]
    with open(os.path.join(tmp, "qemu-cmd"), "w") as f:
        f.write(shlex.join(qemu) + "\n")

    start = time.time()
    rc = None
    timed_out = False
    out_copy = open(opts.output, "w") if opts.output else None
    with open(console_log, "w") as con:
        con.write(f"# qemu: {shlex.join(qemu)}\n# command: {command}\n")
        con.flush()
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=con,
                                stderr=subprocess.STDOUT)
        qmp = None
        try:
            qmp = QMP(qmp_sock)
        except Exception as e:
            log(f"QMP connection failed: {e}")
        ctl = Controller(ctldir, qmp, ctrls, unplugged)
        pinned = not opts.pin
        out_pos = 0
        con_pos = 0
        try:
            while True:
                alive = proc.poll() is None
                ctl.poll()
                if not pinned and alive:
                    pinned = pin_vcpus(proc.pid, int(opts.smp))
                with open(out_path, "rb") as f:
                    f.seek(out_pos)
                    data = f.read()
                if data:
                    out_pos += len(data)
                    if not opts.quiet:
                        sys.stdout.write(data.decode(errors="replace"))
                        sys.stdout.flush()
                    if out_copy:
                        out_copy.write(data.decode(errors="replace"))
                if opts.console:
                    with open(console_log, "rb") as f:
                        f.seek(con_pos)
                        data = f.read()
                    con_pos += len(data)
                    sys.stderr.write(data.decode(errors="replace"))
                if not alive:
                    break
                if time.time() - start > opts.timeout:
                    timed_out = True
                    log(f"TIMEOUT after {opts.timeout} s: killing the guest")
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(0.1)
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
            raise
        finally:
            if out_copy:
                out_copy.close()
        elapsed = time.time() - start
        con.write("\n# ---- command output ----\n")
        with open(out_path, errors="replace") as f:
            con.write(f.read())

    try:
        with open(os.path.join(share, "rc")) as f:
            rc = int(f.read().strip())
    except (OSError, ValueError):
        rc = None

    bad = scan_console(console_log)
    rel = os.path.relpath(console_log, TOP)
    problems = os.path.join(LOGS, f"{opts.name}.problems")
    if bad:
        with open(problems, "w") as f:
            f.write("\n".join(bad) + "\n")
    elif os.path.exists(problems):
        os.unlink(problems)
    if bad:
        log(f"kernel reported problems (console log {rel}):")
        for line in bad[:30]:
            log("  " + line)
    if timed_out:
        status = 124
    elif rc is None:
        log(f"guest exited without a command status after {elapsed:.0f} s; see {rel}")
        tail = open(console_log, errors="replace").read().splitlines()[-25:]
        for line in tail:
            log("  | " + line)
        status = 125
    elif rc == 0 and bad and not opts.allow_warnings:
        status = 126
    else:
        status = rc
    log(f"exit status {status} after {elapsed:.0f} s (console log {rel})")
    shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
