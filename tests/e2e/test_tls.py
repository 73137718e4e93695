"""TLS at the edge: envoy/production.yaml, run end to end.

The shipped file, with only what a deployment changes (the names marked CHANGE: certificate,
module, upstream addresses; ports on loopback, picked by the kernel) and `"mode": "enforce"`, the
rollout's second step. The certificate is made here with the openssl CLI; both upstreams (the API
and the registry service) are the test's echo server behind TLS, as production.yaml expects.

Clients: curl, verifying the certificate, over HTTP/1.1 and over HTTP/2 (ALPN h2); and raw TLS
sockets that trickle a request over seconds. A slow head is not the filter's business (it
decides once the head is complete), a slow body never holds a decision, and a head that never
ends is cut by Envoy's request_headers_timeout. Every answer is checked to be its own request's
decision, and no token or digest reaches Envoy's log (the access log included).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

import policy_kit as pk
from harness import ROOT, Envoy, Upstream, registry_on_every_vm, wait_for

A = pk.ACCOUNT_A
PATH = f"/api/v2/accounts/{A}/jobs/"
HOSTNAME = "edge.test"
# Slow enough to see, short enough for the test command: the production head timeout is 10 s.
TRICKLE_S = 3.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    names = "DNS:edge.test,DNS:api.internal.example,DNS:registry.internal.example"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=edge.test",
                    "-addext", f"subjectAltName={names}",
                    "-keyout", str(d / "edge.key"), "-out", str(d / "edge.crt")],
                   check=True, capture_output=True, timeout=60)
    return d / "edge.crt", d / "edge.key"


@pytest.fixture(scope="module")
def tls_upstream(pki):
    """The echo upstream and registry service, speaking TLS with the same certificate."""
    crt, key = pki
    up = Upstream()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    up._srv.socket = ctx.wrap_socket(up._srv.socket, server_side=True)
    up.registry.set(body=json.dumps({"tokens": pk.registry_entries(time.time())}).encode(), etag='"t1"', mode="ok")
    up.start()
    yield up
    up.stop()


def production_config(pki, filter_wasm: Path, upstream_port: int) -> str:
    crt, key = pki
    text = (ROOT / "envoy" / "production.yaml").read_text()
    for old, new in [
        ("/etc/envoy/tls/edge.crt", str(crt)),
        ("/etc/envoy/tls/edge.key", str(key)),
        ("/etc/envoy/tokengate.wasm", str(filter_wasm)),
        ("address: 0.0.0.0, port_value: 8443", "address: 127.0.0.1, port_value: 0"),
        ("address: 127.0.0.1, port_value: 9901", "address: 127.0.0.1, port_value: 0"),
        ("address: api.internal.example, port_value: 443", f"address: 127.0.0.1, port_value: {upstream_port}"),
        ("address: registry.internal.example, port_value: 443", f"address: 127.0.0.1, port_value: {upstream_port}"),
        ('"mode": "report",\n', '"mode": "enforce",\n'),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def edge(tmp_path_factory, pki, filter_wasm, tls_upstream):
    envoy = Envoy(production_config(pki, filter_wasm, tls_upstream.port), tmp_path_factory.mktemp("edge"),
                  listener="https")
    envoy.start()
    try:
        wait_for(lambda: registry_on_every_vm(envoy, 1), what="the registry on every VM")
        yield envoy
    finally:
        envoy.stop()


def curl(edge, pki, token: str | None, http: str, path: str = PATH, cacert: bool = True) -> dict:
    """One request with curl; returns its exit code, HTTP version, status, headers and body."""
    cmd = ["curl", "-sS", "--max-time", "10", f"--{http}", "--resolve", f"{HOSTNAME}:{edge.port}:127.0.0.1",
           "-D", "-", "-w", "\n%{http_version} %{http_code}", f"https://{HOSTNAME}:{edge.port}{path}"]
    if cacert:
        cmd += ["--cacert", str(pki[0])]
    if token:
        cmd += ["-H", f"Authorization: Token {token}"]
    p = subprocess.run(cmd, capture_output=True, timeout=20)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        return {"rc": p.returncode, "stderr": p.stderr.decode(errors="replace")}
    head, _, rest = out.partition("\r\n\r\n")
    body, _, tail = rest.rpartition("\n")
    version, status = tail.split()
    headers = {}
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return {"rc": 0, "version": version, "status": int(status), "headers": headers, "body": body}


def code_of(body) -> str:
    """The code of a denial in dbt's envelope (what production.yaml's clients ask for)."""
    return json.loads(body)["status"]["developer_message"]


def upstream_saw(body: str) -> dict:
    return {k: v for k, v in json.loads(body)["headers"]}


@pytest.mark.parametrize("http", ["http1.1", "http2"])
def test_production_config_decides_over_tls(edge, pki, http):
    want_version = "2" if http == "http2" else "1.1"
    ok = curl(edge, pki, pk.PAT_A, http)
    assert (ok["rc"], ok["version"], ok["status"]) == (0, want_version, 200), ok
    seen = upstream_saw(ok["body"])
    assert seen["x-dbt-account-id"] == A and seen["x-dbt-token-kind"] == "pat"
    assert "authorization" in seen  # the credential goes on to the API, which checks it too

    bad = curl(edge, pki, pk.UNKNOWN_PAT, http)
    assert (bad["version"], bad["status"], code_of(bad["body"])) == (want_version, 401, "invalid_token")
    assert bad["headers"]["www-authenticate"].startswith("Bearer realm=\"dbt\"")
    other = curl(edge, pki, pk.PAT_B, http)  # a token of another account
    assert (other["status"], code_of(other["body"])) == (403, "account_mismatch")
    assert curl(edge, pki, None, http, path="/health")["status"] == 200


def test_a_client_that_does_not_trust_the_certificate_gets_nothing(edge, pki):
    r = curl(edge, pki, pk.PAT_A, "http1.1", cacert=False)
    assert r["rc"] == 60, r  # curl: peer certificate cannot be authenticated


def tls_socket(edge, pki) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(pki[0]))
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", edge.port), timeout=15)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname=HOSTNAME)


def request_bytes(token: str, method: str = "GET", body: bytes = b"") -> tuple[bytes, bytes]:
    head = (f"{method} {PATH} HTTP/1.1\r\nHost: {HOSTNAME}\r\nAuthorization: Token {token}\r\n"
            f"Content-Length: {len(body)}\r\nContent-Type: text/plain\r\n\r\n").encode()
    return head, body


def trickle(sock: ssl.SSLSocket, data: bytes, seconds: float):
    pieces = 30
    step = max(1, len(data) // pieces + 1)
    for i in range(0, len(data), step):
        sock.sendall(data[i:i + step])
        time.sleep(seconds / pieces)


def read_response(sock: ssl.SSLSocket) -> tuple[int, dict, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_slow_clients_hold_neither_the_filter_nor_a_decision(edge, pki):
    done: dict = {}

    def slow_head():  # a valid token, its head trickled over TRICKLE_S
        with tls_socket(edge, pki) as s:
            head, _ = request_bytes(pk.PAT_A)
            trickle(s, head, TRICKLE_S)
            done["head_sent"] = time.monotonic()
            done["slow_head"] = read_response(s)

    def slow_body():  # a valid token, head at once, its body trickled
        with tls_socket(edge, pki) as s:
            head, body = request_bytes(pk.SVC_A, "POST", b"a body sent one piece at a time, slowly")
            s.sendall(head)
            trickle(s, body, TRICKLE_S)
            done["slow_body"] = read_response(s)

    def denied_body():  # an unknown token whose body never finishes: denied at the head
        with tls_socket(edge, pki) as s:
            head, _ = request_bytes(pk.UNKNOWN_PAT, "POST", b"x" * 1000)
            s.sendall(head + b"x" * 10)
            done["denied_body"] = read_response(s)
            done["denied_at"] = time.monotonic()

    # A head that never ends: Envoy's request_headers_timeout (10 s) closes it.
    loris = tls_socket(edge, pki)
    loris.sendall(b"GET " + PATH.encode() + b" HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Tok")
    loris_started = time.monotonic()

    threads = [threading.Thread(target=f, daemon=True) for f in (slow_head, slow_body, denied_body)]
    started = time.monotonic()
    for t in threads:
        t.start()
    # Meanwhile, fast requests on other connections get their own decisions at once.
    fast = [curl(edge, pki, tok, http) for tok, http in
            [(pk.UNKNOWN_PAT, "http2"), (pk.PAT_A, "http2"), (pk.PAT_B, "http1.1"), (pk.SVC_A, "http1.1")]]
    fast_done = time.monotonic()
    for t in threads:
        t.join(TRICKLE_S + 10)
    assert [f["status"] for f in fast] == [401, 200, 403, 200], fast
    assert upstream_saw(fast[3]["body"])["x-dbt-token-kind"] == "service"
    assert fast_done < done["head_sent"], "fast requests finished while a head was still trickling"

    status, _, body = done["slow_head"]
    assert status == 200 and upstream_saw(body.decode())["x-dbt-token-kind"] == "pat"
    status, _, body = done["slow_body"]
    echoed = json.loads(body)
    assert status == 200 and echoed["body"] == "a body sent one piece at a time, slowly"
    assert upstream_saw(body.decode())["x-dbt-token-kind"] == "service"
    status, headers, body = done["denied_body"]
    assert (status, code_of(body)) == (401, "invalid_token")
    assert done["denied_at"] - started < TRICKLE_S, "denied at the head, not after the body"

    # The never-ending head: cut by Envoy, with 408 or a close, within its timeout and a margin.
    loris.settimeout(max(1.0, 15.0 - (time.monotonic() - loris_started)))
    try:
        got = loris.recv(65536)
    except (ConnectionResetError, ssl.SSLError):
        got = b""
    cut_after = time.monotonic() - loris_started
    loris.close()
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:200]
    assert 9.0 <= cut_after < 15.0, cut_after

    log = edge.log()
    for t in pk.ALL_TOKENS:
        assert t not in log and pk.sha256_hex(t) not in log, "a token or digest in Envoy's log"
    assert '"details":"tokengate_invalid_token"' in log, "the access log records decisions"
