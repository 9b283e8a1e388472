"""POST /api/v1/models/train and /models/recommend (seed 003), run in-process."""

import pytest

from apps.ml.models import MLModel
from apps.training import tasks
from apps.training.models import SyntheticDataset, TrainingJob
from apps.training.recommend import score
from tests.constellations.factories import ConstellationFactory
from tests.helpers import assert_envelope, client_for, make_user, small_dataset
from tests.ml import factories

TRAIN = "/api/v1/models/train"
MODELS = "/api/v1/models"


def state() -> dict:
    return {
        "jobs": TrainingJob.objects.count(),
        "datasets": SyntheticDataset.objects.count(),
        "models": sorted(MLModel.objects.values_list("id", "status")),
    }


@pytest.mark.django_db
def test_train_a_registry_model_end_to_end(
    operator_user, operator_client, viewer_client, django_capture_on_commit_callbacks
):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=150)
    model = factories.draft(operator_user, training_config={"epochs": 2, "batch_size": 16})
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            TRAIN,
            {
                "model_id": str(model.pk),
                "dataset_ids": [dataset_id],
                "training_config": {"learning_rate": 0.002},
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (str(model.pk), "training")
    job = TrainingJob.objects.get(pk=body["job_id"])
    assert job.ml_model_id == model.pk and job.status == "queued"
    assert (job.config["epochs"], job.config["batch_size"], job.config["learning_rate"]) == (
        2,
        16,
        0.002,
    )
    assert viewer_client.get(f"/api/v1/training/jobs/{job.pk}").json()["job"]["model_id"] == str(
        model.pk
    )
    assert tasks.run_training_job(str(job.pk)) == "completed"
    trained = viewer_client.get(f"{MODELS}/{model.pk}").json()
    assert (trained["status"], trained["valid"], trained["invalid_reason"]) == (
        "trained",
        True,
        None,
    )
    assert trained["training_metrics"]["epoch"] == 2
    assert trained["training_metrics"]["device"] == "cpu"
    assert "model_median_error_m" in trained["performance_metrics"]
    assert MLModel.objects.count() == 1  # the job filled the linked model: no new record
    job.refresh_from_db()
    assert job.metrics["model_id"] == str(model.pk)
    saved = viewer_client.get(f"{MODELS}/{model.pk}/inspect").json()["bundle_saved_validation"]
    assert set(saved["error_percentiles_m"]) == {"model", "wls", "crb"}
    assert set(saved["error_percentiles_m"]["model"]) == {"p50", "p68", "p90", "p95"}
    assert 0 <= saved["uncertainty_coverage"]["circle95"] <= 1


@pytest.mark.django_db
def test_a_failed_or_cancelled_job_fails_its_model(
    operator_user, operator_client, django_capture_on_commit_callbacks
):
    from apps.training.datasets import dataset_load, dataset_store

    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=60)
    dataset = SyntheticDataset.objects.get(pk=dataset_id)
    arrays = dict(dataset_load(dataset))
    arrays["targets"] = arrays["targets"] * float("nan")
    dataset_store(dataset=dataset, arrays=arrays)
    dataset.save()
    model = factories.draft(operator_user)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = operator_client.post(
            TRAIN,
            {
                "model_id": str(model.pk),
                "dataset_ids": [dataset_id],
                "training_config": {"epochs": 1},
            },
            format="json",
        ).json()["job_id"]
    assert tasks.run_training_job(job_id) == "failed"
    model.refresh_from_db()
    assert model.status == "failed"
    assert model.failure_reason.startswith("loss became nan at epoch 1")
    # retrain after failure, then cancel while queued
    with django_capture_on_commit_callbacks(execute=True):
        job_id = operator_client.post(
            TRAIN, {"model_id": str(model.pk), "dataset_ids": [dataset_id]}, format="json"
        ).json()["job_id"]
        operator_client.post(f"/api/v1/training/jobs/{job_id}/cancel")
    model.refresh_from_db()
    assert (model.status, model.failure_reason) == ("failed", "the training job was cancelled")


