"""POST /constellations/{id}/localize, GET /localizations[/{id}]: shapes, methods, roles, input."""

import json
import math
import uuid
from datetime import timedelta

import pytest

from apps.constellations.models import Localization
from apps.constellations.services import share_create
from apps.core.timeutil import utc_now
from tests.constellations import factories
from tests.helpers import assert_envelope, client_for, make_user
from tests.signals.factories import DetectionFactory
from tests.signals.factories import ingest as store
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
IDS = [row["id"] for row in factories.ITALIAN]
KEYS = {
    "id", "constellation_id", "frequency_hz", "latitude", "longitude", "uncertainty", "gdop",
    "method", "model_id", "model_version", "tx_power_dbm", "tx_power_estimated",
    "receivers_used", "residuals_db", "warnings", "detection_ids", "reference_transmitter_id",
    "trigger", "observed_from", "observed_until", "created_by", "created_at",
}  # fmt: skip


@pytest.fixture
def owner(db):
    return make_user("olga", "operator")


@pytest.fixture
def world(owner):
    factories.italian_stations()
    return factories.constellation_of(owner, IDS)


def url(constellation) -> str:
    return f"/api/v1/constellations/{constellation.pk}/localize"


def body(values, **extra) -> dict:
    return {"frequency_hz": factories.FREQUENCY_HZ,
            "measurements": factories.measurements(values), **extra}  # fmt: skip


