"""The demo's Envoy configuration: a shipped one (envoy/envoy.yaml or envoy/native.yaml) with the
example policy put in as its filter's configuration, the policy's mode set, the demo's ports, and
its access log at a path of the demo's.

    python3 envoy/demo_config.py BASE MODE ACCESS_LOG EDGE_PORT API_PORT ADMIN_PORT > out.yaml

Everything else stays as shipped. Each rewrite must find what it rewrites, so a change to the
shipped file fails the demo loudly instead of leaving it showing something else.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fail(base: str, what: str):
    sys.exit(f"{base}: {what} (envoy/demo_config.py rewrites it for the demo)")


def put_policy(text: str, base: str, policy: dict) -> str:
    """Replace the one `value: |` block (the filter's StringValue) with `policy`."""
    lines = text.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.strip() == "value: |"]
    if len(marks) != 1:
        fail(base, f"expected one 'value: |' block (the policy), found {len(marks)}")
    start = marks[0] + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start
    while end < len(lines) and (not lines[end].strip() or
                                len(lines[end]) - len(lines[end].lstrip()) >= indent):
        end += 1
    try:
        json.loads("".join(lines[start:end]))
    except ValueError:
        fail(base, "the 'value: |' block is not a JSON policy")
    body = "".join(" " * indent + line + "\n" for line in json.dumps(policy, indent=2).splitlines())
    return "".join(lines[:start]) + body + "".join(lines[end:])


def main() -> int:
    base, mode, access_log, edge, api, admin = sys.argv[1:]
    text = (ROOT / base).read_text()
    policy = json.loads((ROOT / "examples" / "policy.json").read_text())
    policy["mode"] = mode
    text = put_policy(text, base, policy)

    def sub(pattern: str, repl: str, most: int = 1):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=re.M)
        if not 1 <= n <= most:
            fail(base, f"expected 1 to {most} matches of {pattern!r}, found {n}")

    sub(r"port_value: 10000\b", f"port_value: {edge}")
    sub(r"port_value: 10001\b", f"port_value: {api}", most=2)  # the stand-in and its cluster
    sub(r"port_value: 9901\b", f"port_value: {admin}")
    # The file access logger's path (the JSON lines tokengate report reads).
    sub(r"^(\s+path: )target/envoy/[\w.-]+\.log$", rf"\g<1>{access_log}")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
