#!/usr/bin/env python3
"""Sizes of the shipped .wasm files, raw and gzipped (-9), as JSON. Argument: target/bench."""
import gzip
import json
import os
import sys

out = sys.argv[1]
files = {
    "filter_raw": "target/wasm32-wasip1/wasm/tokengate_envoy.wasm",
    "filter_opt": os.path.join(out, "tokengate_envoy.wasm"),
    "filter_trimmed": os.path.join(out, "tokengate_envoy.trimmed.wasm"),
    "noop_raw": "target/wasm32-wasip1/wasm/tokengate_noop.wasm",
    "noop_opt": os.path.join(out, "tokengate_noop.wasm"),
    "js": "js/dist/node/tokengate_bg.wasm",
    "native_so": "target/envoy/libtokengate.so",
}
sizes = {}
for key, path in files.items():
    if os.path.exists(path):
        data = open(path, "rb").read()
        sizes[key] = {"path": path, "bytes": len(data), "gzip": len(gzip.compress(data, 9))}
print(json.dumps(sizes, indent=1))
