"""A query budget per list endpoint, the same for a page of 2 rows and one of 30.

Each list is FilterSet/form → selector → paginator; a row must never cost a query
of its own (no N+1). The budget counts everything the request runs against the
database, authentication included.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.constellations.models import Constellation
from apps.constellations.services import member_add, share_create
from apps.core.timeutil import utc_now
from apps.stations.models import Station
from tests.accounts.factories import UserFactory
from tests.constellations.factories import ConstellationFactory
from tests.helpers import client_for
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
SMALL, LARGE = 2, 30


def _stations(rows, owner):
    for i in rows:
        StationFactory(id=f"budget-{i:02d}")
    return "/api/v1/stations"


def _users(rows, owner):
    for i in rows:
        UserFactory(username=f"budget-user-{i:02d}", display_name=f"Budget {i}")
    return "/api/v1/users"


def _ingest(rows):
    if not Station.objects.filter(pk="twente-nl").exists():
        StationFactory(id="twente-nl")
    now = utc_now()
    ingest(
        *[
            # one channel each: each anomalous detection opens its own event
            DetectionFactory(
                when=now - timedelta(seconds=i),
                anomaly_score=0.9,
                frequency_hz=14_000_000 + 10_000 * i,
            )
            for i in rows
        ]
    )


def _anomalies(rows, owner):
    _ingest(rows)
    return "/api/v1/anomalies"


def _detections(rows, owner):
    _ingest(rows)
    return "/api/v1/signals/detections"


def _detections_keyset(rows, owner):
    _ingest(rows)
    return "/api/v1/signals/detections?cursor="


def _constellations(rows, owner):
    for i in rows:
        StationFactory(id=f"member-{i:02d}")
        constellation = ConstellationFactory(owner=owner, name=f"Net {i}")
        member_add(constellation=constellation, station_id=f"member-{i:02d}", added_by=owner)
    return "/api/v1/constellations"


def _shares(rows, owner):
    constellation = Constellation.objects.filter(name="Shared").first() or ConstellationFactory(
        owner=owner, name="Shared"
    )
    for i in rows:
        user = UserFactory(username=f"share-{i:02d}", role="operator")
        share_create(
            constellation=constellation, user_id=str(user.pk), permission="read", shared_by=owner
        )
    return f"/api/v1/constellations/{constellation.pk}/shares"


def _models(rows, owner):
    from apps.ml.models import MLModel

    for i in rows:
        MLModel.objects.create(
            name=f"budget-{i:02d}", version="1.0.0", model_type=MLModel.Type.LOCALIZATION
        )
    return "/api/v1/models"


def _jobs(rows, owner):
    from apps.training.models import TrainingJob

    for i in rows:
        TrainingJob.objects.create(
            job_name=f"job {i}", config={"epochs": 5}, total_epochs=5,
            model_architecture="deepsets",
        )  # fmt: skip
    return "/api/v1/training/jobs"


def _runs(rows, owner):
    _jobs(rows, owner)
    return "/api/v1/training/runs"


def _configs(rows, owner):
    from apps.training.services import preset_create

    for i in rows:
        preset_create(user=owner, name=f"preset-{i:02d}", description="", config={"epochs": 5})
    return "/api/v1/training/configs"


def _api_keys(rows, owner):
    from apps.accounts.services import api_key_create

    for i in rows:
        api_key_create(user=owner, name=f"key {i:02d}")
    return "/api/v1/auth/api-keys"


def _datasets(rows, owner):
    from apps.training.models import SyntheticDataset

    for i in rows:
        SyntheticDataset.objects.create(name=f"set {i}", num_samples=100, created_by=owner)
    return "/api/v1/training/synthetic/datasets"


def _metrics(rows, owner):
    from apps.core.partitioning import ensure_partitions
    from apps.training.models import TrainingJob, TrainingMetric

    # Metrics live in daily partitions; the training loop creates today's as it writes.
    # One instant for the partition and the rows: written at utc_now() each, a row made
    # after midnight UTC had no partition (IntegrityError).
    now = utc_now()
    ensure_partitions(TrainingMetric._meta.db_table, {now.date()})
    job = TrainingJob.objects.filter(job_name="metered").first() or TrainingJob.objects.create(
        job_name="metered", config={}, total_epochs=100, model_architecture="deepsets"
    )
    for i in rows:
        TrainingMetric.objects.create(training_job=job, epoch=i, timestamp=now, val_loss=1.0)
    return f"/api/v1/training/jobs/{job.pk}/metrics"


def _run_metrics(rows, owner):
    return _metrics(rows, owner).replace("/jobs/", "/runs/").removesuffix("/metrics")


def _localizations(rows, owner):
    from apps.constellations.services import localization_request
    from tests.constellations import factories as scenarios

    if not Station.objects.filter(pk="giaveno-it").exists():
        scenarios.italian_stations()
    ids = [row["id"] for row in scenarios.ITALIAN]
    constellation = Constellation.objects.filter(name="Located").first() or (
        scenarios.constellation_of(owner, ids, name="Located")
    )
    body = {"frequency_hz": scenarios.FREQUENCY_HZ, "method": "wls",
            "measurements": scenarios.measurements(scenarios.strengths(ids))}  # fmt: skip
    for _ in rows:
        localization_request(constellation=constellation, user=owner, data=body)
    return "/api/v1/localizations"


def _references(rows, owner):
    from apps.constellations.models import ReferenceTransmitter

    for i in rows:
        ReferenceTransmitter.objects.create(
            name=f"beacon {i:02d}", latitude=45.0, longitude=8.0, frequency_hz=145_200_000 + i
        )
    return "/api/v1/reference-transmitters"


def _rows(body: dict) -> list:
    for key in ("data", "jobs", "runs", "configs", "datasets", "metrics"):
        if key in body:
            return body[key]
    raise AssertionError(f"no list in {sorted(body)}")


# (setup, budget): the budget includes authentication (1 query).
LISTS = {
    "stations": (_stations, 3),
    "users": (_users, 3),
    "anomalies": (_anomalies, 4),
    "detections": (_detections, 2),
    "detections-keyset": (_detections_keyset, 2),
    "constellations": (_constellations, 4),
    "shares": (_shares, 4),
    "models": (_models, 2),
    "training-jobs": (_jobs, 3),
    "training-runs": (_runs, 3),
    "training-configs": (_configs, 2),
    "api-keys": (_api_keys, 3),
    "datasets": (_datasets, 3),
    "job-metrics": (_metrics, 3),
    "run-metrics": (_run_metrics, 3),
    "localizations": (_localizations, 3),
    "reference-transmitters": (_references, 2),
}


def _count(client, path) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, {"page_size": LARGE, "limit": LARGE})
    assert response.status_code == 200, response.content
    return len(queries), response.json()


@pytest.mark.parametrize("name", LISTS)
def test_list_queries_do_not_grow_with_the_page(name, django_assert_max_num_queries):
    setup, budget = LISTS[name]
    owner = UserFactory(username="owner", role="operator")
    client = client_for(owner)
    path = setup(range(SMALL), owner)
    small_queries, small = _count(client, path)
    assert len(_rows(small)) >= SMALL
    setup(range(SMALL, LARGE), owner)
    with django_assert_max_num_queries(budget):
        large_queries, large = _count(client, path)
    assert len(_rows(large)) >= LARGE
    assert large_queries == small_queries
