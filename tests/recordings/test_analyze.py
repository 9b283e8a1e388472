"""POST /recordings/{id}/analyze: the DSP over the file in windows, detections ingested
through the one ingest service, idempotent re-analysis, proposed clips."""

from datetime import timedelta

import numpy as np
import pytest

from apps.recordings import tasks
from apps.recordings.models import Recording, RecordingClip
from apps.signals.models import SignalDetection
from tests.helpers import assert_envelope
from tests.recordings.factories import START, tones, upload, write_recording
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(operator_client, tmp_path):
    StationFactory(id="twente-nl")
    rate = 48_000
    second = START + timedelta(seconds=10)
    samples = np.concatenate(
        [
            tones(rate, rate, offsets_hz=(5000.0,), seed=1),
            tones(rate, rate, offsets_hz=(-8000.0,), seed=2),
        ]
    )
    meta, data = write_recording(
        tmp_path,
        sample_rate=rate,
        samples=samples,
        captures=[(0, 7_100_000, START), (rate, 7_200_000, second)],
    )
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    return Recording.objects.get(pk=body["id"])


def analyze(client, recording, captured, **options):
    with captured(execute=False):
        response = client.post(f"/api/v1/recordings/{recording.pk}/analyze", options, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["analysis_status"] == "pending"
    assert tasks.analyze_recording(str(recording.pk)) == "completed"
    recording.refresh_from_db()
    return recording


def test_analyze_ingests_detections(operator_client, recording, django_capture_on_commit_callbacks):
    recording = analyze(
        operator_client,
        recording,
        django_capture_on_commit_callbacks,
        window_seconds=0.25,
        fft_size=1024,
    )
    summary = recording.analysis
    assert summary["windows"] == 8
    assert summary["detections_found"] == 8
    assert summary["detections_ingested"] == 8 and summary["duplicates"] == 0
    rows = list(SignalDetection.objects.order_by("detection_timestamp"))
    assert len(rows) == 8
    # absolute frequencies: capture frequency + tone offset (47 Hz bins at fft 1024)
    assert {abs(r.frequency_hz - 7_105_000) < 50 for r in rows[:4]} == {True}
    assert {abs(r.frequency_hz - 7_192_000) < 50 for r in rows[4:]} == {True}
    # timestamps from the captures, one per window
    assert [r.detection_timestamp for r in rows] == [
        START + timedelta(seconds=s) for s in (0, 0.25, 0.5, 0.75, 10, 10.25, 10.5, 10.75)
    ]
    assert rows[5].processing_metadata["recording_id"] == str(recording.pk)
    assert rows[5].processing_metadata["sample_offset"] == 48_000 + 12_000
    assert rows[5].processing_metadata["source"] == "recording"
    assert {r.websdr_station_id for r in rows} == {"twente-nl"}
    assert {r.modulation_type for r in rows} == {"CW"}
    # consecutive windows with the carrier: one proposed clip per capture
    proposed = list(RecordingClip.objects.filter(source="analysis").order_by("sample_start"))
    assert [(c.sample_start, c.sample_count, c.label, c.approved) for c in proposed] == [
        (0, 48_000, "CW", False),
        (48_000, 48_000, "CW", False),
    ]
    assert recording.analysis_progress_percent == 100.0


def test_reanalysis_is_idempotent(operator_client, recording, django_capture_on_commit_callbacks):
    analyze(operator_client, recording, django_capture_on_commit_callbacks, fft_size=1024)
    before = SignalDetection.objects.count()
    recording = analyze(
        operator_client, recording, django_capture_on_commit_callbacks, fft_size=1024
    )
    assert SignalDetection.objects.count() == before == recording.analysis["detections_found"]
    assert recording.analysis["detections_ingested"] == 0
    assert recording.analysis["duplicates"] == before
    assert RecordingClip.objects.filter(source="analysis").count() == 2


def test_reanalysis_with_other_options_stores_no_carrier_twice(
    operator_client, recording, django_capture_on_commit_callbacks
):
    """Other windows, other ids: a carrier an earlier analysis stored is that detection
    again (same samples, same frequency), not a new one."""
    capture = django_capture_on_commit_callbacks
    analyze(operator_client, recording, capture, window_seconds=0.25, fft_size=1024)
    first = set(SignalDetection.objects.values_list("id", flat=True))
    assert len(first) == 8
    recording = analyze(operator_client, recording, capture, window_seconds=0.5, fft_size=2048)
    assert set(SignalDetection.objects.values_list("id", flat=True)) == first
    summary = recording.analysis
    assert summary["detections_found"] == 4
    assert summary["detections_ingested"] == 0
    assert summary["duplicates"] == summary["stored_by_earlier_analysis"] == 4
    assert recording.analysis_message == "4 detections (0 new, 4 already stored)"
    # finer windows than both: each overlaps a stored one
    recording = analyze(operator_client, recording, capture, window_seconds=0.125, fft_size=512)
    assert recording.analysis["stored_by_earlier_analysis"] == 16
    assert set(SignalDetection.objects.values_list("id", flat=True)) == first


def test_reanalysis_with_other_options_stores_what_no_analysis_saw(
    operator_client, recording, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    analyze(operator_client, recording, capture, window_seconds=0.25, fft_size=1024)
    # As if the earlier analysis had not seen the second capture's carrier (a coarser FFT
    # missing a weak one): only that carrier is new to a re-analysis.
    SignalDetection.objects.filter(frequency_hz__gt=7_150_000).delete()
    kept = set(SignalDetection.objects.values_list("id", flat=True))
    recording = analyze(operator_client, recording, capture, window_seconds=0.5, fft_size=2048)
    summary = recording.analysis
    assert (summary["detections_ingested"], summary["stored_by_earlier_analysis"]) == (2, 2)
    added = SignalDetection.objects.exclude(id__in=kept)
    assert sorted(r.detection_timestamp for r in added) == [
        START + timedelta(seconds=10),
        START + timedelta(seconds=10.5),
    ]
    assert {abs(r.frequency_hz - 7_192_000) < 50 for r in added} == {True}


def test_analyze_conflicts_and_bad_options(
    operator_client, viewer_client, recording, django_capture_on_commit_callbacks
):
    url = f"/api/v1/recordings/{recording.pk}/analyze"
    assert_envelope(viewer_client.post(url, {}, format="json"), 403, "PERMISSION_DENIED")
    assert_envelope(
        operator_client.post(url, {"fft_size": 1000}, format="json"),
        400,
        "VALIDATION_ERROR",
        "fft_size",
    )
    assert_envelope(
        operator_client.post(url, {"window_seconds": 0}, format="json"),
        400,
        "VALIDATION_ERROR",
        "window_seconds",
    )
    recording.refresh_from_db()
    assert recording.analysis_status == "not_analyzed"
    with django_capture_on_commit_callbacks(execute=False):
        assert operator_client.post(url, {}, format="json").status_code == 202
    assert_envelope(operator_client.post(url, {}, format="json"), 409, "CONFLICT")
    assert_envelope(operator_client.delete(f"/api/v1/recordings/{recording.pk}"), 409, "CONFLICT")
    assert SignalDetection.objects.count() == 0


def test_windows_older_than_retention_are_skipped(
    operator_client, tmp_path, settings, django_capture_on_commit_callbacks
):
    StationFactory(id="twente-nl")
    old = START - timedelta(days=settings.HEIMDALL_DETECTION_RETENTION_DAYS + 1)
    meta, data = write_recording(tmp_path, seconds=0.5, start=old)
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    recording = analyze(
        operator_client, Recording.objects.get(pk=body["id"]), django_capture_on_commit_callbacks
    )
    assert recording.analysis["skipped_windows"] == recording.analysis["windows"] == 2
    assert SignalDetection.objects.count() == 0


def _uploaded(client, tmp_path, **kwargs) -> Recording:
    StationFactory(id="float-nl")
    meta, data = write_recording(tmp_path, datatype="cf32_le", **kwargs)
    response = upload(client, meta, data, websdr_station_id="float-nl")
    assert response.status_code == 201, response.content
    return Recording.objects.get(pk=response.json()["id"])


def test_windows_with_nan_samples_are_counted_not_silently_empty(
    operator_client, tmp_path, django_capture_on_commit_callbacks
):
    """Floating-point data with a NaN: that window has no spectrum; it is skipped and
    counted, and the other windows are analysed."""
    samples = tones(48_000, 48_000, offsets_hz=(5000.0,))
    samples[100:200] = np.nan
    recording = _uploaded(operator_client, tmp_path, samples=samples, sample_rate=48_000)
    recording = analyze(
        operator_client, recording, django_capture_on_commit_callbacks, fft_size=1024
    )
    assert recording.analysis["nonfinite_windows"] == 1
    assert recording.analysis["windows"] == 4
    assert SignalDetection.objects.count() == 3


def test_carriers_ingest_cannot_store_are_counted_not_fatal(
    operator_client, tmp_path, django_capture_on_commit_callbacks
):
    """cf32 data far beyond full scale gives carriers over +100 dB, which ingest refuses:
    they used to fail the whole analysis; now they are counted and the rest is stored."""
    samples = tones(48_000, 48_000, offsets_hz=(5000.0,), amplitude=0.5, noise=0.01)
    samples[24_000:] *= 1e7  # the second half far beyond full scale
    recording = _uploaded(operator_client, tmp_path, samples=samples, sample_rate=48_000)
    recording = analyze(
        operator_client, recording, django_capture_on_commit_callbacks, fft_size=1024
    )
    summary = recording.analysis
    assert summary["unstorable_carriers"] >= 2
    assert SignalDetection.objects.count() == summary["detections_found"] >= 2
    assert SignalDetection.objects.filter(signal_strength_db__gt=100).count() == 0


def test_detections_that_expire_while_the_analysis_runs_are_skipped(
    operator_client, recording, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The retention cutoff moves at midnight UTC while a long analysis runs: detections
    that have expired by the time their batch is sent are counted, not sent (ingest would
    refuse the batch and fail the analysis)."""
    from apps.recordings import analysis

    later = START + timedelta(days=settings.HEIMDALL_DETECTION_RETENTION_DAYS + 1)
    calls = {"n": 0}
    real = analysis.retention_cutoff

    def moving_cutoff(now):
        calls["n"] += 1  # the first call: the windows' check; later ones: at each batch
        return real(now) if calls["n"] == 1 else real(later)

    monkeypatch.setattr(analysis, "retention_cutoff", moving_cutoff)
    monkeypatch.setattr("apps.signals.services.retention_cutoff", lambda now: real(later))
    recording = analyze(
        operator_client, recording, django_capture_on_commit_callbacks, fft_size=1024
    )
    assert recording.analysis["expired_detections"] == recording.analysis["detections_found"]
    assert SignalDetection.objects.count() == 0


def test_a_window_is_capped_in_samples_not_only_in_seconds(
    operator_client, tmp_path, django_capture_on_commit_callbacks
):
    """`window_seconds: 10` at 100 MS/s asked a worker for a 1e9-sample window in memory
    (8 GB, whatever the file's size): over MAX_WINDOW_SAMPLES it is a 400 naming
    window_seconds, and the default shortens itself to fit."""
    from apps.recordings.services import MAX_WINDOW_SAMPLES

    StationFactory(id="fast-nl")
    rate = 100e6
    meta, data = write_recording(
        tmp_path, sample_rate=rate, samples=tones(20_000, rate, offsets_hz=(5e6,)),
        frequency=100_000_000,
    )  # fmt: skip
    body = upload(operator_client, meta, data, websdr_station_id="fast-nl").json()
    url = f"/api/v1/recordings/{body['id']}/analyze"
    error = assert_envelope(
        operator_client.post(url, {"window_seconds": 10}, format="json"),
        400,
        "VALIDATION_ERROR",
        "window_seconds",
    )
    assert str(MAX_WINDOW_SAMPLES) in error["details"]["constraint"]
    assert Recording.objects.get(pk=body["id"]).analysis_status == "not_analyzed"
    recording = analyze(
        operator_client, Recording.objects.get(pk=body["id"]), django_capture_on_commit_callbacks
    )
    window = recording.analysis["options"]["window_seconds"]
    assert window * rate <= MAX_WINDOW_SAMPLES and window > 0.1
    assert recording.analysis["windows"] == 1
    # too fast for even the shortest window: said so, not an impossible bound
    Recording.objects.filter(pk=recording.pk).update(sample_rate=1e11)
    error = assert_envelope(
        operator_client.post(url, {}, format="json"), 400, "VALIDATION_ERROR", "window_seconds"
    )
    assert "too fast to analyze" in error["details"]["constraint"]


def test_an_analysis_whose_worker_died_can_be_asked_again_and_deleted(
    operator_client, recording, django_capture_on_commit_callbacks
):
    """A worker killed mid-analysis (out of memory, a deploy) left the recording `running`
    for ever: 409 to analyze it again and 409 to delete it. Without progress for
    ANALYSIS_STALE_AFTER it is stale: the periodic task fails it, and a request may
    analyze it again (or delete it) even before that."""
    from apps.core.timeutil import utc_now
    from apps.recordings.services import ANALYSIS_STALE_AFTER, analyses_fail_stale

    url = f"/api/v1/recordings/{recording.pk}/analyze"
    with django_capture_on_commit_callbacks(execute=False):
        assert operator_client.post(url, {}, format="json").status_code == 202
    # the worker claims it, then dies
    Recording.objects.filter(pk=recording.pk).update(
        analysis_status="running", analysis_heartbeat_at=utc_now()
    )
    assert_envelope(operator_client.post(url, {}, format="json"), 409, "CONFLICT")
    assert analyses_fail_stale() == 0  # alive a moment ago
    long_ago = utc_now() - ANALYSIS_STALE_AFTER - timedelta(seconds=1)
    Recording.objects.filter(pk=recording.pk).update(analysis_heartbeat_at=long_ago)
    recording = analyze(
        operator_client, recording, django_capture_on_commit_callbacks, fft_size=1024
    )
    assert recording.analysis["detections_found"] == SignalDetection.objects.count() > 0
    # the periodic task: a stale running analysis is failed with the reason
    Recording.objects.filter(pk=recording.pk).update(
        analysis_status="running", analysis_heartbeat_at=long_ago
    )
    assert analyses_fail_stale() == 1
    recording.refresh_from_db()
    assert recording.analysis_status == "failed"
    assert recording.analysis_error.startswith("worker lost")
    # a stale pending one (its task lost) does not block deleting
    Recording.objects.filter(pk=recording.pk).update(
        analysis_status="pending", analysis_heartbeat_at=long_ago
    )
    assert operator_client.delete(f"/api/v1/recordings/{recording.pk}").status_code == 204


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_analyze_requests_and_tasks(tmp_path):
    """Two requests at once: one 202, one 409. Two workers given the same task at once
    (a re-delivered message): one analyzes, the other skips; nothing is stored twice."""
    import threading

    from django.db import connection

    from apps.recordings import services
    from tests.helpers import client_for, make_user

    StationFactory(id="twente-nl")
    client = client_for(make_user("olga", "operator"))
    meta, data = write_recording(tmp_path, seconds=1.0, sample_rate=48_000)
    body = upload(client, meta, data, websdr_station_id="twente-nl").json()
    recording = Recording.objects.get(pk=body["id"])
    barrier = threading.Barrier(2)
    outcomes = []

    def request():
        try:
            barrier.wait()
            services.recording_analyze_request(recording=recording, options={"fft_size": 1024})
            outcomes.append("queued")
        except Exception as exc:  # the outcome is what the test reads
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["Conflict", "queued"]

    results = []

    def work():
        try:
            barrier.wait()
            results.append(tasks.analyze_recording(str(recording.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["completed", "skipped"]
    recording.refresh_from_db()
    assert SignalDetection.objects.count() == recording.analysis["detections_found"] > 0
