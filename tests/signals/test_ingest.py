import uuid
from datetime import timedelta

import pytest

from apps.anomalies.models import AnomalyEvent
from apps.core.timeutil import utc_now
from apps.signals.models import SignalDetection
from apps.stations.models import Station
from tests.helpers import assert_envelope, client_for
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/signals/detections"


@pytest.fixture
def stations(db):
    return [StationFactory(id="twente-nl"), StationFactory(id="hackgreen-uk")]


def test_ingest_stores_every_field(operator_client, stations, django_capture_on_commit_callbacks):
    now = utc_now().replace(microsecond=0)
    item = DetectionFactory(when=now, is_anomaly=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(URL, {"detections": [item]}, format="json")
    assert response.status_code == 201
    assert response.json() == {"ingested": 1, "duplicates": 0}
    stored = SignalDetection.objects.get(pk=item["id"])
    assert stored.websdr_station_id == "twente-nl"
    assert stored.frequency_hz == 14_235_000
    assert stored.signal_strength_db == -73.5
    assert stored.bandwidth_hz == 2400
    assert stored.modulation_type == "USB"
    assert stored.signal_features == {"spectral_centroid": 1500.0, "snr_estimate": 15.3}
    assert stored.anomaly_score == 0.15
    assert stored.is_anomaly is False
    assert stored.detection_timestamp == now
    assert stored.processing_metadata == {"processing_time_ms": 125, "model_version": "1.2.0"}
    assert Station.objects.get(pk="twente-nl").last_seen == now
    # last_seen never moves back for late-arriving old data.
    with django_capture_on_commit_callbacks(execute=True):
        ingest(DetectionFactory(when=now - timedelta(hours=1)))
    assert Station.objects.get(pk="twente-nl").last_seen == now


def test_ingest_is_idempotent_on_client_ids(operator_client, stations):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(5)]
    assert operator_client.post(URL, {"detections": items}, format="json").json() == {
        "ingested": 5,
        "duplicates": 0,
    }
    extra = DetectionFactory(when=now)
    again = operator_client.post(URL, {"detections": [*items, extra, extra]}, format="json")
    assert again.json() == {"ingested": 1, "duplicates": 6}
    assert SignalDetection.objects.count() == 6


def test_ingest_without_ids_assigns_them(operator_client, stations):
    item = DetectionFactory(when=utc_now())
    del item["id"]
    response = operator_client.post(URL, {"detections": [item, dict(item)]}, format="json")
    assert response.json() == {"ingested": 2, "duplicates": 0}


def test_anomalous_detection_raises_one_event(operator_client, stations):
    now = utc_now()
    normal = DetectionFactory(when=now, anomaly_score=0.1)
    wide = DetectionFactory(
        when=now, anomaly_score=0.9, bandwidth_hz=200_000, modulation_type="WFM"
    )
    outside = DetectionFactory(when=now, anomaly_score=0.97, frequency_hz=145_500_000)
    operator_client.post(URL, {"detections": [normal, wide, outside]}, format="json")
    events = {str(e.detection_id): e for e in AnomalyEvent.objects.all()}
    assert set(events) == {wide["id"], outside["id"]}
    assert events[wide["id"]].event_type == "unexpected_modulation"
    assert events[wide["id"]].severity == "high"
    assert events[outside["id"]].event_type == "out_of_band_carrier"
    assert events[outside["id"]].severity == "critical"
    assert events[outside["id"]].description == (
        "Carrier outside the station's coverage on 145.500 MHz at twente-nl"
    )
    assert SignalDetection.objects.get(pk=wide["id"]).is_anomaly is True


def test_geographic_correlation_lists_stations_hearing_the_same_frequency(
    operator_client, stations
):
    now = utc_now()
    heard = DetectionFactory(when=now - timedelta(seconds=3), websdr_station_id="hackgreen-uk")
    operator_client.post(URL, {"detections": [heard]}, format="json")
    anomaly = DetectionFactory(when=now, anomaly_score=0.8)
    operator_client.post(URL, {"detections": [anomaly]}, format="json")
    event = AnomalyEvent.objects.get(detection_id=anomaly["id"])
    assert event.metadata["geographic_correlation"] == ["hackgreen-uk", "twente-nl"]
    assert event.metadata["affected_frequencies"] == [14_235_000, 14_237_400]
    assert event.severity == "medium"


def test_is_anomaly_follows_threshold_when_not_given(operator_client, stations):
    item = DetectionFactory(when=utc_now(), anomaly_score=0.5)
    operator_client.post(URL, {"detections": [item]}, format="json")
    assert SignalDetection.objects.get(pk=item["id"]).is_anomaly is True


