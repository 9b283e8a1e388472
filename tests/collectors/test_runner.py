"""The collector loop: ingest, station state, and whose failure a failure is."""

import asyncio

import numpy as np
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from apps.collectors.base import Chunk
from apps.collectors.runner import StationCollector, detections_from, supervise
from apps.signals.models import SignalDetection
from apps.stations.models import Station, StationCheck
from tests.collectors.fake_receivers import FakeKiwi, FakeWebSDR, serve
from tests.stations.factories import StationFactory


async def until(condition, seconds: float = 30.0, action=None) -> None:
    """Wait on an event (polled), failing the test rather than hanging it."""
    async with asyncio.timeout(seconds):
        while not condition():
            if action is not None:
                await action()
            await asyncio.sleep(0.05)


def test_detections_from_iq_are_one_per_carrier():
    t = np.arange(6000) / 12000
    samples = np.exp(2j * np.pi * 1000 * t) + 0.5 * np.exp(-2j * np.pi * 3000 * t)
    samples += 0.001 * np.random.default_rng(1).standard_normal(6000)
    detections = detections_from(
        Chunk(samples=samples, sample_rate=12000, center_frequency=145_000_000), "giaveno-it", 12.0
    )
    assert sorted(round(d["frequency_hz"], -1) for d in detections) == [144_997_000, 145_001_000]
    assert all(d["websdr_station_id"] == "giaveno-it" for d in detections)
    assert all(d["processing_metadata"]["processing_time_ms"] >= 12.0 for d in detections)
    assert all(d["processing_metadata"]["clock"] == "system" for d in detections)


