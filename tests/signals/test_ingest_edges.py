"""Edge cases of the streamed ingest (apps.signals.services.detection_ingest), from a
review that tried to break it: chunk boundaries, late problems, text and numbers from
Python callers, times outside what a datetime holds."""

from collections import OrderedDict
from datetime import timedelta

import pytest

from apps.anomalies.models import AnomalyEvent
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.timeutil import utc_now
from apps.signals.models import DetectionKey, SignalDetection
from apps.signals.services import detection_ingest
from apps.stations.models import Station
from tests.helpers import assert_envelope
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/signals/detections"


def post(client, *items):
    return client.post(URL, {"detections": list(items)}, format="json")


def snapshot():
    return (
        SignalDetection.objects.count(),
        DetectionKey.objects.count(),
        AnomalyEvent.objects.count(),
        sorted(Station.objects.values_list("pk", "last_seen")),
    )


# --- Python callers -------------------------------------------------------------------


def test_python_lone_surrogate_station_id_is_a_validation_error(stations):
    before = snapshot()
    item = DetectionFactory(websdr_station_id="twente\ud800")
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=[DetectionFactory(), item])
    assert "detections[1].websdr_station_id" in raised.value.details["fields"]
    assert snapshot() == before


def test_python_ordered_dict_items_are_accepted(stations):
    """A dict subclass passes clean_detection (isinstance) but _Batch reads the
    timestamp and station only of `type(item) is dict`."""
    item = OrderedDict(DetectionFactory())
    result = detection_ingest(detections=[item])
    assert (result.ingested, result.duplicates) == (1, 0)


def test_python_str_subclass_key_with_nul_in_metadata(stations):
    class Key(str):
        pass

    before = snapshot()
    item = DetectionFactory(processing_metadata={Key("a\x00b"): 1})
    with pytest.raises(ValidationFailed):
        detection_ingest(detections=[item])
    assert snapshot() == before


@pytest.mark.parametrize(
    "metadata",
    [
        {"a\x00": 1},
        {"a": "b\x00"},
        {"a": ["x", ["y\x00"]]},
        {"a": [{"k\x00": 1}]},
        {"a": {"b": {"c": "\ud800"}}},
        {"\udfff": 1},
        {"a": ("t", "\x00")},
    ],
)
def test_python_bad_text_in_metadata(stations, metadata):
    before = snapshot()
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(
            detections=[DetectionFactory(), DetectionFactory(processing_metadata=metadata)]
        )
    assert any(
        f.startswith("detections[1].processing_metadata") for f in raised.value.details["fields"]
    )
    assert snapshot() == before


@pytest.mark.parametrize("features", [{"a\x00": 1.0}, {"\ud800": 1.0}, {"x\udc00y": 2}])
def test_python_bad_text_in_feature_names(stations, features):
    before = snapshot()
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=[DetectionFactory(signal_features=features)])
    assert any(
        f.startswith("detections[0].signal_features") for f in raised.value.details["fields"]
    )
    assert snapshot() == before


# --- HTTP -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where,raw",
    [
        ("processing_metadata", '{"a\\u0000": 1}'),
        ("processing_metadata", '{"a": "\\u0000"}'),
        ("processing_metadata", '{"a": [1, ["\\u0000"]]}'),
        ("processing_metadata", '{"a": [{"\\ud800": 1}]}'),
        ("processing_metadata", '{"a": "\\udfff"}'),
        ("signal_features", '{"\\u0000": 1.0}'),
        ("signal_features", '{"s\\ud800": 1.0}'),
        ("websdr_station_id", '"twente-nl\\u0000"'),
        ("websdr_station_id", '"twente-nl\\ud83d"'),
        ("modulation_type", '"USB\\u0000"'),
        ("id", '"\\u0000"'),
        ("detection_timestamp", '"2026-01-01T00:00:00\\u0000"'),
    ],
)
def test_http_bad_text_everywhere(operator_client, stations, where, raw):
    import json

    before = snapshot()
    items = [DetectionFactory() for _ in range(3)]
    text = json.dumps({"detections": items})
    marker = json.dumps(items[2][where])
    body = text[::-1].replace(marker[::-1], raw[::-1], 1)[::-1]  # the last item's field
    assert body != text
    response = operator_client.post(URL, body, content_type="application/json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert error["details"]["field"].startswith(f"detections[2].{where}"), error
    assert snapshot() == before


@pytest.mark.parametrize(
    "stamp",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00"],
)
def test_http_timestamps_out_of_datetime_range_are_a_400(operator_client, stations, stamp):
    before = snapshot()
    item = DetectionFactory()
    item["detection_timestamp"] = stamp
    assert_envelope(post(operator_client, DetectionFactory(), item), 400, "VALIDATION_ERROR",
                    "detections[1].detection_timestamp")  # fmt: skip
    assert snapshot() == before


# --- chunks ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [999, 1000, 1001, 2000, 2001])
def test_chunk_boundaries_counts(stations, count):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(milliseconds=i)) for i in range(count)]
    items.append(dict(items[0]))  # repeat of chunk 1 in the last chunk
    items.append(dict(items[-2]))  # repeat of the last distinct item
    result = detection_ingest(detections=items)
    assert (result.ingested, result.duplicates) == (count, 2)
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == count
    # the same again, stored ids in every chunk
    result = detection_ingest(detections=items)
    assert (result.ingested, result.duplicates) == (0, count + 2)


