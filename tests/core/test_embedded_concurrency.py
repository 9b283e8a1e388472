"""The embedded default (SQLite, in-process workers, embedded collectors) under concurrent use.

Issue 12 §7: with nothing configured, 30 concurrent constellation creates gave
25 × 500 "database is locked", `create_user` failed while the server ran and
the collectors logged lock errors by the hundred. These run the real thing:
`migrate`, the demo stations, one daphne, real HTTP.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servers import clean_env, daphne, http, manage, wait_until


@pytest.fixture
def embedded_env(tmp_path):
    env = clean_env(
        HEIMDALL_VAR_DIR=tmp_path / "var",
        HEIMDALL_STATIC_ROOT=tmp_path / "static",
        HEIMDALL_ADMIN_PASSWORD="embedded-admin-pw",
        # Every chunk writes a station check too: the collectors write as often as they can.
        HEIMDALL_STATION_CHECK_INTERVAL=0,
    )
    for command in (["migrate", "--noinput"], ["ensure_admin"], ["load_demo_stations"]):
        result = manage(env, *command)
        assert result.returncode == 0, result.stdout + result.stderr
    return env


def _detections(base: str, token: str) -> int:
    status, _, body = http("GET", f"{base}/api/v1/signals/detections?page_size=1", token=token)
    assert status == 200, body
    return body["pagination"]["total_items"]


@pytest.mark.slow
def test_embedded_server_takes_concurrent_writes_without_5xx(embedded_env, tmp_path):
    with daphne(embedded_env, tmp_path / "daphne.log") as (base, server):
        status, _, body = http(
            "POST",
            f"{base}/api/v1/auth/login",
            {"username": "admin", "password": "embedded-admin-pw"},
        )
        assert status == 200, body
        token = body["access_token"]
        # The collectors are writing (detections, station state) before the burst starts.
        wait_until(lambda: _detections(base, token) > 0, 60, 0.5, "collector detections")

        def create(index: int):
            return http(
                "POST",
                f"{base}/api/v1/constellations",
                {"name": f"burst-{index}", "description": "concurrent create"},
                token=token,
                timeout=60,
            )

        with ThreadPoolExecutor(max_workers=31) as pool:
            creates = [pool.submit(create, i) for i in range(30)]
            # A second process writes to the same file while the server is busy.
            user = pool.submit(
                manage, embedded_env, "create_user", "ops-during-burst", "--role", "operator",
                "--password", "a-long-operator-password-7",
            )  # fmt: skip
            answers = [future.result() for future in creates]
            created_user = user.result()

        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [201] * 30, [(s, b) for s, _, b in answers if s != 201][:3]
        assert created_user.returncode == 0, created_user.stdout + created_user.stderr
        assert "Created operator ops-during-burst" in created_user.stdout

        status, _, body = http("GET", f"{base}/api/v1/constellations?page_size=100", token=token)
        assert status == 200
        names = {c["name"] for c in body["data"]}
        assert {f"burst-{i}" for i in range(30)} <= names
        # The new user can log in to the running server.
        status, _, _ = http(
            "POST",
            f"{base}/api/v1/auth/login",
            {"username": "ops-during-burst", "password": "a-long-operator-password-7"},
        )
        assert status == 200
        # The collectors kept going through the burst, and never met a lock.
        before = _detections(base, token)
        wait_until(lambda: _detections(base, token) > before, 30, 0.5, "more detections")
        log = server.log()
    assert "database is locked" not in log
    assert "Traceback" not in log, log[-3000:]
