"""How a registry record's `training_config` is validated: by the app that trains that
model type, registered from its AppConfig.ready() (apps.training registers seed 000's
TrainingConfig for localization and signal classification). A type nobody trains here
(anomaly detection: `manage.py ensure_default_models` or an external trainer) keeps any
JSON object.

The same app registers how to find the training job, if any, that is working on a
registry model (`running_job`): the worker callbacks are for trainers outside
Heimdall's workers, and a model a Heimdall job is training ends with its job.
"""

from collections.abc import Callable

from apps.core.exceptions import ValidationFailed

# model_type → validate(given, prefix) -> the validated fields (raises ValidationFailed)
_validators: dict[str, Callable[[dict, str], dict]] = {}
# model_type → the architectures it trains (the first is the default)
_architectures: dict[str, tuple[str, ...]] = {
    "anomaly_detection": ("gaussian_mixture", "context_density")
}


# model id → the id of the unfinished Heimdall training job training it, or None
_job_lookups: list[Callable[[object], str | None]] = []


def register_job_lookup(lookup: Callable[[object], str | None]) -> None:
    _job_lookups[:] = [lookup]


def running_job(model_id) -> str | None:
    """The unfinished Heimdall training job linked to the model, if any."""
    return _job_lookups[0](model_id) if _job_lookups else None


def register(
    model_type: str, validator: Callable[[dict, str], dict], architectures: tuple[str, ...]
) -> None:
    _validators[model_type] = validator
    _architectures[model_type] = architectures


def architectures(model_type: str) -> tuple[str, ...]:
    return _architectures.get(model_type, ())


def validate(model_type: str, given, prefix: str = "training_config") -> dict:
    if not isinstance(given, dict):
        raise ValidationFailed.for_field(prefix, "must be an object")
    validator = _validators.get(model_type)
    return validator(given, prefix) if validator else dict(given)
