"""The classic WebSDR client (http_streaming) against a fake site in the published order."""

import numpy as np
import pytest

from apps.collectors.base import ProtocolError
from apps.collectors.runner import detections_from
from apps.collectors.websdr import WebSDRSource, parse_bandinfo
from apps.collectors.websdr_audio import StreamState, alaw_to_linear, decode_message
from tests.collectors.fake_receivers import (
    MAASBREE_BANDINFO,
    TWENTE_BANDINFO,
    CodedBlockEncoder,
    FakeWebSDR,
    serve,
)


async def _session(fake, *, frequency_hz=14_074_000, mode="usb", chunks=1):
    server, port = await serve(fake.handler, fake.process_request)
    source = WebSDRSource(
        url=f"http://127.0.0.1:{port}/", frequency_hz=frequency_hz, timeout=5, mode=mode
    )
    try:
        await source.open()
        read = [await source.read() for _ in range(chunks)]
    finally:
        await source.close()
        server.close()
    return source, read, port


def test_bandinfo_of_a_one_band_and_a_multi_band_site():
    twente = parse_bandinfo(TWENTE_BANDINFO)
    assert [(b.index, b.name, b.center_khz, b.span_khz, b.max_edge_khz) for b in twente.bands] == [
        (0, "hf", 14579.8, 29159.6, 7.119043)
    ]
    assert twente.idle_timeout_ms == 0
    maasbree = parse_bandinfo(MAASBREE_BANDINFO)
    assert [(b.index, b.name) for b in maasbree.bands] == [(0, "80m"), (1, "40m")]
    assert maasbree.idle_timeout_ms == 14_400_000


async def test_twente_order_tuning_and_coded_audio():
    """Seed 004's twente-nl: one band, /~~stream, 7119 Hz audio, a station 1.5 kHz up."""
    fake = FakeWebSDR(site="twente", transmitter_hz=14_075_500)
    source, (chunk,), port = await _session(fake, frequency_hz=14_074_000)
    assert fake.http_gets == ["/tmp/bandinfo.js", "/websdr-sound.js"]
    assert fake.paths == ["/~~stream"]
    assert fake.origins == [f"http://127.0.0.1:{port}"]
    assert fake.commands[0] == (
        "GET /~~param?f=14074.000&band=0&lo=0.3&hi=2.7&mode=0&name=heimdall"
    )
    assert chunk.sample_rate == 7119
    assert chunk.center_frequency == 14_074_000
    assert chunk.audio_mode == "usb"
    assert chunk.signal_level_db == pytest.approx(-73.0)
    assert source.state.coded_blocks > 0
    detections = detections_from(chunk, "twente-nl", 1.0)
    strongest = max(detections, key=lambda d: d["signal_strength_db"])
    assert round(strongest["frequency_hz"], -1) == 14_075_500
    assert strongest["processing_metadata"]["clock"] == "system"


async def test_a_multi_band_site_picks_the_band_and_the_v11_stream():
    fake = FakeWebSDR(site="maasbree", transmitter_hz=7_072_500)
    _source, (chunk,), _ = await _session(fake, frequency_hz=7_074_000, mode="lsb")
    assert fake.paths == ["/~~stream?v=11"]
    assert fake.commands[0] == (
        "GET /~~param?f=7074.000&band=1&lo=-2.7&hi=-0.3&mode=0&name=heimdall"
    )
    assert chunk.sample_rate == 8000
    strongest = max(detections_from(chunk, "maasbree-nl", 1.0),
                    key=lambda d: d["signal_strength_db"])  # fmt: skip
    assert round(strongest["frequency_hz"], -1) == 7_072_500


async def test_a_frequency_outside_every_band_is_named():
    fake = FakeWebSDR(site="maasbree")
    with pytest.raises(ProtocolError) as caught:
        await _session(fake, frequency_hz=14_074_000)
    assert str(caught.value) == (
        "this WebSDR does not cover 14074000 Hz: its bands are 80m 3468.0-3852.0 kHz; "
        "40m 6908.0-7292.0 kHz"
    )
    assert fake.paths == []  # refused before the stream was opened


async def test_busy_site_is_named():
    with pytest.raises(ProtocolError) as caught:
        await _session(FakeWebSDR(busy=True))
    assert str(caught.value) == "WebSDR refused: too busy right now (sample rate 0)"


async def test_a_site_without_bandinfo_is_not_a_websdr():
    import websockets

    server = await websockets.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = WebSDRSource(url=f"http://127.0.0.1:{port}/", frequency_hz=14_074_000, timeout=2)
    try:
        with pytest.raises(ProtocolError) as caught:
            await source.open()
    finally:
        server.close()
    assert str(caught.value) == "not a classic WebSDR: /tmp/bandinfo.js is not served"


async def test_am_is_one_detection_at_the_dial_and_the_rate_doubles():
    fake = FakeWebSDR(site="twente", transmitter_hz=9_410_000)
    _source, (chunk,), _ = await _session(fake, frequency_hz=9_410_000, mode="am")
    assert fake.commands[0] == "GET /~~param?f=9410.000&band=0&lo=-4.5&hi=4.5&mode=1&name=heimdall"
    assert chunk.sample_rate == 14238  # past 3.5 kHz: twice 7119
    (detection,) = detections_from(chunk, "twente-nl", 1.0)
    assert (detection["frequency_hz"], detection["modulation_type"]) == (9_410_000, "AM")
    assert detection["bandwidth_hz"] == 9000


async def test_alaw_blocks():
    fake = FakeWebSDR(site="twente", transmitter_hz=14_075_500, alaw=True)
    source, (chunk,), _ = await _session(fake)
    assert source.state.alaw_blocks > 0 and source.state.coded_blocks == 0
    strongest = max(detections_from(chunk, "twente-nl", 1.0),
                    key=lambda d: d["signal_strength_db"])  # fmt: skip
    assert round(strongest["frequency_hz"], -1) == 14_075_500


def test_alaw_is_itu_g711():
    assert [alaw_to_linear(c) for c in (0x00, 0x55, 0xD5, 0x2A, 0xAA)] == [
        -5504, -8, 8, -32256, 32256,
    ]  # fmt: skip


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("conv", [0x10, 0x00])
def test_coded_blocks_decode_to_what_the_encoder_meant(width, conv):
    rate = 8000
    t = np.arange(128 * 12) / rate
    x = np.round(6000 * np.sin(2 * np.pi * 1500 * t)).astype(int)
    encoder, state = CodedBlockEncoder(step=40, conv=conv), StreamState()
    header = bytes([0x81, rate >> 8, rate & 255, 0x82, 0, 40, 0x83, conv, 0xF4, 0x6A])
    messages = [header + encoder.block(list(x[:128]), width)]
    messages += [encoder.block(list(x[k : k + 128]), width) for k in range(128, len(x), 128)]
    out = np.concatenate([decode_message(state, m) for m in messages])
    assert (state.rate, state.step, state.conv) == (8000, 40, conv)
    assert state.meter_dbm == pytest.approx(0x46A / 10 - 127)
    assert len(out) == len(x)
    assert np.sqrt(np.mean((out - x) ** 2)) < 40  # within the quantiser's step
