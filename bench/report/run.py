#!/usr/bin/env python3
"""`tokengate report` over a generated access log: lines per second and peak resident memory.

    python3 bench/report/run.py --cli target/release/tokengate --mib 1024 --runs 3 --out report.json

Generates (once, then reuses) a log of about `--mib` MiB in the format envoy/README.md defines:
a realistic mix — mostly allowed PAT and service-token calls over many accounts and job ids, a
few percent legacy keys and retired endpoints, client advice, mismatches, some garbage lines —
then runs the report over it `--runs` times, each as a fresh process, reading its wall time and
its peak RSS (ru_maxrss of the child). Loopback-free, bounded by the log's size.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

AGENTS = ["python-requests/2.31.0", "terraform-provider-dbtcloud/1.3.0", "curl/8.5.0",
          "dbt-cloud-cli/0.9", "Go-http-client/2.0", "Hightouch/1.0", "node-fetch/1.0"]
ENDPOINTS = ["/api/v2/accounts/{a}/jobs/", "/api/v2/accounts/{a}/runs/{n}/", "/api/v2/accounts/{a}/jobs/{n}/run/",
             "/api/v3/accounts/{a}/projects/{n}/", "/api/v2/accounts/{a}/runs/{n}/artifacts/manifest.json"]


def line(rng: random.Random, t: float) -> str:
    a = str(70471823510118 + rng.randrange(2000))
    n = str(rng.randrange(1, 10**6))
    path = rng.choice(ENDPOINTS).format(a=a, n=n)
    ua = rng.choice(AGENTS)
    r = rng.random()
    kind, code, client, advice, would = "pat", "ok", None, None, None
    token = f"{rng.randrange(50000):012x}"
    if r < 0.50:
        kind = "service"
    elif r < 0.53:
        kind, token = "user_key", f"{rng.randrange(40):012x}"
        advice = "user_key_deprecated"
    elif r < 0.55:
        path, code, would, kind = "/api/v2/accounts/", "endpoint_sunset", "endpoint_sunset", "user_key"
    elif r < 0.57:
        ua, client, advice = "terraform-provider-dbtcloud/1.3.0", "production Terraform", "service_token_advised"
    elif r < 0.58:
        code = would = "account_mismatch"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    doc = {"time": stamp, "method": "GET", "path": path, "status": 200, "user_agent": ua,
           "authority": "ab123.us1.dbt.com", "code": code, "token_id": token, "token_kind": kind,
           "account_id": a if code == "ok" else None, "client": client, "would_deny": would, "advice": advice}
    return json.dumps(doc, separators=(",", ":"))


def generate(path: str, mib: int) -> int:
    """Writes the log unless one of at least that size is there; returns its line count."""
    want = mib << 20
    meta = path + ".lines"
    if os.path.exists(path) and os.path.getsize(path) >= want and os.path.exists(meta):
        return int(open(meta).read())
    rng = random.Random(11)
    start = 1_793_491_200  # 2026-11-01T00:00:00Z
    span = 30 * 86_400
    n, size = 0, 0
    with open(path, "w") as f:
        chunk = []
        while size < want:
            s = line(rng, start + span * size / want)
            if n % 997 == 0:
                s = s[: len(s) // 2]  # a line cut short, as a rotated log's last line is
            chunk.append(s)
            size += len(s) + 1
            n += 1
            if len(chunk) == 20000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")
    with open(meta, "w") as f:
        f.write(str(n))
    return n


def run_once(cli: str, path: str) -> dict:
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([cli, "report", "--format", "json", "--quiet", path], capture_output=True, timeout=1800)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        sys.exit(f"tokengate report failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
    doc = json.loads(p.stdout)
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "maxrss_kib": after.ru_maxrss, "requests": doc["requests"], "unparseable": doc["unparseable_lines"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--log", default="target/bench/access.log")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.log) or ".", exist_ok=True)
    t0 = time.perf_counter()
    lines = generate(a.log, a.mib)
    print(f"log: {a.log}, {os.path.getsize(a.log) / 2**20:.0f} MiB, {lines:,} lines ({time.perf_counter() - t0:.1f} s)")
    runs = []
    for i in range(a.runs):
        # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: the peak over the runs.
        runs.append(run_once(a.cli, a.log))
        print(f"run {i + 1}: {runs[-1]['wall_s']:.2f} s wall, {runs[-1]['cpu_s']:.2f} s CPU, "
              f"{lines / runs[-1]['wall_s']:,.0f} lines/s, peak RSS {runs[-1]['maxrss_kib'] / 1024:.1f} MiB")
    out = {"log_bytes": os.path.getsize(a.log), "lines": lines, "runs": runs}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
