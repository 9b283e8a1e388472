"""The work of a training job, step by step, in its worker.

Steps and progress (seed 001): initializing → preparing_data → training
(per epoch) → evaluating → exporting → done. One loop (`train`) serves both
pipelines — localization (apps.training.localization) and signal
classification (apps.training.classification) — which supply data, model,
loss and evaluation. The work reports through its JobRunner
(apps.training.lifecycle), which alone writes the job's state: this module
never writes the job row itself.

After every epoch the loop saves a resume checkpoint (model, optimizer,
plateau scheduler, best state, early-stopping counter, numpy and torch RNG
state): a job whose worker died is queued again and continues from it with
the same result it would have had. Cancellation is noticed after every
batch; a NaN/inf loss or out-of-memory ends the job `failed` with the
message.
"""

import io
import json
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.training.config import dataset_types_for, is_anomaly, is_localization
from apps.training.datasets import dataset_generate, dataset_load
from apps.training.models import SyntheticDataset, TrainingJob, TrainingMetric

logger = logging.getLogger(__name__)
Step = TrainingJob.Step


class TrainingFailed(Exception):
    pass


def _dataset_for(job: TrainingJob, runner, dataset_type: str) -> SyntheticDataset:
    """The job's dataset, else the newest ready one of the type, else one generated now."""
    from apps.training.generator import DEFAULT_PARAMETERS

    if job.dataset_id:
        dataset = SyntheticDataset.objects.get(pk=job.dataset_id)
        if dataset.status == SyntheticDataset.Status.PENDING:  # made for this job
            runner.note(f"Generating the {dataset.dataset_type} dataset {dataset.name}")
            dataset_generate(dataset_id=dataset.pk)
            dataset.refresh_from_db()
    else:
        dataset = (
            SyntheticDataset.objects.filter(
                status=SyntheticDataset.Status.READY, dataset_type=dataset_type
            )
            .order_by("-created_at")
            .first()
        )
        if dataset is None:
            params = dict(DEFAULT_PARAMETERS)
            dataset = SyntheticDataset.objects.create(
                name=f"Generated for job {job.job_name}",
                dataset_type=dataset_type,
                parameters=params,
                num_samples=params["num_samples"],
                created_by_id=job.created_by_id,
            )
            runner.note(f"Generating a {dataset_type} dataset with the defaults")
            dataset_generate(dataset_id=dataset.pk)
            dataset.refresh_from_db()
        runner.record(dataset=dataset)
        job.dataset = dataset
    if dataset.status != SyntheticDataset.Status.READY:
        raise TrainingFailed(f"dataset {dataset.pk} is {dataset.status}: {dataset.error_message}")
    if dataset.dataset_type not in dataset_types_for(job.model_architecture):
        raise TrainingFailed(
            f"{job.model_architecture} trains on {dataset_type} datasets; "
            f"dataset {dataset.pk} is {dataset.dataset_type}"
        )
    return dataset


