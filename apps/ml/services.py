"""Writes for the model registry: the only code that changes a model's status.

Status moves follow apps.ml.states (409 otherwise). Destructive actions
(update, delete, train) belong to the model's creator and to admins; reading
is team-wide.
"""

import posixpath

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from apps.accounts.roles import is_owner_or_admin
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.locks import lock_name
from apps.core.merge import json_merge_patch
from apps.core.outages import on_commit_robust
from apps.core.text import clean_text
from apps.core.timeutil import utc_now
from apps.ml import bundles, states, training_configs
from apps.ml.inspection import saved_validation_problem
from apps.ml.models import MLModel

ACTIVE_CACHE_KEY = "ml:active:{model_type}"
# Every write of that key expires: one lost to a Redis outage (the activation committed,
# the cache not told) must not serve the previous model for good once Redis is back.
ACTIVE_CACHE_TTL_S = 60


def require_owner(*, user, model: MLModel, action: str) -> None:
    """403 unless `user` created the model or is an admin."""
    if user is not None and not is_owner_or_admin(user, model.created_by_id):
        raise PermissionDenied(f"Only the model's creator or an admin may {action} it.")


def _store_bundle(
    model: MLModel, *, artifact_name: str, files: dict[str, bytes], metrics: dict, config: dict
) -> None:
    """Write the bundle's files and manifest under models/<id>/; set the artifact fields."""
    entries = {}
    for name, data in {**files, "metrics.json": _json(metrics)}.items():
        entries[name] = {
            "path": bundles.write_file(model.pk, name, data),
            "sha256": bundles.sha256(data),
            "bytes": len(data),
        }
    model.artifact_path = entries[artifact_name]["path"]
    model.artifact_sha256 = entries[artifact_name]["sha256"]
    bundles.write_json(
        model.pk,
        bundles.MANIFEST,
        {
            "format": 2,
            "name": model.name,
            "version": model.version,
            "model_type": model.model_type,
            "architecture": model.architecture,
            "artifact": artifact_name,
            "weights": model.artifact_path,
            "sha256": model.artifact_sha256,
            "config": config,
            "files": entries,
        },
    )


def _json(payload: dict) -> bytes:
    import json

    return json.dumps(payload, indent=2, default=str).encode()


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
    architecture: str = "",
    training_metrics: dict | None = None,
    created_by=None,
) -> MLModel:
    """Store a new bundle (model file, extra files, metrics, manifest with hashes) and
    record the model as `trained`."""
    if MLModel.objects.filter(name=name, version=version).exists():
        raise Conflict(f"Model {name} {version} already exists.", {"field": "version"})
    model = MLModel(
        name=name,
        version=version,
        model_type=model_type,
        architecture=architecture or str(config.get("model_architecture", "")),
        status=MLModel.Status.TRAINED,
        metrics=metrics,
        training_metrics=training_metrics or {},
        config=config,
        description=description,
        last_training_date=utc_now(),
        created_by=created_by,
    )
    _store_bundle(
        model,
        artifact_name=weights_name,
        files={weights_name: weights, **(extra_files or {})},
        metrics=metrics,
        config=config,
    )
    try:
        with transaction.atomic():
            model.save(force_insert=True)
    except IntegrityError:  # a concurrent register of the same name and version won the race
        folder = posixpath.dirname(model.artifact_path)
        _, names = default_storage.listdir(folder)
        bundles.delete_folder_files([f"{folder}/{name}" for name in names])
        raise Conflict(f"Model {name} {version} already exists.", {"field": "version"}) from None
    return model


def next_version(name: str) -> str:
    """1.0.0 for a new name, else the highest x.y.z of the name with z + 1."""
    best = None
    for version in MLModel.objects.filter(name=name).values_list("version", flat=True):
        parts = version.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            key = tuple(int(p) for p in parts)
            best = key if best is None or key > best else best
    if best is None:
        return "1.0.0"
    return f"{best[0]}.{best[1]}.{best[2] + 1}"


