import json
import os
import threading

import pytest
from django.core.files.storage import default_storage

from apps.ml.models import MLModel
from apps.training import tasks
from apps.training.models import SyntheticDataset, TrainingJob, TrainingMetric
from tests.helpers import assert_envelope, committed_dataset, small_dataset, wait_for

JOBS = "/api/v1/training/jobs"


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
        ({"metrics_every_n_batches": -1}, "config.metrics_every_n_batches"),
        ({"n_fft": 1000}, "config.n_fft"),
        ({"hop_length": 4096, "n_fft": 2048}, "config.hop_length"),
        ({"warmup_epochs": 10, "epochs": 5}, "config.warmup_epochs"),
        ({"accelerator": "gpu"}, "config.accelerator"),
        ({"devices": 2}, "config.devices"),
        ({"devices": 0}, "config.devices"),
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


@pytest.mark.slow
@pytest.mark.django_db
def test_a_small_job_trains_end_to_end(
    operator_client, admin_client, django_capture_on_commit_callbacks
):
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
    assert registered.artifact_path.endswith("model.onnx")  # the weights, stored once
    assert done["checkpoint_path"] == registered.artifact_path
    assert done["onnx_model_path"] == registered.artifact_path
    assert done["metrics"]["onnx_max_abs_difference"] < 1e-3
    assert done["metrics"]["initialized_from"].startswith("random initialisation (no earlier")
    assert done["metrics"]["weights_precision"] in ("float16", "float32")
    assert done["metrics"]["epochs_run"] == 3 and done["metrics"]["early_stopped"] is False
    bundle = json.loads(default_storage.open(registered.artifact_path.replace(
        "model.onnx", "bundle.json")).read())  # fmt: skip
    assert set(bundle["files"]) == {"model.onnx", "normalisation.json", "metrics.json"}
    assert done["worker"] is None  # host:pid only for admins
    assert (
        admin_client.get(f"{JOBS}/{job['id']}").json()["job"]["worker"].endswith(f":{os.getpid()}")
    )
    assert not TrainingJob.objects.get(pk=job["id"]).resume_checkpoint  # removed at the end
    listed = operator_client.get(JOBS, {"status": "completed"}).json()
    assert listed["total"] == 1
    assert_envelope(operator_client.post(f"{JOBS}/{job['id']}/cancel"), 409, "CONFLICT")
    assert operator_client.delete(f"{JOBS}/{job['id']}").status_code == 204
    assert not TrainingMetric.objects.exists()
    assert_envelope(operator_client.get(f"{JOBS}/{job['id']}"), 404, "NOT_FOUND")


def start_long_job(client) -> tuple[dict, threading.Thread, dict]:
    """A 200-epoch job running on a thread, returned once its first epoch is stored.

    Transactional tests only: commits are real, so on_commit runs without capturing.
    """
    from django.db import close_old_connections

    dataset_id = committed_dataset(client, samples=400)
    job = client.post(
        JOBS,
        {"job_name": "long", "config": {"epochs": 200, "batch_size": 8, "warmup_epochs": 0,
                                        "early_stop_patience": 0, "dataset_id": dataset_id}},
        format="json",
    ).json()  # fmt: skip
    outcome: dict = {}

    def work():
        outcome["result"] = tasks.run_training_job(job["id"])
        close_old_connections()

    worker = threading.Thread(target=work)
    worker.start()
    # Returns as soon as the metric is stored (seconds); the long timeout is for a busy
    # machine, where the old loop went on without the metric after 60 s.
    wait_for(
        lambda: TrainingMetric.objects.filter(training_job_id=job["id"]).exists(),
        300,
        what="the job's first metric",
    )
    return job, worker, outcome


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_stops_a_running_job_and_keeps_its_data(operator_client):
    job, worker, outcome = start_long_job(operator_client)
    response = operator_client.post(f"{JOBS}/{job['id']}/cancel")
    assert response.status_code == 200
    worker.join(timeout=60)
    assert outcome["result"] == "cancelled"
    stopped = TrainingJob.objects.get(pk=job["id"])
    assert stopped.status == "cancelled"
    assert 1 <= stopped.current_epoch < 200
    assert TrainingMetric.objects.filter(training_job_id=job["id"]).exists()  # data kept


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.django_db
def test_a_second_job_starts_from_the_first_models_weights(
    operator_client, django_capture_on_commit_callbacks
):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=100)
    config = {"epochs": 1, "warmup_epochs": 0, "dataset_id": dataset_id}
    ids = []
    for name, extra in [("first", {}), ("second", {}), ("scratch", {"pretrained": False})]:
        with django_capture_on_commit_callbacks(execute=True):
            ids.append(
                operator_client.post(
                    JOBS, {"job_name": name, "config": {**config, **extra}}, format="json"
                ).json()["id"]
            )
        assert tasks.run_training_job(ids[-1]) == "completed"
    _, second, scratch = (TrainingJob.objects.get(pk=i) for i in ids)
    origin = MLModel.objects.get(config__training_job_id=ids[0])
    assert second.metrics["initialized_from"] == (
        f"model {origin.name} 1.0.0 ({origin.pk}): 8 of 8 tensors"
    )
    assert scratch.metrics["initialized_from"] == "random initialisation (pretrained: false)"


