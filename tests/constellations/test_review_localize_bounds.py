"""Documented limits of a localize request that no test exercised (docs/localization.md,
"Bad input"): more than 64 measurements or detection ids, `frequency_hz` beside
`detection_ids`, the power's bounds, ids and timestamps of the wrong JSON type. Each a
400 naming the field, nothing stored; the bounds themselves accepted."""

import uuid

import pytest

from apps.constellations.models import Localization
from tests.constellations import factories
from tests.helpers import assert_envelope, client_for, make_user
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
IDS = [row["id"] for row in factories.ITALIAN]


def test_limits_and_types():
    owner = make_user("olga", "operator")
    factories.italian_stations()
    constellation = factories.constellation_of(owner, IDS)
    many = [f"extra-{i}" for i in range(65)]
    for station_id in many:
        StationFactory(id=station_id, latitude=45.0, longitude=8.0)
    big = factories.constellation_of(owner, many, name="Big")
    client = client_for(owner)
    good = factories.measurements(factories.strengths(IDS[:3]))

    def post(target, body):
        return client.post(f"/api/v1/constellations/{target.pk}/localize", body, format="json")

    cases = [
        (big, {"frequency_hz": 145_500_000, "measurements": [
            {"websdr_station_id": s, "signal_strength_db": -90.0} for s in many]},
         "measurements"),
        (big, {"detection_ids": [str(uuid.uuid4()) for _ in range(65)]}, "detection_ids"),
        (constellation, {"frequency_hz": 145_500_000,
                         "detection_ids": [str(uuid.uuid4()) for _ in range(3)]}, "frequency_hz"),
        (constellation, {"frequency_hz": 145_500_000, "measurements": good,
                         "tx_power_dbm": -50.5}, "tx_power_dbm"),
        (constellation, {"frequency_hz": 145_500_000, "measurements": good,
                         "tx_power_dbm": 100.5}, "tx_power_dbm"),
        (constellation, {"frequency_hz": 145_500_000, "measurements": [
            *good[:2], {"websdr_station_id": 7, "signal_strength_db": -90.0}]},
         "measurements[2].websdr_station_id"),
        (constellation, {"frequency_hz": 145_500_000, "measurements": [
            *good[:2], {**good[2], "timestamp": 1764400000}]}, "measurements[2].timestamp"),
        (constellation, {"frequency_hz": 145_500_000, "measurements": [
            *good[:2], {**good[2], "signal_strength_db": -250.5}]},
         "measurements[2].signal_strength_db"),
        (constellation, {"frequency_hz": 300_000_000_001, "measurements": good}, "frequency_hz"),
    ]  # fmt: skip
    for target, body, field in cases:
        error = assert_envelope(post(target, body), 400, "VALIDATION_ERROR", field)
        assert error["details"]["field"] == field, (field, error)
    assert Localization.objects.count() == 0
    for power in (-50, 100):
        response = post(constellation, {"frequency_hz": 145_500_000, "measurements": good,
                                        "tx_power_dbm": power})  # fmt: skip
        assert response.status_code == 201, response.content
        assert response.json()["tx_power_dbm"] == power
