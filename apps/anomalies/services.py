"""Writes for anomaly events."""

from datetime import timedelta

from django.db.models import Q

from apps.anomalies.classification import describe, event_type_for, severity_for
from apps.anomalies.models import AnomalyEvent
from apps.core.exceptions import Conflict, NotFound
from apps.core.timeutil import utc_now

CORRELATION_WINDOW = timedelta(seconds=10)
MAX_CORRELATED_PER_BATCH = 500


def _correlated_stations(row: dict) -> list[str]:
    """Stations that heard the same frequency within ±10 s (one indexed query)."""
    from apps.signals.models import SignalDetection

    half_width = max((row.get("bandwidth_hz") or 0) // 2, 500)
    when = row["detection_timestamp"]
    stations = (
        SignalDetection.objects.filter(
            frequency_hz__gte=row["frequency_hz"] - half_width,
            frequency_hz__lte=row["frequency_hz"] + half_width,
            detection_timestamp__gte=when - CORRELATION_WINDOW,
            detection_timestamp__lte=when + CORRELATION_WINDOW,
        )
        .values_list("websdr_station_id", flat=True)
        .distinct()
        .order_by()
    )
    return sorted(set(stations) | {row["websdr_station_id"]})


def anomaly_events_create(*, rows: list[dict], station_ranges: dict[str, tuple[int, int]]) -> int:
    """One event per anomalous detection row (rows already written); returns events created."""
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
                _correlated_stations(row)
                if index < MAX_CORRELATED_PER_BATCH
                else [row["websdr_station_id"]]
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
    created = AnomalyEvent.objects.bulk_create(events, ignore_conflicts=True)
    return len(created)


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
