"""Writes of the training app: datasets, jobs, configuration presets, training a model.

Destructive actions (cancel, delete, changing a preset) belong to the
object's creator and to admins; reading is team-wide. A job's lifecycle
fields are written by apps.training.lifecycle only.
"""

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from apps.accounts.roles import is_owner_or_admin
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.tasks import dispatch
from apps.training import lifecycle
from apps.training.config import (
    config_errors,
    config_failure,
    dataset_type_for,
    dataset_types_for,
    is_anomaly,
    model_type_for,
    validate_given,
)
from apps.training.models import SyntheticDataset, TrainingConfigPreset, TrainingJob


def _require_owner(user, owner_id, what: str, action: str) -> None:
    if user is not None and not is_owner_or_admin(user, owner_id):
        raise PermissionDenied(f"Only the {what}'s creator or an admin may {action} it.")


# --- datasets ------------------------------------------------------------------------


@transaction.atomic
def dataset_request(
    *, user, name: str, description: str, dataset_type: str, parameters: dict
) -> SyntheticDataset:
    """Record the dataset as pending and queue its generation after commit."""
    dataset = SyntheticDataset.objects.create(
        name=name,
        description=description,
        dataset_type=dataset_type,
        parameters=parameters,
        num_samples=parameters["num_samples"],
        created_by=user,
        message="Queued",
    )
    dispatch("apps.training.tasks.generate_dataset", str(dataset.pk))
    return dataset


@transaction.atomic
def dataset_delete(*, user=None, dataset: SyntheticDataset) -> None:
    _require_owner(user, dataset.created_by_id, "dataset", "delete")
    if lifecycle.dataset_is_generating(dataset):  # a stale one (worker lost) may go
        raise Conflict("The dataset is being generated; delete it once it is ready or failed.")
    path = dataset.artifact_path
    dataset.delete()
    if path:
        transaction.on_commit(lambda: default_storage.delete(path), robust=True)


# --- configuration presets ----------------------------------------------------------------


def preset_create(*, user, name: str, description: str, config: dict) -> TrainingConfigPreset:
    given = validate_given(config)
    try:
        with transaction.atomic():
            return TrainingConfigPreset.objects.create(
                name=name, description=description, config=given, created_by=user
            )
    except IntegrityError:
        raise Conflict(f"A configuration named '{name}' exists.", {"field": "name"}) from None


@transaction.atomic
def preset_update(
    *,
    user,
    preset: TrainingConfigPreset,
    description: str | None = None,
    config: dict | None = None,
) -> TrainingConfigPreset:
    _require_owner(user, preset.created_by_id, "configuration", "change")
    fields = []
    if config is not None:
        preset.config = validate_given(config)
        fields.append("config")
    if description is not None:
        preset.description = description
        fields.append("description")
    if fields:
        preset.save(update_fields=[*fields, "updated_at"])
    return preset


def preset_delete(*, user, preset: TrainingConfigPreset) -> None:
    _require_owner(user, preset.created_by_id, "configuration", "delete")
    preset.delete()


# --- jobs ----------------------------------------------------------------------------------


def resolve_job_config(*, config: dict, config_name: str | None) -> tuple[dict, list]:
    """(full config, errors) for a job: the preset's fields, then the job's own over them."""
    preset = None
    if config_name:
        preset = TrainingConfigPreset.objects.filter(name=config_name).first()
        if preset is None:
            raise ValidationFailed.for_field("config_name", "unknown configuration", config_name)
    given = {**(preset.config if preset else {}), **(config or {})}
    return config_errors(given)


def _job_dataset(config: dict) -> SyntheticDataset | None:
    from apps.training.readiness import data_check, newest_ready

    if is_anomaly(config["model_architecture"]):
        return None  # learnt from stored detections (apps.training.anomaly)
    wanted = dataset_type_for(config["model_architecture"])
    if config.get("dataset_id"):
        dataset = SyntheticDataset.objects.filter(pk=config["dataset_id"]).first()
        if dataset is None:
            raise ValidationFailed.for_field(
                "config.dataset_id", "unknown dataset", str(config["dataset_id"])
            )
        if (
            dataset.dataset_type not in dataset_types_for(config["model_architecture"])
            or dataset.status == SyntheticDataset.Status.FAILED
        ):
            raise ValidationFailed.for_field(
                "config.dataset_id",
                f"{config['model_architecture']} needs a {wanted} dataset that has not failed; "
                f"this one is a {dataset.status} {dataset.dataset_type} dataset",
                str(dataset.pk),
            )
        checked = dataset if dataset.status == SyntheticDataset.Status.READY else None
    else:
        dataset, checked = None, newest_ready(wanted)
    if checked is not None:
        report = data_check(
            dataset=checked,
            architecture=config["model_architecture"],
            min_snr_db=config["min_snr_db"],
            validation_split=config["validation_split"],
            only_approved=config["only_approved"],
        )
        if report["trainable_samples"] < 2:
            raise ValidationFailed.for_field(
                "config.min_snr_db" if report["total_samples"] else "config.dataset_id",
                f"dataset {checked.pk} has nothing to train on: {report['problems'][0]} "
                "(GET /api/v1/training/data-check)",
                config["min_snr_db"],
            )
    return dataset


