from datetime import timedelta

import pytest

from apps.anomalies.models import AnomalyEvent
from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.signals.models import SignalDetection
from apps.stations.models import Station, StationCheck
from tests.helpers import assert_envelope

pytestmark = pytest.mark.django_db

TWENTE = {
    "id": "twente-nl",
    "name": "University of Twente WebSDR",
    "url": "http://websdr.ewi.utwente.nl:8901/",
    "location": "Enschede, Netherlands",
    "latitude": 52.2387,
    "longitude": 6.8509,
    "frequency_min": 0,
    "frequency_max": 29000000,
    "status": "active",
    "api_config": {"api_type": "http_streaming", "poll_interval": 1.0, "timeout": 30},
}


def create_station(**overrides) -> Station:
    data = {**TWENTE, **overrides}
    return Station.objects.create(**data)


def add_detection(station, when, frequency_hz=14_235_000, is_anomaly=False):
    ensure_partitions(SignalDetection._meta.db_table, {when.date()})
    detection = SignalDetection.objects.create(
        websdr_station=station,
        frequency_hz=frequency_hz,
        signal_strength_db=-73.5,
        bandwidth_hz=2400,
        modulation_type="USB",
        detection_timestamp=when,
        is_anomaly=is_anomaly,
        anomaly_score=0.9 if is_anomaly else 0.1,
        created_at=when,
        updated_at=when,
    )
    if is_anomaly:
        AnomalyEvent.objects.create(
            detection_id=detection.id,
            detection_timestamp=when,
            station=station,
            frequency_hz=frequency_hz,
            anomaly_score=0.9,
            event_type="power_jump",
            severity="high",
            description="test",
        )
    return detection


# --- reads -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_lists_stations_with_counts(role, role_clients):
    create_station()
    create_station(id="hackgreen-uk", name="Hack Green", status="maintenance")
    response = role_clients[role].get("/api/v1/stations")
    assert response.status_code == 200
    body = response.json()
    assert body["total_count"] == 2
    assert body["active_count"] == 1
    assert body["inactive_count"] == 1
    assert [s["id"] for s in body["data"]] == ["hackgreen-uk", "twente-nl"]
    assert set(body["data"][1]) == {
        "id", "name", "url", "location", "latitude", "longitude",
        "frequency_min", "frequency_max", "status", "last_seen",
    }  # fmt: skip
    assert body["data"][1]["frequency_max"] == 29000000


def test_anonymous_cannot_list(anon_client):
    assert_envelope(anon_client.get("/api/v1/stations"), 401, "AUTHENTICATION_REQUIRED")


def test_status_filter(viewer_client):
    create_station()
    create_station(id="hackgreen-uk", status="inactive")
    body = viewer_client.get("/api/v1/stations?status=inactive").json()
    assert [s["id"] for s in body["data"]] == ["hackgreen-uk"]
    assert (body["total_count"], body["active_count"], body["inactive_count"]) == (1, 0, 1)
    assert_envelope(
        viewer_client.get("/api/v1/stations?status=sleeping"), 400, "VALIDATION_ERROR", "status"
    )


def test_detail_statistics_are_computed_from_stored_data(viewer_client):
    station = create_station()
    other = create_station(id="hackgreen-uk")
    now = utc_now()
    for minutes, ok, ms in [
        (10, True, 100.0),
        (20, True, 200.0),
        (30, False, None),
        (40, True, 150.0),
    ]:
        StationCheck.objects.create(
            station=station, checked_at=now - timedelta(minutes=minutes), ok=ok, response_time_ms=ms
        )
    # Outside the 24 h window: ignored.
    StationCheck.objects.create(station=station, checked_at=now - timedelta(hours=30), ok=False)
    add_detection(station, now - timedelta(hours=1))
    add_detection(station, now - timedelta(hours=2), is_anomaly=True)
    add_detection(station, now - timedelta(hours=3), is_anomaly=True)
    add_detection(station, now - timedelta(hours=30))  # too old
    add_detection(other, now - timedelta(hours=1))  # another station

    response = viewer_client.get("/api/v1/stations/twente-nl")
    assert response.status_code == 200
    body = response.json()
    assert body["statistics"] == {
        "uptime_percentage": 75.0,
        "average_response_time_ms": 150.0,
        "total_detections_24h": 3,
        "anomalies_detected_24h": 2,
    }
    assert body["api_config"] == TWENTE["api_config"]
    assert body["created_at"].endswith("Z")


