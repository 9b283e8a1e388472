"""Station calibration offsets: admin-set, and estimated from reference transmitters."""

import numpy as np
import pytest

from apps.constellations.models import Localization, ReferenceTransmitter
from apps.radio.propagation import PropagationModel, to_local_metres
from apps.stations.models import Station
from tests.constellations import factories
from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db
IDS = [row["id"] for row in factories.ITALIAN]
REFS = "/api/v1/reference-transmitters"
BEACON = {"name": "IR1UAW beacon", "latitude": 45.1, "longitude": 8.0,
          "frequency_hz": 145_400_000, "tx_power_dbm": 37.0}  # fmt: skip


def test_admins_set_a_stations_offset(admin_client, operator_client):
    factories.italian_stations()
    url = "/api/v1/stations/giaveno-it"
    assert_envelope(operator_client.patch(url, {"calibration_offset_db": 3.0}, format="json"),
                    403, "PERMISSION_DENIED")  # fmt: skip
    response = admin_client.patch(url, {"calibration_offset_db": 7.5}, format="json")
    assert response.status_code == 200 and response.json()["calibration_offset_db"] == 7.5
    for bad in (500, "loud"):
        assert_envelope(admin_client.patch(url, {"calibration_offset_db": bad}, format="json"),
                        400, "VALIDATION_ERROR", "calibration_offset_db")  # fmt: skip
    assert Station.objects.get(pk="giaveno-it").calibration_offset_db == 7.5


def test_reference_transmitters_are_maintained_by_admins(admin_client, viewer_client,
                                                         operator_client):  # fmt: skip
    assert_envelope(operator_client.post(REFS, BEACON, format="json"), 403, "PERMISSION_DENIED")
    created = admin_client.post(REFS, BEACON, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["bandwidth_hz"] == 12_500 and body["active"] is True
    assert viewer_client.get(REFS).json()["total"] == 1
    assert viewer_client.get(f"{REFS}/{body['id']}").json()["name"] == BEACON["name"]
    assert_envelope(admin_client.post(REFS, BEACON, format="json"), 409, "CONFLICT", "name")
    for field, value in [("latitude", 91), ("frequency_hz", 0), ("tx_power_dbm", 300),
                         ("name", ""), ("longitude", "east")]:  # fmt: skip
        response = admin_client.post(REFS, {**BEACON, "name": "x", field: value}, format="json")
        assert_envelope(response, 400, "VALIDATION_ERROR", field)
    patched = admin_client.patch(f"{REFS}/{body['id']}", {"active": False}, format="json")
    assert patched.json()["active"] is False
    assert_envelope(operator_client.delete(f"{REFS}/{body['id']}"), 403, "PERMISSION_DENIED")
    assert admin_client.delete(f"{REFS}/{body['id']}").status_code == 204
    assert_envelope(viewer_client.get(f"{REFS}/{body['id']}"), 404, "NOT_FOUND")
    assert ReferenceTransmitter.objects.count() == 0


def _reference_measurements(reference: dict, offsets: dict) -> list[dict]:
    """Noise-free strengths of the reference at each Italian station, plus its offset."""
    model = PropagationModel(frequency_mhz=reference["frequency_hz"] / 1e6)
    measurements = []
    for row in factories.ITALIAN:
        xy = to_local_metres(row["latitude"], row["longitude"], reference["latitude"],
                             reference["longitude"])  # fmt: skip
        distance = np.linalg.norm(xy)
        strength = float(model.received_power_dbm(reference["tx_power_dbm"] or 30.0, distance))
        measurements.append({"websdr_station_id": row["id"],
                             "signal_strength_db": strength + offsets[row["id"]]})  # fmt: skip
    return measurements


@pytest.mark.parametrize("power_known", [True, False])
def test_offsets_estimated_from_reference_transmitters(admin_user, admin_client, power_known):
    factories.italian_stations()
    constellation = factories.constellation_of(admin_user, IDS)
    rng = np.random.default_rng(2)
    offsets = {s: float(rng.uniform(-10, 10)) for s in IDS}
    if not power_known:
        mean = np.mean(list(offsets.values()))
        offsets = {s: v - mean for s, v in offsets.items()}
    places = [(44.6, 7.6), (45.3, 8.4), (44.9, 9.2), (45.6, 7.9)]
    for index, (lat, lon) in enumerate(places):
        reference = {"name": f"beacon {index}", "latitude": lat, "longitude": lon,
                     "frequency_hz": 145_200_000 + 25_000 * index,
                     "tx_power_dbm": 37.0 if power_known else None}  # fmt: skip
        assert admin_client.post(REFS, reference, format="json").status_code == 201
        fix = admin_client.post(
            f"/api/v1/constellations/{constellation.pk}/localize",
            {"frequency_hz": reference["frequency_hz"] + 300,  # within the tolerance
             "measurements": _reference_measurements(reference, offsets)},
            format="json",
        ).json()  # fmt: skip
        assert fix["reference_transmitter_id"] is not None
    estimate = admin_client.post(f"{REFS}/calibrate", {}, format="json").json()
    assert estimate["applied"] is False
    assert estimate["localizations_used"] == 4 and estimate["reference_transmitters"] == 4
    by_station = {s["websdr_station_id"]: s for s in estimate["stations"]}
    for station in IDS:
        assert abs(by_station[station]["offset_db"] - offsets[station]) < 0.02
        assert by_station[station]["observations"] == 4
        assert by_station[station]["previous_offset_db"] == 0.0
    assert Station.objects.filter(calibration_offset_db=0.0).count() == len(IDS)
    applied = admin_client.post(f"{REFS}/calibrate", {"apply": True}, format="json").json()
    assert applied["applied"] is True and all(s["applied"] for s in applied["stations"])
    for station in Station.objects.filter(pk__in=IDS):
        assert abs(station.calibration_offset_db - offsets[station.pk]) < 0.02
    if power_known:  # a new transmitter, offsets present: located as if there were none
        truth = factories.strengths(IDS, offsets=offsets)
        fix = admin_client.post(
            f"/api/v1/constellations/{constellation.pk}/localize",
            {"frequency_hz": factories.FREQUENCY_HZ, "method": "wls", "tx_power_dbm": 37.0,
             "measurements": factories.measurements(truth)}, format="json",
        ).json()  # fmt: skip
        assert factories.distance_m((fix["latitude"], fix["longitude"]), factories.TX) < 100


def test_calibrate_is_for_admins_and_validates(operator_client, admin_client):
    assert_envelope(operator_client.post(f"{REFS}/calibrate", {}, format="json"), 403,
                    "PERMISSION_DENIED")  # fmt: skip
    response = admin_client.post(f"{REFS}/calibrate", {"min_observations": 0}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "min_observations")
    assert_envelope(admin_client.post(f"{REFS}/calibrate", {"since": "soon"}, format="json"),
                    400, "VALIDATION_ERROR", "since")  # fmt: skip
    empty = admin_client.post(f"{REFS}/calibrate", {"apply": True}, format="json").json()
    assert empty == {"applied": False, "localizations_used": 0, "reference_transmitters": 0,
                     "stations": []}  # fmt: skip
    assert Localization.objects.count() == 0


def test_a_viewer_cannot_touch_references(db):
    viewer = client_for(make_user("vera", "viewer"))
    assert_envelope(viewer.post(REFS, BEACON, format="json"), 403, "PERMISSION_DENIED")