@transaction.atomic
def job_create(
    *,
    user,
    job_name: str,
    config: dict,
    config_name: str = "",
    auto_activate: bool = False,
    ml_model=None,
) -> TrainingJob:
    """A queued job (its task goes to the training cluster after commit). `config` is the
    resolved config (apps.training.config.resolve_config)."""
    dataset = _job_dataset(config)
    job = TrainingJob.objects.create(
        job_name=job_name,
        config=config,
        config_name=config_name or "",
        dataset=dataset,
        total_epochs=config["epochs"],
        model_architecture=config["model_architecture"],
        created_by=user,
        auto_activate=auto_activate,
        ml_model=ml_model,
    )
    lifecycle.job_enqueue(job=job)
    job.refresh_from_db()
    return job


def job_cancel(*, user=None, job: TrainingJob) -> TrainingJob:
    """Stop a job and keep its data; the worker notices within one batch."""
    _require_owner(user, job.created_by_id, "job", "cancel")
    return lifecycle.job_cancel(job=job)


def job_delete(*, user=None, job: TrainingJob) -> None:
    """Cancel if running, then delete the job and its metrics."""
    _require_owner(user, job.created_by_id, "job", "delete")
    lifecycle.job_delete(job=job)


# --- training a registry model (seed 003) ---------------------------------------------------

TRAINABLE_TYPES = ("localization", "signal_classification", "anomaly_detection")
DEFAULT_ARCHITECTURE = {
    "localization": "deepsets",
    "signal_classification": "convnext_tiny",
    "anomaly_detection": "context_density",
}


@transaction.atomic
def model_train(
    *,
    user,
    model,
    dataset_ids: list,
    overrides: dict,
    auto_activate: bool = False,
    config_name: str = "",
) -> TrainingJob:
    """POST /api/v1/models/train: the model → training, and an ordinary training job
    linked to it. The config is the model's `training_config`, the preset's fields, then
    `overrides`; several datasets are not merged: one, or none — then the config's
    `dataset_id` if it names one, else a synthetic dataset of the model's kind is
    generated."""
    from apps.ml.services import model_training_start

    if model.model_type not in TRAINABLE_TYPES:
        raise ValidationFailed.for_field(
            "model_id",
            f"Heimdall's workers train {' and '.join(TRAINABLE_TYPES)} models; a "
            f"{model.model_type} model comes from `manage.py ensure_default_models` or an "
            "external trainer (the /training/complete callback)",
            str(model.pk),
        )
    if len(dataset_ids) > 1:
        raise ValidationFailed.for_field(
            "dataset_ids", "a job trains on one dataset; give one id, or none", dataset_ids
        )
    base = {"model_architecture": DEFAULT_ARCHITECTURE[model.model_type], **(model.config or {})}
    if model.architecture:
        base["model_architecture"] = model.architecture
    preset = {}
    if config_name:
        found = TrainingConfigPreset.objects.filter(name=config_name).first()
        if found is None:
            raise ValidationFailed.for_field("config_name", "unknown configuration", config_name)
        preset = found.config
    given = {**base, **preset, **overrides}
    if dataset_ids:
        given["dataset_id"] = str(dataset_ids[0])
    config, errors = config_errors(given)
    if errors:
        raise config_failure(errors, "training_config")
    if model_type_for(config["model_architecture"]) != model.model_type:
        raise ValidationFailed.for_field(
            "training_config.model_architecture",
            f"{config['model_architecture']} does not train a {model.model_type} model",
            config["model_architecture"],
        )
    if config.get("dataset_id"):
        # dataset_ids, else the dataset_id the model's config, the preset or the overrides name
        field = "dataset_ids[0]" if dataset_ids else "training_config.dataset_id"
        try:
            _job_dataset(config)
        except ValidationFailed as exc:
            raise ValidationFailed.for_field(
                field, exc.details.get("constraint", exc.message), config["dataset_id"]
            ) from None
    locked = model_training_start(model=model, user=user)
    if not config.get("dataset_id") and not is_anomaly(config["model_architecture"]):
        # seed 003: synthetic data fitting the model type, made by the worker
        from apps.training.generator import DEFAULT_PARAMETERS

        params = dict(DEFAULT_PARAMETERS)
        generated = SyntheticDataset.objects.create(
            name=f"Synthetic data for {locked.name} {locked.version}",
            dataset_type=dataset_type_for(config["model_architecture"]),
            parameters=params,
            num_samples=params["num_samples"],
            created_by=user,
            message="Generated by the training job",
        )
        config = {**config, "dataset_id": str(generated.pk)}
    return job_create(
        user=user,
        job_name=f"Train {locked.name} {locked.version}",
        config=config,
        config_name=config_name,
        auto_activate=auto_activate,
        ml_model=locked,
    )
