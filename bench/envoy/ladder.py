#!/usr/bin/env python3
"""Where the tokengate filter's added CPU goes: builds the filter in stages from a copy of the
repository (each stage stops one step later in on_http_request_headers), runs them side by side in
Envoy with bench/envoy/harness.py, and writes bench/envoy/ladder.json for the report.

    python3 bench/envoy/ladder.py --envoy BIN [--rounds 5] [--requests 60000]

Not part of scripts/bench.sh (it rebuilds the filter five times); run it when the filter changes.
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WASM_OPT = os.path.join(ROOT, "js/node_modules/.bin/wasm-opt")
FEATURES = ["--enable-bulk-memory", "--enable-bulk-memory-opt", "--enable-nontrapping-float-to-int",
            "--enable-sign-ext", "--enable-mutable-globals", "--enable-multivalue", "--enable-reference-types"]

# (anchor in envoy/src/filter.rs, code inserted after it)
EDITS = [
    ("fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {\n",
     "        let stage = option_env!(\"TG_STAGE\").and_then(|s| s.parse::<u8>().ok()).unwrap_or(9);\n"
     "        if stage == 1 { return Action::Continue; }\n"),
    ("            Err(e) => return internal_error(&format!(\"reading request headers: status {}\", e.0)),\n        };\n",
     "        if stage == 2 { core::hint::black_box(&headers); return Action::Continue; }\n"),
    ("            return internal_error(\"the host's request header map is malformed\");\n        }\n",
     "        if stage == 3 { core::hint::black_box(&decision); return Action::Continue; }\n"),
    ("                return internal_error(&format!(\"setting {name}: status {}\", e.0));\n            }\n        }\n",
     "        if stage == 4 { return Action::Continue; }\n"),
]
LABELS = {
    "none": "no filter",
    "noop": "do-nothing filter (bench/noop)",
    "stage1": "tokengate module, returns at once from `on_http_request_headers`",
    "stage2": "+ reads the request header map (`proxy_get_header_map_pairs`)",
    "stage3": "+ reads the clock, the core decides",
    "stage4": "+ sets the three identity headers (`proxy_replace_header_map_value` ×3)",
    "tokengate": "+ counts it (`proxy_increment_metric`): the filter as shipped",
    "noop_trimmed": "do-nothing filter, unused callbacks not exported",
    "tokengate_trimmed": "tokengate as shipped, unused callbacks not exported",
}


def run(*cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=60000)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tokengate-ladder-")
    try:
        archive = os.path.join(work, "src.tar")
        run("git", "-C", ROOT, "archive", "-o", archive, "HEAD")
        src = os.path.join(work, "src")
        os.makedirs(src)
        with tarfile.open(archive) as t:
            t.extractall(src)
        path = os.path.join(src, "envoy/src/filter.rs")
        text = open(path).read()
        for anchor, code in EDITS:
            if text.count(anchor) != 1:
                sys.exit(f"ladder: anchor not found once in filter.rs (update bench/envoy/ladder.py): {anchor!r}")
            text = text.replace(anchor, anchor + code)
        open(path, "w").write(text)
        target = os.path.join(ROOT, "target/bench/ladder-target")
        out = os.path.join(ROOT, "target/bench/ladder")
        os.makedirs(out, exist_ok=True)
        built = {}
        for stage in ("1", "2", "3", "4", "9"):
            env = dict(os.environ, TG_STAGE=stage, CARGO_TARGET_DIR=target)
            run("cargo", "build", "--quiet", "--locked", "--profile", "wasm", "--target", "wasm32-wasip1",
                "-p", "tokengate-envoy", "-p", "tokengate-noop", cwd=src, env=env)
            dst = os.path.join(out, f"stage{stage}.wasm")
            run(WASM_OPT, "-Oz", *FEATURES, os.path.join(target, "wasm32-wasip1/wasm/tokengate_envoy.wasm"), "-o", dst)
            built[stage] = dst
        noop = os.path.join(out, "noop.wasm")
        run(WASM_OPT, "-Oz", *FEATURES, os.path.join(target, "wasm32-wasip1/wasm/tokengate_noop.wasm"), "-o", noop)
        unused = ",".join(open(os.path.join(HERE, "unused-callbacks.txt")).read().split())
        trimmed = {}
        for name, src_wasm in (("noop_trimmed", noop), ("tokengate_trimmed", built["9"])):
            trimmed[name] = os.path.join(out, f"{name}.wasm")
            run(WASM_OPT, "-Oz", *FEATURES, src_wasm, "--remove-exports",
                f"--pass-arg=remove-exports@{unused}", "-o", trimmed[name])
        result = os.path.join(out, "harness.json")
        cmd = [sys.executable, os.path.join(HERE, "harness.py"), "--envoy", args.envoy,
               "--tokengate", built["9"], "--noop", noop, "--variants", "none,noop,tokengate",
               "--rounds", str(args.rounds), "--requests", str(args.requests), "--out", result]
        for s in ("1", "2", "3", "4"):
            cmd += ["--wasm-variant", f"stage{s}={built[s]}"]
        for name, p in trimmed.items():
            cmd += ["--wasm-variant", f"{name}={p}"]
        run(*cmd)
        data = json.load(open(result))
        order = ["none", "noop", "stage1", "stage2", "stage3", "stage4", "tokengate", "noop_trimmed",
                 "tokengate_trimmed"]
        ladder = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip(),
            "method": (
                f"`python3 bench/envoy/ladder.py` (run {datetime.date.today().isoformat()}, not part of "
                "`scripts/bench.sh`): the filter is built five times from a copy of the repository, each "
                "build returning `Continue` one step later in `on_http_request_headers` (a compile-time "
                "`TG_STAGE`), and all run side by side in the harness above "
                f"({data['rounds']} interleaved rounds of {data['requests']:,} requests). Each step's cost is "
                "the difference of medians, so on this noisy machine read it to ±0.5 µs."),
            "order": order,
            "labels": LABELS,
            "results": {k: [r["cpu_us_per_request"] for r in data["runs"][k]] for k in order},
        }
        with open(os.path.join(HERE, "ladder.json"), "w") as f:
            json.dump(ladder, f, indent=1)
        print(f"wrote {os.path.join(HERE, 'ladder.json')}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
