"""Registry records with real bundles, built through the services (no torch needed)."""

import hashlib
import json

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from factory.django import DjangoModelFactory

from apps.ml.models import MLModel
from apps.ml.services import model_create, model_register

CLASSES = ["CW", "AM", "USB", "LSB", "FM", "FSK", "PSK", "NOISE"]
# 8 classes; rows: true label, columns: predicted
CONFUSION = [
    [10, 0, 0, 0, 0, 0, 0, 0],
    [0, 8, 0, 0, 2, 0, 0, 0],
    [0, 0, 7, 3, 0, 0, 0, 0],
    [0, 0, 1, 9, 0, 0, 0, 0],
    [0, 1, 0, 0, 9, 0, 0, 0],
    [0, 0, 0, 0, 0, 6, 4, 0],
    [0, 0, 0, 0, 0, 2, 8, 0],
    [0, 0, 0, 0, 0, 0, 0, 10],
]


def tiny_onnx(features: int = 4) -> bytes:
    """A valid ONNX model (y = x W, W 4×3), loadable by onnxruntime."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((features, 3), dtype=np.float32), "weight")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["output"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def classifier_metrics() -> dict:
    return {
        "accuracy": 0.8375,
        "confusion_matrix": CONFUSION,
        "classes": CLASSES,
        "weights_precision": "float16",
    }


def localization_metrics() -> dict:
    return {
        "model_median_error_m": 900.0,
        "model_p90_error_m": 2100.0,
        "wls_median_error_m": 1200.0,
        "wls_p90_error_m": 2900.0,
        "crb_median_m": 700.0,
        "crb_p90_m": 1500.0,
        "error_percentiles_m": {
            "model": {"p50": 900.0, "p68": 1200.0, "p90": 2100.0, "p95": 2600.0},
            "wls": {"p50": 1200.0, "p68": 1600.0, "p90": 2900.0, "p95": 3500.0},
            "crb": {"p50": 700.0, "p68": 850.0, "p90": 1500.0, "p95": 1900.0},
        },
        "uncertainty_coverage": {
            "cep50": 0.52,
            "circle95": 0.93,
            "expected": {"cep50": 0.5, "circle95": 0.95},
        },
        "validation_samples": 200,
    }


def registered(
    model_type: str = "localization",
    *,
    name: str = "tiny",
    version: str = "1.0.0",
    metrics: dict | None = None,
    created_by=None,
    status: str | None = None,
) -> MLModel:
    """A `trained` model with a real bundle (a tiny ONNX file, normalisation, manifest)."""
    if metrics is None:
        metrics = (
            classifier_metrics()
            if model_type == "signal_classification"
            else (localization_metrics())
        )
    model = model_register(
        name=name,
        version=version,
        model_type=model_type,
        weights=tiny_onnx(),
        weights_name="model.onnx",
        metrics=metrics,
        config={
            "model_architecture": "deepsets" if model_type == "localization" else "convnext_tiny"
        },
        extra_files={"normalisation.json": json.dumps({"mean": [0.0]}).encode()},
        created_by=created_by,
    )
    if status:
        MLModel.objects.filter(pk=model.pk).update(status=status)
        model.refresh_from_db()
    return model


def draft(user, *, name: str = "Locator", model_type: str = "localization", **extra) -> MLModel:
    return model_create(
        user=user,
        name=name,
        model_type=model_type,
        architecture=extra.pop(
            "architecture", "deepsets" if model_type == "localization" else "convnext_tiny"
        ),
        **extra,
    )


class MLModelFactory(DjangoModelFactory):
    """A registry row in any status, as the state machine would leave it (no bundle):
    `MLModelFactory(model_type="anomaly_detection", status="deployed")`. For a model
    with a real bundle use `registered()`; for one created through the API, `draft()`."""

    class Meta:
        model = MLModel

    name = factory.Sequence(lambda n: f"model-{n:03d}")
    version = "1.0.0"
    model_type = MLModel.Type.LOCALIZATION
    architecture = "deepsets"
    status = MLModel.Status.DRAFT


def external_bundle(folder: str = "external/run-1", *, onnx: bytes | None = None) -> str:
    """What an external trainer writes into artifact storage: files and a manifest."""
    onnx = onnx or tiny_onnx()
    files = {"model.onnx": onnx, "normalisation.json": b"{}"}
    for name, data in files.items():
        default_storage.save(f"{folder}/{name}", ContentFile(data))
    manifest = {
        "model_type": "localization",
        "artifact": "model.onnx",
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()
        },
    }
    default_storage.save(f"{folder}/bundle.json", ContentFile(json.dumps(manifest).encode()))
    return folder
