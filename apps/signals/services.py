"""Writes for signal detections: the one ingest path.

HTTP ingest, the collectors, benchmarks and tests all call `detection_ingest`.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Greatest

from apps.anomalies.services import (
    MAX_CORRELATED_PER_BATCH,
    anomaly_events_record,
    correlation_window,
)
from apps.core import hooks
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.ml import scoring
from apps.signals import live
from apps.signals.models import DetectionKey, SignalDetection
from apps.signals.retention import retention_cutoff
from apps.signals.selectors import stations_hearing
from apps.signals.validation import clean_detection
from apps.stations.models import Station

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
OUT_OF_COVERAGE_SCORE = 0.9
TABLE = SignalDetection._meta.db_table
KEY_TABLE = DetectionKey._meta.db_table
# What a row carries besides the model's fields.
ROW_EXTRAS = (
    "client_id", "content_hash", "features_json", "metadata_json", "timestamp_text", "index",
)  # fmt: skip
COLUMNS = [
    "id",
    "websdr_station_id",
    "frequency_hz",
    "signal_strength_db",
    "bandwidth_hz",
    "modulation_type",
    "signal_features",
    "anomaly_score",
    "is_anomaly",
    "detection_timestamp",
    "processing_metadata",
    "created_at",
    "updated_at",
]


@dataclass(frozen=True)
class IngestResult:
    ingested: int
    duplicates: int
    anomalies: int


def _validate(items, now: datetime) -> tuple[list[dict], dict[str, tuple[int, int]]]:
    if not isinstance(items, list) or not items:
        raise ValidationFailed.for_field("detections", "must be a non-empty list of detections")
    if len(items) > MAX_BATCH:
        raise ValidationFailed.for_field(
            "detections", f"at most {MAX_BATCH} detections per request", len(items)
        )
    errors: dict[str, list[str]] = {}
    earliest = retention_cutoff(now)
    rows = [clean_detection(item, index, now, earliest, errors) for index, item in enumerate(items)]
    station_ids = {row["websdr_station_id"] for row in rows if row}
    station_ranges = {
        sid: (low, high)
        for sid, low, high in Station.objects.filter(pk__in=station_ids).values_list(
            "id", "frequency_min", "frequency_max"
        )
    }
    for index, row in enumerate(rows):
        if row and row["websdr_station_id"] not in station_ranges:
            errors[f"detections[{index}].websdr_station_id"] = [
                f"unknown station '{row['websdr_station_id']}'"
            ]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(
            f"{len(errors)} invalid field(s) in detections; first: {first}: {errors[first][0]}",
            {"field": first, "constraint": errors[first][0], "fields": errors},
        )
    return rows, station_ranges


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _add_content_hashes(rows: list[dict]) -> None:
    """Each row's content as the client sent it (before scoring), as a 128-bit digest.

    The JSON objects and the time are written as text once here (canonical
    JSON, ISO time in UTC) and reused by COPY.
    """
    for index, row in enumerate(rows):
        features = row["features_json"] = _canonical(row["signal_features"])
        metadata = row["metadata_json"] = _canonical(row["processing_metadata"])
        when = row["timestamp_text"] = row["detection_timestamp"].isoformat()
        text = (
            f"{row['websdr_station_id']}\x1f{row['frequency_hz']}\x1f"
            f"{row['signal_strength_db']!r}\x1f{row['bandwidth_hz']}\x1f"
            f"{row['modulation_type']}\x1f{features}\x1f{row['anomaly_score']!r}\x1f"
            f"{row['is_anomaly']}\x1f{when}\x1f{metadata}"
        )
        row["content_hash"] = blake2b(text.encode(), digest_size=16).hexdigest()
        row["index"] = index


def _id_conflict(conflicts: list[tuple[int, str, str]]) -> Conflict:
    """409 naming `detections[i].id` for each (index, id, why)."""
    fields = {f"detections[{index}].id": [why] for index, _, why in conflicts}
    index, detection_id, why = conflicts[0]
    return Conflict(
        f"Detection id {detection_id} {why}; a detection id names one detection.",
        {"field": f"detections[{index}].id", "constraint": why, "value": detection_id,
         "fields": fields},
    )  # fmt: skip


def _unique_in_batch(rows: list[dict]) -> list[dict]:
    """The batch with repeated ids dropped; a repeat with other content is a 409."""
    seen: dict[str, dict] = {}
    unique, conflicts = [], []
    for row in rows:
        first = seen.get(row["id"])
        if first is None:
            seen[row["id"]] = row
            unique.append(row)
        elif first["content_hash"] != row["content_hash"]:
            why = f"appears at detections[{first['index']}] with different content"
            conflicts.append((row["index"], row["id"], why))
    if conflicts:
        raise _id_conflict(conflicts)
    return unique


def _check_stored(rows: list[dict], stored: dict) -> list[dict]:
    """Rows whose id is not in `stored` ({id: (timestamp, content_hash)}); a stored id
    with other content is a 409. Keys stored before digests existed compare by time."""
    fresh, conflicts = [], []
    for row in rows:
        found = stored.get(row["id"])
        if found is None:
            fresh.append(row)
            continue
        timestamp, content_hash = found
        same = (
            content_hash == row["content_hash"]
            if content_hash is not None
            else timestamp == row["detection_timestamp"]
        )
        if not same:
            when = timestamp.isoformat().replace("+00:00", "Z")
            why = f"is already stored with different content (detected at {when})"
            conflicts.append((row["index"], row["id"], why))
    if conflicts:
        raise _id_conflict(conflicts)
    return fresh


def _apply_scores(rows: list[dict], station_ranges: dict[str, tuple[int, int]]) -> None:
    """Score rows that came without an anomaly_score.

    The deployed anomaly model scores them when they carry its features; and a
    carrier outside its station's coverage is anomalous whatever the model says.
    """
    unscored = [row for row in rows if row["anomaly_score"] is None]
    scorer = scoring.active_anomaly_scorer() if unscored else None
    if scorer is not None:
        for row, result in zip(unscored, scorer.score_rows(unscored), strict=True):
            if result is None:
                continue
            row["anomaly_score"] = result.anomaly_score
            row["processing_metadata"] = {
                **row["processing_metadata"],
                "model_version": scorer.version,
                "confidence": result.confidence,
            }
            if result.reason is not None:  # a context model says what was unusual
                row["processing_metadata"]["anomaly_reason"] = result.reason
                row["processing_metadata"]["anomaly_description"] = result.description
            row["metadata_json"] = None  # changed: COPY writes it afresh
    for row in unscored:
        low, high = station_ranges[row["websdr_station_id"]]
        if not low <= row["frequency_hz"] <= high:
            row["anomaly_score"] = max(row["anomaly_score"] or 0.0, OUT_OF_COVERAGE_SCORE)
            row["processing_metadata"] = {
                **row["processing_metadata"],
                "anomaly_reason": "out_of_band_carrier",
            }
            row["metadata_json"] = None
    threshold = settings.HEIMDALL_ANOMALY_THRESHOLD
    for row in rows:
        if row["is_anomaly"] is None:
            row["is_anomaly"] = (
                row["anomaly_score"] is not None and row["anomaly_score"] >= threshold
            )


def _copy_keys(rows: list[dict]) -> None:
    """COPY the rows' ids into the key table, in id order: two batches that share ids
    then take their row locks in the same order and cannot deadlock."""
    sql = f"COPY {KEY_TABLE} (id, detection_timestamp, content_hash) FROM STDIN"
    # Ids, UTC times and hex digests need no COPY escaping: one block, written once.
    block = "".join(
        f"{row['id']}\t{row['timestamp_text']}\t{row['content_hash']}\n"
        for row in sorted(rows, key=lambda r: r["id"])
    )
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        copy.write(block)


def _insert_new_keys(rows: list[dict]) -> set[str]:
    """Insert the ids not stored yet (waiting for concurrent writers of the same ids to
    finish); the ids this call inserted."""
    ordered = sorted(rows, key=lambda r: r["id"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {KEY_TABLE} (id, detection_timestamp, content_hash) "  # noqa: S608
            "SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::uuid[]) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            [
                [row["id"] for row in ordered],
                [row["detection_timestamp"] for row in ordered],
                [row["content_hash"] for row in ordered],
            ],
        )
        return {str(found) for (found,) in cursor.fetchall()}


def _stored_keys(ids) -> dict:
    """{id: (detection_timestamp, content_hash as hex or None)} of stored ids among `ids`."""
    stored = {}
    ids = list(ids)
    for start in range(0, len(ids), 5000):
        for key_id, timestamp, content_hash in DetectionKey.objects.filter(
            id__in=ids[start : start + 5000]
        ).values_list("id", "detection_timestamp", "content_hash"):
            stored[str(key_id)] = (timestamp, content_hash.hex if content_hash else None)
    return stored


def _copy_line(row: dict, now: str) -> str:
    """One row in COPY's text format.

    Every value is either Heimdall's own text (a canonical UUID, a station slug,
    a modulation name, numbers, ISO times) or JSON, whose only COPY-special
    character is the backslash of its escapes (json.dumps writes no raw tab,
    newline or non-ASCII character): doubling backslashes is all the escaping
    needed.
    """
    metadata = row["metadata_json"] or _canonical(row["processing_metadata"])
    bandwidth = row["bandwidth_hz"]
    score = row["anomaly_score"]
    return "\t".join((
        row["id"], row["websdr_station_id"], str(row["frequency_hz"]),
        repr(row["signal_strength_db"]), _NULL if bandwidth is None else str(bandwidth),
        row["modulation_type"], row["features_json"].replace("\\", "\\\\"),
        _NULL if score is None else repr(score), "t" if row["is_anomaly"] else "f",
        row["timestamp_text"], metadata.replace("\\", "\\\\"), now, now,
    )) + "\n"  # fmt: skip


_NULL = "\\N"


def _copy_rows(rows: list[dict], now: datetime) -> None:
    """PostgreSQL COPY: the fastest way in, several times a multi-row INSERT.

    The rows are written as one block of COPY text (`_copy_line`): a third of
    the time of psycopg's per-row `write_row` for these columns.
    """
    stamp = now.isoformat()
    block = "".join([_copy_line(row, stamp) for row in rows])
    sql = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
    # The raw psycopg cursor: wrap it so its errors become Django's (IntegrityError).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        copy.write(block)


def _model_rows(rows: list[dict], now: datetime) -> list[SignalDetection]:
    return [
        SignalDetection(
            **{key: value for key, value in row.items() if key not in ROW_EXTRAS},
            created_at=now,
            updated_at=now,
        )
        for row in rows
    ]


def _write(rows: list[dict], now: datetime) -> list[dict]:
    """Write the rows whose id is not stored yet; returns the rows written.

    Ids are unique across all partitions through the key table (DetectionKey).
    On PostgreSQL the batch is COPYed optimistically, keys first: a repeated id
    violates the key table's primary key, and only then are the stored ids
    compared and the rest inserted. The common case pays for no lookup.
    A stored id sent with other content is a 409 and nothing is written.
    """
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                _copy_keys(rows)
                _copy_rows(rows, now)
            return rows
        except IntegrityError:
            logger.info("ingest batch holds stored detection ids; comparing them")
        inserted = _insert_new_keys(rows)
        repeated = [row for row in rows if row["id"] not in inserted]
        _check_stored(repeated, _stored_keys(row["id"] for row in repeated))
        fresh = [row for row in rows if row["id"] in inserted]
        if fresh:
            _copy_rows(fresh, now)
        return fresh
    fresh = _check_stored(rows, _stored_keys(row["id"] for row in rows))
    DetectionKey.objects.bulk_create(
        [
            DetectionKey(
                id=row["id"],
                detection_timestamp=row["detection_timestamp"],
                content_hash=row["content_hash"],
            )
            for row in fresh
        ],
        batch_size=1000,
    )
    SignalDetection.objects.bulk_create(_model_rows(fresh, now), batch_size=1000)
    return fresh


def _touch_stations(latest: dict[str, datetime]) -> None:
    """Move each station's last_seen forward (never back), in one UPDATE."""
    when = Case(*[When(pk=station, then=Value(ts)) for station, ts in latest.items()])
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A freshness stamp, not data: its commit need not wait for the WAL
            # flush (a crash can only lose the newest stamp, which the next
            # batch rewrites). Halves the flushes per ingest batch.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # Lock the rows in one order first: two ingests touching the same stations
        # in different orders deadlocked (bench/load.py, 4 of 4,601 requests). NO KEY
        # UPDATE, as the UPDATE itself takes: it does not block the FOR KEY SHARE locks
        # that other ingests' deferred foreign-key checks take on these rows at commit.
        stations = Station.objects.filter(pk__in=list(latest))
        list(stations.order_by("pk").select_for_update(no_key=True).values_list("pk", flat=True))
        stations.update(last_seen=Greatest(Coalesce(F("last_seen"), when), when))


