"""Localize requests that were accepted but should not be (found by review)."""

from datetime import timedelta

import pytest

from apps.constellations.models import Localization
from apps.core.timeutil import utc_now
from tests.constellations import factories
from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db
IDS = [row["id"] for row in factories.ITALIAN]


@pytest.fixture
def owner(db):
    return make_user("olga", "operator")


@pytest.fixture
def world(owner):
    factories.italian_stations()
    return factories.constellation_of(owner, IDS)


def stamped(times) -> dict:
    measurements = factories.measurements(factories.strengths(IDS))[: len(times)]
    for measurement, when in zip(measurements, times, strict=True):
        if when is not None:
            measurement["timestamp"] = when.isoformat().replace("+00:00", "Z")
    return {"frequency_hz": factories.FREQUENCY_HZ, "measurements": measurements,
            "method": "wls"}  # fmt: skip


def test_measurements_years_apart_are_not_one_transmission(owner, world, settings):
    # Found: timestamps of 2020 and 2026 in one request were located as one transmission
    # (201); detection_ids that far apart are refused.
    now = utc_now()
    strengths = [m["signal_strength_db"] for m in stamped([now] * 3)["measurements"]]
    weakest = strengths.index(min(strengths))  # times are measured from the strongest
    times = [now - timedelta(seconds=1)] * 3
    times[weakest] = now - timedelta(days=6 * 365)
    response = client_for(owner).post(f"/api/v1/constellations/{world.pk}/localize",
                                      stamped(times), format="json")  # fmt: skip
    field = f"measurements[{weakest}].timestamp"
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert set(response.json()["error"]["details"]["fields"]) == {field}
    assert "window" in response.json()["error"]["details"]["fields"][field][0]
    assert Localization.objects.count() == 0


def test_measurements_within_the_window_are_one_transmission(owner, world, settings):
    now = utc_now()
    times = [now, now - timedelta(seconds=settings.HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S / 2),
             None]  # fmt: skip
    response = client_for(owner).post(f"/api/v1/constellations/{world.pk}/localize",
                                      stamped(times), format="json")  # fmt: skip
    assert response.status_code == 201, response.content


def test_a_measurement_from_the_future_is_refused(owner, world):
    # Found: a timestamp of 9999-12-31 was stored as observed_until.
    now = utc_now()
    times = [now + timedelta(days=1), now + timedelta(days=1), now + timedelta(days=1)]
    response = client_for(owner).post(f"/api/v1/constellations/{world.pk}/localize",
                                      stamped(times), format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "measurements[0].timestamp")
    assert Localization.objects.count() == 0


REFERENCE = {"name": "Beacon", "latitude": 45.0, "longitude": 7.0, "frequency_hz": 145_000_000,
             "tx_power_dbm": 30.0}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "\u200b"), ("name", " \u200b "), ("name", "a\x1bb"), ("notes", "a\x00b")],
)
def test_reference_transmitter_texts_are_normalised_and_checked(field, value):
    # Found: a reference transmitter named "\u200b" (nothing visible) or holding an ESC
    # control character was stored (201).
    from apps.constellations.models import ReferenceTransmitter

    admin = make_user("ada", "admin")
    response = client_for(admin).post("/api/v1/reference-transmitters",
                                      {**REFERENCE, field: value}, format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert ReferenceTransmitter.objects.count() == 0


def test_reference_transmitter_names_are_one_name_in_nfc():
    admin = make_user("ada", "admin")
    client = client_for(admin)
    first = client.post("/api/v1/reference-transmitters",
                        {**REFERENCE, "name": " Caf\u00e9 \u200b"}, format="json")  # fmt: skip
    assert first.status_code == 201, first.content
    assert first.json()["name"] == "Caf\u00e9"
    second = client.post("/api/v1/reference-transmitters",
                         {**REFERENCE, "name": "Cafe\u0301"}, format="json")  # fmt: skip
    assert_envelope(second, 409, "CONFLICT", "name")


def test_receivers_on_one_mast_are_outside_the_models_scope(owner, localization_model):
    # Found: three receivers on one mast were "located" by the model 47 km east of the mast
    # (method "model", no warning), from a geometry it never saw: receivers at one point
    # tell a distance, never a direction.
    from tests.helpers import client_for as client_of
    from tests.stations.factories import StationFactory

    for index in range(3):
        StationFactory(id=f"mast-{index}", latitude=45.07, longitude=7.69,
                       frequency_min=144_000_000, frequency_max=146_000_000)  # fmt: skip
    constellation = factories.constellation_of(owner, [f"mast-{i}" for i in range(3)])
    body = {"frequency_hz": factories.FREQUENCY_HZ,
            "measurements": [{"websdr_station_id": f"mast-{i}", "signal_strength_db": -90.0 - i}
                             for i in range(3)]}  # fmt: skip
    client = client_of(owner)
    fix = client.post(f"/api/v1/constellations/{constellation.pk}/localize", body,
                      format="json").json()  # fmt: skip
    assert fix["method"] == "wls" and fix["gdop"] is None
    assert any("within" in w and "of each other" in w for w in fix["warnings"]), fix["warnings"]
    before = Localization.objects.count()
    refused = client.post(f"/api/v1/constellations/{constellation.pk}/localize",
                          {**body, "method": "model"}, format="json")  # fmt: skip
    assert_envelope(refused, 409, "CONFLICT", "method")
    assert Localization.objects.count() == before
