"""A detection id names one detection across all partitions (issue 12 §3).

The same content again is a duplicate (counted, not stored twice); other content under a
stored id is a 409 naming `detections[i].id` and nothing of that batch is written.
"""

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from hashlib import blake2b

import pytest

from apps.core.timeutil import utc_now
from apps.signals.models import DetectionKey, SignalDetection
from tests.helpers import assert_envelope, at_once, client_for
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/signals/detections"


def post(client, *items):
    return client.post(URL, {"detections": list(items)}, format="json")


def stored_ids() -> list[str]:
    return sorted(str(i) for i in SignalDetection.objects.values_list("id", flat=True))


def test_same_id_other_timestamp_in_a_later_request_is_a_409(operator_client, stations):
    """The fault: stored twice, in two partitions, and GET showed one of them."""
    now = utc_now()
    first = DetectionFactory(when=now - timedelta(days=2))
    assert post(operator_client, first).json() == {"ingested": 1, "duplicates": 0}
    moved = {**first, "detection_timestamp": now.isoformat().replace("+00:00", "Z")}
    fresh = DetectionFactory(when=now)
    error = assert_envelope(post(operator_client, fresh, moved), 409, "CONFLICT",
                            "detections[1].id")  # fmt: skip
    assert error["details"]["value"] == first["id"]
    assert "already stored with different content" in error["details"]["constraint"]
    assert stored_ids() == [first["id"]]  # the batch's new item was not written either
    body = operator_client.get(f"{URL}/{first['id']}").json()
    assert body["detection_timestamp"] == first["detection_timestamp"]


@pytest.mark.parametrize(
    "change",
    [
        {"signal_strength_db": -70.0},
        {"frequency_hz": 14_236_000},
        {"websdr_station_id": "hackgreen-uk"},
        {"signal_features": {"spectral_centroid": 1500.0, "snr_estimate": 15.4}},
        {"processing_metadata": {}},
        {"anomaly_score": 0.16},
        {"is_anomaly": True},
    ],
)
def test_any_other_content_under_a_stored_id_is_a_409(operator_client, stations, change):
    StationFactory(id="hackgreen-uk")
    first = DetectionFactory(when=utc_now())
    post(operator_client, first)
    assert_envelope(post(operator_client, first | change), 409, "CONFLICT", "detections[0].id")
    assert stored_ids() == [first["id"]]


def test_the_same_content_again_is_a_duplicate(operator_client, stations):
    now = utc_now()
    first = DetectionFactory(when=now, anomaly_score=None)  # scored by the server
    post(operator_client, first)
    stored = SignalDetection.objects.get()
    # The same detection, spelled differently: offset time, lower-case modulation,
    # keys in another order. Same content.
    again = {**dict(reversed(list(first.items()))), "modulation_type": "usb",
             "detection_timestamp": now.isoformat()}  # fmt: skip
    other = DetectionFactory(when=now)
    assert post(operator_client, again, other).json() == {"ingested": 1, "duplicates": 1}
    assert stored_ids() == sorted([first["id"], other["id"]])
    assert SignalDetection.objects.get(pk=first["id"]).updated_at == stored.updated_at


def test_repeats_within_one_batch(operator_client, stations):
    now = utc_now()
    item = DetectionFactory(when=now)
    assert post(operator_client, item, item, item).json() == {"ingested": 1, "duplicates": 2}
    changed = DetectionFactory(when=now)
    clash = {**changed, "detection_timestamp": (now - timedelta(days=1)).isoformat()}
    error = assert_envelope(post(operator_client, DetectionFactory(when=now), changed, clash), 409,
                            "CONFLICT", "detections[2].id")  # fmt: skip
    assert error["details"]["constraint"] == "appears at detections[1] with different content"
    assert stored_ids() == [item["id"]]


def test_ids_stored_before_content_digests_compare_by_time(operator_client, stations):
    """Keys backfilled by the migration have no digest: same time = duplicate."""
    now = utc_now()
    item = DetectionFactory(when=now)
    post(operator_client, item)
    DetectionKey.objects.update(content_hash=None)
    changed_strength = item | {"signal_strength_db": -60.0}
    assert post(operator_client, changed_strength).json() == {"ingested": 0, "duplicates": 1}
    moved = item | {"detection_timestamp": (now - timedelta(hours=3)).isoformat()}
    assert_envelope(post(operator_client, moved), 409, "CONFLICT", "detections[0].id")
    assert SignalDetection.objects.count() == 1