@transaction.atomic
def model_create(
    *,
    user,
    name: str,
    model_type: str,
    architecture: str = "",
    description: str = "",
    training_config: dict | None = None,
    metadata: dict | None = None,
    version: str | None = None,
) -> MLModel:
    """A registry record in `draft` (seed 003): training is triggered separately."""
    version = version or next_version(name)
    if MLModel.objects.filter(name=name, version=version).exists():
        raise Conflict(f"Model {name} {version} already exists.", {"field": "version"})
    try:
        with transaction.atomic():
            return MLModel.objects.create(
                name=name,
                version=version,
                model_type=model_type,
                architecture=architecture,
                description=description,
                config=training_config or {},
                metadata=metadata or {},
                status=MLModel.Status.DRAFT,
                created_by=user,
            )
    except IntegrityError:  # a concurrent create of the same name and version won the race
        raise Conflict(f"Model {name} {version} already exists.", {"field": "version"}) from None


UPDATABLE = ("name", "description", "status", "training_metrics", "performance_metrics", "metadata")
JSON_OBJECTS = ("training_metrics", "performance_metrics", "metadata")


@transaction.atomic
def model_update(*, user, model: MLModel, changes: dict, merge: bool = False) -> MLModel:
    """Apply seed 003's PUT fields; a status change must be a legal move (409). With
    `merge` (PATCH) each JSON object is merged into the stored one (RFC 7396: a key set
    to null is removed) under the row's lock; without (PUT) it replaces it."""
    model = MLModel.objects.select_for_update().get(pk=model.pk)
    require_owner(user=user, model=model, action="change")
    if "status" in changes:
        states.check_request(model.status, changes["status"])
    renamed = "name" in changes and changes["name"] != model.name
    if renamed and MLModel.objects.filter(name=changes["name"], version=model.version).exists():
        raise Conflict(
            f"Model {changes['name']} {model.version} already exists.", {"field": "name"}
        )
    fields = []
    for key, value in changes.items():
        attribute = "metrics" if key == "performance_metrics" else key
        if merge and key in JSON_OBJECTS:
            value = json_merge_patch(getattr(model, attribute), value)
        setattr(model, attribute, value)
        fields.append(attribute)
    if fields:
        try:
            with transaction.atomic():
                model.save(update_fields=[*fields, "updated_at"])
        except IntegrityError:  # a concurrent write took the name and version
            raise Conflict(
                f"Model {model.name} {model.version} already exists.", {"field": "name"}
            ) from None
    if "status" in changes:
        _forget_active(model.model_type)
    return model


@transaction.atomic
def model_delete(*, user, model: MLModel) -> None:
    """Delete the record and, after commit, its bundle (and what is left in its own
    folder, models/<id>/, when its bundle is an external trainer's). A deployed model, or
    one a training job is working on, is a 409."""
    model = MLModel.objects.select_for_update().get(pk=model.pk)
    require_owner(user=user, model=model, action="delete")
    if model.status in (states.DEPLOYED, states.DEGRADED):
        raise Conflict(
            f"The model is {model.status}: activate another model of its type first.",
            {"status": model.status},
        )
    if model.status == states.TRAINING:
        raise Conflict(
            "The model is being trained: cancel its job (or report the external training as "
            "failed) first.",
            {"status": model.status},
        )
    folder = posixpath.dirname(model.artifact_path) if model.artifact_path else None
    bundle = None
    if folder:
        try:
            bundle = bundles.read_manifest(folder)
        except ValueError:
            bundle = None
    # An earlier bundle of a model retrained by an external trainer stays in its own folder.
    own = bundles.bundle_dir(model.pk)
    leftovers = []
    if folder != own:
        try:
            leftovers = [f"{own}/{name}" for name in default_storage.listdir(own)[1]]
        except OSError:  # no such folder
            leftovers = []
    model.delete()
    if bundle is not None:
        transaction.on_commit(lambda: bundles.delete_folder_files(bundle), robust=True)
    elif model.artifact_path:
        path = model.artifact_path
        transaction.on_commit(lambda: bundles.delete_folder_files([path]), robust=True)
    if leftovers:
        transaction.on_commit(lambda: bundles.delete_folder_files(leftovers), robust=True)


