"""Strings and booleans where a JSON number (or a boolean) belongs are a 400 naming the
field on every body, as detection ingest has always done (found by review: DRF's fields
coerced `true` to 1.0, `"52"` to 52.0 and `"yes"` to True, and stored them)."""

import pytest

from apps.constellations.models import ReferenceTransmitter
from apps.stations.models import Station
from apps.training.models import SyntheticDataset, TrainingConfigPreset, TrainingJob
from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db

STATION = {"id": "typed", "name": "Typed", "url": "http://example.org/", "latitude": 52.0,
           "longitude": 6.0, "frequency_min": 1000, "frequency_max": 30_000_000,
           "api_config": {"api_type": "simulated"}}  # fmt: skip
REFERENCE = {"name": "Beacon", "latitude": 45.0, "longitude": 7.0,
             "frequency_hz": 145_000_000, "tx_power_dbm": 30.0}  # fmt: skip

CASES = [
    # (role, path, body, field, rows that must not appear)
    ("admin", "/api/v1/stations", {**STATION, "latitude": True}, "latitude", Station),
    ("admin", "/api/v1/stations", {**STATION, "latitude": "52"}, "latitude", Station),
    ("admin", "/api/v1/stations", {**STATION, "frequency_min": "1000"}, "frequency_min", Station),
    ("admin", "/api/v1/stations", {**STATION, "calibration_offset_db": "3"},
     "calibration_offset_db", Station),
    ("admin", "/api/v1/reference-transmitters", {**REFERENCE, "longitude": False}, "longitude",
     ReferenceTransmitter),
    ("admin", "/api/v1/reference-transmitters", {**REFERENCE, "tx_power_dbm": "12"},
     "tx_power_dbm", ReferenceTransmitter),
    ("admin", "/api/v1/reference-transmitters", {**REFERENCE, "frequency_hz": "145000000"},
     "frequency_hz", ReferenceTransmitter),
    ("admin", "/api/v1/reference-transmitters", {**REFERENCE, "active": "yes"}, "active",
     ReferenceTransmitter),
    ("operator", "/api/v1/training/synthetic/generate", {"name": "d", "num_samples": "100"},
     "num_samples", SyntheticDataset),
    ("operator", "/api/v1/training/synthetic/generate",
     {"name": "d", "num_samples": 100, "use_random_receivers": "no"}, "use_random_receivers",
     SyntheticDataset),
    ("operator", "/api/v1/training/synthetic/generate",
     {"name": "d", "num_samples": 100, "area_lat_min": True}, "area_lat_min", SyntheticDataset),
    ("operator", "/api/v1/training/jobs", {"job_name": "j", "config": {"learning_rate": True}},
     "config.learning_rate", TrainingJob),
    ("operator", "/api/v1/training/jobs", {"job_name": "j", "config": {"epochs": "3"}},
     "config.epochs", TrainingJob),
    ("operator", "/api/v1/training/jobs", {"job_name": "j", "config": {"pretrained": "false"}},
     "config.pretrained", TrainingJob),
    ("operator", "/api/v1/training/jobs", {"job_name": "j", "auto_activate": 1},
     "auto_activate", TrainingJob),
    ("operator", "/api/v1/training/configs",
     {"name": "typed", "config": {"validation_split": "0.2"}}, "config.validation_split",
     TrainingConfigPreset),
]  # fmt: skip


@pytest.mark.parametrize(("role", "path", "body", "field", "model"), CASES)
def test_a_string_or_boolean_for_a_number_or_boolean_is_a_400_naming_it(
    role, path, body, field, model
):
    before = model.objects.count()
    response = client_for(make_user("typed-user", role)).post(path, body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert model.objects.count() == before


def test_json_numbers_are_still_numbers_and_negative_zero_is_zero():
    admin = make_user("ada", "admin")
    body = {**STATION, "latitude": -0.0, "frequency_min": 1000.0}
    response = client_for(admin).post("/api/v1/stations", body, format="json")
    assert response.status_code == 201, response.content
    station = Station.objects.get(pk="typed")
    assert (station.latitude, station.frequency_min) == (0.0, 1000)
    assert str(station.latitude) == "0.0"
