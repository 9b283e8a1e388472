"""The ingest writes detections and their keys in PostgreSQL's binary COPY format
(apps.signals.pgcopy): every value reads back exactly as it was sent, on the streamed
path and on the comparing path (a batch holding a stored id)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.timeutil import isoformat_z, utc_now
from apps.signals import pgcopy
from apps.signals.models import DetectionKey, SignalDetection
from apps.signals.services import detection_ingest
from apps.stations.models import Station
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db

# Text that COPY's text format had to escape or that needs more than one UTF-8 byte.
AWKWARD = 'tab\there, new\nline, back\\slash, "quote", Zürich, 東京, 📡'


@pytest.fixture
def stations():
    return [StationFactory(id="twente-nl"), StationFactory(id="zürich-ch")]


def items(now: datetime) -> list[dict]:
    return [
        DetectionFactory(when=now - timedelta(microseconds=1)),
        # No bandwidth, no score (no model deployed, in the station's range: stored NULL),
        # a non-ASCII station id, awkward text in feature names and metadata.
        DetectionFactory(
            when=now.replace(microsecond=999_999) - timedelta(seconds=1),
            websdr_station_id="zürich-ch",
            signal_strength_db=-299.99999999999994,
            bandwidth_hz=None,
            anomaly_score=None,
            modulation_type="nfm",
            signal_features={"ÿ-feature": 0.1 + 0.2, "tiny": 1.5e-7, "none": None},
            processing_metadata={"note": AWKWARD, "nested": {"list": [1, "二", None, True]}},
        ),
        DetectionFactory(
            when=now - timedelta(minutes=3),
            frequency_hz=300_000_000_000,  # the largest numbers allowed
            bandwidth_hz=1_000_000_000,
            anomaly_score=1,
            is_anomaly=False,
            signal_features={},
            processing_metadata={},
        ),
    ]


def stored(detection_id: str) -> dict:
    row = SignalDetection.objects.filter(pk=detection_id).values().get()
    key = DetectionKey.objects.get(pk=detection_id)
    assert key.detection_timestamp == row["detection_timestamp"]
    return row


def assert_stored_as_sent(item: dict, ingested_at_least: datetime) -> None:
    row = stored(item["id"])
    assert str(row["id"]) == item["id"]
    assert row["websdr_station_id"] == item["websdr_station_id"]
    assert row["frequency_hz"] == item["frequency_hz"]
    assert row["signal_strength_db"] == item["signal_strength_db"]
    assert row["bandwidth_hz"] == item["bandwidth_hz"]
    assert row["modulation_type"] == item["modulation_type"].upper()
    assert row["signal_features"] == item["signal_features"]
    assert row["anomaly_score"] == item["anomaly_score"]
    assert row["processing_metadata"] == item["processing_metadata"]
    assert isoformat_z(row["detection_timestamp"]) == item["detection_timestamp"]
    assert row["created_at"] == row["updated_at"] >= ingested_at_least


def test_every_value_reads_back_exactly(stations):
    now = utc_now()
    batch = items(now)
    result = detection_ingest(detections=batch)
    assert (result.ingested, result.duplicates) == (3, 0)
    for item in batch:
        assert_stored_as_sent(item, now)
    assert stored(batch[1]["id"])["is_anomaly"] is False  # no score, no model
    assert stored(batch[2]["id"])["is_anomaly"] is False  # as the client said


def test_the_comparing_path_writes_the_same(stations):
    now = utc_now()
    first, *rest = items(now)
    detection_ingest(detections=[first])
    # A stored id in the batch: its keys are compared, the new rows COPYed again.
    result = detection_ingest(detections=[first, *rest])
    assert (result.ingested, result.duplicates) == (2, 1)
    for item in (first, *rest):
        assert_stored_as_sent(item, now)
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == 3
    # And the keys' digests compare: the same batch again is all duplicates.
    again = detection_ingest(detections=[first, *rest])
    assert (again.ingested, again.duplicates) == (0, 3)


@pytest.mark.parametrize(
    ("when", "microseconds"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), 0),
        (datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), -1),
        (datetime(2026, 11, 30, 7, 0, 0, 1, tzinfo=UTC), 849_337_200_000_001),
    ],
)
def test_times_count_microseconds_from_postgresqls_epoch(when, microseconds):
    assert pgcopy.microseconds(when) == microseconds
    assert pgcopy.timestamptz(when) == b"\x00\x00\x00\x08" + microseconds.to_bytes(
        8, "big", signed=True
    )


# --- Python callers' metadata (a review that tried to break the binary ingest) --------


def snapshot():
    return SignalDetection.objects.count(), DetectionKey.objects.count()


def test_integer_metadata_keys_beside_text_keys_are_stored_as_text(stations):
    """Found: a collector's metadata with an integer key beside text keys passed
    validation, then the canonical JSON (orjson refuses integer keys, the standard
    library cannot sort an int beside a str) raised TypeError from inside the COPY: an
    unhandled exception. Integer keys alone were stored (as JSON text keys), and became
    mixed once scoring added its text keys (an out-of-band carrier): TypeError too."""
    Station.objects.filter(pk="twente-nl").update(frequency_min=0, frequency_max=30_000_000)
    mixed = DetectionFactory(processing_metadata={1: "gps", "fix": "3d", "n": {2: [True]}})
    out_of_band = DetectionFactory(
        anomaly_score=None, frequency_hz=299_000_000_000, processing_metadata={1: "gps"}
    )
    result = detection_ingest(detections=[mixed, out_of_band])
    assert (result.ingested, result.anomalies) == (2, 1)
    assert stored(mixed["id"])["processing_metadata"] == {
        "1": "gps", "fix": "3d", "n": {"2": [True]}
    }  # fmt: skip
    assert stored(out_of_band["id"])["processing_metadata"] == {
        "1": "gps", "anomaly_reason": "out_of_band_carrier"
    }  # fmt: skip
    again = detection_ingest(detections=[mixed, out_of_band])
    assert (again.ingested, again.duplicates) == (0, 2)


@pytest.mark.parametrize("late", [False, True], ids=["first-chunk", "late-chunk"])
def test_metadata_no_json_encoder_writes_is_a_validation_error(stations, small_chunks, late):
    """Found: a Python caller's metadata value JSON has no form for (a Decimal) passed
    validation and raised TypeError from inside the COPY (a late chunk's ended it with
    CopyFail): an unhandled exception, not a 400 naming the field."""
    bad = DetectionFactory(processing_metadata={"gain": Decimal("1.5")})
    good = [DetectionFactory() for _ in range(7)]
    items = [*good, bad] if late else [bad, *good]
    index = items.index(bad)
    with pytest.raises(ValidationFailed) as raised:
        detection_ingest(detections=items)
    assert raised.value.details["field"] == f"detections[{index}].processing_metadata"
    assert raised.value.details["constraint"] == (
        "must be an object of JSON values (text keys; numbers, text, true, false, null, "
        "lists and objects)"
    )
    assert snapshot() == (0, 0)
    # The connection still answers, and the rest of the batch goes in.
    assert detection_ingest(detections=good).ingested == 7
    assert snapshot() == (7, 7)


def test_a_retry_with_metadata_only_orjson_writes_is_a_duplicate(stations):
    """Found: a collector's metadata holding a datetime is stored (orjson writes it as
    ISO text), but comparing a repeated id computed the old standard-library digest too,
    even when the current one matched (`in (current, stdlib())` builds both), and the
    standard library cannot write a datetime: TypeError, a 500 for the client's retry
    instead of a duplicate, and for other content instead of a 409."""
    at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    item = DetectionFactory(processing_metadata={"gps_fix_at": at})
    assert detection_ingest(detections=[item]).ingested == 1
    assert stored(item["id"])["processing_metadata"] == {"gps_fix_at": "2026-11-30T06:00:00+00:00"}
    again = detection_ingest(detections=[item, DetectionFactory()])
    assert (again.ingested, again.duplicates) == (1, 1)
    with pytest.raises(Conflict):
        detection_ingest(detections=[dict(item, signal_strength_db=-1.0)])
    assert snapshot() == (2, 2)
