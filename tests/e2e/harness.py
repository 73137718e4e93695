"""A real Envoy on loopback, and a small upstream it proxies to.

Stdlib only. Everything binds to 127.0.0.1 on ports the kernel picks (port 0), Envoy included:
its admin address is read back from --admin-address-path and its listener ports from the admin
API, so there is no window in which a port is picked here and stolen before Envoy binds it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVOY_BIN = ROOT / ".venv" / "bin" / "envoy"
# envoy/build.sh puts both fronts here: tokengate.wasm, noop.wasm, libtokengate.so (and the
# native test build in test/).
ARTIFACTS = ROOT / "target" / "envoy"
# Cargo's own output for the wasm filters, before wasm-opt (tools that want the raw build).
WASM_DIR = ROOT / "target" / "wasm32-wasip1" / "wasm"
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------------------------
# The upstream: echoes what reached it, and serves a registry document for registry.url.
# --------------------------------------------------------------------------------------------


@dataclass
class RegistryState:
    """What the registry endpoint answers. Tests mutate it while Envoy polls."""

    body: bytes = b'{"tokens": []}'
    etag: str = '"v1"'
    # ok: 200 (or 304 when If-None-Match matches); error: 500; garbage: 200 with a non-registry
    # body; slow: answer after `delay_s` (longer than the fetch timeout); truncated: 200 whose
    # Content-Length promises the whole document but half of it comes before the connection
    # closes; truncated_json: 200 with a complete HTTP body that is half a document; empty: 200
    # with no body; reset: the connection is reset without an answer.
    mode: str = "ok"
    delay_s: float = 3.0
    # Every fetch seen: (path, If-None-Match or None, status answered).
    fetches: list = field(default_factory=list)
    # When each of `fetches` arrived (time.monotonic()).
    fetched_at: list = field(default_factory=list)
    # For each fetch answered 200: (time.monotonic() when its body was chosen, the ETag served).
    served: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def fetch_count(self) -> int:
        with self.lock:
            return len(self.fetches)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body go out in two writes: without TCP_NODELAY the second waits for
    # Envoy's delayed ACK (40 ms) on every keep-alive request.
    disable_nagle_algorithm = True
    server: "_Server"

    def log_message(self, *args):  # keep pytest output quiet
        pass

    def _reply(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _registry(self):
        self._document(self.server.registry)

    def _document(self, st: "RegistryState"):
        with st.lock:
            st.fetched_at.append(time.monotonic())
        with st.lock:
            mode, body, etag, delay = st.mode, st.body, st.etag, st.delay_s
        inm = self.headers.get("If-None-Match")
        if mode == "slow":
            time.sleep(delay)
        if mode in ("truncated", "reset"):
            with st.lock:
                st.fetches.append((self.path, inm, 0))
            self.close_connection = True
            try:
                if mode == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("ETag", '"truncated"')
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                else:
                    # SO_LINGER 0: close() sends a RST instead of a FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if mode == "error":
            status, out, hdrs = 500, b"upstream exploded", {"Content-Type": "text/plain"}
        elif mode == "garbage":
            status, out, hdrs = 200, b"{not json at all", {"Content-Type": "application/json", "ETag": '"garbage"'}
        elif mode == "truncated_json":
            status, out, hdrs = 200, body[: len(body) // 2], {"Content-Type": "application/json", "ETag": '"half"'}
        elif mode == "empty":
            status, out, hdrs = 200, b"", {"Content-Type": "application/json", "ETag": '"empty"'}
        elif inm is not None and inm == etag:
            status, out, hdrs = 304, b"", {"ETag": etag}
        else:
            status, out, hdrs = 200, body, {"Content-Type": "application/json", "ETag": etag}
        with st.lock:
            st.fetches.append((self.path, inm, status))
            if status == 200:
                st.served.append((time.monotonic(), hdrs.get("ETag")))
        try:
            self._reply(status, out, hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the slow mode outlives Envoy's timeout

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        doc = {
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        with self.server.count_lock:
            self.server.echoed += 1
        if self.server.record:
            self.server.seen.append(doc)
        self._reply(200, json.dumps(doc).encode(), {"Content-Type": "application/json", "X-Upstream": "echo"})

    def _dispatch(self):
        # production.yaml's registry path too, so that the shipped file runs as written.
        if self.path.startswith("/_registry") or self.path == "/v1/tokengate/registry.json":
            self._registry()
        elif self.path.startswith("/_jwks"):
            self._document(self.server.jwks)
        else:
            self._echo()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, record: bool = True):
        super().__init__(("127.0.0.1", port), _Handler)
        self.registry = RegistryState()
        # The key set a `jwks.url` fetches (paths under /_jwks), with the registry's modes.
        self.jwks = RegistryState(body=b'{"keys": []}')
        self.seen: list = []
        # How many requests the echo answered; `seen` keeps each one only when `record` (a soak
        # would otherwise hold every request it sent).
        self.echoed = 0
        self.count_lock = threading.Lock()
        self.record = record
        # Open connections, so that stop() can end the keep-alive ones too (a stopped upstream
        # must look down, not keep answering on connections Envoy pooled).
        self.conns: set = set()

    def process_request(self, request, client_address):
        with self.count_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.count_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        with self.count_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Upstream:
    """The stand-in for the dbt API, on 127.0.0.1:<port>, in a thread. `port` 0 lets the kernel
    pick; `record=False` counts echoed requests without keeping them."""

    def __init__(self, port: int = 0, record: bool = True):
        self._srv = _Server(port, record)
        self.port = self._srv.server_address[1]
        self.registry = self._srv.registry
        self.jwks = self._srv.jwks
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def start(self) -> "Upstream":
        self._thread.start()
        return self

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()
        self._srv.close_connections()

    @property
    def seen(self) -> list:
        return self._srv.seen

    @property
    def echoed(self) -> int:
        with self._srv.count_lock:
            return self._srv.echoed


# --------------------------------------------------------------------------------------------
# Envoy configuration, as JSON (Envoy reads a .json bootstrap as it reads YAML).
# --------------------------------------------------------------------------------------------


def wasm_filter(wasm_path: Path, configuration: str | None, name: str = "tokengate", vm_id: str = "tokengate") -> dict:
    config = {
        "name": name,
        "root_id": name,
        "failure_policy": "FAIL_RELOAD",
        "vm_config": {
            "vm_id": vm_id,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(wasm_path)}},
        },
    }
    if configuration is not None:
        config["configuration"] = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration}
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "config": config},
    }


DYNAMIC_MODULE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"


def native_filter(configuration: str | None, name: str = "tokengate", module: str = "tokengate") -> dict:
    """The native front: the dynamic module `module` (lib<module>.so from
    ENVOY_DYNAMIC_MODULES_SEARCH_PATH), the policy as its `filter_config`."""
    config = {"@type": DYNAMIC_MODULE_TYPE, "dynamic_module_config": {"name": module}, "filter_name": name}
    if configuration is not None:
        config["filter_config"] = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration}
    return {"name": "envoy.filters.http.dynamic_modules", "typed_config": config}


@dataclass(frozen=True)
class Front:
    """One of tokengate's two Envoy fronts. Tests take it from the `front` fixture (conftest), which
    runs them once per front, so the proxy-wasm filter and the native module can never drift."""

    name: str  # "wasm" or "native"
    artifact: Path  # tokengate.wasm, or the directory holding libtokengate.so

    def filter(self, configuration: str | None) -> dict:
        """The HTTP filter entry that loads this front with `configuration` (the policy JSON)."""
        if self.name == "wasm":
            return wasm_filter(self.artifact, configuration)
        return native_filter(configuration)

    def broken_modules(self, tmp_path: Path, configuration: str) -> dict:
        """Filter configs whose module cannot load: {"module_missing": ..., "module_corrupt": ...}."""
        if self.name == "wasm":
            junk = tmp_path / "junk.wasm"
            junk.write_bytes(b"\x00asm\x01\x00\x00\x00" + b"\xff" * 64)
            return {"module_missing": wasm_filter(tmp_path / "no-such.wasm", configuration),
                    "module_corrupt": wasm_filter(junk, configuration)}
        # Envoy looks modules up by name in the search path: the junk one has to live there.
        junk = self.artifact / "libtokengate_e2e_junk.so"
        junk.write_bytes(b"\x7fELF" + b"\xff" * 64)
        return {"module_missing": native_filter(configuration, module="tokengate_e2e_missing"),
                "module_corrupt": native_filter(configuration, module="tokengate_e2e_junk")}

    @property
    def type_url(self) -> str:
        """The filter's config type, for ECDS."""
        return WASM_TYPE if self.name == "wasm" else DYNAMIC_MODULE_TYPE

    @property
    def stat_prefix(self) -> str:
        """Where Envoy files the front's counters: `<prefix>.allowed`, `<prefix>.denied.<code>`, ..."""
        return "wasmcustom.tokengate" if self.name == "wasm" else "dynamicmodulescustom.tokengate"

    @property
    def logger(self) -> str:
        """Envoy's logger for the front's log lines."""
        return "wasm" if self.name == "wasm" else "dynamic_modules"