def test_collector_may_ingest_and_viewer_may_not(collector_user, viewer_client, stations):
    item = DetectionFactory(when=utc_now())
    assert_envelope(
        viewer_client.post(URL, {"detections": [item]}, format="json"), 403, "PERMISSION_DENIED"
    )
    assert SignalDetection.objects.count() == 0
    response = client_for(collector_user).post(URL, {"detections": [item]}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"websdr_station_id": "nowhere"}, "websdr_station_id"),
        ({"websdr_station_id": None}, "websdr_station_id"),
        ({"frequency_hz": -5}, "frequency_hz"),
        ({"frequency_hz": 14.5}, "frequency_hz"),
        ({"frequency_hz": "14235000"}, "frequency_hz"),
        ({"signal_strength_db": "loud"}, "signal_strength_db"),
        ({"signal_strength_db": 500}, "signal_strength_db"),
        ({"bandwidth_hz": -1}, "bandwidth_hz"),
        ({"modulation_type": "SSTV2"}, "modulation_type"),
        ({"anomaly_score": 1.5}, "anomaly_score"),
        ({"is_anomaly": "yes"}, "is_anomaly"),
        ({"detection_timestamp": "yesterday"}, "detection_timestamp"),
        ({"detection_timestamp": "2999-01-01T00:00:00Z"}, "detection_timestamp"),
        ({"detection_timestamp": "2001-01-01T00:00:00Z"}, "detection_timestamp"),
        ({"id": "not-a-uuid"}, "id"),
        ({"signal_features": {"snr": "high"}}, "signal_features.snr"),
        ({"signal_features": [1, 2]}, "signal_features"),
        ({"processing_metadata": "fast"}, "processing_metadata"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_item_is_400_naming_index_and_field_and_nothing_is_written(
    operator_client, stations, change, field
):
    now = utc_now()
    good = DetectionFactory(when=now)
    bad = {**DetectionFactory(when=now), **change}
    response = operator_client.post(URL, {"detections": [good, bad]}, format="json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", f"detections[1].{field}")
    assert error["details"]["field"] == f"detections[1].{field}"
    assert SignalDetection.objects.count() == 0
    assert AnomalyEvent.objects.count() == 0


def test_every_bad_item_is_reported(operator_client, stations):
    now = utc_now()
    items = [DetectionFactory(when=now, frequency_hz=-1), DetectionFactory(when=now),
             DetectionFactory(when=now, websdr_station_id="nope")]  # fmt: skip
    error = assert_envelope(
        operator_client.post(URL, {"detections": items}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert set(error["details"]["fields"]) == {
        "detections[0].frequency_hz",
        "detections[2].websdr_station_id",
    }


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_service_refuses_non_finite_numbers(stations, value):
    """Collectors call the service directly, with Python floats: NaN must not get in."""
    from apps.core.exceptions import ValidationFailed

    item = DetectionFactory(when=utc_now(), signal_strength_db=value)
    with pytest.raises(ValidationFailed) as caught:
        ingest(item)
    assert caught.value.details["field"] == "detections[0].signal_strength_db"
    bad_feature = DetectionFactory(when=utc_now(), signal_features={"snr_estimate": value})
    with pytest.raises(ValidationFailed):
        ingest(bad_feature)
    assert SignalDetection.objects.count() == 0


def test_infinity_is_refused_by_the_json_parser(operator_client, stations):
    body = (
        '{"detections": [{"websdr_station_id": "twente-nl", "frequency_hz": 1,'
        ' "signal_strength_db": Infinity, "detection_timestamp": "2026-01-01T00:00:00Z"}]}'
    )
    response = operator_client.post(URL, data=body, content_type="application/json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "body")


@pytest.mark.parametrize(
    "payload", [{}, {"detections": []}, {"detections": "lots"}, [], {"detections": [1]}]
)
def test_malformed_batches(operator_client, stations, payload):
    response = operator_client.post(URL, payload, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR")
    assert SignalDetection.objects.count() == 0


def test_batch_limit_is_10000(operator_client, stations):
    item = DetectionFactory(when=utc_now())
    del item["id"]
    response = operator_client.post(URL, {"detections": [item] * 10_001}, format="json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "detections")
    assert error["details"]["value"] == 10_001


def test_ingest_creates_partitions_on_demand(operator_client, stations):
    from apps.core.partitioning import existing_partitions

    old_day = utc_now() - timedelta(days=40)
    item = DetectionFactory(when=old_day)
    operator_client.post(URL, {"detections": [item]}, format="json")
    assert old_day.date() in existing_partitions("signals_signaldetection")
    assert SignalDetection.objects.filter(pk=item["id"]).exists()


def test_unknown_ids_in_detail(viewer_client, stations):
    assert_envelope(viewer_client.get(f"{URL}/{uuid.uuid4()}"), 404, "NOT_FOUND")
    assert_envelope(viewer_client.get(f"{URL}/not-a-uuid"), 404, "NOT_FOUND")
