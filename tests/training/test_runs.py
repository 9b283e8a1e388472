"""Seed 002's configs, runs, latest metrics and status; seed 001's data-check."""

import pytest

from apps.training import tasks
from apps.training.models import TrainingConfigPreset, TrainingJob
from tests.helpers import assert_envelope, client_for, make_user, small_dataset

pytestmark = pytest.mark.django_db
CONFIGS = "/api/v1/training/configs"
JOBS = "/api/v1/training/jobs"


def presets() -> list:
    return sorted(TrainingConfigPreset.objects.values_list("name", "description", "config"))


def test_config_presets_crud(operator_client, viewer_client, admin_client):
    created = operator_client.post(
        CONFIGS,
        {"name": "quick", "description": "smoke runs", "config": {"epochs": 2}},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["config"] == {"epochs": 2}
    assert body["resolved"]["warmup_epochs"] == 1  # clamped like a job's
    listed = viewer_client.get(CONFIGS).json()
    assert listed["available_configs"] == ["quick"] and listed["total"] == 1
    assert viewer_client.get(f"{CONFIGS}/quick").json()["description"] == "smoke runs"
    updated = operator_client.put(
        f"{CONFIGS}/quick", {"config": {"epochs": 4, "batch_size": 8}}, format="json"
    ).json()
    assert updated["config"] == {"epochs": 4, "batch_size": 8}
    before = presets()
    assert_envelope(
        viewer_client.post(CONFIGS, {"name": "v"}, format="json"), 403, "PERMISSION_DENIED"
    )
    other = client_for(make_user("oscar", "operator"))
    assert_envelope(
        other.put(f"{CONFIGS}/quick", {"description": "mine"}, format="json"),
        403,
        "PERMISSION_DENIED",
    )
    assert_envelope(other.delete(f"{CONFIGS}/quick"), 403, "PERMISSION_DENIED")
    assert_envelope(
        operator_client.post(CONFIGS, {"name": "quick"}, format="json"), 409, "CONFLICT"
    )
    assert presets() == before
    assert_envelope(viewer_client.get(f"{CONFIGS}/nope"), 404, "NOT_FOUND")
    assert admin_client.delete(f"{CONFIGS}/quick").status_code == 204
    assert presets() == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "bad name!"}, {"name"}),
        ({"name": "x", "config": {"epochs": 0, "n_fft": 3}}, {"config.epochs", "config.n_fft"}),
        ({"name": "x", "config": "fast"}, {"config"}),
        ({"name": "", "config": {"batch_size": 0}}, {"name"}),
    ],
)
def test_preset_bad_input(operator_client, body, fields):
    error = assert_envelope(
        operator_client.post(CONFIGS, body, format="json"), 400, "VALIDATION_ERROR"
    )
    assert set(error["details"]["fields"]) == fields
    assert presets() == []


def test_a_job_from_a_preset_with_its_own_overrides(operator_client):
    operator_client.post(
        CONFIGS, {"name": "small-batch", "config": {"batch_size": 8, "epochs": 20}}, format="json"
    )
    job = operator_client.post(
        JOBS,
        {"job_name": "p", "config_name": "small-batch", "config": {"epochs": 3}},
        format="json",
    ).json()
    assert job["config_name"] == "small-batch"
    assert (job["config"]["batch_size"], job["config"]["epochs"], job["total_epochs"]) == (8, 3, 3)
    assert job["config"]["warmup_epochs"] == 2  # clamped for the job's own epochs
    unknown = operator_client.post(JOBS, {"job_name": "p", "config_name": "nope"}, format="json")
    assert_envelope(unknown, 400, "VALIDATION_ERROR", "config_name")
    assert TrainingJob.objects.count() == 1


def test_runs_summary_latest_and_status(
    operator_client, admin_client, viewer_client, django_capture_on_commit_callbacks
):
    assert_envelope(viewer_client.get("/api/v1/training/metrics/latest"), 404, "NOT_FOUND")
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=80)
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS,
            {"job_name": "run", "config": {"epochs": 2, "dataset_id": dataset_id}},
            format="json",
        ).json()
    status = viewer_client.get("/api/v1/training/status").json()
    assert (status["queued_jobs"], status["running"], status["slots"]) == (1, False, [])
    assert tasks.run_training_job(job["id"]) == "completed"
    runs = viewer_client.get("/api/v1/training/runs").json()
    assert runs["total"] == 1 and runs["runs"][0]["job_id"] == job["id"]
    summary = viewer_client.get(f"/api/v1/training/runs/{job['id']}/summary").json()
    assert (summary["epochs_run"], summary["total_epochs"], summary["early_stopped"]) == (
        2,
        2,
        False,
    )
    assert summary["best_epoch"] in (1, 2) and summary["best_val_loss"] is not None
    assert summary["device"] == "cpu" and summary["samples_per_second"] > 0
    assert summary["duration_seconds"] >= summary["train_seconds"] > 0
    assert "model_median_error_m" in summary["final_metrics"]
    from apps.ml.models import MLModel

    assert summary["model_id"] == str(MLModel.objects.get().pk)
    metrics = viewer_client.get(f"/api/v1/training/runs/{job['id']}").json()
    assert [row["epoch"] for row in metrics["metrics"]] == [1, 2]
    latest = viewer_client.get("/api/v1/training/metrics/latest").json()
    assert latest["job_id"] == job["id"] and len(latest["metrics"]) == 2
    assert_envelope(
        viewer_client.get("/api/v1/training/runs", {"status": "x"}),
        400,
        "VALIDATION_ERROR",
        "status",
    )
    assert_envelope(viewer_client.get("/api/v1/training/runs/nope/summary"), 404, "NOT_FOUND")


