"""Writes for anomaly events."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_OPEN_ATTEMPTS = 5  # concurrent ingests racing to open the same channels, retried


@dataclass
class Recorded:
    """What `anomaly_events_record` did: every event it opened or updated, and those an
    operator should hear about now (opened, or escalated while unacknowledged)."""

    events: list[AnomalyEvent] = field(default_factory=list)
    alerts: list[AnomalyEvent] = field(default_factory=list)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _score(row: dict) -> float:
    return row["anomaly_score"] if row["anomaly_score"] is not None else 1.0


def _span(event: AnomalyEvent) -> tuple[datetime, datetime]:
    """(first_seen, last_seen) of an event, the opening detection's time where unset."""
    first = event.first_seen or event.last_seen or event.detection_timestamp
    return first, event.last_seen or first


@dataclass(slots=True)
class _Segment:
    """A run of one station+channel's rows of the batch that makes one event or joins one.

    kind: "merge" (joins the channel's open event), "new" (opens an event; closed at
    once when a later run of the same channel follows it), "past" (rows long before
    the open event began: a closed event of their own). Row fields are indexes into
    the batch's rows: the first and last in time, the first with the peak score.
    """

    key: tuple[str, int]
    kind: str
    is_open: bool
    count: int
    first: int
    last: int
    peak_row: int
    peak: float
    f_low: int
    f_high: int
    stations: set[str]


