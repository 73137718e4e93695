#!/usr/bin/env python3
"""The machine the figures come from, as JSON: CPU, cores, memory, kernel, tool versions, load."""
import datetime
import glob
import json
import os
import platform
import subprocess


def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def mem_total_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def envoy_version():
    for path in glob.glob(".venv/lib/python3*/site-packages/envoy/_bin/envoy"):
        v = out(path, "--version")
        if v:
            return v.split("version:", 1)[-1].strip()
    return None


print(json.dumps({
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "cpu": cpu_model(),
    "cores": os.cpu_count(),
    "memory_gib": mem_total_gib(),
    "kernel": platform.release(),
    "os": out("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
    "rustc": out("rustc", "--version"),
    "node": out("node", "--version"),
    "envoy": envoy_version(),
    "h2load": out("h2load", "--version"),
    "wasm_opt": out("js/node_modules/.bin/wasm-opt", "--version"),
    "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    "commit": out("git", "rev-parse", "--short", "HEAD"),
}, indent=1))
