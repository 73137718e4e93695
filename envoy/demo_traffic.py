"""The demo's traffic: a small fixed stream from the clients the source document names, sent to
the demo Envoy, one printed line per kind of call (envoy/demo.sh runs it once per mode).

    python3 envoy/demo_traffic.py http://127.0.0.1:10000 report|enforce

The tokens are the made-up ones of tests/fixtures/tokens.json, registered in the example policy.
Standard library only: the demo installs nothing for it.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import sys
import textwrap
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
A, G = "70471823510118", "9007199254740993"  # the accounts of ab123 and gn456 in the policy

# Each client: who it is, the User-Agent it sends, the token it holds, and its calls as
# (times, method, host, path). The User-Agents are the ones the example policy's client rules match.
CLIENTS = [
    ("a nightly export script, with a legacy user API key", "python-requests/2.32.3", "user_key", [
        (3, "GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/runs/"),
        (1, "GET", "cloud.getdbt.com", "/api/v2/accounts/"),  # every account of its user: retired
    ]),
    ("production Terraform, with a personal access token", "terraform-provider-dbtcloud/1.3.0", "pat_spice", [
        (2, "GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/"),
    ]),
    ("production Terraform, with a service token", "terraform-provider-dbtcloud/1.3.0", "service_spice", [
        (1, "GET", "ab123.us1.dbt.com", "/api/v2/accounts/"),  # the provider's start-up lookup
    ]),
    ("a job orchestrator, with a service token", "python-httpx/0.28.1", "service_spice", [
        (2, "POST", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/jobs/42/run/"),
        (1, "GET", "ab123.us1.dbt.com", f"/api/v2/accounts/{A}/runs/7/artifacts/"),  # deprecated
    ]),
    ("the dbt Cloud CLI, a personal access token on the wrong account", "dbt-cloud-cli/0.40.4", "pat_spice", [
        (1, "GET", "gn456.us1.dbt.com", f"/api/v2/accounts/{G}/runs/"),
    ]),
]


def send(edge: str, method: str, host: str, path: str, agent: str, token: str):
    """One request; returns (status, response headers, parsed JSON body or {})."""
    url = urllib.parse.urlsplit(edge)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, headers={
            "Host": host, "User-Agent": agent, "Authorization": f"Token {token}",
        })
        resp = conn.getresponse()
        body = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    try:
        doc = json.loads(body) if body.strip() else {}
    except ValueError:
        doc = {}
    return resp.status, headers, doc if isinstance(doc, dict) else {}


def answer(mode: str, status: int, headers: dict, doc: dict, said: set) -> list[str]:
    """What the call got, as the client (and, in report mode, the API behind) saw it."""
    if status == 200:
        seen = (doc.get("data") or {}).get("seen_by_upstream") or {}
        notes = []
        if seen.get("x-tokengate-would-deny"):
            notes.append(f"would deny {seen['x-tokengate-would-deny']}")
        if seen.get("x-tokengate-advice"):
            notes.append(f"advice {seen['x-tokengate-advice']}")
        if "sunset" in headers:  # an allowed call inside a deprecation window
            try:
                when = email.utils.parsedate_to_datetime(headers["sunset"]).date().isoformat()
            except (TypeError, ValueError):
                when = headers["sunset"]
            notes.append(f"sunsets {when}")
        return ["  ".join(["200", *notes])]
    s = doc.get("status") if isinstance(doc.get("status"), dict) else {}
    code = s.get("developer_message") or "?"
    lines = [f"{status} {code}"]
    if code not in said:  # each denial's message once: it is what the client shows its user
        said.add(code)
        lines += textwrap.wrap(f'the client reads: "{s.get("user_message")}"', width=96,
                               initial_indent=" " * 6, subsequent_indent=" " * 8,
                               break_on_hyphens=False)
    return lines


def main() -> int:
    edge, mode = sys.argv[1], sys.argv[2]
    tokens = json.loads((ROOT / "tests" / "fixtures" / "tokens.json").read_text())["tokens"]
    said: set[str] = set()
    for who, agent, token, calls in CLIENTS:
        print(f"   {who} ({agent})")
        for times, method, host, path in calls:
            results = [send(edge, method, host, path, agent, tokens[token]) for _ in range(times)]
            first = answer(mode, *results[0], said)
            # Every repetition is sent; they get the same answer, so it is shown once.
            if any(r[0] != results[0][0] for r in results):
                first[0] += "  (not every repetition got this answer)"
            # The host by its first label: ab123 and gn456 name the policy's two accounts.
            print(f"    {times}x {method:<4} {host.split('.')[0]:<5} {path}".ljust(67) + f" {first[0]}")
            for extra in first[1:]:
                print(extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
