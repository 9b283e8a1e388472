"""The OpenWebRX client against a fake that speaks in the real server's order."""

import json

import numpy as np
import pytest

from apps.collectors.adpcm import SyncedImaAdpcmDecoder
from apps.collectors.base import ProtocolError
from apps.collectors.openwebrx import OpenWebRXSource
from apps.collectors.runner import detections_from
from tests.collectors.fake_receivers import (
    HF_PROFILE,
    FakeOpenWebRX,
    SyncedImaAdpcmEncoder,
    serve,
)


async def _session(fake, *, frequency_hz=14_230_000, mode="usb", chunks=1):
    server, port = await serve(fake.handler)
    source = OpenWebRXSource(
        url=f"http://127.0.0.1:{port}/", frequency_hz=frequency_hz, timeout=5, mode=mode
    )
    try:
        await source.open()
        read = [await source.read() for _ in range(chunks)]
    finally:
        await source.close()
        server.close()
    return source, read


def _dsp_params(fake) -> list[dict]:
    return [m["params"] for m in fake.received if isinstance(m, dict) and "params" in m
            and m.get("type") == "dspcontrol"]  # fmt: skip


async def test_greeting_after_the_json_messages_and_what_they_said_is_kept():
    fake = FakeOpenWebRX()
    source, (chunk,) = await _session(fake)
    # The server's own order: everything before the greeting.
    assert fake.sent_order[: fake.sent_order.index("CLIENT DE SERVER") + 1] == [
        "receiver_details", "config", "config", "config", "dial_frequencies", "bookmarks",
        "features", "modes", "profiles", "CLIENT DE SERVER",
    ]  # fmt: skip
    assert source.server == {"server": "openwebrx", "version": "v1.2.2"}
    assert source.details == {"receiver_name": "fake", "locator": "JO22"}
    assert source.features == {"digital_voice_digiham": False}
    assert sorted(source.modes) == ["am", "cw", "lsb", "nfm", "usb", "wfm"]
    assert [p["id"] for p in source.profiles] == ["rtlsdr|20m", "rtlsdr|2m"]
    assert source.config["center_freq"] == 14_200_000
    assert source.config["audio_compression"] == "adpcm"
    assert source.config["fft_size"] == 4096  # from the global config
    assert fake.received[0] == "SERVER DE CLIENT client=heimdall type=receiver"
    assert fake.received[1] == {
        "type": "connectionproperties",
        "params": {"output_rate": 12000, "hd_output_rate": 48000},
    }
    assert chunk.listeners == 7
    assert chunk.signal_level_db == pytest.approx(-70.0)


async def test_tuned_from_the_sdr_config_not_the_first_one():
    """The first config has no center_freq: the offset comes from the SDR's (14.2 MHz)."""
    fake = FakeOpenWebRX(transmitter_hz=14_231_500)
    _source, (chunk,) = await _session(fake, frequency_hz=14_230_000)
    assert fake.received[2] == {"type": "dspcontrol", "action": "start"}
    assert _dsp_params(fake) == [
        {
            "mod": "usb",
            "low_cut": 150,
            "high_cut": 2750,
            "offset_freq": 30_000,
            "squelch_level": -150,
        },
    ]  # fmt: skip  (the server's own USB bandpass, from its modes message)
    assert chunk.center_frequency == 14_230_000
    assert chunk.sample_rate == 12_000
    detections = detections_from(chunk, "owrx-test", 1.0)
    strongest = max(detections, key=lambda d: d["signal_strength_db"])
    assert round(strongest["frequency_hz"], -1) == 14_231_500
    assert strongest["processing_metadata"]["clock"] == "system"
    assert strongest["processing_metadata"]["receiver_mode"] == "usb"


async def test_sdr_config_arriving_after_the_greeting():
    fake = FakeOpenWebRX(sdr_starting=True)
    _source, (chunk,) = await _session(fake)
    assert fake.sent_order.index("CLIENT DE SERVER") < fake.sent_order.index("dial_frequencies")
    assert _dsp_params(fake)[0]["offset_freq"] == 30_000
    assert chunk.center_frequency == 14_230_000


async def test_profile_change_retunes_and_no_detection_is_mislabelled():
    """Another listener switches the profile: the centre moves 100 kHz down.

    A second transmitter at 14.132 MHz is what the old offset would hear after the
    change (at 2 kHz): a client that did not retune would label it 14.232 MHz.
    """
    fake = FakeOpenWebRX(
        transmitter_hz=[14_231_500, 14_132_000],
        compression="none",
        change_profile_to={"center_freq": 14_100_000, "profile_id": "20m-low"},
        frames_before_change=20,
    )
    source, chunks = await _session(fake, chunks=8)
    assert [p["offset_freq"] for p in _dsp_params(fake)] == [30_000, 130_000]
    assert source.retunes == 1
    assert source.tuned_center == 14_100_000
    labelled = set()
    for chunk in chunks:
        assert chunk.center_frequency == 14_230_000
        for detection in detections_from(chunk, "owrx-test", 1.0):
            labelled.add(round(detection["frequency_hz"], -1))
    assert labelled == {14_231_500}


