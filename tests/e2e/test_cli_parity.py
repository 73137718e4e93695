"""The same decisions from the CLI and from Envoy: one table (cases.py), both fronts, and the
status, code, headers and body each gives must agree."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

import policy_kit as pk
from cases import MAIN, STRICT, Case
from conftest import upstream_headers, wire_code

# One `now` for both the policies and the CLI, so both fronts decide at the same moment (Envoy
# uses its real clock, and every policy date is days away from it).
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).timestamp()
POLICIES = {"main": pk.policy(NOW), "strict": pk.strict_policy(NOW)}
TABLE = [("main", c) for c in MAIN] + [("strict", c) for c in STRICT]
COMPARED_HEADERS = ("cache-control", "content-type", "www-authenticate", "deprecation", "sunset", "link")


@pytest.fixture(scope="module")
def envoys(launch, front):
    return {name: launch([front.filter(pk.dumps(p))]) for name, p in POLICIES.items()}


@pytest.fixture(scope="module")
def policy_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("policies")
    out = {}
    for name, p in POLICIES.items():
        out[name] = d / f"{name}.json"
        out[name].write_text(json.dumps(p))
    return out


def cli_decide(cli_bin, policy_file, c: Case) -> dict:
    args = [str(cli_bin), "check", "--policy", str(policy_file), "--method", c.method, "--url", c.url, "--now", pk.rfc3339(NOW)]
    for name, value in c.headers:
        args += ["--header", f"{name}: {value}"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert p.returncode in (0, 1), p.stderr
    d = json.loads(p.stdout)
    assert p.returncode == (0 if d["allow"] else 1)
    return d


@pytest.mark.parametrize("policy,case", TABLE, ids=[f"{p}-{c.id}" for p, c in TABLE])
def test_cli_and_envoy_agree(cli_bin, envoys, policy_files, policy, case):
    d = cli_decide(cli_bin, policy_files[policy], case)
    r = envoys[policy].request(case.method, case.path, list(case.headers), host=case.host)

    assert (d["status"], d["code"]) == (case.status, case.code), d
    assert (r.status, wire_code(r)) == (d["status"], d["code"])

    # Response headers: the denial's, or the deprecation notices added to the upstream's answer.
    cli_headers = {k: v for k, v in d["response_headers"].items() if k in COMPARED_HEADERS}
    if d["allow"]:
        wire = {k: r.header(k) for k in ("deprecation", "sunset", "link") if r.header(k) is not None}
        assert wire == cli_headers
        seen = upstream_headers(r)
        for name, value in d["upstream_headers"].items():
            assert seen.get(name) == [value], (name, seen)
    else:
        wire = {k: r.header(k) for k in COMPARED_HEADERS if r.header(k) is not None}
        assert wire == cli_headers
        assert r.body.decode() == d["body"]