@pytest.mark.parametrize(
    ("change", "refusal", "field"),
    [
        (lambda items: {**items[999], "signal_strength_db": -1.0}, Conflict,
         "detections[1000].id"),
        (lambda items: {**items[1000], "frequency_hz": -1}, ValidationFailed,
         "detections[1000].frequency_hz"),
    ],
)  # fmt: skip
def test_1001_with_a_problem_in_item_1000(stations, change, refusal, field):
    """Item 1,000 is the first of the second chunk: the first was already streamed."""
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(milliseconds=i)) for i in range(1001)]
    items[1000] = change(items)
    before = snapshot()
    with pytest.raises(refusal) as raised:
        detection_ingest(detections=items)
    assert raised.value.details["field"] == field
    assert list(raised.value.details["fields"]) == [field]
    assert snapshot() == before


def test_late_chunk_unknown_station_after_anomalies_and_new_partition(stations, small_chunks):
    """Anomalous rows and a brand-new partition in early chunks, an unknown station
    last: nothing stored, no event, no last_seen."""
    StationFactory(id="other-st")
    now = utc_now()
    old = now - timedelta(days=5, hours=3)
    items = [DetectionFactory(when=now - timedelta(seconds=i), anomaly_score=0.99,
                              websdr_station_id="other-st") for i in range(7)]  # fmt: skip
    items.append(DetectionFactory(when=old))
    items.append(DetectionFactory(when=now, websdr_station_id="nowhere"))
    before = snapshot()
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=items)
    assert list(raised.value.details["fields"]) == ["detections[8].websdr_station_id"]
    assert snapshot() == before
    # and the same batch without the bad item goes in in full
    result = detection_ingest(detections=items[:-1])
    assert (result.ingested, result.duplicates) == (8, 0)
    assert AnomalyEvent.objects.count() == 1  # seven on one station and channel: one event


def test_late_chunk_conflict_with_stored_id_after_anomalies(stations, small_chunks):
    now = utc_now()
    stored = DetectionFactory(when=now - timedelta(hours=1))
    detection_ingest(detections=[stored])
    before = snapshot()
    items = [DetectionFactory(when=now - timedelta(seconds=i), anomaly_score=0.99)
             for i in range(10)]  # fmt: skip
    items.append({**stored, "signal_strength_db": -5.0})
    with pytest.raises(Conflict) as raised:
        detection_ingest(detections=items)
    assert raised.value.details["field"] == "detections[10].id"
    assert snapshot() == before


def test_same_id_invalid_first_valid_later(stations, small_chunks):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(8)]
    bad = {**items[6], "frequency_hz": "x"}
    items.insert(0, bad)
    before = snapshot()
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=items)
    assert list(raised.value.details["fields"]) == ["detections[0].frequency_hz"]
    assert snapshot() == before


def test_every_bad_field_named_across_chunks_with_conflicts(stations, small_chunks):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(12)]
    items[1]["frequency_hz"] = -1
    items[5] = {**items[4], "signal_strength_db": 0.0}  # conflict (ignored: 400 first)
    items[10]["anomaly_score"] = 2
    items[11]["bogus"] = 1
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=items)
    assert set(raised.value.details["fields"]) == {
        "detections[1].frequency_hz", "detections[10].anomaly_score", "detections[11].bogus"
    }  # fmt: skip


