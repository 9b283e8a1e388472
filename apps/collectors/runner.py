"""The collector loop: connect, read chunks, analyse, ingest, keep the station current.

One asyncio task per active station (`manage.py collect`, or a thread in
embedded mode). Network waits are async; DSP and database work run in worker
threads. A failure marks the station's connection "error" with the reason and
reconnects after an exponential backoff (1 s doubling to 60 s, with jitter).

Whose failure: the station's own (unreachable, refused, protocol, timeout)
are recorded as failed StationChecks, which the uptime counts. Heimdall's own
(its database or Redis unreachable, pool exhausted, SQLite locked:
`apps.core.outages`; and any other database error, a lock or statement
timeout, a detection it built wrongly: HEIMDALL_FAULTS) are logged and waited
out with backoff, never recorded against the station, and the process never
exits because of one. While the receiver is connected it stays connected
through them (its chunks are dropped), so that a receiver that allows one
connection per address is not reconnected for nothing.
"""

import asyncio
import contextlib
import logging
import random
import time
import uuid
import zlib

from channels.db import database_sync_to_async as sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError
from django.db import close_old_connections

from apps.collectors.base import (
    DEMODULATED,
    LOWER_SIDEBAND,
    Chunk,
    ProtocolError,
    Source,
)
from apps.core.exceptions import HeimdallError
from apps.core.numbers import storable
from apps.core.outages import backoff_delays, unavailable_reason
from apps.core.timeutil import utc_now
from apps.radio import dsp
from apps.signals.services import detection_ingest
from apps.stations.models import Station, StationCheck
from apps.stations.validators import default_mode

logger = logging.getLogger(__name__)
MAX_BACKOFF_S = 60.0


def _heimdall_faults() -> tuple[type[BaseException], ...]:
    faults: list[type[BaseException]] = [DatabaseError, HeimdallError]
    try:
        from redis.exceptions import RedisError

        faults.append(RedisError)
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(faults)


HEIMDALL_FAULTS = _heimdall_faults()


class HeimdallFault(Exception):
    """A failure of Heimdall itself while collecting: not the station's."""


def source_for(station: Station) -> Source:
    """The protocol client `api_config.api_type` names, tuned as `api_config` says."""
    from apps.collectors.kiwisdr import KiwiSDRSource
    from apps.collectors.openwebrx import OpenWebRXSource
    from apps.collectors.simulated import SimulatedSource
    from apps.collectors.websdr import WebSDRSource

    config = station.api_config
    frequency = config.get("frequency_hz") or (station.frequency_min + station.frequency_max) // 2
    timeout = float(config.get("timeout", 30))
    api_type = config.get("api_type", "simulated")
    url = config.get("stream_url") or station.url
    mode = config.get("mode") or default_mode(api_type)
    if api_type == "kiwisdr":
        return KiwiSDRSource(url=url, frequency_hz=frequency, timeout=timeout, mode=mode)
    if api_type == "openwebrx":
        return OpenWebRXSource(url=url, frequency_hz=frequency, timeout=timeout, mode=mode)
    if api_type == "http_streaming":
        return WebSDRSource(url=url, frequency_hz=frequency, timeout=timeout, mode=mode)
    if api_type == "simulated":
        return SimulatedSource(
            center_frequency=frequency,
            seed=zlib.crc32(station.id.encode()),
            poll_interval=float(config.get("poll_interval", 1.0)),
            frequency_max=station.frequency_max,
        )
    raise ProtocolError(f"no collector for api_type {api_type!r}")


def _detection(
    chunk: Chunk,
    station_id: str,
    *,
    frequency: int,
    bandwidth: int,
    modulation: str,
    strength: float,
    snr: float,
    offset: float,
    metadata: dict,
) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "websdr_station_id": station_id,
        "frequency_hz": frequency,
        "signal_strength_db": strength,
        "bandwidth_hz": bandwidth,
        "modulation_type": modulation,
        "signal_features": {
            "spectral_centroid": offset,
            "bandwidth": bandwidth,
            "snr_estimate": snr,
            "peak_frequency": frequency,
        },
        "detection_timestamp": chunk.timestamp or utc_now(),
        "processing_metadata": metadata,
    }


