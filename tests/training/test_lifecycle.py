"""One job lifecycle: one writer, the GPU checked in the worker, lost workers resumed."""

import ast
import threading
from pathlib import Path

import pytest

from apps.training import lifecycle, tasks
from apps.training.models import TrainingJob, TrainingMetric, TrainingWorker
from apps.training.watchdog import LOST_MESSAGE
from tests.helpers import assert_envelope, small_dataset

JOBS = "/api/v1/training/jobs"
APPS = Path(__file__).resolve().parents[2] / "apps"
DATASET_STATE = {
    "status",
    "progress_percent",
    "samples_generated",
    "message",
    "error_message",
    "completed_at",
}


def _writes(tree: ast.AST):
    """(line, keyword) of `.update(...)`/`.create(...)` keywords and `x.status = ...`."""
    for node in ast.walk(tree):
        writes = ("update", "create", "update_or_create", "get_or_create")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in writes
        ):
            for keyword in node.keywords:
                yield node.lineno, keyword.arg
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in ("status", "step"):
                    yield node.lineno, target.attr


def test_only_the_lifecycle_writes_job_and_dataset_state():
    """Every module but apps/training/lifecycle.py: no write of a lifecycle field."""
    watched = lifecycle.LIFECYCLE_FIELDS | DATASET_STATE
    offenders = []
    for path in sorted((APPS / "training").rglob("*.py")):
        if path.name == "lifecycle.py" or "migrations" in path.parts:
            continue
        for line, name in _writes(ast.parse(path.read_text())):
            if name in watched:
                offenders.append(f"{path.relative_to(APPS)}:{line} writes {name}")
    # A dataset a job generates is created pending (the default), with a message: a create.
    allowed = {"training/services.py", "training/runner.py"}
    offenders = [o for o in offenders if not (o.split(":")[0] in allowed and "message" in o)]
    assert offenders == []


def _job(client, capture, **config) -> str:
    with capture(execute=True):
        response = client.post(JOBS, {"job_name": "j", "config": config}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_a_gpu_job_on_a_worker_without_one_fails_clearly(
    operator_client, django_capture_on_commit_callbacks
):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=50)
    body = {"job_name": "g", "config": {"accelerator": "gpu", "dataset_id": dataset_id}}
    refused = operator_client.post(JOBS, body, format="json")
    error = assert_envelope(refused, 400, "VALIDATION_ERROR", "config.accelerator")
    assert error["details"]["constraint"].startswith("no GPU on this server or on any training")
    assert not TrainingJob.objects.exists()
    # A GPU host's worker registered: the web host accepts the job; this (CPU) worker takes it.
    from apps.core.timeutil import utc_now

    TrainingWorker.objects.create(
        name="gpu-host:1",
        host="gpu-host",
        pid=1,
        cluster="training",
        gpu_count=1,
        devices=["NVIDIA H100"],
        started_at=utc_now(),
        seen_at=utc_now(),
    )
    job_id = _job(
        operator_client,
        django_capture_on_commit_callbacks,
        accelerator="gpu",
        dataset_id=dataset_id,
        epochs=1,
    )
    assert tasks.run_training_job(job_id) == "failed"
    failed = TrainingJob.objects.get(pk=job_id)
    assert failed.error_message.startswith(
        "accelerator 'gpu': the training worker that took this job has no GPU"
    )
    assert failed.current_epoch == 0 and not TrainingMetric.objects.exists()


