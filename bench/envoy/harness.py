#!/usr/bin/env python3
"""Envoy on loopback, six ways, under the same load: the CPU Envoy spends per request.

    python3 bench/envoy/harness.py --envoy BIN --tokengate WASM --noop WASM [--native DIR] \
        [--rounds 5] [--requests 100000] [--connections 8] [--synthetic 1000] --out FILE

One route, answered by Envoy's direct_response (no upstream shares the cores), served by:
  none          no auth filter
  api_key_auth  envoy.filters.http.api_key_auth holding the same tokens
  lua           an Envoy Lua filter with the hand-written check (scheme, prefix, table, account)
  noop          the do-nothing proxy-wasm filter (bench/noop), same SDK and profile: the floor
  tokengate     the tokengate proxy-wasm filter
  native        the tokengate native front (the dynamic module DIR/libtokengate.so, same policy)
Each run starts one Envoy (--concurrency 1), warms it up, reads utime+stime of the process from
/proc/<pid>/stat, sends a fixed number of requests with h2load (HTTP/1.1, 127.0.0.1 only, one
client thread), reads the CPU time again, and stops Envoy. Variants are interleaved round by round
(the order rotates), so the machine's noise falls on all of them alike. Latency percentiles come
from h2load's per-request log.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VARIANTS = ["none", "api_key_auth", "lua", "noop", "tokengate"]
ACCOUNT = "70471823510118"
PATH = f"/api/v2/accounts/{ACCOUNT}/jobs/"
AUTHORITY = "ab123.us1.dbt.com"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# With --pin, Envoy runs on the last CPU and h2load on the first (taskset), so neither migrates.
PIN_ENVOY, PIN_LOAD = [], []
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def synthetic_pat(n):
    """The same synthetic PATs as bench/js/run.mjs."""
    m = (1 << 64) - 1
    x = (((n + 1) * 0x9E3779B97F4A7C15) & m) ^ 0xD1B54A32D192ED03
    body = []
    for _ in range(50):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
        body.append(ALPHABET[x % 64])
    return "dbtu_" + "".join(body)


def policy_and_tokens(synthetic):
    with open(os.path.join(ROOT, "examples/policy.json")) as f:
        policy = json.load(f)
    tokens = [synthetic_pat(i) for i in range(synthetic)]
    for t in tokens:
        policy["registry"]["tokens"].append(
            {"sha256": hashlib.sha256(t.encode()).hexdigest(), "kind": "pat", "account_id": ACCOUNT})
    return policy, tokens


# The check an Envoy user would hand-write in Lua. Envoy's Lua has no SHA-256, so the table holds
# the tokens themselves (tokengate holds only digests): the Lua filter does less work than tokengate.
LUA = r"""
local tokens = {
%s
}
local function deny(handle, status, code)
  handle:respond({[":status"] = status, ["content-type"] = "application/json",
                  ["cache-control"] = "no-store"},
                 '{"status":{"code":' .. status .. ',"is_success":false,"developer_message":"' .. code .. '"},"data":null}')
end
function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove("x-dbt-account-id")
  local auth = headers:get("authorization")
  if auth == nil then return deny(handle, 401, "missing_token") end
  local scheme, token = auth:match("^(%%a+) +(%%S+)$")
  if scheme == nil then return deny(handle, 401, "unsupported_scheme") end
  scheme = scheme:lower()
  if scheme ~= "token" and scheme ~= "bearer" then return deny(handle, 401, "unsupported_scheme") end
  local prefix = token:sub(1, 5)
  if (prefix ~= "dbtu_" and prefix ~= "dbtc_") or #token ~= 55 or token:find("[^%%w_-]", 6) then
    return deny(handle, 401, "malformed_token")
  end
  local account = tokens[token]
  if account == nil then return deny(handle, 401, "invalid_token") end
  local path_account = headers:get(":path"):match("^/api/v%%d+/accounts/(%%d+)")
  if path_account ~= nil and path_account ~= account then
    return deny(handle, 403, "account_mismatch")
  end
  headers:replace("x-dbt-account-id", account)
