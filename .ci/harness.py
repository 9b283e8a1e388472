"""What the CI scripts that run a live Heimdall share (.ci/fuzz.py, .ci/live_server.py):
a throw-away database next to DATABASE_URL's, `manage.py`, a free port, waiting for
daphne to answer. Imported by file name: the scripts run as `python .ci/<script>.py`,
which puts `.ci/` first on sys.path."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_urls(suffix: str) -> tuple[str, str, str]:
    """(URL of the database `<name><suffix>`, maintenance database URL, that name), next
    to DATABASE_URL's database (default postgres://postgres@127.0.0.1:5432/heimdall)."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/heimdall")
    parts = urlsplit(base)
    name = parts.path.lstrip("/") + suffix
    return (
        urlunsplit(parts._replace(path=f"/{name}")),
        urlunsplit(parts._replace(path="/postgres")),
        name,
    )


def recreate_database(maintenance: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_for(url: str, seconds: float, server: subprocess.Popen) -> None:
    """Until `url` answers (any HTTP status: a 503 while a dependency warms up is an
    answer); SystemExit if daphne exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"daphne exited with {server.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)  # not listening yet: poll again
    raise SystemExit(f"{url} did not answer within {seconds} s")
