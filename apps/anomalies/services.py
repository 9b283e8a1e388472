"""Writes for anomaly events."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q

from apps.anomalies.channels import channel_of
from apps.anomalies.classification import SEVERITY_RANK, describe, event_type_for, severity_for
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


@dataclass
class Recorded:
    """What `anomaly_events_record` did: every event it opened or updated, and those an
    operator should hear about now (opened, or escalated while unacknowledged)."""

    events: list[AnomalyEvent] = field(default_factory=list)
    alerts: list[AnomalyEvent] = field(default_factory=list)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _new_event(row: dict, key: tuple[str, int], station_range, stations: list[str]) -> AnomalyEvent:
    score = _score(row)
    event_type = event_type_for(row, station_range)
    when = row["detection_timestamp"]
    return AnomalyEvent(
        detection_id=row["id"],
        detection_timestamp=when,
        station_id=key[0],
        channel_hz=key[1],
        is_open=True,
        frequency_hz=row["frequency_hz"],
        anomaly_score=score,
        peak_score=score,
        event_type=event_type,
        severity=severity_for(score),
        description=describe(event_type, row),
        detection_count=0,  # _absorb counts the opening detection
        first_seen=when,
        last_seen=when,
        metadata={
            "confidence": row["processing_metadata"].get("confidence", round(score, 3)),
            "affected_frequencies": [
                row["frequency_hz"],
                row["frequency_hz"] + (row.get("bandwidth_hz") or 0),
            ],
            "geographic_correlation": stations,
        },
    )


def _score(row: dict) -> float:
    return row["anomaly_score"] if row["anomaly_score"] is not None else 1.0


def _absorb(event: AnomalyEvent, row: dict, stations: list[str], station_range) -> bool:
    """Count `row` into `event`; whether its severity rose."""
    score, when = _score(row), row["detection_timestamp"]
    before = SEVERITY_RANK[event.severity]
    event.detection_count += 1
    event.first_seen = min(event.first_seen or when, when)
    event.last_seen = max(event.last_seen or when, when)
    meta = dict(event.metadata or {})
    if event.detection_count > 1 and score > (event.peak_score or 0.0):
        # The most unusual detection so far names the event.
        event.event_type = event_type_for(row, station_range)
        event.description = describe(event.event_type, row)
        meta["confidence"] = row["processing_metadata"].get("confidence", round(score, 3))
    event.peak_score = max(event.peak_score or 0.0, score)
    event.anomaly_score = event.peak_score
    event.severity = severity_for(event.peak_score)
    low, high = meta.get("affected_frequencies") or [row["frequency_hz"]] * 2
    meta["affected_frequencies"] = [
        min(low, row["frequency_hz"]),
        max(high, row["frequency_hz"] + (row.get("bandwidth_hz") or 0)),
    ]
    meta["geographic_correlation"] = sorted(
        set(meta.get("geographic_correlation", [])) | set(stations)
    )
    meta.update(
        detection_count=event.detection_count,
        first_seen=_iso(event.first_seen),
        last_seen=_iso(event.last_seen),
        duration_seconds=round((event.last_seen - event.first_seen).total_seconds(), 3),
        peak_score=event.peak_score,
        last_score=score,
        last_detection_id=str(row["id"]),
    )
    if event.acknowledged:
        meta["detections_since_acknowledged"] = meta.get("detections_since_acknowledged", 0) + 1
    event.metadata = meta
    return SEVERITY_RANK[event.severity] > before


def _lock_open(keys) -> dict[tuple[str, int], AnomalyEvent]:
    """The open events of `keys` ((station, channel) pairs), locked, in key order."""
    if not keys:
        return {}
    stations = sorted({k[0] for k in keys})
    chans = sorted({k[1] for k in keys})
    found = (
        AnomalyEvent.objects.select_for_update()
        .filter(is_open=True, station_id__in=stations, channel_hz__in=chans)
        .order_by("station_id", "channel_hz")
    )
    return {(e.station_id, e.channel_hz): e for e in found if (e.station_id, e.channel_hz) in keys}


def _open(candidates: dict[tuple[str, int], AnomalyEvent]) -> dict[tuple[str, int], AnomalyEvent]:
    """Insert the candidate events (ON CONFLICT DO NOTHING on the one-open-per-channel
    constraint: a concurrent ingest may have opened the same channel's event first,
    and then this waits for its commit) and return the open event of each key, locked:
    the candidate itself, or the other ingest's."""
    ordered = [candidates[k] for k in sorted(candidates)]
    AnomalyEvent.objects.bulk_create(ordered, ignore_conflicts=True)
    return _lock_open(set(candidates))


_SAVED = ("detection_count", "first_seen", "last_seen", "peak_score", "anomaly_score", "severity",
          "event_type", "description", "metadata")  # fmt: skip


