"""Training jobs on a real django-q2 training cluster (`Q_CLUSTER_NAME=training qcluster`).

The cluster is a subprocess against the test database and Redis, as the
Procfile runs it; the test process is the API and the WebSocket server.
"""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework_simplejwt.tokens import RefreshToken

from apps.training.models import TrainingJob
from apps.training.watchdog import LOST_MESSAGE
from heimdall.asgi import application
from tests.helpers import committed_dataset, database_url, make_user, wait_for

ROOT = Path(__file__).resolve().parents[2]
JOBS = "/api/v1/training/jobs"
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@contextmanager
def training_cluster():
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "Q_CLUSTER_NAME": "training",
        # The test's artifact storage (conftest), so the worker reads the same datasets.
        "HEIMDALL_ARTIFACT_ROOT": settings.STORAGES["default"]["OPTIONS"]["location"],
    }
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield cluster
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)


def _create_job(client, dataset_id: str, **config) -> str:
    response = client.post(
        JOBS,
        {"job_name": "on the cluster", "config": {"warmup_epochs": 0, "dataset_id": dataset_id,
                                                  **config}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _viewer_token() -> str:
    return str(RefreshToken.for_user(make_user("vera", "viewer")).access_token)


@pytest.mark.asyncio
async def test_job_runs_on_the_training_cluster_and_streams_progress(operator_client):
    dataset_id = await sync_to_async(committed_dataset)(operator_client, 200)
    job_id = await sync_to_async(_create_job)(operator_client, dataset_id, epochs=2)
    token = await sync_to_async(_viewer_token)()
    ws = WebsocketCommunicator(application, f"/ws/training/{job_id}?token={token}")
    assert (await ws.connect())[0]
    assert json.loads(await ws.receive_from(timeout=5))["event"] == "connected"
    assert json.loads(await ws.receive_from(timeout=5))["status"] == "queued"
    seen = []
    with training_cluster():
        while not seen or seen[-1]["status"] not in ("completed", "failed"):
            seen.append(json.loads(await ws.receive_from(timeout=120)))
    await ws.disconnect()
    assert seen[-1]["status"] == "completed", seen[-1]
    steps = [event["step"] for event in seen]
    for step in ("preparing_data", "training", "evaluating", "exporting", "done"):
        assert step in steps
    epochs = sorted({e["current_epoch"] for e in seen if e["step"] == "training"})
    assert epochs == [1, 2]
    assert seen[-1]["progress_percent"] == 100.0
    job = await TrainingJob.objects.aget(pk=job_id)
    assert job.onnx_model_path and job.metrics["model_median_error_m"] > 0
    assert not job.worker.endswith(f":{os.getpid()}")  # it ran in the cluster's worker


def test_sigkilled_worker_fails_the_job_with_worker_lost(operator_client):
    dataset_id = committed_dataset(operator_client, 400)
    job_id = _create_job(
        operator_client, dataset_id, epochs=500, batch_size=8, early_stop_patience=0
    )
    with training_cluster() as cluster:
        job = wait_for(
            lambda: TrainingJob.objects.filter(pk=job_id, current_epoch__gte=1).first(), 90
        )
        assert job.status == "running"
        os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        killed_at = time.monotonic()
        failed = wait_for(
            lambda: TrainingJob.objects.filter(pk=job_id, status="failed").first(), 60
        )
        assert time.monotonic() - killed_at < 60
        assert failed.error_message == LOST_MESSAGE
        assert failed.message == "Failed: worker lost"
        assert cluster.poll() is None  # the cluster lives on with a new worker