def test_every_conflict_named_across_chunks(stations, small_chunks):
    now = utc_now()
    stored = DetectionFactory(when=now - timedelta(hours=2))
    detection_ingest(detections=[stored])
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(12)]
    items[5] = {**items[0], "signal_strength_db": 0.0}
    items[11] = {**items[2], "signal_strength_db": 0.0}
    before = snapshot()
    with pytest.raises(Conflict) as raised:
        detection_ingest(detections=items)
    assert set(raised.value.details["fields"]) == {"detections[5].id", "detections[11].id"}
    assert snapshot() == before


def test_stored_ids_only_in_late_chunks_and_new_partition(stations, small_chunks):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(days=i % 6, seconds=i)) for i in range(20)]
    detection_ingest(detections=items[15:])
    result = detection_ingest(detections=items + items[15:])
    assert (result.ingested, result.duplicates) == (15, 10)
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == 20


# --- scored at ingest (the deployed model) -----------------------------------------------


def test_scored_batch_late_conflict_writes_nothing(stations, small_chunks, anomaly_model):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i), anomaly_score=None,
                              frequency_hz=999_000_000_000 // 1000)  # out of band: anomalous
             for i in range(10)]  # fmt: skip
    items.append({**items[1], "frequency_hz": 7_000_000})
    before = snapshot()
    with pytest.raises(Conflict):
        detection_ingest(detections=items)
    assert snapshot() == before
    result = detection_ingest(detections=[*items[:-1], dict(items[4])])
    assert (result.ingested, result.duplicates) == (10, 1)
    assert result.anomalies == 10
    again = detection_ingest(detections=items[:-1])
    assert (again.ingested, again.duplicates) == (0, 10)


def test_scored_with_null_feature_values(operator_client, stations, anomaly_model):
    items = [
        DetectionFactory(
            anomaly_score=None, signal_features={"spectral_centroid": None, "snr_estimate": None}
        ),
        DetectionFactory(anomaly_score=None, signal_features={"snr_estimate": 1e308}),
        DetectionFactory(
            anomaly_score=None, signal_features={"snr_estimate": -1e308, "spectral_centroid": 1e308}
        ),
    ]
    response = post(operator_client, *items)
    assert response.status_code == 201, response.content
    assert response.json() == {"ingested": 3, "duplicates": 0}
    scores = SignalDetection.objects.values_list("anomaly_score", flat=True)
    assert all(score is None or 0.0 <= score <= 1.0 for score in scores)


def test_python_huge_integer_feature(stations, anomaly_model):
    """With a model deployed it raised OverflowError from the scorer (a 500 for HTTP had
    the parser not refused it first)."""
    item = DetectionFactory(anomaly_score=None, signal_features={"snr_estimate": 10**400})
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=[item])
    assert raised.value.details["field"] == "detections[0].signal_features.snr_estimate"
    assert SignalDetection.objects.count() == 0


def test_python_huge_integer_feature_without_a_model(stations):
    """No deployed model: is an integer beyond 64 bits stored in signal_features?"""
    item = DetectionFactory(signal_features={"snr_estimate": 10**30})
    with pytest.raises(ValidationFailed):
        detection_ingest(detections=[item])
    assert SignalDetection.objects.count() == 0


@pytest.mark.parametrize("size", [64, 20_000, 1_000_000])
def test_a_refusal_with_a_long_message_leaves_the_connection_usable(
    operator_client, stations, small_chunks, size
):
    """Found: the 400's message names the unknown station, and the refusal ended the
    COPY with it (psycopg sends it to the server): from about 10 kB psycopg failed
    sending it, the connection was left broken, and the next query on it failed ('the
    connection is closed'). A Python caller got that instead of ValidationFailed's
    follow-ups; a request's connection went back to the pool broken."""
    before = snapshot()
    unknown = "x" * size
    items = [*(DetectionFactory() for _ in range(4)), DetectionFactory(websdr_station_id=unknown)]
    with pytest.raises(ValidationFailed, match="unknown station"):
        detection_ingest(detections=items)
    assert snapshot() == before  # the connection still answers; nothing stored
    response = post(operator_client, *(DetectionFactory() for _ in range(4)),
                    DetectionFactory(websdr_station_id=unknown))  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR")
    assert response.json()["error"]["details"]["field"] == "detections[4].websdr_station_id"
    assert snapshot() == before
    assert post(operator_client, DetectionFactory()).status_code == 201
