import asyncio

import pytest
from asgiref.sync import sync_to_async

from apps.collectors.base import ProtocolError
from apps.collectors.kiwisdr import KiwiSDRSource
from apps.collectors.openwebrx import OpenWebRXSource
from apps.collectors.runner import StationCollector, detections_from, supervise
from apps.radio import dsp
from apps.signals.models import SignalDetection
from apps.stations.models import Station, StationCheck
from tests.collectors.fake_receivers import FakeKiwi, FakeOpenWebRX, serve
from tests.helpers import async_wait_for
from tests.stations.factories import StationFactory


@pytest.mark.slow
@pytest.mark.asyncio
async def test_kiwisdr_protocol_and_iq_samples():
    fake = FakeKiwi(offset_hz=1000)
    server, port = await serve(fake.handler)
    try:
        source = KiwiSDRSource(url=f"http://127.0.0.1:{port}/", frequency_hz=14_074_000, timeout=5)
        await source.open()
        chunk = await source.read()
        await source.close()
    finally:
        server.close()
    assert fake.paths[0].endswith("/SND")
    assert fake.commands[0] == "SET auth t=kiwi p="
    assert fake.commands[1] == "SET AR OK in=12000 out=44100"
    assert fake.commands[2] == "SET mod=iq low_cut=-5000 high_cut=5000 freq=14074.000"
    assert "SET compression=0" in fake.commands
    assert chunk.sample_rate == 12000.0
    assert chunk.samples.dtype.kind == "c"
    assert len(chunk.samples) >= 3000
    assert chunk.signal_level_db == pytest.approx(-80.0)  # 0.1 * 470 - 127
    _, carriers = dsp.analyze(
        chunk.samples,
        sample_rate=chunk.sample_rate,
        center_frequency=chunk.center_frequency,
        fft_size=512,
    )
    assert [round(c.frequency_hz, -1) for c in carriers] == [14_075_000]


@pytest.mark.asyncio
async def test_kiwisdr_busy_is_a_protocol_error():
    server, port = await serve(FakeKiwi(busy=True).handler)
    try:
        source = KiwiSDRSource(url=f"http://127.0.0.1:{port}/", frequency_hz=7_000_000, timeout=5)
        with pytest.raises(ProtocolError, match="busy"):
            await source.open()
    finally:
        server.close()


@pytest.mark.asyncio
async def test_openwebrx_protocol_and_audio():
    fake = FakeOpenWebRX(audio_hz=1500)
    server, port = await serve(fake.handler)
    try:
        source = OpenWebRXSource(
            url=f"http://127.0.0.1:{port}/", frequency_hz=14_230_000, timeout=5
        )
        await source.open()
        chunk = await source.read()
        await source.close()
    finally:
        server.close()
    assert fake.received[0] == "SERVER DE CLIENT client=heimdall type=receiver"
    assert fake.received[1] == {
        "type": "connectionproperties",
        "params": {"output_rate": 12000, "hd_output_rate": 48000},
    }
    assert fake.received[2] == {"type": "dspcontrol", "action": "start"}
    assert fake.received[3]["params"]["offset_freq"] == 30_000  # dial - centre
    assert fake.received[3]["params"]["mod"] == "usb"
    assert chunk.listeners == 7
    assert chunk.signal_level_db == pytest.approx(-70.0)
    assert chunk.samples.dtype.kind == "f"
    _, carriers = dsp.analyze(
        chunk.samples,
        sample_rate=chunk.sample_rate,
        center_frequency=chunk.center_frequency,
        fft_size=512,
    )
    assert [round(c.frequency_hz, -1) for c in carriers] == [14_231_500]


@pytest.mark.asyncio
async def test_openwebrx_adpcm_audio_is_decoded():
    server, port = await serve(FakeOpenWebRX(audio_hz=1500, compression="adpcm").handler)
    try:
        source = OpenWebRXSource(
            url=f"http://127.0.0.1:{port}/", frequency_hz=14_230_000, timeout=5
        )
        await source.open()
        chunk = await source.read()
        await source.close()
    finally:
        server.close()
    assert len(chunk.samples) >= 3000
    _, carriers = dsp.analyze(
        chunk.samples,
        sample_rate=chunk.sample_rate,
        center_frequency=chunk.center_frequency,
        fft_size=512,
    )
    # ADPCM quantisation adds weak spurs above this fake's very clean floor;
    # the tone is the strongest carrier by far.
    strongest = max(carriers, key=lambda c: c.strength_db)
    assert round(strongest.frequency_hz, -1) == 14_231_500
    assert all(c.strength_db < strongest.strength_db - 20 for c in carriers if c is not strongest)


