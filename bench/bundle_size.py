"""Model bundle size (issue 12 §8): a 2-epoch convnext_tiny job, the bundle it writes now
against what the earlier layout wrote for the same trained model.

    .venv/bin/python bench/bundle_size.py

The job runs for real (its own database `heimdall_bench_bundle`, recreated; a small
signals dataset: size does not depend on it). "Before" is measured on the same trained
weights with the earlier layout's recipe: weights.pt (best epoch) and last.pt
(`torch.save` of float32 state dicts) and model.onnx (float32, constant-folded export),
beside the same JSON files. Prints a Markdown row for docs/performance.md.
"""

import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import recreate_database, use_database  # noqa: E402

BENCH_DB = "heimdall_bench_bundle"


def earlier_layout_bytes(model, example, names, json_bytes: int) -> int:
    """What the earlier code wrote: two float32 state dicts and a float32 ONNX export."""
    import torch

    state = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    weights = len(buffer.getvalue())  # weights.pt, and last.pt is the same size
    onnx = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.float().cpu().eval(),
            example,
            onnx,
            dynamo=False,
            input_names=names,
            output_names=["output"],
            opset_version=17,
        )
    return 2 * weights + len(onnx.getvalue()) + json_bytes


def main() -> None:
    use_database(BENCH_DB)
    recreate_database(BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
    os.environ["HEIMDALL_TASK_BACKEND"] = "inprocess"
    os.environ.setdefault("HEIMDALL_ARTIFACT_ROOT", tempfile.mkdtemp(prefix="heimdall-bundle-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import torch
    from django.core.files.storage import default_storage

    from apps.ml import bundles
    from apps.ml.models import MLModel
    from apps.training.config import resolve_config
    from apps.training.convnext import convnext
    from apps.training.export import onnx_state
    from apps.training.generator import DEFAULT_PARAMETERS
    from apps.training.models import SyntheticDataset, TrainingJob
    from apps.training.services import job_create
    from apps.training.tasks import generate_dataset, run_training_job

    params = {**DEFAULT_PARAMETERS, "num_samples": 160, "clip_samples": 4096, "receiver_seed": 1}
    dataset = SyntheticDataset.objects.create(
        name="bundle", dataset_type="signals", parameters=params, num_samples=160
    )
    assert generate_dataset(str(dataset.pk)) == "ready"
    config = resolve_config(
        {
            "model_architecture": "convnext_tiny",
            "epochs": 2,
            "batch_size": 32,
            "dataset_id": str(dataset.pk),
            "min_snr_db": -30,
            "pretrained": False,
        }
    )
    job = job_create(user=None, job_name="bundle size", config=config)
    assert run_training_job(str(job.pk)) == "completed", TrainingJob.objects.get(pk=job.pk)
    job = TrainingJob.objects.get(pk=job.pk)
    model = MLModel.objects.get(pk=job.metrics["model_id"])
    bundle, reason = bundles.model_bundle(model)
    assert reason is None, reason
    files = {item.name: default_storage.size(item.path) for item in bundle.files}
    manifest = default_storage.size(f"{bundle.folder}/{bundles.MANIFEST}")
    now = sum(files.values()) + manifest

    network = convnext("convnext_tiny", 8)
    network.load_state_dict(
        onnx_state(default_storage.open(model.artifact_path).read(), network.state_dict())
    )
    normalisation = default_storage.open(bundle.file("normalisation.json").path).read()
    input_shape = json.loads(normalisation)["input_shape"]
    example = (torch.zeros([2, *input_shape]),)
    json_bytes = files["normalisation.json"] + files["metrics.json"] + manifest
    before = earlier_layout_bytes(network, example, ["spectrogram"], json_bytes)
    mb = 1_000_000
    print(
        f"files now: { {k: round(v / mb, 2) for k, v in files.items()} } MB; "
        f"weights {job.metrics['weights_precision']} (accuracy float32 "
        f"{job.metrics['headline_float32']}, float16 {job.metrics['headline_float16']})"
    )
    print(
        f"| convnext_tiny, 2 epochs: model bundle | {now / mb:.1f} MB | earlier layout "
        f"(weights.pt + last.pt + model.onnx, float32) {before / mb:.1f} MB | "
        f"{now / before:.2f}× | one copy of the weights |"
    )


if __name__ == "__main__":
    main()
