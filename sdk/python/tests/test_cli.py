"""The `heimdall` CLI as a user runs it: a subprocess against the live server."""

import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
import wave
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import URL, key

CLI = [sys.executable, "-m", "heimdall_sdk.cli"]


def heimdall(*args: str, env: dict | None = None, check: bool = True, **kw):
    full_env = {**os.environ, "HEIMDALL_URL": URL, "HEIMDALL_API_KEY": key("operator"),
                "COLUMNS": "200", **(env or {})}  # fmt: skip
    result = subprocess.run([*CLI, *args], env=full_env, capture_output=True, text=True, **kw)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_login_writes_a_0600_config_and_uses_it(tmp_path):
    config = tmp_path / "heimdall" / "config.json"
    env = {"HEIMDALL_CONFIG": str(config), "HEIMDALL_API_KEY": ""}
    out = heimdall(
        "login", "--url", URL, "--username", "live-viewer",
        "--password", os.environ["HEIMDALL_PASSWORD"], env=env,
    )  # fmt: skip
    assert "as live-viewer (viewer)" in out.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    stored = json.loads(config.read_text())
    assert stored["url"] == URL and stored["api_key"].startswith("hmd_")
    assert "password" not in config.read_text()
    listing = heimdall("stations", env={**env, "HEIMDALL_URL": ""})
    assert "twente-nl" in listing.stdout and "10 stations" in listing.stdout
    config.chmod(0o644)
    refused = heimdall("stations", env={**env, "HEIMDALL_URL": ""}, check=False)
    assert refused.returncode == 1 and "chmod 600" in refused.stderr


def test_credentials_come_from_the_environment_or_the_config_never_mixed(tmp_path):
    config = tmp_path / "config.json"
    saved = {"url": "http://heimdall.invalid:8000", "api_key": key("viewer")}
    config.write_text(json.dumps(saved))
    config.chmod(0o644)
    env = {"HEIMDALL_CONFIG": str(config)}
    # HEIMDALL_URL and HEIMDALL_API_KEY: the config file is not read, nor refused for its mode.
    assert "10 stations" in heimdall("stations", env=env).stdout
    config.chmod(0o600)
    # HEIMDALL_URL alone, naming another server: the saved key is not sent there.
    refused = heimdall("stations", env={**env, "HEIMDALL_API_KEY": ""}, check=False)
    assert refused.returncode == 1
    assert f"the saved API key is for {saved['url']}" in refused.stderr
    config.write_text(json.dumps({**saved, "url": URL + "/"}))
    assert "10 stations" in heimdall("stations", env={**env, "HEIMDALL_API_KEY": ""}).stdout


