"""Automatic localization from co-detections (docs/localization.md, "Automatic fixes").

When detections from at least 3 member stations of a constellation fall on the
same frequency (within the larger half-bandwidth, at least 500 Hz) within a
2-second window, the transmission is localized once (`trigger: "auto"`).

* Ingest fires `hooks.DETECTIONS_STORED` after its commit; `on_detections_stored`
  (in the ingesting process) keeps only rows of stations that belong to some
  constellation and queues one background task with the batch's time spans —
  a few bytes, whatever the batch size — so ingest does not wait for it. A task
  that cannot be queued (the broker unreachable) is kept in the database
  (AutoLocalizeBacklog) and run by the periodic `backlog_drain` within a minute, so
  neither an outage nor a restart loses it (`_queue_or_keep`).
* The task (`apps.constellations.tasks.auto_localize`) reads the member
  stations' detections around those spans, finds transmissions heard by ≥ 3
  member stations, and under a lock on each constellation's row creates one
  localization per transmission: a transmission already localized — a stored
  auto localization on that frequency whose observed span reaches within the window
  of the new detections — is only extended (`observed_until`), so a carrier
  heard for a minute is one fix, not thirty.
"""

import bisect
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from apps.constellations.models import (
    AutoLocalizeBacklog,
    Constellation,
    ConstellationMember,
    Localization,
)
from apps.core.outages import unavailable_reason
from apps.core.tasks import dispatch
from apps.signals.validation import parse_timestamp

logger = logging.getLogger(__name__)

AUTO_LOCALIZE_TASK = "apps.constellations.tasks.auto_localize"
MEMBERS_TTL_S = 5.0  # a new member station starts being watched within this
CHUNK = timedelta(seconds=60)  # a long backlog is read a minute at a time
_members_cache: dict = {"expires": 0.0, "stations": frozenset()}


def member_station_ids() -> frozenset[str]:
    """Stations that belong to at least one constellation (cached MEMBERS_TTL_S seconds)."""
    now = time.monotonic()
    if now >= _members_cache["expires"]:
        _members_cache["stations"] = frozenset(
            ConstellationMember.objects.values_list("station_id", flat=True).distinct()
        )
        _members_cache["expires"] = now + MEMBERS_TTL_S
    return _members_cache["stations"]


def forget_members() -> None:
    """Tests: read the memberships again on the next batch."""
    _members_cache["expires"] = 0.0