def _save(events: list[AnomalyEvent]) -> None:
    """Write the grouping fields of `events` in one statement: on PostgreSQL an UPDATE
    joined to unnest()ed arrays (bulk_update's CASE per row grows quadratically: minutes
    for a thousand events)."""
    if connection.vendor != "postgresql":
        AnomalyEvent.objects.bulk_update(events, list(_SAVED))
        return
    table = AnomalyEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET detection_count = v.c, first_seen = v.f, "  # noqa: S608
            "last_seen = v.l, peak_score = v.p, anomaly_score = v.p, severity = v.s, "
            "event_type = v.t, description = v.d, metadata = v.m::jsonb "
            "FROM unnest(%s::uuid[], %s::int[], %s::timestamptz[], %s::timestamptz[], "
            "%s::float8[], %s::text[], %s::text[], %s::text[], %s::text[]) "
            "AS v(id, c, f, l, p, s, t, d, m) WHERE e.id = v.id",
            [
                [e.pk for e in events],
                [e.detection_count for e in events],
                [e.first_seen for e in events],
                [e.last_seen for e in events],
                [e.peak_score for e in events],
                [e.severity for e in events],
                [e.event_type for e in events],
                [e.description for e in events],
                [json.dumps(e.metadata) for e in events],
            ],
        )


def anomaly_events_record(
    *,
    rows: list[dict],
    station_ranges: dict[str, tuple[int, int]],
    hearing: list[set[str]] | None = None,
) -> Recorded:
    """Group anomalous detection rows (already written) into events; call inside the
    ingest's transaction.

    A row joins the open event of its station and channel when the event's last
    detection is at most HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS before it; otherwise that
    event closes and a new one opens. Concurrent ingests of the same channel open one
    event between them (the partial unique constraint, then SELECT ... FOR UPDATE).
    Acknowledged events keep absorbing their detections without alerting.

    `hearing[i]`: the stations that detected row i's frequency within its
    `correlation_window` (the ingesting app reads them; at most
    MAX_CORRELATED_PER_BATCH rows are correlated per batch).
    """
    hearing = hearing or []
    quiet = timedelta(seconds=settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["detection_timestamp"])
    correlated = [
        sorted((hearing[i] if i < len(hearing) else set()) | {row["websdr_station_id"]})
        for i, row in enumerate(rows)
    ]
    groups: dict[tuple[str, int], list[int]] = {}
    for i in order:
        row = rows[i]
        groups.setdefault((row["websdr_station_id"], channel_of(row["frequency_hz"])), []).append(i)
    current = _lock_open(set(groups))
    # Events gone quiet before their channel's first row here close; then every channel
    # without an open event gets one, opened in one statement.
    stale = [
        key
        for key, event in current.items()
        if rows[groups[key][0]]["detection_timestamp"] - event.last_seen > quiet
    ]
    if stale:
        AnomalyEvent.objects.filter(pk__in=[current[k].pk for k in stale]).update(is_open=False)
        for key in stale:
            del current[key]
    wanted = {
        key: _new_event(rows[idx[0]], key, station_ranges.get(key[0]), correlated[idx[0]])
        for key, idx in groups.items()
        if key not in current
    }
    opened = {event.pk for event in wanted.values()}
    if wanted:
        current.update(_open(wanted))
    touched: dict = {}
    alerts: dict = {}
    past: list[AnomalyEvent] = []  # closed events of late-arriving old detections
    for key, indexes in groups.items():
        event = current[key]
        for i in indexes:
            row = rows[i]
            when = row["detection_timestamp"]
            if when < event.first_seen - quiet:
                # Long before the open event began (a late upload): its own closed event,
                # shared with the old rows before it that it follows within the quiet time.
                if (
                    not past
                    or past[-1].channel_hz != key[1]
                    or (past[-1].station_id != key[0] or when - past[-1].last_seen > quiet)
                ):
                    past.append(_new_event(row, key, station_ranges.get(key[0]), correlated[i]))
                    past[-1].is_open = False
                _absorb(past[-1], row, correlated[i], station_ranges.get(key[0]))
                continue
            if when - event.last_seen > quiet:  # a gap inside the batch
                event.is_open = False
                event.save(update_fields=["is_open"])
                event = _open(
                    {key: _new_event(row, key, station_ranges.get(key[0]), correlated[i])}
                )[key]
                opened.add(event.pk)
            escalated = _absorb(event, row, correlated[i], station_ranges.get(key[0]))
            touched[event.pk] = event
            if not event.acknowledged and (event.pk in opened or escalated):
                alerts[event.pk] = event
    if touched:
        _save(list(touched.values()))
    if past:
        AnomalyEvent.objects.bulk_create(past, ignore_conflicts=True)
    return Recorded(events=list(touched.values()), alerts=list(alerts.values()))


def anomaly_events_close_quiet(*, now: datetime | None = None) -> int:
    """Close open events whose last detection is older than the quiet time; how many
    (periodic: the grouping closes them too when their channel is heard again)."""
    cutoff = (now or utc_now()) - timedelta(seconds=settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS)
    return AnomalyEvent.objects.filter(is_open=True, last_seen__lt=cutoff).update(is_open=False)


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