def test_wls_recovers_a_noise_free_transmitter_and_stores_the_fix(owner, world):
    values = factories.strengths(IDS)
    response = client_for(owner).post(url(world), body(values, method="wls", tx_power_dbm=37.0),
                                      format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    fix = response.json()
    assert set(fix) == KEYS
    assert factories.distance_m((fix["latitude"], fix["longitude"]), factories.TX) < 5
    assert fix["method"] == "wls" and fix["model_id"] is None and fix["model_version"] is None
    assert fix["trigger"] == "request" and fix["created_by"] == str(owner.pk)
    assert fix["constellation_id"] == str(world.pk) and fix["frequency_hz"] == 145_500_000
    assert fix["receivers_used"] == IDS
    assert set(fix["residuals_db"]) == set(IDS)
    assert all(abs(r) < 0.01 for r in fix["residuals_db"].values())
    assert fix["tx_power_dbm"] == 37.0 and fix["tx_power_estimated"] is False
    assert fix["gdop"] > 0 and fix["detection_ids"] == []
    ellipse = fix["uncertainty"]["ellipse"]
    assert ellipse["semi_major_m"] >= ellipse["semi_minor_m"] > 0
    assert 0 <= ellipse["orientation_deg"] < 180
    assert 0 < fix["uncertainty"]["cep50_m"] < fix["uncertainty"]["cep95_m"]
    stored = Localization.objects.get(pk=fix["id"])
    assert stored.measurements[0]["signal_strength_db"] == values[IDS[0]]
    assert client_for(owner).get(f"/api/v1/localizations/{fix['id']}").json() == fix


def test_unknown_power_is_estimated_jointly(owner, world):
    values = factories.strengths(IDS, power_dbm=30.0)
    fix = client_for(owner).post(url(world), body(values, method="wls"), format="json").json()
    assert fix["tx_power_estimated"] is True
    # The weak prior (37 ± 10 dBm, radio.localization.POWER_PRIOR_DBM) pulls a little.
    assert 30.0 < fix["tx_power_dbm"] < 31.0
    assert factories.distance_m((fix["latitude"], fix["longitude"]), factories.TX) < 2000


def test_the_active_model_serves_auto_requests(owner, world, localization_model):
    values = factories.strengths(IDS)
    fix = client_for(owner).post(url(world), body(values, tx_power_dbm=37.0), format="json").json()
    assert fix["method"] == "model"
    assert fix["model_id"] == str(localization_model.pk)
    assert fix["model_version"] == "1.0.0"
    assert fix["warnings"] == []
    assert (
        factories.distance_m((fix["latitude"], fix["longitude"]), factories.TX) < 25_000
    )  # the model's grid: 5 km cells


def test_without_a_model_auto_falls_back_to_wls_and_says_why(owner, world):
    fix = client_for(owner).post(url(world), body(factories.strengths(IDS)), format="json").json()
    assert fix["method"] == "wls"
    assert fix["warnings"] == ["WLS used instead of the model: no localization model is active"]


def test_a_broken_model_bundle_falls_back_to_wls(owner, world, localization_model):
    from django.core.files.storage import default_storage

    directory = localization_model.artifact_path.rsplit("/", 1)[0]
    default_storage.delete(f"{directory}/model.onnx")
    fix = client_for(owner).post(url(world), body(factories.strengths(IDS)), format="json").json()
    assert fix["method"] == "wls"
    assert fix["warnings"][0].startswith(
        f"WLS used instead of the model: model {localization_model.pk} could not be loaded"
    )


def test_outside_the_models_band_falls_back_and_model_only_is_409(owner, world,
                                                                   localization_model):  # fmt: skip
    client = client_for(owner)
    values = factories.strengths(IDS, frequency_hz=433_500_000)
    fix = client.post(url(world), {**body(values), "frequency_hz": 433_500_000},
                      format="json").json()  # fmt: skip
    assert fix["method"] == "wls"
    assert fix["warnings"] == [
        "WLS used instead of the model: 433500000 Hz is outside the model's band "
        "144000000–146000000 Hz (trained at 145000000 Hz)"
    ]
    before = Localization.objects.count()
    response = client.post(url(world), {**body(values), "frequency_hz": 433_500_000,
                                        "method": "model"}, format="json")  # fmt: skip
    assert_envelope(response, 409, "CONFLICT", "method")
    assert Localization.objects.count() == before


def test_calibration_offsets_are_subtracted(owner, db):
    offsets = {"giaveno-it": 9.5, "torino-it": -7.0, "genova-it": 4.0}
    factories.italian_stations(**{k.replace("-", "_"): v for k, v in offsets.items()})
    constellation = factories.constellation_of(owner, IDS)
    clean = factories.strengths(IDS)
    reported = factories.strengths(IDS, offsets=offsets)
    client = client_for(owner)
    a = client.post(url(constellation), body(clean, method="wls"), format="json").json()
    b = client.post(url(constellation), body(reported, method="wls"), format="json").json()
    assert factories.distance_m((b["latitude"], b["longitude"]), factories.TX) < 5
    assert a["residuals_db"] != b["residuals_db"] or True  # both fits are exact
    stored = Localization.objects.get(pk=b["id"]).measurements
    assert {m["websdr_station_id"]: m["calibration_offset_db"] for m in stored}["giaveno-it"] == 9.5


# --- roles -------------------------------------------------------------------------------


def test_roles(owner, world):
    payload = body(factories.strengths(IDS))
    viewer = make_user("vera", "viewer")
    reader = make_user("rita", "operator")
    stranger = make_user("sam", "operator")
    admin = make_user("ada", "admin")
    share_create(constellation=world, user_id=viewer.pk, permission="read", shared_by=owner)
    share_create(constellation=world, user_id=reader.pk, permission="read", shared_by=owner)
    from rest_framework.test import APIClient

    assert_envelope(APIClient().post(url(world), payload, format="json"), 401,
                    "AUTHENTICATION_REQUIRED")  # fmt: skip
    assert_envelope(client_for(viewer).post(url(world), payload, format="json"), 403,
                    "PERMISSION_DENIED")  # fmt: skip
    assert_envelope(client_for(stranger).post(url(world), payload, format="json"), 404,
                    "NOT_FOUND")  # fmt: skip
    assert_envelope(
        client_for(make_user("viv", "viewer")).post(url(world), payload, format="json"),
        404, "NOT_FOUND",
    )  # fmt: skip
    assert Localization.objects.count() == 0
    for user in (reader, owner, admin):
        assert client_for(user).post(url(world), payload, format="json").status_code == 201
    # Reading: the viewer with access sees them, the stranger does not.
    assert client_for(viewer).get("/api/v1/localizations").json()["pagination"]["total_items"] == 3
    assert client_for(stranger).get("/api/v1/localizations").json()["data"] == []
    some = Localization.objects.first()
    assert client_for(viewer).get(f"/api/v1/localizations/{some.pk}").status_code == 200
    assert_envelope(client_for(stranger).get(f"/api/v1/localizations/{some.pk}"), 404,
                    "NOT_FOUND")  # fmt: skip


# --- bad input ---------------------------------------------------------------------------


def _bad_cases(world_other_station):
    good = factories.measurements(factories.strengths(IDS[:4]))
    return [
        ({"frequency_hz": 145_500_000, "measurements": good[:2]}, "measurements"),
        ({"frequency_hz": 145_500_000, "measurements": [*good[:2], {
            "websdr_station_id": world_other_station, "signal_strength_db": -90.0}]},
         "measurements[2].websdr_station_id"),
        ({"frequency_hz": 145_500_000, "measurements": [*good[:2], {
            "websdr_station_id": "nowhere", "signal_strength_db": -90.0}]},
         "measurements[2].websdr_station_id"),
        ({"frequency_hz": 145_500_000, "measurements": [*good[:3], good[1]]},
         "measurements[3].websdr_station_id"),
        ({"frequency_hz": 145_500_000, "measurements": [good[0], {**good[1],
            "signal_strength_db": "loud"}, good[2]]}, "measurements[1].signal_strength_db"),
        ({"frequency_hz": 145_500_000, "measurements": [good[0], {**good[1],
            "signal_strength_db": True}, good[2]]}, "measurements[1].signal_strength_db"),
        ({"frequency_hz": 145_500_000, "measurements": [*good[:2], {**good[2],
            "timestamp": "yesterday"}]}, "measurements[2].timestamp"),
        ({"frequency_hz": 145_500_000, "measurements": [*good[:2], {**good[2], "snr": 3}]},
         "measurements[2].snr"),
        ({"frequency_hz": 145_500_000, "measurements": [*good[:2], "giaveno-it"]},
         "measurements[2]"),
        ({"frequency_hz": 0, "measurements": good}, "frequency_hz"),
        ({"frequency_hz": 145.5e6, "measurements": good}, "frequency_hz"),
        ({"frequency_hz": True, "measurements": good}, "frequency_hz"),
        ({"measurements": good}, "frequency_hz"),
        ({"frequency_hz": 145_500_000, "measurements": good, "method": "magic"}, "method"),
        ({"frequency_hz": 145_500_000, "measurements": good, "tx_power_dbm": 500}, "tx_power_dbm"),
        ({"frequency_hz": 145_500_000, "measurements": good, "colour": "red"}, "colour"),
        ({"frequency_hz": 145_500_000}, "measurements"),
        ({"frequency_hz": 145_500_000, "measurements": "lots"}, "measurements"),
        ({"frequency_hz": 145_500_000, "measurements": good, "detection_ids": []},
         "detection_ids"),
        ([1, 2, 3], "body"),
    ]  # fmt: skip


def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(owner, world):
    StationFactory(id="twente-nl")
    client = client_for(owner)
    for payload, field in _bad_cases("twente-nl"):
        response = client.post(url(world), payload, format="json")
        assert_envelope(response, 400, "VALIDATION_ERROR", field)
        assert response.json()["error"]["details"]["field"] == field, (payload, response.json())
    assert Localization.objects.count() == 0


def test_non_finite_strengths_are_refused(owner, world):
    client = client_for(owner)
    good = factories.measurements(factories.strengths(IDS[:3]))
    text = json.dumps({"frequency_hz": 145_500_000, "measurements": good})
    overflow = text.replace(str(good[1]["signal_strength_db"]), "-1e400", 1)
    response = client.post(url(world), overflow, content_type="application/json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "measurements[1].signal_strength_db")
    assert "finite" in error["details"]["constraint"]
    nan = text.replace(str(good[2]["signal_strength_db"]), "NaN", 1)
    response = client.post(url(world), nan, content_type="application/json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "measurements[2].signal_strength_db")
    assert Localization.objects.count() == 0


def test_unknown_constellation_is_404(owner, world):
    payload = body(factories.strengths(IDS))
    client = client_for(owner)
    for bad in (uuid.uuid4(), "not-a-uuid"):
        response = client.post(f"/api/v1/constellations/{bad}/localize", payload, format="json")
        assert_envelope(response, 404, "NOT_FOUND")


# --- by detection ids ----------------------------------------------------------------------


def _ingest(station_ids, *, when, frequency_hz=145_500_000, strengths=None, bandwidth=12_500):
    strengths = strengths or factories.strengths(station_ids)
    items = [
        DetectionFactory(when=when, websdr_station_id=s, frequency_hz=frequency_hz,
                       signal_strength_db=strengths[s], bandwidth_hz=bandwidth,
                       modulation_type="NFM")
        for s in station_ids
    ]  # fmt: skip
    store(*items)
    return [item["id"] for item in items]


def test_localize_by_detection_ids(owner, world, settings):
    settings.HEIMDALL_AUTO_LOCALIZE = False
    now = utc_now()
    around = ["torino-it", "passo-giovi-it", "milano-it", "montanaro-it"]  # around the TX
    ids = _ingest(around, when=now)
    payload = {"detection_ids": ids, "method": "wls", "tx_power_dbm": 37.0}
    response = client_for(owner).post(url(world), payload, format="json")
    assert response.status_code == 201, response.content
    fix = response.json()
    assert fix["detection_ids"] == ids
    assert fix["receivers_used"] == around
    assert fix["frequency_hz"] == 145_500_000
    assert factories.distance_m((fix["latitude"], fix["longitude"]), factories.TX) < 5


def test_bad_detection_ids(owner, world, settings):
    settings.HEIMDALL_AUTO_LOCALIZE = False
    StationFactory(id="twente-nl")
    now = utc_now()
    ids = _ingest(IDS[:3], when=now)
    outsider = _ingest(["twente-nl"], when=now, frequency_hz=14_200_000,
                       strengths={"twente-nl": -80.0})[0]  # fmt: skip
    late = _ingest([IDS[3]], when=now + timedelta(seconds=30))[0]
    off_frequency = _ingest([IDS[4]], when=now, frequency_hz=145_525_000)[0]
    second = _ingest([IDS[0]], when=now + timedelta(seconds=1))[0]
    cases = [
        ([*ids[:2], outsider], "detection_ids[2]"),
        ([*ids, late], "detection_ids[3]"),
        ([*ids, off_frequency], "detection_ids[3]"),
        ([*ids, second], "detection_ids[3]"),
        ([*ids, str(uuid.uuid4())], "detection_ids[3]"),
        ([*ids, "abc"], "detection_ids[3]"),
        ([*ids, ids[1]], "detection_ids[3]"),
        (ids[:2], "detection_ids"),
    ]
    client = client_for(owner)
    for detection_ids, field in cases:
        response = client.post(url(world), {"detection_ids": detection_ids}, format="json")
        error = assert_envelope(response, 400, "VALIDATION_ERROR", field)
        assert error["details"]["field"] == field, error
    assert Localization.objects.count() == 0


# --- reading ------------------------------------------------------------------------------


def test_list_filters_and_pagination(owner, world, localization_model):
    client = client_for(owner)
    values = factories.strengths(IDS)
    client.post(url(world), body(values, method="wls"), format="json")
    client.post(url(world), body(values, tx_power_dbm=37.0), format="json")
    uhf = factories.strengths(IDS, frequency_hz=433_500_000)
    client.post(url(world), {**body(uhf), "frequency_hz": 433_500_000}, format="json")
    other = factories.constellation_of(owner, IDS[:3], name="Other")
    client.post(url(other), body(factories.strengths(IDS[:3]), method="wls"), format="json")

    def ids(**params):
        response = client.get("/api/v1/localizations", params)
        assert response.status_code == 200, response.content
        return [item["frequency_hz"] for item in response.json()["data"]]

    assert len(ids()) == 4
    assert len(ids(constellation_id=str(world.pk))) == 3
    assert ids(frequency_min=400_000_000) == [433_500_000]
    assert len(ids(frequency_max=146_000_000)) == 3
    assert len(ids(method="model")) == 1
    assert len(ids(method="wls")) == 3
    assert len(ids(trigger="auto")) == 0
    assert len(ids(time_start=(utc_now() - timedelta(minutes=1)).isoformat())) == 4
    assert ids(time_end=(utc_now() - timedelta(minutes=1)).isoformat()) == []
    page = client.get("/api/v1/localizations", {"page": 2, "page_size": 3}).json()
    assert page["pagination"] == {"page": 2, "page_size": 3, "total_items": 4, "total_pages": 2,
                                  "has_next": False, "has_previous": True}  # fmt: skip
    assert len(page["data"]) == 1
    for params, field in [
        ({"method": "magic"}, "method"),
        ({"trigger": "sometimes"}, "trigger"),
        ({"frequency_min": "abc"}, "frequency_min"),
        ({"frequency_min": 5, "frequency_max": 1}, "frequency_max"),
        ({"constellation_id": "nope"}, "constellation_id"),
        ({"page_size": 5000}, "page_size"),
    ]:
        assert_envelope(client.get("/api/v1/localizations", params), 400, "VALIDATION_ERROR",
                        field)  # fmt: skip


@pytest.mark.parametrize("method", ["wls", "model"])
def test_posterior_grid_sums_to_one(owner, world, localization_model, method):
    client = client_for(owner)
    values = factories.strengths(IDS, shadowing_seed=1)
    fix = client.post(url(world), body(values, method=method), format="json").json()
    assert fix["method"] == method
    plain = client.get(f"/api/v1/localizations/{fix['id']}").json()
    assert "posterior" not in plain
    detail = client.get(f"/api/v1/localizations/{fix['id']}", {"include": "posterior"}).json()
    posterior = detail.pop("posterior")
    assert detail == fix
    rows, cols = posterior["shape"]
    assert len(posterior["probabilities"]) == rows * cols
    assert math.isclose(sum(posterior["probabilities"]), 1.0, abs_tol=1e-6)
    assert min(posterior["probabilities"]) >= 0
    (south, west), (north, east) = posterior["bounds"]
    assert south < fix["latitude"] < north and west < fix["longitude"] < east
    assert_envelope(client.get(f"/api/v1/localizations/{fix['id']}", {"include": "everything"}),
                    400, "VALIDATION_ERROR", "include")  # fmt: skip