@pytest.mark.django_db
def test_auto_activate_only_when_better(
    operator_user, operator_client, django_capture_on_commit_callbacks
):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=150)

    def train(name, **config):
        model = factories.draft(operator_user, name=name)
        with django_capture_on_commit_callbacks(execute=True):
            job_id = operator_client.post(
                TRAIN,
                {
                    "model_id": str(model.pk),
                    "dataset_ids": [dataset_id],
                    "auto_activate": True,
                    "training_config": {"pretrained": False, "batch_size": 16, **config},
                },
                format="json",
            ).json()["job_id"]
        assert tasks.run_training_job(job_id) == "completed"
        model.refresh_from_db()
        return model, TrainingJob.objects.get(pk=job_id)

    good, first = train("good", epochs=4, learning_rate=0.003)
    assert good.status == "deployed"
    assert first.message == "Done; activated: no localization model was active"
    poor, second = train("poor", epochs=1, learning_rate=1e-7)
    assert poor.status == "trained"
    assert second.message.startswith("Done; not activated: median error ")
    assert f"does not beat the active model good {good.version}" in second.message
    assert second.message.endswith(f"on the same {second.val_samples} validation samples")
    good.refresh_from_db()
    assert good.status == "deployed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "model_id"),
        ({"model_id": "not-a-uuid"}, "model_id"),
        ({"model_id": "00000000-0000-0000-0000-000000000000"}, "model_id"),
        ({"model_id": "{model}", "dataset_ids": "all"}, "dataset_ids"),
        ({"model_id": "{model}", "dataset_ids": ["{dataset}", "{dataset}"]}, "dataset_ids"),
        (
            {"model_id": "{model}", "dataset_ids": ["00000000-0000-0000-0000-000000000000"]},
            "dataset_ids[0]",
        ),
        ({"model_id": "{model}", "training_config": {"epochs": 0}}, "training_config.epochs"),
        (
            {"model_id": "{model}", "training_config": {"model_architecture": "convnext_tiny"}},
            "training_config.model_architecture",
        ),
        ({"model_id": "{model}", "config_name": "nope"}, "config_name"),
        # Anomaly models train too (context_density, issue 17), but not as a Gaussian mixture.
        ({"model_id": "{anomaly}"}, "training_config.model_architecture"),
    ],
)
def test_train_bad_input(
    operator_user, operator_client, body, field, django_capture_on_commit_callbacks
):
    model = factories.draft(operator_user)
    anomaly = factories.draft(
        operator_user, name="a", model_type="anomaly_detection", architecture="gaussian_mixture"
    )
    dataset = SyntheticDataset.objects.create(
        name="d", parameters={}, num_samples=1, status="ready"
    )
    ids = {"model": model.pk, "anomaly": anomaly.pk, "dataset": dataset.pk}

    def fill(value):
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value.format(**ids) if isinstance(value, str) else value

    before = state()
    response = operator_client.post(TRAIN, {k: fill(v) for k, v in body.items()}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert state() == before


@pytest.mark.django_db
def test_training_a_model_already_training_is_409(operator_user, operator_client):
    model = factories.draft(operator_user)
    MLModel.objects.filter(pk=model.pk).update(status="training")
    assert_envelope(
        operator_client.post(TRAIN, {"model_id": str(model.pk)}, format="json"), 409, "CONFLICT"
    )
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_no_dataset_ids_queues_a_synthetic_dataset_for_the_job(operator_user, operator_client):
    model = factories.draft(operator_user, model_type="signal_classification", name="clf")
    response = operator_client.post(TRAIN, {"model_id": str(model.pk)}, format="json")
    job = TrainingJob.objects.get(pk=response.json()["job_id"])
    assert job.dataset.status == "pending" and job.dataset.dataset_type == "signals"
    assert job.dataset.num_samples == 10_000  # seed 000's defaults, generated by the worker
    assert job.model_architecture == "convnext_tiny"


# --- recommend --------------------------------------------------------------------------------


def test_recommend_rules():
    small = score(
        "localization",
        {
            "sample_count": 3_000,
            "receivers_per_sample": {"min": 3, "max": 5, "mean": 4.2},
            "snr_db": {"median": 25.0},
        },
        gpu=False,
    )
    assert small["all_scores"] == {"deepsets": 80, "set_transformer": 40}
    assert small["architecture"] == "deepsets"
    assert small["rules"] == [
        "L1: 3,000 samples (< 5,000)",
        "L5: 4.2 receivers per sample on average (< 5)",
    ]
    large = score(
        "localization",
        {
            "sample_count": 30_000,
            "receivers_per_sample": {"min": 4, "max": 10, "mean": 7.0},
            "snr_db": {"median": 12.0},
        },
        gpu=False,
    )
    assert large["all_scores"] == {"deepsets": 60, "set_transformer": 95}
    clips = score(
        "signal_classification",
        {
            "sample_count": 1_000,
            "class_balance": {"min_class_count": 20},
            "snr_db": {"median": 3.0},
        },
        gpu=False,
    )
    assert clips["all_scores"] == {"convnext_tiny": 90, "convnext_small": 55, "convnext_large": 0}
    many = score(
        "signal_classification",
        {
            "sample_count": 80_000,
            "class_balance": {"min_class_count": 9000},
            "snr_db": {"median": 12.0},
        },
        gpu=True,
    )
    assert many["architecture"] == "convnext_large" and many["score"] == 80
    tie = score("localization", {"sample_count": None}, gpu=False)
    assert tie["architecture"] == "deepsets" and tie["score"] == 50


@pytest.mark.django_db
def test_recommend_from_a_dataset(
    viewer_client, operator_client, django_capture_on_commit_callbacks
):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=80)
    response = viewer_client.post(f"{MODELS}/recommend", {"dataset_id": dataset_id}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_type"] == "localization" and body["architecture"] == "deepsets"
    assert body["score"] == body["all_scores"]["deepsets"] and 0 <= body["score"] <= 100
    analysis = body["data_analysis"]
    assert analysis["sample_count"] == 80 and analysis["dataset_id"] == dataset_id
    assert 3 <= analysis["receivers_per_sample"]["min"] <= analysis["receivers_per_sample"]["max"]
    assert analysis["area_extent"]["width_km"] > 200 and analysis["snr_db"]["count"] > 80
    assert body["reasoning"].startswith("deepsets scores ")
    assert body["rules"][0] == "L1: 80 samples (< 5,000)"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model_type": "neural_network"}, "model_type"),
        ({"dataset_id": "x"}, "dataset_id"),
        ({"dataset_id": "00000000-0000-0000-0000-000000000000"}, "dataset_id"),
        ({"constellation_id": "00000000-0000-0000-0000-000000000000"}, "constellation_id"),
        ({"constellation_id": "x"}, "constellation_id"),
    ],
)
def test_recommend_bad_input(viewer_client, body, field):
    # A body field naming nothing is a 400 naming the field (the schema documents no 404
    # for a path without an id; schemathesis's stateful phase caught the 404 this gave).
    response = viewer_client.post(f"{MODELS}/recommend", body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)