def test_status_shows_slots_and_hides_hosts_from_non_admins(viewer_client, admin_client):
    from apps.core.timeutil import utc_now
    from apps.training.models import TrainingWorker

    TrainingWorker.objects.create(
        name="gpu-1:42",
        host="gpu-1",
        pid=42,
        cluster="training",
        gpu_count=1,
        devices=["NVIDIA H100"],
        started_at=utc_now(),
        seen_at=utc_now(),
    )
    seen = viewer_client.get("/api/v1/training/status").json()["slots"]
    assert seen[0]["worker"] is None and seen[0]["gpu_count"] == 1 and seen[0]["job"] is None
    assert admin_client.get("/api/v1/training/status").json()["slots"][0]["worker"] == "gpu-1:42"


def _signals_dataset(client, capture, samples=120, snr=(-5.0, 20.0)):
    from apps.training import tasks as training_tasks

    with capture(execute=True):
        body = client.post(
            "/api/v1/training/synthetic/generate",
            {
                "name": "clips",
                "dataset_type": "signals",
                "num_samples": samples,
                "clip_samples": 512,
                "receiver_seed": 3,
                "snr_min_db": snr[0],
                "snr_max_db": snr[1],
            },
            format="json",
        ).json()
    assert training_tasks.generate_dataset(body["id"]) == "ready"
    return body["id"]


def test_data_check_for_a_classifier(operator_client, django_capture_on_commit_callbacks):
    from apps.training.datasets import dataset_load
    from apps.training.models import SyntheticDataset

    dataset_id = _signals_dataset(operator_client, django_capture_on_commit_callbacks)
    arrays = dataset_load(SyntheticDataset.objects.get(pk=dataset_id))
    noise = list(arrays["classes"]).index("NOISE")
    expected = int(((arrays["snr_db"] >= 10) | (arrays["labels"] == noise)).sum())
    report = operator_client.get(
        "/api/v1/training/data-check",
        {"dataset_id": dataset_id, "model_architecture": "convnext_tiny"},
    ).json()
    assert report["trainable_samples"] == expected and report["total_samples"] == 120
    assert report["min_snr_db"] == 10.0
    assert sum(report["per_class"].values()) == expected
    small = [f"class {c} has {n} samples" for c, n in report["per_class"].items() if 0 < n < 10]
    assert [p for p in report["problems"] if "samples" in p and "no" not in p] == small
    assert report["snr_db"]["count"] == 120 and report["snr_db"]["min"] >= -5
    everything = operator_client.get(
        "/api/v1/training/data-check",
        {
            "dataset_id": dataset_id,
            "model_architecture": "convnext_tiny",
            "min_snr_db": -30,
        },
    ).json()
    assert everything["trainable_samples"] == 120


def test_data_check_problems_and_bad_input(operator_client, django_capture_on_commit_callbacks):
    none = operator_client.get("/api/v1/training/data-check").json()
    assert none["problems"][0].startswith("no ready localization dataset")
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=60)
    report = operator_client.get("/api/v1/training/data-check", {"dataset_id": dataset_id}).json()
    assert report["dataset_type"] == "localization" and report["trainable_samples"] <= 60
    assert report["receivers_per_sample"]["min"] >= 3
    empty = operator_client.get(
        "/api/v1/training/data-check", {"dataset_id": dataset_id, "min_snr_db": 60}
    ).json()
    assert (empty["trainable_samples"], empty["problems"][0]) == (0, "no samples at min_snr_db 60")
    body = {"job_name": "x", "config": {"dataset_id": dataset_id, "min_snr_db": 60}}
    error = assert_envelope(
        operator_client.post(JOBS, body, format="json"),
        400,
        "VALIDATION_ERROR",
        "config.min_snr_db",
    )
    assert "no samples at min_snr_db 60" in error["details"]["constraint"]
    assert not TrainingJob.objects.exists()
    wrong = operator_client.get(
        "/api/v1/training/data-check",
        {"dataset_id": dataset_id, "model_architecture": "convnext_small"},
    ).json()
    assert wrong["problems"] == [
        "convnext_small trains on signals datasets; this one is localization"
    ]
    for params, field in [
        ({"model_architecture": "resnet"}, "model_architecture"),
        ({"min_snr_db": "loud"}, "min_snr_db"),
        ({"min_snr_db": 99}, "min_snr_db"),
        ({"config_name": "nope"}, "config_name"),
    ]:
        assert_envelope(
            operator_client.get("/api/v1/training/data-check", params),
            400,
            "VALIDATION_ERROR",
            field,
        )
    assert_envelope(
        operator_client.get("/api/v1/training/data-check", {"dataset_id": "x"}), 404, "NOT_FOUND"
    )


READS = [
    "/api/v1/training/configs",
    "/api/v1/training/runs",
    "/api/v1/training/status",
    "/api/v1/training/data-check",
    "/api/v1/models/current/inspect?model_type=localization",
]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("collector", 403),
        ("trainer", None),
        ("viewer", 200),
        ("operator", 200),
        ("admin", 200),
    ],
)
def test_reads_by_role(path, role, expected):
    from rest_framework.test import APIClient

    client = APIClient() if role == "anonymous" else client_for(make_user(f"u-{role}", role))
    if expected is None:  # trainers read models, not training
        expected = 200 if path.startswith("/api/v1/models") else 403
    assert client.get(path).status_code == expected
