"""POST/GET/DELETE /api/v1/recordings and the download: pairs and archives, datatypes,
station binding, filters, roles."""

import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from sigmf import SigMFFile

from apps.recordings.models import Recording, RecordingClip
from tests.helpers import assert_envelope
from tests.recordings.factories import START, tones, upload, write_recording
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def station(db):
    return StationFactory(id="twente-nl", frequency_min=0, frequency_max=30_000_000)


def stored_files() -> list[str]:
    root = Path(default_storage.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("datatype", "sample_size"), [("ci16_le", 4), ("cf32_le", 8), ("cu8", 2), ("ri16_le", 2)]
)
def test_upload_pair_every_datatype(operator_client, station, tmp_path, datatype, sample_size):
    meta, data = write_recording(
        tmp_path,
        datatype=datatype,
        sample_rate=48_000,
        seconds=0.5,
        frequency=7_100_000,
        annotations=[
            (
                4800,
                9600,
                {
                    "core:label": "CW",
                    "core:freq_lower_edge": 7_102_900,
                    "core:freq_upper_edge": 7_103_100,
                },
            )
        ],
    )
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["datatype"] == datatype
    assert body["sample_count"] == 24_000
    assert body["data_bytes"] == 24_000 * sample_size
    assert body["websdr_station_id"] == "twente-nl"
    assert body["sample_rate"] == 48_000
    assert body["center_frequency_min_hz"] == body["center_frequency_max_hz"] == 7_100_000
    assert body["frequency_min_hz"] == 7_076_000
    assert body["frequency_max_hz"] == 7_124_000
    assert body["start_time"] == START.isoformat().replace("+00:00", "Z")
    assert body["end_time"] == (START + timedelta(seconds=0.5)).isoformat().replace("+00:00", "Z")
    assert body["analysis_status"] == "not_analyzed"
    assert body["clip_count"] == 1 and body["approved_clip_count"] == 0
    recording = Recording.objects.get(pk=body["id"])
    assert default_storage.open(recording.data_path).read() == data.read_bytes()
    clip = RecordingClip.objects.get(recording=recording)
    assert (clip.sample_start, clip.sample_count, clip.label, clip.approved, clip.source) == (
        4800,
        9600,
        "CW",
        False,
        "sigmf",
    )
    assert (clip.freq_lower_edge, clip.freq_upper_edge) == (7_102_900, 7_103_100)
    if datatype != "ri16_le":  # a real recording folds the tone onto -3 kHz too
        assert clip.snr_db > 20


def test_upload_archive_and_station_from_metadata(operator_client, station, tmp_path):
    samples = tones(12_000, 24_000)
    handle = SigMFFile(
        global_info={
            "core:datatype": "cf32_le",
            "core:sample_rate": 24_000,
            "core:version": "1.2.0",
            "core:hw": "twente-nl",
        },
    )
    data_path = tmp_path / "a.sigmf-data"
    data_path.write_bytes(samples.astype("<c8").tobytes())
    handle.set_data_file(str(data_path))
    handle.add_capture(
        0, {"core:frequency": 14_200_000, "core:datetime": START.isoformat().replace("+00:00", "Z")}
    )
    archive = tmp_path / "capture.sigmf"
    handle.tofile(str(archive))
    response = upload(operator_client, archive_path=archive)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["websdr_station_id"] == "twente-nl"  # from core:hw
    assert body["name"] == "capture"
    assert body["sample_count"] == 12_000


def test_station_from_extension_key_and_unknown_station(operator_client, station, tmp_path):
    meta, data = write_recording(
        tmp_path,
        seconds=0.1,
        extra_global={
            "heimdall:websdr_station_id": "twente-nl",
            "core:extensions": [{"name": "heimdall", "version": "1.0.0", "optional": True}],
        },
    )
    assert upload(operator_client, meta, data).json()["websdr_station_id"] == "twente-nl"
    meta, data = write_recording(tmp_path / "b", seconds=0.1)
    assert_envelope(
        upload(operator_client, meta, data), 400, "VALIDATION_ERROR", "websdr_station_id"
    )
    response = upload(operator_client, meta, data, websdr_station_id="nowhere")
    assert_envelope(response, 400, "VALIDATION_ERROR", "websdr_station_id")
    assert Recording.objects.count() == 1


