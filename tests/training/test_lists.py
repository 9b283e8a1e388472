"""The training lists: FilterSet → selector → seed 000's `limit`/`offset` pages.

/training/jobs and /training/runs (TrainingJobFilterSet → selectors.job_list),
/training/synthetic/datasets (SyntheticDatasetFilterSet → selectors.dataset_list),
/training/configs (selectors.preset_list, no pages). An unknown filter value is a 400
naming the parameter; an empty one means "not given".
"""

from datetime import timedelta

import pytest

from apps.core.timeutil import utc_now
from apps.training.models import SyntheticDataset, TrainingJob
from apps.training.services import preset_create
from tests.helpers import assert_envelope
from tests.training.factories import SyntheticDatasetFactory, TrainingJobFactory

pytestmark = pytest.mark.django_db
JOBS, RUNS = "/api/v1/training/jobs", "/api/v1/training/runs"
DATASETS, CONFIGS = "/api/v1/training/synthetic/datasets", "/api/v1/training/configs"
JOB_STATUSES = ["queued", "running", "completed", "running", "failed", "completed"]


def _spaced(model, rows):
    """created_at a minute apart, oldest first, as `rows` were made."""
    start = utc_now() - timedelta(hours=1)
    for minute, row in enumerate(rows):
        model.objects.filter(pk=row.pk).update(created_at=start + timedelta(minutes=minute))
    return rows


@pytest.fixture
def jobs():
    made = [TrainingJobFactory(job_name=f"job {i}", status=s) for i, s in enumerate(JOB_STATUSES)]
    return _spaced(TrainingJob, made)


@pytest.fixture
def datasets():
    rows = [
        ("a", "localization", "ready"),
        ("b", "signals", "ready"),
        ("c", "localization", "failed"),
        ("d", "signals", "pending"),
    ]
    made = [SyntheticDatasetFactory(name=n, dataset_type=t, status=s) for n, t, s in rows]
    return _spaced(SyntheticDataset, made)


@pytest.mark.parametrize(
    ("query", "names", "total"),
    [
        ({}, ["job 5", "job 4", "job 3", "job 2", "job 1", "job 0"], 6),
        ({"status": ""}, ["job 5", "job 4", "job 3", "job 2", "job 1", "job 0"], 6),
        ({"status": "running"}, ["job 3", "job 1"], 2),
        ({"status": "completed", "limit": 1}, ["job 5"], 2),
        ({"status": "completed", "limit": 1, "offset": 1}, ["job 2"], 2),
        ({"status": "cancelled"}, [], 0),
        ({"limit": 2, "offset": 4}, ["job 1", "job 0"], 6),
        ({"offset": 6}, [], 6),
    ],
)
def test_job_list_filters_and_pages(viewer_client, jobs, query, names, total):
    body = viewer_client.get(JOBS, query).json()
    assert list(body) == ["jobs", "total"]  # seed 000: total beside the list
    assert [job["job_name"] for job in body["jobs"]] == names
    assert body["total"] == total
    runs = viewer_client.get(RUNS, query).json()
    assert list(runs) == ["runs", "total"]
    assert [run["job_name"] for run in runs["runs"]] == names
    assert runs["total"] == total


def test_job_and_run_rows_keep_their_shapes(viewer_client, admin_client, jobs):
    job = TrainingJob.objects.get(job_name="job 1")
    TrainingJob.objects.filter(pk=job.pk).update(worker="host:42", current_epoch=3)
    seen = viewer_client.get(JOBS, {"status": "running", "limit": 1, "offset": 1}).json()["jobs"]
    assert seen[0]["id"] == str(job.pk) and seen[0]["current_epoch"] == 3
    assert seen[0]["worker"] is None  # host names are for admins
    as_admin = admin_client.get(JOBS, {"status": "running"}).json()["jobs"]
    assert as_admin[1]["worker"] == "host:42"
    run = viewer_client.get(RUNS, {"status": "running", "limit": 1, "offset": 1}).json()["runs"][0]
    assert run["job_id"] == str(job.pk) and run["epochs_run"] == 3 and run["total_epochs"] == 5
    assert run["status"] == "running" and run["model_architecture"] == "deepsets"


@pytest.mark.parametrize("path", [JOBS, RUNS])
@pytest.mark.parametrize("value", ["sleeping", "RUNNING", " running"])
def test_an_unknown_job_status_is_a_400_naming_it(viewer_client, jobs, path, value):
    error = assert_envelope(viewer_client.get(path, {"status": value}), 400, "VALIDATION_ERROR",
                            "status")  # fmt: skip
    constraint = f"must be one of {', '.join(TrainingJob.Status.values)}"
    assert error["message"] == f"Invalid value for 'status': {constraint}"
    assert error["details"]["value"] == value
    assert TrainingJob.objects.count() == len(JOB_STATUSES)


@pytest.mark.parametrize(
    ("query", "names", "total"),
    [
        ({}, ["d", "c", "b", "a"], 4),
        ({"status": "ready"}, ["b", "a"], 2),
        ({"dataset_type": "signals"}, ["d", "b"], 2),
        ({"status": "ready", "dataset_type": "localization"}, ["a"], 1),
        ({"status": "", "dataset_type": ""}, ["d", "c", "b", "a"], 4),
        ({"dataset_type": "localization", "limit": 1, "offset": 1}, ["a"], 2),
        ({"status": "generating"}, [], 0),
    ],
)
def test_dataset_list_filters_and_pages(viewer_client, datasets, query, names, total):
    body = viewer_client.get(DATASETS, query).json()
    assert list(body) == ["datasets", "total"]
    assert [row["name"] for row in body["datasets"]] == names
    assert body["total"] == total


@pytest.mark.parametrize(
    ("query", "field", "choices"),
    [
        ({"status": "done"}, "status", SyntheticDataset.Status.values),
        ({"dataset_type": "images"}, "dataset_type", SyntheticDataset.Type.values),
        ({"status": "ready", "dataset_type": "Signals"}, "dataset_type",
         SyntheticDataset.Type.values),
    ],
)  # fmt: skip
def test_an_unknown_dataset_filter_is_a_400_naming_it(viewer_client, datasets, query, field,
                                                      choices):  # fmt: skip
    error = assert_envelope(viewer_client.get(DATASETS, query), 400, "VALIDATION_ERROR", field)
    assert error["details"]["constraint"] == f"must be one of {', '.join(choices)}"
    assert error["details"]["value"] == query[field]


def test_bad_pages_are_400s_naming_them(viewer_client, jobs):
    for path in (JOBS, RUNS, DATASETS):
        assert_envelope(viewer_client.get(path, {"limit": 0}), 400, "VALIDATION_ERROR", "limit")
        assert_envelope(viewer_client.get(path, {"limit": 1001}), 400, "VALIDATION_ERROR", "limit")
        assert_envelope(viewer_client.get(path, {"offset": -1}), 400, "VALIDATION_ERROR", "offset")


def test_config_list_is_every_preset_by_name(viewer_client, operator_user):
    for name in ("zeta", "alpha", "mid"):
        preset_create(user=operator_user, name=name, description=name.upper(),
                      config={"epochs": 7})  # fmt: skip
    body = viewer_client.get(CONFIGS).json()
    assert list(body) == ["configs", "available_configs", "total"]
    assert body["available_configs"] == ["alpha", "mid", "zeta"]
    assert body["total"] == 3
    first = body["configs"][0]
    assert first["name"] == "alpha" and first["description"] == "ALPHA"
    assert first["config"] == {"epochs": 7} and first["resolved"]["epochs"] == 7
    assert first["created_by"] == str(operator_user.pk)