def _stdlib_digest(item: dict) -> str:
    """The content digest as Heimdall wrote it before orjson: JSON by the standard
    library (sorted keys, ASCII escapes, `1e-05`), the time as isoformat in UTC."""
    dumps = functools.partial(json.dumps, sort_keys=True, separators=(",", ":"))
    when = datetime.fromisoformat(item["detection_timestamp"]).astimezone(UTC).isoformat()
    text = "\x1f".join([
        item["websdr_station_id"], str(item["frequency_hz"]), repr(item["signal_strength_db"]),
        str(item.get("bandwidth_hz")), item["modulation_type"], dumps(item["signal_features"]),
        repr(item.get("anomaly_score")), str(item.get("is_anomaly")), when,
        dumps(item["processing_metadata"]),
    ])  # fmt: skip
    return blake2b(text.encode(), digest_size=16).hexdigest()


def test_ids_stored_with_the_earlier_digest_still_compare_by_content(operator_client, stations):
    """Digests written before the JSON encoder changed (ASCII escapes and `1e-05` then,
    UTF-8 and `0.00001` now): the same content sent again is a duplicate, other content
    a 409."""
    item = DetectionFactory(when=utc_now()) | {
        "signal_features": {"snr_estimate": 1e-05, "spectral_centroid": 1e16},
        "processing_metadata": {"note": "Zürich ☂", "gain_db": 1e-05},
    }
    post(operator_client, item)
    key = DetectionKey.objects.get()
    assert key.content_hash.hex != _stdlib_digest(item)  # the digest did change
    DetectionKey.objects.update(content_hash=_stdlib_digest(item))
    assert post(operator_client, item).json() == {"ingested": 0, "duplicates": 1}
    changed = item | {"processing_metadata": {"note": "Zürich", "gain_db": 1e-05}}
    assert_envelope(post(operator_client, changed), 409, "CONFLICT", "detections[0].id")
    assert SignalDetection.objects.count() == 1
    stored = SignalDetection.objects.get().processing_metadata
    assert (stored["note"], stored["gain_db"]) == ("Zürich ☂", 1e-05)


def test_server_generated_ids_are_keys_too(operator_client, stations):
    """An id read back from the API and sent again with another time is refused."""
    item = DetectionFactory(when=utc_now())
    del item["id"]
    post(operator_client, item)
    server_id = str(SignalDetection.objects.get().id)
    resent = item | {"id": server_id, "detection_timestamp": "2020-01-01T00:00:00Z"}
    response = post(operator_client, resent)
    assert response.status_code in (400, 409)  # 2020 is also past retention
    resent["detection_timestamp"] = (utc_now() - timedelta(days=3)).isoformat()
    assert_envelope(post(operator_client, resent), 409, "CONFLICT", "detections[0].id")
    assert DetectionKey.objects.count() == SignalDetection.objects.count() == 1