@pytest.mark.asyncio
async def test_openwebrx_unknown_audio_codec_is_refused_clearly():
    server, port = await serve(FakeOpenWebRX(compression="opus").handler)
    try:
        source = OpenWebRXSource(
            url=f"http://127.0.0.1:{port}/", frequency_hz=14_230_000, timeout=5
        )
        with pytest.raises(ProtocolError, match="opus"):
            await source.open()
    finally:
        server.close()


def test_adpcm_round_trip_with_sync_frames():
    import numpy as np

    from apps.collectors.adpcm import SyncedImaAdpcmDecoder
    from tests.collectors.fake_receivers import SyncedImaAdpcmEncoder

    t = np.arange(12_000) / 12_000
    original = np.round(12_000 * np.sin(2 * np.pi * 800 * t)).astype(np.int16)
    stream = SyncedImaAdpcmEncoder().encode(original)
    assert stream.count(b"SYNC") == 6  # 6,000 bytes: at the start and every 1,000
    decoder = SyncedImaAdpcmDecoder()
    decoded = np.concatenate(
        [decoder.decode(stream[i : i + 333]) for i in range(0, len(stream), 333)]
    )
    assert len(decoded) == len(original)
    error = np.sqrt(np.mean((decoded.astype(float) - original) ** 2))
    snr_db = 20 * np.log10(np.sqrt(np.mean(original.astype(float) ** 2)) / error)
    assert snr_db > 25  # 4-bit IMA ADPCM on a sine: about 28 dB
    # Joining mid-stream: nothing until the next sync frame, then the same samples.
    late = SyncedImaAdpcmDecoder().decode(stream[1500:])
    assert np.array_equal(late, decoded[-len(late) :])


def test_detections_from_a_chunk_are_one_per_carrier():
    import numpy as np

    from apps.collectors.base import Chunk

    t = np.arange(6000) / 12000
    samples = np.exp(2j * np.pi * 1000 * t) + 0.5 * np.exp(-2j * np.pi * 3000 * t)
    samples += 0.001 * np.random.default_rng(1).standard_normal(6000)
    detections = detections_from(
        Chunk(samples=samples, sample_rate=12000, center_frequency=145_000_000), "giaveno-it", 12.0
    )
    assert sorted(round(d["frequency_hz"], -1) for d in detections) == [144_997_000, 145_001_000]
    assert all(d["websdr_station_id"] == "giaveno-it" for d in detections)
    assert all(d["processing_metadata"]["processing_time_ms"] >= 12.0 for d in detections)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.asyncio
async def test_kiwisdr_collector_ingests_and_keeps_station_current():
    fake = FakeKiwi(offset_hz=2000)
    server, port = await serve(fake.handler)
    station = await sync_to_async(StationFactory)(
        id="kiwi-test",
        url=f"http://127.0.0.1:{port}/",
        api_config={
            "api_type": "kiwisdr",
            "poll_interval": 1.0,
            "timeout": 5,
            "frequency_hz": 7_074_000,
        },
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
    station = await sync_to_async(Station.objects.get)(pk="kiwi-test")
    assert station.last_seen is not None
    assert station.current_frequency == 7_074_000
    assert station.response_time_ms is not None
    assert station.connection_status == "disconnected"  # stopped cleanly at the end
    checks = await sync_to_async(lambda: list(StationCheck.objects.filter(station=station)))()
    assert any(check.ok for check in checks)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.asyncio
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
    # The first attempt, ~1 s of backoff, the second attempt.
    await async_wait_for(lambda: collector.failures >= 2, 15, what="two failed attempts")
    stop.set()
    await task
    assert collector.failures >= 2
    checks = await sync_to_async(
        lambda: list(StationCheck.objects.filter(station_id="nowhere-sdr", ok=False))
    )()
    assert len(checks) >= 2
    assert "ConnectionRefused" in checks[0].error or "Errno" in checks[0].error


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.asyncio
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
        "CW",
        "USB",
        "LSB",
        "AM",
        "FSK",
        "NFM",
        "WFM",
    }
