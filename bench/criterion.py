#!/usr/bin/env python3
"""Criterion's raw samples (target/criterion/<group>/<bench>/new/sample.json) as per-iteration
nanoseconds: median, min and max over the samples, as JSON."""
import json
import os
import statistics
import sys

root = sys.argv[1]
benches = {}
for dirpath, _, files in os.walk(root):
    if "sample.json" in files and os.path.basename(dirpath) == "new":
        with open(os.path.join(dirpath, "sample.json")) as f:
            s = json.load(f)
        per_iter = [t / n for t, n in zip(s["times"], s["iters"]) if n]
        name = os.path.relpath(os.path.dirname(dirpath), root)
        meta = os.path.join(dirpath, "benchmark.json")
        if os.path.exists(meta):
            with open(meta) as f:
                name = json.load(f).get("full_id", name)
        benches[name] = {
            "samples": len(per_iter),
            "iterations": int(sum(s["iters"])),
            "median_ns": statistics.median(per_iter),
            "min_ns": min(per_iter),
            "max_ns": max(per_iter),
        }
print(json.dumps(dict(sorted(benches.items())), indent=1))
