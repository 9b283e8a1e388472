"""/api/v1/recordings/{id}/annotations: list, add, relabel/approve (merge patch), delete."""

import pytest

from apps.recordings.models import Recording, RecordingClip
from tests.helpers import assert_envelope
from tests.recordings.factories import tones, upload, write_recording
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(operator_client, tmp_path):
    StationFactory(id="twente-nl")
    samples = tones(48_000, 48_000, offsets_hz=(3000.0,), amplitude=0.5, noise=0.01)
    meta, data = write_recording(
        tmp_path,
        sample_rate=48_000,
        samples=samples,
        frequency=7_100_000,
        annotations=[
            (
                0,
                4800,
                {
                    "core:label": "CW",
                    "core:comment": "beacon",
                    "core:freq_lower_edge": 7_102_800,
                    "core:freq_upper_edge": 7_103_200,
                },
            )
        ],
    )
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    return Recording.objects.get(pk=body["id"])


def url(recording, clip=None):
    base = f"/api/v1/recordings/{recording.pk}/annotations"
    return f"{base}/{clip}" if clip else base


def test_list_create_patch_delete(operator_client, viewer_client, operator_user, recording):
    listed = viewer_client.get(url(recording)).json()
    assert listed["pagination"]["total_items"] == 1
    imported = listed["data"][0]
    assert (imported["label"], imported["comment"], imported["source"]) == ("CW", "beacon", "sigmf")

    created = operator_client.post(
        url(recording),
        {
            "sample_start": 24_000,
            "sample_count": 9600,
            "label": "noise-only",
            "freq_lower_edge": 7_110_000,
            "freq_upper_edge": 7_111_000,
            "metadata": {"operator:note": "quiet", "keep": 1},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    clip = created.json()
    assert clip["snr_db"] < -5  # nothing above the floor between those edges
    assert clip["approved"] is False and clip["source"] == "operator"
    assert imported["snr_db"] > 20  # the tone at +3 kHz lies between the imported edges

    patched = operator_client.patch(
        url(recording, clip["id"]),
        {"label": "NOISE", "approved": True, "metadata": {"operator:note": None, "new": "x"}},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    body = patched.json()
    assert body["label"] == "NOISE" and body["approved"] is True
    assert body["approved_by"] == str(operator_user.pk)
    assert body["approved_at"] is not None
    assert body["metadata"] == {"keep": 1, "new": "x"}  # RFC 7396: null removes a key

    # relabelling an approved clip withdraws the approval unless it is given again
    relabelled = operator_client.patch(
        url(recording, clip["id"]), {"label": "FM"}, format="json"
    ).json()
    assert (relabelled["label"], relabelled["approved"], relabelled["approved_by"]) == (
        "FM",
        False,
        None,
    )
    approved = viewer_client.get(url(recording) + "?approved=true").json()
    assert approved["data"] == []

    assert operator_client.delete(url(recording, clip["id"])).status_code == 204
    assert list(RecordingClip.objects.values_list("label", flat=True)) == ["CW"]


def test_roles_and_bad_input(operator_client, viewer_client, recording):
    clip = RecordingClip.objects.get()
    before = list(RecordingClip.objects.values())
    assert_envelope(
        viewer_client.post(
            url(recording), {"sample_start": 0, "sample_count": 1, "label": "CW"}, format="json"
        ),
        403,
        "PERMISSION_DENIED",
    )
    assert_envelope(
        viewer_client.patch(url(recording, clip.pk), {"approved": True}, format="json"),
        403,
        "PERMISSION_DENIED",
    )
    assert_envelope(viewer_client.delete(url(recording, clip.pk)), 403, "PERMISSION_DENIED")
    cases = [
        ({"sample_start": 0, "sample_count": 48_001, "label": "CW"}, "sample_count"),
        ({"sample_start": -1, "sample_count": 1, "label": "CW"}, "sample_start"),
        ({"sample_start": 0, "sample_count": 10, "label": ""}, "label"),
        (
            {"sample_start": 0, "sample_count": 10, "label": "CW", "freq_lower_edge": 7_100_000},
            "freq_upper_edge",
        ),
        (
            {
                "sample_start": 0,
                "sample_count": 10,
                "label": "CW",
                "freq_lower_edge": 7_101_000,
                "freq_upper_edge": 7_100_000,
            },
            "freq_upper_edge",
        ),
        (
            {
                "sample_start": 0,
                "sample_count": 10,
                "label": "CW",
                "freq_lower_edge": 1_000,
                "freq_upper_edge": 2_000,
            },
            "freq_lower_edge",
        ),
    ]
    for body, field in cases:
        assert_envelope(
            operator_client.post(url(recording), body, format="json"),
            400,
            "VALIDATION_ERROR",
            field,
        )
    assert_envelope(
        operator_client.patch(url(recording, clip.pk), {"approved": "maybe"}, format="json"),
        400,
        "VALIDATION_ERROR",
        "approved",
    )
    assert_envelope(
        operator_client.patch(url(recording, clip.pk), {"sample_count": 10**6}, format="json"),
        400,
        "VALIDATION_ERROR",
        "sample_count",
    )
    assert list(RecordingClip.objects.values()) == before
    assert_envelope(
        viewer_client.get(url(recording, "0" * 8 + "-0000-0000-0000-" + "0" * 12)), 404, "NOT_FOUND"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sample_start": 0, "sample_count": 10, "label": "FM", "lable": "x"}, "lable"),
        ({"sample_start": 0, "sample_count": 10, "label": "FM", "approved": "yes"}, "approved"),
        ({"sample_start": "0", "sample_count": 10, "label": "FM"}, "sample_start"),
        ({"sample_start": 0, "sample_count": True, "label": "FM"}, "sample_count"),
    ],
)
def test_a_clip_with_an_unknown_key_or_a_non_json_type_is_refused(
    operator_client, recording, body, field
):
    """Typos and strings/booleans for numbers are named, never dropped or coerced."""
    before = RecordingClip.objects.count()
    response = operator_client.post(url(recording), body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR")
    assert response.json()["error"]["details"]["field"] == field
    assert RecordingClip.objects.count() == before


def test_analyze_options_with_an_unknown_key_are_refused(operator_client, recording):
    response = operator_client.post(
        f"/api/v1/recordings/{recording.pk}/analyze", {"window_second": 1.0}, format="json"
    )
    assert_envelope(response, 400, "VALIDATION_ERROR")
    assert response.json()["error"]["details"]["field"] == "window_second"
    recording.refresh_from_db()
    assert recording.analysis_status == Recording.AnalysisStatus.NOT_ANALYZED


def test_relabelling_or_approving_never_fails_on_the_stored_geometry(operator_client, recording):
    """A clip whose stored edges the API would not accept now (outside the span: made
    before uploads checked them) can still be relabelled and approved; moving it is
    checked."""
    clip = RecordingClip.objects.get(recording=recording)
    RecordingClip.objects.filter(pk=clip.pk).update(freq_lower_edge=-5, freq_upper_edge=100)
    response = operator_client.patch(
        url(recording, clip.pk), {"label": "FM", "approved": True}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["label"], response.json()["approved"]) == ("FM", True)
    assert_envelope(
        operator_client.patch(url(recording, clip.pk), {"freq_upper_edge": 200}, format="json"),
        400,
        "VALIDATION_ERROR",
        "freq_lower_edge",
    )


def test_proposed_clips_stay_inside_the_span(
    operator_client, tmp_path, django_capture_on_commit_callbacks
):
    """A carrier at the edge of the band proposes a clip whose edges are inside the
    recording's span, so that an operator can approve it."""
    from apps.recordings import tasks

    StationFactory(id="edge-nl")
    rate = 48_000
    samples = tones(rate, rate, offsets_hz=(23_990.0,), amplitude=0.5, noise=0.01)
    meta, data = write_recording(tmp_path, sample_rate=rate, samples=samples, frequency=7_100_000)
    body = upload(operator_client, meta, data, websdr_station_id="edge-nl").json()
    with django_capture_on_commit_callbacks(execute=False):
        response = operator_client.post(
            f"/api/v1/recordings/{body['id']}/analyze", {"fft_size": 256}, format="json"
        )
    assert response.status_code == 202
    assert tasks.analyze_recording(body["id"]) == "completed"
    proposed = list(RecordingClip.objects.filter(source="analysis"))
    assert proposed
    for clip in proposed:
        assert body["frequency_min_hz"] <= clip.freq_lower_edge <= clip.freq_upper_edge
        assert clip.freq_upper_edge <= body["frequency_max_hz"]
        response = operator_client.patch(
            f"/api/v1/recordings/{body['id']}/annotations/{clip.pk}",
            {"approved": True},
            format="json",
        )
        assert response.status_code == 200, response.content


def test_a_clip_s_edges_must_lie_in_its_capture_s_band(operator_client, tmp_path):
    """Two captures, 7.1 MHz then 7.2 MHz: a clip in the first with edges in the second's
    band was stored (inside the recording's span) with nothing of it in its samples."""
    from datetime import timedelta

    from tests.recordings.factories import START

    StationFactory(id="twente-nl")
    rate = 48_000
    meta, data = write_recording(
        tmp_path,
        sample_rate=rate,
        seconds=0.2,
        captures=[(0, 7_100_000, START), (4800, 7_200_000, START + timedelta(seconds=1))],
    )
    recording = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    base = f"/api/v1/recordings/{recording['id']}/annotations"
    clip = {"sample_start": 0, "sample_count": 2400, "label": "CW"}
    elsewhere = {"freq_lower_edge": 7_204_900, "freq_upper_edge": 7_205_100}
    assert_envelope(
        operator_client.post(base, {**clip, **elsewhere}, format="json"),
        400,
        "VALIDATION_ERROR",
        "freq_lower_edge",
    )
    across = {"sample_start": 4000, "sample_count": 2000, "label": "CW"}
    error = assert_envelope(
        operator_client.post(
            base, {**across, "freq_lower_edge": 7_100_000, "freq_upper_edge": 7_101_000},
            format="json",
        ),
        400,
        "VALIDATION_ERROR",
        "freq_lower_edge",
    )  # fmt: skip
    assert "share no frequency" in error["details"]["constraint"]
    here = {"freq_lower_edge": 7_102_900, "freq_upper_edge": 7_103_100}
    created = operator_client.post(base, {**clip, **here}, format="json")
    assert created.status_code == 201, created.content
    # moving it into the second capture without moving its edges: refused
    assert_envelope(
        operator_client.patch(
            f"{base}/{created.json()['id']}", {"sample_start": 4800}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
        "freq_lower_edge",
    )
    assert RecordingClip.objects.get().sample_start == 0


def test_metadata_cannot_shadow_a_clip_field_and_the_export_uploads_again(
    operator_client, recording, tmp_path
):
    """`metadata: {"core:freq_lower_edge": 5}` on a clip without edges was stored, and the
    download then held an annotation with one edge: an export no upload accepted. Keys
    of the clip's own fields are refused in metadata (named), old rows' are not exported,
    and a downloaded archive uploads again."""
    clip = {"sample_start": 10, "sample_count": 100, "label": "FM"}
    for key in ("core:freq_lower_edge", "core:label", "heimdall:approved"):
        assert_envelope(
            operator_client.post(url(recording), {**clip, "metadata": {key: 5}}, format="json"),
            400,
            "VALIDATION_ERROR",
            "metadata",
        )
    stored = RecordingClip.objects.get(recording=recording)
    assert_envelope(
        operator_client.patch(
            url(recording, stored.pk), {"metadata": {"core:sample_count": 1}}, format="json"
        ),
        400,
        "VALIDATION_ERROR",
        "metadata",
    )
    # a row from before the check: its metadata does not reach the export
    RecordingClip.objects.filter(pk=stored.pk).update(
        metadata={"core:freq_upper_edge": 5, "keep": 1}
    )
    exported = operator_client.get(f"/api/v1/recordings/{recording.pk}/download?part=meta")
    annotation = exported.json()["annotations"][0]
    assert annotation["core:freq_upper_edge"] == 7_103_200 and annotation["keep"] == 1
    archive = tmp_path / "back.sigmf"
    archive.write_bytes(
        b"".join(
            operator_client.get(f"/api/v1/recordings/{recording.pk}/download").streaming_content
        )
    )
    again = upload(operator_client, archive_path=archive)
    assert again.status_code == 201, again.content
    copied = RecordingClip.objects.get(recording_id=again.json()["id"])
    assert copied.approved is False
    assert not {"heimdall:approved", "heimdall:clip_id", "heimdall:snr_db"} & set(copied.metadata)
