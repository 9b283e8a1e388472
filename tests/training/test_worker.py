"""Training jobs on a real django-q2 training cluster (`Q_CLUSTER_NAME=training qcluster`).

The cluster is a subprocess against the test database and Redis, as the
Procfile runs it; the test process is the API and the WebSocket server.
"""

import json
import os
import signal
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from apps.training.models import TrainingJob
from apps.training.watchdog import LOST_MESSAGE
from heimdall.asgi import application
from tests.helpers import committed_dataset, make_user, wait_for
from tests.servers import qcluster

ROOT = Path(__file__).resolve().parents[2]
JOBS = "/api/v1/training/jobs"
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def training_cluster(**extra_env):
    return qcluster("training", **extra_env)


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
    seen, others = [], []
    with training_cluster():
        while not seen or seen[-1]["status"] not in ("completed", "failed"):
            event = json.loads(await ws.receive_from(timeout=120))
            (seen if event["event"] == "training_status" else others).append(event)
        while not others or others[-1]["event"] != "train_complete":  # after the last status
            others.append(json.loads(await ws.receive_from(timeout=10)))
    await ws.disconnect()
    assert seen[-1]["status"] == "completed", seen[-1]
    assert {e["event"] for e in others} == {"train_progress", "train_complete"}
    assert others[-1]["event"] == "train_complete" and others[-1]["model_id"]
    steps = [event["step"] for event in seen]
    for step in ("preparing_data", "training", "evaluating", "exporting", "done"):
        assert step in steps
    epochs = sorted({e["current_epoch"] for e in seen if e["step"] == "training"})
    assert epochs == [1, 2]
    assert seen[-1]["progress_percent"] == 100.0
    job = await TrainingJob.objects.aget(pk=job_id)
    assert job.onnx_model_path and job.metrics["model_median_error_m"] > 0
    assert not job.worker.endswith(f":{os.getpid()}")  # it ran in the cluster's worker


def _kill_worker_of(job_id, after_epoch: int):
    job = wait_for(
        lambda: TrainingJob.objects.filter(
            pk=job_id, checkpoint_epoch__gte=after_epoch, status="running"
        ).first(),
        180,
    )
    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    return job


def test_a_sigkilled_worker_s_job_resumes_and_completes(operator_client):
    """Killed after its second epoch's checkpoint, the job is queued again by the worker
    django-q2 spawns in the dead one's place, resumes from that epoch and ends with every
    epoch it was asked for."""
    from apps.training.models import TrainingMetric

    dataset_id = committed_dataset(operator_client, 400)
    job_id = _create_job(operator_client, dataset_id, epochs=6, batch_size=8, early_stop_patience=0)
    with training_cluster() as cluster:
        killed = _kill_worker_of(job_id, after_epoch=2)
        done = wait_for(
            lambda: TrainingJob.objects.filter(
                pk=job_id, status__in=["completed", "failed"]
            ).first(),
            300,
        )
        assert cluster.poll() is None  # the cluster lives on with a new worker
    assert done.status == "completed", done.error_message
    assert done.current_epoch == done.total_epochs == 6  # the same final epoch count
    assert done.resume_count == 1
    assert done.resumed_from_epoch >= killed.checkpoint_epoch >= 2
    assert done.worker != killed.worker
    epochs = list(
        TrainingMetric.objects.filter(training_job_id=job_id, phase="train")
        .order_by("epoch")
        .values_list("epoch", flat=True)
    )
    assert epochs == [1, 2, 3, 4, 5, 6]
    assert done.metrics["model_id"] and not done.resume_checkpoint


def test_without_resumes_left_a_sigkilled_worker_fails_the_job(operator_client):
    dataset_id = committed_dataset(operator_client, 400)
    job_id = _create_job(
        operator_client, dataset_id, epochs=500, batch_size=8, early_stop_patience=0
    )
    with training_cluster(HEIMDALL_TRAINING_MAX_RESUMES="0") as cluster:
        _kill_worker_of(job_id, after_epoch=1)
        killed_at = time.monotonic()
        failed = wait_for(
            lambda: TrainingJob.objects.filter(pk=job_id, status="failed").first(), 60
        )
        assert time.monotonic() - killed_at < 60
        assert failed.error_message == LOST_MESSAGE
        assert failed.message == "Failed: worker lost"
        assert cluster.poll() is None


def test_train_a_classifier_through_a_real_worker_then_inspect(admin_client):
    """POST /api/v1/models/train → a job on the training cluster → a trained model whose
    inspect shows the confusion matrix."""
    from apps.ml.models import MLModel
    from apps.training.models import SyntheticDataset
    from apps.training.tasks import generate_dataset

    dataset = admin_client.post(
        "/api/v1/training/synthetic/generate",
        {
            "name": "clips",
            "dataset_type": "signals",
            "num_samples": 96,
            "clip_samples": 1024,
            "receiver_seed": 3,
        },
        format="json",
    ).json()
    wait_for(lambda: SyntheticDataset.objects.filter(pk=dataset["id"]).exists(), 5)
    assert generate_dataset(dataset["id"]) in ("ready", "skipped")
    model = admin_client.post(
        "/api/v1/models",
        {
            "name": "Classifier",
            "model_type": "signal_classification",
            "architecture": "convnext_tiny",
            "training_config": {
                "epochs": 1,
                "batch_size": 16,
                "n_mels": 32,
                "n_fft": 128,
                "hop_length": 64,
                "num_workers": 2,
                "freeze_backbone": True,
                "min_snr_db": -30,
            },
        },
        format="json",
    ).json()
    response = admin_client.post(
        "/api/v1/models/train",
        {"model_id": model["id"], "dataset_ids": [dataset["id"]]},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    with training_cluster():
        job = wait_for(
            lambda: TrainingJob.objects.filter(
                pk=job_id, status__in=["completed", "failed"]
            ).first(),
            600,
        )
    assert job.status == "completed", job.error_message
    assert not job.worker.endswith(f":{os.getpid()}")  # it ran in the cluster's worker
    assert MLModel.objects.get(pk=model["id"]).status == "trained"
    inspected = admin_client.get(f"/api/v1/models/{model['id']}/inspect").json()
    saved = inspected["bundle_saved_validation"]
    assert saved["label_names"] == ["CW", "AM", "USB", "LSB", "FM", "FSK", "PSK", "NOISE"]
    matrix = saved["confusion_matrix"]
    assert len(matrix) == 8 and all(len(row) == 8 for row in matrix)
    assert sum(map(sum, matrix)) == job.val_samples == 19
    assert set(saved["per_class"]["CW"]) == {"precision", "recall", "f1", "support"}
    assert 0 <= saved["macro_f1"] <= 1 and 0 <= saved["weighted_f1"] <= 1
