"""Verification cost inside Envoy (issue 14): the proxy-wasm filter with an `oauth.verify`
policy, fed N distinct signed JWTs (every request a cache miss: a signature check in V8) and then
one JWT N times (every request after the first a hit), over one keep-alive connection. Envoy's own
CPU time per request (utime+stime from /proc) is the figure; a PAT-free `oauth: forward` run of
the same JWTs is the baseline the verification adds to.

    python3 bench/envoy/jwt.py [N]     # default 2000; prints one JSON object

Loopback only, bounded by N. Needs the e2e setup (Envoy in .venv) and target/envoy/tokengate.wasm
(envoy/build.sh).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import Envoy, Upstream, bootstrap, wasm_filter  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def signed_many(n: int, now: int) -> tuple[dict, list]:
    script = f"""
import crypto from 'node:crypto';
const b64 = (b) => Buffer.from(b).toString('base64url');
const {{ publicKey, privateKey }} = crypto.generateKeyPairSync('rsa', {{ modulusLength: 2048 }});
const jwk = {{ ...publicKey.export({{ format: 'jwk' }}), kid: 'k' }};
const out = [];
for (let i = 0; i < {n}; i++) {{
  const input = b64(JSON.stringify({{ alg: 'RS256', kid: 'k' }})) + '.' + b64(JSON.stringify({{
    iss: 'https://auth.tokengate.test/', aud: 'dbt-cloud-api', sub: 'u' + i, exp: {now} + 3600,
    'https://dbt.com/account_id': '70471823510118' }}));
  out.push(input + '.' + b64(crypto.sign('sha256', Buffer.from(input), privateKey)));
}}
process.stdout.write(JSON.stringify({{ jwks: {{ keys: [jwk] }}, tokens: out }}));
"""
    d = json.loads(subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=300).stdout)
    verify = {"issuer": "https://auth.tokengate.test/", "audiences": ["dbt-cloud-api"], "algorithms": ["RS256"],
              "jwks": d["jwks"], "account_claim": "https://dbt.com/account_id"}
    return verify, d["tokens"]


def run(envoy: Envoy, toks: list) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    path = "/api/v2/accounts/70471823510118/jobs/"
    def one(t):
        conn.request("GET", path, headers={"Host": "localhost", "Authorization": f"Bearer {t}"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    one(toks[0])  # warm: VM, connection
    pid = envoy.proc.pid
    c0 = cpu_seconds(pid)
    for t in toks:
        one(t)
    c1 = cpu_seconds(pid)
    conn.close()
    return (c1 - c0) / len(toks) * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    now = int(time.time())
    verify, toks = signed_many(n, now)
    wasm = ROOT / "target" / "envoy" / "tokengate.wasm"
    up = Upstream(record=False).start()
    out = {"requests": n, "front": "wasm"}
    try:
        with tempfile.TemporaryDirectory() as d:
            for label, oauth, batch in [("forward", "forward", toks), ("verify_miss", {"verify": verify}, toks),
                                        ("verify_hit", {"verify": verify}, [toks[0]] * n)]:
                policy = json.dumps({"registry": {"tokens": []}, "oauth": oauth})
                e = Envoy(bootstrap([wasm_filter(wasm, policy)], up.port), Path(d) / label, concurrency=1, component_log="")
                e.start()
                try:
                    out[f"{label}_cpu_us_per_request"] = round(run(e, batch), 1)
                finally:
                    e.stop()
    finally:
        up.stop()
    out["load1"] = float(open("/proc/loadavg").read().split()[0])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