def test_list_filters_detail_delete(operator_client, viewer_client, station, tmp_path):
    StationFactory(id="other", frequency_min=100_000_000, frequency_max=200_000_000)
    meta, data = write_recording(tmp_path / "a", frequency=7_100_000, seconds=0.1)
    first = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    later = START - timedelta(hours=2)
    meta, data = write_recording(tmp_path / "b", frequency=145_500_000, seconds=0.1, start=later)
    second = upload(operator_client, meta, data, websdr_station_id="other").json()

    def ids(query):
        response = viewer_client.get(f"/api/v1/recordings{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["data"]]

    assert ids("") == [first["id"], second["id"]]
    assert ids("?station=other") == [second["id"]]
    assert ids("?frequency=145500000") == [second["id"]]
    assert ids("?frequency=145600000") == []  # 145.5 MHz ± 24 kHz
    assert ids("?frequency_min=7000000&frequency_max=8000000") == [first["id"]]
    hour_ago = (START - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"?start_time={hour_ago}") == [first["id"]]
    assert ids(f"?end_time={hour_ago}") == [second["id"]]
    assert_envelope(
        viewer_client.get("/api/v1/recordings?frequency=abc"), 400, "VALIDATION_ERROR", "frequency"
    )
    assert_envelope(
        viewer_client.get("/api/v1/recordings?start_time=2024-13-45"),
        400,
        "VALIDATION_ERROR",
        "start_time",
    )
    assert_envelope(
        viewer_client.get("/api/v1/recordings?frequency_min=9&frequency_max=8"),
        400,
        "VALIDATION_ERROR",
        "frequency_max",
    )

    detail = viewer_client.get(f"/api/v1/recordings/{first['id']}")
    assert detail.status_code == 200
    assert detail.json()["meta"]["captures"][0]["core:frequency"] == 7_100_000

    assert_envelope(
        viewer_client.delete(f"/api/v1/recordings/{first['id']}"), 403, "PERMISSION_DENIED"
    )
    assert Recording.objects.count() == 2
    files_before = stored_files()
    assert len(files_before) == 4
    response = operator_client.delete(f"/api/v1/recordings/{first['id']}")
    assert response.status_code == 204
    assert list(Recording.objects.values_list("id", flat=True)) == [
        Recording.objects.get(pk=second["id"]).pk
    ]
    assert_envelope(viewer_client.get(f"/api/v1/recordings/{first['id']}"), 404, "NOT_FOUND")


def test_delete_removes_files(
    operator_client, station, tmp_path, django_capture_on_commit_callbacks
):
    meta, data = write_recording(tmp_path, seconds=0.1)
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    assert len(stored_files()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_client.delete(f"/api/v1/recordings/{body['id']}").status_code == 204
    assert stored_files() == []


def test_roles(anon_client, viewer_client, admin_client, station, tmp_path):
    meta, data = write_recording(tmp_path, seconds=0.1)
    assert_envelope(anon_client.get("/api/v1/recordings"), 401, "AUTHENTICATION_REQUIRED")
    assert_envelope(
        upload(viewer_client, meta, data, websdr_station_id="twente-nl"), 403, "PERMISSION_DENIED"
    )
    assert Recording.objects.count() == 0
    assert stored_files() == []
    assert upload(admin_client, meta, data, websdr_station_id="twente-nl").status_code == 201
    assert viewer_client.get("/api/v1/recordings").status_code == 200


def test_download_archive_round_trips(operator_client, viewer_client, station, tmp_path):
    meta, data = write_recording(
        tmp_path, seconds=0.2, annotations=[(0, 100, {"core:label": "CW"})]
    )
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl", name="my rec").json()
    response = viewer_client.get(f"/api/v1/recordings/{body['id']}/download")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="my_rec.sigmf"'
    content = b"".join(response.streaming_content)
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        names = sorted(tar.getnames())
        assert names == ["my_rec/my_rec.sigmf-data", "my_rec/my_rec.sigmf-meta"]
        assert tar.extractfile("my_rec/my_rec.sigmf-data").read() == data.read_bytes()
        exported = json.loads(tar.extractfile("my_rec/my_rec.sigmf-meta").read())
    assert exported["annotations"][0]["core:label"] == "CW"
    assert exported["annotations"][0]["heimdall:approved"] is False
    assert exported["global"]["heimdall:websdr_station_id"] == "twente-nl"
    # the archive is valid SigMF: the sigmf package reads it back, checksum included
    archive = tmp_path / "back.sigmf"
    archive.write_bytes(content)
    from sigmf import sigmffile

    back = sigmffile.fromarchive(str(archive))
    back.validate()
    assert np.allclose(back.read_samples(0, 10), sigmffile.fromfile(str(meta)).read_samples(0, 10))
    data_response = viewer_client.get(f"/api/v1/recordings/{body['id']}/download?part=data")
    assert b"".join(data_response.streaming_content) == data.read_bytes()
    assert_envelope(
        viewer_client.get(f"/api/v1/recordings/{body['id']}/download?part=x"),
        400,
        "VALIDATION_ERROR",
        "part",
    )


def test_station_with_recordings_cannot_be_deleted(admin_client, station, tmp_path):
    meta, data = write_recording(tmp_path, seconds=0.1)
    upload(admin_client, meta, data, websdr_station_id="twente-nl")
    error = assert_envelope(admin_client.delete("/api/v1/stations/twente-nl"), 409, "CONFLICT")
    # The answer names what holds the station: recordings, not detections it has none of.
    assert "has recordings;" in error["message"]
    assert "stored detections" not in error["message"]


def test_labels_comments_and_names_are_normalised_like_every_name(
    operator_client, station, tmp_path
):
    """Issue 12 §3's kind in uploaded SigMF: "FM", " FM\u200b" and an NFD "FMé" were three
    classes to training; a file name sent in NFD (macOS) was stored as such."""
    nfd, nfc = "Sprache\u0301", "Sprach\u00e9"
    meta, data = write_recording(
        tmp_path,
        name="Empfa\u0308nger",
        annotations=[
            (0, 4800, {"core:label": " FM\u200b", "core:comment": f" {nfd}\n"}),
            (4800, 4800, {"core:label": "FM"}),
            (9600, 4800, {"core:label": nfd}),
        ],
    )
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert response.status_code == 201, response.content
    recording = Recording.objects.get()
    assert recording.name == "Empf\u00e4nger"
    clips = RecordingClip.objects.order_by("sample_start")
    assert [(c.label, c.comment) for c in clips] == [("FM", nfc), ("FM", ""), (nfc, "")]
    listed = operator_client.get(
        f"/api/v1/recordings/{recording.pk}/annotations", {"label": f" {nfd} "}
    ).json()
    assert [clip["label"] for clip in listed["data"]] == [nfc]


def test_a_label_with_a_control_character_is_refused(operator_client, station, tmp_path):
    meta, data = write_recording(tmp_path, annotations=[(0, 4800, {"core:label": "F\x07M"})])
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert_envelope(response, 400, "VALIDATION_ERROR", "annotations[0].core:label")
    assert Recording.objects.count() == 0 and RecordingClip.objects.count() == 0
    assert stored_files() == []


def test_only_the_uploader_or_an_admin_deletes_a_recording(
    operator_client, admin_client, station, tmp_path, django_capture_on_commit_callbacks
):
    """Issue 12 §9's ownership kind: operator B deleted operator A's recording."""
    from tests.helpers import client_for, make_user

    other = client_for(make_user("bruno", "operator"))
    ids = []
    for index in range(2):
        meta, data = write_recording(tmp_path / str(index), seconds=0.1)
        ids.append(upload(operator_client, meta, data, websdr_station_id="twente-nl").json()["id"])
    files = stored_files()
    assert_envelope(other.delete(f"/api/v1/recordings/{ids[0]}"), 403, "PERMISSION_DENIED")
    assert Recording.objects.count() == 2 and stored_files() == files
    assert other.get(f"/api/v1/recordings/{ids[0]}").status_code == 200  # reading is team-wide
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_client.delete(f"/api/v1/recordings/{ids[0]}").status_code == 204
        assert admin_client.delete(f"/api/v1/recordings/{ids[1]}").status_code == 204
    assert Recording.objects.count() == 0 and stored_files() == []


def test_start_and_end_span_captures_out_of_time_order(operator_client, station, tmp_path):
    """Captures are ordered by sample, not by time: a later capture may be earlier in
    time. The recording's start and end are the earliest start and the latest end
    (the end was before the start, and time filters missed the recording)."""
    earlier = START - timedelta(hours=2)
    meta, data = write_recording(
        tmp_path,
        seconds=0.1,
        sample_rate=48_000,
        captures=[(0, 7_100_000, START), (2400, 7_100_000, earlier)],
    )
    response = upload(operator_client, meta, data, websdr_station_id="twente-nl")
    assert response.status_code == 201, response.content
    body = response.json()
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert body["start_time"] == iso(earlier)
    assert body["end_time"] == iso(START + timedelta(seconds=0.05))
    listed = operator_client.get(
        "/api/v1/recordings",
        {"start_time": iso(earlier - timedelta(minutes=1)), "end_time": iso(earlier)},
    ).json()
    assert [r["id"] for r in listed["data"]] == [body["id"]]
