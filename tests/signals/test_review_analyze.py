"""POST /signals/analyze input the review found accepted: booleans and strings as samples
(numpy turned them into 1.0 and 0.5), and unknown keys at every level — a client writing
`analysis_options` (not `analysis_config`) got the defaults with a 200 and never knew."""

import pytest

from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/signals/analyze"
SAMPLES = [0.1, 0.2, -0.1, 0.3] * 32


@pytest.fixture
def client(db):
    return client_for(make_user("otto", "operator"))


@pytest.mark.parametrize(
    ("samples", "field"),
    [
        ([True] * 128, "signal_data.samples[0]"),
        ([*SAMPLES[:5], False, *SAMPLES[6:]], "signal_data.samples[5]"),
        (["0.5"] * 128, "signal_data.samples[0]"),
        ([[0.5, 0.1], [0.5, True]] * 64, "signal_data.samples[1]"),
        ([[0.5, "0.1"]] * 128, "signal_data.samples[0]"),
    ],
)
def test_samples_must_be_json_numbers(client, samples, field):
    body = {"signal_data": {"samples": samples, "sample_rate": 48000}}
    assert_envelope(client.post(URL, body, format="json"), 400, "VALIDATION_ERROR", field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signal_data": {"samples": SAMPLES, "sample_rate": 48000},
          "analysis_options": {"fft_size": 64}}, "analysis_options"),
        ({"signal_data": {"samples": SAMPLES, "sample_rate": 48000, "center_frequency": 1}},
         "signal_data.center_frequency"),
        ({"signal_data": {"samples": SAMPLES, "sample_rate": 48000},
          "analysis_config": {"fftsize": 64}}, "analysis_config.fftsize"),
    ],
)  # fmt: skip
def test_unknown_keys_are_named(client, body, field):
    assert_envelope(client.post(URL, body, format="json"), 400, "VALIDATION_ERROR", field)


def test_seed_004s_example_still_works(client):
    body = {"signal_data": {"samples": [0.1, 0.2, -0.1, 0.3], "sample_rate": 48000,
                            "frequency": 14235000, "duration": 1.0},
            "analysis_config": {"fft_size": 1024, "overlap": 0.5,
                                "window_function": "hamming"}}  # fmt: skip
    response = client.post(URL, body, format="json")
    assert response.status_code == 200, response.content


def test_pairs_mixed_with_plain_samples_are_named(client):
    body = {"signal_data": {"samples": [[0.5, 0.1], 0.5] * 64, "sample_rate": 48000}}
    assert_envelope(client.post(URL, body, format="json"), 400, "VALIDATION_ERROR",
                    "signal_data.samples[1]")  # fmt: skip


def test_an_unknown_key_beside_detections_is_named_and_nothing_is_stored(client):
    # Found: {"detections": [...], "source": "x"} stored the batch and ignored "source".
    from apps.core.timeutil import utc_now
    from apps.signals.models import SignalDetection
    from tests.stations.factories import StationFactory

    StationFactory(id="twente-nl")
    detection = {"id": "0b6b2f5e-4c8e-4d43-9a51-6a7d1f7c0a11", "websdr_station_id": "twente-nl",
                 "frequency_hz": 7_100_000, "signal_strength_db": -80.0,
                 "detection_timestamp": utc_now().isoformat()}  # fmt: skip
    response = client.post("/api/v1/signals/detections",
                           {"detections": [detection], "source": "x"}, format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "source")
    assert not SignalDetection.objects.exists()
