"""POST /signals/analyze on hostile numbers and degenerate signals (issue 12 §2, §5)."""

import json
import math

import numpy as np
import pytest

from apps.core.exceptions import ValidationFailed, envelope
from apps.signals.analysis import signal_analyze
from tests.helpers import assert_envelope

pytestmark = pytest.mark.django_db
ANALYZE = "/api/v1/signals/analyze"


def post_raw(client, text: str):
    return client.post(ANALYZE, data=text, content_type="application/json")


def strict_json(response) -> dict:
    """The body, refusing NaN/Infinity as a strict JSON reader would."""
    return json.loads(response.content, parse_constant=lambda c: pytest.fail(f"{c} in body"))


def test_sample_rate_1e400_is_a_400_naming_the_field(viewer_client):
    text = '{"signal_data": {"samples": [0.1, 0.2, -0.1, 0.3], "sample_rate": 1e400}}'
    response = post_raw(viewer_client, text)
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "signal_data.sample_rate")
    assert error["details"]["constraint"] == "must be a finite number"
    assert error["details"]["value"] == "Infinity"
    strict_json(response)


@pytest.mark.parametrize(
    ("samples", "field", "value"),
    [
        ("[0.1, 0.2, NaN, 0.3]", "signal_data.samples[2]", "NaN"),
        ("[0.1, -Infinity, 0.3]", "signal_data.samples[1]", "-Infinity"),
        ("[[0.1, 0.2], [0.3, -1e999]]", "signal_data.samples[1][1]", "-Infinity"),
        (
            "[1" + "0" * 400 + ", 0.2]",
            "signal_data.samples[0]",
            "10000000000000000000... (401 digits)",
        ),
    ],
)
def test_non_finite_samples_are_named(viewer_client, samples, field, value):
    text = f'{{"signal_data": {{"samples": {samples}, "sample_rate": 48000}}}}'
    response = post_raw(viewer_client, text)
    error = assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert error["details"]["value"] == value
    strict_json(response)


def test_an_error_built_with_infinity_still_renders():
    """Validated at the source, and the envelope never holds a non-finite number."""
    with pytest.raises(ValidationFailed) as caught:
        signal_analyze(payload={"signal_data": {"samples": [0.1, 0.2], "sample_rate": math.inf}})
    assert caught.value.details["field"] == "signal_data.sample_rate"
    body = envelope(caught.value.code, caught.value.message, caught.value.details)
    assert body["error"]["details"]["value"] == "Infinity"
    json.dumps(body, allow_nan=False)  # would raise on a non-finite number


def test_frequency_beyond_the_top_band_is_refused(viewer_client):
    payload = {"signal_data": {"samples": [0.1, 0.2], "sample_rate": 48000,
                               "frequency": 300_000_000_001}}  # fmt: skip
    assert_envelope(viewer_client.post(ANALYZE, payload, format="json"), 400,
                    "VALIDATION_ERROR", "signal_data.frequency")  # fmt: skip


def test_window_of_the_wrong_type_is_a_400(viewer_client):
    payload = {"signal_data": {"samples": [0.1, 0.2], "sample_rate": 48000},
               "analysis_config": {"window_function": ["hann"]}}  # fmt: skip
    assert_envelope(viewer_client.post(ANALYZE, payload, format="json"), 400,
                    "VALIDATION_ERROR", "analysis_config.window_function")  # fmt: skip


def test_constant_input_has_no_carriers_and_finite_figures(viewer_client):
    """4096 samples of 0.5 reported 30 CW carriers up to 349 dB SNR."""
    payload = {"signal_data": {"samples": [0.5] * 4096, "sample_rate": 48000,
                               "frequency": 14_235_000}}  # fmt: skip
    response = viewer_client.post(ANALYZE, payload, format="json")
    assert response.status_code == 200, response.content
    body = strict_json(response)
    assert body["carriers"] == []
    features = body["signal_features"]
    # Nothing but DC: the peak and centroid are the centre, no bandwidth, the SNR at
    # the chunk's resolution limit -5·log10(7 segments × 513 bins).
    assert features["peak_frequency"] == 14_235_000
    assert features["spectral_centroid"] == 0.0
    assert features["bandwidth"] == 0.0
    assert features["snr_estimate"] == round(-5 * math.log10(7 * 513), 2) == -17.78
    # The DC offset is measured and reported: 20·log10(0.5).
    assert body["processing_metadata"]["dc_offset_db"] == -6.02
    # The floor at the dynamic-range limit: full scale 0.5 over 48 kHz, less 150 dB.
    assert body["processing_metadata"]["noise_floor_limited"] is True
    assert features["noise_floor_db"] == round(-150 - 10 * math.log10(48_000) - 6.0206, 2)
    assert features["signal_power"] == -156.02  # no AC power: at the limit


