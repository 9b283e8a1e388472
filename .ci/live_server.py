"""Run a command against a live Heimdall: daphne, both django-q2 clusters, PostgreSQL, Redis.

The SDK suites (sdk/python, sdk/js) and the CLI are tested against this server, not
mocks. It creates a database of its own (`<name>_live`, dropped at the end), migrates,
loads the demo stations and the default models, creates one user per role, mints one
API key per user through the real endpoint, then runs COMMAND with these variables set:

    HEIMDALL_URL              http://127.0.0.1:<port>
    HEIMDALL_API_KEY          the admin's key (HEIMDALL_API_KEY_<ROLE> for each role)
    HEIMDALL_USERNAME_<ROLE>  live-admin, live-operator, live-viewer
    HEIMDALL_PASSWORD         the password of all three
    HEIMDALL_LIVE_DATABASE_URL  the server's database (for tests that inspect rows)
    HEIMDALL_LIVE_REDIS_URL   the server's Redis

and exits with COMMAND's status. Usage:

    .venv/bin/python .ci/live_server.py -- .venv/bin/python -m pytest sdk/python/tests
    .venv/bin/python .ci/live_server.py --env HEIMDALL_RATE_LIMIT_API_KEY=30/min -- node --test

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/heimdall),
REDIS_URL (default redis://127.0.0.1:6379/12). Logs go to var/live/.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from harness import PYTHON, ROOT, database_urls, free_port, manage, recreate_database, wait_for

PASSWORD = "live-Correct-Horse-Battery-9"
ROLES = ("admin", "operator", "viewer")


def _request(base: str, path: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode(), headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")

    live_url, maintenance, name = database_urls("_live")
    logs = ROOT / "var" / "live"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
    env = {
        **os.environ,
        "DATABASE_URL": live_url,
        "REDIS_URL": redis_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HEIMDALL_EMBEDDED_COLLECTORS": "false",
        "HEIMDALL_CHANNEL_PREFIX": f"asgi_{name}",
        "HEIMDALL_CACHE_PREFIX": f"cache_{name}",
        "HEIMDALL_VAR_DIR": str(logs / "var"),
        "HEIMDALL_Q_WORKERS": "1",
    }
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    recreate_database(maintenance, name)
    subprocess.run(
        ["redis-cli", "-u", redis_url, "FLUSHDB"], check=False, stdout=subprocess.DEVNULL
    )
    processes: list[subprocess.Popen] = []
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        for role in ROLES:
            manage(env, "create_user", f"live-{role}", "--role", role, "--password", PASSWORD)
        manage(env, "load_demo_stations")
        manage(env, "ensure_default_models")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        daphne = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                  "heimdall.asgi:application"]  # fmt: skip
        processes.append(_start(daphne, {**env, "HEIMDALL_PROCESS": "web"}, logs / "daphne.log"))
        processes.append(
            _start(
                [PYTHON, "manage.py", "qcluster"],
                {**env, "HEIMDALL_PROCESS": "worker"},
                logs / "worker.log",
            )
        )
        processes.append(
            _start(
                [PYTHON, "manage.py", "qcluster"],
                {**env, "HEIMDALL_PROCESS": "trainer", "Q_CLUSTER_NAME": "training"},
                logs / "trainer.log",
            )
        )
        wait_for(f"{base}/health", 60, processes[0])

        child = {
            **os.environ,
            "HEIMDALL_URL": base,
            "HEIMDALL_PASSWORD": PASSWORD,
            "HEIMDALL_LIVE_DATABASE_URL": live_url,
            "HEIMDALL_LIVE_REDIS_URL": redis_url,
        }
        for role in ROLES:
            username = f"live-{role}"
            token = _request(
                base, "/api/v1/auth/login", {"username": username, "password": PASSWORD}
            )["access_token"]
            key = _request(
                base, "/api/v1/auth/api-keys", {"name": f"live {role}", "role": role}, token
            )
            child[f"HEIMDALL_USERNAME_{role.upper()}"] = username
            child[f"HEIMDALL_API_KEY_{role.upper()}"] = key["key"]
        child["HEIMDALL_API_KEY"] = child["HEIMDALL_API_KEY_ADMIN"]
        print(f"--- live Heimdall at {base}: {' '.join(command)}", flush=True)
        return subprocess.run(command, cwd=ROOT, env=child, check=False).returncode
    finally:
        for process in reversed(processes):
            _stop(process)
        recreate_database(maintenance, name, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
