"""The console's lists read through the API's FilterSets and selectors (/models,
/training, /training/datasets), and a station id can never be shadowed by a console
path (`new` is reserved: /stations/new is the create page)."""

from datetime import timedelta

import pytest
from django.test import Client

from apps.core.timeutil import utc_now
from apps.stations.models import Station
from apps.training.models import SyntheticDataset, TrainingJob
from tests.dashboard import data as factories
from tests.helpers import make_user
from tests.ml.factories import MLModelFactory
from tests.training.factories import SyntheticDatasetFactory, TrainingJobFactory

pytestmark = pytest.mark.django_db


def _client(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role, role), backend=factories.SESSION_BACKEND)
    return client


def _rows(html: str, attribute: str) -> list[str]:
    """The values of `data-<attribute>="..."` in page order."""
    marker = f'data-{attribute}="'
    return [part.split('"', 1)[0] for part in html.split(marker)[1:]]


def test_models_page_filters_by_type_and_status():
    made = {
        name: MLModelFactory(name=name, model_type=model_type, status=status)
        for name, model_type, status in [
            ("loc", "localization", "trained"),
            ("anom-live", "anomaly_detection", "deployed"),
            ("anom-draft", "anomaly_detection", "draft"),
        ]
    }
    client = _client("viewer")
    html = client.get("/models", {"model_type": "anomaly_detection"}).content.decode()
    assert sorted(_rows(html, "model")) == sorted(
        str(made[n].pk) for n in ("anom-live", "anom-draft")
    )
    assert '<option value="anomaly_detection" selected>' in html
    html = client.get("/models", {"model_type": "anomaly_detection", "status": "draft"}).content
    assert _rows(html.decode(), "model") == [str(made["anom-draft"].pk)]
    refused = client.get("/models", {"status": "sleepy"})
    assert refused.status_code == 400 and "<code>status</code>" in refused.content.decode()


def test_training_page_filters_by_status_newest_first():
    start = utc_now() - timedelta(hours=1)
    jobs = []
    for minute, status in enumerate(["running", "completed", "running"]):
        job = TrainingJobFactory(status=status)
        TrainingJob.objects.filter(pk=job.pk).update(created_at=start + timedelta(minutes=minute))
        jobs.append(job)
    client = _client("viewer")
    html = client.get("/training", {"status": "running"}).content.decode()
    assert _rows(html, "job") == [str(jobs[2].pk), str(jobs[0].pk)]
    everything = client.get("/training", {"status": ""}).content.decode()
    assert _rows(everything, "job") == [str(job.pk) for job in reversed(jobs)]


def test_datasets_page_lists_newest_first():
    start = utc_now() - timedelta(hours=1)
    made = []
    for minute in range(3):
        dataset = SyntheticDatasetFactory(status="ready")
        SyntheticDataset.objects.filter(pk=dataset.pk).update(
            created_at=start + timedelta(minutes=minute)
        )
        made.append(dataset)
    html = _client("operator").get("/training/datasets").content.decode()
    assert _rows(html, "dataset") == [str(d.pk) for d in reversed(made)]


STATION = {"name": "New", "url": "http://websdr.example.org/", "location": "",
           "latitude": "52.2", "longitude": "6.85", "frequency_min": "0",
           "frequency_max": "29000000", "status": "active",
           "api_config": '{"api_type": "simulated"}'}  # fmt: skip


def test_a_station_cannot_take_the_id_of_the_create_page():
    client = _client("admin")
    assert b'id="station-form"' in client.get("/stations/new").content  # still the create page
    refused = client.post("/stations/new", {**STATION, "id": "new"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'class="field invalid" data-field="id"' in html
    assert "&#x27;new&#x27; is reserved" in html
    assert not Station.objects.exists()


def test_a_station_whose_id_starts_with_new_is_reachable():
    client = _client("admin")
    created = client.post("/stations/new", {**STATION, "id": "new-one"})
    assert created.status_code == 302 and created["Location"] == "/stations/new-one"
    page = client.get("/stations/new-one")
    assert page.status_code == 200 and b'id="station-form"' not in page.content
    assert b"new-one" in page.content


def test_the_admin_refuses_the_reserved_id_too():
    client = _client("admin")
    response = client.post("/admin/stations/station/add/", {
        **STATION, "id": "new", "api_config": '{"api_type": "simulated"}',
        "calibration_offset_db": "0",
    })  # fmt: skip
    assert response.status_code == 200  # the form again, with the error
    assert "is reserved" in response.content.decode()
    assert not Station.objects.exists()


@pytest.mark.parametrize(
    ("path", "factory", "budget"),  # the budget: session, user, then the page's reads
    [
        ("/models", MLModelFactory, 4),
        ("/training", TrainingJobFactory, 5),
        ("/training/datasets", SyntheticDatasetFactory, 6),
    ],
)
def test_console_lists_cost_the_same_queries_for_2_rows_and_30(
    path, factory, budget, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client("operator")
    factory.create_batch(2)
    with CaptureQueriesContext(connection) as small:
        assert client.get(path).status_code == 200
    factory.create_batch(28)
    with django_assert_max_num_queries(budget), CaptureQueriesContext(connection) as large:
        assert client.get(path).status_code == 200
    assert len(large) == len(small)
