import contextlib
import threading
import time

import pytest

from apps.ml.models import MLModel
from apps.training import tasks
from apps.training.models import SyntheticDataset, TrainingJob, TrainingMetric
from tests.conftest import assert_envelope

JOBS = "/api/v1/training/jobs"


def small_dataset(client, capture, samples=300):
    with capture(execute=True):
        body = client.post(
            "/api/v1/training/synthetic/generate",
            {"name": "train", "num_samples": samples, "receiver_seed": 5},
            format="json",
        ).json()
    assert tasks.generate_dataset(body["id"]) == "ready"
    return body["id"]


@pytest.mark.django_db
def test_seed_minimal_example_creates_a_queued_job(
    operator_client, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            JOBS,
            {"job_name": "Test Training", "config": {"epochs": 10, "batch_size": 16}},
            format="json",
        )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued"
    assert body["total_epochs"] == 10
    assert body["celery_task_id"]
    assert body["config"]["batch_size"] == 16
    assert body["config"]["model_architecture"] == "deepsets"
    assert body["config"]["learning_rate"] == 0.001
    assert body["config"]["validation_split"] == 0.2
    assert body["config"]["accelerator"] == "cpu"
    assert OrmQ.objects.count() == 1  # queued for the training cluster after commit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"epochs": 0}, "config.epochs"),
        ({"epochs": 1001}, "config.epochs"),
        ({"batch_size": 513}, "config.batch_size"),
        ({"num_workers": 17}, "config.num_workers"),
        ({"validation_split": 0.6}, "config.validation_split"),
        ({"dropout_rate": 0.95}, "config.dropout_rate"),
        ({"lr_scheduler": "linear"}, "config.lr_scheduler"),
        ({"model_architecture": "resnet"}, "config.model_architecture"),
        ({"model_architecture": "convnext_tiny"}, "config.model_architecture"),
        ({"n_fft": 1000}, "config.n_fft"),
        ({"hop_length": 4096, "n_fft": 2048}, "config.hop_length"),
        ({"warmup_epochs": 10, "epochs": 5}, "config.warmup_epochs"),
        ({"accelerator": "gpu"}, "config.accelerator"),
        ({"learning_rate": 0}, "config.learning_rate"),
        ({"dataset_id": "not-a-uuid"}, "config.dataset_id"),
        ({"dataset_id": "00000000-0000-0000-0000-000000000000"}, "config.dataset_id"),
    ],
)
def test_config_validation_names_the_field(operator_client, config, field):
    response = operator_client.post(JOBS, {"job_name": "x", "config": config}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_viewers_read_but_cannot_train(viewer_client):
    assert_envelope(
        viewer_client.post(JOBS, {"job_name": "x"}, format="json"), 403, "PERMISSION_DENIED"
    )
    assert viewer_client.get(JOBS).json() == {"jobs": [], "total": 0}


@pytest.mark.django_db
def test_a_small_job_trains_end_to_end(operator_client, django_capture_on_commit_callbacks):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS,
            {
                "job_name": "small",
                "config": {
                    "epochs": 3,
                    "batch_size": 32,
                    "warmup_epochs": 1,
                    "dataset_id": dataset_id,
                },
            },
            format="json",
        ).json()
    assert tasks.run_training_job(job["id"]) == "completed"
    detail = operator_client.get(f"{JOBS}/{job['id']}").json()
    assert detail["websocket_url"].endswith(f"/ws/training/{job['id']}")
    done = detail["job"]
    assert (done["status"], done["step"], done["progress_percent"]) == ("completed", "done", 100.0)
    assert done["current_epoch"] == 3
    assert done["train_samples"] == 240 and done["val_samples"] == 60
    assert done["best_epoch"] in (1, 2, 3)
    assert {"model_median_error_m", "wls_median_error_m", "crb_median_m"} <= set(done["metrics"])
    assert [m["epoch"] for m in detail["recent_metrics"]] == [1, 2, 3]
    metrics = operator_client.get(f"{JOBS}/{job['id']}/metrics", {"limit": 2}).json()
    assert [m["epoch"] for m in metrics["metrics"]] == [2, 3]
    registered = MLModel.objects.get(model_type="localization")
    assert registered.config["training_job_id"] == job["id"]
    assert registered.artifact_path.endswith("weights.pt")
    listed = operator_client.get(JOBS, {"status": "completed"}).json()
    assert listed["total"] == 1
    assert_envelope(operator_client.post(f"{JOBS}/{job['id']}/cancel"), 409, "CONFLICT")
    assert operator_client.delete(f"{JOBS}/{job['id']}").status_code == 204
    assert not TrainingMetric.objects.exists()
    assert_envelope(operator_client.get(f"{JOBS}/{job['id']}"), 404, "NOT_FOUND")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_stops_a_running_job_and_keeps_its_data(operator_client):
    from django.db import close_old_connections

    # Transactional test: commits are real, so on_commit runs without capturing.
    dataset_id = small_dataset(
        operator_client, lambda execute=True: contextlib.nullcontext(), samples=400
    )
    job = operator_client.post(
        JOBS,
        {
            "job_name": "long",
            "config": {
                "epochs": 200,
                "batch_size": 8,
                "warmup_epochs": 0,
                "early_stop_patience": 0,
                "dataset_id": dataset_id,
            },
        },
        format="json",
    ).json()
    outcome = {}

    def work():
        outcome["result"] = tasks.run_training_job(job["id"])
        close_old_connections()

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.time() + 60
    while (
        time.time() < deadline
        and not TrainingMetric.objects.filter(training_job_id=job["id"]).exists()
    ):
        time.sleep(0.1)
    response = operator_client.post(f"{JOBS}/{job['id']}/cancel")
    assert response.status_code == 200
    worker.join(timeout=60)
    assert outcome["result"] == "cancelled"
    stopped = TrainingJob.objects.get(pk=job["id"])
    assert stopped.status == "cancelled"
    assert 1 <= stopped.current_epoch < 200
    assert TrainingMetric.objects.filter(training_job_id=job["id"]).exists()  # data kept


@pytest.mark.django_db
def test_job_without_dataset_generates_one(
    operator_client, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS, {"job_name": "auto", "config": {"epochs": 1, "warmup_epochs": 0}}, format="json"
        ).json()
    assert tasks.run_training_job(job["id"]) == "completed"
    dataset = SyntheticDataset.objects.get()
    assert dataset.status == "ready" and dataset.num_samples == 10_000  # seed defaults
    assert TrainingJob.objects.get(pk=job["id"]).dataset_id == dataset.pk
