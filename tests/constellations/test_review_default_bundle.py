"""The one documented command that rebuilds the shipped default localization bundle
(`manage.py build_default_localization_model`, docs/localization.md) works and its
output serves fixes as the web process loads it (onnxruntime, no torch).

Found: nothing ran the command, so the "the repo can rebuild it" promise of the issue
was untested. A small build (400 samples, 1 epoch, ~6 s) checks the whole path."""

import json

import numpy as np
from django.core.management import call_command

from apps.ml.localization import LocalizationModel
from tests.constellations import factories


def test_the_rebuild_command_writes_a_bundle_that_serves(tmp_path):
    call_command("build_default_localization_model", samples=400, epochs=1, seed=7,
                 output=str(tmp_path))  # fmt: skip
    names = {path.name for path in tmp_path.iterdir()}
    assert {"model.onnx", "normalisation.json", "metrics.json", "config.json",
            "weights.pt"} <= names  # fmt: skip
    normalisation = json.loads((tmp_path / "normalisation.json").read_text())
    assert {"trained_for", "grid", "uncertainty", "uncertainty_unknown_power"} <= set(normalisation)
    served = LocalizationModel((tmp_path / "model.onnx").read_bytes(), normalisation)
    rows = factories.ITALIAN
    lat = np.array([row["latitude"] for row in rows])
    lon = np.array([row["longitude"] for row in rows])
    assert served.scope_problem(lat, lon, factories.FREQUENCY_HZ) is None
    strengths = factories.strengths([row["id"] for row in rows])
    fix = served.predict(lat, lon, list(strengths.values()), factories.FREQUENCY_HZ)
    assert 43 < fix.latitude < 47 and 6 < fix.longitude < 11
    assert abs(sum(fix.posterior.as_dict()["probabilities"]) - 1) < 1e-6
    # --calibrate-only keeps the weights and writes the rest again.
    weights = (tmp_path / "weights.pt").read_bytes()
    call_command("build_default_localization_model", samples=400, seed=7, calibrate_only=True,
                 output=str(tmp_path))  # fmt: skip
    assert (tmp_path / "weights.pt").read_bytes() == weights
