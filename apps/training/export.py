"""A finished job's model bundle, and where a new job's weights start from.

Bundle (apps.ml registry): best weights (`weights.pt`, the artifact), `last.pt`,
`model.onnx`, `normalisation.json`, metrics and config. The ONNX export is run
with onnxruntime on validation inputs and compared with torch before the
bundle is registered; a mismatch fails the job.
"""

import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from django.conf import settings

from apps.ml import bundles
from apps.ml.models import MLModel

logger = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-3  # max |onnx - torch|, relative to the output's scale


class ExportMismatch(Exception):
    pass


def state_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)  # loaded with torch.load(weights_only=True): tensors only
    return buffer.getvalue()


def onnx_export(
    model,
    example_inputs: tuple,
    input_names: list[str],
    dynamic: dict | None = None,
    output_names: list[str] | None = None,
) -> tuple[bytes, float]:
    """(ONNX bytes, max abs difference from torch on `example_inputs`); raises on mismatch.

    Every input's first axis is the batch; `dynamic` names further free axes per input
    (e.g. the number of receivers). A model returning a tuple names each output in
    `output_names` (default one, "output"); every output is compared."""
    import onnxruntime

    output_names = output_names or ["output"]
    model = model.cpu().eval()
    inputs = tuple(t.cpu() for t in example_inputs)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs
        # onnxscript; it is chosen on purpose, and its output is checked below.
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(model, inputs, buffer, input_names, dynamic or {}, output_names)
    data = buffer.getvalue()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(*inputs)
    expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
    feed = {name: t.numpy() for name, t in zip(input_names, inputs, strict=True)}
    difference = 0.0
    for want, got in zip(expected, session.run(None, feed), strict=True):
        gap = float(np.max(np.abs(got - want)))
        scale = max(1.0, float(np.max(np.abs(want))))
        if not gap <= ONNX_TOLERANCE * scale:
            raise ExportMismatch(f"ONNX output differs from torch by {gap:.3g}")
        difference = max(difference, gap)
    return data, difference


def _export(model, inputs: tuple, buffer, input_names: list[str], dynamic: dict,
            output_names: list[str]) -> None:  # fmt: skip
    axes = {name: {0: "batch", **dynamic.get(name, {})} for name in input_names}
    torch.onnx.export(
        model,
        inputs,
        buffer,
        dynamo=False,  # the TorchScript exporter: no onnxscript dependency
        input_names=input_names,
        output_names=output_names,
        dynamic_axes={**axes, **{name: {0: "batch"} for name in output_names}},
        opset_version=17,
    )


def initial_weights(model, *, architecture: str, pipeline, pretrained: bool) -> str:
    """Load the starting weights (ARCHITECTURE.md §6) into `model`; say where they came from.

    Nothing is downloaded: a weights file configured for the architecture
    (HEIMDALL_PRETRAINED_DIR/<architecture>.pt) wins, else the best earlier
    bundle of the same architecture in the registry, else random initialisation.
    Tensors whose shape differs (another number of classes) keep their init.
    """
    if not pretrained:
        return "random initialisation (pretrained: false)"
    source, state = None, None
    directory = getattr(settings, "HEIMDALL_PRETRAINED_DIR", "")
    if directory and (Path(directory) / f"{architecture}.pt").is_file():
        path = Path(directory) / f"{architecture}.pt"
        state, source = torch.load(path, map_location="cpu", weights_only=True), f"file {path}"
    else:
        earlier = _best_earlier(architecture, pipeline)
        if earlier is not None:
            data = bundles.read_verified(earlier.artifact_path, earlier.artifact_sha256)
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            source = f"model {earlier.name} {earlier.version} ({earlier.pk})"
    if state is None:
        return f"random initialisation (no earlier {architecture} model or weights file)"
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return f"{source}: {len(usable)} of {len(own)} tensors"


def _best_earlier(architecture: str, pipeline) -> MLModel | None:
    """The registry's best bundle of `architecture`, by the pipeline's own measure."""
    best = None
    for candidate in MLModel.objects.filter(
        model_type=pipeline.model_type, config__model_architecture=architecture
    ).exclude(artifact_path=""):
        if best is None or pipeline.better(candidate.metrics, best.metrics):
            best = candidate
    return best


def register_bundle(job, *, model_type: str, best: dict, last: dict, onnx: bytes,
                    normalisation: dict, metrics: dict) -> MLModel:  # fmt: skip
    from apps.ml.services import model_register

    return model_register(
        name=f"{job.model_architecture}-{str(job.pk)[:8]}",
        version="1.0.0",
        model_type=model_type,
        weights=state_bytes(best),
        weights_name="weights.pt",
        metrics=metrics,
        config={**job.config, "training_job_id": str(job.pk), "dataset_id": str(job.dataset_id)},
        extra_files={
            "last.pt": state_bytes(last),
            "model.onnx": onnx,
            "normalisation.json": json.dumps(normalisation, indent=2).encode(),
        },
    )
