"""Real processes for tests: daphne and management commands in subprocesses, a TCP proxy.

Not a test module: tests import it (like tests/helpers.py). Every process is
started with the caller's environment minus Heimdall's settings, plus what
the test gives, so a test says exactly how the process is configured.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**extra) -> dict:
    """The environment without DJANGO_*/HEIMDALL_*/DATABASE_URL/REDIS_URL, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEIMDALL_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return {**env, **{k: str(v) for k, v in extra.items()}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(predicate, timeout: float, interval: float = 0.2, message: str = "condition"):
    """Poll `predicate()` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def http(method: str, url: str, body=None, token: str | None = None, timeout: float = 90):
    """(status, headers, parsed JSON or text) without raising on 4xx/5xx."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, hdrs = response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        status, raw, hdrs = err.code, err.read(), err.headers
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


class Process:
    """A subprocess whose output goes to a file that the test can read while it runs."""

    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._log.close()
        return self.popen.returncode


@contextlib.contextmanager
def daphne(env: dict, log_path: Path, *, ready_timeout: float = 60):
    """One daphne serving heimdall.asgi on a free port; yields (base_url, Process)."""
    port = free_port()
    process = Process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        env,
        log_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            if not process.alive():
                raise AssertionError(f"daphne exited:\n{process.log()[-3000:]}")
            with contextlib.suppress(OSError):
                return http("GET", f"{base}/health", timeout=5)[0] in (200, 503)
            return False

        wait_until(up, ready_timeout, 0.3, "daphne to answer /health")
        yield base, process
    finally:
        process.stop()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a real server; `down()` cuts every connection.

    Lets a test give a process a database or Redis that goes away and comes back,
    without touching the shared servers: the process is pointed at the proxy.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and reset every open connection (the server 'goes away')."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def qcluster(name: str | None = None, **extra_env):
    """A django-q2 cluster (`manage.py qcluster`; `name` "training" for the trainer) on the
    test's database and artifact storage, stopped (SIGTERM, then SIGKILL) on exit."""
    import signal

    from django.conf import settings
    from django.db import connection

    from tests.helpers import database_url

    env = {
        **os.environ,
        **{k: str(v) for k, v in extra_env.items()},
        "DATABASE_URL": database_url(connection.settings_dict),
        # The test's artifact storage (conftest), so the worker reads the same files.
        "HEIMDALL_ARTIFACT_ROOT": settings.STORAGES["default"]["OPTIONS"]["location"],
    }
    if name:
        env["Q_CLUSTER_NAME"] = name
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