async def test_profile_change_to_one_not_covering_the_station_stops_with_its_reason():
    fake = FakeOpenWebRX(
        change_profile_to={"center_freq": 145_000_000, "samp_rate": 2_400_000, "profile_id": "2m"},
        frames_before_change=5,
    )  # fmt: skip
    with pytest.raises(ProtocolError) as caught:
        await _session(fake, chunks=20)
    assert str(caught.value) == (
        "OpenWebRX profile '2m' covers 143800000 to 146200000 Hz; the station's frequency "
        "14230000 Hz (usb, 150..2750 Hz) is outside it"
    )


async def test_wide_fm_arrives_as_hd_audio_and_is_one_detection_at_the_dial():
    profile = HF_PROFILE | {
        "center_freq": 98_000_000,
        "samp_rate": 2_400_000,
        "start_freq": 98_500_000,
        "start_mod": "wfm",
        "profile_id": "fm",
    }
    fake = FakeOpenWebRX(transmitter_hz=98_500_000, profile=profile)
    _source, (chunk,) = await _session(fake, frequency_hz=98_500_000, mode="wfm")
    assert _dsp_params(fake)[0] == {"mod": "wfm", "low_cut": -75000, "high_cut": 75000,
                                    "offset_freq": 500_000, "squelch_level": -150}  # fmt: skip
    assert chunk.sample_rate == 48_000  # hd_output_rate
    assert len(chunk.samples) == 12_000
    (detection,) = detections_from(chunk, "owrx-fm", 1.0)
    assert detection["frequency_hz"] == 98_500_000
    assert detection["modulation_type"] == "WFM"
    assert detection["bandwidth_hz"] == 150_000
    assert detection["signal_strength_db"] == pytest.approx(-70.0)  # the S-meter


async def test_busy_server_is_named():
    fake = FakeOpenWebRX(busy=True)
    with pytest.raises(ProtocolError) as caught:
        await _session(fake)
    assert str(caught.value) == "OpenWebRX refused: Too many clients (backoff)"
    assert fake.sent_order == ["receiver_details", "backoff"]


async def test_a_mode_the_server_does_not_offer_is_named():
    fake = FakeOpenWebRX(modes=[m for m in FakeOpenWebRX().modes if m["modulation"] != "wfm"])
    with pytest.raises(ProtocolError) as caught:
        await _session(fake, mode="wfm")
    assert str(caught.value) == (
        "this OpenWebRX does not offer mode 'wfm'; it offers am, cw, lsb, nfm, usb"
    )


async def test_unknown_audio_codec_is_refused_clearly():
    with pytest.raises(ProtocolError, match="server sends opus audio"):
        await _session(FakeOpenWebRX(compression="opus"))


async def test_uncompressed_audio():
    fake = FakeOpenWebRX(compression="none")
    _source, (chunk,) = await _session(fake)
    strongest = max(detections_from(chunk, "x", 1.0), key=lambda d: d["signal_strength_db"])
    assert round(strongest["frequency_hz"], -1) == 14_231_500


async def test_lower_sideband_maps_audio_below_the_dial():
    fake = FakeOpenWebRX(transmitter_hz=14_228_000)
    _source, (chunk,) = await _session(fake, frequency_hz=14_230_000, mode="lsb")
    assert _dsp_params(fake)[0]["low_cut"] == -2750
    strongest = max(detections_from(chunk, "x", 1.0), key=lambda d: d["signal_strength_db"])
    assert round(strongest["frequency_hz"], -1) == 14_228_000


async def test_not_an_openwebrx_is_named_not_a_bare_timeout():
    import websockets

    async def silent(ws):
        await ws.wait_closed()

    server = await websockets.serve(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = OpenWebRXSource(url=f"http://127.0.0.1:{port}/", frequency_hz=14_230_000, timeout=1)
    try:
        with pytest.raises(ProtocolError) as caught:
            await source.open()
    finally:
        await source.close()
        server.close()
    assert str(caught.value) == (
        "not an OpenWebRX receiver, or its SDR is not running: the CLIENT DE SERVER greeting "
        "and a config with the SDR's center_freq did not come within 1 s"
    )


def test_adpcm_sync_frames_every_1001_bytes_as_csdr_writes_them():
    t = np.arange(12_000) / 12_000
    original = np.round(12_000 * np.sin(2 * np.pi * 800 * t)).astype(np.int16)
    stream = SyncedImaAdpcmEncoder().encode(original)
    # 6,000 payload bytes: a sync frame before the first, then after every 1001.
    assert stream.count(b"SYNC") == 6
    assert len(stream) == 6000 + 6 * 8
    assert stream.index(b"SYNC", 1) == 8 + 1001
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


def test_config_deletions_and_updates_are_tracked():
    source = OpenWebRXSource(url="http://x/", frequency_hz=1, timeout=1)
    source._handle_text(json.dumps({"type": "config", "value": {"fft_size": 4096}}))
    assert source.center_freq is None
    value = {"center_freq": 7_100_000, "samp_rate": 250_000}
    source._handle_text(json.dumps({"type": "config", "value": value}))
    source._handle_text(json.dumps({"type": "config", "value": {"center_freq": 7_150_000}}))
    assert (source.center_freq, source.samp_rate) == (7_150_000, 250_000)
    source._handle_text(json.dumps({"type": "config", "value": {"samp_rate": None}}))
    assert source.samp_rate is None
