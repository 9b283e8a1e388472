import json
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client

from apps.core.timeutil import utc_now
from apps.stations.models import Station
from tests.helpers import database_url, wait_for
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


def make_station(station_id: str, **extra) -> Station:
    return StationFactory(id=station_id, latitude=45.0, longitude=7.0, **extra)


def test_health_shape_without_auth():
    response = Client().get("/health")
    body = response.json()
    assert set(body) == {"status", "timestamp", "version", "services"}
    assert set(body["services"]) == {
        "database",
        "channel_layer",
        "task_queue",
        "websdr_collectors",
    }
    assert body["services"]["database"] == "healthy"
    assert body["services"]["channel_layer"] == "healthy"  # real Redis round trip
    assert body["timestamp"].endswith("Z")


def test_no_task_cluster_running_means_degraded():
    # Tests run with the django-q2 backend and no qcluster started.
    body = Client().get("/health").json()
    assert body["services"]["task_queue"] == "unhealthy"
    assert body["status"] == "degraded"


def test_collectors_follow_station_freshness():
    now = utc_now()
    assert Client().get("/health").json()["services"]["websdr_collectors"] == "healthy"
    make_station("fresh", last_seen=now)
    make_station("stale", last_seen=now - timedelta(hours=1))
    make_station("off", status="inactive")  # inactive stations are not expected to report
    assert Client().get("/health").json()["services"]["websdr_collectors"] == "degraded"
    Station.objects.filter(pk="fresh").update(last_seen=now - timedelta(hours=2))
    assert Client().get("/health").json()["services"]["websdr_collectors"] == "unhealthy"
    Station.objects.filter(status="active").update(last_seen=now)
    assert Client().get("/health").json()["services"]["websdr_collectors"] == "healthy"


def _run_in_subprocess(code: str, env_overrides: dict) -> str:
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "testserver", **env_overrides}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


HEALTH_PROBE = """
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
django.setup()
from django.test import Client
r = Client().get("/health")
print(json.dumps({"code": r.status_code, "body": r.json()}))
"""


@pytest.mark.slow
def test_unreachable_database_is_503_unhealthy():
    out = json.loads(
        _run_in_subprocess(
            HEALTH_PROBE, {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing"}
        )
    )
    assert out["code"] == 503
    assert out["body"]["status"] == "unhealthy"
    assert out["body"]["services"]["database"] == "unhealthy"


@pytest.fixture
def test_database_url(django_db_setup) -> str:
    """The test database as a URL, for a subprocess (the plain DATABASE_URL may not exist)."""
    from django.db import connection

    return database_url(connection.settings_dict)


@pytest.mark.slow
def test_unreachable_redis_is_degraded_not_500(test_database_url):
    out = json.loads(
        _run_in_subprocess(
            HEALTH_PROBE,
            {"REDIS_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": test_database_url},
        )
    )
    assert out["code"] == 200
    assert out["body"]["services"]["channel_layer"] == "unhealthy"
    assert out["body"]["status"] == "degraded"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_running_qcluster_makes_task_queue_healthy():
    """A real django-q2 cluster against the test database reports in."""
    from django.db import connection

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: Client().get("/health").json()["services"]["task_queue"] == "healthy",
            30,
            interval=0.2,
            what="the task queue healthy once a cluster runs",
        )
    finally:
        cluster.send_signal(signal.SIGTERM)  # the cluster stops its own children
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