def model_training_start(*, model: MLModel, user=None) -> MLModel:
    """→ training (POST /models/train). Call inside the transaction that queues the job."""
    locked = MLModel.objects.select_for_update().get(pk=model.pk)
    require_owner(user=user, model=locked, action="train")
    if locked.status not in states.TRAINABLE:
        raise Conflict(
            f"A {locked.status} model cannot be trained; trainable: "
            f"{', '.join(sorted(states.TRAINABLE))}.",
            {"field": "model_id", "status": locked.status},
        )
    locked.status = states.TRAINING
    locked.failure_reason = ""
    locked.save(update_fields=["status", "failure_reason", "updated_at"])
    return locked


@transaction.atomic
def model_training_completed(
    *,
    model: MLModel,
    artifact_name: str,
    files: dict[str, bytes],
    metrics: dict,
    training_metrics: dict,
    config: dict,
) -> MLModel:
    """A Heimdall training job finished the model: its bundle is written under
    models/<id>/ and the model becomes `trained`."""
    locked = MLModel.objects.select_for_update().get(pk=model.pk)
    if locked.status != states.TRAINING:
        raise Conflict(f"The model is {locked.status}, not training.", {"status": locked.status})
    _store_bundle(locked, artifact_name=artifact_name, files=files, metrics=metrics, config=config)
    locked.metrics, locked.training_metrics, locked.config = metrics, training_metrics, config
    locked.architecture = locked.architecture or str(config.get("model_architecture", ""))
    locked.status, locked.last_training_date = states.TRAINED, utc_now()
    locked.save()
    return locked


def _refuse_callback_while_a_job_trains(model: MLModel) -> None:
    """The worker callbacks are for trainers outside Heimdall's workers: a model one of
    Heimdall's jobs is training ends with its job (cancel the job to stop it)."""
    job_id = training_configs.running_job(model.pk)
    if job_id is not None:
        raise Conflict(
            f"The model is being trained by Heimdall's training job {job_id}; it ends with "
            f"that job (POST /api/v1/training/jobs/{job_id}/cancel to stop it).",
            {"status": model.status, "job_id": job_id},
        )


@transaction.atomic
def model_training_failed(
    *, model: MLModel, reason: str, callback: bool = False
) -> tuple[MLModel, bool]:
    """→ failed with the reason. (model, changed): repeating the same report changes
    nothing; a model not in training is a 409. The reason is free text (apps.core.text).
    `callback`: the external trainers' report, refused (409) for a model a Heimdall job
    is training."""
    reason = clean_text(reason, field="reason", max_length=5000, multiline=True)
    locked = MLModel.objects.select_for_update().get(pk=model.pk)
    if locked.status == states.FAILED and locked.failure_reason == reason:
        return locked, False
    if locked.status != states.TRAINING:
        raise Conflict(f"The model is {locked.status}, not training.", {"status": locked.status})
    if callback:
        _refuse_callback_while_a_job_trains(locked)
    locked.status, locked.failure_reason = states.FAILED, reason
    locked.save(update_fields=["status", "failure_reason", "updated_at"])
    return locked, True


def _bundle_folder(artifact_path: str) -> str:
    """The folder a reported path names: itself when it holds a bundle.json, else the
    folder of the file it names (its bundle.json or its model file)."""
    if posixpath.splitext(artifact_path)[1] and not default_storage.exists(
        f"{artifact_path}/{bundles.MANIFEST}"
    ):
        return posixpath.dirname(artifact_path)
    return artifact_path


