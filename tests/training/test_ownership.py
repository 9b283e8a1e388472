"""Ownership of jobs, datasets and models (issue 12 §9): destructive actions belong to their
creator and admins; reading is team-wide. Every endpoint × {anonymous, viewer, another
operator, the creator, admin}; on a refusal nothing changed."""

import pytest
from rest_framework.test import APIClient

from apps.ml.models import MLModel
from apps.training.models import SyntheticDataset, TrainingConfigPreset, TrainingJob
from tests.helpers import client_for, make_user
from tests.ml import factories

ACTORS = ["anonymous", "viewer", "other", "owner", "admin"]
ERROR_CODES = {401: "AUTHENTICATION_REQUIRED", 403: "PERMISSION_DENIED"}

MATRIX = {
    "job_read": ("get", "/api/v1/training/jobs/{job}", None, [401, 200, 200, 200, 200]),
    "job_cancel": ("post", "/api/v1/training/jobs/{job}/cancel", None, [401, 403, 403, 200, 200]),
    "job_delete": ("delete", "/api/v1/training/jobs/{job}", None, [401, 403, 403, 204, 204]),
    "dataset_read": (
        "get",
        "/api/v1/training/synthetic/datasets/{dataset}",
        None,
        [401, 200, 200, 200, 200],
    ),
    "dataset_delete": (
        "delete",
        "/api/v1/training/synthetic/datasets/{dataset}",
        None,
        [401, 403, 403, 204, 204],
    ),
    "model_read": ("get", "/api/v1/models/{model}", None, [401, 200, 200, 200, 200]),
    "model_update": (
        "put",
        "/api/v1/models/{model}",
        {"description": "changed"},
        [401, 403, 403, 200, 200],
    ),
    "model_delete": ("delete", "/api/v1/models/{model}", None, [401, 403, 403, 204, 204]),
    "model_train": (
        "post",
        "/api/v1/models/train",
        {"model_id": "{model}"},
        [401, 403, 403, 202, 202],
    ),
    "config_update": (
        "put",
        "/api/v1/training/configs/{config}",
        {"description": "changed"},
        [401, 403, 403, 200, 200],
    ),
    "config_delete": (
        "delete",
        "/api/v1/training/configs/{config}",
        None,
        [401, 403, 403, 204, 204],
    ),
}
CASES = [
    (endpoint, actor, statuses[index])
    for endpoint, (*_, statuses) in MATRIX.items()
    for index, actor in enumerate(ACTORS)
]


@pytest.fixture
def world(db, django_capture_on_commit_callbacks):
    users = {
        "viewer": make_user("vic", "viewer"),
        "other": make_user("oscar", "operator"),
        "owner": make_user("olga", "operator"),
        "admin": make_user("ada", "admin"),
    }
    owner = users["owner"]
    dataset = SyntheticDataset.objects.create(
        name="d", parameters={}, num_samples=1, status="ready", created_by=owner
    )
    job = TrainingJob.objects.create(
        job_name="j",
        config={"epochs": 1},
        total_epochs=1,
        model_architecture="deepsets",
        status="running",
        created_by=owner,
        worker="host-1:123",
    )
    model = factories.draft(owner)
    TrainingConfigPreset.objects.create(name="mine", config={"epochs": 2}, created_by=owner)
    return {
        "users": users,
        "ids": {"job": job.pk, "dataset": dataset.pk, "model": model.pk, "config": "mine"},
    }


def snapshot() -> dict:
    return {
        "jobs": sorted(TrainingJob.objects.values_list("id", "status", "message")),
        "datasets": sorted(SyntheticDataset.objects.values_list("id", "status")),
        "models": sorted(MLModel.objects.values_list("id", "status", "description")),
        "configs": sorted(TrainingConfigPreset.objects.values_list("name", "description")),
    }


def fill(template, ids):
    if isinstance(template, dict):
        return {key: fill(value, ids) for key, value in template.items()}
    return template.format(**ids) if isinstance(template, str) else template


@pytest.mark.parametrize(("endpoint", "actor", "expected"), CASES)
def test_matrix(world, endpoint, actor, expected, django_capture_on_commit_callbacks):
    method, path, body, _ = MATRIX[endpoint]
    client = APIClient() if actor == "anonymous" else client_for(world["users"][actor])
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(client, method)(
            fill(path, world["ids"]), fill(body, world["ids"]), format="json"
        )
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["error"]["code"] == ERROR_CODES[expected]
        assert snapshot() == before


@pytest.mark.parametrize("actor", ["viewer", "other", "owner", "admin"])
def test_job_worker_host_is_for_admins_only(world, actor):
    client = client_for(world["users"][actor])
    job = client.get(f"/api/v1/training/jobs/{world['ids']['job']}").json()["job"]
    listed = client.get("/api/v1/training/jobs").json()["jobs"][0]
    expected = "host-1:123" if actor == "admin" else None
    assert job["worker"] == listed["worker"] == expected
