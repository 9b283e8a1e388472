"""Writes for anomaly events."""

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q

from apps.anomalies.classification import describe, event_type_for, severity_for
from apps.anomalies.models import AnomalyEvent
from apps.core.exceptions import Conflict, NotFound
from apps.core.timeutil import utc_now

CORRELATION_WINDOW = timedelta(seconds=10)
MAX_CORRELATED_PER_BATCH = 500


def _correlation_window(row: dict) -> tuple[int, int, datetime, datetime]:
    half_width = max((row.get("bandwidth_hz") or 0) // 2, 500)
    when = row["detection_timestamp"]
    return (
        row["frequency_hz"] - half_width,
        row["frequency_hz"] + half_width,
        when - CORRELATION_WINDOW,
        when + CORRELATION_WINDOW,
    )


def _correlated_stations(rows: list[dict]) -> list[list[str]]:
    """For each row, the stations that heard its frequency within ±10 s.

    PostgreSQL: one query for the whole batch (a VALUES list joined on the
    frequency-time index). Elsewhere: one ORM query per row.
    """
    from apps.signals.models import SignalDetection

    windows = [_correlation_window(row) for row in rows]
    found: list[set[str]] = [set() for _ in rows]
    if connection.vendor == "postgresql":
        values = ", ".join(
            ["(%s, %s::bigint, %s::bigint, %s::timestamptz, %s::timestamptz)"] * len(rows)
        )
        params = [item for index, window in enumerate(windows) for item in (index, *window)]
        table = SignalDetection._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT v.idx, d.websdr_station_id FROM (VALUES {values}) "  # noqa: S608
                f"AS v(idx, f_low, f_high, t_low, t_high) JOIN {table} d ON "
                "d.frequency_hz BETWEEN v.f_low AND v.f_high AND "
                "d.detection_timestamp BETWEEN v.t_low AND v.t_high",
                params,
            )
            for index, station in cursor.fetchall():
                found[index].add(station)
    else:
        for index, (f_low, f_high, t_low, t_high) in enumerate(windows):
            found[index].update(
                SignalDetection.objects.filter(
                    frequency_hz__gte=f_low,
                    frequency_hz__lte=f_high,
                    detection_timestamp__gte=t_low,
                    detection_timestamp__lte=t_high,
                ).values_list("websdr_station_id", flat=True)
            )
    return [
        sorted(stations | {row["websdr_station_id"]})
        for stations, row in zip(found, rows, strict=True)
    ]


def anomaly_events_create(
    *, rows: list[dict], station_ranges: dict[str, tuple[int, int]]
) -> list[AnomalyEvent]:
    """One event per anomalous detection row (rows already written); returns the events."""
    correlated = _correlated_stations(rows[:MAX_CORRELATED_PER_BATCH])
    events = []
    for index, row in enumerate(rows):
        score = row["anomaly_score"] if row["anomaly_score"] is not None else 1.0
        event_type = event_type_for(row, station_ranges.get(row["websdr_station_id"]))
        metadata = {
            "confidence": row["processing_metadata"].get("confidence", round(score, 3)),
            "affected_frequencies": [
                row["frequency_hz"],
                row["frequency_hz"] + (row.get("bandwidth_hz") or 0),
            ],
            "duration_seconds": row["processing_metadata"].get("duration_seconds"),
            "geographic_correlation": (
                correlated[index] if index < len(correlated) else [row["websdr_station_id"]]
            ),
        }
        events.append(
            AnomalyEvent(
                detection_id=row["id"],
                detection_timestamp=row["detection_timestamp"],
                station_id=row["websdr_station_id"],
                frequency_hz=row["frequency_hz"],
                anomaly_score=score,
                event_type=event_type,
                severity=severity_for(score),
                description=describe(event_type, row),
                metadata=metadata,
            )
        )
    return AnomalyEvent.objects.bulk_create(events, ignore_conflicts=True)


def anomaly_acknowledge(*, event_id, user, notes: str = "") -> AnomalyEvent:
    """Mark an event acknowledged once; a second acknowledgement is a conflict.

    One conditional UPDATE, so two operators acknowledging at once cannot both win.
    """
    now = utc_now()
    updated = AnomalyEvent.objects.filter(Q(pk=event_id) & Q(acknowledged=False)).update(
        acknowledged=True, acknowledged_by=user, acknowledged_at=now, notes=notes
    )
    event = AnomalyEvent.objects.filter(pk=event_id).select_related("acknowledged_by").first()
    if event is None:
        raise NotFound(f"No anomaly event {event_id}.")
    if not updated:
        raise Conflict(
            "This anomaly event is already acknowledged.",
            {
                "acknowledged_by": str(event.acknowledged_by_id),
                "acknowledged_at": event.acknowledged_at.isoformat(),
            },
        )
    return event