@pytest.mark.slow
@pytest.mark.django_db
def test_weights_file_for_the_architecture_wins(
    operator_client, django_capture_on_commit_callbacks, settings, tmp_path
):
    import torch

    from apps.training.localization import DeepSets

    torch.save(DeepSets().state_dict(), tmp_path / "deepsets.pt")
    settings.HEIMDALL_PRETRAINED_DIR = str(tmp_path)
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=100)
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS,
            {"job_name": "p", "config": {"epochs": 1, "warmup_epochs": 0,
                                         "dataset_id": dataset_id}},
            format="json",
        ).json()  # fmt: skip
    assert tasks.run_training_job(job["id"]) == "completed"
    used = TrainingJob.objects.get(pk=job["id"]).metrics["initialized_from"]
    assert used == f"file {tmp_path / 'deepsets.pt'}: 8 of 8 tensors"


@pytest.mark.django_db
def test_nan_loss_fails_the_job_with_the_reason(
    operator_client, django_capture_on_commit_callbacks
):
    from apps.training.datasets import dataset_load, dataset_store

    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=100)
    dataset = SyntheticDataset.objects.get(pk=dataset_id)
    arrays = dict(dataset_load(dataset))
    arrays["targets"] = arrays["targets"] * float("nan")  # a corrupted dataset
    dataset_store(dataset=dataset, arrays=arrays)
    dataset.save()
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS,
            {"job_name": "nan", "config": {"epochs": 2, "warmup_epochs": 0,
                                           "dataset_id": dataset_id}},
            format="json",
        ).json()  # fmt: skip
    assert tasks.run_training_job(job["id"]) == "failed"
    failed = TrainingJob.objects.get(pk=job["id"])
    assert failed.status == "failed" and failed.message == "Failed"
    assert failed.error_message.startswith("loss became nan at epoch 1, batch 1")
    assert not MLModel.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_per_batch_metrics_when_asked(operator_client, django_capture_on_commit_callbacks):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=100)
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS,
            {"job_name": "b", "config": {"epochs": 2, "warmup_epochs": 0, "batch_size": 16,
                                         "metrics_every_n_batches": 2, "dataset_id": dataset_id}},
            format="json",
        ).json()  # fmt: skip
    assert tasks.run_training_job(job["id"]) == "completed"
    rows = TrainingMetric.objects.filter(training_job_id=job["id"])
    # 80 training samples in batches of 16: batches 1-5, a row after batches 2 and 4.
    assert sorted(rows.filter(phase="train_batch").values_list("epoch", "batch")) == [
        (1, 2), (1, 4), (2, 2), (2, 4)
    ]  # fmt: skip
    assert rows.filter(phase="train", batch=None).count() == 2


@pytest.mark.django_db
def test_dataset_of_the_wrong_kind_is_400(operator_client, django_capture_on_commit_callbacks):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=50)
    response = operator_client.post(
        JOBS,
        {"job_name": "x", "config": {"model_architecture": "convnext_tiny",
                                     "dataset_id": dataset_id}},
        format="json",
    )  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "config.dataset_id")
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deleting_a_running_job_stops_its_worker(operator_client):
    job, worker, outcome = start_long_job(operator_client)
    assert operator_client.delete(f"{JOBS}/{job['id']}").status_code == 204
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcome["result"] == "cancelled"
    assert not TrainingJob.objects.filter(pk=job["id"]).exists()
    assert not TrainingMetric.objects.filter(training_job_id=job["id"]).exists()


@pytest.mark.parametrize("library", ["torch", "numpy"])
def test_running_out_of_memory_is_said_plainly(library):
    """Real allocation failures (a petabyte: torch's CPU allocator, numpy's MemoryError),
    as a job's worker catches them; bench/gpu.py runs a job into CUDA's out of memory."""
    import numpy as np
    import torch

    allocate = {
        "torch": lambda: torch.empty(2**50, dtype=torch.uint8),
        "numpy": lambda: np.empty(2**50, dtype=np.uint8),
    }[library]
    with pytest.raises((RuntimeError, MemoryError)) as caught:
        allocate()
    assert tasks.failure_message(caught.value).startswith("Out of memory: ")
    assert tasks.failure_message(ValueError("bad data")) == "bad data"
