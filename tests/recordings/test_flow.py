"""Recording → detections → labelled clips → dataset → classifier, through real django-q2
workers (the default cluster analyzes and builds the dataset, the training cluster trains),
as the Procfile runs them; the test process is the API."""

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from apps.recordings.models import Recording, RecordingClip
from apps.signals.models import SignalDetection
from apps.training.models import SyntheticDataset, TrainingJob
from tests.helpers import wait_for
from tests.recordings.factories import labelled_recording, upload
from tests.servers import qcluster
from tests.stations.factories import StationFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_recording_to_classifier_through_workers(operator_client, tmp_path):
    StationFactory(id="twente-nl")
    meta, data = labelled_recording(tmp_path, clips_per_class=4)
    with ExitStack() as stack:
        stack.enter_context(qcluster())
        stack.enter_context(qcluster("training"))
        recording = upload(operator_client, meta, data, websdr_station_id="twente-nl").json()
        rid = recording["id"]
        response = operator_client.post(
            f"/api/v1/recordings/{rid}/analyze", {"fft_size": 1024}, format="json"
        )
        assert response.status_code == 202, response.content
        done = wait_for(
            lambda: Recording.objects.filter(
                pk=rid, analysis_status__in=["completed", "failed"]
            ).first(),
            120,
            what="analysis",
        )
        assert done.analysis_status == "completed", done.analysis_error
        detections = SignalDetection.objects.filter(processing_metadata__recording_id=rid)
        assert detections.count() == done.analysis["detections_ingested"] > 0
        assert set(detections.values_list("websdr_station_id", flat=True)) == {"twente-nl"}

        # an operator approves the labelled clips (the file's annotations)
        clips = operator_client.get(f"/api/v1/recordings/{rid}/annotations?page_size=100").json()
        for clip in clips["data"]:
            if clip["source"] == "sigmf":
                patched = operator_client.patch(
                    f"/api/v1/recordings/{rid}/annotations/{clip['id']}",
                    {"approved": True},
                    format="json",
                )
                assert patched.status_code == 200
        assert RecordingClip.objects.filter(recording_id=rid, approved=True).count() == 12

        dataset = operator_client.post(
            "/api/v1/training/synthetic/generate",
            {
                "name": "flow",
                "dataset_type": "recordings",
                "clip_samples": 1024,
                "min_snr_db": 10,
            },
            format="json",
        ).json()
        ready = wait_for(
            lambda: SyntheticDataset.objects.filter(
                pk=dataset["id"], status__in=["ready", "failed"]
            ).first(),
            120,
            what="dataset",
        )
        assert ready.status == "ready", ready.error_message
        assert ready.statistics["classes"] == ["CW", "FM", "NOISE"]

        config = {
            "model_architecture": "convnext_tiny",
            "epochs": 1,
            "warmup_epochs": 0,
            "batch_size": 8,
            "n_mels": 32,
            "n_fft": 128,
            "hop_length": 64,
            "num_workers": 1,
            "freeze_backbone": True,
            "dataset_id": dataset["id"],
        }
        job = operator_client.post(
            "/api/v1/training/jobs", {"job_name": "flow", "config": config}, format="json"
        )
        assert job.status_code == 201, job.content
        trained = wait_for(
            lambda: TrainingJob.objects.filter(
                pk=job.json()["id"], status__in=["completed", "failed"]
            ).first(),
            300,
            what="training",
        )
    assert trained.status == "completed", trained.error_message
    assert trained.metrics["classes"] == ["CW", "FM", "NOISE"]
    assert trained.train_samples + trained.val_samples == 24
    assert not trained.worker.endswith(f":{os.getpid()}")  # ran in the training worker