end
"""


def lua_source(tokens):
    rows = [f'  ["{t}"] = "{ACCOUNT}",' for t in tokens]
    return LUA % "\n".join(rows)


def wasm_filter(name, path, configuration):
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "failure_policy": "FAIL_CLOSED",
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": path}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration,
                },
            },
        },
    }


def config(variant, port, admin_port, policy, tokens, wasm):
    filters = []
    if variant == "api_key_auth":
        filters.append({
            "name": "envoy.filters.http.api_key_auth",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth",
                "credentials": [{"key": t, "client": f"client-{i}"} for i, t in enumerate(tokens)],
                "key_sources": [{"header": "authorization"}],
            },
        })
    elif variant == "lua":
        filters.append({
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": lua_source(tokens)},
            },
        })
    elif variant == "noop":
        filters.append(wasm_filter("noop", wasm["noop"], ""))
    elif variant == "native":
        filters.append({
            "name": "envoy.filters.http.dynamic_modules",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
                "dynamic_module_config": {"name": "tokengate"},
                "filter_name": "tokengate",
                "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                  "value": json.dumps(policy)},
            },
        })
    elif variant in wasm:
        # tokengate, or another build of it given with --wasm-variant: the same policy.
        filters.append(wasm_filter("tokengate", wasm[variant], json.dumps(policy)))
    filters.append({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    })
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": [{
            "name": "edge",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "edge",
                    "route_config": {"name": "edge", "virtual_hosts": [{
                        "name": "api", "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"},
                                    "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}],
                    }]},
                    "http_filters": filters,
                },
            }]}],
        }]},
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, in clock ticks).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sched_seconds(pid):
    """Sum over the process's threads of the scheduler's run time (ns precision), a cross-check."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