def test_detail_without_checks_reports_null_uptime(viewer_client):
    create_station()
    stats = viewer_client.get("/api/v1/stations/twente-nl").json()["statistics"]
    assert stats["uptime_percentage"] is None
    assert stats["average_response_time_ms"] is None
    assert stats["total_detections_24h"] == 0


def test_status_endpoint(viewer_client):
    now = utc_now()
    station = create_station(
        last_seen=now,
        connection_status="connected",
        response_time_ms=145.0,
        current_listeners=23,
        signal_quality=0.92,
        current_frequency=14_235_000,
    )
    add_detection(station, now - timedelta(minutes=5), frequency_hz=14_235_000)
    add_detection(station, now - timedelta(minutes=6), frequency_hz=7_100_000)
    add_detection(station, now - timedelta(minutes=7), frequency_hz=12_000_000)  # no band
    add_detection(station, now - timedelta(hours=3), frequency_hz=3_600_000)  # too old
    body = viewer_client.get("/api/v1/stations/twente-nl/status").json()
    assert body["station_id"] == "twente-nl"
    assert body["status"] == "active"
    assert body["connection_status"] == "connected"
    assert body["response_time_ms"] == 145.0
    assert body["current_listeners"] == 23
    assert body["signal_quality"] == 0.92
    assert body["frequency_coverage"] == {
        "current_frequency": 14_235_000,
        "active_bands": ["40m", "20m"],
    }
    assert viewer_client.get("/api/v1/stations/twente-nl/status/").status_code == 200
    assert_envelope(viewer_client.get("/api/v1/stations/nope/status"), 404, "NOT_FOUND")


# --- writes --------------------------------------------------------------------


