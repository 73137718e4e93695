"""What the hostile-traffic, fault and soak tests share: the CLI as the oracle for what the core
decides, the reading of an answer (the filter's, the upstream's or Envoy's own), the leak scanner,
the VM-health and counter snapshots, a bounded background load, and the figures file.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import policy_kit as pk
from harness import ROOT, RawResponse, tokengate_stats

FIGURES_DIR = ROOT / "target" / "reliability"
STRIP = ("x-dbt-account-id", "x-dbt-token-kind", "x-dbt-token-id", "x-tokengate-would-deny")
DENIAL_HEADERS = ("cache-control", "content-type", "www-authenticate", "sunset", "link", "deprecation")


# --------------------------------------------------------------------------------------------
# The oracle: `tokengate check` decides the same request the filter saw.
# --------------------------------------------------------------------------------------------


def stand_in(b: bytes) -> str:
    """The CLI takes UTF-8 arguments without NUL. Every byte the core treats as "not printable
    ASCII" (NUL, and 0x80-0xff) becomes 0x01, which the core puts in the same class everywhere
    (path: control or non-ASCII; token: bad character; host: no account). One byte for one, so
    lengths, and so decisions and messages, are unchanged."""
    return bytes(0x01 if (c == 0 or c >= 0x80) else c for c in b).decode("ascii")


def as_envoy_joins(headers) -> list:
    """The headers as a filter receives them from Envoy: repeated Authorization lines joined into
    the first one's place, comma-separated, each value trimmed of spaces and tabs, empty ones
    dropped (Envoy's inline-header append). The upstream receives that same one value."""
    out, at = [], None
    for n, v in headers:
        n = n.encode() if isinstance(n, str) else n
        v = v.encode() if isinstance(v, str) else v
        if n.strip().lower() != b"authorization":
            out.append((n, v))
            continue
        v = v.strip(b" \t")
        if at is None:
            at = len(out)
            out.append((n, v))
        elif v:
            first = out[at][1]
            out[at] = (out[at][0], first + b"," + v if first else v)
    return out


class Oracle:
    """Decisions of the release CLI for requests given as bytes, cached, at one fixed `now`."""

    def __init__(self, cli_bin: Path, policies: dict, workdir: Path, now: float):
        self.cli = str(cli_bin)
        self.now = pk.rfc3339(now)
        self.files = {}
        for name, p in policies.items():
            f = Path(workdir) / f"policy-{name}.json"
            f.write_text(json.dumps(p))
            self.files[name] = f
        self._cache: dict = {}
        self.calls = 0

    def decide(self, policy: str, method: bytes, target: bytes, authority: bytes | None, headers) -> dict:
        """`headers`: [(name, value)] as bytes or str. Only the headers the core reads are passed
        (Authorization, Accept, Host); the rest cannot change a decision."""
        hs = []
        for n, v in headers:
            n = n.encode() if isinstance(n, str) else n
            v = v.encode() if isinstance(v, str) else v
            if n.strip().lower() in (b"authorization", b"accept", b"host"):
                hs.append((n, v))
        key = (policy, method, target, authority, tuple(hs))
        if key in self._cache:
            return self._cache[key]
        args = [self.cli, "check", "--policy", str(self.files[policy]), "--method", stand_in(method),
                f"--url={stand_in(target)}", "--now", self.now]
        if authority is not None:
            args += ["-H", f"Host: {stand_in(authority)}"]
        for n, v in hs:
            args += ["-H", f"{stand_in(n)}: {stand_in(v)}"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        self.calls += 1
        if p.returncode not in (0, 1):
            raise AssertionError(f"tokengate check failed ({p.returncode}): {p.stderr}")
        d = json.loads(p.stdout)
        self._cache[key] = d
        return d


# --------------------------------------------------------------------------------------------
# Reading an answer.
# --------------------------------------------------------------------------------------------


def filter_code(body: bytes) -> str | None:
    """The code in a denial the filter wrote (dbt envelope or RFC 9457), else None."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    st = doc.get("status")
    if isinstance(st, dict) and isinstance(st.get("developer_message"), str):
        return st["developer_message"]
    if isinstance(doc.get("code"), str) and "type" in doc:
        return doc["code"]
    return None


@dataclass
class Outcome:
    """Who answered: `upstream` (the filter let it through), `filter` (a denial), or `envoy`
    (Envoy's codec or connection manager refused it before the filter: a 4xx, a stream reset or a
    closed connection)."""

    who: str
    status: int | None
    code: str | None
    detail: str = ""


def classify(r: RawResponse) -> Outcome:
    # Envoy's router stamps what came from upstream; local replies (the filter's, the codec's)
    # have no such header.
    if r.status is not None and (r.header("x-upstream") == b"echo" or r.header("x-envoy-upstream-service-time") is not None):
        return Outcome("upstream", r.status, "ok")
    code = filter_code(r.body) if r.status is not None else None
    if code is not None:
        return Outcome("filter", r.status, code)
    return Outcome("envoy", r.status, None, r.error or (r.body[:60].decode("latin-1") if r.body else ""))


def upstream_seen(r: RawResponse) -> dict:
    """What the echo upstream received, as {name: [values]}."""
    out: dict = {}
    for k, v in json.loads(r.body)["headers"]:
        out.setdefault(k, []).append(v)
    return out


def check_against(r: RawResponse, d: dict) -> list:
    """Mismatches between an answer and the core's decision `d` ([] when they agree). An answer
    from Envoy itself must be a 4xx or a reset/close, never a 5xx."""
    o = classify(r)
    bad = []
    if o.status is not None and o.status >= 500:
        bad.append(f"5xx from {o.who}: {o.status} {o.detail}")
    if o.who == "upstream":
        if not d["allow"]:
            bad.append(f"let through, but the core says {d['status']} {d['code']}")
        elif r.header("x-upstream") != b"echo":
            pass  # the upstream itself refused it (a request line too long for it): let through, as decided
        else:
            seen = upstream_seen(r)
            for name in STRIP:
                want = d["upstream_headers"].get(name)
                got = seen.get(name)
                if got != ([want] if want is not None else None):
                    bad.append(f"upstream got {name}={got}, core says {want}")
            for name in ("deprecation", "sunset", "link"):
                want = d["response_headers"].get(name)
                got = r.header(name)
                if (got.decode() if got is not None else None) != want:
                    bad.append(f"response {name}={got!r}, core says {want!r}")
    elif o.who == "filter":
        if d["allow"] or (o.status, o.code) != (d["status"], d["code"]):
            bad.append(f"filter answered {o.status} {o.code}, core says {d['status']} {d['code']}")
        elif r.body.decode("utf-8", "replace") != d["body"]:
            bad.append("denial body differs from the core's")
        else:
            for name in DENIAL_HEADERS:
                want = d["response_headers"].get(name)
                got = r.header(name)
                if (got.decode() if got is not None else None) != want:
                    bad.append(f"denial header {name}={got!r}, core says {want!r}")
    elif o.status is not None and not 400 <= o.status < 500:
        bad.append(f"Envoy answered {o.status} itself")
    return bad


# --------------------------------------------------------------------------------------------
# Leaks: the tokens (and their digests) must appear in no denial, no response header, no header
# the filter sets upstream, and no log line.
# --------------------------------------------------------------------------------------------


class LeakScanner:
    def __init__(self, tokens):
        needles = set()
        for t in tokens:
            t = t.encode() if isinstance(t, str) else t
            if len(t) < 16:  # too short to be told apart from ordinary text
                continue
            needles.add(t)
            needles.add(pk.sha256_hex(t.decode("latin-1")).encode())
            if t[:5] in (b"dbtu_", b"dbtc_") and len(t) > 21:
                needles.add(t[5:])  # the body alone is as secret as the token
        self.needles = sorted(needles)
        self.scanned = 0
        self.leaks: list = []

    def scan(self, where: str, data: bytes):
        """One artifact (an answer's headers, a body, a log): a leak if it holds any secret."""
        self.scanned += 1
        for n in self.needles:
            if n in data:
                self.leaks.append((where, n[:8].decode("latin-1") + "..."))
                return

    def scan_response(self, where: str, r: RawResponse):
        """Headers of every answer; the body unless the echo upstream wrote it (it reflects the
        request, Authorization included, by design)."""
        self.scan(where + " headers", b"\n".join(k + b": " + v for k, v in r.headers))
        if r.header("x-upstream") == b"echo":
            seen = upstream_seen(r)
            self.scan(where + " upstream identity headers",
                      json.dumps({k: v for k, v in seen.items() if k in STRIP}).encode())
        else:
            self.scan(where + " body", r.body)

    def scan_log(self, log: str):
        self.scan("envoy log", log.encode("utf-8", "replace"))


# --------------------------------------------------------------------------------------------
# VM health and counters.
# --------------------------------------------------------------------------------------------

# Envoy 1.40's names. A trap under FAIL_RELOAD bumps wasm.<plugin>.vm_reload (and creates a new
# VM: runtime.v8.created); FAIL_CLOSED/OPEN would show in the same place as failed VMs.
VM_STATS = ("wasm.envoy.wasm.runtime.v8.created", "wasm.wasm_vm_count")
VM_FAILURE_STATS = ("wasm.tokengate.vm_reload", "wasm.tokengate.vm_reload_failure", "wasm.tokengate.vm_reload_backoff")
LOG_FAILURE_MARKS = ("panicked", "panic", "[critical]", "failing closed", "RuntimeError", "Function: proxy_on", "wasm trap",
                     "Wasm VM failed", "Plugin configured to fail closed")


def vm_snapshot(envoy) -> dict:
    s = envoy.stats("wasm")
    return {k: s.get(k, 0) for k in VM_STATS + VM_FAILURE_STATS}


def vm_problems(before: dict, after: dict, log: str, new_vms_expected: bool = False) -> list:
    """What shows a VM failed: a reload or its back-off, a VM created (other than by a
    configuration update, `new_vms_expected`), a panic or wasm failure in `log`."""
    out = []
    for k in VM_STATS:
        if not new_vms_expected and after[k] != before[k]:
            out.append(f"{k}: {before[k]} -> {after[k]}")
    for k in VM_FAILURE_STATS:
        if after[k] != 0:
            out.append(f"{k} = {after[k]}")
    for line in log.splitlines():
        if any(m in line for m in LOG_FAILURE_MARKS):
            out.append("log: " + line[:300])
    return out


def filter_counters(envoy) -> Counter:
    """allowed / denied.<code> / deprecated_served / would_deny.<code>, as counted by the filter."""
    out = Counter()
    for name, v in tokengate_stats(envoy).items():
        if name == "allowed" or name == "deprecated_served" or name.startswith(("denied.", "report.")):
            out[name] = v
    return out


def counter_delta(before: Counter, after: Counter) -> Counter:
    return Counter({k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)})


def expected_counters(decisions) -> Counter:
    """What the filter's counters must have moved by, for these decisions (each a CLI dict)."""
    c = Counter()
    for d in decisions:
        if d["allow"]:
            c["allowed"] += 1
            if "deprecation" in d["response_headers"]:
                c["deprecated_served"] += 1
        else:
            c["denied." + d["code"]] += 1
    return c


def hcm_stats(envoy) -> dict:
    s = envoy.stats("http.ingress.downstream_rq")
    return {k.removeprefix("http.ingress."): v for k, v in s.items() if k.startswith("http.ingress.")}


# --------------------------------------------------------------------------------------------
# Figures: each test writes what it measured; docs/reliability.md quotes them.
# --------------------------------------------------------------------------------------------


def record_figures(name: str, figures: dict):
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"figures {name}: {json.dumps(figures, sort_keys=True)}")


# --------------------------------------------------------------------------------------------
# A bounded load over keep-alive connections, with every answer checked.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One request the load repeats, and what the core decides for it."""

    id: str
    method: str
    path: str
    headers: tuple = ()
    host: str = "api.example.com"

    def wire(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def h2_headers(self) -> list:
        h = [(b":method", self.method.encode()), (b":scheme", b"http"), (b":authority", self.host.encode()),
             (b":path", self.path.encode())]
        return h + [(k.lower().encode(), v.encode()) for k, v in self.headers]


@dataclass
class LoadResult:
    sent: int = 0
    answered: int = 0
    lost: list = field(default_factory=list)  # (template id, why)
    mismatches: list = field(default_factory=list)  # (template id, why)
    by_template: Counter = field(default_factory=Counter)
    by_code: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    decisions: list = field(default_factory=list)  # the decision each answer matched, for counters
    reconnects: int = 0
    h2_requests: int = 0

    def merge(self, o: "LoadResult"):
        self.sent += o.sent
        self.answered += o.answered
        self.lost += o.lost
        self.mismatches += o.mismatches
        self.by_template.update(o.by_template)
        self.by_code.update(o.by_code)
        self.statuses.update(o.statuses)
        self.decisions += o.decisions
        self.reconnects += o.reconnects
        self.h2_requests += o.h2_requests


class _H1Conn:
    """A keep-alive HTTP/1.1 connection for the load (raw, so the bytes sent are the template's)."""

    def __init__(self, port: int):
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, t: Template) -> RawResponse:
        from harness import _read_http1_response

        self.sock.sendall(t.wire())
        r, self.buf = _read_http1_response(self.sock, self.buf)
        return r

    def close(self):
        self.sock.close()


class Load:
    """`threads` clients, each on one keep-alive connection (HTTP/1.1, or HTTP/2 for the
    `h2_threads` last ones), sending templates in a seeded random order until `stop()` or
    `deadline`, or `max_requests` each. `accept(template)` gives the decisions an answer may
    match (several while a policy is being replaced); every answer is checked against them."""

    def __init__(self, port: int, templates: list, accept, threads: int = 2, h2_threads: int = 0,
                 seconds: float = 60.0, max_requests: int = 10**9, seed: int = 1, scanner: LeakScanner | None = None):
        self.port, self.templates, self.accept = port, templates, accept
        self.n, self.h2n = threads, h2_threads
        self.deadline = time.monotonic() + seconds
        self.max_requests, self.seed, self.scanner = max_requests, seed, scanner
        self._stop = threading.Event()
        self._results: list = []
        self._threads: list = []
        self._lock = threading.Lock()

    def start(self) -> "Load":
        for i in range(self.n):
            t = threading.Thread(target=self._run, args=(i, i >= self.n - self.h2n), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        out = LoadResult()
        for r in self._results:
            out.merge(r)
        return out

    def wait(self) -> LoadResult:
        for t in self._threads:
            t.join(timeout=max(0.0, self.deadline - time.monotonic()) + 30)
        return self.stop()

    def progress(self) -> int:
        return sum(getattr(t, "sent", 0) for t in self._threads)

    def _connect(self, h2: bool):
        from harness import H2Client

        return H2Client(self.port) if h2 else _H1Conn(self.port)

    def _run(self, i: int, h2: bool):
        rng = random.Random(self.seed * 1000 + i)
        res = LoadResult()
        me = threading.current_thread()
        conn = None
        try:
            while not self._stop.is_set() and time.monotonic() < self.deadline and res.sent < self.max_requests:
                t = rng.choice(self.templates)
                if conn is None:
                    conn = self._connect(h2)
                res.sent += 1
                me.sent = res.sent
                try:
                    r = conn.request(t.h2_headers()) if h2 else conn.send(t)
                except OSError as e:
                    r = RawResponse(None, [], b"", f"{type(e).__name__}: {e}")
                if r.status is None or r.error:
                    res.lost.append((t.id, r.error or "no status"))
                    conn.close()
                    conn = None
                    res.reconnects += 1
                    continue
                res.answered += 1
                res.h2_requests += h2
                res.statuses[r.status] += 1
                options = self.accept(t)
                errs = None
                for d in options:
                    e = check_against(r, d)
                    if not e:
                        res.decisions.append(d)
                        res.by_code[d["code"]] += 1
                        errs = None
                        break
                    errs = e
                if errs is not None or not options:
                    res.mismatches.append((t.id, errs))
                res.by_template[t.id] += 1
                if self.scanner is not None:
                    with self._lock:
                        self.scanner.scan_response(t.id, r)
                # Envoy closes after some answers (Connection: close); follow it.
                if not h2 and (r.header("connection") or b"").lower() == b"close":
                    conn.close()
                    conn = None
                    res.reconnects += 1
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                self._results.append(res)


def env_seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default
