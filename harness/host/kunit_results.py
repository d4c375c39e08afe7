#!/usr/bin/env python3
"""One line per KUnit suite from kunit.py's JSON (called by kunit.sh)."""
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"error\t-\tcannot parse the KTAP output: {e}")
    sys.exit()

def leaves(group, prefix=""):
    for t in group.get("test_cases") or []:
        yield prefix + t["name"], t["status"]
    for g in group.get("sub_groups") or []:
        yield from leaves(g, prefix + g["name"] + ".")

suites = [(g["name"], list(leaves(g))) for g in data.get("sub_groups") or []]
# a suite that reported no cases shows up as a plain test case
suites += [(t["name"], [(t["name"], t["status"])]) for t in data.get("test_cases") or []]
if not suites:
    print("none\t-\t-")
for name, cases in suites:
    counts = {}
    for _, st in cases:
        counts[st] = counts.get(st, 0) + 1
    bad = [c for c, st in cases if st not in ("PASS", "SKIP")]
    if bad:
        status = "FAIL"
    elif cases and all(st == "SKIP" for _, st in cases):
        status = "SKIP"
    else:
        status = "PASS"
    detail = ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items()))
    if bad:
        detail += "; failed: " + " ".join(bad[:10])
    print(f"{status}\t{name}\t{detail}")
