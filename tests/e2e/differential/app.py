"""The stand-in API as a process: gunicorn serving dbtapi on a loopback socket this process opened
(passed as `fd://`, so no port is picked and then raced for), stopped with its process group."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
STARTUP_TIMEOUT_S = 30.0


class DjangoApp:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> "DjangoApp":
        if not GUNICORN.exists():
            raise RuntimeError(f"{GUNICORN} missing: run tests/e2e/setup.sh")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="dbtapi.settings", PYTHONDONTWRITEBYTECODE="1")
        self._log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(GUNICORN), "-c", str(HERE / "gunicorn.conf.py"), "--chdir", str(HERE),
                 "--bind", f"fd://{sock.fileno()}", "dbtapi.wsgi:application"],
                cwd=HERE, env=env, pass_fds=(sock.fileno(),), stdout=self._log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            sock.close()  # gunicorn holds its own copy
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready in time: {self.log()[-2000:]}")

    def get(self, path: str) -> tuple[int, dict | None]:
        """A direct request (not through the edge); the status and what the app said it saw."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": "localhost"})
            r = conn.getresponse()
            r.read()
            seen = r.getheader("X-Django-Seen")
            return r.status, json.loads(seen) if seen else None
        finally:
            conn.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