def tokengate_stats(envoy: "Envoy") -> dict:
    """The tokengate counters and gauge of whichever front `envoy` runs, by their names under the
    prefix (`allowed`, `denied.<code>`, `registry.fetch_ok`, ...)."""
    out: dict = {}
    for k, v in envoy.stats(r"^(wasmcustom|dynamicmodulescustom)\.tokengate\.").items():
        for p in ("wasmcustom.tokengate.", "dynamicmodulescustom.tokengate."):
            if k.startswith(p):
                out[k.removeprefix(p)] = out.get(k.removeprefix(p), 0) + v
    return out


def tokengate_stat(envoy: "Envoy", name: str) -> int:
    return tokengate_stats(envoy).get(name, 0)


def static_cluster(name: str, port: int, timeout_s: float = 2.0) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": f"{timeout_s}s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
            ],
        },
    }


def ecds_filter(name: str, path: Path, type_url: str = WASM_TYPE) -> dict:
    """An HTTP filter whose config Envoy takes from `path` (ECDS over the filesystem) and
    re-reads whenever a new file is moved into place."""
    return {
        "name": name,
        "config_discovery": {
            "config_source": {
                "path_config_source": {"path": str(path), "watched_directory": {"path": str(path.parent)}},
                "resource_api_version": "V3",
            },
            "type_urls": [type_url],
        },
    }


