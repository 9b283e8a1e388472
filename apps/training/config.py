"""Training configuration: seed 000's TrainingConfig, every field with its range and default.

`resolve_config(given)` validates the fields a client gave (a job's `config`,
over a preset's) and fills the rest with defaults:

- every invalid field is reported at once (`details.fields`), cross-field
  rules included for the fields that are valid on their own;
- a default never makes a valid request invalid: an unspecified default that
  conflicts with a given field is clamped to what that field allows
  (`{"epochs": 2}` trains with `warmup_epochs` 1, not the default 5), and the
  stored config says so in `adjusted_defaults`;
- seed 003's `train_test_split` (the training share) is read as
  `validation_split = 1 − train_test_split`.
"""

from rest_framework import serializers

from apps.core.exceptions import ValidationFailed, validation_details
from apps.core.fields import JSONBooleanField, JSONFloatField, JSONIntegerField, RefuseUnknownFields

LOCALIZATION_ARCHITECTURES = ("deepsets", "set_transformer")
CLASSIFICATION_ARCHITECTURES = ("convnext_tiny", "convnext_small", "convnext_large")
# The context anomaly model, learnt from stored detections (apps.training.anomaly; no dataset).
ANOMALY_ARCHITECTURES = ("context_density",)


class TrainingConfigSerializer(RefuseUnknownFields, serializers.Serializer):
    """The fields, ranges and defaults (the OpenAPI schema of a job's `config`)."""

    # Model
    model_architecture = serializers.ChoiceField(
        LOCALIZATION_ARCHITECTURES + CLASSIFICATION_ARCHITECTURES + ANOMALY_ARCHITECTURES,
        default="deepsets",
    )
    pretrained = JSONBooleanField(default=True)
    freeze_backbone = JSONBooleanField(default=False)
    # Data
    dataset_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    batch_size = JSONIntegerField(min_value=1, max_value=512, default=32)
    num_workers = JSONIntegerField(min_value=0, max_value=16, default=4)
    validation_split = JSONFloatField(min_value=0.0, max_value=0.5, default=0.2)
    random_seed = JSONIntegerField(min_value=0, max_value=2**32 - 1, default=0)
    # Features (spectrogram models)
    n_mels = JSONIntegerField(min_value=8, max_value=512, default=128)
    n_fft = JSONIntegerField(min_value=64, max_value=16_384, default=2048)
    hop_length = JSONIntegerField(min_value=1, max_value=16_384, default=512)
    # Training
    epochs = JSONIntegerField(min_value=1, max_value=1000, default=100)
    learning_rate = JSONFloatField(min_value=1e-7, max_value=1.0, default=0.001)
    weight_decay = JSONFloatField(min_value=0.0, max_value=1.0, default=0.0001)
    dropout_rate = JSONFloatField(min_value=0.0, max_value=0.9, default=0.2)
    # Scheduler
    lr_scheduler = serializers.ChoiceField(["cosine", "step", "plateau"], default="cosine")
    warmup_epochs = JSONIntegerField(min_value=0, max_value=1000, default=5)
    early_stop_patience = JSONIntegerField(min_value=0, max_value=1000, default=10)
    # Optional per-batch metric rows (0: one row per epoch only)
    metrics_every_n_batches = JSONIntegerField(min_value=0, max_value=100_000, default=0)
    # Hardware
    accelerator = serializers.ChoiceField(["gpu", "cpu"], default="cpu")
    devices = JSONIntegerField(min_value=1, max_value=64, default=1)
    # Filters
    min_snr_db = JSONFloatField(min_value=-30, max_value=60, default=10.0)
    only_approved = JSONBooleanField(default=True)


FIELDS = TrainingConfigSerializer().fields


def _power_of_two(value: int) -> str | None:
    return "must be a power of two" if value & (value - 1) else None


def _clamps(values: dict, given: set) -> list[tuple[str, object, str]]:
    """(field, allowed value, why) for defaults that conflict with given fields."""
    rules = [
        (
            "warmup_epochs",
            lambda v: v["warmup_epochs"] >= v["epochs"] > 0,
            lambda v: max(0, v["epochs"] - 1),
            lambda v: f"must be fewer than epochs ({v['epochs']})",
        ),
        (
            "hop_length",
            lambda v: v["hop_length"] > v["n_fft"],
            lambda v: v["n_fft"],
            lambda v: f"must not exceed n_fft ({v['n_fft']})",
        ),
        (
            "n_mels",
            lambda v: v["n_mels"] > v["n_fft"] // 2 + 1,
            lambda v: v["n_fft"] // 2 + 1,
            lambda v: f"must not exceed n_fft / 2 + 1 ({v['n_fft'] // 2 + 1})",
        ),
    ]
    return [
        (name, allowed(values), why(values))
        for name, broken, allowed, why in rules
        if name not in given and broken(values)
    ]