def test_admin_creates_station(admin_client):
    response = admin_client.post("/api/v1/stations", TWENTE, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "twente-nl"
    assert body["statistics"]["total_detections_24h"] == 0
    station = Station.objects.get(pk="twente-nl")
    assert station.latitude == 52.2387
    assert station.api_config == TWENTE["api_config"]


def test_create_fills_defaults(admin_client):
    minimal = {k: TWENTE[k] for k in ("id", "name", "url", "latitude", "longitude",
                                       "frequency_min", "frequency_max")}  # fmt: skip
    body = admin_client.post("/api/v1/stations", minimal, format="json").json()
    assert body["status"] == "active"
    assert body["location"] == ""
    assert body["api_config"] == {"api_type": "simulated", "poll_interval": 1.0, "timeout": 30}


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_non_admins_cannot_write(role, role_clients):
    create_station()
    client = role_clients[role]
    before = Station.objects.get(pk="twente-nl")
    assert_envelope(
        client.post("/api/v1/stations", {**TWENTE, "id": "new-one"}, format="json"),
        403,
        "PERMISSION_DENIED",
    )
    assert_envelope(
        client.put("/api/v1/stations/twente-nl", {**TWENTE, "name": "X"}, format="json"),
        403,
        "PERMISSION_DENIED",
    )
    assert_envelope(client.delete("/api/v1/stations/twente-nl"), 403, "PERMISSION_DENIED")
    assert Station.objects.count() == 1
    after = Station.objects.get(pk="twente-nl")
    assert (after.name, after.updated_at) == (before.name, before.updated_at)


def test_anonymous_cannot_write(anon_client):
    assert_envelope(
        anon_client.post("/api/v1/stations", TWENTE, format="json"), 401, "AUTHENTICATION_REQUIRED"
    )
    assert Station.objects.count() == 0


def test_duplicate_id_is_409(admin_client):
    create_station()
    response = admin_client.post("/api/v1/stations", TWENTE, format="json")
    assert_envelope(response, 409, "CONFLICT", "id")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": "Twente NL"}, "id"),
        ({"id": "-twente"}, "id"),
        ({"id": ""}, "id"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"url": "not a url"}, "url"),
        ({"latitude": 91}, "latitude"),
        ({"latitude": "north"}, "latitude"),
        ({"longitude": -180.5}, "longitude"),
        ({"frequency_min": -1}, "frequency_min"),
        ({"frequency_min": 1.5}, "frequency_min"),
        ({"frequency_max": 0}, "frequency_max"),
        ({"frequency_min": 30_000_000, "frequency_max": 29_000_000}, "frequency_max"),
        ({"status": "sleeping"}, "status"),
        ({"api_config": "fast"}, "api_config"),
        ({"api_config": {"api_type": "carrier-pigeon"}}, "api_config.api_type"),
        ({"api_config": {"api_type": "simulated", "poll_interval": 0}}, "api_config.poll_interval"),
        ({"api_config": {"api_type": "simulated", "timeout": "soon"}}, "api_config.timeout"),
        ({"api_config": {"api_type": "simulated", "colour": "red"}}, "api_config.colour"),
    ],
)
def test_create_validation_names_field_and_writes_nothing(admin_client, overrides, field):
    response = admin_client.post("/api/v1/stations", {**TWENTE, **overrides}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert Station.objects.count() == 0


@pytest.mark.parametrize("missing", ["id", "name", "url", "latitude", "longitude",
                                     "frequency_min", "frequency_max"])  # fmt: skip
def test_create_requires_fields(admin_client, missing):
    payload = {k: v for k, v in TWENTE.items() if k != missing}
    assert_envelope(
        admin_client.post("/api/v1/stations", payload, format="json"),
        400,
        "VALIDATION_ERROR",
        missing,
    )


def test_admin_updates_station_with_put(admin_client):
    create_station()
    payload = {**TWENTE, "name": "Twente (renamed)", "status": "maintenance"}
    payload.pop("id")
    response = admin_client.put("/api/v1/stations/twente-nl", payload, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Twente (renamed)"
    station = Station.objects.get(pk="twente-nl")
    assert (station.name, station.status) == ("Twente (renamed)", "maintenance")


def test_put_requires_full_representation_and_patch_does_not(admin_client):
    create_station()
    assert_envelope(
        admin_client.put("/api/v1/stations/twente-nl", {"name": "X"}, format="json"),
        400,
        "VALIDATION_ERROR",
        "url",
    )
    assert Station.objects.get(pk="twente-nl").name == TWENTE["name"]
    response = admin_client.patch("/api/v1/stations/twente-nl", {"name": "X"}, format="json")
    assert response.status_code == 200
    assert Station.objects.get(pk="twente-nl").name == "X"


def test_update_cannot_change_id_or_invert_range(admin_client):
    create_station()
    assert_envelope(
        admin_client.put("/api/v1/stations/twente-nl", {**TWENTE, "id": "other"}, format="json"),
        400,
        "VALIDATION_ERROR",
        "id",
    )
    assert_envelope(
        admin_client.patch("/api/v1/stations/twente-nl", {"frequency_max": 0}, format="json"),
        400,
        "VALIDATION_ERROR",
        "frequency_max",
    )
    assert_envelope(
        admin_client.patch(
            "/api/v1/stations/twente-nl", {"frequency_min": 29_000_000}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
        "frequency_max",
    )
    assert Station.objects.get(pk="twente-nl").frequency_min == 0


def test_update_unknown_station_is_404(admin_client):
    assert_envelope(
        admin_client.put("/api/v1/stations/nope", TWENTE, format="json"), 404, "NOT_FOUND"
    )


def test_admin_deletes_station(admin_client):
    station = create_station()
    StationCheck.objects.create(station=station, checked_at=utc_now(), ok=True)
    assert admin_client.delete("/api/v1/stations/twente-nl").status_code == 204
    assert not Station.objects.exists()
    assert not StationCheck.objects.exists()
    assert_envelope(admin_client.delete("/api/v1/stations/twente-nl"), 404, "NOT_FOUND")


def test_station_with_detections_cannot_be_deleted(admin_client):
    station = create_station()
    add_detection(station, utc_now())
    error = assert_envelope(admin_client.delete("/api/v1/stations/twente-nl"), 409, "CONFLICT")
    assert "has stored detections" in error["message"]
    assert Station.objects.filter(pk="twente-nl").exists()


def test_statistics_of_many_stations_equal_each_stations_own(db):
    from datetime import timedelta

    from apps.core.timeutil import utc_now
    from apps.stations import selectors
    from apps.stations.models import Station, StationCheck
    from tests.signals.factories import DetectionFactory, ingest
    from tests.stations.factories import StationFactory

    now = utc_now()
    for station_id in ("twente-nl", "hackgreen-uk", "quiet-nl"):
        StationFactory(id=station_id)
    ingest(
        DetectionFactory(when=now - timedelta(hours=1), anomaly_score=0.9),
        DetectionFactory(when=now - timedelta(hours=2), anomaly_score=0.1),
        DetectionFactory(when=now - timedelta(hours=30), anomaly_score=0.9),  # outside 24 h
        DetectionFactory(when=now - timedelta(hours=3), websdr_station_id="hackgreen-uk"),
    )
    StationCheck.objects.create(station_id="twente-nl", checked_at=now, ok=True,
                                response_time_ms=120)  # fmt: skip
    StationCheck.objects.create(station_id="twente-nl", checked_at=now, ok=False)
    stations = list(Station.objects.order_by("id"))
    many = selectors.station_statistics_many(stations=stations, now=now)
    for station in stations:
        assert many[station.id] == selectors.station_statistics(station=station, now=now)
    assert many["twente-nl"] == {
        "uptime_percentage": 50.0,
        "average_response_time_ms": 120.0,
        "total_detections_24h": 2,
        "anomalies_detected_24h": 1,
    }
    assert many["quiet-nl"]["total_detections_24h"] == 0


def test_the_console_lists_statistics_at_most_max_age_old(db, django_assert_num_queries):
    """With `max_age_s` (the console's list) a second read within the age is the cached
    one, without a query; without it (the API), every read counts again."""
    from datetime import timedelta

    from apps.core.timeutil import utc_now
    from apps.stations import selectors
    from apps.stations.models import Station
    from tests.signals.factories import DetectionFactory, ingest
    from tests.stations.factories import StationFactory

    now = utc_now()
    StationFactory(id="twente-nl")
    stations = list(Station.objects.all())
    ingest(DetectionFactory(when=now - timedelta(hours=1)))
    first = selectors.station_statistics_many(stations=stations, now=now, max_age_s=15)
    ingest(DetectionFactory(when=now - timedelta(minutes=5)))
    with django_assert_num_queries(0):
        again = selectors.station_statistics_many(stations=stations, now=now, max_age_s=15)
    assert first == again and again["twente-nl"]["total_detections_24h"] == 1
    fresh = selectors.station_statistics_many(stations=stations, now=now)
    assert fresh["twente-nl"]["total_detections_24h"] == 2


def test_the_reserved_id_new_is_a_400_naming_id(admin_client):
    """`new` would be shadowed by the console's create page (/stations/new): refused."""
    response = admin_client.post("/api/v1/stations", {**TWENTE, "id": "new"}, format="json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "id")
    assert error["details"]["fields"]["id"] == [
        "'new' is reserved (the console's /stations/new is the create page); choose another id"
    ]
    assert Station.objects.count() == 0


def test_ids_that_only_contain_new_are_fine(admin_client):
    for station_id in ("new-york", "newcastle", "renew"):
        response = admin_client.post(
            "/api/v1/stations", {**TWENTE, "id": station_id}, format="json"
        )
        assert response.status_code == 201, response.content
    assert sorted(Station.objects.values_list("id", flat=True)) == [
        "new-york", "newcastle", "renew",
    ]  # fmt: skip