def test_dc_offset_does_not_hide_or_fake_a_carrier(viewer_client):
    t = np.arange(8192) / 48_000
    noise = 0.001 * np.random.default_rng(3).standard_normal(8192)
    samples = (0.8 + 0.1 * np.sin(2 * np.pi * 3000 * t) + noise).round(6).tolist()
    payload = {"signal_data": {"samples": samples, "sample_rate": 48000, "frequency": 7_000_000}}
    body = viewer_client.post(ANALYZE, payload, format="json").json()
    assert [c["frequency_hz"] for c in body["carriers"]] == [7_003_000]
    assert body["signal_features"]["peak_frequency"] == 7_003_000
    assert body["processing_metadata"]["dc_offset_db"] == pytest.approx(
        20 * math.log10(0.8), abs=0.01
    )


def test_seed_004_example_works_as_written(viewer_client):
    """Four samples with fft_size 1024: the FFT is shortened to the chunk and says so."""
    payload = {
        "signal_data": {"samples": [0.1, 0.2, -0.1, 0.3], "sample_rate": 48000,
                        "frequency": 14235000, "duration": 1.0},
        "analysis_config": {"fft_size": 1024, "overlap": 0.5, "window_function": "hamming"},
    }  # fmt: skip
    response = viewer_client.post(ANALYZE, payload, format="json")
    assert response.status_code == 200, response.content
    body = strict_json(response)
    assert body["processing_metadata"]["fft_size_requested"] == 1024
    assert body["processing_metadata"]["fft_size_used"] == 4
    assert body["processing_metadata"]["segments"] == 1
    assert body["processing_metadata"]["resolution_hz"] == 12_000.0
    assert body["processing_metadata"]["dc_offset_db"] == round(20 * math.log10(0.125), 2)
    assert body["signal_features"]["signal_power"] == pytest.approx(
        10 * math.log10(np.mean((np.array([0.1, 0.2, -0.1, 0.3]) - 0.125) ** 2)), abs=0.01
    )
    assert {"spectral_centroid", "bandwidth", "snr_estimate", "peak_frequency"} <= set(
        body["signal_features"]
    )


def test_one_sample_is_below_the_true_minimum(viewer_client):
    payload = {"signal_data": {"samples": [0.1], "sample_rate": 48000}}
    error = assert_envelope(viewer_client.post(ANALYZE, payload, format="json"), 400,
                            "VALIDATION_ERROR", "signal_data.samples")  # fmt: skip
    assert error["details"]["constraint"] == "at least 2 samples"


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1.7e308])
def test_extreme_but_finite_samples_give_finite_figures(viewer_client, scale):
    """The DSP scales first: nothing overflows or underflows, dB figures move by 20·log10(scale)."""
    rng = np.random.default_rng(7)
    t = np.arange(4096) / 48_000
    unit = 0.5 * np.sin(2 * np.pi * 6000 * t) + 0.01 * rng.standard_normal(4096)
    unit /= np.max(np.abs(unit))

    def analyze(samples):
        payload = {"signal_data": {"samples": samples.tolist(), "sample_rate": 48000}}
        response = viewer_client.post(ANALYZE, payload, format="json")
        assert response.status_code == 200, response.content
        return strict_json(response)

    reference, scaled = analyze(unit), analyze(unit * scale)
    offset = 20 * math.log10(scale)
    for name in ("signal_power", "noise_floor_db"):
        assert scaled["signal_features"][name] == pytest.approx(
            reference["signal_features"][name] + offset, abs=0.02
        )
    for name in ("snr_estimate", "bandwidth", "peak_frequency", "spectral_centroid"):
        assert scaled["signal_features"][name] == pytest.approx(
            reference["signal_features"][name], abs=0.02
        )
    assert [c["frequency_hz"] for c in scaled["carriers"]] == [6000]


def test_complex_pairs_at_the_float_limit(viewer_client):
    samples = [[1.7e308, -1.7e308], [-1.7e308, 1.7e308]] * 64
    payload = {"signal_data": {"samples": samples, "sample_rate": 48000}}
    response = viewer_client.post(ANALYZE, payload, format="json")
    assert response.status_code == 200, response.content
    body = strict_json(response)
    assert all(math.isfinite(v) for v in body["signal_features"].values())
