"""Localization models: the evidence-map pooling, set properties, a Set Transformer job."""

import pytest
import torch
from django.core.files.storage import default_storage

from apps.ml.models import MLModel
from apps.training import tasks
from apps.training.localization import (
    DeepSets,
    EvidenceMap,
    LocalizationPipeline,
    SetTransformer,
)
from tests.helpers import small_dataset

JOBS = "/api/v1/training/jobs"


def test_exact_ranges_put_the_transmitter_where_they_cross():
    decoder = EvidenceMap(half_extent_km=(100.0, 100.0), cells=41)  # 5 km grid
    transmitter = torch.tensor([25.0, -40.0])  # a grid point
    receivers = torch.tensor([[[-80.0, 60.0], [90.0, 10.0], [0.0, -95.0], [-50.0, -70.0]]])
    distance = ((receivers - transmitter) ** 2).sum(-1).add(1.0).sqrt()
    ranging = torch.stack([distance.log() - 4.0, torch.full_like(distance, 8.0)], -1)
    output = decoder(ranging, receivers, torch.ones(1, 4, dtype=torch.bool))
    assert torch.dist(output[0, :2], transmitter) < 0.5
    assert output[0, 2] < 0.5  # a sharp posterior: sigma about a kilometre or less


@pytest.mark.parametrize("architecture", [DeepSets, SetTransformer])
def test_receiver_order_and_padding_do_not_matter(architecture):
    torch.manual_seed(0)
    model = architecture(dropout=0.0).eval()
    x = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    with torch.no_grad():
        reference = model(x, mask)
        order = torch.tensor([3, 1, 0, 2, 4, 5])  # first sample: heard ones shuffled
        shuffled = model(x[:, order], mask[:, order])
        padded = x.clone()
        padded[0, 4:] = 1e3  # whatever sits in the padding
        garbage = model(padded, mask)
    assert torch.allclose(shuffled[0], reference[0], atol=1e-4)
    assert torch.equal(garbage, reference)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_set_transformer_job_trains_and_its_bundle_loads(
    operator_client, django_capture_on_commit_callbacks
):
    dataset_id = small_dataset(operator_client, django_capture_on_commit_callbacks, samples=200)
    with django_capture_on_commit_callbacks(execute=True):
        job = operator_client.post(
            JOBS,
            {"job_name": "st", "config": {"model_architecture": "set_transformer", "epochs": 2,
                                          "warmup_epochs": 0, "dataset_id": dataset_id}},
            format="json",
        ).json()  # fmt: skip
    assert tasks.run_training_job(job["id"]) == "completed"
    registered = MLModel.objects.get(config__training_job_id=job["id"])
    assert registered.metrics["onnx_max_abs_difference"] < 1e-3
    from apps.training.export import onnx_state

    data = default_storage.open(registered.artifact_path).read()
    state = onnx_state(data, SetTransformer().state_dict())  # the weights, from the ONNX file
    assert state is not None
    SetTransformer().load_state_dict(state, strict=True)  # every tensor, right shapes
    # The bundle serves: its ONNX export has the posterior output, its normalisation says
    # what the model was trained for and how its uncertainty was calibrated (validation).
    from apps.ml.localization import load_localization_model

    served = load_localization_model(registered)
    assert served.output_names == ["output", "posterior"]
    assert served.calibrated and served.scales.ellipse95 > 0
    assert served.trained_for["frequency_hz"] == [144_000_000, 146_000_000]
    assert registered.metrics["uncertainty_scales"]["uncertainty"] == served.scales.as_dict()
    assert (registered.metrics["uncertainty_scales"]["uncertainty_unknown_power"]
            == served.scales_unknown_power.as_dict())  # fmt: skip
    fix = served.predict([44.5, 45.5, 45.0], [7.5, 8.0, 9.5], [-95.0, -100.0, -105.0],
                         145_000_000, 37.0)  # fmt: skip
    assert 44.0 <= fix.latitude <= 46.0 and 7.0 <= fix.longitude <= 10.0
    assert abs(fix.posterior.probabilities.sum() - 1.0) < 1e-9


@pytest.mark.parametrize("architecture", [DeepSets, SetTransformer])
def test_the_onnx_export_takes_any_batch_and_set_size(architecture):
    import numpy as np
    import onnxruntime

    from apps.training.export import onnx_export

    torch.manual_seed(0)
    model = architecture(dropout=0.0).eval()
    x, mask = torch.randn(8, 10, 4), torch.rand(8, 10) < 0.7
    mask[:, :3] = True  # at least three receivers, as the generator guarantees
    names = LocalizationPipeline.input_names
    data, _ = onnx_export(model, (x, mask), names, LocalizationPipeline.onnx_dynamic_axes)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    for batch, receivers in ((3, 10), (2, 6), (1, 15)):
        xs, masks = torch.randn(batch, receivers, 4), torch.ones(batch, receivers, dtype=torch.bool)
        masks[0, 3:] = False  # one set with padding
        got = session.run(None, dict(zip(names, (xs.numpy(), masks.numpy()), strict=True)))[0]
        with torch.no_grad():
            expected = model(xs, masks).numpy()
        assert got.shape == (batch, 3)
        assert np.abs(got - expected).max() < 1e-3