def spans(times: list[datetime], gap: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted times merged into [start, end] spans wherever they are within `gap`."""
    merged: list[list[datetime]] = []
    for when in sorted(times):
        if merged and when - merged[-1][1] <= gap:
            merged[-1][1] = when
        else:
            merged.append([when, when])
    return [(start, end) for start, end in merged]


def on_detections_stored(*, rows: list[dict]) -> None:
    """hooks.DETECTIONS_STORED receiver (after the ingest commit): queue the task when member
    stations detected something. Costs one pass over the rows' station ids."""
    if settings.HEIMDALL_AUTO_LOCALIZE:
        _queue_or_keep(_task_for(rows))


def _task_for(rows: list[dict]) -> tuple[list[str], list[tuple[str, str]]] | None:
    """The task's arguments for a stored batch: its member stations and time spans (None
    when no member station detected anything)."""
    try:
        members = member_station_ids()
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        # The database went away after the batch's commit: the task is queued for every
        # station of the batch (it reads the memberships itself), not lost.
        logger.warning("memberships unreadable (%s); queueing for every station of the "
                       "batch", reason)  # fmt: skip
        members = None
    if members is not None and not members:
        return None
    stations, times = set(), []
    for row in rows:
        if members is None or row["websdr_station_id"] in members:
            stations.add(row["websdr_station_id"])
            times.append(row["detection_timestamp"])
    if not stations:
        return None
    window = timedelta(seconds=settings.HEIMDALL_AUTO_LOCALIZE_WINDOW_S)
    spans_iso = [(start.isoformat(), end.isoformat()) for start, end in spans(times, 2 * window)]
    return sorted(stations), spans_iso


# Tasks neither the broker nor the database took (both unreachable: a collector during
# an outage), held in this process and handed on with its next batch; past the bound the
# oldest is dropped, logged as an error.
HELD_MAX = 1000
_held: deque[tuple[list[str], list[tuple[str, str]]]] = deque()
_held_lock = threading.Lock()


def _queue_or_keep(task: tuple[list[str], list[tuple[str, str]]] | None) -> None:
    """Queue `task` (stations, spans) and any held before it, or keep its arguments in
    the backlog table (the broker unreachable: the detections are stored, the fix would
    be lost); `backlog_drain` runs the backlog within a minute, from a worker. Should the
    database refuse the row too, the task is held in this process (HELD_MAX, oldest
    dropped) and handed on first with the next batch."""
    with _held_lock:
        if task is not None:
            _held.append(task)
        while _held:
            if not _queue(*_held[0]) and not _keep(*_held[0]):
                break  # the rest waits for the next batch
            _held.popleft()
        while len(_held) > HELD_MAX:
            lost = _held.popleft()
            logger.error("automatic localization of %s in %s lost: held past %d tasks",
                         *lost, HELD_MAX)  # fmt: skip


def _queue(stations: list[str], spans_iso: list[tuple[str, str]]) -> bool:
    try:
        # After the ingest's commit (autocommit): queued now, or this raises.
        dispatch(AUTO_LOCALIZE_TASK, stations=stations, spans=spans_iso)
        return True
    except Exception:
        logger.warning("could not queue automatic localization; keeping it", exc_info=True)
        return False


def _keep(stations: list[str], spans_iso: list[tuple[str, str]]) -> bool:
    try:
        AutoLocalizeBacklog.objects.create(stations=stations, spans=[list(s) for s in spans_iso])
        return True
    except Exception:
        logger.warning("could not keep automatic localization in the backlog; held here",
                       exc_info=True)  # fmt: skip
        return False


def held_tasks() -> int:
    """How many tasks this process holds for want of both broker and database."""
    return len(_held)


BACKLOG_SECONDS = 50.0  # one drain's time budget: the next (a minute later) goes on
BACKLOG_ATTEMPTS = 5  # a kept task failing this often is dropped (logged), not retried


def backlog_drain(*, budget_s: float = BACKLOG_SECONDS) -> int:
    """Periodic (every minute, in a worker): run the kept tasks, fewest failed attempts
    then oldest first, each deleted once done. A row another drain holds is skipped
    (SKIP LOCKED); one that fails counts an attempt and waits for the next drain, up to
    BACKLOG_ATTEMPTS. Returns how many ran."""
    deadline = time.monotonic() + budget_s
    ran, failed = 0, []  # a task that failed waits for the next drain
    while time.monotonic() < deadline:
        with transaction.atomic():
            kept = (
                AutoLocalizeBacklog.objects.select_for_update(skip_locked=True)
                .exclude(pk__in=failed)
                .order_by("attempts", "id")
                .first()
            )
            if kept is None:
                break
            try:
                with transaction.atomic():
                    auto_localize(stations=kept.stations, spans=[tuple(s) for s in kept.spans])
            except Exception:
                kept.attempts += 1
                gone = kept.attempts >= BACKLOG_ATTEMPTS
                logger.exception("kept automatic localization %s failed (attempt %d)%s",
                                 kept.pk, kept.attempts, ", dropped" if gone else "")  # fmt: skip
                if gone:
                    kept.delete()
                else:
                    kept.save(update_fields=["attempts"])
                failed.append(kept.pk)
                continue
            kept.delete()
        ran += 1
    return ran


# --- finding transmissions -----------------------------------------------------------------


@dataclass
class Transmission:
    rows: list[dict]  # one detection per station

    @property
    def frequency_hz(self) -> int:
        frequencies = sorted(row["frequency_hz"] for row in self.rows)
        return frequencies[len(frequencies) // 2]

    @property
    def start(self) -> datetime:
        return min(row["detection_timestamp"] for row in self.rows)

    @property
    def end(self) -> datetime:
        return max(row["detection_timestamp"] for row in self.rows)


def find_transmissions(rows: list[dict], members: set[str], *, window: timedelta,
                       min_stations: int = 3) -> list[Transmission]:  # fmt: skip
    """Groups of detections of ≥ `min_stations` member stations on one frequency (within
    the larger half-bandwidth, ≥ HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ) within `window`.

    `rows` sorted by frequency. Each detection joins at most one group; groups are
    grown from the earliest detection not yet used: for each other station, its
    detection on that frequency nearest in time; then the largest set of those within
    one `window`."""
    from apps.constellations.validation import frequency_tolerance_hz

    rows = [row for row in rows if row["websdr_station_id"] in members]
    if len({row["websdr_station_id"] for row in rows}) < min_stations:
        return []
    minimum = settings.HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ
    frequencies = [row["frequency_hz"] for row in rows]
    widest = frequency_tolerance_hz(*(row["bandwidth_hz"] or 0 for row in rows), minimum=minimum)
    used: set[int] = set()
    found = []
    for anchor_index in sorted(range(len(rows)), key=lambda i: rows[i]["detection_timestamp"]):
        if anchor_index in used:
            continue
        anchor = rows[anchor_index]
        low = bisect.bisect_left(frequencies, anchor["frequency_hz"] - widest)
        high = bisect.bisect_right(frequencies, anchor["frequency_hz"] + widest)
        nearest: dict[str, int] = {}
        for index in range(low, high):
            row = rows[index]
            if index in used or abs(row["frequency_hz"] - anchor["frequency_hz"]) > (
                frequency_tolerance_hz(row["bandwidth_hz"], anchor["bandwidth_hz"], minimum=minimum)
            ):
                continue
            gap = abs(row["detection_timestamp"] - anchor["detection_timestamp"])
            if gap > window:
                continue
            station = row["websdr_station_id"]
            if station not in nearest or gap < abs(
                rows[nearest[station]]["detection_timestamp"] - anchor["detection_timestamp"]
            ):
                nearest[station] = index
        if len(nearest) < min_stations:
            continue
        chosen = sorted(nearest.values(), key=lambda i: rows[i]["detection_timestamp"])
        best: list[int] = []
        for start in range(len(chosen)):  # the most stations within one window
            t0 = rows[chosen[start]]["detection_timestamp"]
            inside = [i for i in chosen[start:] if rows[i]["detection_timestamp"] - t0 <= window]
            if len(inside) > len(best):
                best = inside
        if len(best) < min_stations:
            continue
        used.update(best)
        found.append(Transmission([rows[i] for i in best]))
    return found


class OpenFixes:
    """Auto fixes whose transmission may still be going on, indexed by frequency."""

    def __init__(self, fixes: list[dict], window: timedelta, minimum: float):
        self.window, self.minimum = window, minimum
        self.fixes = sorted(fixes, key=lambda f: f["frequency_hz"])
        self.frequencies = [f["frequency_hz"] for f in self.fixes]

    def add(self, fix: dict) -> None:
        index = bisect.bisect_right(self.frequencies, fix["frequency_hz"])
        self.frequencies.insert(index, fix["frequency_hz"])
        self.fixes.insert(index, fix)

    def match(self, transmission: Transmission) -> dict | None:
        """The open fix this transmission continues: on its frequency (within the larger
        half-bandwidth) and within the window of the fix's observed span."""
        from apps.constellations.validation import frequency_tolerance_hz

        tolerance = frequency_tolerance_hz(
            *(row["bandwidth_hz"] or 0 for row in transmission.rows), minimum=self.minimum
        )
        frequency, start, end = transmission.frequency_hz, transmission.start, transmission.end
        low = bisect.bisect_left(self.frequencies, frequency - tolerance)
        high = bisect.bisect_right(self.frequencies, frequency + tolerance)
        for fix in self.fixes[low:high]:
            if (start <= fix["observed_until"] + self.window
                    and end >= fix["observed_from"] - self.window):  # fmt: skip
                return fix
        return None


def localize_transmissions(*, constellation_id, transmissions: list[Transmission],
                           window: timedelta) -> list[Localization]:  # fmt: skip
    """Store one auto localization per transmission not localized yet (others extend the
    fix they belong to); under a lock on the constellation's row, so concurrent tasks
    cannot both localize one transmission. Returns the new localizations."""
    from apps.constellations.selectors import member_stations, reference_for
    from apps.constellations.services import build_localization, localizations_insert
    from apps.constellations.validation import LocalizeRequest, detection_request

    created, extended, pending = [], {}, []
    with transaction.atomic():
        constellation = (
            Constellation.objects.select_for_update().filter(pk=constellation_id).first()
        )
        if constellation is None:
            return []
        members = member_stations(constellation=constellation)
        earliest = min(t.start for t in transmissions) - window
        latest = max(t.end for t in transmissions) + window
        open_fixes = OpenFixes(
            list(
                Localization.objects.filter(
                    constellation_id=constellation_id,
                    trigger=Localization.Trigger.AUTO,
                    observed_until__gte=earliest - window,
                    observed_from__lte=latest,
                ).values("id", "frequency_hz", "observed_from", "observed_until")
            ),
            window,
            settings.HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ,
        )
        for transmission in sorted(transmissions, key=lambda t: t.start):
            rows = [r for r in transmission.rows if r["websdr_station_id"] in members]
            if len(rows) < 3:
                continue
            transmission = Transmission(rows)
            known = open_fixes.match(transmission)
            if known is not None:
                if transmission.end > known["observed_until"]:
                    known["observed_until"] = transmission.end
                    if known["id"] is not None:
                        extended[known["id"]] = transmission.end
                continue
            request = LocalizeRequest(**detection_request(rows=rows, members=members),
                                      method="auto", tx_power_dbm=None)  # fmt: skip
            span = {"id": None, "frequency_hz": request.frequency_hz,
                    "observed_from": request.observed_from,
                    "observed_until": request.observed_until}  # fmt: skip
            pending.append((request, span))
            open_fixes.add(span)
        for (request, span), result in zip(pending, _locate_all([r for r, _ in pending]),
                                           strict=True):  # fmt: skip
            if result is None:
                continue
            localization = build_localization(
                constellation_id=constellation_id, request=request, result=result,
                trigger=Localization.Trigger.AUTO, reference=reference_for(request.frequency_hz),
            )  # fmt: skip
            localization.observed_until = span["observed_until"]  # extended by later detections
            created.append(localization)
        localizations_insert(created)
        for fix_id, until in extended.items():
            Localization.objects.filter(pk=fix_id, observed_until__lt=until).update(
                observed_until=until
            )
        from apps.constellations.live import publish_localizations

        publish_localizations(created)  # after the commit
    return created


def _locate_all(requests) -> list:
    """Results in one batch; if the batch fails, one by one, so one bad fix loses only itself."""
    from apps.constellations.locate import Job, locate_many

    jobs = [Job(r.measurements, r.frequency_hz) for r in requests]
    try:
        return locate_many(jobs)
    except Exception:
        logger.exception("batched automatic localization failed; retrying one by one")
    results = []
    for job in jobs:
        try:
            results.append(locate_many([job])[0])
        except Exception:
            logger.exception("automatic localization failed for %s",
                             [m.detection_id for m in job.measurements])  # fmt: skip
            results.append(None)
    return results


def auto_localize(*, stations: list[str], spans: list[tuple[str, str]]) -> int:
    """The task body: localize the transmissions member `stations` detected in `spans`
    (ISO times). Returns how many localizations it created."""
    from apps.signals.selectors import detections_of_stations

    window = timedelta(seconds=settings.HEIMDALL_AUTO_LOCALIZE_WINDOW_S)
    memberships: dict = {}
    for constellation_id, station_id in ConstellationMember.objects.filter(
        station_id__in=stations
    ).values_list("constellation_id", "station_id"):
        memberships.setdefault(constellation_id, set()).add(station_id)
    if not memberships:
        return 0
    members_of = {
        constellation_id: set(
            ConstellationMember.objects.filter(constellation_id=constellation_id).values_list(
                "station_id", flat=True
            )
        )
        for constellation_id in memberships
    }
    watched = set().union(*members_of.values())
    created = 0
    for raw_start, raw_end in spans:
        start, end = parse_timestamp(raw_start), parse_timestamp(raw_end)
        while start <= end:
            stop = min(start + CHUNK, end)
            rows = detections_of_stations(station_ids=watched, since=start - window,
                                          until=stop + window)  # fmt: skip
            for constellation_id in sorted(members_of, key=str):
                found = find_transmissions(rows, members_of[constellation_id], window=window)
                # Only transmissions this batch took part in (others belong to other spans).
                found = [t for t in found if t.end >= start - window and t.start <= stop + window]
                if found:
                    new = localize_transmissions(
                        constellation_id=constellation_id, transmissions=found, window=window
                    )
                    created += len(new)
            start = stop + timedelta(microseconds=1)
    return created
