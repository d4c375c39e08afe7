#!/usr/bin/env python3
"""The demo's fio result: errors, I/Os and the longest completion latency (called by demo-guest.sh)."""
import json, sys
rc = int(sys.argv[1])
try:
    j = json.load(open("/tmp/fio.json"))
except Exception as e:
    print(f"fio failed (exit {rc}), no JSON output: {e}")
    print(open("/tmp/fio.out").read()[-2000:])
    sys.exit(1)
job = j["jobs"][0]
r, w = job["read"], job["write"]
err = job.get("error", 0)
ios = r["total_ios"] + w["total_ios"]
stall = max(r["clat_ns"]["max"], w["clat_ns"]["max"]) / 1e6
print(f"fio exit status {rc}, errors {err}, {ios} I/Os "
      f"(read {r['iops']:.0f} IOPS, write {w['iops']:.0f} IOPS)")
print(f"stall (longest completion latency): {stall:.1f} ms")
sys.exit(0 if rc == 0 and err == 0 else 1)