def test_lower_sideband_audio_is_below_the_dial():
    t = np.arange(6000) / 12000
    samples = 0.3 * np.sin(2 * np.pi * 1200 * t)
    samples += 0.001 * np.random.default_rng(2).standard_normal(6000)
    chunk = Chunk(samples=samples, sample_rate=12000, center_frequency=7_074_000,
                  audio_mode="lsb", passband=(-2700, -300))  # fmt: skip
    (detection,) = detections_from(chunk, "x", 1.0)
    assert round(detection["frequency_hz"], -1) == 7_072_800
    assert detection["processing_metadata"]["receiver_mode"] == "lsb"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_kiwisdr_collector_ingests_and_keeps_station_current():
    fake = FakeKiwi(offset_hz=2000)
    server, port = await serve(fake.handler)
    station = await sync_to_async(StationFactory)(
        id="kiwi-test",
        url=f"http://127.0.0.1:{port}/",
        api_config={"api_type": "kiwisdr", "timeout": 5, "frequency_hz": 7_074_000},
    )
    try:
        await supervise(asyncio.Event(), station_ids=["kiwi-test"], duration=2.5, resync_s=0.5)
    finally:
        server.close()
    stored = await sync_to_async(
        lambda: list(SignalDetection.objects.filter(websdr_station=station))
    )()
    assert stored
    assert {round(d.frequency_hz, -1) for d in stored} == {7_076_000}
    assert {d.processing_metadata["clock"] for d in stored} == {"system"}
    station = await sync_to_async(Station.objects.get)(pk="kiwi-test")
    assert station.last_seen is not None
    assert station.current_frequency == 7_074_000
    assert station.response_time_ms is not None
    assert station.connection_status == "disconnected"  # stopped cleanly at the end
    checks = await sync_to_async(lambda: list(StationCheck.objects.filter(station=station)))()
    assert any(check.ok for check in checks)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_kiwisdr_refusal_is_the_stations_status():
    """badp=5 then a close: the status says why, not `ConnectionClosedOK`."""
    server, port = await serve(FakeKiwi(badp=5).handler)
    await sync_to_async(StationFactory)(
        id="kiwi-dup",
        url=f"http://127.0.0.1:{port}/",
        api_config={"api_type": "kiwisdr", "timeout": 3, "frequency_hz": 7_074_000},
    )
    station = await sync_to_async(Station.objects.get)(pk="kiwi-dup")
    collector = StationCollector(station)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    await until(lambda: collector.failures >= 1)
    station = await sync_to_async(Station.objects.get)(pk="kiwi-dup")
    stop.set()
    await task
    server.close()
    assert station.connection_status == "error"
    check = await sync_to_async(
        lambda: StationCheck.objects.filter(station_id="kiwi-dup", ok=False).first()
    )()
    assert check.error == (
        "KiwiSDR refused: multiple connections from the same IP address are not allowed (badp=5)"
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_websdr_collector_for_seed_004s_twente():
    fake = FakeWebSDR(site="twente", transmitter_hz=14_201_500)
    server, port = await serve(fake.handler, fake.process_request)
    await sync_to_async(StationFactory)(
        id="twente-nl",
        url=f"http://127.0.0.1:{port}/",
        frequency_max=29_000_000,
        api_config={"api_type": "http_streaming", "poll_interval": 1.0, "timeout": 30,
                    "frequency_hz": 14_200_000},
    )  # fmt: skip
    try:
        await supervise(asyncio.Event(), station_ids=["twente-nl"], duration=3.0, resync_s=0.5)
    finally:
        server.close()
    stored = await sync_to_async(lambda: list(SignalDetection.objects.all()))()
    assert stored
    strongest = max(stored, key=lambda d: d.signal_strength_db)
    assert round(strongest.frequency_hz, -1) == 14_201_500
    assert strongest.processing_metadata["receiver_mode"] == "usb"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_unreachable_receiver_is_marked_error_and_retried():
    await sync_to_async(StationFactory)(
        id="nowhere-sdr",
        url="http://127.0.0.1:9/",
        api_config={"api_type": "kiwisdr", "poll_interval": 1.0, "timeout": 2},
    )
    station = await sync_to_async(Station.objects.get)(pk="nowhere-sdr")
    collector = StationCollector(station)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    await until(lambda: collector.failures >= 2)  # first attempt, ~1 s backoff, second
    stop.set()
    await task
    checks = await sync_to_async(
        lambda: list(StationCheck.objects.filter(station_id="nowhere-sdr", ok=False))
    )()
    assert len(checks) >= 2
    assert "ConnectionRefused" in checks[0].error or "Errno" in checks[0].error


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_heimdalls_own_database_failure_is_not_the_stations():
    """Mid-stream, the station tables are locked and every statement waiting on the lock is
    cancelled by PostgreSQL (pg_cancel_backend): the collector's writes fail with a real
    OperationalError. No failed check is recorded against the station, the receiver stays
    connected, and collecting resumes when the database answers again."""
    fake = FakeKiwi(offset_hz=2000)
    server, port = await serve(fake.handler)
    await sync_to_async(StationFactory)(
        id="kiwi-ours",
        url=f"http://127.0.0.1:{port}/",
        api_config={"api_type": "kiwisdr", "timeout": 5, "frequency_hz": 7_074_000},
    )
    station = await sync_to_async(Station.objects.get)(pk="kiwi-ours")
    params = connections["default"].get_connection_params()
    locker = await psycopg.AsyncConnection.connect(
        **{k: params[k] for k in ("dbname", "user", "password", "host", "port") if k in params}
    )
    collector = StationCollector(station, check_interval_s=0)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        await until(lambda: collector.detections > 0)  # connected and collecting
        for attempt in range(5):
            try:
                await locker.execute(
                    "LOCK TABLE stations_station, stations_stationcheck IN ACCESS EXCLUSIVE MODE"
                )  # held by the open transaction
                break
            except psycopg.errors.DeadlockDetected:
                # The collector's transaction held stationcheck and wanted stations (its
                # foreign-key check) while this held stations: PostgreSQL chose this side.
                await locker.rollback()
                if attempt == 4:
                    raise
        cancel = await psycopg.AsyncConnection.connect(
            **{k: params[k] for k in ("dbname", "user", "password", "host", "port")
               if k in params}, autocommit=True,
        )  # fmt: skip

        async def cancel_waiting():
            await cancel.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )

        await until(lambda: collector.outages >= 2, action=cancel_waiting)
        await cancel.close()
        await locker.rollback()  # the database answers again
        resumed_at = collector.detections
        await until(lambda: collector.detections > resumed_at)
    finally:
        stop.set()
        await task
        await locker.close()
        server.close()
    assert collector.failures == 0
    assert collector.outages >= 2
    failed = await sync_to_async(
        lambda: StationCheck.objects.filter(station_id="kiwi-ours", ok=False).count()
    )()
    assert failed == 0
    assert len(fake.paths) == 1  # one connection to the receiver throughout


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_simulated_collector_produces_detections_through_ingest():
    await sync_to_async(StationFactory)(
        id="sim-hf",
        frequency_min=14_000_000,
        frequency_max=14_350_000,
        api_config={"api_type": "simulated", "poll_interval": 0.2, "timeout": 5},
    )
    await supervise(asyncio.Event(), station_ids=["sim-hf"], duration=2.0, resync_s=0.5)
    detections = await sync_to_async(lambda: list(SignalDetection.objects.all()))()
    assert len(detections) >= 5
    assert all(14_000_000 <= d.frequency_hz <= 14_400_000 or d.is_anomaly for d in detections)
    assert {d.modulation_type for d in detections} <= {
        "CW", "USB", "LSB", "AM", "FSK", "NFM", "WFM",
    }  # fmt: skip
