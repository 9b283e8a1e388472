"""`auto_activate`: a finished job's model replaces the active one only if it is better on
the same validation data.

The active model of the type is run through its own ONNX export (and its own
features and standardisation, from its normalisation.json) on the job's
validation samples, and compared with the new model on the pipeline's
headline metric (accuracy for classifiers, median error for localization).
The verdict, either way, is the job's final message.
"""

import json
import logging

from apps.core.exceptions import HeimdallError
from apps.ml import bundles
from apps.ml.selectors import active_model
from apps.ml.services import model_activate

logger = logging.getLogger(__name__)


def _active_headline(active, pipeline, val_idx) -> float:
    import onnxruntime

    bundle, reason = bundles.model_bundle(active)
    if reason is not None:
        raise ValueError(reason)
    onnx = bundle.file("model.onnx")
    normalisation = bundle.file("normalisation.json")
    if onnx is None or normalisation is None:
        raise ValueError("its bundle has no model.onnx and normalisation.json")
    session = onnxruntime.InferenceSession(
        bundles.read_verified(onnx.path, onnx.sha256), providers=["CPUExecutionProvider"]
    )
    stats = json.loads(bundles.read_verified(normalisation.path, normalisation.sha256))
    return pipeline.onnx_headline(session, stats, val_idx)


def _format(name: str, value: float) -> str:
    return f"{value:.1%} accuracy" if name == "accuracy" else f"median error {value:.0f} m"


def auto_activate(model, pipeline, val_idx, metrics: dict) -> str:
    """Activate `model` if it beats the active model of its type on `val_idx`; the
    message that says what happened."""
    name = pipeline.headline_name
    ours = metrics[
        "headline_float16" if metrics["weights_precision"] == "float16" else "headline_float32"
    ]
    active = active_model(model_type=model.model_type)
    if active is not None and active.pk != model.pk:
        try:
            theirs = _active_headline(active, pipeline, val_idx)
        except (ValueError, KeyError, HeimdallError) as exc:
            return (
                f"Done; not activated: the active model {active.name} {active.version} "
                f"could not be evaluated on this validation data ({exc})"
            )
        except Exception as exc:  # onnxruntime's own errors (shapes, inputs)
            logger.warning("active model %s not evaluable", active.pk, exc_info=True)
            return (
                f"Done; not activated: the active model {active.name} {active.version} "
                f"could not be evaluated on this validation data ({exc})"
            )
        if not pipeline.headline_better(ours, theirs):
            return (
                f"Done; not activated: {_format(name, ours)} does not beat the active "
                f"model {active.name} {active.version} ({_format(name, theirs)}) on the "
                f"same {len(val_idx)} validation samples"
            )
        verdict = (
            f"{_format(name, ours)} beats the active model {active.name} "
            f"{active.version} ({_format(name, theirs)}) on the same {len(val_idx)} "
            "validation samples"
        )
    else:
        verdict = f"no {model.model_type} model was active"
    try:
        model_activate(model=model)
    except HeimdallError as exc:
        return f"Done; not activated: {exc.message}"
    return f"Done; activated: {verdict}"
