"""Writes for the model registry."""

from django.core.cache import cache
from django.db import transaction

from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.timeutil import utc_now
from apps.ml import bundles
from apps.ml.models import MLModel

ACTIVE_CACHE_KEY = "ml:active:{model_type}"
# A model in one of these states has no usable bundle: it cannot be deployed.
NOT_DEPLOYABLE = (MLModel.Status.FAILED, MLModel.Status.TRAINING, MLModel.Status.DRAFT)


def model_register(
    *,
    name: str,
    version: str,
    model_type: str,
    weights: bytes,
    weights_name: str,
    metrics: dict,
    config: dict,
    description: str = "",
    extra_files: dict[str, bytes] | None = None,
) -> MLModel:
    """Store the bundle (weights, metrics, config, hash) and record the model as trained.

    `extra_files` (ONNX export, checkpoints, normalisation statistics) are
    written beside the weights and listed with their hashes in bundle.json.
    """
    if MLModel.objects.filter(name=name, version=version).exists():
        raise Conflict(f"Model {name} {version} already exists.", {"field": "version"})
    model = MLModel(
        name=name,
        version=version,
        model_type=model_type,
        status=MLModel.Status.TRAINED,
        metrics=metrics,
        config=config,
        description=description,
        last_training_date=utc_now(),
    )
    model.artifact_path = bundles.write_file(model.id, weights_name, weights)
    model.artifact_sha256 = bundles.sha256(weights)
    files = {}
    for file_name, data in (extra_files or {}).items():
        files[file_name] = {
            "path": bundles.write_file(model.id, file_name, data),
            "sha256": bundles.sha256(data),
        }
    bundles.write_json(model.id, "metrics.json", metrics)
    bundles.write_json(
        model.id,
        "bundle.json",
        {"name": name, "version": version, "model_type": model_type, "config": config,
         "weights": model.artifact_path, "sha256": model.artifact_sha256, "files": files},
    )  # fmt: skip
    model.save()
    return model


@transaction.atomic
def model_activate(*, model: MLModel) -> MLModel:
    """Deploy `model` for its task; the previously deployed one is deprecated.

    Live scorers notice through a cache key (no restart): see apps.ml.scoring.
    Every caller (API, console, Django admin) comes here. A failed, training or
    draft model is a VALIDATION_ERROR naming `model_id`.
    """
    if model.status in NOT_DEPLOYABLE:
        raise ValidationFailed.for_field(
            "model_id", f"a {model.status} model cannot be deployed", str(model.pk)
        )
    locked = list(
        MLModel.objects.select_for_update().filter(
            model_type=model.model_type, status=MLModel.Status.DEPLOYED
        )
    )
    for previous in locked:
        if previous.pk != model.pk:
            previous.status = MLModel.Status.DEPRECATED
            previous.save(update_fields=["status", "updated_at"])
    model.status = MLModel.Status.DEPLOYED
    model.deployment_date = utc_now()
    model.save(update_fields=["status", "deployment_date", "updated_at"])
    key = ACTIVE_CACHE_KEY.format(model_type=model.model_type)
    transaction.on_commit(lambda: cache.set(key, str(model.pk), None))
    return model