# --- at the same moment ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_batches_with_one_id_and_different_times(operator_user):
    StationFactory(id="twente-nl")
    now = utc_now()
    detection_id = str(uuid.uuid4())
    bodies = [
        {"detections": [DetectionFactory(when=now - timedelta(days=n), id=detection_id),
                        DetectionFactory(when=now)]}
        for n in range(6)
    ]  # fmt: skip
    clients = [client_for(operator_user) for _ in bodies]
    responses = at_once(clients, URL, bodies)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.content for r in responses]
    winner = next(b for b, r in zip(bodies, responses, strict=True) if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["details"]["field"] == "detections[0].id"
    assert SignalDetection.objects.filter(pk=detection_id).count() == 1
    assert SignalDetection.objects.count() == 2  # the winner's two rows only
    stored = SignalDetection.objects.get(pk=detection_id).detection_timestamp
    assert (
        stored.isoformat().replace("+00:00", "Z") == winner["detections"][0]["detection_timestamp"]
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("chunk_rows", [1000, 7])
def test_concurrent_retries_of_one_batch_store_it_once(operator_user, monkeypatch, chunk_rows):
    """Six clients retry the same 50-detection batch, ids in different orders: one
    stores all 50, the others count 50 duplicates; no deadlock, no 500. In one chunk
    (rows in id order) they wait for each other; in chunks of seven their row locks
    cross, and a deadlock PostgreSQL breaks sends the loser to compare ids, not to a 5xx."""
    from apps.signals import services

    monkeypatch.setattr(services, "CHUNK_ROWS", chunk_rows)
    StationFactory(id="twente-nl")
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(50)]
    bodies = [{"detections": items[n:] + items[:n]} for n in range(0, 60, 10)]
    clients = [client_for(operator_user) for _ in bodies]
    responses = at_once(clients, URL, bodies)
    assert [r.status_code for r in responses] == [201] * 6, [r.content for r in responses]
    counts = sorted((r.json()["ingested"], r.json()["duplicates"]) for r in responses)
    assert sum(ingested for ingested, _ in counts) == 50
    assert all(ingested + duplicates == 50 for ingested, duplicates in counts)
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == 50


def test_copy_text_keeps_every_character(operator_client, stations):
    """Ingest writes COPY text itself: backslashes, tabs, newlines, quotes, non-ASCII
    and NULLs come back exactly."""
    nasty = "a\\b\tc\nd\r\"e' \\N \u00e9\u200b\U0001f4e1 \x7f"
    item = DetectionFactory(when=
        utc_now(), bandwidth_hz=None, anomaly_score=None, modulation_type="",
        signal_features={"k\\ey": 1e-300, "x": -0.0},
        processing_metadata={nasty: [nasty, None, {"\\": True}], "n": -1.5e10},
    )  # fmt: skip
    assert post(operator_client, item).json() == {"ingested": 1, "duplicates": 0}
    stored = SignalDetection.objects.get()
    assert stored.processing_metadata == item["processing_metadata"]
    assert stored.signal_features == item["signal_features"]
    assert stored.bandwidth_hz is None
    assert stored.modulation_type == ""
    assert stored.signal_strength_db == -73.5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_batches_over_the_same_stations_never_deadlock(operator_user):
    """Eight clients, five rounds, each batch hearing the same ten stations: every batch
    is a 201 and every station's last_seen is the newest detection. (Two ingests once
    stamped last_seen on the shared station rows in different orders and one of them got
    a deadlock 500 after its detections were committed: bench/load.py.)"""
    from apps.stations.models import Station

    ids = [f"st-{n}" for n in range(10)]
    for station_id in ids:
        StationFactory(id=station_id)
    now = utc_now()
    clients = [client_for(operator_user) for _ in range(8)]  # one login each: login limits
    for round_ in range(5):
        bodies = [
            {"detections": [
                DetectionFactory(websdr_station_id=station_id,
                                 when=now - timedelta(seconds=round_ * 100 + client + n))
                for n, station_id in enumerate(ids[client % 10:] + ids[: client % 10])]}
            for client in range(8)
        ]  # fmt: skip
        responses = at_once(clients, URL, bodies)
        assert [r.status_code for r in responses] == [201] * 8, [r.content for r in responses]
    assert SignalDetection.objects.count() == 5 * 8 * 10
    newest = {s.pk: s.last_seen for s in Station.objects.filter(pk__in=ids)}
    for station_id in ids:  # the newest: round 0, of the client that lists it earliest
        expected = max(
            now
            - timedelta(
                seconds=client + (ids[client % 10 :] + ids[: client % 10]).index(station_id)
            )
            for client in range(8)
        )
        assert newest[station_id] == expected, station_id


# --- batches written in several chunks (apps.signals.services._copy_streamed) ---------


def test_a_problem_in_a_late_chunk_writes_nothing(operator_client, stations, small_chunks):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(30)]
    items[27]["signal_strength_db"] = "loud"
    error = assert_envelope(
        post(operator_client, *items), 400, "VALIDATION_ERROR", "detections[27].signal_strength_db"
    )
    assert list(error["details"]["fields"]) == ["detections[27].signal_strength_db"]
    items[27]["signal_strength_db"] = -80.0
    items[29] = {**items[0], "signal_strength_db": -10.0}  # the last chunk repeats the first's id
    assert_envelope(post(operator_client, *items), 409, "CONFLICT", "detections[29].id")
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == 0


def test_repeats_across_chunks_and_stored_ids_in_a_late_chunk(
    operator_client, stations, small_chunks
):
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(30)]
    assert post(operator_client, *items[20:]).json() == {"ingested": 10, "duplicates": 0}
    again = [*items, dict(items[3])]  # the stored ten come in the last chunks, item 3 twice
    assert post(operator_client, *again).json() == {"ingested": 20, "duplicates": 11}
    assert stored_ids() == sorted(item["id"] for item in items)
    assert DetectionKey.objects.count() == 30
