#!/usr/bin/env python3
"""Summarises bench/whatif/run.sh's raw results (argument: its output folder) as JSON on stdout.
Native: the median and the fastest sample of each alternating criterion run, then the median of
those over the runs (on a loaded machine the fastest sample is the steadier comparison). JS: the
median calls per CPU second over every round of every alternating run."""
import datetime
import glob
import json
import statistics
import subprocess
import sys

out = sys.argv[1]
res = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
    "native_ns": {}, "native_min_ns": {}, "js_calls_per_cpu_s": {},
}
for v in ("base", "escape"):
    med, low = {}, {}
    for f in sorted(glob.glob(f"{out}/native-{v}-*.json")):
        for k, b in json.load(open(f)).items():
            if k.startswith("decide/1k/"):
                med.setdefault(k, []).append(b["median_ns"])
                low.setdefault(k, []).append(b["min_ns"])
    res["native_ns"][v] = {k: statistics.median(x) for k, x in sorted(med.items())}
    res["native_min_ns"][v] = {k: statistics.median(x) for k, x in sorted(low.items())}
for v in ("base", "escape", "escape-camel"):
    per = {}
    for f in sorted(glob.glob(f"{out}/js-{v}-*.json")):
        for b in json.load(open(f))["benches"]:
            if b["impl"] == "tokengate" and b["group"].startswith(("check/", "inspect/")):
                per.setdefault(b["group"], []).extend(r["per_s_cpu"] for r in b["runs"])
            if b["impl"] == "plain_js" and b["group"].startswith("check/"):
                per.setdefault("plain_js " + b["group"], []).extend(r["per_s_cpu"] for r in b["runs"])
    res["js_calls_per_cpu_s"][v] = {k: statistics.median(x) for k, x in sorted(per.items())}
print(json.dumps(res, indent=1))
