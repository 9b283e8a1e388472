"""A body field the endpoint does not take is a 400 naming it, never dropped with a 2xx
(found by review: a typo such as `descripton`, `txpower`, `metdata`, `aply` or the
training config's `epoch` was silently ignored, so what the client meant was lost)."""

import pytest

from apps.anomalies.models import AnomalyEvent
from apps.constellations.models import Constellation, ReferenceTransmitter
from apps.ml.models import MLModel
from apps.stations.models import Station
from apps.training.models import SyntheticDataset, TrainingConfigPreset, TrainingJob
from tests.helpers import assert_envelope, client_for, make_user
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db

STATION = {"id": "typo", "name": "Typo", "url": "http://example.org/", "latitude": 52.0,
           "longitude": 6.0, "frequency_min": 1000, "frequency_max": 30_000_000}  # fmt: skip

CASES = [
    # (role, method, path, body, unknown field, model whose rows must not change)
    ("admin", "post", "/api/v1/stations", {**STATION, "nmae": "x"}, "nmae", Station),
    ("operator", "post", "/api/v1/constellations", {"name": "c", "descripton": "typo"},
     "descripton", Constellation),
    ("admin", "post", "/api/v1/reference-transmitters",
     {"name": "r", "latitude": 45.0, "longitude": 7.0, "frequency_hz": 145_000_000,
      "txpower": 30.0}, "txpower", ReferenceTransmitter),
    ("operator", "post", "/api/v1/models",
     {"name": "m", "model_type": "anomaly_detection", "metdata": {"a": 1}}, "metdata", MLModel),
    ("operator", "post", "/api/v1/training/configs", {"name": "p", "config": {"epochs": 2},
     "descr": "x"}, "descr", TrainingConfigPreset),
    ("operator", "post", "/api/v1/training/configs",
     {"name": "p", "config": {"epochs": 2, "epoch": 3}}, "config.epoch", TrainingConfigPreset),
    ("operator", "post", "/api/v1/training/synthetic/generate",
     {"name": "d", "num_samples": 50, "numsamples": 10}, "numsamples", SyntheticDataset),
    ("operator", "post", "/api/v1/training/jobs",
     {"job_name": "j", "config": {"epochs": 1}, "priority": 5}, "priority", TrainingJob),
    ("operator", "post", "/api/v1/training/jobs",
     {"job_name": "j", "config": {"epochs": 1, "learning_rte": 0.1}}, "config.learning_rte",
     TrainingJob),
    ("admin", "post", "/api/v1/reference-transmitters/calibrate", {"aply": True}, "aply",
     Station),
    ("operator", "post", "/api/v1/models/recommend", {"model_typ": "localization"},
     "model_typ", MLModel),
]  # fmt: skip


@pytest.mark.parametrize(("role", "method", "path", "body", "field", "model"), CASES)
def test_an_unknown_body_field_is_a_400_naming_it(role, method, path, body, field, model):
    client = client_for(make_user("typo-user", role))
    before = list(model.objects.values_list("pk", flat=True))
    response = getattr(client, method)(path, body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert response.json()["error"]["details"]["fields"][field] == ["unknown field"]
    assert list(model.objects.values_list("pk", flat=True)) == before


def test_a_patch_naming_only_unknown_fields_changes_nothing_and_says_so():
    StationFactory(id="kiwi-nl", name="Kiwi")
    client = client_for(make_user("ada", "admin"))
    response = client.patch("/api/v1/stations/kiwi-nl", {"nmae": "Renamed"}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "nmae")
    assert Station.objects.get(pk="kiwi-nl").name == "Kiwi"


def test_read_only_fields_of_a_representation_may_be_sent_back_with_put():
    """GET, change, PUT: the representation's read-only keys are known, not refused."""
    StationFactory(id="kiwi-nl", name="Kiwi")
    client = client_for(make_user("ada", "admin"))
    body = client.get("/api/v1/stations/kiwi-nl").json()
    body["name"] = "Kiwi NL"
    response = client.put("/api/v1/stations/kiwi-nl", body, format="json")
    assert response.status_code == 200, response.content
    assert Station.objects.get(pk="kiwi-nl").name == "Kiwi NL"


def test_acknowledge_with_an_unknown_field_is_refused(db):
    from tests.dashboard import data as dashboard_data

    dashboard_data.station("twente-nl")
    from apps.core.timeutil import utc_now

    dashboard_data.ingest(dashboard_data.detection(utc_now(), anomaly_score=0.9))
    event = AnomalyEvent.objects.get()
    client = client_for(make_user("otto", "operator"))
    response = client.post(f"/api/v1/anomalies/{event.pk}/acknowledge",
                           {"notes": "ok", "acknowledgd": True}, format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "acknowledgd")
    event.refresh_from_db()
    assert event.acknowledged is False
