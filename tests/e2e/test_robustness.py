"""No input panics the filter: odd bytes in every header the core reads, on a real Envoy. A panic
would trap the VM (Envoy logs it at critical and FAIL_RELOAD counts a reload)."""

from __future__ import annotations

import random
import socket

import pytest

import policy_kit as pk
from harness import tokengate_stat


@pytest.fixture(scope="module")
def envoy(launch, front):
    return launch([front.filter(pk.dumps(pk.policy(query_token=True)))])


def raw_request(port: int, head: bytes) -> int:
    """Sends raw bytes; returns the status code (0 if Envoy closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def odd_value(rng: random.Random) -> bytes:
    pieces = [
        pk.PAT_A.encode(), b"dbtu_", b"dbtc_", b"eyJ", b".", b"Token", b"Bearer", b" ", b"\t", b",",
        b'"', b"'", b"%2F", b"%00", b"\xff\xfe", b"\xc3\xa9", b"\x80", "é".encode(), b"a" * 300, b"0" * 40,
        bytes(rng.randrange(0x21, 0x7f) for _ in range(rng.randrange(0, 80))),
        bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(0, 20))),
    ]
    return b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6)))


def odd_path(rng: random.Random) -> bytes:
    segs = [b"api", b"v2", b"v3", b"accounts", pk.ACCOUNT_A.encode(), b"99999999999999999999999", b"..", b".",
            b"%2e%2e", b"%2F", b"%5c", b"jobs", b"", b"*", b"\xff", b"%", b"%zz", b"run"]
    path = b"/" + b"/".join(rng.choice(segs) for _ in range(rng.randrange(0, 8)))
    if rng.random() < 0.3:
        path += b"?token=" + odd_value(rng)
    return path


def test_random_odd_requests_never_trap_the_vm(envoy):
    rng = random.Random(20261128)
    statuses = set()
    for _ in range(400):
        lines = [b"%s %s HTTP/1.1" % (rng.choice([b"GET", b"POST", b"PATCH", b"OPTIONS"]), odd_path(rng)),
                 b"Host: " + rng.choice([b"ab123.us1.dbt.com", b"AB123.x:99", b"cd456.y", b"[::1]:80", b"x", b"a..b"])]
        for _ in range(rng.randrange(0, 4)):
            name = rng.choice([b"Authorization", b"authorization", b"Accept", b"x-dbt-account-id", b"x-tokengate-would-deny"])
            lines.append(name + b": " + odd_value(rng))
        if rng.random() < 0.2:
            lines.append(b"Accept: application/problem+json")
        statuses.add(raw_request(envoy.port, b"\r\n".join(lines) + b"\r\n\r\n"))
    assert statuses <= {0, 200, 400, 401, 403, 410, 413, 431}, statuses
    # The filter itself answered many of them (not only the HTTP codec).
    assert 401 in statuses, statuses
    assert tokengate_stat(envoy, "denied.malformed_token") > 0
    stats = envoy.stats("wasm")
    assert stats.get("wasm.tokengate.vm_reload", 0) == 0, stats
    log = envoy.log()
    assert "panic" not in log and "[critical][wasm]" not in log and "[critical][dynamic_modules]" not in log
    # Still serving.
    r = envoy.request("GET", f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/", [("Authorization", f"Token {pk.PAT_A}")])
    assert r.status == 200


def test_a_huge_header_map_is_read_whole(envoy):
    headers = [(f"x-filler-{i}", "v" * 100) for i in range(80)] + [("Authorization", f"Token {pk.PAT_A}")]
    r = envoy.request("GET", f"/api/v2/accounts/{pk.ACCOUNT_A}/jobs/", headers)
    assert r.status == 200