def write_ecds(path: Path, name: str, filter_config: dict, version: str) -> None:
    """Atomically replaces the ECDS file (write aside, then rename: what Envoy's watch expects)."""
    doc = {
        "version_info": version,
        "resources": [
            {
                "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
                "name": name,
                "typed_config": filter_config["typed_config"],
            }
        ],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def hcm_of(config: dict, listener: int = 0) -> dict:
    """The HTTP connection manager of a bootstrap's listener, to adjust it in place."""
    return config["static_resources"]["listeners"][listener]["filter_chains"][0]["filters"][0]["typed_config"]


def bootstrap(http_filters: list, upstream_port: int, extra_clusters: list | None = None) -> dict:
    """One listener on 127.0.0.1:0 routing everything to the `upstream` cluster."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "codec_type": "AUTO",
        "route_config": {
            "name": "local",
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "5s"}}]}
            ],
        },
        "http_filters": list(http_filters)
        + [{"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        # ECDS (and any xDS) needs a node identity.
        "node": {"id": "tokengate-e2e", "cluster": "tokengate-e2e"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "main",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
                }
            ],
            "clusters": [static_cluster("upstream", upstream_port)] + list(extra_clusters or []),
        },
    }


def shipped_access_log_format() -> dict:
    """The `json_format` of envoy/production.yaml's access log, read from the file: every test Envoy
    logs what the shipped configuration logs, so the session's log scan (conftest) would find a
    token or digest that format lets through."""
    lines = (ROOT / "envoy" / "production.yaml").read_text().splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == "json_format:"), None)
    out: dict = {}
    if start is None:
        raise RuntimeError("envoy/production.yaml has no json_format access log to mirror")
    indent = None
    for line in lines[start + 1:]:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        if depth == indent:
            key, _, value = text.partition(":")
            out[key.strip()] = value.split(" #")[0].strip().strip('"')
    return out


def with_access_log(config: dict, path: Path) -> dict:
    """`config` with a file access log (the shipped format) on every HTTP connection manager
    that has none; a copy, the caller's dict is left as it was."""
    config = json.loads(json.dumps(config))
    fmt = None
    for listener in config.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for f in chain.get("filters", []):
                tc = f.get("typed_config", {})
                if f.get("name") != "envoy.filters.network.http_connection_manager" or "access_log" in tc:
                    continue
                fmt = fmt or shipped_access_log_format()
                log_format: dict = {"json_format": fmt}
                if any("%REQ_WITHOUT_QUERY(" in v for v in fmt.values()):  # an extension formatter
                    log_format["formatters"] = [{
                        "name": "envoy.formatter.req_without_query",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery"},
                    }]
                tc["access_log"] = [{
                    "name": "envoy.access_loggers.file",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": str(path),
                        "log_format": log_format,
                    },
                }]
    return config