def _latest_per_station(rows: list[dict]) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for row in rows:
        station, when = row["websdr_station_id"], row["detection_timestamp"]
        if station not in latest or when > latest[station]:
            latest[station] = when
    return latest


def detection_ingest(*, detections: list) -> IngestResult:
    """Validate all, write all or nothing; idempotent on client-supplied ids.

    A detection id names one detection across all time: an id repeated with
    the same content (in this batch or an earlier one) is counted as a
    duplicate and not stored again; repeated with other content (another
    timestamp, strength...) it is a 409 naming `detections[i].id`, and nothing
    of the batch is written.

    Detections without `anomaly_score` are scored by the active anomaly model
    when one exists; anomalous ones open or update the anomaly event of their
    station and channel (apps.anomalies.services.anomaly_events_record), and
    the live feed hears of events opened or escalated.
    """
    now = utc_now()
    rows, station_ranges = _validate(detections, now)
    # Partitions are made in their own short transaction, before the write:
    # DDL on the parent table must not stay locked for the whole ingest.
    ensure_partitions(TABLE, {row["detection_timestamp"].date() for row in rows})
    _add_content_hashes(rows)
    unique = _unique_in_batch(rows)
    _apply_scores(unique, station_ranges)
    with transaction.atomic():
        fresh = _write(unique, now)
        anomalous = [row for row in fresh if row["is_anomaly"]]
        events = (
            anomaly_events_record(
                rows=anomalous,
                station_ranges=station_ranges,
                hearing=stations_hearing(
                    [correlation_window(row) for row in anomalous[:MAX_CORRELATED_PER_BATCH]]
                ),
            ).alerts
            if anomalous
            else []
        )
        if fresh:
            # After commit, in its own statement: concurrent ingests must not
            # queue behind each other's station row locks.
            latest = _latest_per_station(fresh)
            # robust: the detections are committed; a failed freshness stamp is logged,
            # never turned into a 500 that makes the client send them again.
            transaction.on_commit(lambda: _touch_stations(latest), robust=True)
            live.publish_detections(fresh)
            # Higher apps (constellations: automatic localization) after the commit.
            transaction.on_commit(
                lambda: hooks.fire(hooks.DETECTIONS_STORED, rows=fresh), robust=True
            )
        if events:
            live.publish_anomalies(events)
    return IngestResult(
        ingested=len(fresh), duplicates=len(rows) - len(fresh), anomalies=len(anomalous)
    )
