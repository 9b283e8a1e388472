"""The KiwiSDR client against a fake in the real server's order: refusals and GPS time."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.collectors.base import ProtocolError
from apps.collectors.kiwisdr import KiwiSDRSource, gps_time
from apps.collectors.runner import detections_from
from apps.radio import dsp
from tests.collectors.fake_receivers import FakeKiwi, serve


async def _session(fake, *, chunks=1, frequency_hz=14_074_000, mode="iq"):
    server, port = await serve(fake.handler)
    source = KiwiSDRSource(
        url=f"http://127.0.0.1:{port}/", frequency_hz=frequency_hz, timeout=3, mode=mode
    )
    try:
        await source.open()
        read = [await source.read() for _ in range(chunks)]
    finally:
        await source.close()
        server.close()
    return source, read


async def test_protocol_order_and_iq_samples():
    fake = FakeKiwi(offset_hz=1000)
    _source, (chunk,) = await _session(fake)
    assert fake.paths[0].endswith("/SND")
    assert fake.commands == [
        "SET auth t=kiwi p=",
        "SET AR OK in=12000 out=44100",
        "SET mod=iq low_cut=-5000 high_cut=5000 freq=14074.000",
        "SET agc=1 hang=0 thresh=-100 slope=6 decay=1000 manGain=50",
        "SET compression=0",
    ]
    assert chunk.sample_rate == 12000.0
    assert chunk.samples.dtype.kind == "c"
    assert len(chunk.samples) >= 3000
    assert chunk.signal_level_db == pytest.approx(-80.0)  # 0.1 * 470 - 127
    _, carriers = dsp.analyze(
        chunk.samples, sample_rate=12000, center_frequency=chunk.center_frequency, fft_size=512
    )
    assert [round(c.frequency_hz, -1) for c in carriers] == [14_075_000]


async def test_frequency_offset_of_a_downconverter_kiwi_is_taken_off():
    """`freq_offset` (kHz): the API takes the baseband frequency (kiwiclient set_mod)."""
    fake = FakeKiwi(freq_offset_khz=144_000.0)
    await _session(fake, frequency_hz=145_500_000)
    assert "SET mod=iq low_cut=-5000 high_cut=5000 freq=1500.000" in fake.commands


BADP = [
    (1, "KiwiSDR refused: bad password, or all channels that need no password are busy (badp=1)"),
    (2, "KiwiSDR refused: still determining its local interface address; try again in a few "
        "moments (badp=2)"),
    (3, "KiwiSDR refused: connection not allowed from this IP address (badp=3)"),
    (4, "KiwiSDR refused: no admin password set; only connections from its local network "
        "(badp=4)"),
    (5, "KiwiSDR refused: multiple connections from the same IP address are not allowed "
        "(badp=5)"),
    (6, "KiwiSDR refused: database update in progress; try again after one minute (badp=6)"),
    (7, "KiwiSDR refused: another admin connection is already open (badp=7)"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "reason"), BADP)
async def test_every_badp_code_is_named(code, reason):
    """badp=5 is followed by a close, the others by silence: both name the reason."""
    with pytest.raises(ProtocolError) as caught:
        await _session(FakeKiwi(badp=code))
    assert str(caught.value) == reason


CONNECT_REFUSALS = [
    (b"MSG too_busy=4", "KiwiSDR refused: all 4 channels are busy (too_busy)"),
    (b"MSG reason_disabled=Antenna%20maintenance down=0",
     "KiwiSDR refused: user connections disabled: Antenna maintenance (down=0)"),
    (b"MSG reason_disabled= down=1", "KiwiSDR refused: software update in progress (down=1)"),
    (b"MSG reason_disabled= down=2", "KiwiSDR refused: backup in progress (down=2)"),
    (b"MSG redirect=http%3A%2F%2Fother.example.org%3A8073",
     "KiwiSDR refused: all channels busy; it redirects to http://other.example.org:8073 "
     "(redirect)"),
    (b"MSG exclusive_use",
     "KiwiSDR refused: locked for exclusive use by an extension (e.g. DRM) (exclusive_use)"),
    (b"MSG wb_only", "KiwiSDR refused: it takes wideband connections only (wb_only)"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "reason"), CONNECT_REFUSALS)
async def test_refusals_at_connect_are_named(message, reason):
    with pytest.raises(ProtocolError) as caught:
        await _session(FakeKiwi(refuse_at_connect=message))
    assert str(caught.value) == reason


LATER = [
    (b"MSG inactivity_timeout=30",
     "KiwiSDR refused: inactivity time limit of 30 minutes reached (inactivity_timeout)"),
    (b"MSG ip_limit=60%2C192.0.2.1",
     "KiwiSDR refused: 24-hour time limit of 60 minutes per IP address reached (ip_limit)"),
    (b"MSG kiwi_kick=1%2CYou%20were%20kicked%21",
     "KiwiSDR refused: kicked by its admin: You were kicked! (kiwi_kick)"),
    (b"MSG password_timeout", "KiwiSDR refused: no valid password in time (password_timeout)"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "reason"), LATER)
async def test_refusals_while_streaming_are_named(message, reason):
    with pytest.raises(ProtocolError) as caught:
        await _session(FakeKiwi(later=message), chunks=5)
    assert str(caught.value) == reason


async def test_a_close_without_a_reason_says_so():
    async def closes(ws):
        await ws.recv()
        await ws.close(1001, "going away")

    server, port = await serve(closes)
    source = KiwiSDRSource(url=f"http://127.0.0.1:{port}/", frequency_hz=7_000_000, timeout=3)
    try:
        with pytest.raises(ProtocolError) as caught:
            await source.open()
    finally:
        server.close()
    assert str(caught.value) == (
        "the receiver closed the connection (code 1001, reason 'going away')"
    )


def test_gps_seconds_of_week_to_utc():
    # 2024-01-15T14:30:00Z is GPS week 2297, 138 618 s into it (+18 s GPS-UTC).
    now = datetime(2024, 1, 15, 14, 30, 0, 250_000, tzinfo=UTC)
    assert gps_time(138_618, 123_456_789, now) == datetime(
        2024, 1, 15, 14, 30, 0, 123_457, tzinfo=UTC
    )
    # Across a week boundary: the GPS week nearest the arrival time.
    sunday = datetime(2024, 1, 21, 0, 0, 0, 500_000, tzinfo=UTC)  # GPS week 2298 begins
    assert gps_time(604_799, 900_000_000, sunday) == datetime(
        2024, 1, 20, 23, 59, 41, 900_000, tzinfo=UTC
    )


async def test_gps_time_is_the_detection_time_with_a_fix():
    now = datetime.now(UTC)
    gps_seconds = (now - datetime(1980, 1, 6, tzinfo=UTC)).total_seconds() + 18
    gpssec = int(gps_seconds % 604_800)
    fake = FakeKiwi(offset_hz=1000, gps=(3, gpssec, 250_000_000))
    _source, (chunk,) = await _session(fake)
    expected = gps_time(gpssec, 250_000_000, now)
    assert chunk.clock == "gps"
    assert chunk.timestamp == expected
    (detection,) = detections_from(chunk, "kiwi-gps", 1.0)
    assert detection["detection_timestamp"] == expected
    assert detection["processing_metadata"]["clock"] == "gps"
    assert detection["processing_metadata"]["gps_last_solution_s"] == 3


@pytest.mark.parametrize(
    ("last_solution", "gpssec", "gpsnsec"),
    [
        (255, 123_456, 1),  # the GPS never had a solution
        (0, 0, 0),  # timestamps withheld by the admin (or the first frame)
        (252, 123_456, 1),  # the last solution too old
    ],
)
async def test_system_clock_without_a_gps_fix(last_solution, gpssec, gpsnsec):
    before = datetime.now(UTC)
    fake = FakeKiwi(offset_hz=1000, gps=(last_solution, gpssec, gpsnsec))
    _source, (chunk,) = await _session(fake)
    assert chunk.clock == "system"
    assert before <= chunk.timestamp <= datetime.now(UTC)
    (detection,) = detections_from(chunk, "kiwi", 1.0)
    assert detection["processing_metadata"]["clock"] == "system"
    assert detection["processing_metadata"]["gps_last_solution_s"] == last_solution


async def test_a_gps_time_far_from_the_arrival_time_is_not_believed():
    now = datetime.now(UTC) + timedelta(hours=3)  # a Kiwi whose GPS week is confused
    gps_seconds = (now - datetime(1980, 1, 6, tzinfo=UTC)).total_seconds() + 18
    fake = FakeKiwi(offset_hz=1000, gps=(2, int(gps_seconds % 604_800), 0))
    _source, (chunk,) = await _session(fake)
    assert chunk.clock == "system"
    assert "gps_time_rejected" in chunk.metadata


async def test_audio_mode_is_real_audio_mapped_to_the_sideband():
    """usb: the SND samples are mono audio (no GPS header), audio f is dial + f."""
    fake = FakeKiwi(offset_hz=1000, mode_iq_flag=False)
    _source, (chunk,) = await _session(fake, mode="usb")
    assert "SET mod=usb low_cut=300 high_cut=2700 freq=14074.000" in fake.commands
    assert chunk.audio_mode == "usb"
    assert chunk.samples.dtype.kind == "f"
