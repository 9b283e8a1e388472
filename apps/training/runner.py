"""The training job runner: the worker-side body of a job, step by step.

Steps and progress (seed 001): initializing → preparing_data → training
(per epoch) → evaluating → exporting → done. One loop (`train`) serves both
pipelines — localization (apps.training.localization) and signal
classification (apps.training.classification) — which supply data, model,
loss and evaluation. Cancellation is noticed after every batch (JobWatch
polls the job's row in a thread); a NaN/inf loss or out-of-memory ends the
job `failed` with the message.
"""

import logging
import math

import numpy as np

from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.training.config import is_localization
from apps.training.models import SyntheticDataset, TrainingJob, TrainingMetric

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    pass


class TrainingFailed(Exception):
    pass


def _update(job_id, **fields) -> None:
    from apps.training.live import publish_job

    TrainingJob.objects.filter(pk=job_id).update(**fields)
    if {"step", "current_epoch", "status"} & set(fields):  # seed 000: every step and epoch
        publish_job(job_id)


def _dataset_for(job: TrainingJob, dataset_type: str) -> SyntheticDataset:
    """The job's dataset, else the newest ready one of the type, else one generated now."""
    from apps.training.generator import DEFAULT_PARAMETERS
    from apps.training.tasks import generate_dataset

    if job.dataset_id:
        dataset = job.dataset
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
            )
            _update(job.pk, message=f"Generating a {dataset_type} dataset with the defaults")
            generate_dataset(str(dataset.pk))
            dataset.refresh_from_db()
        TrainingJob.objects.filter(pk=job.pk).update(dataset=dataset)
    if dataset.status != SyntheticDataset.Status.READY:
        raise TrainingFailed(f"dataset {dataset.pk} is {dataset.status}: {dataset.error_message}")
    if dataset.dataset_type != dataset_type:
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


def build_pipeline(job: TrainingJob, device):
    from apps.training.services import dataset_load

    if is_localization(job.model_architecture):
        from apps.training.localization import LocalizationPipeline as Pipeline
    else:
        from apps.training.classification import ClassificationPipeline as Pipeline
    dataset = _dataset_for(job, Pipeline.dataset_type)
    return Pipeline(job.config, dataset_load(dataset), dataset.parameters, device)


def split(count: int, validation_split: float, seed: int = 0):
    order = np.random.default_rng(seed).permutation(count)
    n_val = max(1, int(count * validation_split))
    return order[n_val:], order[:n_val]


def run_job(job: TrainingJob, watch) -> None:
    import torch

    config = job.config
    _update(
        job.pk, step=TrainingJob.Step.PREPARING_DATA, progress_percent=2.0, message="Preparing data"
    )
    device = torch.device("cuda" if config["accelerator"] == "gpu" else "cpu")
    pipeline = build_pipeline(job, device)
    train_idx, val_idx = split(len(pipeline), config["validation_split"])
    pipeline.fit_normalisation(train_idx)
    _update(job.pk, dataset_size=len(pipeline), train_samples=len(train_idx),
            val_samples=len(val_idx))  # fmt: skip

    from apps.training.export import initial_weights

    torch.manual_seed(0)
    model = pipeline.build_model()
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
    best_state, last_state = train(job, pipeline, model, train_idx, val_idx, watch)

    _update(
        job.pk,
        step=TrainingJob.Step.EVALUATING,
        progress_percent=92.0,
        message="Evaluating on the validation set",
    )
    model.load_state_dict(best_state)
    model.eval()
    metrics = {**pipeline.evaluate(model, val_idx), "initialized_from": started_from}

    _update(
        job.pk,
        step=TrainingJob.Step.EXPORTING,
        progress_percent=96.0,
        message="Exporting ONNX and saving the model bundle",
    )
    from apps.training.export import onnx_export, register_bundle

    examples = pipeline.example_inputs(val_idx[:8])
    exported = getattr(pipeline, "export_model", lambda m: m)(model)
    onnx, difference = onnx_export(
        exported,
        examples,
        pipeline.input_names,
        pipeline.onnx_dynamic_axes,
        getattr(pipeline, "onnx_output_names", None),
    )
    metrics["onnx_max_abs_difference"] = difference
    calibrate = getattr(pipeline, "calibrate_export", None)
    if calibrate is not None:  # the served model's uncertainty, measured on validation data
        metrics["uncertainty_scales"] = calibrate(onnx, val_idx)
    job.refresh_from_db()
    registered = register_bundle(
        job,
        model_type=pipeline.model_type,
        best=best_state,
        last=last_state,
        onnx=onnx,
        normalisation=pipeline.normalisation,
        metrics=metrics,
    )
    bundle_dir = registered.artifact_path.rsplit("/", 1)[0]
    _update(
        job.pk,
        checkpoint_path=registered.artifact_path,
        onnx_model_path=f"{bundle_dir}/model.onnx",
        metrics={**metrics, "model_id": str(registered.pk)},
    )


def train(job, pipeline, model, train_idx, val_idx, watch) -> tuple[dict, dict]:
    """The epoch loop; returns the best (lowest validation loss) and last state dicts."""
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
    rng = np.random.default_rng(0)
    batch, epochs = config["batch_size"], config["epochs"]
    every = config.get("metrics_every_n_batches", 0)
    best, best_state, stale = math.inf, None, 0
    val_tensor = torch.from_numpy(val_idx).to(device)
    for epoch in range(epochs):
        if plateau is None:
            for group in optimizer.param_groups:
                group["lr"] = config["learning_rate"] * lr_factor(config, epoch)
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        order = torch.from_numpy(train_idx[rng.permutation(len(train_idx))]).to(device)
        loss_sum, correct_sum, seen, grad_norm = 0.0, 0, 0, 0.0
        for number, start in enumerate(range(0, len(order), batch), start=1):
            if watch.cancelled.is_set():
                raise JobCancelled()
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
                _metric(job, epoch + 1, batch=number, phase="train_batch", train_loss=value,
                        learning_rate=lr, gradient_norm=float(grad_norm))  # fmt: skip
        model.eval()
        validation = pipeline.validate(model, val_tensor)
        if plateau is not None:
            plateau.step(validation["val_loss"])
        train_loss = loss_sum / max(1, seen)
        train_accuracy = correct_sum / seen if validation["val_accuracy"] is not None else None
        _metric(job, epoch + 1, phase="train", train_loss=train_loss,
                val_loss=validation["val_loss"], train_accuracy=train_accuracy,
                val_accuracy=validation["val_accuracy"], learning_rate=lr,
                gradient_norm=float(grad_norm))  # fmt: skip
        improved = validation["val_loss"] < best
        if improved:  # kept on the device (a GPU copies in ~0.1 ms; to the CPU at the end)
            best, stale = validation["val_loss"], 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        _update(
            job.pk,
            current_epoch=epoch + 1,
            train_loss=train_loss,
            val_loss=validation["val_loss"],
            train_accuracy=train_accuracy,
            val_accuracy=validation["val_accuracy"],
            learning_rate=lr,
            progress_percent=round(5 + 85 * (epoch + 1) / epochs, 1),
            step=TrainingJob.Step.TRAINING,
            message=f"Epoch {epoch + 1}/{epochs}: {validation['summary']}",
            **({"best_epoch": epoch + 1, "best_val_loss": best} if improved else {}),
        )
        if config["early_stop_patience"] and stale >= config["early_stop_patience"]:
            break
    if best_state is None:  # every validation loss was NaN
        raise TrainingFailed("the validation loss was never finite")
    return _on_cpu(best_state), _on_cpu(model.state_dict())


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
