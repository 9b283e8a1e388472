"""Every recordings endpoint, per role: anonymous 401; collector and trainer service
accounts 403 (no recordings permission); viewers read; operators and admins write
(deleting a recording: its uploader or an admin). A refused request changes nothing."""

import pytest

from apps.recordings.models import Recording, RecordingClip
from tests.helpers import assert_envelope, client_for, make_user
from tests.recordings.factories import upload, write_recording
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(operator_user, operator_client, tmp_path):
    StationFactory(id="twente-nl")
    meta, data = write_recording(
        tmp_path, seconds=0.2, annotations=[(0, 4800, {"core:label": "CW"})]
    )
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    recording = Recording.objects.get(pk=body["id"])
    clip = RecordingClip.objects.get(recording=recording)
    return recording, clip, (meta, data)


def requests(recording, clip, files):
    base = f"/api/v1/recordings/{recording.pk}"
    meta, data = files
    return {
        "list": lambda c: c.get("/api/v1/recordings"),
        "detail": lambda c: c.get(base),
        "download": lambda c: c.get(f"{base}/download?part=meta"),
        "clips": lambda c: c.get(f"{base}/annotations"),
        "clip": lambda c: c.get(f"{base}/annotations/{clip.pk}"),
        "upload": lambda c: upload(c, meta, data, websdr_station_id="twente-nl"),
        "analyze": lambda c: c.post(f"{base}/analyze", {}, format="json"),
        "add clip": lambda c: c.post(
            f"{base}/annotations",
            {"sample_start": 0, "sample_count": 100, "label": "FM"},
            format="json",
        ),
        "approve clip": lambda c: c.patch(
            f"{base}/annotations/{clip.pk}", {"approved": True}, format="json"
        ),
        "delete clip": lambda c: c.delete(f"{base}/annotations/{clip.pk}"),
        "delete": lambda c: c.delete(base),
    }


READS = {"list", "detail", "download", "clips", "clip"}


def snapshot():
    return (
        list(Recording.objects.order_by("id").values()),
        list(RecordingClip.objects.order_by("id").values()),
    )


@pytest.mark.parametrize("role", ["anonymous", "collector", "trainer", "viewer"])
def test_who_may_not(role, world, anon_client):
    recording, clip, files = world
    client = anon_client if role == "anonymous" else client_for(make_user(f"u-{role}", role))
    before = snapshot()
    for name, call in requests(recording, clip, files).items():
        response = call(client)
        if role == "anonymous":
            assert_envelope(response, 401, "AUTHENTICATION_REQUIRED")
        elif role == "viewer" and name in READS:
            assert response.status_code == 200, (name, response.content)
        else:
            assert_envelope(response, 403, "PERMISSION_DENIED")
    assert snapshot() == before


def test_operators_and_admins_may(world, admin_client, django_capture_on_commit_callbacks):
    recording, clip, files = world
    other = client_for(make_user("olaf", "operator"))
    calls = requests(recording, clip, files)
    with django_capture_on_commit_callbacks(execute=False):
        for name in ("upload", "analyze", "add clip", "approve clip"):
            assert calls[name](other).status_code in (200, 201, 202), name
    # deleting belongs to the uploader and admins
    Recording.objects.filter(pk=recording.pk).update(analysis_status="completed")
    assert_envelope(calls["delete"](other), 403, "PERMISSION_DENIED")
    assert calls["delete clip"](other).status_code == 204
    assert calls["delete"](admin_client).status_code == 204