def lr_factor(config: dict, epoch: int) -> float:
    warmup, total = config["warmup_epochs"], config["epochs"]
    if warmup and epoch < warmup:
        return (epoch + 1) / warmup
    if config["lr_scheduler"] == "cosine":
        progress = (epoch - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))
    if config["lr_scheduler"] == "step":
        return 0.5 ** ((epoch - warmup) // max(1, total // 3))
    return 1.0  # plateau: ReduceLROnPlateau acts on the validation loss


def pipeline_class(architecture: str):
    if is_localization(architecture):
        from apps.training.localization import LocalizationPipeline

        return LocalizationPipeline
    from apps.training.classification import ClassificationPipeline

    return ClassificationPipeline


def build_pipeline(job: TrainingJob, device, runner=None):
    """The job's pipeline on its dataset (generated first when the job has none)."""
    pipeline = pipeline_class(job.model_architecture)
    if runner is None:
        dataset = SyntheticDataset.objects.get(pk=job.dataset_id)
    else:
        dataset = _dataset_for(job, runner, pipeline.dataset_type)
    return pipeline(job.config, dataset_load(dataset), dataset.parameters, device)


def split(indices, validation_split: float, seed: int = 0):
    """(train, validation) indices: a seeded permutation of `indices` (or range(n))."""
    indices = np.arange(indices) if isinstance(indices, int | np.integer) else np.asarray(indices)
    order = indices[np.random.default_rng(seed).permutation(len(indices))]
    n_val = max(1, int(len(indices) * validation_split)) if len(indices) > 1 else 0
    return order[n_val:], order[:n_val]


def run_job(job: TrainingJob, runner, watch) -> str:
    """The work of a job (apps.training.lifecycle.JobRunner.run calls it); returns the
    job's final message."""
    if is_anomaly(job.model_architecture):  # numpy only: learnt from stored detections
        from apps.training.anomaly import run_anomaly_job

        return run_anomaly_job(job, runner, watch)
    import torch

    config = job.config
    runner.step(Step.PREPARING_DATA, 2.0, "Preparing data")
    device = torch.device("cuda" if config["accelerator"] == "gpu" else "cpu")
    pipeline = build_pipeline(job, device, runner)
    usable = pipeline.trainable_indices()
    if len(usable) < 2:
        raise TrainingFailed(
            f"{len(usable)} trainable samples at min_snr_db {config['min_snr_db']}: "
            "lower min_snr_db or use another dataset (GET /api/v1/training/data-check)"
        )
    seed = config.get("random_seed", 0)
    train_idx, val_idx = split(usable, config["validation_split"], seed)
    pipeline.fit_normalisation(train_idx)
    runner.record(
        dataset_size=len(pipeline), train_samples=len(train_idx), val_samples=len(val_idx)
    )

    from apps.training.export import initial_weights

    resume = load_resume(job)
    torch.manual_seed(seed)
    model = pipeline.build_model()
    if resume is not None:
        model.load_state_dict(resume["model"])
        started_from = resume["initialized_from"]
    else:
        started_from = initial_weights(
            model,
            architecture=config["model_architecture"],
            pipeline=pipeline,
            pretrained=config["pretrained"],
        )
    if config["freeze_backbone"] and hasattr(model, "backbone_parameters"):
        for parameter in model.backbone_parameters():
            parameter.requires_grad_(False)
    model.to(device)
    outcome = train(
        job,
        pipeline,
        model,
        train_idx,
        val_idx,
        watch,
        runner=runner,
        resume=resume,
        started_from=started_from,
    )

    runner.step(Step.EVALUATING, 92.0, "Evaluating on the validation set")
    model.load_state_dict(outcome.best_state)
    model.eval()
    precision = choose_precision(pipeline, model, val_idx)
    metrics = {
        **pipeline.evaluate(model, val_idx),
        "initialized_from": started_from,
        **precision,
        **outcome.summary(device),
    }

    runner.step(Step.EXPORTING, 96.0, "Exporting ONNX and saving the model bundle")
    from apps.training.export import onnx_export, register_bundle

    examples = pipeline.example_inputs(val_idx[:8])
    exported = getattr(pipeline, "export_model", lambda m: m)(model)
    onnx, difference = onnx_export(
        exported,
        examples,
        pipeline.input_names,
        pipeline.onnx_dynamic_axes,
        getattr(pipeline, "onnx_output_names", None),
        half_storage=precision["weights_precision"] == "float16",
    )
    metrics["onnx_max_abs_difference"] = difference
    calibrate = getattr(pipeline, "calibrate_export", None)
    if calibrate is not None:  # the served model's uncertainty, measured on validation data
        metrics["uncertainty_scales"] = calibrate(onnx, val_idx)
    job.refresh_from_db()
    registered = register_bundle(
        job,
        pipeline=pipeline,
        model=model,
        onnx=onnx,
        metrics=metrics,
        training_metrics=outcome.training_metrics(device),
    )
    bundle_dir = registered.artifact_path.rsplit("/", 1)[0]
    final = "Done"
    if job.auto_activate:
        from apps.training.activation import auto_activate

        final = auto_activate(registered, pipeline, val_idx, metrics)
    runner.record(
        checkpoint_path=registered.artifact_path,
        onnx_model_path=f"{bundle_dir}/model.onnx",
        metrics={**metrics, "model_id": str(registered.pk)},
    )
    return final


def choose_precision(pipeline, model, val_idx) -> dict:
    """Half-precision weights when the validation headline metric allows it (measured):
    the model's weights are rounded in place when they are kept in float16."""
    import torch

    full = pipeline.headline(model, val_idx)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    half = pipeline.headline(model, val_idx)
    allowed = pipeline.half_allowed(full, half)
    if not allowed:
        model.load_state_dict(saved)
    return {
        "weights_precision": "float16" if allowed else "float32",
        "headline_metric": pipeline.headline_name,
        "headline_float32": round(float(full), 4),
        "headline_float16": round(float(half), 4),
    }


@dataclass
class TrainOutcome:
    best_state: dict
    last_epoch: int
    best_epoch: int
    best_val_loss: float
    early_stopped: bool
    samples_seen: int
    seconds: float
    resumed_from_epoch: int | None
    final: dict

    def summary(self, device) -> dict:
        return {
            "epochs_run": self.last_epoch,
            "early_stopped": self.early_stopped,
            "train_seconds": round(self.seconds, 2),
            "samples_per_second": round(self.samples_seen / self.seconds, 1)
            if self.seconds
            else None,
            "device": str(device),
        }

    def training_metrics(self, device) -> dict:
        return {
            "epoch": self.last_epoch,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "training_loss": self.final.get("train_loss"),
            "validation_loss": self.final.get("val_loss"),
            "resumed_from_epoch": self.resumed_from_epoch,
            **self.summary(device),
        }


# --- resume checkpoints ---------------------------------------------------------------


def _checkpoint_path(job_id, epoch: int) -> str:
    return f"training/jobs/{job_id}/resume-{epoch}.pt"


def save_resume(job, runner, epoch: int, state: dict) -> None:
    """Write the epoch's checkpoint, point the job at it, then drop the previous one (a
    worker killed at any moment leaves a complete checkpoint behind)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = _checkpoint_path(job.pk, epoch)
    if default_storage.exists(path):
        default_storage.delete(path)
    path = default_storage.save(path, ContentFile(buffer.getvalue()))
    previous = TrainingJob.objects.filter(pk=job.pk).values_list("resume_checkpoint", flat=True)
    previous = previous.first()
    runner.checkpoint(path=path, epoch=epoch)
    if previous and previous != path and default_storage.exists(previous):
        default_storage.delete(previous)


def load_resume(job) -> dict | None:
    """The job's last checkpoint when it is being resumed, else None."""
    import torch

    if not (job.resume_count and job.resume_checkpoint):
        return None
    if not default_storage.exists(job.resume_checkpoint):
        logger.warning(
            "job %s: checkpoint %s is gone; starting over", job.pk, job.resume_checkpoint
        )
        return None
    with default_storage.open(job.resume_checkpoint, "rb") as handle:
        state = torch.load(io.BytesIO(handle.read()), map_location="cpu", weights_only=True)
    # Rows of the epochs after the checkpoint came from the lost worker: they are redone.
    TrainingMetric.objects.filter(training_job=job, epoch__gt=state["epoch"]).delete()
    return state


def _rng_state(rng) -> dict:
    return json.loads(json.dumps(rng.bit_generator.state))


def train(
    job,
    pipeline,
    model,
    train_idx,
    val_idx,
    watch,
    *,
    runner=None,
    resume=None,
    started_from: str = "",
) -> TrainOutcome:
    """The epoch loop; the best (lowest validation loss) state and the run's figures."""
    import torch

    config = job.config
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config["learning_rate"],
        weight_decay=config["weight_decay"],
    )
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        if config["lr_scheduler"] == "plateau"
        else None
    )
    rng = np.random.default_rng(config.get("random_seed", 0))
    batch, epochs = config["batch_size"], config["epochs"]
    every = config.get("metrics_every_n_batches", 0)
    best, best_state, best_epoch, stale, first = math.inf, None, 0, 0, 0
    samples_seen, seconds, final, early_stopped = 0, 0.0, {}, False
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        if plateau is not None and resume.get("plateau"):
            plateau.load_state_dict(resume["plateau"])
        rng.bit_generator.state = resume["numpy_rng"]
        torch.set_rng_state(resume["torch_rng"])
        if device.type == "cuda" and resume.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        best, best_epoch, stale = resume["best_val_loss"], resume["best_epoch"], resume["stale"]
        best_state = {k: v.to(device) for k, v in resume["best_state"].items()}
        first, samples_seen, seconds = resume["epoch"], resume["samples_seen"], resume["seconds"]
        final = resume.get("final", {})
    val_tensor = torch.from_numpy(val_idx).to(device)
    for epoch in range(first, epochs):
        started = time.perf_counter()
        if plateau is None:
            for group in optimizer.param_groups:
                group["lr"] = config["learning_rate"] * lr_factor(config, epoch)
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        order = torch.from_numpy(train_idx[rng.permutation(len(train_idx))]).to(device)
        loss_sum, correct_sum, seen, grad_norm = 0.0, 0, 0, 0.0
        for number, start in enumerate(range(0, len(order), batch), start=1):
            watch.check()
            idx = order[start : start + batch]
            loss, correct = pipeline.batch_loss(model, idx)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingFailed(
                    f"loss became {value} at epoch {epoch + 1}, batch {number}: "
                    "lower the learning rate or check the dataset"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # Kept as a tensor: float() here would make the CPU wait for the backward pass
            # on a GPU every batch instead of queueing the next one behind it.
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            loss_sum += value * len(idx)
            seen += len(idx)
            if correct is not None:
                correct_sum += int(correct)
            if every and number % every == 0:
                _metric(
                    job,
                    epoch + 1,
                    batch=number,
                    phase="train_batch",
                    train_loss=value,
                    learning_rate=lr,
                    gradient_norm=float(grad_norm),
                )
        model.eval()
        validation = pipeline.validate(model, val_tensor)
        if plateau is not None:
            plateau.step(validation["val_loss"])
        train_loss = loss_sum / max(1, seen)
        train_accuracy = correct_sum / seen if validation["val_accuracy"] is not None else None
        samples_seen += seen
        seconds += time.perf_counter() - started
        final = {"train_loss": train_loss, "val_loss": validation["val_loss"]}
        _metric(
            job,
            epoch + 1,
            phase="train",
            train_loss=train_loss,
            val_loss=validation["val_loss"],
            train_accuracy=train_accuracy,
            val_accuracy=validation["val_accuracy"],
            learning_rate=lr,
            gradient_norm=float(grad_norm),
        )
        improved = validation["val_loss"] < best
        if improved:  # kept on the device (a GPU copies in ~0.1 ms; to the CPU at the end)
            best, stale, best_epoch = validation["val_loss"], 0, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        early_stopped = bool(config["early_stop_patience"]) and (
            stale >= config["early_stop_patience"]
        )
        if runner is not None:
            if epoch + 1 < epochs and not early_stopped and best_state is not None:
                save_resume(
                    job,
                    runner,
                    epoch + 1,
                    {
                        "epoch": epoch + 1,
                        "model": _on_cpu(model.state_dict()),
                        "optimizer": optimizer.state_dict(),
                        "plateau": plateau.state_dict() if plateau is not None else None,
                        "numpy_rng": _rng_state(rng),
                        "torch_rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state(device)
                        if device.type == "cuda"
                        else None,
                        "best_val_loss": best,
                        "best_epoch": best_epoch,
                        "stale": stale,
                        "best_state": _on_cpu(best_state),
                        "samples_seen": samples_seen,
                        "seconds": seconds,
                        "final": final,
                        "initialized_from": started_from,
                    },
                )
            runner.epoch(
                epoch=epoch + 1,
                train_loss=train_loss,
                val_loss=validation["val_loss"],
                train_accuracy=train_accuracy,
                val_accuracy=validation["val_accuracy"],
                learning_rate=lr,
                progress=round(5 + 85 * (epoch + 1) / epochs, 1),
                message=f"Epoch {epoch + 1}/{epochs}: {validation['summary']}",
                **({"best_epoch": epoch + 1, "best_val_loss": best} if improved else {}),
            )
        if early_stopped:
            break
    if best_state is None:  # every validation loss was NaN
        raise TrainingFailed("the validation loss was never finite")
    last = epoch + 1 if epochs > first else first
    return TrainOutcome(
        best_state=_on_cpu(best_state),
        last_epoch=last,
        best_epoch=best_epoch,
        best_val_loss=best,
        early_stopped=early_stopped,
        samples_seen=samples_seen,
        seconds=seconds,
        resumed_from_epoch=resume["epoch"] if resume else None,
        final=final,
    )


def _on_cpu(state: dict) -> dict:
    """A copy of `state` as CPU tensors, made with one transfer per dtype: a GPU copies a
    few hundred small tensors to the host slower than one large one (ConvNeXt-T on an
    H100: 79 ms tensor by tensor, 46 ms in one transfer)."""
    import torch

    keys_by_dtype: dict = {}
    for key, tensor in state.items():
        keys_by_dtype.setdefault(tensor.dtype, []).append(key)
    copied = {}
    for keys in keys_by_dtype.values():
        flat = torch.cat([state[k].detach().reshape(-1) for k in keys]).cpu()
        for key, part in zip(keys, flat.split([state[k].numel() for k in keys]), strict=True):
            copied[key] = part.view(state[key].shape)
    return {key: copied[key] for key in state}


def _metric(job, epoch: int, **values) -> None:
    now = utc_now()
    ensure_partitions(TrainingMetric._meta.db_table, {now.date()})
    TrainingMetric.objects.create(training_job_id=job.pk, timestamp=now, epoch=epoch, **values)