def test_unreadable_files_are_refused_saying_where_and_nothing_is_sent(tmp_path, db):
    freq = 14_450_000 + uuid.uuid4().int % 10_000
    ts = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    good = json.dumps({"websdr_station_id": "twente-nl", "frequency_hz": freq,
                       "signal_strength_db": -70.0, "detection_timestamp": ts})  # fmt: skip
    cases = {
        "a.jsonl": (f"{good}\nnot json\n", "a.jsonl, line 2: not JSON"),
        "b.jsonl": (f"{good}\n\n[1, 2]\n", "b.jsonl, line 3: not a JSON object"),
        "c.csv": (
            f"websdr_station_id,frequency_hz\ntwente-nl,{freq}\ntwente-nl,14.2 MHz\n",
            "c.csv, line 3: could not convert string to float",
        ),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        out = heimdall("ingest", str(tmp_path / name), check=False)
        assert out.returncode == 1 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    query = "SELECT count(*) FROM signals_signaldetection WHERE frequency_hz = %s"
    assert db.execute(query, [freq]).fetchone() == (0,)
    with wave.open(str(tmp_path / "24bit.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(8000)
        w.writeframes(bytes(300))
    (tmp_path / "text.wav").write_text("not a wav\n")
    (tmp_path / "x.sigmf-meta").write_text('{"global": {}}')
    (tmp_path / "y.sigmf-meta").write_text(json.dumps({
        "global": {"core:datatype": "cf32_le", "core:sample_rate": 8000},
        "captures": [{"core:frequency": 7_000_000}],
    }))  # fmt: skip
    for name, message in {
        "24bit.wav": "24-bit samples",
        "text.wav": "cannot read it",
        "x.sigmf-meta": "no 'core:datatype'",
        "y.sigmf-meta": "y.sigmf-data",
    }.items():
        out = heimdall("analyze", str(tmp_path / name), check=False)
        assert out.returncode == 2 and message in out.stdout + out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    for name, (text, message) in {
        "m.csv": ("websdr_station_id,signal_strength_db\ntwente-nl,-60 dB\n", "m.csv, line 2"),
        "m.json": ("not json", "m.json: not JSON"),
        "n.json": ("[1]", "measurements must be a list of objects"),
        "o.json": ('{"measurements": [], "power": 1}', "unknown fields ['power']"),
    }.items():
        (tmp_path / name).write_text(text)
        out = heimdall("localize", str(uuid.uuid4()), str(tmp_path / name), check=False)
        assert out.returncode == 1 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_models_and_analyze_wav_and_sigmf(tmp_path):
    assert "deepsets-default" in heimdall("models").stdout
    rate, tone = 8000, 1000
    samples = [int(20000 * math.sin(2 * math.pi * tone * i / rate)) for i in range(4096)]
    with wave.open(str(tmp_path / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    out = heimdall("analyze", str(tmp_path / "tone.wav"), "--frequency", "7000000").stdout
    assert "peak_frequency" in out and "7001000" in out
    import struct

    iq = b"".join(
        struct.pack(
            "<ff", math.cos(2 * math.pi * 500 * i / rate), math.sin(2 * math.pi * 500 * i / rate)
        )
        for i in range(2048)
    )
    (tmp_path / "rec.sigmf-data").write_bytes(iq)
    (tmp_path / "rec.sigmf-meta").write_text(json.dumps({
        "global": {"core:datatype": "cf32_le", "core:sample_rate": rate, "core:version": "1.0.0"},
        "captures": [{"core:sample_start": 0, "core:frequency": 14_000_000}],
        "annotations": [],
    }))  # fmt: skip
    out = heimdall("analyze", str(tmp_path / "rec.sigmf-meta")).stdout
    assert "14000500" in out
    # A capture without core:frequency: refused (its carriers would be 0 Hz offsets
    # printed as frequencies), unless the centre is given.
    (tmp_path / "rec.sigmf-meta").write_text(json.dumps({
        "global": {"core:datatype": "cf32_le", "core:sample_rate": rate, "core:version": "1.0.0"},
        "captures": [{"core:sample_start": 0}],
        "annotations": [],
    }))  # fmt: skip
    refused = heimdall("analyze", str(tmp_path / "rec.sigmf-meta"), check=False)
    assert refused.returncode == 2
    assert "captures[0].core:frequency" in refused.stdout + refused.stderr
    given = heimdall("analyze", str(tmp_path / "rec.sigmf-meta"), "--frequency", "7000000")
    assert "7000500" in given.stdout


@pytest.mark.slow
def test_ingest_resumes_after_interruption_without_duplicates(tmp_path, db):
    freq = 14_300_000 + uuid.uuid4().int % 10_000
    now = datetime.now(UTC) - timedelta(minutes=10)
    path = tmp_path / "detections.jsonl"
    count = 3000
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({
                "websdr_station_id": "twente-nl", "frequency_hz": freq,
                "signal_strength_db": -90 + (i % 50), "anomaly_score": 0.1,
                "detection_timestamp": (now + timedelta(milliseconds=i)).isoformat(),
            }) + "\n")  # fmt: skip
    checkpoint = path.with_name(path.name + ".heimdall-ingest")
    env = {**os.environ, "HEIMDALL_URL": URL, "HEIMDALL_API_KEY": key("operator")}
    proc = subprocess.Popen(
        [*CLI, "ingest", str(path), "--batch-size", "100"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (checkpoint.exists() and json.loads(checkpoint.read_text() or "{}").get("done")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-upload, possibly between a batch and its checkpoint
    proc.wait()
    done = json.loads(checkpoint.read_text())["done"]
    assert 0 < done < count
    (stored,) = db.execute(
        "SELECT count(*) FROM signals_signaldetection WHERE frequency_hz = %s", [freq]
    ).fetchone()
    assert done <= stored < count

    out = heimdall("ingest", str(path), "--batch-size", "500").stdout
    assert f"resumed at {done}" in out
    assert not checkpoint.exists()
    rows = db.execute(
        "SELECT count(*), count(DISTINCT id), count(DISTINCT detection_timestamp) "
        "FROM signals_signaldetection WHERE frequency_hz = %s",
        [freq],
    ).fetchone()
    assert rows == (count, count, count)
    again = heimdall("ingest", str(path), "--batch-size", "1000").stdout
    assert f"0 stored, {count} duplicates" in again
    assert db.execute(
        "SELECT count(*) FROM signals_signaldetection WHERE frequency_hz = %s", [freq]
    ).fetchone() == (count,)


def test_ingest_csv_and_a_bad_row_writes_nothing(tmp_path, db):
    freq = 14_400_000 + uuid.uuid4().int % 10_000
    ts = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    path = tmp_path / "d.csv"
    path.write_text(
        "websdr_station_id,frequency_hz,signal_strength_db,detection_timestamp\n"
        f"twente-nl,{freq},-70.5,{ts}\n"
        f"no-such-station,{freq},-70.5,{ts}\n"
    )
    bad = heimdall("ingest", str(path), check=False)
    assert bad.returncode == 1 and "detections[1].websdr_station_id" in bad.stderr
    query = "SELECT count(*) FROM signals_signaldetection WHERE frequency_hz = %s"
    assert db.execute(query, [freq]).fetchone() == (0,)
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    assert "1 stored, 0 duplicates" in heimdall("ingest", str(path), "--restart").stdout
    assert db.execute(query, [freq]).fetchone() == (1,)


def test_detections_follow_tails_the_live_feed(tmp_path):
    freq = 14_500_000 + uuid.uuid4().int % 10_000
    env = {**os.environ, "HEIMDALL_URL": URL, "HEIMDALL_API_KEY": key("viewer"), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [*CLI, "detections", "--station", "twente-nl", "--frequency-min", str(freq),
         "--frequency-max", str(freq), "--follow"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Ctrl-C as in a terminal, even when the suite runs as a background job (which
        # starts with SIGINT ignored, and so would the CLI: asyncio.run then never stops).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        line = ""
        while "following" not in line:
            line = proc.stdout.readline()
            assert line, "the CLI ended"
        path = tmp_path / "one.jsonl"
        ts = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
        deadline = time.monotonic() + 15
        import select

        while True:
            path.write_text(json.dumps({"websdr_station_id": "twente-nl", "frequency_hz": freq,
                                        "signal_strength_db": -55.0, "detection_timestamp": ts,
                                        "id": str(uuid.uuid4())}) + "\n")  # fmt: skip
            heimdall("ingest", str(path), "--restart")
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                line = proc.stdout.readline()
                break
            assert time.monotonic() < deadline
        assert f"twente-nl  {freq}  -55.0" in line
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_localize_from_a_csv(tmp_path, operator=None):
    import asyncio

    from heimdall_sdk import HeimdallClient

    async def make():
        async with HeimdallClient(URL, api_key=key("operator")) as c:
            made = await c.constellations.create(f"cli {uuid.uuid4().hex[:6]}")
            for s in ("twente-nl", "hackgreen-uk", "maasbree-nl"):
                await c.constellations.add_member(made.id, s)
            return made.id

    cid = asyncio.run(make())
    path = tmp_path / "m.csv"
    path.write_text(
        "websdr_station_id,signal_strength_db\ntwente-nl,-60\nhackgreen-uk,-75\nmaasbree-nl,-62\n"
    )
    out = heimdall("localize", cid, str(path), "--frequency", "14200000", "--method", "wls").stdout
    assert "(wls)" in out and "CEP50" in out


def test_recordings_upload_analyze_wait_list_and_annotations(tmp_path):
    from .test_recordings import _frequency, _start, write_sigmf

    freq, start = _frequency(), _start()
    meta, _ = write_sigmf(
        tmp_path / "pair", frequency=freq, start=start, name="cli_rec",
        annotations=[(0, 4800, {"core:label": "CW", "core:freq_lower_edge": freq + 2800,
                                "core:freq_upper_edge": freq + 3200})],
    )  # fmt: skip
    out = heimdall(
        "recordings", "upload", str(meta), "--station", "twente-nl", "--name", "cli rec",
        "--analyze", "--wait", "--window-seconds", "0.25", "--fft-size", "1024",
    ).stdout  # fmt: skip
    assert (
        f"at twente-nl: ci16_le, 48000 samples at 48000 Hz, {freq - 24000}–{freq + 24000} Hz" in out
    )
    assert "1 clips" in out
    assert "analysis completed: 4 windows: 4 detections (4 new, 0 already stored)" in out
    rec_id = out.split("recording ", 1)[1].split()[0]

    listing = heimdall("recordings", "list", "--frequency", str(freq)).stdout
    assert rec_id in listing and "1 recordings" in listing and "completed" in listing
    assert "0/2 approved" in listing  # the file's CW clip and the analysis' proposal

    clips = heimdall("recordings", "annotations", rec_id).stdout
    assert "2 clips, 0 approved" in clips
    assert f"{freq + 2800}" in clips and f"{freq + 3200}" in clips and "sigmf" in clips
    assert (
        "0 clips, 0 approved" in heimdall("recordings", "annotations", rec_id, "--approved").stdout
    )
    only_cw = heimdall("recordings", "annotations", rec_id, "--label", "CW", "--unapproved").stdout
    assert "CW" in only_cw and "clips, 0 approved" in only_cw

    # the same file again, as a .sigmf archive written by the sigmf package, without analysis
    from sigmf import sigmffile

    archive = tmp_path / "cli_rec.sigmf"
    sigmffile.fromfile(str(meta)).archive(str(archive))
    again = heimdall("recordings", "upload", str(archive), "--station", "twente-nl").stdout
    assert "48000 samples" in again and "analysis" not in again
    listing = heimdall("recordings", "list", "--frequency", str(freq)).stdout
    assert "2 recordings" in listing

    import asyncio
    import re

    from heimdall_sdk import HeimdallClient

    listed = set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", listing))
    assert len(listed) == 2 and rec_id in listed

    async def clean() -> None:
        async with HeimdallClient(URL, api_key=key("operator")) as c:
            for rid in listed:
                await c.recordings.delete(rid)

    asyncio.run(clean())


def test_recordings_upload_errors(tmp_path):
    from .test_recordings import _frequency, _start, write_sigmf

    meta, data = write_sigmf(tmp_path, frequency=_frequency(), start=_start())
    broken = json.loads(meta.read_text())
    del broken["captures"][0]["core:frequency"]
    meta.write_text(json.dumps(broken))
    bad = heimdall("recordings", "upload", str(meta), "--station", "twente-nl", check=False)
    assert bad.returncode == 1
    assert "400 VALIDATION_ERROR" in bad.stderr and "captures[0].core:frequency" in bad.stderr
    data.unlink()
    missing = heimdall("recordings", "upload", str(meta), check=False)
    assert missing.returncode == 2 and "rec.sigmf-data" in missing.stderr
    viewer = heimdall("recordings", "annotations", str(uuid.uuid4()), check=False,
                      env={"HEIMDALL_API_KEY": key("viewer")})  # fmt: skip
    assert viewer.returncode == 1 and "404 NOT_FOUND" in viewer.stderr