@pytest.mark.django_db
def test_a_lost_worker_requeues_then_fails(
    operator_client, django_capture_on_commit_callbacks, settings
):
    from django_q.models import OrmQ

    settings.HEIMDALL_TRAINING_MAX_RESUMES = 1
    job_id = _job(operator_client, django_capture_on_commit_callbacks, epochs=5)
    TrainingJob.objects.filter(pk=job_id).update(
        status="running", worker="elsewhere:1", current_epoch=3
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.job_worker_lost(job_ids=[job_id], reason=LOST_MESSAGE) == 1
    queued = TrainingJob.objects.get(pk=job_id)
    assert (queued.status, queued.resume_count, queued.worker) == ("queued", 1, "")
    assert queued.message == "Worker lost at epoch 3; resuming from epoch 0 (1 of 1 resumes)"
    assert OrmQ.objects.count() == 2  # the first run's task and the resumed one
    TrainingJob.objects.filter(pk=job_id).update(status="running")
    lifecycle.job_worker_lost(job_ids=[job_id], reason=LOST_MESSAGE)
    failed = TrainingJob.objects.get(pk=job_id)
    assert (failed.status, failed.message) == ("failed", "Failed: worker lost")
    assert failed.error_message == f"{LOST_MESSAGE} (after 1 resumes)"


class WorkerDies(Exception):
    pass


class DyingWatch:
    """A watch whose worker dies (an exception out of the loop, nothing terminated) after
    `batches` batches: the job stays `running`, its checkpoint behind."""

    def __init__(self, batches: int):
        self.left = batches
        self.cancelled = threading.Event()

    def check(self):
        self.left -= 1
        if self.left < 0:
            raise WorkerDies()


@pytest.mark.django_db
def test_a_resumed_job_ends_as_an_uninterrupted_one(
    operator_client, django_capture_on_commit_callbacks
):
    """Checkpoints carry optimizer, scheduler and RNG state: a job killed in epoch 3 and
    resumed from epoch 2 ends with exactly the losses of the same job run straight through."""
    from apps.training.runner import run_job

    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=120)
    config = {
        "epochs": 4,
        "warmup_epochs": 1,
        "batch_size": 16,
        "dataset_id": dataset_id,
        "lr_scheduler": "plateau",
        "early_stop_patience": 0,
        "pretrained": False,
    }
    straight = _job(operator_client, django_capture_on_commit_callbacks, **config)
    assert tasks.run_training_job(straight) == "completed"

    resumed = _job(operator_client, django_capture_on_commit_callbacks, **config)
    runner = lifecycle.JobRunner.claim(resumed)
    batches = 6  # 96 training samples in batches of 16
    with pytest.raises(WorkerDies):
        run_job(runner.job, runner, DyingWatch(2 * batches + 3))  # dies in epoch 3
    died = TrainingJob.objects.get(pk=resumed)
    assert (died.status, died.current_epoch, died.checkpoint_epoch) == ("running", 2, 2)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.job_worker_lost(job_ids=[resumed], reason=LOST_MESSAGE)
    assert tasks.run_training_job(resumed) == "completed"

    a, b = TrainingJob.objects.get(pk=straight), TrainingJob.objects.get(pk=resumed)
    assert (b.resume_count, b.resumed_from_epoch, b.current_epoch) == (1, 2, 4)
    assert (a.current_epoch, a.best_epoch) == (b.current_epoch, b.best_epoch)
    assert b.val_loss == pytest.approx(a.val_loss, rel=1e-6)
    assert b.best_val_loss == pytest.approx(a.best_val_loss, rel=1e-6)
    epochs = list(
        TrainingMetric.objects.filter(training_job_id=resumed, phase="train")
        .order_by("epoch")
        .values_list("epoch", flat=True)
    )
    assert epochs == [1, 2, 3, 4]  # epoch 3 of the lost worker was redone, not doubled
    assert not b.resume_checkpoint  # removed once the job ended


@pytest.mark.django_db
def test_cancelling_a_queued_job_ends_it_at_once(
    operator_client, django_capture_on_commit_callbacks
):
    job_id = _job(operator_client, django_capture_on_commit_callbacks, epochs=2)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"{JOBS}/{job_id}/cancel")
    body = response.json()
    assert (body["status"], body["message"]) == ("cancelled", "Cancelled")
    assert body["completed_at"] is not None
    assert tasks.run_training_job(job_id) == "skipped"  # its task finds nothing to do
