"""The served localization model: the shipped default, hot reload, scope, power handling."""

import math

import pytest
from django.core.management import call_command

from apps.ml import localization
from apps.ml.management.commands.ensure_default_models import (
    LOCALIZATION_BUNDLE,
    register_default_localization_model,
)
from apps.ml.models import MLModel
from apps.ml.services import model_activate, model_register

pytestmark = pytest.mark.django_db
LAT, LON = [44.5, 45.5, 45.0, 44.8], [7.5, 8.0, 9.5, 8.6]
RSS = [-95.0, -100.0, -105.0, -92.0]


def test_ensure_default_models_deploys_the_shipped_localization_model(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ensure_default_models", verbosity=0)
        call_command("ensure_default_models", verbosity=0)  # idempotent
    deployed = MLModel.objects.get(model_type="localization", status="deployed")
    assert (deployed.name, deployed.version) == ("deepsets-default", "1.0.0")
    assert deployed.config["model_architecture"] == "deepsets"
    assert deployed.metrics["model_median_error_m"] < deployed.metrics["wls_median_error_m"]
    served = localization.active_localization_model()
    assert served.model_id == str(deployed.pk)
    assert served.output_names == ["output", "posterior"]


def test_activating_another_model_is_picked_up_without_a_restart(
    localization_model, django_capture_on_commit_callbacks
):
    assert localization.active_localization_model().model_id == str(localization_model.pk)
    with django_capture_on_commit_callbacks(execute=True):
        other = model_register(
            name="deepsets-copy", version="2.0.0", model_type="localization",
            weights=(LOCALIZATION_BUNDLE / "weights.pt").read_bytes(), weights_name="weights.pt",
            metrics={}, config={"model_architecture": "deepsets"},
            extra_files={name: (LOCALIZATION_BUNDLE / name).read_bytes()
                         for name in ("model.onnx", "normalisation.json")},
        )  # fmt: skip
        model_activate(model=other)
    localization._active.expire()  # skip the one-second recheck interval
    served = localization.active_localization_model()
    assert (served.model_id, served.version) == (str(other.pk), "2.0.0")
    # An older fix's model stays available by id (to redraw its posterior).
    assert localization.localization_model(localization_model.pk).version == "1.0.0"


def test_scope(localization_model):
    served = localization.active_localization_model()
    assert served.scope_problem(LAT, LON, 145_500_000) is None
    low, high = served.trained_for["receivers"]
    assert served.scope_problem(LAT[:2], LON[:2], 145_500_000).startswith("2 receivers")
    many = high + 1
    assert served.scope_problem([45.0] * many, [8.0] * many, 145_500_000) == (
        f"{many} receivers; the model was trained for {low}–{high}"
    )
    assert "outside the model's band" in served.scope_problem(LAT, LON, 433_500_000)
    assert served.scope_problem([*LAT[:3], 52.2], [*LON[:3], 6.85], 145_500_000) == (
        "a receiver at 52.2000, 6.8500 is outside the model's area 44.0–46.0 °N, 7.0–10.0 °E"
    )


def test_a_known_power_moves_strengths_to_the_training_power(localization_model):
    served = localization.active_localization_model()
    at_37 = served.predict(LAT, LON, RSS, 145_000_000, 37.0)
    louder = served.predict(LAT, LON, [r + 10 for r in RSS], 145_000_000, 47.0)
    assert math.isclose(at_37.latitude, louder.latitude, abs_tol=1e-6)
    assert math.isclose(at_37.longitude, louder.longitude, abs_tol=1e-6)
    unknown = served.predict(LAT, LON, RSS, 145_000_000)
    assert unknown.tx_power_estimated and not at_37.tx_power_estimated
    assert abs(unknown.posterior.probabilities.sum() - 1.0) < 1e-9


def test_registering_the_default_twice_returns_the_same_model():
    assert register_default_localization_model().pk == register_default_localization_model().pk
