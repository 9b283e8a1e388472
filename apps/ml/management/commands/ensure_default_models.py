import json
from pathlib import Path

from django.core.management.base import BaseCommand

from apps.core.numbers import argument_number
from apps.ml.anomaly_training import train_default
from apps.ml.models import MLModel
from apps.ml.services import model_activate, model_register

# The shipped default localization bundle, rebuilt by
# `python manage.py build_default_localization_model` (docs/localization.md).
LOCALIZATION_BUNDLE = Path(__file__).resolve().parents[2] / "bundled" / "localization"
LOCALIZATION_NAME = "deepsets-default"
LOCALIZATION_VERSION = "1.0.0"

DEFAULT_NAME = "gaussian-mixture-default"
DEFAULT_VERSION = "1.0.0"
DEFAULT_CONFIG = {
    "algorithm": "gaussian_mixture",
    "components": 4,
    "threshold_quantile": 0.995,
    "training_data": "simulated normal traffic",
}


class Command(BaseCommand):
    help = (
        "Train and deploy the default anomaly model (version 1.0.0) on simulated normal "
        "traffic, and register and deploy the shipped default localization model, unless "
        "a model of that type is already deployed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=argument_number(int, minimum=0, maximum=2**32 - 1), default=42
        )

    def handle(self, *args, **options):
        self._anomaly(options)
        self._localization()

    def _localization(self):
        if MLModel.objects.filter(
            model_type=MLModel.Type.LOCALIZATION, status=MLModel.Status.DEPLOYED
        ).exists():
            self.stdout.write("A localization model is already deployed.")
            return
        model = register_default_localization_model()
        model_activate(model=model)
        self.stdout.write(
            f"Deployed {LOCALIZATION_NAME} {LOCALIZATION_VERSION} (median error "
            f"{model.metrics.get('model_median_error_m')} m, "
            f"{model.metrics.get('model_to_wls_median')}x WLS on its validation data)."
        )

    def _anomaly(self, options):
        if MLModel.objects.filter(
            model_type=MLModel.Type.ANOMALY_DETECTION, status=MLModel.Status.DEPLOYED
        ).exists():
            self.stdout.write("An anomaly model is already deployed.")
            return
        existing = MLModel.objects.filter(name=DEFAULT_NAME, version=DEFAULT_VERSION).first()
        if existing is None:
            model, metrics = train_default(seed=options["seed"])
            existing = model_register(
                name=DEFAULT_NAME,
                version=DEFAULT_VERSION,
                model_type=MLModel.Type.ANOMALY_DETECTION,
                weights=model.to_bytes(),
                weights_name="model.npz",
                metrics=metrics,
                config=DEFAULT_CONFIG | {"seed": options["seed"]},
                description="Default anomaly model trained on simulated normal traffic.",
            )
        model_activate(model=existing)
        self.stdout.write(f"Deployed {DEFAULT_NAME} {DEFAULT_VERSION} ({existing.metrics}).")


def register_default_localization_model(bundle: Path = LOCALIZATION_BUNDLE) -> MLModel:
    """The shipped localization bundle in the registry (registered once, by name and
    version): model.onnx as the artifact, normalisation.json and the torch weights
    (weights.pt, for `pretrained: true` jobs) beside it."""
    existing = MLModel.objects.filter(name=LOCALIZATION_NAME, version=LOCALIZATION_VERSION).first()
    if existing is not None:
        return existing
    return model_register(
        name=LOCALIZATION_NAME,
        version=LOCALIZATION_VERSION,
        model_type=MLModel.Type.LOCALIZATION,
        weights=(bundle / "model.onnx").read_bytes(),
        weights_name="model.onnx",
        metrics=json.loads((bundle / "metrics.json").read_text()),
        config=json.loads((bundle / "config.json").read_text()),
        description="Default localization model (DeepSets evidence map) shipped with Heimdall.",
        extra_files={
            "normalisation.json": (bundle / "normalisation.json").read_bytes(),
            "weights.pt": (bundle / "weights.pt").read_bytes(),
        },
        architecture="deepsets",
    )