# --------------------------------------------------------------------------------------------
# Envoy, the process.
# --------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list  # [(lowercase name, value)], repeats kept
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name: str) -> list:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body)


class EnvoyFailedToStart(RuntimeError):
    def __init__(self, msg: str, log: str):
        super().__init__(msg)
        self.log = log


class Envoy:
    """Starts the venv's Envoy with `config` in `workdir`; stop() always kills it."""

    def __init__(self, config: dict | str, workdir: Path, concurrency: int = 2, log_level: str = "info",
                 component_log: str = "wasm:debug,dynamic_modules:debug", listener: str = "main",
                 module_dir: Path | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, str):  # YAML text, as an operator writes it
            self.config_path = self.workdir / "envoy.yaml"
            self.config_path.write_text(config)
        else:
            self.config_path = self.workdir / "envoy.json"
            config = with_access_log(config, self.workdir / "access.log")
            self.config_path.write_text(json.dumps(config, indent=1))
        self.listener = listener
        self.admin_path = self.workdir / "admin-address.txt"
        self.log_path = self.workdir / "envoy.log"
        self.concurrency = concurrency
        self.log_level = log_level
        self.component_log = component_log
        # Where the native front's libtokengate.so is looked for (ENVOY_DYNAMIC_MODULES_SEARCH_PATH).
        self.module_dir = Path(module_dir) if module_dir is not None else ARTIFACTS
        self.proc: subprocess.Popen | None = None
        self.admin: str = ""
        self.port: int = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, wait_ready: bool = True) -> "Envoy":
        if not ENVOY_BIN.exists():
            raise RuntimeError(f"{ENVOY_BIN} missing: run tests/e2e/setup.sh")
        self.admin_path.unlink(missing_ok=True)
        cmd = [
            str(ENVOY_BIN),
            "--config-path", str(self.config_path),
            "--admin-address-path", str(self.admin_path),
            "--use-dynamic-base-id",
            "--concurrency", str(self.concurrency),
            "--log-level", self.log_level,
            "--disable-hot-restart",
            # Access logs reach their file every 10 s by default; tests that read them wait less.
            "--file-flush-interval-msec", "100",
        ]
        if self.component_log:
            cmd += ["--component-log-level", self.component_log]
        self._log_file = open(self.log_path, "wb")
        env = {**os.environ, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": str(self.module_dir)}
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise EnvoyFailedToStart(f"envoy exited with {self.proc.returncode}", self.log())
            if not self.admin and self.admin_path.exists():
                addr = self.admin_path.read_text().strip()
                if addr:
                    self.admin = "http://" + addr
            if self.admin:
                try:
                    status, _ = self.admin_get("/ready")
                    if status == 200:
                        self.port = self._listener_port(self.listener)
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise EnvoyFailedToStart("envoy not ready in time", self.log())

    def wait_exit(self, timeout: float = STARTUP_TIMEOUT_S) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if getattr(self, "_log_file", None) is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- admin -------------------------------------------------------------------------------

    def admin_get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.admin + path, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def admin_post(self, path: str) -> tuple[int, str]:
        req = urllib.request.Request(self.admin + path, method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def _listener_port(self, name: str) -> int:
        _, body = self.admin_get("/listeners?format=json")
        for ls in json.loads(body).get("listener_statuses", []):
            if ls.get("name") == name:
                return int(ls["local_address"]["socket_address"]["port_value"])
        raise RuntimeError(f"listener {name} not found: {body}")

    def stats(self, filter_re: str = "") -> dict:
        """Counters and gauges as {name: int} (histograms left out)."""
        path = "/stats?usedonly" if not filter_re else f"/stats?filter={urllib.parse.quote(filter_re)}"
        _, body = self.admin_get(path)
        out = {}
        for line in body.splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[name.strip()] = int(value)
        return out

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- traffic -----------------------------------------------------------------------------

    def request(self, method: str = "GET", path: str = "/", headers: list | dict | None = None, body: bytes | None = None, host: str = "localhost") -> Response:
        """One request on a fresh connection. `headers` may repeat names (a list of pairs)."""
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if not any(k.lower() == "host" for k, _ in pairs):
                conn.putheader("Host", host)
            for k, v in pairs:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], data)
        finally:
            conn.close()


