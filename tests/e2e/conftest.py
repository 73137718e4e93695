"""Fixtures: the built .wasm files, the echo upstream, and Envoys that are always stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ARTIFACTS, ROOT, Envoy, Front, Upstream, bootstrap  # noqa: E402

# run.sh builds once before pytest and sets this; a bare `pytest tests/e2e` builds here.
PREBUILT = os.environ.get("TOKENGATE_E2E_PREBUILT") == "1"


_built = False


def _build() -> None:
    """envoy/build.sh once per session (run.sh has already run it when PREBUILT)."""
    global _built
    if PREBUILT or _built:
        return
    subprocess.run(["bash", "envoy/build.sh", "--test-build"], cwd=ROOT, check=True, timeout=1800)
    _built = True


def _artifact(name: str) -> Path:
    _build()
    path = ARTIFACTS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not built (bash envoy/build.sh)")
    return path


@pytest.fixture(scope="session")
def noop_wasm() -> Path:
    return _artifact("noop.wasm")


@pytest.fixture(scope="session")
def filter_wasm() -> Path:
    return _artifact("tokengate.wasm")


FRONTS = ("wasm", "native")


@pytest.fixture(scope="session", params=FRONTS)
def front(request) -> Front:
    """Each of tokengate's Envoy fronts in turn: a test (or fixture) that takes `front` and loads
    `front.filter(policy)` runs against the proxy-wasm filter and against the native module.
    `-k wasm` / `-k native` picks one."""
    if request.param == "wasm":
        return Front("wasm", _artifact("tokengate.wasm"))
    _artifact("libtokengate.so")
    return Front("native", ARTIFACTS)


@pytest.fixture(scope="session")
def native_module() -> Path:
    """The directory holding the native front's libtokengate.so."""
    _artifact("libtokengate.so")
    return ARTIFACTS


@pytest.fixture(scope="session")
def native_test_build() -> Path:
    """The directory of the native test build (`panic-marker`: a marker header panics it)."""
    _artifact("test/libtokengate.so")
    return ARTIFACTS / "test"


@pytest.fixture(scope="session")
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def envoy_factory(tmp_path, upstream):
    """start(http_filters, extra_clusters=None, **envoy_kw) -> a ready Envoy; all stopped after."""
    started: list[Envoy] = []

    def start(http_filters: list, extra_clusters: list | None = None, wait_ready: bool = True, config: dict | None = None, **kw) -> Envoy:
        cfg = config if config is not None else bootstrap(http_filters, upstream.port, extra_clusters)
        e = Envoy(cfg, tmp_path / f"envoy{len(started)}", **kw)
        started.append(e)
        return e.start(wait_ready=wait_ready)

    yield start
    for e in started:
        e.stop()
        # Shown by pytest only when the test failed.
        print(f"--- tail of {e.log_path} ---")
        print("\n".join(e.log().splitlines()[-60:]))


@pytest.fixture(scope="module")
def launch(tmp_path_factory, upstream):
    """launch(http_filters, extra_clusters=None, config=None, **envoy_kw) -> a ready Envoy stopped at
    the end of the module (`config`, a whole bootstrap, replaces the default one built from the
    filters). Module scope: with each test run once per front, Envoys do not pile up.

    For module-scoped Envoys shared by many tests; each call gets its own directory."""
    started: list[Envoy] = []

    def start(http_filters: list, extra_clusters: list | None = None, config: dict | None = None, **kw) -> Envoy:
        cfg = config if config is not None else bootstrap(http_filters, upstream.port, extra_clusters)
        e = Envoy(cfg, tmp_path_factory.mktemp("envoy"), **kw)
        started.append(e)
        return e.start()

    yield start
    for e in started:
        e.stop()


def wire_code(r) -> str:
    """The decision code a response carries: `ok` when the upstream answered, else the denial's."""
    if r.header("x-upstream") == "echo":
        return "ok"
    doc = r.json()
    if isinstance(doc.get("status"), dict):
        return doc["status"]["developer_message"]
    return doc["code"]


def upstream_headers(r) -> dict:
    """What the echo upstream received, as {name: [values]}."""
    out: dict = {}
    for k, v in r.json()["headers"]:
        out.setdefault(k, []).append(v)
    return out


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    """The release CLI (run.sh builds it; a bare pytest run builds it here)."""
    path = ROOT / "target" / "release" / "tokengate"
    if not PREBUILT:
        subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "tokengate-cli"], cwd=ROOT, check=True, timeout=900)
    assert path.exists(), f"{path} not built"
    return path


LOG_SCAN: list = []  # the session's log-scan figures, for the summary


def _fixture_secrets() -> list:
    """Every made-up token the tests send: the shared fixtures and the e2e policy kit's."""
    import policy_kit as pk

    doc = json.loads((ROOT / "tests" / "fixtures" / "tokens.json").read_text())
    return sorted(set(doc["tokens"].values()) | set(pk.ALL_TOKENS))


@pytest.fixture(scope="session", autouse=True)
def no_token_in_any_log(tmp_path_factory):
    """After the whole session: no access log or Envoy log any test produced holds a fixture
    token, its body or its whole digest (SPEC §7). Every Envoy of the harness writes an access log
    in the shipped format (harness.with_access_log); Envoy's own log is `envoy.log`."""
    yield
    from hostile_kit import LeakScanner

    scanner = LeakScanner(_fixture_secrets())
    base = tmp_path_factory.getbasetemp()
    files = sorted(base.rglob("*.log"))
    size = 0
    for f in files:
        data = f.read_bytes()
        size += len(data)
        scanner.scan(str(f.relative_to(base)), data)
    LOG_SCAN.append(f"log scan: {len(files)} log files, {size} bytes, {len(scanner.needles)} secrets sought, "
                    f"{len(scanner.leaks)} leaks")
    if scanner.leaks:
        # Names the file and the secret's first characters only, never the secret.
        pytest.fail("a token or its digest is in a log: " + "; ".join(f"{w} ({n})" for w, n in scanner.leaks))


def pytest_terminal_summary(terminalreporter):
    """The differential suite's figures (variants tried, allowed, mismatches) and the log scan's,
    after every run."""
    mod = sys.modules.get("test_differential")
    for line in getattr(mod, "FIGURES", []) + LOG_SCAN:
        terminalreporter.write_line(line)
