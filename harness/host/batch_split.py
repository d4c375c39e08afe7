#!/usr/bin/env python3
"""batch_split.py <batch name> <member name>...: split the logs of a guest
that ran several tests one after the other (guests.sh's batches) into the
files each test would have had in a guest of its own.

The guest wrote "nvme-mpath-batch: begin <member>" and "... end <member>
rc=<status>" both to its output and to the kernel log (so to the console,
in order with the kernel's lines).  From build/logs/<batch>.out and
<batch>.log this writes, for each member, <member>.out (its output),
<member>.log (its part of the console), <member>.rc (its status, if it
ended) and <member>.problems (the kernel reports of its part, by vm.py's
rule).  A report outside every member's part (during the boot, or the
kmemleak scan after the last test) is each member's.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402  (the one kernel-report rule: vm.BAD_RE, ...)

MARK = re.compile(r"nvme-mpath-batch: (begin|end) (\S+)(?: rc=(\d+))?")


def parts(lines):
    """{member: [lines]} of the marked parts, and the lines outside them."""
    out, outside, cur = {}, [], None
    for line in lines:
        m = MARK.search(line)
        if m and m.group(1) == "begin":
            # the output's marker and the kernel's both reach the console
            if cur != m.group(2):
                cur = m.group(2)
                out[cur] = []
            out[cur].append(line)
            continue
        if cur is not None:
            out[cur].append(line)
        else:
            outside.append(line)
        if m and m.group(1) == "end" and m.group(2) == cur:
            cur = None
    return out, outside


def is_report(line):
    kernel = vm.TS_RE.match(line) or "unreferenced object" in line
    return bool(kernel and vm.BAD_RE.search(line) and not vm.BENIGN_RE.search(line))


def write(path, lines):
    with open(path, "w") as f:
        f.writelines(lines)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    batch, members = sys.argv[1], sys.argv[2:]
    logs = vm.LOGS
    with open(os.path.join(logs, batch + ".out"), errors="replace") as f:
        out_parts, _ = parts(f.readlines())
    try:
        with open(os.path.join(logs, batch + ".log"), errors="replace") as f:
            con_lines = f.readlines()
    except OSError:
        con_lines = []
    # the console log ends with a copy of the output: only the console part
    try:
        con_lines = con_lines[:con_lines.index("# ---- command output ----\n")]
    except ValueError:
        pass
    con_parts, outside = parts(con_lines)
    common = [ln.rstrip("\n") for ln in outside if is_report(ln)]
    for m in members:
        p = os.path.join(logs, m)
        lines = out_parts.get(m, [])
        rc = None
        for line in lines:
            g = MARK.search(line)
            if g and g.group(1) == "end":
                rc = g.group(3)
        write(p + ".out", [ln for ln in lines if not MARK.search(ln)])
        con = con_parts.get(m, [])
        write(p + ".log", [f"# part of the console of the batch guest build/logs/{batch}.log\n"] + con)
        if rc is None:
            if os.path.exists(p + ".rc"):
                os.unlink(p + ".rc")
        else:
            write(p + ".rc", [rc + "\n"])
        bad = common + [ln.rstrip("\n") for ln in con if is_report(ln)]
        if bad:
            write(p + ".problems", [ln + "\n" for ln in bad])
        elif os.path.exists(p + ".problems"):
            os.unlink(p + ".problems")


if __name__ == "__main__":
    main()