@pytest.mark.django_db
def test_recommend_hidden_constellation_looks_missing(viewer_client):
    hidden = ConstellationFactory()  # another operator's, not shared with the viewer
    body = {"constellation_id": str(hidden.pk)}
    response = viewer_client.post(f"{MODELS}/recommend", body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "constellation_id")
    assert response.json()["error"]["details"]["constraint"] == "unknown constellation"


@pytest.mark.django_db
def test_recommend_roles(db):
    from rest_framework.test import APIClient

    assert APIClient().post(f"{MODELS}/recommend", {}, format="json").status_code == 401
    trainer = client_for(make_user("t", "trainer"))
    assert trainer.post(f"{MODELS}/recommend", {}, format="json").status_code == 200


@pytest.mark.django_db
def test_without_dataset_ids_the_config_s_dataset_id_is_used(
    operator_user, operator_client, django_capture_on_commit_callbacks
):
    # Found (issue 15 audit): a dataset_id in the overrides (or the model's config) was
    # dropped without a word and a 10,000-sample synthetic dataset generated instead.
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=40)
    model = factories.draft(operator_user, training_config={"dataset_id": dataset_id})
    before = state()
    unknown = "00000000-0000-0000-0000-000000000000"
    response = operator_client.post(
        TRAIN,
        {"model_id": str(model.pk), "training_config": {"dataset_id": unknown}},
        format="json",
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "training_config.dataset_id")
    assert error["details"]["constraint"] == "unknown dataset"
    assert state() == before
    response = operator_client.post(TRAIN, {"model_id": str(model.pk)}, format="json")
    assert response.status_code == 202, response.content
    job = TrainingJob.objects.get(pk=response.json()["job_id"])
    assert str(job.dataset_id) == job.config["dataset_id"] == dataset_id
    assert SyntheticDataset.objects.count() == before["datasets"]  # nothing generated