class Envoy:
    def __init__(self, binary, variant, cfg, workdir, module_dir=None):
        self.variant = variant
        self.port = cfg["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
        self.admin = cfg["admin"]["address"]["socket_address"]["port_value"]
        path = os.path.join(workdir, f"{variant}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(workdir, f"{variant}.log"), "w")
        self.proc = subprocess.Popen(
            PIN_ENVOY + [binary, "-c", path, "--concurrency", "1", "--log-level", "warn",
             "--base-id", str(os.getpid() % 1000 + 1000), "--disable-hot-restart"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": module_dir or ""})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy ({variant}) exited {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"envoy ({variant}) not ready in 60 s; see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def h2load(port, requests, connections, token, log_file=None):
    cmd = PIN_LOAD + ["h2load", "--h1", "-n", str(requests), "-c", str(connections), "-t", "1",
           "-H", f":authority: {AUTHORITY}", "-H", f"authorization: Bearer {token}",
           "-H", "accept: application/json", "-H", "user-agent: tokengate-bench/1"]
    if log_file:
        cmd += ["--log-file", log_file]
    cmd.append(f"http://127.0.0.1:{port}{PATH}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"h2load failed: {out.stderr or out.stdout}")
    stats = {}
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("requests:"):
            # requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, 0 errored, 0 timeout
            parts = [p.strip().split(" ") for p in line[len("requests:"):].split(",")]
            stats.update({p[1]: int(p[0]) for p in parts})
        elif line.startswith("status codes:"):
            parts = [p.strip().split(" ") for p in line[len("status codes:"):].split(",")]
            stats["status"] = {p[1]: int(p[0]) for p in parts}
    return stats


def percentiles(log_file):
    durations = []
    with open(log_file) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3:
                durations.append(int(cols[2]))
    durations.sort()
    if not durations:
        return {}
    pick = lambda q: durations[min(len(durations) - 1, int(q * len(durations)))]
    return {"p50_us": pick(0.50), "p99_us": pick(0.99), "max_us": durations[-1]}


def status_of(port, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{PATH}", headers={
        "host": AUTHORITY, "authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def sanity(variant, port, token):
    """The auth variants really check: the benchmark's token passes, an unknown one does not."""
    unknown = synthetic_pat(10**9)
    got = (status_of(port, token), status_of(port, unknown))
    checks = variant in ("api_key_auth", "lua", "native") or variant.startswith("tokengate")
    want = (200, 401 if checks else got[1])
    if got != want:
        raise RuntimeError(f"{variant}: statuses {got} for (registered, unknown) token, want {want}")


def run_once(binary, variant, cfg_args, args, token, workdir, extra_probe=None):
    port, admin = free_port(), free_port()
    cfg = config(variant, port, admin, *cfg_args)
    envoy = Envoy(binary, variant, cfg, workdir, args.native)
    try:
        sanity(variant, port, token)
        warm = h2load(port, args.warmup, args.connections, token)
        if warm.get("status", {}).get("2xx", 0) != args.warmup:
            raise RuntimeError(f"{variant}: warm-up answers were not all 2xx: {warm}")
        pid = envoy.proc.pid
        probe = extra_probe(pid) if extra_probe else None
        c0, s0, t0 = cpu_seconds(pid), sched_seconds(pid), time.perf_counter()
        log_file = os.path.join(workdir, "h2load.log")
        stats = h2load(port, args.requests, args.connections, token, log_file)
        t1, c1, s1 = time.perf_counter(), cpu_seconds(pid), sched_seconds(pid)
        probed = probe() if probe else None
        if stats.get("status", {}).get("2xx", 0) != args.requests:
            raise RuntimeError(f"{variant}: not every answer was 2xx: {stats}")
        run = {
            "requests": args.requests,
            "cpu_us_per_request": (c1 - c0) / args.requests * 1e6,
            "sched_us_per_request": (s1 - s0) / args.requests * 1e6,
            "wall_s": t1 - t0,
            "requests_per_s": args.requests / (t1 - t0),
            **percentiles(log_file),
        }
        if probed is not None:
            run["probe"] = probed
        return run
    finally:
        envoy.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--print-policy", action="store_true", help="print the policy the filter gets, and exit")
    ap.add_argument("--print-token", action="store_true", help="print the token the load sends, and exit")
    ap.add_argument("--envoy")
    ap.add_argument("--tokengate")
    ap.add_argument("--noop")
    ap.add_argument("--native", help="the directory holding libtokengate.so (adds the native variant)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--warmup", type=int, default=5_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--synthetic", type=int, default=1000)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--wasm-variant", action="append", default=[], metavar="NAME=PATH",
                    help="another tokengate build to run beside the others, with the same policy")
    ap.add_argument("--out")
    ap.add_argument("--pin", action="store_true", help="pin Envoy and h2load to different CPUs (taskset)")
    args = ap.parse_args()
    if args.pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        last = str((os.cpu_count() or 2) - 1)
        PIN_ENVOY[:] = ["taskset", "-c", last]
        PIN_LOAD[:] = ["taskset", "-c", "0"]
    variants = args.variants.split(",")
    if args.native:
        args.native = os.path.abspath(args.native)
        if "native" not in variants:
            variants.append("native")

    policy, tokens = policy_and_tokens(args.synthetic)
    token = tokens[len(tokens) // 2]
    if args.print_policy:
        print(json.dumps(policy))
        return
    if args.print_token:
        print(token)
        return
    if not (args.envoy and args.tokengate and args.noop and args.out):
        ap.error("--envoy, --tokengate, --noop and --out are required")
    wasm = {"tokengate": os.path.abspath(args.tokengate), "noop": os.path.abspath(args.noop)}
    for spec in args.wasm_variant:
        name, path = spec.split("=", 1)
        wasm[name] = os.path.abspath(path)
        variants.append(name)
    cfg_args = (policy, tokens, wasm)
    workdir = tempfile.mkdtemp(prefix="tokengate-bench-envoy-")
    version = subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout.strip()
    runs = {v: [] for v in variants}
    try:
        for r in range(args.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                run = run_once(args.envoy, v, cfg_args, args, token, workdir)
                runs[v].append(run)
                print(f"  round {r + 1}/{args.rounds} {v:13s} {run['cpu_us_per_request']:7.2f} us CPU/request, "
                      f"{run['requests_per_s']:8.0f} req/s, p50 {run.get('p50_us')} us, p99 {run.get('p99_us')} us",
                      file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open(args.out, "w") as f:
        json.dump({
            "envoy_version": version,
            "rounds": args.rounds, "requests": args.requests, "warmup": args.warmup,
            "connections": args.connections, "registry_tokens": len(policy["registry"]["tokens"]),
            "load": f"h2load --h1 -n {args.requests} -c {args.connections} -t 1, GET {PATH}",
            "clk_tck": CLK_TCK,
            "runs": runs,
        }, f, indent=1)


if __name__ == "__main__":
    main()