@transaction.atomic
def model_training_reported(
    *, model: MLModel, artifact_path: str, performance_metrics: dict, training_metrics: dict
) -> tuple[MLModel, bool]:
    """The worker callback `training/complete`: the bundle at `artifact_path` (a folder in
    artifact storage, or its bundle.json or model file) must pass the bundle check, have
    its model file beside its bundle.json, belong to no other model and have saved
    validation that inspect can read. (model, changed): the same report again changes
    nothing; another report after it is a 409."""
    folder = _bundle_folder(artifact_path)
    locked = MLModel.objects.select_for_update().get(pk=model.pk)
    if (
        locked.status == states.TRAINED
        and locked.artifact_path
        and (posixpath.dirname(locked.artifact_path) == folder)
    ):
        if (locked.metrics, locked.training_metrics) == (performance_metrics, training_metrics):
            return locked, False
        raise Conflict(
            "The model was already reported trained with this bundle and other metrics; "
            "change them with PUT /api/v1/models/{id}.",
            {"status": locked.status},
        )
    if locked.status != states.TRAINING:
        raise Conflict(f"The model is {locked.status}, not training.", {"status": locked.status})
    _refuse_callback_while_a_job_trains(locked)
    own = bundles.bundle_dir(locked.pk)
    if folder.startswith("models/") and folder != own:
        raise ValidationFailed.for_field(
            "model_artifact_path",
            f"is another model's bundle; this model's folder is {own}",
            artifact_path,
        )
    bundle, reason = bundles.check_folder(folder, model_type=locked.model_type)
    if reason is None and posixpath.dirname(bundle.artifact.path) != folder:
        reason = (
            f"the model file must be beside {bundles.MANIFEST} in {folder}, "
            f"not at {bundle.artifact.path}"
        )
    if reason is None:
        # Two models reporting one folder at once: the second waits, then finds the first.
        lock_name(f"bundle-folder:{folder}")
        users = MLModel.objects.exclude(pk=locked.pk).filter(artifact_path__startswith=f"{folder}/")
        other = next((m for m in users if posixpath.dirname(m.artifact_path) == folder), None)
        if other is not None:
            reason = f"is another model's bundle ({other.name} {other.version}, {other.pk})"
    if reason is not None:
        raise ValidationFailed.for_field("model_artifact_path", reason, artifact_path)
    problem = saved_validation_problem(locked.model_type, bundle, performance_metrics)
    if problem is not None:
        field = "model_artifact_path" if bundle.file("metrics.json") else "performance_metrics"
        raise ValidationFailed.for_field(field, problem)
    locked.artifact_path, locked.artifact_sha256 = bundle.artifact.path, bundle.artifact.sha256
    locked.metrics, locked.training_metrics = performance_metrics, training_metrics
    locked.status, locked.last_training_date, locked.failure_reason = (
        states.TRAINED,
        utc_now(),
        "",
    )
    locked.save()
    return locked, True


def _forget_active(model_type: str) -> None:
    key = ACTIVE_CACHE_KEY.format(model_type=model_type)
    on_commit_robust(lambda: cache.delete(key), "forgetting the deployed model's cached id")


@transaction.atomic
def model_activate(*, model: MLModel) -> MLModel:
    """Deploy `model` for its task; the previously deployed one is deprecated. A model
    whose status does not allow it (apps.ml.states.ACTIVATABLE) or whose bundle is not
    valid is a 409.

    Live scorers notice through a cache key (no restart): see apps.ml.scoring.
    Concurrent activations of one type run one after another: each first locks every
    model of the type, in one order, so the one-deployed-per-type rule is never raced.
    """
    model_type = MLModel.objects.values_list("model_type", flat=True).get(pk=model.pk)
    rows = MLModel.objects.select_for_update().filter(model_type=model_type).order_by("pk")
    model = {row.pk: row for row in rows}[model.pk]
    if model.status not in states.ACTIVATABLE:
        raise Conflict(
            f"A {model.status} model cannot be deployed; deployable: "
            f"{', '.join(sorted(states.ACTIVATABLE))}.",
            {"field": "status", "status": model.status},
        )
    _, reason = bundles.model_bundle(model)
    if reason is not None:
        raise Conflict(f"The model's bundle is not valid: {reason}", {"invalid_reason": reason})
    locked = list(
        MLModel.objects.select_for_update().filter(
            model_type=model.model_type, status__in=(states.DEPLOYED, states.DEGRADED)
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
    on_commit_robust(
        lambda: cache.set(key, str(model.pk), ACTIVE_CACHE_TTL_S), "caching the deployed model's id"
    )
    return model
