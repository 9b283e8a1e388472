from django.core.management.base import BaseCommand

from apps.core.numbers import argument_number
from apps.ml.anomaly_training import train_default
from apps.ml.models import MLModel
from apps.ml.services import model_activate, model_register

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
        "traffic, unless an anomaly model is already deployed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=argument_number(int, minimum=0, maximum=2**32 - 1), default=42
        )

    def handle(self, *args, **options):
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
