"""The Django admin of recordings: deleting goes through the service (files removed, not
while analysed), labels and approval through the clip service (who approved, when)."""

from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from apps.core.timeutil import utc_now
from apps.recordings.models import Recording, RecordingClip
from tests.dashboard import data as factories
from tests.helpers import make_user
from tests.recordings.factories import upload, write_recording
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site(db):
    user = make_user("ada", "admin")
    client = Client()
    client.force_login(user, backend=factories.SESSION_BACKEND)
    return user, client


@pytest.fixture
def recording(operator_client, tmp_path):
    StationFactory(id="twente-nl")
    meta, data = write_recording(
        tmp_path,
        seconds=0.5,
        annotations=[
            (0, 4800, {"core:label": "CW"}),
            (4800, 4800, {"core:label": "FM"}),
        ],
    )
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    return Recording.objects.get(pk=body["id"])


def stored_files() -> list[Path]:
    root = Path(default_storage.location)
    return [p for p in root.rglob("*") if p.is_file()]


def change_url(recording) -> str:
    return f"/admin/recordings/recording/{recording.pk}/change/"


def test_admin_delete_removes_the_files_and_waits_for_the_analysis(
    admin_site, recording, django_capture_on_commit_callbacks
):
    _, client = admin_site
    assert len(stored_files()) == 2
    Recording.objects.filter(pk=recording.pk).update(
        analysis_status="running", analysis_heartbeat_at=utc_now()
    )
    delete = f"/admin/recordings/recording/{recording.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Recording.objects.filter(pk=recording.pk).exists()
    # no bulk delete: a queryset delete would leave the files behind
    changelist = client.get("/admin/recordings/recording/")
    assert b"delete_selected" not in changelist.content
    Recording.objects.filter(pk=recording.pk).update(analysis_status="completed")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete, {"post": "yes"})
    assert response.status_code == 302
    assert not Recording.objects.filter(pk=recording.pk).exists()
    assert stored_files() == []


def test_admin_approval_and_relabel_go_through_the_service(admin_site, recording):
    user, client = admin_site
    clips = list(RecordingClip.objects.filter(recording=recording).order_by("sample_start"))
    form = {
        "name": recording.name,
        "description": "",
        "clips-TOTAL_FORMS": "2",
        "clips-INITIAL_FORMS": "2",
        "clips-MIN_NUM_FORMS": "0",
        "clips-MAX_NUM_FORMS": "1000",
    }
    for index, clip in enumerate(clips):
        form[f"clips-{index}-id"] = str(clip.pk)
        form[f"clips-{index}-recording"] = str(recording.pk)
        form[f"clips-{index}-label"] = clip.label
    form["clips-0-approved"] = "on"
    form["clips-1-label"] = " NFM\u200b"
    response = client.post(change_url(recording), form)
    assert response.status_code == 302, response.content[:2000]
    first, second = (RecordingClip.objects.get(pk=c.pk) for c in clips)
    assert first.approved and first.approved_by_id == user.pk and first.approved_at
    assert (second.label, second.approved) == ("NFM", False)
    # the geometry is read-only here: a posted sample_start changes nothing
    form["clips-0-sample_start"] = "7"
    client.post(change_url(recording), form)
    assert RecordingClip.objects.get(pk=clips[0].pk).sample_start == 0
