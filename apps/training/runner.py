"""The training job runner: the worker-side body of a job, step by step.

Steps and progress (seed 001): initializing → preparing_data → training
(per epoch) → evaluating → exporting → done. The job row is the state; it is
checked for cancellation after every batch. A NaN/inf loss or out-of-memory
ends the job `failed` with the message.
"""

import io
import logging
import math

import numpy as np

from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
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


def _cancelled(job_id) -> bool:
    return TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.CANCELLED).exists()


def _dataset_for(job: TrainingJob) -> SyntheticDataset:
    """The job's dataset, else the newest ready localization one, else one generated now."""
    from apps.training.tasks import generate_dataset

    if job.dataset_id:
        dataset = job.dataset
    else:
        dataset = (
            SyntheticDataset.objects.filter(
                status=SyntheticDataset.Status.READY,
                dataset_type=SyntheticDataset.Type.LOCALIZATION,
            )
            .order_by("-created_at")
            .first()
        )
        if dataset is None:
            from apps.training.generator import DEFAULT_PARAMETERS

            params = dict(DEFAULT_PARAMETERS)
            dataset = SyntheticDataset.objects.create(
                name=f"Generated for job {job.job_name}",
                parameters=params,
                num_samples=params["num_samples"],
            )
            generate_dataset(str(dataset.pk))
            dataset.refresh_from_db()
        TrainingJob.objects.filter(pk=job.pk).update(dataset=dataset)
    if dataset.status != SyntheticDataset.Status.READY:
        raise TrainingFailed(f"dataset {dataset.pk} is {dataset.status}: {dataset.error_message}")
    if dataset.dataset_type != SyntheticDataset.Type.LOCALIZATION:
        raise TrainingFailed("localization models train on localization datasets")
    return dataset


def _tensors(dataset: SyntheticDataset):
    from apps.training.propagation import to_local_metres
    from apps.training.services import dataset_load

    arrays = dataset_load(dataset)
    p = dataset.parameters
    lat0 = (p["area_lat_min"] + p["area_lat_max"]) / 2
    lon0 = (p["area_lon_min"] + p["area_lon_max"]) / 2
    receivers, mask = arrays["receivers"].astype(np.float64), arrays["mask"]
    xy = to_local_metres(receivers[..., 0], receivers[..., 1], lat0, lon0) / 1000.0
    features = np.concatenate([xy, receivers[..., 2:4]], axis=-1)
    features = np.nan_to_num(features, nan=0.0)
    valid = features[mask]
    mean, std = valid.mean(0), np.where(valid.std(0) > 0, valid.std(0), 1.0)
    features = np.where(mask[..., None], (features - mean) / std, 0.0)
    targets = to_local_metres(arrays["targets"][:, 0], arrays["targets"][:, 1], lat0, lon0) / 1000
    return features.astype(np.float32), mask, targets.astype(np.float32), arrays, (mean, std)


