"""client.recordings against the live server: SigMF files written with the `sigmf` package,
uploaded, analyzed by the real worker, annotated and approved, downloaded and deleted.

Each test's recordings sit at a frequency of their own (one of 200 slots 50 kHz apart
between 2 and 12 MHz, wider than a recording's 48 kHz span and below the other tests'
detections), so they and their detections are found by frequency; every test deletes
the recordings it made.
"""

import asyncio
import hashlib
import json
import random
import tarfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from heimdall_sdk import (
    HeimdallClient,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    models,
)
from sigmf import SigMFFile, sigmffile

from .conftest import URL, key

RATE = 48_000
TONE_HZ = 3000  # the carrier's offset from the capture's centre


def _frequency() -> int:
    return 2_000_000 + 50_000 * random.randrange(200)


def _start() -> datetime:
    # recent (inside the detection retention), in the past, whole seconds
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)


def write_sigmf(
    folder: Path,
    *,
    frequency: int,
    start: datetime,
    seconds: float = 1.0,
    name: str = "rec",
    annotations=(),
) -> tuple[Path, Path]:
    """A ci16_le recording: a CW tone at +3 kHz over faint noise, one capture at `start`;
    meta written by the sigmf package (which sets core:sha512)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(1)
    x = 0.5 * np.exp(2j * np.pi * TONE_HZ * t)
    x += 0.01 * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    iq = np.empty(2 * n, dtype="<i2")
    iq[0::2], iq[1::2] = np.round(x.real * 32767), np.round(x.imag * 32767)
    data_path = folder / f"{name}.sigmf-data"
    data_path.write_bytes(iq.tobytes())
    meta = SigMFFile(
        data_file=str(data_path),
        global_info={
            "core:datatype": "ci16_le",
            "core:sample_rate": RATE,
            "core:version": "1.2.0",
        },
    )
    meta.add_capture(
        0,
        metadata={
            "core:frequency": frequency,
            "core:datetime": start.isoformat().replace("+00:00", "Z"),
        },
    )
    for sample_start, count, fields in annotations:
        meta.add_annotation(sample_start, count, metadata=dict(fields))
    meta.tofile(str(folder / f"{name}.sigmf-meta"))
    return folder / f"{name}.sigmf-meta", data_path


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.slow
async def test_upload_analyze_annotate_download_delete(operator, viewer, tmp_path, db):
    freq, start = _frequency(), _start()
    meta_path, data_path = write_sigmf(
        tmp_path / "pair",
        frequency=freq,
        start=start,
        annotations=[
            (0, 4800, {"core:label": "CW", "core:freq_lower_edge": freq + 2800,
                       "core:freq_upper_edge": freq + 3200}),
        ],
    )  # fmt: skip
    raw = data_path.read_bytes()

    # upload: a .sigmf-meta with its .sigmf-data beside it
    rec = await operator.recordings.upload(meta_path, station_id="twente-nl", name="sdk pair")
    assert isinstance(rec, models.Recording)
    assert (rec.name, rec.websdr_station_id, rec.datatype) == ("sdk pair", "twente-nl", "ci16_le")
    assert (rec.sample_rate, rec.sample_count, rec.data_bytes) == (48_000, 48_000, 192_000)
    assert (rec.frequency_min_hz, rec.frequency_max_hz) == (freq - 24_000, freq + 24_000)
    assert rec.data_sha512 == hashlib.sha512(raw).hexdigest()
    assert rec.start_time == start.isoformat().replace("+00:00", "Z")
    assert (rec.analysis_status, rec.clip_count, rec.approved_clip_count) == ("not_analyzed", 1, 0)
    assert (await viewer.recordings.get(rec.id)).to_dict() == rec.to_dict()

    # the same recording as one .sigmf archive (written by the sigmf package)
    archive = tmp_path / "rec.sigmf"
    sigmffile.fromfile(str(meta_path)).archive(str(archive))
    second = await operator.recordings.upload(archive, station_id="twente-nl", name="sdk archive")
    assert second.data_sha512 == rec.data_sha512 and second.sample_count == 48_000

    # list with filters, and the pagination iterator (one recording per page)
    listed = await viewer.recordings.list(station_id="twente-nl", frequency=freq)
    both = sorted([rec.id, second.id])  # newest first, then by id: both start at `start`
    assert [r.id for r in listed.data] == both
    assert listed.pagination.total_items == 2
    assert (await viewer.recordings.list(frequency=freq + 30_000)).data == []
    window = (start - timedelta(seconds=1), start + timedelta(seconds=2))
    ranged = await viewer.recordings.list(frequency_range=(freq, freq), time_range=window)
    assert {r.id for r in ranged.data} == {rec.id, second.id}
    pager = viewer.recordings.iter(page_size=1, frequency=freq)
    assert [r.id async for r in pager] == both
    assert pager.pages_fetched == 2

    # analyze with the real worker, waiting by polling
    started = await operator.recordings.analyze(rec.id, window_seconds=0.25, fft_size=1024)
    assert started.analysis_status == "pending"
    seen: list[str] = []
    done = await operator.recordings.wait_for_analysis(
        rec.id, timeout=120, poll_interval=0.2, on_progress=lambda r: seen.append(r.analysis_status)
    )
    assert done.analysis_status == "completed" and seen[-1] == "completed"
    assert (done.analysis["windows"], done.analysis["detections_found"]) == (4, 4)
    assert done.analysis["detections_ingested"] == 4 and done.analysis["duplicates"] == 0

    # the detections: capture time + window offset, centre + tone offset (47 Hz bins)
    found = await viewer.signals.get_detections(
        station_id="twente-nl", frequency_range=(freq, freq + 6000), time_range=window
    )
    rows = sorted(found.data, key=lambda d: datetime.fromisoformat(d.detection_timestamp))
    assert [datetime.fromisoformat(d.detection_timestamp) for d in rows] == [
        start + timedelta(seconds=s) for s in (0, 0.25, 0.5, 0.75)
    ]
    assert all(abs(d.frequency_hz - (freq + TONE_HZ)) < 47 for d in rows)
    assert {d.modulation_type for d in rows} == {"CW"}

    # annotations: the file's own, the analysis' proposal; add, relabel, approve, delete
    clips = await viewer.recordings.list_annotations(rec.id)
    by_source = {c.source: c for c in clips.data}
    assert set(by_source) == {"sigmf", "analysis"}
    mine = by_source["sigmf"]
    assert (mine.sample_start, mine.sample_count, mine.label, mine.approved) == (
        0,
        4800,
        "CW",
        False,
    )
    assert (mine.freq_lower_edge, mine.freq_upper_edge) == (freq + 2800, freq + 3200)
    walked = [c.id async for c in viewer.recordings.iter_annotations(rec.id, page_size=1)]
    assert walked == [c.id for c in clips.data]

    noise = await operator.recordings.create_annotation(
        rec.id, sample_start=24_000, sample_count=4800, label="NOISE", comment="no carrier"
    )
    assert (noise.source, noise.label, noise.approved, noise.recording_id) == (
        "operator", "NOISE", False, rec.id,
    )  # fmt: skip

    me = await operator.auth.me()
    approved = await operator.recordings.approve_annotation(rec.id, mine.id)
    assert (approved.approved, approved.approved_by) == (True, me.id) and approved.approved_at
    relabelled = await operator.recordings.update_annotation(
        rec.id, mine.id, label="FM", metadata={"checked": "yes"}
    )
    assert (relabelled.label, relabelled.approved) == ("FM", False)  # approval withdrawn
    assert relabelled.metadata == {"checked": "yes"}
    again = await operator.recordings.approve_annotation(rec.id, mine.id, label="CW")
    assert (again.label, again.approved) == ("CW", True)
    merged = await operator.recordings.update_annotation(
        rec.id, mine.id, metadata={"checked": None}
    )
    assert merged.metadata == {} and merged.approved is True
    only = await viewer.recordings.list_annotations(rec.id, approved=True)
    assert [c.id for c in only.data] == [mine.id]
    assert (await viewer.recordings.list_annotations(rec.id, label="NOISE")).data[0].id == noise.id
    assert (await viewer.recordings.get_annotation(rec.id, mine.id)).to_dict() == merged.to_dict()
    assert (await viewer.recordings.get(rec.id)).approved_clip_count == 1

    with pytest.raises(PermissionDeniedError):
        await viewer.recordings.approve_annotation(rec.id, noise.id)
    assert (await viewer.recordings.get_annotation(rec.id, noise.id)).approved is False
    await operator.recordings.delete_annotation(rec.id, noise.id)
    with pytest.raises(NotFoundError):
        await viewer.recordings.get_annotation(rec.id, noise.id)

    # download: the archive into a folder (server's file name), the data part to a file
    folder = tmp_path / "down"
    folder.mkdir()
    got = await viewer.recordings.download(rec.id, folder)
    assert got == folder / "sdk_pair.sigmf" and list(folder.iterdir()) == [got]
    back = sigmffile.fromarchive(str(got))
    assert np.array_equal(back.read_samples(), sigmffile.fromfile(
        str(meta_path)).read_samples())  # fmt: skip
    annotations = back.get_annotations()
    assert [(a["core:label"], a["heimdall:approved"]) for a in annotations if a.get(
        "heimdall:clip_id") == mine.id] == [("CW", True)]  # fmt: skip
    with tarfile.open(got) as tar:
        assert sorted(m.name.rsplit("/", 1)[-1] for m in tar.getmembers() if m.isfile()) == [
            "sdk_pair.sigmf-data", "sdk_pair.sigmf-meta",
        ]  # fmt: skip
    data_copy = await viewer.recordings.download(rec.id, tmp_path / "copy.bin", part="data")
    assert data_copy.read_bytes() == raw
    meta_copy = await viewer.recordings.download(rec.id, tmp_path / "copy.json", part="meta")
    assert json.loads(meta_copy.read_text())["captures"][0]["core:frequency"] == freq

    # delete: viewers may not; operators remove the recording, its detections stay
    with pytest.raises(PermissionDeniedError):
        await viewer.recordings.delete(rec.id)
    await operator.recordings.delete(rec.id)
    await operator.recordings.delete(second.id)
    with pytest.raises(NotFoundError):
        await viewer.recordings.get(rec.id)
    assert (await viewer.recordings.list(frequency=freq)).data == []
    assert db.execute(
        "SELECT count(*) FROM recordings_recordingclip WHERE recording_id = %s", [rec.id]
    ).fetchone() == (0,)
    kept = await viewer.signals.get_detections(
        station_id="twente-nl", frequency_range=(freq, freq + 6000), time_range=window
    )
    assert len(kept.data) == 4


async def test_bad_meta_is_a_400_naming_the_field_and_stores_nothing(
    operator, viewer, tmp_path, db
):
    freq, start = _frequency(), _start()
    meta_path, data_path = write_sigmf(tmp_path, frequency=freq, start=start)
    good = json.loads(meta_path.read_text())
    before = _count(db, "recordings_recording")

    broken = json.loads(json.dumps(good))
    del broken["captures"][0]["core:frequency"]
    meta_path.write_text(json.dumps(broken))
    with pytest.raises(ValidationError) as caught:
        await operator.recordings.upload(meta_path, station_id="twente-nl")
    assert (caught.value.status, caught.value.code) == (400, "VALIDATION_ERROR")
    assert caught.value.field == "captures[0].core:frequency"
    assert caught.value.request_id

    damaged = json.loads(json.dumps(good))
    damaged["global"]["core:sha512"] = "0" * 128
    meta_path.write_text(json.dumps(damaged))
    with pytest.raises(ValidationError) as mismatch:
        await operator.recordings.upload(meta=meta_path, data=data_path, station_id="twente-nl")
    assert mismatch.value.field == "global.core:sha512"

    meta_path.write_text(json.dumps(good))
    with pytest.raises(ValidationError) as station:
        await operator.recordings.upload(meta_path, station_id="no-such-station")
    assert station.value.field == "websdr_station_id"
    with pytest.raises(PermissionDeniedError):
        await viewer.recordings.upload(meta_path, station_id="twente-nl")
    assert _count(db, "recordings_recording") == before

    # refused before sending: nothing to pair the meta with, or an unknown kind of file
    with pytest.raises(FileNotFoundError):
        await operator.recordings.upload(tmp_path / "absent.sigmf-meta")
    with pytest.raises(ValueError, match="sigmf"):
        await operator.recordings.upload(tmp_path / "capture.wav")
    with pytest.raises(ValueError, match="not both"):
        await operator.recordings.upload(meta=meta_path, data=data_path, archive=meta_path)
    with pytest.raises(NotFoundError):
        await operator.recordings.analyze("00000000-0000-0000-0000-000000000000")
    assert _count(db, "recordings_recording") == before


async def test_file_objects_are_rewound_and_sent_whole(operator, tmp_path):
    freq = _frequency()
    meta_path, data_path = write_sigmf(tmp_path, frequency=freq, start=_start())
    digest = hashlib.sha512(data_path.read_bytes()).hexdigest()
    ids = []
    with meta_path.open("rb") as meta, data_path.open("rb") as data:
        for _ in range(2):  # the second upload starts from files read to their end
            rec = await operator.recordings.upload(meta=meta, data=data, station_id="twente-nl")
            assert rec.data_sha512 == digest and rec.data_bytes == 192_000
            ids.append(rec.id)
        assert not meta.closed and not data.closed  # the caller's files stay the caller's
    for rec_id in ids:
        await operator.recordings.delete(rec_id)


@pytest.mark.slow
async def test_upload_and_download_stream_without_holding_the_file(operator, tmp_path):
    """A 48 MiB recording goes up and comes back while the client's Python heap grows
    by well under the file's size (httpx reads the file in 64 KiB chunks; the
    download is written 1 MiB at a time)."""
    freq = _frequency()
    meta_path, data_path = write_sigmf(tmp_path, frequency=freq, start=_start(), seconds=1)
    chunk = data_path.read_bytes()
    with data_path.open("ab") as out:
        for _ in range(251):  # 252 s at 48 kHz ci16_le: 48.4 MB
            out.write(chunk)
    size = data_path.stat().st_size
    assert size == 252 * 192_000
    meta = json.loads(meta_path.read_text())
    digest = hashlib.sha512()
    with data_path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    meta["global"]["core:sha512"] = digest.hexdigest()
    meta_path.write_text(json.dumps(meta))

    tracemalloc.start()
    try:
        rec = await operator.recordings.upload(meta_path, station_id="twente-nl")
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = await operator.recordings.download(rec.id, tmp_path / "back.bin", part="data")
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rec.data_bytes == size and rec.data_sha512 == digest.hexdigest()
    assert got.stat().st_size == size
    assert upload_peak < 8 << 20, upload_peak
    assert download_peak < 8 << 20, download_peak
    await operator.recordings.delete(rec.id)


@pytest.mark.slow
async def test_an_upload_refused_with_429_is_sent_again_whole(tmp_path):
    """Two clients on one key: one fills the key's rate window while the other uploads;
    the upload is refused with 429, retried after Retry-After with its files reopened,
    and stored intact."""
    meta_path, data_path = write_sigmf(tmp_path, frequency=_frequency(), start=_start())
    digest = hashlib.sha512(data_path.read_bytes()).hexdigest()
    uploads: list[models.Recording] = []
    async with (
        HeimdallClient(URL, api_key=key("operator")) as flood,
        HeimdallClient(URL, api_key=key("operator")) as uploader,
    ):
        probe = await flood.transport.request("GET", "/api/v1/stations", raw=True)
        limit = int(probe.headers["X-RateLimit-Limit"])
        assert limit <= 100, "run the suite with HEIMDALL_RATE_LIMIT_API_KEY=40/s"
        for _ in range(10):
            # fill the key's window: once the flood's own requests are refused, so is the upload
            flooding = asyncio.gather(*(flood.stations.list() for _ in range(2 * limit)))
            deadline = time.monotonic() + 10
            while not flood.transport.retry_log and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            uploads.append(await uploader.recordings.upload(meta_path, station_id="twente-nl"))
            await flooding
            flood.transport.retry_log.clear()
            if uploader.transport.retry_log:
                break
        assert uploader.transport.retry_log, "the upload was never refused"
        assert {reason for reason, _ in uploader.transport.retry_log} == {"429 RATE_LIMITED"}
        assert all(r.data_sha512 == digest and r.data_bytes == 192_000 for r in uploads)
        for rec in uploads:
            await uploader.recordings.delete(rec.id)


def test_the_synchronous_client_uploads_iterates_waits_and_downloads(tmp_path):
    from heimdall_sdk import Client

    freq = _frequency()
    meta_path, data_path = write_sigmf(tmp_path, frequency=freq, start=_start())
    with Client(URL, api_key=key("operator")) as client:
        rec = client.recordings.upload(meta_path, station_id="twente-nl", name="sync")
        assert [r.id for r in client.recordings.iter(frequency=freq)] == [rec.id]
        client.recordings.analyze(rec.id, window_seconds=0.5, fft_size=1024)
        done = client.recordings.wait_for_analysis(rec.id, timeout=120, poll_interval=0.2)
        assert (done.analysis_status, done.analysis["windows"]) == ("completed", 2)
        clips = list(client.recordings.iter_annotations(rec.id))
        assert [c.source for c in clips] == ["analysis"]
        got = client.recordings.download(rec.id, tmp_path / "copy.sigmf-data", part="data")
        assert got.read_bytes() == data_path.read_bytes()
        client.recordings.delete(rec.id)
        with pytest.raises(NotFoundError):
            client.recordings.get(rec.id)
