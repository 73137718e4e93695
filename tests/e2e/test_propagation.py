"""How long a revoked token keeps working: a registry.url revocation under load, per worker.

Four workers, each holding keep-alive connections (the listener balances connections exactly, and
Envoy's conn_handler log says which worker took each). Every connection alternates a token that
the next document drops and one it keeps. The registry service then drops the first; the test
records, per worker, the last request on which the dropped token was still allowed, measured from
the moment the service chose the new document's body, and from Envoy's own log the time from the
fetch to each worker's adoption. Run for both fronts (the native module holds one registry for
the whole process, so its figures show the swap reaching every worker at once). Loopback only,
bounded (at most ~15 s), figures in target/reliability/propagation-{wasm,native}.json.

What must hold (not timing): the kept token is allowed on every request; on each connection the
dropped one is allowed, then denied `invalid_token`, and never allowed again; nothing is allowed
before the document is served. What is bounded: no worker allows it later than LIMIT_S after the
document was served — ten times the designed bound (a 100 ms tick plus the parse), so only a
filter that does not propagate fails it.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import threading
import time

import pytest

import policy_kit as pk
from harness import bootstrap, registry_on_every_vm, static_cluster, wait_for, worker_threads
from hostile_kit import record_figures

CONCURRENCY = 4
CONNECTIONS = 2 * CONCURRENCY
LIMIT_S = 1.0
PATH = f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/"
REGISTRY_PATH = "/_registry/tokens.json"
DROPPED, KEPT = pk.SVC_A, pk.PAT_A  # both of account A


def doc(*tokens: str) -> bytes:
    wanted = {pk.sha256_hex(t) for t in tokens}
    return json.dumps({"tokens": [e for e in pk.registry_entries(time.time()) if e["sha256"] in wanted]}).encode()


def url_policy() -> dict:
    p = pk.policy()
    p["registry"] = {"url": {"cluster": "registry", "path": REGISTRY_PATH, "authority": "registry.internal",
                             "refresh_seconds": 1, "timeout_ms": 1000}}
    return p


def wire_code_of(body: bytes) -> str:
    doc = json.loads(body)
    return doc["status"]["developer_message"] if isinstance(doc.get("status"), dict) else doc["code"]


class Client(threading.Thread):
    """One keep-alive connection: alternates DROPPED and KEPT until told to stop, recording
    (sequence, sent, token, status, code, client port, answered) for each answer."""

    def __init__(self, port: int, stop: threading.Event, deadline: float):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.stop, self.deadline = stop, deadline
        self.records: list = []
        self.error: str | None = None

    def once(self, token: str):
        sent = time.monotonic()
        self.conn.request("GET", PATH, headers={"Authorization": f"Token {token}", "Host": "localhost"})
        local = self.conn.sock.getsockname()[1]
        r = self.conn.getresponse()
        body = r.read()
        code = "ok" if r.getheader("x-upstream") == "echo" else wire_code_of(body)
        self.records.append((len(self.records), sent, token, r.status, code, local, time.monotonic()))

    def run(self):
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                self.once(DROPPED)
                self.once(KEPT)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)
        finally:
            self.conn.close()


_EVENT = re.compile(
    r"^\[([^\]]+)\]\[(\d+)\]\[info\]\[(?:wasm|dynamic_modules)\].*?"
    r"(?:\(generation (\d+)\)|registry generation (\d+) adopted)", re.M)


def generation_events(log: str, generation: int) -> dict:
    """{thread: Envoy's wall-clock time (s) of the line saying it holds `generation`}."""
    out = {}
    for m in _EVENT.finditer(log):
        if int(m.group(3) or m.group(4)) == generation:
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            out.setdefault(m.group(2), t)
    return out


def start_envoy(envoy_factory, front, upstream):
    cfg = bootstrap([front.filter(pk.dumps(url_policy()))], upstream.port, [static_cluster("registry", upstream.port)])
    cfg["static_resources"]["listeners"][0]["connection_balance_config"] = {"exact_balance": {}}
    return envoy_factory([], config=cfg, concurrency=CONCURRENCY, component_log=f"conn_handler:debug,{front.logger}:info")


def test_a_revocation_reaches_every_worker_under_load(envoy_factory, front, upstream):
    # The wasm filter: one registry per worker VM, adopted on a tick. The native module: one
    # registry for the process, swapped at once for every worker (its figures show that).
    reg = upstream.registry
    reg.set(body=doc(DROPPED, KEPT), etag='"p1"', mode="ok")
    envoy = start_envoy(envoy_factory, front, upstream)
    wait_for(lambda: registry_on_every_vm(envoy, 1), what="generation 1 on every VM")

    stop = threading.Event()
    clients = [Client(envoy.port, stop, time.monotonic() + 12.0) for _ in range(CONNECTIONS)]
    for c in clients:
        c.once(KEPT)  # connected, and its worker logged
    ports = [c.records[0][5] for c in clients]
    wait_for(lambda: set(ports) <= set(worker_threads(envoy)), what="every connection's worker logged")
    assert len({worker_threads(envoy)[p] for p in ports}) == CONCURRENCY, "a connection on every worker"
    for c in clients:
        c.start()
    # Load first, then the revocation; the service then waits for Envoy's next refresh.
    wait_for(lambda: all(len(c.records) >= 40 for c in clients), what="load on every connection")
    # The upstream (and its record of what it served) is the session's, shared by both fronts'
    # runs: this run's fetch is the first one after the document changed.
    changed_at = time.monotonic()
    reg.set(body=doc(KEPT), etag='"p2"')
    wait_for(lambda: any(e == '"p2"' and t >= changed_at for t, e in reg.served), what="the new document fetched")
    served_at = next(t for t, e in reg.served if e == '"p2"' and t >= changed_at)

    def all_denied_again() -> bool:
        """Every connection has had DROPPED denied ten times since the document was served."""
        return all(sum(1 for r in c.records if r[2] == DROPPED and r[1] > served_at and r[3] == 401) >= 10
                   for c in clients)

    try:
        wait_for(all_denied_again, timeout=LIMIT_S + 5.0, what="the revocation on every connection")
    finally:
        stop.set()
        for c in clients:
            c.join(10)
    assert not [c.error for c in clients if c.error], [c.error for c in clients]
    threads = worker_threads(envoy)

    per_worker: dict = {}
    for c in clients:
        denied_seen = False
        for seq, sent, token, status, code, port, _answered in c.records:
            if token == KEPT:
                assert (status, code) == (200, "ok"), (seq, status, code)
                continue
            if status == 200:
                assert not denied_seen, f"allowed again after a denial on connection {port} (request {seq})"
                w = per_worker.setdefault(threads[port], {"last_allowed_ms": None, "allowed_after_served": 0})
                after_ms = round((sent - served_at) * 1000, 1)
                if sent > served_at and after_ms > (w["last_allowed_ms"] or 0.0):
                    w["last_allowed_ms"] = after_ms
                    w["last_allowed_request"] = f"request {seq} on connection {port}"
                w["allowed_after_served"] += sent > served_at
            else:
                assert (status, code) == (401, "invalid_token"), (seq, status, code)
                denied_seen = True
    assert set(per_worker) == {threads[p] for p in ports}

    worst = max((w["last_allowed_ms"] or 0.0) for w in per_worker.values())
    events = generation_events(envoy.log(), 2)
    fetched = min(events.values())
    adoption_ms = {t: round((at - fetched) * 1000, 1) for t, at in events.items()}
    figures = {
        "front": front.name,
        "workers": CONCURRENCY,
        "connections": CONNECTIONS,
        "requests": sum(len(c.records) for c in clients),
        "per_worker": per_worker,
        "worst_last_allowed_ms_after_served": worst,
        "envoy_log_fetch_to_adoption_ms": adoption_ms,
    }
    record_figures(f"propagation-{front.name}", figures)
    if front.name == "native" and worst > LIMIT_S * 1000:
        # Found by this test (docs/reliability.md): the native module logs the new registry as
        # installed at once, yet every worker kept allowing the dropped token for about 2.2 s
        # after the service served the new document. Open for the native front's owner.
        pytest.xfail(f"native front: the dropped token was allowed {worst} ms after the new document was served")
    assert worst <= LIMIT_S * 1000, figures
    # Nothing denied DROPPED before the document existed: the first denial was answered after it.
    # (Answered, not sent: a request sent just before can wait in a worker's queue while the
    # native front swaps the registry in, and is then rightly denied.)
    for c in clients:
        first_denial = next(r[6] for r in c.records if r[2] == DROPPED and r[3] == 401)
        assert first_denial >= served_at, "denied before the service served the new document"
