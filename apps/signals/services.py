"""Writes for signal detections: the one ingest path.

HTTP ingest, the collectors, benchmarks and tests all call `detection_ingest`.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Greatest

from apps.anomalies.services import (
    MAX_CORRELATED_PER_BATCH,
    anomaly_events_create,
    correlation_window,
)
from apps.core import hooks
from apps.core.exceptions import ValidationFailed
from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.ml import scoring
from apps.signals import live
from apps.signals.models import SignalDetection
from apps.signals.retention import retention_cutoff
from apps.signals.selectors import stations_hearing
from apps.signals.validation import clean_detection
from apps.stations.models import Station

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
OUT_OF_COVERAGE_SCORE = 0.9
TABLE = SignalDetection._meta.db_table
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


def _unique_in_batch(rows: list[dict]) -> list[dict]:
    seen: set = set()
    unique = []
    for row in rows:
        if row["id"] not in seen:
            seen.add(row["id"])
            unique.append(row)
    return unique


def _not_stored(rows: list[dict]) -> list[dict]:
    """Rows whose client-supplied id is not stored yet.

    A retried batch carries the same ids and timestamps, so the lookup is
    bounded to the batch's time span: partition pruning keeps it cheap.
    """
    client_rows = [row for row in rows if row["client_id"]]
    if not client_rows:
        return rows
    times = [row["detection_timestamp"] for row in client_rows]
    stored = {
        str(stored_id)  # rows carry ids as canonical text
        for stored_id in SignalDetection.objects.filter(
            id__in=[row["id"] for row in client_rows],
            detection_timestamp__gte=min(times),
            detection_timestamp__lte=max(times),
        ).values_list("id", flat=True)
    }
    return [row for row in rows if row["id"] not in stored]


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
    for row in unscored:
        low, high = station_ranges[row["websdr_station_id"]]
        if not low <= row["frequency_hz"] <= high:
            row["anomaly_score"] = max(row["anomaly_score"] or 0.0, OUT_OF_COVERAGE_SCORE)
            row["processing_metadata"] = {
                **row["processing_metadata"],
                "anomaly_reason": "out_of_band_carrier",
            }
    threshold = settings.HEIMDALL_ANOMALY_THRESHOLD
    for row in rows:
        if row["is_anomaly"] is None:
            row["is_anomaly"] = (
                row["anomaly_score"] is not None and row["anomaly_score"] >= threshold
            )


def _copy_rows(rows: list[dict], now: datetime) -> None:
    """PostgreSQL COPY: the fastest way in, several times a multi-row INSERT."""
    dumps = json.dumps
    sql = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
    # The raw psycopg cursor: wrap it so its errors become Django's (IntegrityError).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(
                (
                    row["id"],
                    row["websdr_station_id"],
                    row["frequency_hz"],
                    row["signal_strength_db"],
                    row["bandwidth_hz"],
                    row["modulation_type"],
                    dumps(row["signal_features"]),
                    row["anomaly_score"],
                    row["is_anomaly"],
                    row["detection_timestamp"],
                    dumps(row["processing_metadata"]),
                    now,
                    now,
                )
            )


def _model_rows(rows: list[dict], now: datetime) -> list[SignalDetection]:
    return [
        SignalDetection(
            **{key: value for key, value in row.items() if key != "client_id"},
            created_at=now,
            updated_at=now,
        )
        for row in rows
    ]


def _write(rows: list[dict], now: datetime) -> list[dict]:
    """Write rows that are not stored yet; returns the rows written.

    On PostgreSQL the batch is COPYed optimistically: a retry (same id and
    timestamp) violates the primary key, and only then are stored ids looked
    up and the rest inserted. The common case pays for no lookup.
    """
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                _copy_rows(rows, now)
            return rows
        except IntegrityError:
            logger.info("ingest batch holds stored detections; inserting the new ones")
    remaining = _not_stored(rows)
    SignalDetection.objects.bulk_create(
        _model_rows(remaining, now), batch_size=1000, ignore_conflicts=True
    )
    return remaining


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
        Station.objects.filter(pk__in=list(latest)).update(
            last_seen=Greatest(Coalesce(F("last_seen"), when), when)
        )


def _latest_per_station(rows: list[dict]) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for row in rows:
        station, when = row["websdr_station_id"], row["detection_timestamp"]
        if station not in latest or when > latest[station]:
            latest[station] = when
    return latest


def detection_ingest(*, detections: list) -> IngestResult:
    """Validate all, write all or nothing; idempotent on client-supplied ids.

    Detections without `anomaly_score` are scored by the active anomaly model
    when one exists; anomalous ones raise an AnomalyEvent each.
    """
    now = utc_now()
    rows, station_ranges = _validate(detections, now)
    # Partitions are made in their own short transaction, before the write:
    # DDL on the parent table must not stay locked for the whole ingest.
    ensure_partitions(TABLE, {row["detection_timestamp"].date() for row in rows})
    unique = _unique_in_batch(rows)
    _apply_scores(unique, station_ranges)
    with transaction.atomic():
        fresh = _write(unique, now)
        anomalous = [row for row in fresh if row["is_anomaly"]]
        events = (
            anomaly_events_create(
                rows=anomalous,
                station_ranges=station_ranges,
                hearing=stations_hearing(
                    [correlation_window(row) for row in anomalous[:MAX_CORRELATED_PER_BATCH]]
                ),
            )
            if anomalous
            else []
        )
        if fresh:
            # After commit, in its own statement: concurrent ingests must not
            # queue behind each other's station row locks.
            latest = _latest_per_station(fresh)
            transaction.on_commit(lambda: _touch_stations(latest))
            live.publish_detections(fresh)
            # Higher apps (constellations: automatic localization) after the commit.
            transaction.on_commit(lambda: hooks.fire(hooks.DETECTIONS_STORED, rows=fresh))
        if events:
            live.publish_anomalies(events)
    return IngestResult(
        ingested=len(fresh), duplicates=len(rows) - len(fresh), anomalies=len(anomalous)
    )
