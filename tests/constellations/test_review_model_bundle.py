"""A localization model bundle whose files do not fit together is never served.

Found: a registered bundle was only checked for an ONNX file onnxruntime can open. The
shipped model with a normalisation.json whose `std` is zero or `mean` NaN (non-finite
positions), whose grid does not match the model's posterior (a numpy broadcast error), or
another network's ONNX (missing inputs) loaded as "active", and then every
POST .../localize was a 500 — `method: "auto"` too — and every automatic fix was lost.
Now such a model fails a test request when it loads: `auto` falls back to WLS saying
why, `model` is the 409; a model that fails later, on one request, is handled the same."""

import json
from dataclasses import replace

import numpy as np
import pytest

from apps.constellations.models import Localization
from apps.ml import localization as served_models
from apps.ml.management.commands.ensure_default_models import LOCALIZATION_BUNDLE
from apps.ml.models import MLModel
from apps.ml.services import model_activate, model_register
from tests.constellations import factories
from tests.helpers import assert_envelope, client_for, make_user
from tests.ml.factories import tiny_onnx

pytestmark = pytest.mark.django_db
IDS = [row["id"] for row in factories.ITALIAN]


def _broken(case: str) -> tuple[bytes, dict]:
    onnx = (LOCALIZATION_BUNDLE / "model.onnx").read_bytes()
    normalisation = json.loads((LOCALIZATION_BUNDLE / "normalisation.json").read_text())
    if case == "zero std":
        normalisation["std"] = [0.0] * len(normalisation["std"])
    elif case == "nan mean":
        normalisation["mean"] = [float("nan")] * len(normalisation["mean"])
    elif case == "grid":
        normalisation["grid"]["cells"] = 10
    elif case == "other network":
        onnx = tiny_onnx()
    elif case == "trained_for":
        normalisation["trained_for"]["receivers"] = "three to ten"
    return onnx, normalisation


@pytest.fixture
def world():
    owner = make_user("olga", "operator")
    factories.italian_stations()
    return owner, factories.constellation_of(owner, IDS)


def _activate(name, onnx, normalisation, capture):
    with capture(execute=True):
        model = model_register(
            name=name, version="1.0.0", model_type=MLModel.Type.LOCALIZATION, weights=onnx,
            weights_name="model.onnx", metrics={}, config={}, architecture="deepsets",
            extra_files={"normalisation.json": json.dumps(normalisation).encode()},
        )  # fmt: skip
        model_activate(model=model)
    return model


@pytest.mark.parametrize("case", ["zero std", "nan mean", "grid", "other network", "trained_for"])
def test_a_bundle_that_cannot_serve_falls_back(world, case, django_capture_on_commit_callbacks):
    owner, constellation = world
    model = _activate(case, *_broken(case), django_capture_on_commit_callbacks)
    client = client_for(owner)
    url = f"/api/v1/constellations/{constellation.pk}/localize"
    body = {"frequency_hz": factories.FREQUENCY_HZ,
            "measurements": factories.measurements(factories.strengths(IDS))}  # fmt: skip
    fix = client.post(url, body, format="json")
    assert fix.status_code == 201, fix.content
    assert fix.json()["method"] == "wls"
    assert fix.json()["warnings"][0].startswith(
        f"WLS used instead of the model: model {model.pk} could not be loaded"
    )
    refused = client.post(url, {**body, "method": "model"}, format="json")
    assert_envelope(refused, 409, "CONFLICT", "method")
    assert Localization.objects.count() == 1


def test_a_model_failing_on_one_request_falls_back(world, localization_model, monkeypatch):
    owner, constellation = world
    client = client_for(owner)
    url = f"/api/v1/constellations/{constellation.pk}/localize"
    body = {"frequency_hz": factories.FREQUENCY_HZ,
            "measurements": factories.measurements(factories.strengths(IDS))}  # fmt: skip
    good = client.post(url, body, format="json").json()
    assert good["method"] == "model"
    real = served_models.LocalizationModel.predict_many

    def nan_fixes(self, requests, chunk=16):
        return [replace(fix, latitude=float("nan")) for fix in real(self, requests, chunk)]

    monkeypatch.setattr(served_models.LocalizationModel, "predict_many", nan_fixes)
    fix = client.post(url, body, format="json")
    assert fix.status_code == 201, fix.content
    assert fix.json()["method"] == "wls"
    assert (
        "could not serve this request: it gave a non-finite position" in (fix.json()["warnings"][0])
    )
    assert_envelope(client.post(url, {**body, "method": "model"}, format="json"), 409,
                    "CONFLICT", "method")  # fmt: skip

    def raises(self, requests, chunk=16):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION")

    monkeypatch.setattr(served_models.LocalizationModel, "predict_many", raises)
    fix = client.post(url, body, format="json")
    assert fix.status_code == 201 and fix.json()["method"] == "wls"
    assert "it failed: [ONNXRuntimeError]" in fix.json()["warnings"][0]
    # The earlier model fix's posterior: null rather than a 500 while the model fails.
    detail = client.get(f"/api/v1/localizations/{good['id']}", {"include": "posterior"})
    assert detail.status_code == 200 and detail.json()["posterior"] is None
    assert np.isfinite([fix.json()["latitude"], fix.json()["longitude"]]).all()
