"""`dataset_type: "recordings"` datasets from approved labelled clips, the data-check, and
ConvNeXt classification on recordings and on a mix with synthetic clips."""

import numpy as np
import pytest

from apps.recordings.models import Recording, RecordingClip
from apps.training import tasks
from apps.training.datasets import dataset_load
from apps.training.models import SyntheticDataset, TrainingJob
from tests.helpers import assert_envelope
from tests.recordings.factories import labelled_recording, upload
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
GENERATE = "/api/v1/training/synthetic/generate"


@pytest.fixture
def recording(operator_client, tmp_path):
    StationFactory(id="twente-nl")
    meta, data = labelled_recording(tmp_path)
    body = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
    return Recording.objects.get(pk=body["id"])


def approve(client, recording, labels, count):
    """Approve the first `count` clips of each label through the API."""
    for label in labels:
        clips = RecordingClip.objects.filter(recording=recording, label=label).order_by(
            "sample_start"
        )[:count]
        for clip in clips:
            response = client.patch(
                f"/api/v1/recordings/{recording.pk}/annotations/{clip.pk}",
                {"approved": True},
                format="json",
            )
            assert response.status_code == 200, response.content


def generate(client, capture, **params):
    with capture(execute=False):
        response = client.post(
            GENERATE,
            {
                "name": "from recordings",
                "dataset_type": "recordings",
                "clip_samples": 1024,
                **params,
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    assert tasks.generate_dataset(response.json()["id"]) == "ready"
    return SyntheticDataset.objects.get(pk=response.json()["id"])


def test_clip_snr_separates_signal_from_noise(recording):
    snr = {
        label: sorted(RecordingClip.objects.filter(label=label).values_list("snr_db", flat=True))
        for label in ("CW", "FM", "NOISE")
    }
    assert min(snr["CW"]) > 20 and min(snr["FM"]) > 10
    assert max(snr["NOISE"]) < 3


def test_dataset_from_approved_clips(
    operator_client, recording, django_capture_on_commit_callbacks
):
    approve(operator_client, recording, ("CW", "FM", "NOISE"), 4)
    dataset = generate(operator_client, django_capture_on_commit_callbacks, min_snr_db=10)
    # 0.1 s clips at 48 kHz = 2400 samples at 24 kHz: two 1024-sample segments each
    assert dataset.num_samples == 24
    assert dataset.statistics == {
        "classes": ["CW", "FM", "NOISE"],
        "per_class": [8, 8, 8],
        "recording_segments": 24,
        "recording_clips": 12,
        "short_clips": 0,
        "synthetic_samples": 0,
    }
    arrays = dataset_load(dataset)
    assert arrays["clips"].shape == (24, 1024) and arrays["approved"].all()
    assert np.abs(arrays["clips"]).max() == pytest.approx(1.0, abs=1e-5)
    # the CW segments: a tone at 0 Hz after mixing the clip's centre (7.103 MHz) down
    spectrum = np.abs(np.fft.fft(arrays["clips"][arrays["labels"] == 0][0]))
    assert int(np.argmax(spectrum)) == 0

    check = operator_client.get(
        f"/api/v1/training/data-check?dataset_id={dataset.pk}&model_architecture=convnext_tiny"
        "&min_snr_db=10"
    ).json()
    assert check["dataset_type"] == "recordings"
    assert check["per_class"] == {"CW": 8, "FM": 8, "NOISE": 8}
    assert check["trainable_labels"] == ["CW", "FM", "NOISE"]
    assert check["per_source"] == {"recording": 24, "synthetic": 0}
    assert check["trainable_samples"] == 24
    assert check["problems"] == [
        "class CW has 8 samples",
        "class FM has 8 samples",
        "class NOISE has 8 samples",
    ]


def test_only_approved_false_and_mix(
    operator_client, recording, django_capture_on_commit_callbacks
):
    approve(operator_client, recording, ("CW",), 2)
    dataset = generate(
        operator_client,
        django_capture_on_commit_callbacks,
        only_approved=False,
        min_snr_db=10,
        synthetic_samples=16,
        receiver_seed=1,
    )
    assert dataset.statistics["recording_clips"] == 18
    assert dataset.statistics["synthetic_samples"] == 16
    assert dataset.statistics["classes"] == ["CW", "FM", "NOISE", "AM", "USB", "LSB", "FSK", "PSK"]
    url = (
        f"/api/v1/training/data-check?dataset_id={dataset.pk}"
        "&model_architecture=convnext_tiny&min_snr_db=-30"
    )
    every = operator_client.get(url + "&only_approved=false").json()
    approved = operator_client.get(url).json()  # a job's default: only_approved true
    assert every["per_source"] == {"recording": 36, "synthetic": 16}
    assert approved["per_source"] == {"recording": 4, "synthetic": 16}
    assert approved["per_class"]["CW"] == 4 + every["per_class"]["CW"] - 12


def test_no_matching_clips_is_a_400(operator_client, recording):
    before = SyntheticDataset.objects.count()
    response = operator_client.post(
        GENERATE, {"name": "x", "dataset_type": "recordings"}, format="json"
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "only_approved")
    assert "18 labelled clips" in error["message"]
    assert SyntheticDataset.objects.count() == before


@pytest.mark.slow
def test_convnext_trains_on_recordings_and_on_a_mix(
    operator_client, recording, django_capture_on_commit_callbacks
):
    approve(operator_client, recording, ("CW", "FM", "NOISE"), 6)
    config = {
        "model_architecture": "convnext_tiny",
        "epochs": 1,
        "warmup_epochs": 0,
        "batch_size": 16,
        "n_mels": 32,
        "n_fft": 128,
        "hop_length": 64,
        "num_workers": 1,
        "freeze_backbone": True,
        "min_snr_db": 10,
    }
    for params, classes, samples in (
        ({}, ["CW", "FM", "NOISE"], 36),
        (
            {"synthetic_samples": 24, "receiver_seed": 2},
            ["CW", "FM", "NOISE", "AM", "USB", "LSB", "FSK", "PSK"],
            None,
        ),
    ):
        dataset = generate(
            operator_client, django_capture_on_commit_callbacks, min_snr_db=10, **params
        )
        with django_capture_on_commit_callbacks(execute=False):
            job = operator_client.post(
                "/api/v1/training/jobs",
                {
                    "job_name": "recordings",
                    "config": {**config, "dataset_id": str(dataset.pk)},
                },
                format="json",
            )
        assert job.status_code == 201, job.content
        assert tasks.run_training_job(job.json()["id"]) == "completed"
        done = TrainingJob.objects.get(pk=job.json()["id"])
        assert done.metrics["classes"] == classes
        if samples is not None:
            assert done.train_samples + done.val_samples == samples
        assert done.onnx_model_path


def test_the_labels_filter_is_normalised_like_the_labels(operator_client, recording):
    """The clips' labels are names (NFC, trimmed); the filter naming them is too: " CW\u200b"
    matched no clip (400 "no labelled recording clips match")."""
    approve(operator_client, recording, ("CW",), 2)
    response = operator_client.post(
        GENERATE,
        {"name": "x", "dataset_type": "recordings", "labels": [" CW\u200b", "Sprache\u0301"]},
        format="json",
    )
    assert response.status_code == 202, response.content
    dataset = SyntheticDataset.objects.get(pk=response.json()["id"])
    assert dataset.parameters["labels"] == ["CW", "Sprach\u00e9"]
    before = SyntheticDataset.objects.count()
    response = operator_client.post(
        GENERATE, {"name": "y", "dataset_type": "recordings", "labels": ["\u200b"]}, format="json"
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "labels" in str(error["details"])
    assert SyntheticDataset.objects.count() == before


@pytest.mark.parametrize("rate", [48e6, 100e6])
def test_clips_of_fast_recordings_resample_to_the_classifier_rate(tmp_path, rate):
    """A clip of a 48 MS/s or 100 MS/s recording becomes segments at 24 kHz: a tone 3 kHz
    above the clip's centre is at 3 kHz in the segment. (The ratio's denominator was
    limited to 1000: 48 MS/s came out at 48 kHz, over 48 MS/s raised ZeroDivisionError
    and failed the dataset.)"""
    from datetime import UTC, datetime

    from apps.recordings.clips import clip_segments
    from apps.recordings.sigmf_files import Capture, RecordingInfo

    clip_samples = 256
    n = int(clip_samples * rate / 24_000) + 10_000
    t = np.arange(n) / rate
    samples = (0.5 * np.exp(2j * np.pi * 3000 * t)).astype(np.complex64)
    path = tmp_path / "fast.sigmf-data"
    path.write_bytes(samples.tobytes())
    info = RecordingInfo(
        datatype="cf32_le", sample_rate=rate, sample_size=8, header_bytes=0, sample_count=n,
        captures=(Capture(0, 100_000_000, datetime(2026, 1, 1, tzinfo=UTC)),), annotations=(),
    )  # fmt: skip
    segments = clip_segments(
        str(path), info, sample_start=0, sample_count=n, freq_lower_edge=99_990_000,
        freq_upper_edge=100_010_000, target_rate=24_000, clip_samples=clip_samples,
    )  # fmt: skip
    assert segments.shape == (1, clip_samples)
    spectrum = np.abs(np.fft.fft(segments[0] * np.hanning(clip_samples)))
    peak_hz = np.fft.fftfreq(clip_samples, 1 / 24_000)[np.argmax(spectrum)]
    assert abs(peak_hz - 3000) <= 24_000 / clip_samples


def test_clips_shorter_than_a_segment_are_counted_not_silently_dropped(
    operator_client, recording, django_capture_on_commit_callbacks
):
    """0.1 s clips at 48 kHz hold 2400 samples at 24 kHz: with clip_samples 4096 they give
    no segment. One long clip (0.5 s) among them: the dataset says how many gave none;
    only short ones: the failure says why (it blamed approval and min_snr_db)."""
    approve(operator_client, recording, ("CW",), 3)
    with django_capture_on_commit_callbacks(execute=False):
        response = operator_client.post(
            GENERATE,
            {"name": "too short", "dataset_type": "recordings", "clip_samples": 4096,
             "labels": ["CW"]},
            format="json",
        )  # fmt: skip
    assert response.status_code == 202, response.content
    assert tasks.generate_dataset(response.json()["id"]) == "failed"
    failed = SyntheticDataset.objects.get(pk=response.json()["id"])
    assert "3 of the 3 selected clips are shorter than one clip_samples (4096)" in (
        failed.error_message
    )
    added = operator_client.post(
        f"/api/v1/recordings/{recording.pk}/annotations",
        {"sample_start": 0, "sample_count": 24_000, "label": "CW", "approved": True,
         "freq_lower_edge": 7_102_800, "freq_upper_edge": 7_103_200},
        format="json",
    )  # fmt: skip
    assert added.status_code == 201, added.content
    dataset = generate(
        operator_client, django_capture_on_commit_callbacks, clip_samples=4096, labels=["CW"],
        min_snr_db=-30,
    )  # fmt: skip
    assert dataset.statistics["recording_clips"] == 1
    assert dataset.statistics["short_clips"] == 3
    assert "short_clips" not in dataset_load(dataset)


def test_a_clip_across_a_retune_is_mixed_by_each_capture_s_centre(tmp_path):
    """Captures at 7.100 and 7.101 MHz, a carrier at 7.103 MHz throughout (+3 kHz, then
    +2 kHz in the samples). A clip across both: every segment has the carrier at 0 Hz
    (the first capture's centre for all samples put it at -1 kHz after the retune), and
    the SNR is measured within the first capture."""
    from datetime import UTC, datetime

    from apps.recordings.clips import clip_segments, clip_snr_db
    from apps.recordings.sigmf_files import Capture, RecordingInfo
    from tests.recordings.factories import tones

    rate, half = 48_000, 24_000
    samples = np.concatenate(
        [tones(half, rate, offsets_hz=(3000.0,)), tones(half, rate, offsets_hz=(2000.0,))]
    )
    path = tmp_path / "retune.sigmf-data"
    path.write_bytes(samples.astype("<c8").tobytes())
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    info = RecordingInfo(
        datatype="cf32_le", sample_rate=rate, sample_size=8, header_bytes=0,
        sample_count=2 * half,
        captures=(Capture(0, 7_100_000, t0), Capture(half, 7_101_000, t0)), annotations=(),
    )  # fmt: skip
    clip = {"sample_start": 20_000, "sample_count": 24_000,
            "freq_lower_edge": 7_102_900, "freq_upper_edge": 7_103_100}  # fmt: skip
    segments = clip_segments(str(path), info, **clip, target_rate=24_000, clip_samples=1024)
    assert len(segments) == 11
    freqs = np.fft.fftfreq(1024, 1 / 24_000)
    for segment in segments[2:]:  # after the retune
        assert abs(freqs[np.argmax(np.abs(np.fft.fft(segment)))]) <= 24_000 / 1024
    assert clip_snr_db(str(path), info, **clip) > 20


def test_a_dataset_whose_worker_died_is_failed_and_can_be_deleted(
    operator_client, recording, django_capture_on_commit_callbacks
):
    """A worker killed while generating left the dataset `generating` for ever, and a
    DELETE was a 409 for ever. Without progress for DATASET_STALE_AFTER it is stale: the
    periodic task fails it, and it may be deleted."""
    from datetime import timedelta

    from apps.core.timeutil import utc_now
    from apps.training import lifecycle

    approve(operator_client, recording, ("CW",), 2)
    with django_capture_on_commit_callbacks(execute=False):
        response = operator_client.post(
            GENERATE,
            {"name": "lost", "dataset_type": "recordings", "clip_samples": 1024},
            format="json",
        )
    dataset_id = response.json()["id"]
    assert lifecycle.dataset_claim(dataset_id)  # the worker claims it, then dies
    url = f"/api/v1/training/synthetic/datasets/{dataset_id}"
    assert_envelope(operator_client.delete(url), 409, "CONFLICT")
    assert lifecycle.datasets_fail_stale() == 0
    long_ago = utc_now() - lifecycle.DATASET_STALE_AFTER - timedelta(seconds=1)
    SyntheticDataset.objects.filter(pk=dataset_id).update(heartbeat_at=long_ago)
    assert lifecycle.datasets_fail_stale() == 1
    failed = SyntheticDataset.objects.get(pk=dataset_id)
    assert (failed.status, failed.error_message) == (
        "failed",
        "worker lost: no progress for 30 minutes",
    )
    # even before the periodic task: a stale generating dataset may be deleted
    SyntheticDataset.objects.filter(pk=dataset_id).update(status="generating")
    assert operator_client.delete(url).status_code == 204
