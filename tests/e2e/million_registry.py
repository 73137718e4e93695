"""A million-entry registry over registry.url inside a real Envoy: memory, propagation, a swap
under load. Not part of the test command (it takes a few minutes and a few GiB); run it by hand:

    .venv/bin/python tests/e2e/million_registry.py                 # --concurrency 2 and 4
    .venv/bin/python tests/e2e/million_registry.py --concurrency 4 --entries 200000
    .venv/bin/python tests/e2e/million_registry.py --front native   # the dynamic-module front

Needs the built fronts (bash envoy/build.sh). Loopback only; every wait is bounded; Envoy is always stopped.
For each concurrency it prints one JSON object (and writes target/reliability/million-N.json):

- Envoy's resident memory (VmRSS) before any registry, after the first document, after a swap to
  a second one (one token dropped, one added, the rest the same);
- from the registry service choosing the document to every VM holding it: the fetcher's own
  time (the service choosing the body to the fetcher's "loaded" line: the transfer, Envoy's
  buffering, the JSON parse and the store on the fetcher's thread), then per VM, from Envoy's own
  log, the time of its "loaded"/"adopted" line after the fetcher's;
- requests served on keep-alive connections during the swap: errors (anything but 200/401,
  including resets and timeouts) and wrong decisions (the kept token denied, the dropped one
  allowed after its connection saw it denied, the added one denied after it was allowed), and
  how long the slowest requests took (a worker busy adopting or parsing holds its requests).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import policy_kit as pk  # noqa: E402
from harness import (  # noqa: E402
    ARTIFACTS, ROOT, Envoy, Front, Upstream, bootstrap, registry_on_every_vm, static_cluster, wait_for)
from test_propagation import generation_events, wire_code_of  # noqa: E402

PATH = f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/"
KEEP_LOG = True
KEPT, DROPPED, ADDED = pk.PAT_A, pk.pat("million-dropped"), pk.pat("million-added")


def entry(digest: str) -> str:
    return f'{{"sha256":"{digest}","kind":"pat","account_id":"{pk.ACCOUNT_A}"}}'


def document(n: int, tokens: list) -> bytes:
    filler = (hashlib.sha256(i.to_bytes(8, "little")).hexdigest() for i in range(n - len(tokens)))
    real = [entry(pk.sha256_hex(t)) for t in tokens]
    return ('{"tokens":[' + ",".join([*real, *map(entry, filler)]) + "]}").encode()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Load(threading.Thread):
    """One keep-alive connection cycling KEPT, DROPPED, ADDED until stopped (at most `seconds`)."""

    def __init__(self, port: int, stop: threading.Event, seconds: float):
        super().__init__(daemon=True)
        self.port, self.stop, self.deadline = port, stop, time.monotonic() + seconds
        self.served = self.errors = self.wrong = 0
        self.latencies: list = []
        self.state = {DROPPED: "allowed", ADDED: "denied"}
        self.notes: list = []

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            for token in (KEPT, DROPPED, ADDED):
                sent = time.monotonic()
                try:
                    conn.request("GET", PATH, headers={"Authorization": f"Token {token}", "Host": "localhost"})
                    r = conn.getresponse()
                    body = r.read()
                    self.latencies.append(time.monotonic() - sent)
                except Exception as e:  # noqa: BLE001 - an error is what is counted
                    self.errors += 1
                    self.notes.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                    continue
                self.served += 1
                allowed = r.status == 200 and r.getheader("x-upstream") == "echo"
                if not allowed and (r.status != 401 or wire_code_of(body) != "invalid_token"):
                    self.errors += 1
                    self.notes.append(f"{token[:8]}: {r.status}")
                    continue
                self.check(token, allowed)
        conn.close()

    def check(self, token: str, allowed: bool):
        if token == KEPT:
            self.wrong += not allowed
        elif token == DROPPED:
            if allowed and self.state[DROPPED] == "denied":
                self.wrong += 1
            self.state[DROPPED] = "allowed" if allowed else "denied"
        else:
            if not allowed and self.state[ADDED] == "allowed":
                self.wrong += 1
            self.state[ADDED] = "allowed" if allowed else "denied"


# Envoy's log is in wall-clock time, the registry service's record in monotonic time.
WALL_MINUS_MONOTONIC = time.time() - time.monotonic()


def propagation(envoy: Envoy, generation: int, reg, etag: str) -> dict:
    events = generation_events(envoy.log(), generation)
    first = min(events.values())
    served = min((t for t, e in reg.served if e == etag), default=None)
    return {
        "fetcher_ms": None if served is None else round((first - WALL_MINUS_MONOTONIC - served) * 1000),
        "vms": len(events),
        "after_fetcher_ms": sorted(round((t - first) * 1000) for t in events.values()),
    }


def latency(load: list) -> dict:
    ms = sorted(x * 1000 for c in load for x in c.latencies)
    if not ms:
        return {}
    at = lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 1)  # noqa: E731
    return {"p50": at(0.5), "p99": at(0.99), "max": round(ms[-1], 1), "over_1s": sum(x > 1000 for x in ms)}


def run(concurrency: int, entries: int, front: Front, connections: int, component_log: str) -> dict:
    t0 = time.monotonic()
    gen1, gen2 = document(entries, [KEPT, DROPPED]), document(entries, [KEPT, ADDED])
    made_s = round(time.monotonic() - t0, 1)
    up = Upstream(record=False).start()
    reg = up.registry
    reg.set(body=gen1, etag='"m1"', mode="error")
    policy = pk.policy()
    policy["registry"] = {"url": {"cluster": "registry", "path": "/_registry/million.json",
                                  "refresh_seconds": 5, "timeout_ms": 30000}}
    cfg = bootstrap([front.filter(pk.dumps(policy))], up.port, [static_cluster("registry", up.port, 30.0)])
    # A registry document over 32 MiB needs Envoy's async-client body limit raised (envoy/README.md).
    cfg["layered_runtime"] = {"layers": [{"name": "static", "static_layer": {"http.async_response_buffer_limit": 512 << 20}}]}
    with tempfile.TemporaryDirectory() as work:
        envoy = Envoy(cfg, Path(work), concurrency=concurrency, component_log=component_log)
        try:
            envoy.start()
            failed = f"{front.stat_prefix}.registry.fetch_failed"
            wait_for(lambda: envoy.stats("tokengate").get(failed, 0) >= 1,
                     timeout=30, what="a first (refused) fetch")
            before = rss_mib(envoy.proc.pid)
            reg.set(mode="ok")
            wait_for(lambda: registry_on_every_vm(envoy, 1), timeout=180, interval=0.25, what="generation 1 on every VM")
            loaded = rss_mib(envoy.proc.pid)
            first = propagation(envoy, 1, reg, '"m1"')

            stop = threading.Event()
            load = [Load(envoy.port, stop, 240) for _ in range(connections)]
            for c in load:
                c.start()
            wait_for(lambda: all(c.served >= 30 for c in load), timeout=60, what="load on every connection")
            reg.set(body=gen2, etag='"m2"')
            wait_for(lambda: registry_on_every_vm(envoy, 2), timeout=180, interval=0.25, what="generation 2 on every VM")
            # A little more load on the new generation, then stop.
            served_at_swap = sum(c.served for c in load)
            wait_for(lambda: sum(c.served for c in load) >= served_at_swap + 300, timeout=60, what="load after the swap")
            stop.set()
            for c in load:
                c.join(30)
            swapped = rss_mib(envoy.proc.pid)
            return {
                "front": front.name,
                "concurrency": concurrency,
                "entries": entries,
                "document_mib": round(len(gen1) / 2**20, 1),
                "documents_made_s": made_s,
                "rss_mib": {"before": before, "after_load": loaded, "after_swap": swapped},
                "first_load": first,
                "swap": propagation(envoy, 2, reg, '"m2"'),
                "requests_during_swap": sum(c.served for c in load),
                "latency_ms_during_swap": latency(load),
                "errors": sum(c.errors for c in load),
                "wrong_decisions": sum(c.wrong for c in load),
                "notes": [n for c in load for n in c.notes][:10],
                "fetches": reg.fetch_count(),
            }
        finally:
            envoy.stop()
            up.stop()
            if KEEP_LOG:
                (ROOT / "target" / "reliability" / f"million-{front.name}-{concurrency}-envoy.log").write_text(envoy.log())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concurrency", type=int, action="append")
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--front", choices=["wasm", "native"], default="wasm")
    ap.add_argument("--wasm", type=Path, help="the proxy-wasm module (default: envoy/build.sh's)")
    args = ap.parse_args()
    front = Front("wasm", args.wasm or ARTIFACTS / "tokengate.wasm") if args.front == "wasm" else Front("native", ARTIFACTS)
    out_dir = ROOT / "target" / "reliability"
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for n in args.concurrency or [2, 4]:
        figures = run(n, args.entries, front, args.connections, f"{front.logger}:info")
        (out_dir / f"million-{front.name}-{n}.json").write_text(json.dumps(figures, indent=1) + "\n")
        print(json.dumps(figures), flush=True)
        failed |= figures["errors"] > 0 or figures["wrong_decisions"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