def _cross_errors(values: dict, valid: set, check_gpu: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def has(*names):
        return all(n in valid for n in names)

    if has("hop_length", "n_fft") and values["hop_length"] > values["n_fft"]:
        errors["hop_length"] = ["must not exceed n_fft"]
    if has("n_mels", "n_fft") and values["n_mels"] > values["n_fft"] // 2 + 1:
        errors["n_mels"] = ["must not exceed n_fft / 2 + 1"]
    if has("warmup_epochs", "epochs") and 0 < values["epochs"] <= values["warmup_epochs"]:
        errors["warmup_epochs"] = ["must be fewer than epochs"]
    if has("devices") and values["devices"] > 1:
        # One worker per device (Procfile `trainer`): more GPUs run more jobs at once.
        errors["devices"] = ["a job trains on one device; run a training worker per GPU"]
    if check_gpu and has("accelerator") and values["accelerator"] == "gpu" and not gpu_available():
        errors["accelerator"] = [
            "no GPU on this server or on any training worker: use 'cpu' (a GPU worker "
            "registers when its cluster starts)"
        ]
    return errors


def config_errors(given, *, check_gpu: bool = True) -> tuple[dict, dict[str, list[str]]]:
    """(resolved config, errors per field). Errors cover every invalid field."""
    if not isinstance(given, dict):
        return {}, {"": ["must be an object"]}
    given = dict(given)
    given.pop("adjusted_defaults", None)  # a stored config fed back: recomputed below
    errors: dict[str, list[str]] = {}
    if "train_test_split" in given:  # seed 003's name for the training share
        share = given.pop("train_test_split")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0.5 <= share <= 1:
            errors["train_test_split"] = ["must be a number from 0.5 to 1"]
        elif "validation_split" not in given:
            given["validation_split"] = round(1.0 - float(share), 6)
    for name in sorted(set(given) - set(FIELDS)):  # a typo must not vanish (`epoch`)
        errors[str(name)] = ["unknown field"]
    values, valid = {}, set()
    for name, field in FIELDS.items():
        if name in given:
            try:
                values[name] = field.run_validation(given[name])
            except serializers.ValidationError as exc:
                errors[name] = [str(m) for m in exc.detail]
                continue
        else:
            values[name] = field.get_default()
        valid.add(name)
    if "n_fft" in valid and (problem := _power_of_two(values["n_fft"])):
        errors["n_fft"] = [problem]
        valid.discard("n_fft")
    adjusted = {}
    if {"epochs", "n_fft"} <= valid:
        for name, allowed, why in _clamps(values, set(given)):
            adjusted[name] = {"default": values[name], "used": allowed, "because": why}
            values[name] = allowed
    errors.update(_cross_errors(values, valid - set(errors), check_gpu))
    values["dataset_id"] = str(values["dataset_id"]) if values.get("dataset_id") else None
    values["adjusted_defaults"] = adjusted
    return values, errors


def resolve_config(given, *, prefix: str = "config") -> dict:
    """The full config for `given`, or a 400 naming every invalid field (`prefix.field`)."""
    values, errors = config_errors(given)
    if errors:
        raise config_failure(errors, prefix)
    return values


def validate_given(given: dict, prefix: str = "config") -> dict:
    """The fields `given` sets, validated like a job's config (every error at once); what a
    preset or a registry record stores (defaults are applied when a job starts)."""
    values, errors = config_errors(given, check_gpu=False)
    if errors:
        raise config_failure(errors, prefix)
    given = dict(given)
    if "train_test_split" in given:
        given.pop("train_test_split")
        given["validation_split"] = values["validation_split"]
    return {k: values[k] for k in given if k in values and k != "adjusted_defaults"}


def config_failure(errors: dict[str, list[str]], prefix: str) -> ValidationFailed:
    nested = {prefix: {k: v for k, v in errors.items() if k}} if prefix else errors
    if "" in errors:
        nested = {prefix: errors[""]}
    details = validation_details(nested)
    return ValidationFailed(
        f"Invalid value for '{details['field']}': {details['constraint']}"
        + (f" (and {len(details['fields']) - 1} more)" if len(details["fields"]) > 1 else ""),
        details,
    )


def gpu_available() -> bool:
    """A GPU where jobs run: a live training worker that registered one, or — embedded,
    where jobs run in this process — this process's own (torch imported only then)."""
    from django.conf import settings

    from apps.training.models import TrainingWorker

    if settings.HEIMDALL_TASK_BACKEND == "inprocess":
        import torch

        return torch.cuda.is_available() and torch.cuda.device_count() > 0
    from apps.core.timeutil import utc_now
    from apps.training.watchdog import STALE_AFTER

    return TrainingWorker.objects.filter(
        gpu_count__gt=0, seen_at__gte=utc_now() - STALE_AFTER
    ).exists()


def is_localization(architecture: str) -> bool:
    return architecture in LOCALIZATION_ARCHITECTURES


def is_anomaly(architecture: str) -> bool:
    return architecture in ANOMALY_ARCHITECTURES


def dataset_type_for(architecture: str) -> str:
    if is_anomaly(architecture):
        return "detections"  # stored detections, no dataset row
    return "localization" if is_localization(architecture) else "signals"


def dataset_types_for(architecture: str) -> tuple[str, ...]:
    """The dataset types an architecture trains on: classification also on labelled clips
    of recordings (`recordings`, optionally mixed with synthetic clips)."""
    return ("localization",) if is_localization(architecture) else ("signals", "recordings")


def model_type_for(architecture: str) -> str:
    if is_anomaly(architecture):
        return "anomaly_detection"
    return "localization" if is_localization(architecture) else "signal_classification"