def free_ports(n: int) -> list:
    """Ports the kernel picks, for configs that must name them (a static cluster pointing at a
    listener of the same Envoy). Released before use: a small race, fine on a test machine."""
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def validate(config_path: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """`envoy --mode validate`: parses the config and loads the filters (the policy included)."""
    env = {**os.environ, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": str(ARTIFACTS)}
    return subprocess.run([str(ENVOY_BIN), "--mode", "validate", "-c", str(config_path), "--log-level", "info",
                           "--disable-hot-restart"], capture_output=True, text=True, timeout=timeout, env=env)


def have_envoy() -> bool:
    return ENVOY_BIN.exists() or shutil.which("envoy") is not None


def worker_threads(envoy: "Envoy") -> dict:
    """{client port: Envoy thread id} for every downstream connection logged so far (it needs
    `conn_handler:debug` in `component_log`). A connection lives on one worker for its life."""
    out = {}
    for m in _NEW_CONNECTION.finditer(envoy.log()):
        out[int(m.group(2))] = m.group(1)
    return out


_NEW_CONNECTION = re.compile(r"^\[[^\]]*\]\[(\d+)\]\[debug\]\[conn_handler\].*new connection from 127\.0\.0\.1:(\d+)$", re.M)

_GENERATION = re.compile(
    r"^\[[^\]]*\]\[(\d+)\].*?(?:\(generation (\d+)\)|registry generation (\d+) adopted)", re.M
)


def registry_generations(envoy: "Envoy") -> dict:
    """The newest registry generation each VM (one per thread: the workers' and the main thread's)
    has logged holding, by thread id. Two VMs can both fetch at start-up before either publishes to
    shared data, so a process may reach generation 2 with one document: compare generations,
    never assume their numbers."""
    held: dict = {}
    for m in _GENERATION.finditer(envoy.log()):
        thread, gen = m.group(1), int(m.group(2) or m.group(3))
        held[thread] = max(held.get(thread, 0), gen)
    return held


def registry_on_every_vm(envoy: "Envoy", generation: int) -> bool:
    """Whether every worker of a `registry.url` filter serves registry `generation` or a newer one.
    The wasm filter: every VM has logged holding it (one fetched it, the others adopt it from shared
    data within a tick, 100 ms; until then a request may still meet a worker without it). The
    native front holds one registry for the whole process, swapped atomically: installed is
    served by every worker at once."""
    held = registry_generations(envoy)
    if "[dynamic_modules]" in envoy.log():
        return max(held.values(), default=0) >= generation
    return sum(1 for g in held.values() if g >= generation) >= envoy.concurrency + 1


_KEY_SET = re.compile(
    r"^\[[^\]]*\]\[(\d+)\].*?key set (?:loaded from .*\(key set generation (\d+)\)|generation (\d+) adopted)", re.M
)


def keys_on_every_vm(envoy: "Envoy", generation: int) -> bool:
    """Whether every worker of a `jwks.url` filter holds key set `generation` or a newer one: as
    `registry_on_every_vm`, from the filter's "key set loaded" / "key set generation N adopted" lines."""
    held: dict = {}
    for m in _KEY_SET.finditer(envoy.log()):
        thread, gen = m.group(1), int(m.group(2) or m.group(3))
        held[thread] = max(held.get(thread, 0), gen)
    if "[dynamic_modules]" in envoy.log():
        return max(held.values(), default=0) >= generation
    return sum(1 for g in held.values() if g >= generation) >= envoy.concurrency + 1


def newest_generation(envoy: "Envoy") -> int:
    return max(registry_generations(envoy).values(), default=0)


def wait_for(pred, timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


# --------------------------------------------------------------------------------------------
# Clients that send what no client library would: raw HTTP/1.1 bytes, and HTTP/2 frames whose
# headers are not validated on the way out.
# --------------------------------------------------------------------------------------------


@dataclass
class RawResponse:
    """One answer, or how the connection ended without one (`status` None, `error` says why)."""

    status: int | None
    headers: list  # [(lowercase name bytes, value bytes)]
    body: bytes
    error: str | None = None

    def header(self, name: str) -> bytes | None:
        n = name.lower().encode()
        return next((v for k, v in self.headers if k == n), None)

    def header_all(self, name: str) -> list:
        n = name.lower().encode()
        return [v for k, v in self.headers if k == n]


def _read_http1_response(sock: socket.socket, buf: bytes) -> tuple[RawResponse, bytes]:
    """Reads one HTTP/1.1 response (Content-Length or chunked, or to EOF) from `sock`; `buf` is
    what was already read. Returns the response and what follows it."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return RawResponse(None, [], buf, "closed before a response" if not buf else "truncated head"), b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.strip().lower(), v.strip()))
    hmap = dict(headers)
    if b"content-length" in hmap:
        n = int(hmap[b"content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                return RawResponse(status, headers, rest, "truncated body"), b""
            rest += chunk
        return RawResponse(status, headers, rest[:n]), rest[n:]
    if hmap.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    return RawResponse(status, headers, body, "truncated chunk"), b""
                rest += chunk
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return RawResponse(status, headers, body, "truncated chunk"), b""
                rest += chunk
            body, rest = body + rest[:size], rest[size + 2:]
            if size == 0:
                return RawResponse(status, headers, body), rest
    if status is not None and (status in (204, 304) or 100 <= status < 200):
        return RawResponse(status, headers, b""), rest
    while True:  # no length: the body runs to the end of the connection
        chunk = sock.recv(65536)
        if not chunk:
            return RawResponse(status, headers, rest), b""
        rest += chunk


def raw_http1(port: int, data: bytes, responses: int = 1, timeout: float = REQUEST_TIMEOUT_S) -> list:
    """Sends `data` as is on a fresh connection and reads up to `responses` answers (pipelined
    requests get one each). A connection that ends early gives a RawResponse with `error`."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            return [RawResponse(None, [], b"", f"send: {e!r}")]
        buf = b""
        try:
            for _ in range(responses):
                r, buf = _read_http1_response(s, buf)
                out.append(r)
                if r.status is None or r.error:
                    break
        except ConnectionResetError as e:
            out.append(RawResponse(None, [], b"", f"reset: {e!r}"))
        except socket.timeout:
            out.append(RawResponse(None, [], b"", "timeout"))
    return out


class H2Client:
    """HTTP/2 with prior knowledge (h2c) over one connection, headers sent unvalidated and
    unnormalised: names and values are bytes, exactly as given. Needs the `h2` package
    (setup.sh installs it)."""

    def __init__(self, port: int, timeout: float = REQUEST_TIMEOUT_S):
        import h2.config
        import h2.connection

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # Small writes (WINDOW_UPDATE, then the next HEADERS) must not wait for a delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None, validate_outbound_headers=False,
                                        normalize_outbound_headers=False, validate_inbound_headers=False,
                                        normalize_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.closed: str | None = None

    def request(self, headers: list, body: bytes | None = None) -> RawResponse:
        """One stream: `headers` as [(name bytes, value bytes)], pseudo-headers included."""
        import h2.events
        import h2.exceptions

        if self.closed:
            return RawResponse(None, [], b"", self.closed)
        sid = self.conn.get_next_available_stream_id()
        try:
            self.conn.send_headers(sid, headers, end_stream=body is None)
            if body is not None:
                self.conn.send_data(sid, body, end_stream=True)
            self.sock.sendall(self.conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError) as e:
            self.closed = f"send: {e!r}"
            return RawResponse(None, [], b"", self.closed)
        status, hdrs, data = None, [], b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                self.closed = "timeout"
                return RawResponse(status, hdrs, data, self.closed)
            except OSError as e:
                self.closed = f"reset: {e!r}"
                return RawResponse(status, hdrs, data, self.closed)
            if not chunk:
                self.closed = "closed"
                return RawResponse(status, hdrs, data, self.closed)
            try:
                events = self.conn.receive_data(chunk)
            except h2.exceptions.ProtocolError as e:
                self.closed = f"protocol error: {e!r}"
                return RawResponse(status, hdrs, data, self.closed)
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    hdrs = [(bytes(k).lower(), bytes(v)) for k, v in ev.headers]
                    st = dict(hdrs).get(b":status", b"")
                    status = int(st) if st.isdigit() else None
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    data += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self._flush()
                    return RawResponse(status, hdrs, data)
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    self._flush()
                    return RawResponse(status, hdrs, data, f"stream reset {ev.error_code!r}")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.closed = f"goaway {ev.error_code!r}"
                    return RawResponse(status, hdrs, data, self.closed)
            self._flush()

    def _flush(self):
        out = self.conn.data_to_send()
        if out:
            try:
                self.sock.sendall(out)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