def _lr_factor(config: dict, epoch: int) -> float:
    warmup, total = config["warmup_epochs"], config["epochs"]
    if warmup and epoch < warmup:
        return (epoch + 1) / warmup
    if config["lr_scheduler"] == "cosine":
        progress = (epoch - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))
    if config["lr_scheduler"] == "step":
        return 0.5 ** ((epoch - warmup) // max(1, total // 3))
    return 1.0  # plateau: ReduceLROnPlateau acts on the validation loss


def run_localization(job: TrainingJob) -> None:
    import torch

    from apps.training.localization import ARCHITECTURES, gaussian_nll_km

    config = job.config
    _update(
        job.pk, step=TrainingJob.Step.PREPARING_DATA, progress_percent=2.0, message="Preparing data"
    )
    dataset = _dataset_for(job)
    features, mask, targets, arrays, _ = _tensors(dataset)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(features))
    n_val = max(1, int(len(order) * config["validation_split"]))
    val_idx, train_idx = order[:n_val], order[n_val:]
    _update(job.pk, dataset_size=len(order), train_samples=len(train_idx), val_samples=n_val)

    torch.manual_seed(0)
    device = torch.device("cuda" if config["accelerator"] == "gpu" else "cpu")
    model = ARCHITECTURES[config["model_architecture"]](dropout=config["dropout_rate"]).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["learning_rate"], weight_decay=config["weight_decay"]
    )
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        if config["lr_scheduler"] == "plateau"
        else None
    )
    x = torch.from_numpy(features).to(device)
    m = torch.from_numpy(mask).to(device)
    y = torch.from_numpy(targets).to(device)
    best, best_state, stale = math.inf, None, 0
    epochs, batch = config["epochs"], config["batch_size"]
    for epoch in range(epochs):
        if plateau is None:
            for group in optimizer.param_groups:
                group["lr"] = config["learning_rate"] * _lr_factor(config, epoch)
        model.train()
        shuffled = train_idx[rng.permutation(len(train_idx))]
        losses = []
        for start in range(0, len(shuffled), batch):
            if _cancelled(job.pk):
                raise JobCancelled()
            idx = torch.from_numpy(shuffled[start : start + batch]).to(device)
            loss = gaussian_nll_km(model(x[idx], m[idx]), y[idx])
            if not torch.isfinite(loss):
                raise TrainingFailed(f"loss became {loss.item()} at epoch {epoch + 1}")
            optimizer.zero_grad()
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0))
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            vi = torch.from_numpy(val_idx).to(device)
            out = model(x[vi], m[vi])
            val_loss = gaussian_nll_km(out, y[vi]).item()
            errors_m = ((out[:, :2] - y[vi]) ** 2).sum(-1).sqrt().cpu().numpy() * 1000
        if plateau is not None:
            plateau.step(val_loss)
        train_loss, lr = float(np.mean(losses)), optimizer.param_groups[0]["lr"]
        now = utc_now()
        ensure_partitions(TrainingMetric._meta.db_table, {now.date()})
        TrainingMetric.objects.create(
            training_job_id=job.pk,
            timestamp=now,
            epoch=epoch + 1,
            train_loss=train_loss,
            val_loss=val_loss,
            learning_rate=lr,
            gradient_norm=grad_norm,
            phase="train",
        )
        improved = val_loss < best
        if improved:
            best, stale = val_loss, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        _update(
            job.pk,
            current_epoch=epoch + 1,
            train_loss=train_loss,
            val_loss=val_loss,
            learning_rate=lr,
            progress_percent=round(5 + 85 * (epoch + 1) / epochs, 1),
            step=TrainingJob.Step.TRAINING,
            message=f"Epoch {epoch + 1}/{epochs}: val median error {np.median(errors_m):.0f} m",
            **({"best_epoch": epoch + 1, "best_val_loss": val_loss} if improved else {}),
        )
        if config["early_stop_patience"] and stale >= config["early_stop_patience"]:
            break

    _update(
        job.pk,
        step=TrainingJob.Step.EVALUATING,
        progress_percent=92.0,
        message="Evaluating against WLS and the Cramér–Rao bound",
    )
    model.load_state_dict(best_state)
    metrics = _evaluate(model, x, m, y, val_idx, arrays, dataset)
    _update(
        job.pk,
        step=TrainingJob.Step.EXPORTING,
        progress_percent=96.0,
        message="Saving the model bundle",
    )
    _export(job, best_state, metrics)


def _evaluate(model, x, m, y, val_idx, arrays, dataset) -> dict:
    import torch

    from apps.training.propagation import PropagationModel, to_local_metres, wls_localize

    with torch.no_grad():
        vi = torch.from_numpy(val_idx).to(x.device)
        errors = ((model(x[vi], m[vi])[:, :2] - y[vi]) ** 2).sum(-1).sqrt().cpu().numpy() * 1000
    p = dataset.parameters
    lat0 = (p["area_lat_min"] + p["area_lat_max"]) / 2
    lon0 = (p["area_lon_min"] + p["area_lon_max"]) / 2
    propagation = PropagationModel(frequency_mhz=p["frequency_mhz"])
    wls = []
    for index in val_idx[:500]:
        heard = arrays["mask"][index]
        rx = arrays["receivers"][index][heard].astype(float)
        local = to_local_metres(rx[:, 0], rx[:, 1], lat0, lon0)
        truth = to_local_metres(*arrays["targets"][index], lat0, lon0)
        estimate = wls_localize(local, rx[:, 2], p["tx_power_dbm"], propagation)
        wls.append(float(np.linalg.norm(estimate - truth)))
    crb = arrays["crb_m"][val_idx]
    return {
        "model_median_error_m": round(float(np.median(errors)), 1),
        "model_p90_error_m": round(float(np.quantile(errors, 0.9)), 1),
        "wls_median_error_m": round(float(np.median(wls)), 1),
        "wls_p90_error_m": round(float(np.quantile(wls, 0.9)), 1),
        "crb_median_m": round(float(np.median(crb)), 1),
        "crb_p90_m": round(float(np.quantile(crb, 0.9)), 1),
    }


def _export(job: TrainingJob, state: dict, metrics: dict) -> None:
    import torch

    from apps.ml.models import MLModel
    from apps.ml.services import model_register

    buffer = io.BytesIO()
    torch.save(state, buffer)  # loaded with torch.load(weights_only=True): tensors only
    job.refresh_from_db()
    model = model_register(
        name=f"{job.model_architecture}-{str(job.pk)[:8]}",
        version="1.0.0",
        model_type=MLModel.Type.LOCALIZATION,
        weights=buffer.getvalue(),
        weights_name="weights.pt",
        metrics=metrics,
        config={**job.config, "training_job_id": str(job.pk), "dataset_id": str(job.dataset_id)},
    )
    _update(job.pk, checkpoint_path=model.artifact_path, metrics=metrics)
