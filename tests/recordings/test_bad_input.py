"""Refused uploads: 400 naming the field, and nothing stored (no rows, no files)."""

import hashlib
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from apps.recordings.models import Recording, RecordingClip
from tests.helpers import assert_envelope
from tests.recordings.factories import START, edit_meta, upload, write_recording
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def station(db):
    return StationFactory(id="twente-nl")


def nothing_stored():
    root = Path(default_storage.location)
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert files == []
    assert Recording.objects.count() == 0
    assert RecordingClip.objects.count() == 0


def two_captures(tmp_path):
    later = START + timedelta(seconds=0.05)
    return write_recording(
        tmp_path,
        seconds=0.1,
        sample_rate=48_000,
        captures=[(0, 7_100_000, START), (2400, 7_150_000, later)],
    )


def _drop(path: list):
    def change(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def _set(path: list, value):
    def change(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


CASES = {
    # the SigMF schema (the sigmf package's validator)
    "schema: no datatype": (_drop(["global", "core:datatype"]), "global.core:datatype"),
    "schema: sample rate not a number": (
        _set(["global", "core:sample_rate"], "fast"),
        "global.core:sample_rate",
    ),
    "schema: no captures list": (_drop(["captures"]), "captures"),
    "unknown datatype": (_set(["global", "core:datatype"], "cf16_be"), "global.core:datatype"),
    "no sample rate": (_drop(["global", "core:sample_rate"]), "global.core:sample_rate"),
    "capture without a frequency": (
        _drop(["captures", 1, "core:frequency"]),
        "captures[1].core:frequency",
    ),
    "capture without a time": (
        _drop(["captures", 1, "core:datetime"]),
        "captures[1].core:datetime",
    ),
    "capture time not a time": (
        _set(["captures", 0, "core:datetime"], "yesterday"),
        "captures[0].core:datetime",
    ),
    "capture in the future": (
        _set(["captures", 0, "core:datetime"], "2999-01-01T00:00:00Z"),
        "captures[0].core:datetime",
    ),
    "checksum mismatch": (_set(["global", "core:sha512"], "0" * 128), "global.core:sha512"),
    "captures out of sample order": (
        _set(["captures", 1, "core:sample_start"], 0),
        "captures[1].core:sample_start",
    ),
    "first capture not at sample 0": (
        _set(["captures", 0, "core:sample_start"], 100),
        "captures[0].core:sample_start",
    ),
    "sample rate zero (SigMF schema)": (
        _set(["global", "core:sample_rate"], 0),
        "global.core:sample_rate",
    ),
    "sample rate negative (SigMF schema)": (
        _set(["global", "core:sample_rate"], -48_000),
        "global.core:sample_rate",
    ),
    "sample rate NaN": (
        _set(["global", "core:sample_rate"], float("nan")),
        "global.core:sample_rate",
    ),
    "capture past the data": (
        _set(["captures", 1, "core:sample_start"], 10**6),
        "captures[1].core:sample_start",
    ),
    "annotation past the data": (
        lambda meta: meta["annotations"].append(
            {"core:sample_start": 4000, "core:sample_count": 1000, "core:label": "CW"}
        ),
        "annotations[0].core:sample_count",
    ),
    # What PostgreSQL cannot store, named before anything is written (a 500 before).
    "annotation label with NUL": (
        lambda meta: meta["annotations"].append(
            {"core:sample_start": 0, "core:sample_count": 10, "core:label": "C\x00W"}
        ),
        "annotations[0].core:label",
    ),
    "global key with NUL": (_set(["global", "x\x00"], 1), "global"),
    # A tiny sample rate: the samples end past the year 9999 (a 500 before).
    "sample rate so small the end is no time": (
        _set(["global", "core:sample_rate"], 1e-9),
        "captures[0].core:datetime",
    ),
    # The samples run into the future: analysis would make detections ingest refuses.
    "samples that end in the future": (
        _set(["global", "core:sample_rate"], 0.01),
        "captures[0].core:datetime",
    ),
    # Refused, not cut to the 64 characters a clip's label holds (two labels cut to one
    # would have silently merged two classes).
    "annotation label over 64 characters": (
        lambda meta: meta["annotations"].append(
            {"core:sample_start": 0, "core:sample_count": 10, "core:label": "X" * 65}
        ),
        "annotations[0].core:label",
    ),
    # Edges outside the recording's span (7 076 000-7 174 000 Hz) made a clip that no
    # PATCH could relabel or approve (the API checks the span).
    "annotation lower edge below the span": (
        lambda meta: meta["annotations"].append(
            {
                "core:sample_start": 0,
                "core:sample_count": 10,
                "core:freq_lower_edge": 7_000_000,
                "core:freq_upper_edge": 7_100_000,
            }
        ),
        "annotations[0].core:freq_lower_edge",
    ),
    "annotation edges relative to baseband": (
        lambda meta: meta["annotations"].append(
            {
                "core:sample_start": 0,
                "core:sample_count": 10,
                "core:freq_lower_edge": -500,
                "core:freq_upper_edge": 500,
            }
        ),
        "annotations[0].core:freq_lower_edge",
    ),
    "annotation upper edge above its capture's band": (
        lambda meta: meta["annotations"].append(
            {
                "core:sample_start": 2400,
                "core:sample_count": 10,
                "core:freq_lower_edge": 7_150_000,
                "core:freq_upper_edge": 7_200_000,
            }
        ),
        "annotations[0].core:freq_upper_edge",
    ),
    # Inside the recording's span but not in the band of the capture its samples lie in
    # (capture 0: 7 076 000-7 124 000 Hz): nothing of it in the samples (SNR -30 dB,
    # training segments of aliased noise).
    "annotation edges in another capture's band": (
        lambda meta: meta["annotations"].append(
            {
                "core:sample_start": 0,
                "core:sample_count": 10,
                "core:freq_lower_edge": 7_150_000,
                "core:freq_upper_edge": 7_151_000,
            }
        ),
        "annotations[0].core:freq_lower_edge",
    ),
    "annotation across captures that share no frequency": (
        lambda meta: meta["annotations"].append(
            {
                "core:sample_start": 2000,
                "core:sample_count": 1000,
                "core:freq_lower_edge": 7_100_000,
                "core:freq_upper_edge": 7_101_000,
            }
        ),
        "annotations[0].core:freq_lower_edge",
    ),
    "annotation with one edge": (
        lambda meta: meta["annotations"].append(
            {"core:sample_start": 0, "core:sample_count": 10, "core:freq_lower_edge": 7_100_000}
        ),
        "annotations[0].core:freq_upper_edge",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_metadata(operator_client, station, tmp_path, case):
    change, field = CASES[case]
    meta, data = two_captures(tmp_path)
    edit_meta(meta, change)
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert error["details"]["field"] == field
    nothing_stored()


def test_data_length_disagrees_with_datatype(operator_client, station, tmp_path):
    meta, data = two_captures(tmp_path)
    data.write_bytes(data.read_bytes() + b"\x01\x02")  # half a ci16 sample more
    edit_meta(meta, _drop(["global", "core:sha512"]))
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "data")
    assert "not a whole number of ci16_le samples" in error["details"]["constraint"]
    nothing_stored()


def test_truncated_upload(operator_client, station, tmp_path):
    """The data file cut short in transit: its SHA-512 no longer matches the metadata's."""
    meta, data = two_captures(tmp_path)
    data.write_bytes(data.read_bytes()[:8000])
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert_envelope(response, 400, "VALIDATION_ERROR", "global.core:sha512")
    nothing_stored()


def test_truncated_archive(operator_client, station, tmp_path):
    meta, data = two_captures(tmp_path)
    archive = tmp_path / "x.sigmf"
    with tarfile.open(archive, "w") as tar:
        tar.add(meta, "x/x.sigmf-meta")
        tar.add(data, "x/x.sigmf-data")
    archive.write_bytes(archive.read_bytes()[:4096])
    response = upload(operator_client, archive_path=archive, websdr_station_id="twente-nl")
    assert_envelope(response, 400, "VALIDATION_ERROR", "archive")
    nothing_stored()


def test_meta_not_json_and_missing_parts(operator_client, station, tmp_path):
    meta, data = two_captures(tmp_path)
    meta.write_text("{not json")
    assert_envelope(
        upload(operator_client, meta, data, websdr_station_id="twente-nl"),
        400,
        "VALIDATION_ERROR",
        "meta",
    )
    assert_envelope(
        upload(operator_client, None, data, websdr_station_id="twente-nl"),
        400,
        "VALIDATION_ERROR",
        "meta",
    )
    assert_envelope(
        upload(operator_client, meta, None, websdr_station_id="twente-nl"),
        400,
        "VALIDATION_ERROR",
        "data",
    )
    nothing_stored()


def test_large_uploads_have_their_own_limit(operator_client, station, settings, tmp_path):
    """The 16 MiB API body limit does not apply to recordings; their own limit does."""
    settings.HEIMDALL_MAX_REQUEST_BYTES = 1000
    meta, data = two_captures(tmp_path)  # 19 kB of samples
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert response.status_code == 201, response.content
    settings.HEIMDALL_RECORDING_MAX_BYTES = 1000
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert Recording.objects.count() == 1
    assert hashlib.sha512(data.read_bytes()).hexdigest() == Recording.objects.get().data_sha512


def _archive(path, members):
    """A tar at `path` of (name, bytes or a TarInfo to add as is) members."""
    import io

    with tarfile.open(path, "w:gz" if str(path).endswith(".gz") else "w") as tar:
        for name, content in members:
            if isinstance(content, tarfile.TarInfo):
                tar.addfile(content)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def test_archive_that_unpacks_past_the_size_limit(operator_client, station, settings, tmp_path):
    """A compressed archive under the upload limit whose data file is over it (a
    decompression bomb) is refused before the data is unpacked."""
    meta, data = write_recording(tmp_path, seconds=1.0)
    archive = _archive(
        tmp_path / "bomb.sigmf.gz",
        [("x/x.sigmf-meta", meta.read_bytes()), ("x/x.sigmf-data", data.read_bytes())],
    )
    assert archive.stat().st_size < data.stat().st_size
    settings.HEIMDALL_RECORDING_MAX_BYTES = archive.stat().st_size + 4096
    response = upload(operator_client, archive_path=archive, websdr_station_id="twente-nl")
    error = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"]["field"] == "archive"
    nothing_stored()


def test_archive_with_too_many_members(operator_client, station, tmp_path):
    meta, data = write_recording(tmp_path, seconds=0.1)
    junk = [(f"x/junk{i}", b"") for i in range(1001)]
    archive = _archive(
        tmp_path / "many.sigmf.gz",
        [*junk, ("x/x.sigmf-meta", meta.read_bytes()), ("x/x.sigmf-data", data.read_bytes())],
    )
    response = upload(operator_client, archive_path=archive, websdr_station_id="twente-nl")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "archive")
    assert "more than 1000 members" in error["details"]["constraint"]
    nothing_stored()


def test_hostile_archives(operator_client, station, tmp_path):
    """Two metadata files, metadata without its data, a data member that is a symlink or a
    folder: 400 naming `archive`, nothing stored."""
    meta, data = write_recording(tmp_path, seconds=0.1)
    m, d = meta.read_bytes(), data.read_bytes()
    link = tarfile.TarInfo("x/x.sigmf-data")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    folder = tarfile.TarInfo("x/x.sigmf-data")
    folder.type = tarfile.DIRTYPE
    cases = {
        "two metas": [("a/a.sigmf-meta", m), ("b/b.sigmf-meta", m), ("a/a.sigmf-data", d)],
        "meta without data": [("x/x.sigmf-meta", m)],
        "data of another name": [("x/x.sigmf-meta", m), ("x/y.sigmf-data", d)],
        "symlinked data": [("x/x.sigmf-meta", m), ("", link)],
        "data is a folder": [("x/x.sigmf-meta", m), ("", folder)],
        "not a tar": None,
    }
    for case, members in cases.items():
        path = tmp_path / f"{case.replace(' ', '_')}.sigmf"
        if members is None:
            path.write_bytes(b"just some bytes" * 100)
        else:
            _archive(path, members)
        response = upload(operator_client, archive_path=path, websdr_station_id="twente-nl")
        assert_envelope(response, 400, "VALIDATION_ERROR", "archive")
    nothing_stored()


def test_archive_member_names_never_reach_the_file_system(operator_client, station, tmp_path):
    """Members named `../../x` (path traversal) are read, never extracted by name: the
    files land under recordings/<id>/ only."""
    meta, data = write_recording(tmp_path, seconds=0.1)
    archive = _archive(
        tmp_path / "up.sigmf",
        [("../../x.sigmf-meta", meta.read_bytes()), ("../../x.sigmf-data", data.read_bytes())],
    )
    response = upload(operator_client, archive_path=archive, websdr_station_id="twente-nl")
    assert response.status_code == 201, response.content
    root = Path(default_storage.location)
    recording_id = response.json()["id"]
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        f"recordings/{recording_id}/recording.sigmf-data",
        f"recordings/{recording_id}/recording.sigmf-meta",
    ]
    assert not (tmp_path.parent / "x.sigmf-meta").exists()


def test_a_multipart_body_cut_off_mid_file(operator_client, station, tmp_path):
    """The connection dropped mid-upload: the body ends inside the data part, without
    its closing boundary (and here no checksum to catch it). The incomplete part is not
    taken as a shorter data file: 400 naming `data`, nothing stored."""
    meta, data = two_captures(tmp_path)
    edit_meta(meta, _drop(["global", "core:sha512"]))
    boundary = "heimdallBoundary"

    def part(name, filename=None):
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()

    body = (
        part("websdr_station_id") + b"twente-nl\r\n"
        + part("meta", "x.sigmf-meta") + meta.read_bytes() + b"\r\n"
        + part("data", "x.sigmf-data") + data.read_bytes()[:8000]
    )  # fmt: skip
    response = operator_client.generic(
        "POST", "/api/v1/recordings", body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert_envelope(response, 400, "VALIDATION_ERROR", "data")
    nothing_stored()


def test_both_an_archive_and_a_pair(operator_client, station, tmp_path):
    meta, data = two_captures(tmp_path)
    archive = _archive(
        tmp_path / "x.sigmf",
        [("x/x.sigmf-meta", meta.read_bytes()), ("x/x.sigmf-data", data.read_bytes())],
    )
    files = {"archive": archive, "meta": meta}
    handles = {k: open(v, "rb") for k, v in files.items()}  # noqa: SIM115
    try:
        response = operator_client.post(
            "/api/v1/recordings", {**handles, "websdr_station_id": "twente-nl"}, format="multipart"
        )
    finally:
        for handle in handles.values():
            handle.close()
    assert_envelope(response, 400, "VALIDATION_ERROR", "archive")
    nothing_stored()
