"""Writes for anomaly events."""

from datetime import datetime, timedelta

from django.db.models import Q

from apps.anomalies.classification import describe, event_type_for, severity_for
from apps.anomalies.models import AnomalyEvent
from apps.core.exceptions import Conflict, NotFound
from apps.core.text import clean_text
from apps.core.timeutil import utc_now

CORRELATION_WINDOW = timedelta(seconds=10)
MAX_CORRELATED_PER_BATCH = 500


def correlation_window(row: dict) -> tuple[int, int, datetime, datetime]:
    """The (f_low, f_high, t_low, t_high) in which other stations' detections correlate."""
    half_width = max((row.get("bandwidth_hz") or 0) // 2, 500)
    when = row["detection_timestamp"]
    return (
        row["frequency_hz"] - half_width,
        row["frequency_hz"] + half_width,
        when - CORRELATION_WINDOW,
        when + CORRELATION_WINDOW,
    )


def anomaly_events_create(
    *,
    rows: list[dict],
    station_ranges: dict[str, tuple[int, int]],
    hearing: list[set[str]] | None = None,
) -> list[AnomalyEvent]:
    """One event per anomalous detection row (rows already written); returns the events.

    `hearing[i]`: the stations that detected row i's frequency within its
    `correlation_window` (the ingesting app reads them; at most
    MAX_CORRELATED_PER_BATCH rows are correlated per batch).
    """
    hearing = hearing or []
    correlated = [
        sorted(stations | {row["websdr_station_id"]})
        for stations, row in zip(hearing, rows, strict=False)
    ]
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
    notes = clean_text(notes, field="notes", max_length=2000, required=False, multiline=True)
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