def detections_from(chunk: Chunk, station_id: str, processing_ms: float) -> list[dict]:
    """The chunk's detections, each labelled with a frequency the receiver was tuned to.

    * I/Q (audio_mode None): each significant carrier, at centre + its offset.
    * Single-sideband audio (usb, cw: dial + f; lsb: dial - f): each carrier, mapped back.
    * Demodulated audio (am, sam, nfm, nbfm, wfm, fm): the audio is the modulation, not
      the spectrum; when it carries a signal, one detection at the dial frequency, its
      bandwidth the passband, its strength the receiver's S-meter when it sends one.

    `detection_timestamp` is the chunk's (GPS or arrival time); processing_metadata
    says which clock (`clock`: "gps" or "system").
    """
    started = time.perf_counter()
    _, carriers = dsp.analyze(
        chunk.samples,
        sample_rate=chunk.sample_rate,
        center_frequency=chunk.center_frequency,
        fft_size=512,
    )
    elapsed = processing_ms + (time.perf_counter() - started) * 1000
    base = {"processing_time_ms": round(elapsed, 2), "clock": chunk.clock, **chunk.metadata}
    if chunk.audio_mode:
        base["receiver_mode"] = chunk.audio_mode
    if chunk.injected_anomaly:
        base["simulated_anomaly"] = chunk.injected_anomaly

    def quality(snr: float) -> float:
        return round(min(1.0, max(0.0, snr / 40)), 3)

    if chunk.audio_mode in DEMODULATED:
        if not carriers:
            return []
        low, high = chunk.passband or (0, 0)
        snr = max(c.snr_db for c in carriers)
        strength = (
            chunk.signal_level_db
            if chunk.signal_level_db is not None
            else max(c.strength_db for c in carriers)
        )
        modulation = {"nbfm": "NFM", "fm": "NFM", "sam": "AM"}.get(
            chunk.audio_mode, chunk.audio_mode.upper()
        )
        detection = _detection(
            chunk,
            station_id,
            frequency=chunk.center_frequency,
            bandwidth=max(1, high - low),
            modulation=modulation,
            strength=round(float(strength), 2),
            snr=snr,
            offset=0.0,
            metadata={**base, "quality_score": quality(snr)},
        )
        return [detection]
    sign = -1 if chunk.audio_mode in LOWER_SIDEBAND else 1
    detections = []
    for carrier in carriers:
        if chunk.audio_mode and carrier.offset_hz <= 0:
            continue  # real audio: the mirror half of a one-sided spectrum
        frequency = round(chunk.center_frequency + sign * carrier.offset_hz)
        if frequency < 0:
            continue  # below 0 Hz: an artefact at the edge of a low HF span
        detection = _detection(
            chunk,
            station_id,
            frequency=frequency,
            bandwidth=carrier.bandwidth_hz,
            modulation=carrier.modulation,
            strength=carrier.strength_db,
            snr=carrier.snr_db,
            offset=carrier.offset_hz,
            metadata={**base, "quality_score": quality(carrier.snr_db)},
        )
        detections.append(detection)
    return detections


