"""A finished job's model bundle, and where a new job's weights start from.

Bundle (apps.ml.bundles): `model.onnx` (the artifact: graph and the best
epoch's weights, stored once, in float16 where the validation metric allowed
it), `normalisation.json`, `metrics.json` and the manifest. The torch
weights are the ONNX initializers: the export keeps every parameter under its
state-dict name (checked; a model where that fails also gets a `weights.pt`),
so `pretrained` starts read them back from the ONNX file. The export is run
with onnxruntime on validation inputs and compared with torch before the
bundle is registered; a mismatch fails the job.

Size (docs/performance.md): a 2-epoch convnext_tiny job used to write three
float32 copies of its weights (weights.pt, last.pt and model.onnx, 319 MB);
it now writes one float16 copy.
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
    *,
    half_storage: bool = False,
) -> tuple[bytes, float]:
    """(ONNX bytes, max abs difference from torch on `example_inputs`); raises on mismatch.

    Every input's first axis is the batch; `dynamic` names further free axes per input
    (e.g. the number of receivers). A model returning a tuple names each output in
    `output_names` (default one, "output"); every output is compared. With
    `half_storage` the weights are stored as float16 (the model's weights must already be
    rounded to it: apps.training.runner's choose_precision), and the graph casts them
    back to float32."""
    import onnxruntime

    output_names = output_names or ["output"]
    model = model.cpu().eval()
    inputs = tuple(t.cpu() for t in example_inputs)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs
        # onnxscript; it is chosen on purpose, and its output is checked below.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        _export(model, inputs, buffer, input_names, dynamic or {}, output_names)
    data = bundles.onnx_constant_initializers(buffer.getvalue())
    if half_storage:
        data = bundles.onnx_half_storage(data)
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
        # Every parameter stays an initializer under its state-dict name (no folding,
        # no de-duplication): the weights can be read back from the file.
        do_constant_folding=False,
        keep_initializers_as_inputs=True,
    )


def onnx_state(data: bytes, like: dict) -> dict | None:
    """The torch state dict stored in an ONNX export (float32), or None if a tensor of
    `like` (the model's state dict) is not there under its name and shape."""
    weights = bundles.onnx_weights(data)
    state = {}
    for key, tensor in like.items():
        array = weights.get(key)
        if array is None or tuple(array.shape) != tuple(tensor.shape):
            return None
        state[key] = torch.from_numpy(np.array(array, copy=True)).to(tensor.dtype)
    return state


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
            state = _stored_state(earlier, model.state_dict())
            source = f"model {earlier.name} {earlier.version} ({earlier.pk})"
    if state is None:
        return f"random initialisation (no earlier {architecture} model or weights file)"
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return f"{source}: {len(usable)} of {len(own)} tensors"


def _stored_state(model: MLModel, like: dict) -> dict:
    """A registered model's torch weights: from its ONNX file (bundle format 2, with a
    `weights.pt` beside it where the names did not survive), or its `weights.pt`."""
    data = bundles.read_verified(model.artifact_path, model.artifact_sha256)
    if model.artifact_path.endswith(".onnx"):
        state = onnx_state(data, like)
        if state is not None:
            return state
        folder = model.artifact_path.rsplit("/", 1)[0]
        bundle, _ = bundles.check_folder(folder)
        item = bundle.file("weights.pt") if bundle else None
        if item is None:
            return {}
        data = bundles.read_verified(item.path, item.sha256)
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _best_earlier(architecture: str, pipeline) -> MLModel | None:
    """The registry's best bundle of `architecture`, by the pipeline's own measure."""
    best = None
    for candidate in (
        MLModel.objects.filter(
            model_type=pipeline.model_type, config__model_architecture=architecture
        )
        .exclude(artifact_path="")
        .exclude(status__in=["failed", "archived"])
    ):
        if best is None or pipeline.better(candidate.metrics, best.metrics):
            best = candidate
    return best


def register_bundle(
    job, *, pipeline, model, onnx: bytes, metrics: dict, training_metrics: dict
) -> MLModel:
    """The job's bundle in the registry: the model the job trains (POST /models/train)
    becomes `trained` with it, or a new model is registered."""
    from apps.ml.services import model_register, model_training_completed

    config = {**job.config, "training_job_id": str(job.pk), "dataset_id": str(job.dataset_id)}
    files = {"normalisation.json": json.dumps(pipeline.normalisation, indent=2).encode()}
    if onnx_state(onnx, model.state_dict()) is None:  # names lost in the export
        logger.warning("job %s: weights not recoverable from the ONNX file; stored twice", job.pk)
        files["weights.pt"] = state_bytes(
            {
                k: v.half()
                if metrics["weights_precision"] == "float16" and v.is_floating_point()
                else v
                for k, v in model.state_dict().items()
            }
        )
    if job.ml_model_id:
        linked = MLModel.objects.get(pk=job.ml_model_id)
        return model_training_completed(
            model=linked,
            artifact_name="model.onnx",
            files={"model.onnx": onnx, **files},
            metrics=metrics,
            training_metrics=training_metrics,
            config=config,
        )
    return model_register(
        name=f"{job.model_architecture}-{str(job.pk)[:8]}",
        version="1.0.0",
        model_type=pipeline.model_type,
        weights=onnx,
        weights_name="model.onnx",
        metrics=metrics,
        config=config,
        extra_files=files,
        architecture=job.model_architecture,
        training_metrics=training_metrics,
        created_by=job.created_by,
    )
