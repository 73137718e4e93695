#!/usr/bin/env python3
"""The docs/benchmarks.md section for `tokengate report` (bench/report/run.py's results).

    python3 bench/report/section.py target/bench/results/report.json

bench/report.py includes it in the generated page; alone it prints the section.
"""
import json
import statistics
import sys


def section(r: dict) -> list:
    runs = r["runs"]
    lines, size = r["lines"], r["log_bytes"]
    rate = [lines / x["wall_s"] for x in runs]
    cpu_rate = [lines / x["cpu_s"] for x in runs if x["cpu_s"] > 0]
    mbps = [size / 2**20 / x["wall_s"] for x in runs]
    rss = max(x["maxrss_kib"] for x in runs) / 1024
    med = statistics.median
    out = [
        "## `tokengate report` over a generated access log",
        "",
        f"`python3 bench/report/run.py` generates an access log in the format of envoy/README.md — "
        f"{size / 2**20:,.0f} MiB, {lines:,} lines over 30 days: half service tokens, PATs, 3 % legacy "
        f"keys, 2 % retired-endpoint calls, 2 % PATs advised by the Terraform client rule, 1 % account "
        f"mismatches over 2,000 accounts and 50,000 token ids, one line in 997 cut short — then runs "
        f"`tokengate report --format json` over it {len(runs)} time(s), each a fresh process.",
        "",
        "| runs | lines per second (wall) | lines per second (CPU) | MiB per second | peak RSS |",
        "|---:|---:|---:|---:|---:|",
        f"| {len(runs)} | {med(rate):,.0f} ({min(rate):,.0f} – {max(rate):,.0f}) | "
        f"{med(cpu_rate):,.0f} | {med(mbps):,.0f} | {rss:.1f} MiB |",
        "",
        "Peak RSS is the largest of the runs (`ru_maxrss`). It is bounded by the report's limits, not by "
        "the log: 5,000 entries per list, 16 values per entry, 160 bytes per value (docs/decisions.md); "
        "this log fills the advised-PAT and mismatch lists with thousands of distinct tokens, near the "
        "worst case for a real edge. Reading is one reused line buffer; the log is never held.",
        "",
    ]
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print("\n".join(section(json.load(f))))