class StationCollector:
    def __init__(self, station: Station, *, check_interval_s: float | None = None):
        self.station = station
        self.station_id = station.id
        self.timeout = float(station.api_config.get("timeout", 30))
        self.check_interval = (
            check_interval_s
            if check_interval_s is not None
            else settings.HEIMDALL_STATION_CHECK_INTERVAL
        )
        self.last_check = 0.0
        self.connection = station.connection_status
        self.chunks = 0
        self.detections = 0
        self.failures = 0  # the station's own
        self.outages = 0  # Heimdall's own (database, Redis): not the station's

    # --- database side (worker threads) ---------------------------------------------

    def _set_state(
        self,
        *,
        connection: str,
        error: str = "",
        response_ms: float | None = None,
        chunk: Chunk | None = None,
        quality: float | None = None,
        ok: bool,
    ) -> None:
        """One UPDATE of the station's live state; a StationCheck once per interval or failure."""
        close_old_connections()
        now = utc_now()
        fields = {"connection_status": connection}
        if response_ms is not None:
            fields["response_time_ms"] = round(response_ms, 1)
        if chunk is not None:
            fields["last_seen"] = now
            fields["current_frequency"] = chunk.center_frequency
            fields["signal_quality"] = quality
            if chunk.listeners is not None:
                fields["current_listeners"] = chunk.listeners
        Station.objects.filter(pk=self.station_id).update(**fields)
        if time.monotonic() - self.last_check >= self.check_interval or not ok:
            self.last_check = time.monotonic()
            StationCheck.objects.create(
                station_id=self.station_id,
                checked_at=now,
                ok=ok,
                response_time_ms=response_ms,
                error=error[:500],
            )
        if self.connection != connection:  # this collector is the station's only writer
            self.connection = connection
            from apps.signals.live import publish_system_status

            publish_system_status(after_commit=False)

    def _process(self, chunk: Chunk, response_ms: float) -> int:
        try:
            close_old_connections()
            detections = detections_from(chunk, self.station_id, response_ms)
            if detections:
                detection_ingest(detections=detections)
            quality = max(
                (d["processing_metadata"]["quality_score"] for d in detections), default=None
            )
            self._set_state(
                connection=Station.Connection.CONNECTED,
                response_ms=response_ms,
                chunk=chunk,
                quality=quality,
                ok=True,
            )
        except Exception as exc:
            if _is_heimdalls(exc):
                raise HeimdallFault(f"{type(exc).__name__}: {exc}") from exc
            raise
        return len(detections)

    async def _connecting(self) -> None:
        try:
            await sync_to_async(self._set_state)(connection=Station.Connection.CONNECTING, ok=True)
        except Exception as exc:
            if _is_heimdalls(exc):
                raise HeimdallFault(f"{type(exc).__name__}: {exc}") from exc
            raise

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, deadline: float | None = None) -> None:
        backoff = 1.0
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            source = None
            try:
                source = source_for(self.station)
                await self._connecting()
                await asyncio.wait_for(source.open(), self.timeout)
                backoff = 1.0
                own_backoff, resume_at = 1.0, 0.0
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    started = time.monotonic()
                    chunk = await asyncio.wait_for(source.read(), self.timeout)
                    response_ms = (time.monotonic() - started) * 1000
                    self.chunks += 1
                    if time.monotonic() < resume_at:
                        continue  # Heimdall is failing: keep the receiver, drop its chunks
                    try:
                        self.detections += await sync_to_async(
                            self._process, thread_sensitive=False
                        )(chunk, response_ms)
                        own_backoff = 1.0
                    except HeimdallFault as exc:  # ours: the receiver stays connected
                        self._own_failure(exc, own_backoff)
                        resume_at = time.monotonic() + own_backoff
                        own_backoff = min(own_backoff * 2, MAX_BACKOFF_S)
            except asyncio.CancelledError:
                raise
            except HeimdallFault as exc:  # ours, not the station's: never counted against it
                cause = exc.__cause__ or exc
                if unavailable_reason(cause):
                    await self._wait_out_outage(cause, stop)
                else:
                    self._own_failure(exc, backoff)
                    await self._wait(stop, backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception as exc:
                if _is_heimdalls(exc):  # raised outside the guarded calls: still ours
                    await self._wait_out_outage(exc, stop)
                    continue
                # Network, protocol, server errors: all mean reconnect.
                self.failures += 1
                reason = _reason(exc, self.timeout)
                logger.warning(
                    "collector %s: %s; retry in %.0f s", self.station_id, reason, backoff
                )
                await self._record(connection=Station.Connection.ERROR, error=reason, ok=False)
                await self._wait(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            finally:
                if source is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection
                        await source.close()
        await self._record(connection=Station.Connection.DISCONNECTED, ok=True)

    def _own_failure(self, exc: Exception, retry_s: float) -> None:
        self.outages += 1
        logger.warning(
            "collector %s: Heimdall's own failure, not the station's (%s); retry in %.0f s",
            self.station_id, exc, retry_s,
        )  # fmt: skip

    @staticmethod
    async def _wait(stop: asyncio.Event, backoff: float) -> None:
        delay = backoff * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    # --- Heimdall's own outages ----------------------------------------------------------

    async def _record(self, **state) -> None:
        """`_set_state`; Heimdall's own failure while recording is logged, not raised."""
        try:
            await sync_to_async(self._set_state)(**state)
        except Exception as exc:
            if not _is_heimdalls(exc):
                raise
            logger.warning("collector %s: state not recorded (%s)", self.station_id, exc)

    async def _wait_out_outage(self, exc: Exception, stop: asyncio.Event) -> None:
        """Wait (with backoff) until the database answers again; one log line per outage."""
        self.outages += 1
        logger.warning(
            "collector %s: %s (%s); waiting for it",
            self.station_id,
            unavailable_reason(exc) or "Heimdall's own failure, not the station's",
            f"{type(exc).__name__}: {exc}"[:200],
        )
        for delay in backoff_delays(maximum=MAX_BACKOFF_S / 2):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await sync_to_async(_database_answers)()
                return
            except Exception as again:
                if not unavailable_reason(again):
                    return  # something else: let the normal path deal with it


def _is_heimdalls(exc: BaseException) -> bool:
    """Whether a failure is Heimdall's own (its database, Redis, a detection it built)."""
    return bool(unavailable_reason(exc)) or isinstance(exc, HEIMDALL_FAULTS)


def _reason(exc: Exception, timeout: float) -> str:
    """A station failure as its status shows it: the receiver's own words where it gave any
    (made storable: a receiver's NUL or lone surrogate must not fail the check's INSERT)."""
    if isinstance(exc, ProtocolError):
        return storable(str(exc)[:500])
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"TimeoutError: the receiver sent nothing usable for {timeout:g} s"
    return storable(f"{type(exc).__name__}: {exc}"[:500])


def active_stations() -> list[Station]:
    close_old_connections()
    return list(Station.objects.filter(status=Station.Status.ACTIVE).order_by("id"))


def _database_answers() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _active_stations_when_available(stop: asyncio.Event) -> list[Station] | None:
    """The active stations; during an outage, waits (with backoff) until it ends or `stop`."""
    started = None
    for delay in backoff_delays(maximum=MAX_BACKOFF_S / 2):
        try:
            stations = await sync_to_async(active_stations)()
        except Exception as exc:
            if not unavailable_reason(exc):
                raise
            if started is None:
                started = time.monotonic()
                logger.warning("collectors: cannot read the stations (%s); waiting", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return None
            continue
        if started is not None:
            logger.warning("collectors: database back after %.0f s", time.monotonic() - started)
        return stations
    return None  # pragma: no cover - backoff_delays never ends


async def supervise(
    stop: asyncio.Event,
    *,
    station_ids: list[str] | None = None,
    duration: float | None = None,
    resync_s: float = 10.0,
) -> dict:
    """Keep one collector running per active station until `stop` (or `duration`)."""
    deadline = time.monotonic() + duration if duration else None
    running: dict[str, tuple[StationCollector, asyncio.Task, asyncio.Event]] = {}
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        found = await _active_stations_when_available(stop)
        if found is None:
            break
        stations = {s.id: s for s in found}
        if station_ids:
            stations = {k: v for k, v in stations.items() if k in station_ids}
        for station_id in list(running):
            collector, task, own_stop = running[station_id]
            changed = station_id in stations and stations[station_id].api_config != (
                collector.station.api_config
            )
            if station_id not in stations or changed or task.done():
                own_stop.set()
                await asyncio.gather(task, return_exceptions=True)
                del running[station_id]
        for station_id, station in stations.items():
            if station_id not in running:
                collector, own_stop = StationCollector(station), asyncio.Event()
                task = asyncio.create_task(collector.run(own_stop, deadline))
                running[station_id] = (collector, task, own_stop)
        wait = (
            resync_s if deadline is None else min(resync_s, max(0.0, deadline - time.monotonic()))
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    for _, _task, own_stop in running.values():
        own_stop.set()
    await asyncio.gather(*(task for _, task, _ in running.values()), return_exceptions=True)
    return {
        sid: {"chunks": c.chunks, "detections": c.detections, "failures": c.failures}
        | ({"outages": c.outages} if c.outages else {})
        for sid, (c, _, _) in running.items()
    }
