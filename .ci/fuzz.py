"""Fuzz the whole OpenAPI schema with schemathesis against a live Heimdall.

Starts daphne on PostgreSQL + Redis (a database of its own, dropped at the
end), logs in as admin, operator and viewer, and runs schemathesis once per
role for a bounded time. Fails on any 5xx and on any response that
contradicts the schema (status code, content type, headers, body); with
--strict-requests also on any request that breaks the schema but is accepted.

    make fuzz                                       # 60 s per role (FUZZ_SECONDS)
    .venv/bin/python .ci/fuzz.py --seconds 20 --roles viewer

Environment: DATABASE_URL (the fuzz database `<name>_fuzz` is created next to
it; default postgres://postgres@127.0.0.1:5432/heimdall), REDIS_URL (default
redis://127.0.0.1:6379/14). Reports (JUnit XML, and the cassette of failing
requests) go to var/fuzz/<role>/, daphne's log to var/fuzz/daphne.log.
docs/testing.md describes the run.
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

from harness import PYTHON, ROOT, database_urls, free_port, manage, recreate_database, wait_for

PASSWORD = "fuzz-Correct-Horse-Battery-9"
ROLES = ("admin", "operator", "viewer")
# The gate: no 5xx, and every response as the schema describes it.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
# --strict-requests adds: a request that breaks the schema must be refused. Not in the gate
# yet: DRF's CharField takes a number for a string (`"job_name": 0` is stored as "0").
STRICT_CHECKS = ["negative_data_rejection"]


def _token(base: str, username: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/login",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per role")
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--seed", type=int, default=20240115)
    # One worker: CPython 3.11 can fail parsing ASTs in two threads at once
    # ("AST constructor recursion depth mismatch" inside schemathesis).
    parser.add_argument("--workers", default="1")
    parser.add_argument("--strict-requests", action="store_true")
    args = parser.parse_args()

    fuzz_url, maintenance, name = database_urls("_fuzz")
    reports = ROOT / "var" / "fuzz"
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": fuzz_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HEIMDALL_EMBEDDED_COLLECTORS": "false",
        # The fuzzer sends thousands of requests a minute from one user: the limits
        # are raised so that it explores the API, not the rate limiter (a 429 would
        # still have to match the schema).
        "HEIMDALL_RATE_LIMIT_USER": "1000000/min",
        "HEIMDALL_RATE_LIMIT_ANON": "1000000/min",
        "HEIMDALL_RATE_LIMIT_LOGIN_USERNAME": "1000000/min",
        "HEIMDALL_RATE_LIMIT_LOGIN_ADDRESS": "1000000/min",
    }
    recreate_database(maintenance, name)
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        for role in ROLES:
            manage(env, "create_user", f"fuzz-{role}", "--role", role, "--password", PASSWORD)
        manage(env, "load_demo_stations")
        schema = reports / "schema.json"
        manage(env, "spectacular", "--format", "openapi-json", "--file", str(schema))

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "heimdall.asgi:application"],
            cwd=ROOT, env=env, stdout=open(reports / "daphne.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(f"{base}/health", 60, server)

        failed = []
        for role in args.roles.split(","):
            token = _token(base, f"fuzz-{role}")
            out = reports / role
            command = [
                PYTHON, "-m", "schemathesis.cli", "run", str(schema), "--url", base,
                "--header", f"Authorization: Bearer {token}",
                "--checks", ",".join(CHECKS + (STRICT_CHECKS if args.strict_requests else [])),
                "--max-time", str(args.seconds), "--seed", str(args.seed),
                "--workers", args.workers, "--request-timeout", "30",
                "--suppress-health-check", "all", "--no-color",
                "--report", "junit,vcr", "--report-dir", str(out),
            ]  # fmt: skip
            print(f"--- schemathesis as {role} ({args.seconds} s)", flush=True)
            result = subprocess.run(command, cwd=ROOT, env=env, check=False)
            if result.returncode != 0:
                failed.append(role)
        if failed:
            print(f"fuzzing failed for: {', '.join(failed)} (reports in {reports})")
            return 1
        print("fuzzing: no server errors, every response as the schema says")
        return 0
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        recreate_database(maintenance, name, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
