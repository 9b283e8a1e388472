"""Rebuild the shipped default localization bundle (apps/ml/bundled/localization/).

    python manage.py build_default_localization_model   # ~5 min on an idle 2-core machine

Deterministic for a given seed: seed-default synthetic data (docs/training.md),
a DeepSets evidence-map model trained with the job runner's optimisation
(AdamW, warm-up then cosine, gradient clipping at 10), the best epoch by
validation loss, its uncertainty calibrated on the validation split, the
ONNX export (with the posterior output) checked against torch. The files are
what a training job's bundle holds; `manage.py ensure_default_models`
registers and activates them on a fresh install. Nothing is downloaded.
"""

import json
import math
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand

BUNDLE_DIR = Path(settings.BASE_DIR) / "apps" / "ml" / "bundled" / "localization"


class Command(BaseCommand):
    help = "Train the default localization model and write its bundle to apps/ml/bundled/."

    def add_arguments(self, parser):
        parser.add_argument("--samples", type=int, default=20_000)
        parser.add_argument("--epochs", type=int, default=12)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--output", default=str(BUNDLE_DIR))
        parser.add_argument(
            "--calibrate-only",
            action="store_true",
            help="keep the bundle's weights.pt: evaluate, export and calibrate it again",
        )

    def handle(self, *args, **options):
        import torch

        from apps.training.export import onnx_export, state_bytes
        from apps.training.generator import (
            DEFAULT_PARAMETERS,
            LocalizationParameters,
            generate_localization,
        )
        from apps.training.localization import LocalizationPipeline
        from apps.training.runner import lr_factor, split

        started = time.monotonic()
        torch.manual_seed(options["seed"])
        parameters = {**DEFAULT_PARAMETERS, "num_samples": options["samples"],
                      "receiver_seed": options["seed"]}  # fmt: skip
        fields = LocalizationParameters.__dataclass_fields__
        arrays = generate_localization(
            LocalizationParameters(**{k: v for k, v in parameters.items() if k in fields}),
            lambda done: None,
        )
        self.stdout.write(f"{len(arrays['mask'])} samples in {time.monotonic() - started:.0f} s")
        config = {
            "model_architecture": "deepsets",
            "dropout_rate": 0.2,
            "batch_size": 32,
            "epochs": options["epochs"],
            "learning_rate": 1e-3,
            "weight_decay": 1e-4,
            "warmup_epochs": 2,
            "lr_scheduler": "cosine",
            "validation_split": 0.2,
            "min_snr_db": 3.0,  # the generator's: every receiver it lists is heard
        }
        device = torch.device("cpu")
        pipeline = LocalizationPipeline(config, arrays, parameters, device)
        train_idx, val_idx = split(pipeline.trainable_indices(), config["validation_split"])
        pipeline.fit_normalisation(train_idx)
        model = pipeline.build_model()
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config["learning_rate"], weight_decay=config["weight_decay"]
        )
        rng = np.random.default_rng(options["seed"])
        best, best_state = math.inf, None
        val = torch.from_numpy(val_idx)
        output = Path(options["output"])
        if options["calibrate_only"]:
            best_state = torch.load(output / "weights.pt", map_location="cpu", weights_only=True)
        for epoch in range(0 if options["calibrate_only"] else config["epochs"]):
            for group in optimizer.param_groups:
                group["lr"] = config["learning_rate"] * lr_factor(config, epoch)
            model.train()
            order = torch.from_numpy(train_idx[rng.permutation(len(train_idx))])
            for start in range(0, len(order), config["batch_size"]):
                loss, _ = pipeline.batch_loss(model, order[start : start + config["batch_size"]])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                optimizer.step()
            model.eval()
            validation = pipeline.validate(model, val)
            if validation["val_loss"] < best:
                best = validation["val_loss"]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.stdout.write(
                f"epoch {epoch + 1}/{config['epochs']}: val loss {validation['val_loss']:.3f}, "
                f"{validation['summary']} ({time.monotonic() - started:.0f} s)"
            )
        model.load_state_dict(best_state)
        model.eval()
        metrics = pipeline.evaluate(model, val_idx)
        exported = pipeline.export_model(model)
        onnx, difference = onnx_export(
            exported,
            pipeline.example_inputs(val_idx[:8]),
            pipeline.input_names,
            pipeline.onnx_dynamic_axes,
            pipeline.onnx_output_names,
        )
        metrics["onnx_max_abs_difference"] = difference
        metrics["uncertainty_scales"] = pipeline.calibrate_export(onnx, val_idx)
        metrics["model_to_wls_median"] = round(
            metrics["model_median_error_m"] / metrics["wls_median_error_m"], 3
        )
        output.mkdir(parents=True, exist_ok=True)
        (output / "weights.pt").write_bytes(state_bytes(best_state))
        (output / "model.onnx").write_bytes(onnx)
        (output / "normalisation.json").write_text(json.dumps(pipeline.normalisation, indent=2))
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (output / "config.json").write_text(json.dumps(
            {**config, "dataset": {k: v for k, v in parameters.items() if k in fields},
             "seed": options["seed"], "built_by": "manage.py build_default_localization_model"},
            indent=2))  # fmt: skip
        self.stdout.write(
            f"Wrote {output} in {time.monotonic() - started:.0f} s: median "
            f"{metrics['model_median_error_m']:.0f} m vs WLS {metrics['wls_median_error_m']:.0f} m "
            f"({metrics['model_to_wls_median']}x), uncertainty {metrics['uncertainty_scales']}"
        )
