"""Signal classification: mel spectrograms of I/Q, ConvNeXt, a job end to end."""

import numpy as np
import pytest
import torch
from django.core.files.storage import default_storage

from apps.ml.models import MLModel
from apps.training import tasks
from apps.training.convnext import VARIANTS, ConvNeXt
from apps.training.models import TrainingJob
from apps.training.spectrogram import log_mel, mel_filterbank

JOBS = "/api/v1/training/jobs"


@pytest.mark.parametrize(
    ("name", "parameters"),
    # The paper's sizes (ImageNet: 3 channels, 1,000 classes), as torchvision counts them.
    [("convnext_tiny", 28_589_128), ("convnext_small", 50_223_688),
     ("convnext_large", 197_767_336)],
)  # fmt: skip
def test_convnext_variants_have_the_papers_sizes(name, parameters):
    """The real modules, built on the meta device: shapes without storage or initialisation
    (convnext_large in milliseconds instead of seconds and 800 MB)."""
    depths, widths = VARIANTS[name]
    with torch.device("meta"):
        model = ConvNeXt(depths, widths, num_classes=1000, in_channels=3)
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_two_sided_mel_keeps_upper_and_lower_sideband_apart():
    t = np.arange(4096) / 24_000
    clips = np.stack([np.exp(2j * np.pi * 1500 * t), np.exp(-2j * np.pi * 1500 * t)])
    features = log_mel(clips, n_mels=64, n_fft=256, hop_length=128, sample_rate=24_000)
    assert features.shape == (2, 1, 64, 33)
    above = int(features[0, 0, :, 10].argmax())
    below = int(features[1, 0, :, 10].argmax())
    assert above > 32 > below and above + below == 63  # mirrored about 0 Hz
    bank = mel_filterbank(64, 256, 24_000)
    assert (bank.sum(axis=0) > 0).all()  # every bin feeds some band


def test_small_settings_are_stretched_to_the_networks_minimum():
    clips = np.ones((1, 1024), dtype=np.complex64)
    features = log_mel(clips, n_mels=8, n_fft=64, hop_length=64, sample_rate=24_000)
    assert features.shape == (1, 1, 32, 32)


@pytest.mark.slow
@pytest.mark.django_db
def test_convnext_job_trains_exports_and_registers(
    operator_client, django_capture_on_commit_callbacks
):
    import onnxruntime

    with django_capture_on_commit_callbacks(execute=True):
        dataset = operator_client.post(
            "/api/v1/training/synthetic/generate",
            {"name": "clips", "dataset_type": "signals", "num_samples": 80,
             "clip_samples": 1024, "receiver_seed": 3},
            format="json",
        ).json()  # fmt: skip
    assert tasks.generate_dataset(dataset["id"]) == "ready"
    config = {"model_architecture": "convnext_tiny", "epochs": 1, "warmup_epochs": 0,
              "batch_size": 16, "n_mels": 32, "n_fft": 128, "hop_length": 64,
              "num_workers": 2, "freeze_backbone": True, "min_snr_db": -30}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS, {"job_name": "classify", "config": config}, format="json"
        ).json()
    assert tasks.run_training_job(job["id"]) == "completed"
    done = TrainingJob.objects.get(pk=job["id"])
    assert str(done.dataset_id) == dataset["id"]  # the newest ready signals dataset
    assert (done.train_samples, done.val_samples) == (64, 16)
    assert 0.0 <= done.val_accuracy <= 1.0 and done.train_accuracy is not None
    metrics = done.metrics
    assert metrics["classes"] == ["CW", "AM", "USB", "LSB", "FM", "FSK", "PSK", "NOISE"]
    assert np.array(metrics["confusion_matrix"]).sum() == 16
    assert metrics["onnx_max_abs_difference"] < 1e-3

    registered = MLModel.objects.get(model_type="signal_classification")
    assert registered.config["model_architecture"] == "convnext_tiny"
    # The ONNX file classifies the same as the torch weights it came from.
    session = onnxruntime.InferenceSession(
        default_storage.open(done.onnx_model_path).read(), providers=["CPUExecutionProvider"]
    )
    spectrogram = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)
    onnx_logits = session.run(None, {"spectrogram": spectrogram})[0]
    from apps.training.convnext import convnext
    from apps.training.export import onnx_state

    model = convnext("convnext_tiny", 8).eval()
    model.load_state_dict(onnx_state(default_storage.open(registered.artifact_path).read(),
                                     model.state_dict()))  # fmt: skip
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(spectrogram)).numpy()
    assert np.abs(onnx_logits - torch_logits).max() < 1e-3
