"""GPU benchmark (issue 6): training jobs with `accelerator: "gpu"` against the same jobs
on the CPU of the same machine, the pipeline-vs-bare-loop ratio on the GPU, and a job
that runs out of GPU memory.

    python bench/gpu.py [--localization-epochs 30] [--convnext-epochs 8] [--cpu-epochs 3]

Meant for a machine with an NVIDIA GPU. It runs Heimdall embedded (SQLite, in-process
task workers: HEIMDALL_INPROCESS_WORKERS=1, one worker for the one device), so it needs
the Python packages only, no PostgreSQL or Redis. Every job goes the real way: created by
the service the API calls, dispatched on commit, run by the worker thread, its epochs
written as metric rows. Prints Markdown rows for docs/performance.md.
"""

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def use_embedded_mode() -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="heimdall.settings",
        HEIMDALL_VAR_DIR=tempfile.mkdtemp(prefix="heimdall-gpu-"),
        HEIMDALL_TASK_BACKEND="inprocess",
        HEIMDALL_INPROCESS_WORKERS="1",
        HEIMDALL_EMBEDDED_COLLECTORS="false",
    )


def run_job(dataset_id: str, name: str, **config) -> dict:
    """Create a job as the API does, wait for the worker to finish it, and time its epochs."""
    from training import make_job

    from apps.training.models import TrainingMetric

    job = make_job(dataset_id, name=name, pretrained=False, **config)
    while True:
        job.refresh_from_db()
        if job.status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.2)
    ends = list(
        TrainingMetric.objects.filter(training_job_id=job.pk, phase="train")
        .order_by("epoch")
        .values_list("timestamp", flat=True)
    )
    epoch_s = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]
    epoch = statistics.median(epoch_s) if epoch_s else float("nan")
    return {
        "status": job.status,
        "error": job.error_message,
        "epochs": job.current_epoch,
        "epoch_s": epoch,
        "samples_per_s": (job.train_samples or 0) / epoch,
        "wall_s": (job.completed_at - job.started_at).total_seconds() if job.started_at else 0,
        "metrics": job.metrics or {},
    }


def compare(label: str, dataset_id: str, gpu_epochs: int, cpu_epochs: int, quality, **config):
    """The job trained to the end on the GPU; on the CPU, a few epochs for their speed."""
    gpu = run_job(dataset_id, f"{label} gpu", accelerator="gpu", epochs=gpu_epochs,
                  warmup_epochs=1, **config)  # fmt: skip
    assert gpu["status"] == "completed", gpu["error"]
    cpu = run_job(dataset_id, f"{label} cpu", accelerator="cpu", epochs=cpu_epochs,
                  warmup_epochs=1, **config)  # fmt: skip
    assert cpu["status"] == "completed", cpu["error"]
    row = (
        f"| {label} | GPU {gpu['samples_per_s']:,.0f} samples/s ({gpu['epoch_s']:.2f} s/epoch; "
        f"{gpu['epochs']} epochs in {gpu['wall_s']:.0f} s, {quality(gpu['metrics'])}) | CPU "
        f"{cpu['samples_per_s']:,.0f} samples/s ({cpu['epoch_s']:.2f} s/epoch, {cpu['epochs']} "
        f"epochs) | {gpu['samples_per_s'] / cpu['samples_per_s']:.1f}× |"
    )
    print(row, flush=True)
    return row


def out_of_memory(dataset_id: str) -> str:
    """A job on a GPU squeezed to 1 % of its memory must end `failed`, saying so."""
    import torch

    torch.cuda.set_per_process_memory_fraction(0.01)
    try:
        result = run_job(dataset_id, "oom", accelerator="gpu", epochs=1, batch_size=512,
                         model_architecture="convnext_large", n_mels=64, n_fft=1024,
                         hop_length=128, warmup_epochs=0)  # fmt: skip
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    row = f"| out of GPU memory (convnext_large, batch 512, 1 % of the GPU) | job {result['status']}: {result['error'][:160]!r} |"  # noqa: E501
    print(row, flush=True)
    return row


def attempt(rows: list[str], produce) -> None:
    """One section; a failure is printed and the next section still runs (one lease)."""
    import traceback

    try:
        produced = produce()
    except Exception:
        traceback.print_exc()
        rows.append("| (section failed: see the log) |")
    else:
        rows.extend(produced if isinstance(produced, list) else [produced])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--localization-epochs", type=int, default=30)
    parser.add_argument("--convnext-epochs", type=int, default=8)
    parser.add_argument("--cpu-epochs", type=int, default=3)
    parser.add_argument("part", nargs="?", default="all", choices=["all", "jobs", "throughput"])
    args = parser.parse_args()
    use_embedded_mode()
    from training import bench_throughput, make_dataset, setup_django

    setup_django()
    import torch

    assert torch.cuda.is_available(), "no GPU here"
    rows = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {torch.cuda.get_device_name()}, "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} "
        "threads; embedded mode (SQLite, in-process worker).",
        "",
        "| job | GPU | CPU, same machine | speed-up |",
        "|---|---|---|---|",
    ]
    localization = make_dataset("localization")  # seed defaults: 10,000 samples
    signals = make_dataset("signals", num_samples=3_000, receiver_seed=11)
    jobs = args.part in ("all", "jobs")
    for architecture in ("deepsets", "set_transformer") if jobs else ():
        attempt(rows, lambda architecture=architecture: compare(
            f"{architecture}, seed-default data, batch 64", localization,
            args.localization_epochs, args.cpu_epochs,
            lambda m: f"median {m['model_median_error_m']:,.0f} m vs WLS "
                      f"{m['wls_median_error_m']:,.0f} m",
            model_architecture=architecture, batch_size=64, early_stop_patience=0,
        ))  # fmt: skip
    if jobs:
        attempt(rows, lambda: compare(
            "convnext_tiny, 3,000 signal clips, batch 32", signals, args.convnext_epochs,
            args.cpu_epochs,
            lambda m: f"{m['accuracy_snr_ge_10db']:.1%} at SNR ≥ 10 dB",
            model_architecture="convnext_tiny", batch_size=32, n_mels=64, n_fft=1024,
            hop_length=128, early_stop_patience=0,
        ))  # fmt: skip
    rows += ["", "| figure | Heimdall | baseline | ratio | target |", "|---|---|---|---|---|"]
    if args.part in ("all", "throughput"):
        attempt(rows, lambda: bench_throughput(rounds=3, device="cuda"))
    if jobs:
        rows.append("")
        attempt(rows, lambda: out_of_memory(signals))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