def _segments(
    rows: list[dict],
    hearing: list[set[str]],
    current: dict[tuple[str, int], AnomalyEvent],
    quiet_us: int,
) -> tuple[list[_Segment], set[tuple[str, int]]]:
    """Cut the rows into per-channel runs (numpy: one sort, no per-row Python beyond
    reading the rows), against the channels' open events `current`; and the keys
    whose open event closes (a later run opens a new one).

    Rows of one station+channel, in time order (ties: batch order), with E its open
    event: rows before E.first_seen - quiet are "past" runs, split where consecutive
    rows are more than the quiet time apart; each later row joins the run before it
    unless it comes more than the quiet time after the latest of E.last_seen and the
    previous row, which starts a new run (the first such run: E's, when it follows E
    within the quiet time). The last run of a channel is left open.
    """
    n = len(rows)
    station_of = [row["websdr_station_id"] for row in rows]
    names = sorted(set(station_of))
    code_of = {name: code for code, name in enumerate(names)}
    code = np.fromiter((code_of[s] for s in station_of), np.int64, n)
    freq = np.fromiter((row["frequency_hz"] for row in rows), np.int64, n)
    width = np.fromiter((row.get("bandwidth_hz") or 0 for row in rows), np.int64, n)
    when = np.fromiter(((row["detection_timestamp"] - _EPOCH) // _MICROSECOND for row in rows),
                       np.int64, n)  # fmt: skip
    score = np.fromiter((_score(row) for row in rows), np.float64, n)
    chan = channel_of(freq)
    order = np.lexsort((np.arange(n), when, chan, code))
    code, chan, when, score = code[order], chan[order], when[order], score[order]

    gstart = np.ones(n, dtype=bool)
    gstart[1:] = (code[1:] != code[:-1]) | (chan[1:] != chan[:-1])
    group = np.cumsum(gstart) - 1
    keys = [(names[code[p]], int(chan[p])) for p in np.flatnonzero(gstart)]
    spans = [_span(current[key]) if key in current else None for key in keys]
    has = np.array([span is not None for span in spans])[group]
    e_first = np.array([(s[0] - _EPOCH) // _MICROSECOND if s else 0 for s in spans])[group]
    e_last = np.array([(s[1] - _EPOCH) // _MICROSECOND if s else 0 for s in spans])[group]

    old = has & (when < e_first - quiet_us)
    prev = np.empty(n, dtype=np.int64)
    prev[0], prev[1:] = when[0], when[:-1]
    prev_old = np.zeros(n, dtype=bool)
    prev_old[1:] = old[:-1]
    first_live = ~old & (gstart | (prev_old & ~gstart))
    reference = np.where(
        first_live,
        np.where(has, e_last, when),
        np.where(has, np.maximum(e_last, prev), prev),
    )
    gap = ~old & (when - reference > quiet_us)
    old_gap = old & ~gstart & (when - prev > quiet_us)
    boundary = gstart | first_live | gap | old_gap

    run = np.cumsum(boundary) - 1
    starts = np.flatnonzero(boundary)
    ends = np.append(starts[1:], n)
    run_group = group[starts]
    last_of_group = np.ones(len(starts), dtype=bool)
    last_of_group[:-1] = run_group[1:] != run_group[:-1]
    run_old = old[starts]
    merge = first_live[starts] & has[starts] & ~gap[starts]
    peak = np.maximum.reduceat(score, starts)
    peak_at = np.minimum.reduceat(np.where(score == peak[run], np.arange(n), n), starts)
    f_low = np.minimum.reduceat(freq[order], starts)
    f_high = np.maximum.reduceat((freq + width)[order], starts)

    stations: list[set[str]] = [{keys[g][0]} for g in run_group]
    run_of_row = np.empty(n, dtype=np.int64)
    run_of_row[order] = run
    for index, heard in enumerate(hearing[:n]):
        if heard:
            stations[run_of_row[index]] |= heard

    segments = [
        _Segment(
            key=keys[run_group[r]],
            kind="past" if run_old[r] else "merge" if merge[r] else "new",
            is_open=bool(last_of_group[r] and not run_old[r]),
            count=int(ends[r] - starts[r]),
            first=int(order[starts[r]]),
            last=int(order[ends[r] - 1]),
            peak_row=int(order[peak_at[r]]),
            peak=float(peak[r]),
            f_low=int(f_low[r]),
            f_high=int(f_high[r]),
            stations=stations[r],
        )
        for r in range(len(starts))
    ]
    closing = {keys[run_group[r]] for r in np.flatnonzero(~run_old & ~merge)} & set(current)
    return segments, closing


def _keys(rows: list[dict], *, unique: bool = True):
    """The (station, channel) of each row (a set of them when `unique`)."""
    channels = channel_of(np.fromiter((r["frequency_hz"] for r in rows), np.int64, len(rows)))
    pairs = zip([r["websdr_station_id"] for r in rows], channels.tolist(), strict=True)
    return set(pairs) if unique else list(pairs)


def _confidence(row: dict) -> float:
    return row["processing_metadata"].get("confidence", round(_score(row), 3))


def _count_in(
    event: AnomalyEvent, seg: _Segment, rows: list[dict], station_range, now: datetime
) -> bool:
    """Count the run into `event` (fields and metadata); whether its severity rose."""
    first, last, peak_row = rows[seg.first], rows[seg.last], rows[seg.peak_row]
    before = SEVERITY_RANK[event.severity]
    meta = dict(event.metadata or {})
    if seg.peak > (event.peak_score or 0.0):  # the most unusual detection names the event
        event.event_type = event_type_for(peak_row, station_range)
        event.description = describe(event.event_type, peak_row)
        meta["confidence"] = _confidence(peak_row)
    event.detection_count += seg.count
    event.updated_at = now
    event.first_seen = min(_span(event)[0], first["detection_timestamp"])
    event.last_seen = max(_span(event)[1], last["detection_timestamp"])
    event.peak_score = max(event.peak_score or 0.0, seg.peak)
    event.anomaly_score = event.peak_score
    event.severity = severity_for(event.peak_score)
    low, high = meta.get("affected_frequencies") or [first["frequency_hz"]] * 2
    meta["affected_frequencies"] = [min(low, seg.f_low), max(high, seg.f_high)]
    meta["geographic_correlation"] = sorted(
        set(meta.get("geographic_correlation", [])) | seg.stations
    )
    meta.update(
        detection_count=event.detection_count,
        first_seen=_iso(event.first_seen),
        last_seen=_iso(event.last_seen),
        duration_seconds=round((event.last_seen - event.first_seen).total_seconds(), 3),
        peak_score=event.peak_score,
        last_score=_score(last),
        last_detection_id=str(last["id"]),
    )
    if event.acknowledged:
        meta["detections_since_acknowledged"] = (
            meta.get("detections_since_acknowledged", 0) + seg.count
        )
    event.metadata = meta
    return SEVERITY_RANK[event.severity] > before


_FIELDS = [f.attname for f in AnomalyEvent._meta.concrete_fields]


def _event(**values) -> AnomalyEvent:
    """An unsaved event; Django's positional constructor (the one from_db uses), a
    third of the cost of keywords: tens of thousands per batch of unusual traffic."""
    return AnomalyEvent(*[values[name] for name in _FIELDS])


def _new_event(seg: _Segment, rows: list[dict], station_range, now: datetime) -> AnomalyEvent:
    """The event a "new" or "past" run opens, counting the whole run."""
    first, last, peak_row = rows[seg.first], rows[seg.last], rows[seg.peak_row]
    event_type = event_type_for(peak_row, station_range)
    began, ended = first["detection_timestamp"], last["detection_timestamp"]
    return _event(
        id=uuid.uuid4(),
        detection_id=first["id"],
        detection_timestamp=began,
        station_id=seg.key[0],
        channel_hz=seg.key[1],
        is_open=seg.is_open,
        frequency_hz=first["frequency_hz"],
        anomaly_score=seg.peak,
        peak_score=seg.peak,
        event_type=event_type,
        severity=severity_for(seg.peak),
        description=describe(event_type, peak_row),
        detection_count=seg.count,
        first_seen=began,
        last_seen=ended,
        created_at=now,
        updated_at=now,
        acknowledged=False,
        acknowledged_by_id=None,
        acknowledged_at=None,
        notes="",
        metadata={
            "confidence": _confidence(peak_row),
            "affected_frequencies": [seg.f_low, seg.f_high],
            "geographic_correlation": sorted(seg.stations),
            "detection_count": seg.count,
            "first_seen": _iso(began),
            "last_seen": _iso(ended),
            "duration_seconds": round((ended - began).total_seconds(), 3),
            "peak_score": seg.peak,
            "last_score": _score(last),
            "last_detection_id": str(last["id"]),
        },
    )


def _lock_open(keys) -> dict[tuple[str, int], AnomalyEvent]:
    """The open events of `keys` ((station, channel) pairs), locked, in key order."""
    if not keys:
        return {}
    ordered = sorted(keys)
    if connection.vendor == "postgresql":
        table = AnomalyEvent._meta.db_table
        found = AnomalyEvent.objects.raw(
            f"SELECT e.* FROM {table} AS e JOIN unnest(%s::text[], %s::bigint[]) "  # noqa: S608
            "AS k(s, c) ON e.station_id = k.s AND e.channel_hz = k.c WHERE e.is_open "
            "ORDER BY e.station_id, e.channel_hz FOR UPDATE OF e",
            [[k[0] for k in ordered], [k[1] for k in ordered]],
        )
    else:
        found = (
            AnomalyEvent.objects.select_for_update()
            .filter(
                is_open=True,
                station_id__in={k[0] for k in ordered},
                channel_hz__in={k[1] for k in ordered},
            )
            .order_by("station_id", "channel_hz")
        )
    wanted = set(keys)
    return {key: e for e in found if (key := (e.station_id, e.channel_hz)) in wanted}


def _as_json(events: list[AnomalyEvent], columns) -> str:
    """`events` as one JSON array of {column: value} (for json_populate_recordset: one
    json.dumps for the batch instead of psycopg adapting every value of every array)."""
    convert = {name: _TO_JSON.get(name) for name in columns}
    return json.dumps(
        [
            {
                name: (value if to is None or value is None else to(value))
                for name, to in convert.items()
                for value in (getattr(e, name),)
            }
            for e in events
        ],
        separators=(",", ":"),
    )


_TO_JSON = {
    "id": str,
    "detection_id": str,
    "detection_timestamp": datetime.isoformat,
    "first_seen": datetime.isoformat,
    "last_seen": datetime.isoformat,
    "created_at": datetime.isoformat,
    "updated_at": datetime.isoformat,
}


_INSERTED = ("id", "detection_id", "detection_timestamp", "station_id", "channel_hz", "is_open",
             "frequency_hz", "anomaly_score", "peak_score", "event_type", "severity",
             "description", "detection_count", "first_seen", "last_seen", "created_at",
             "updated_at", "metadata", "acknowledged", "notes")  # fmt: skip


def _insert(events: list[AnomalyEvent], *, open_ones: bool = False) -> set:
    """Insert `events` in one statement; the ids of those inserted. Open events that
    another ingest has opened the same channel's event for first are not (the
    one-open-per-channel constraint; this waits for that ingest's commit)."""
    if not events:
        return set()
    if connection.vendor != "postgresql":
        AnomalyEvent.objects.bulk_create(events, ignore_conflicts=True)
        return set(
            AnomalyEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("pk", flat=True)
        )
    table = AnomalyEvent._meta.db_table
    target = "(station_id, channel_hz) WHERE is_open " if open_ones else ""
    columns = ", ".join(_INSERTED)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM json_populate_recordset(NULL::{table}, %s) "
            f"ON CONFLICT {target}DO NOTHING RETURNING id",
            [_as_json(events, _INSERTED)],
        )
        return {row[0] for row in cursor.fetchall()}


_SAVED = ("detection_count", "first_seen", "last_seen", "peak_score", "anomaly_score", "severity",
          "event_type", "description", "metadata", "is_open", "updated_at")  # fmt: skip


def _save(events: list[AnomalyEvent]) -> None:
    """Write the grouping fields of `events` in one statement: on PostgreSQL an UPDATE
    joined to json_populate_recordset (bulk_update's CASE per row grows quadratically:
    minutes for a thousand events, and a backend stuck in it cannot be interrupted)."""
    if not events:
        return
    if connection.vendor != "postgresql":
        AnomalyEvent.objects.bulk_update(events, list(_SAVED), batch_size=100)
        return
    table = AnomalyEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET "  # noqa: S608
            + ", ".join(f"{name} = v.{name}" for name in _SAVED)
            + f" FROM json_populate_recordset(NULL::{table}, %s) AS v WHERE e.id = v.id",
            [_as_json(events, ("id", *_SAVED))],
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
    event closes and a new one opens (`_segments` gives the exact rule, including
    late rows long before the open event began, which get closed events of their
    own). Concurrent ingests of the same channel open one event between them (the
    partial unique constraint, then SELECT ... FOR UPDATE). Acknowledged events keep
    absorbing their detections without alerting.

    Cost: the rows are grouped with numpy; then per batch one SELECT ... FOR UPDATE
    of the open events, at most two INSERTs and one UPDATE (unnest()ed arrays), and
    Python per event, not per row.

    `hearing[i]`: the stations that detected row i's frequency within its
    `correlation_window` (the ingesting app reads them; at most
    MAX_CORRELATED_PER_BATCH rows are correlated per batch).
    """
    recorded = Recorded()
    if not rows:
        return recorded
    quiet_us = settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS * 1_000_000
    now = utc_now()
    hearing = list(hearing or [])
    changed: dict = {}  # open events updated or closed
    later: list[AnomalyEvent] = []  # inserted after the UPDATE: closed runs, reopenings
    pending, pending_hearing = rows, hearing
    for _attempt in range(_OPEN_ATTEMPTS):
        current = _lock_open(_keys(pending))
        segments, closing = _segments(pending, pending_hearing, current, quiet_us)
        made = [
            (seg, _new_event(seg, pending, station_ranges.get(seg.key[0]), now))
            for seg in segments
            if seg.kind != "merge"
        ]
        # A channel without an open event: open its event first, in one statement;
        # where another ingest was first, do its rows again against that one.
        first = [e for seg, e in made if seg.is_open and seg.key not in current]
        inserted = _insert(first, open_ones=True)
        lost = {(e.station_id, e.channel_hz) for e in first if e.pk not in inserted}
        for key in closing - lost:
            current[key].is_open = False
            changed[current[key].pk] = current[key]
        for seg in segments:
            if seg.key in lost:
                continue
            if seg.kind == "merge":
                event = current[seg.key]
                rose = _count_in(event, seg, pending, station_ranges.get(seg.key[0]), now)
                changed[event.pk] = event
                recorded.events.append(event)
                if rose and not event.acknowledged:
                    recorded.alerts.append(event)
        for seg, event in made:
            if seg.key in lost:
                continue
            if seg.kind == "new":
                recorded.events.append(event)
                recorded.alerts.append(event)
            if event.pk not in inserted:
                later.append(event)
        if not lost:
            break
        keep = [i for i, key in enumerate(_keys(pending, unique=False)) if key in lost]
        pending_hearing = [pending_hearing[i] if i < len(pending_hearing) else set() for i in keep]
        pending = [pending[i] for i in keep]
    else:
        raise Conflict("Could not open the anomaly events of this batch; try again.")
    _save(list(changed.values()))
    _insert(later)
    return recorded


def anomaly_events_close_quiet(*, now: datetime | None = None) -> int:
    """Close open events quiet for the quiet time both in detection time (`last_seen`) and
    on the wall clock (`updated_at`: no detection has joined since); how many (periodic:
    the grouping closes them too when their channel is heard again). The wall clock
    alone closed the events of a replayed recording (detections from the past) at every
    tick while the replay went on, cutting one continuing anomaly into many events."""
    cutoff = (now or utc_now()) - timedelta(seconds=settings.HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS)
    return (
        AnomalyEvent.objects.filter(is_open=True, last_seen__lt=cutoff)
        .filter(Q(updated_at__isnull=True) | Q(updated_at__lt=cutoff))
        .update(is_open=False)
    )


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
