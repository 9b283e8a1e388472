"""How Heimdall runs: production settings check, and embedded mode from nothing."""

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-that-is-long-and-random-9f8e7d",
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "heimdall.example.org",
    "HEIMDALL_HTTPS": "true",
    "HEIMDALL_BEHIND_PROXY": "true",
    "HEIMDALL_TRUSTED_PROXIES": "10.0.0.0/8",
}


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEIMDALL_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return {**env, **extra}


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_variables():
    env = _clean_env(
        **PRODUCTION_ENV, DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"]
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _post(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _get(port: int, path: str, token: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_embedded_mode_migrates_sqlite_and_serves(tmp_path):
    """Nothing configured: SQLite under var/, in-memory layer, in-process workers, daphne."""
    env = _clean_env(
        HEIMDALL_VAR_DIR=str(tmp_path / "var"),
        HEIMDALL_STATIC_ROOT=str(tmp_path / "static"),
        HEIMDALL_ADMIN_PASSWORD="embedded-admin-pw",
    )
    manage = [sys.executable, "manage.py"]
    for command in (
        ["migrate", "--noinput"],
        ["ensure_admin"],
        ["load_demo_stations"],
        ["ensure_default_models"],
    ):
        result = subprocess.run(
            manage + command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "heimdall.sqlite3").exists()
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "heimdall.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def health():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                return json.loads(r.read())

        body = wait_for(health, 30, what="daphne answering /health")
        assert body["services"]["database"] == "healthy"
        assert body["services"]["channel_layer"] == "healthy"
        assert body["services"]["task_queue"] == "healthy"
        # The embedded collectors feed the simulated demo stations through ingest.
        token = _post(
            port, "/api/v1/auth/login", {"username": "admin", "password": "embedded-admin-pw"}
        )["access_token"]

        def stored() -> int:
            return _get(port, "/api/v1/signals/detections", token)["pagination"]["total_items"]

        # The list's hand-written SQL on SQLite: filters, times and keyset cursors, once
        # there are enough detections for two pages.
        wait_for(lambda: stored() >= 4, 30, interval=0.2, what="4 simulated detections")
        first = _get(port, "/api/v1/signals/detections?page_size=2&cursor=", token)
        second = _get(
            port,
            "/api/v1/signals/detections?page_size=2&cursor=" + first["pagination"]["next_cursor"],
            token,
        )
        rows = first["data"] + second["data"]
        assert len({row["id"] for row in rows}) == 4
        stamps = [row["detection_timestamp"] for row in rows]
        assert stamps == sorted(stamps, reverse=True) and stamps[0].endswith("Z")
        station = rows[0]["websdr_station_id"]
        filtered = _get(
            port,
            f"/api/v1/signals/detections?websdr_station={station}"
            f"&time_start=2000-01-01T00:00:00Z&time_end={stamps[0]}",
            token,
        )
        assert filtered["data"] and {r["websdr_station_id"] for r in filtered["data"]} == {station}
        assert filtered["data"][0]["detection_timestamp"] <= stamps[0]
    finally:
        server.terminate()
        server.wait(timeout=20)
