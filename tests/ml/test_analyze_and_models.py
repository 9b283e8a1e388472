import numpy as np
import pytest

from apps.ml.models import MLModel
from apps.signals.models import SignalDetection
from tests.helpers import assert_envelope
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
ANALYZE = "/api/v1/signals/analyze"


def tone_payload(**config):
    t = np.arange(48_000) / 48_000
    samples = (0.5 * np.sin(2 * np.pi * 1500 * t)).round(6).tolist()
    return {
        "signal_data": {"samples": samples, "sample_rate": 48000, "frequency": 14235000,
                        "duration": 1.0},
        "analysis_config": {"fft_size": 1024, "overlap": 0.5, "window_function": "hamming",
                            **config},
    }  # fmt: skip


def test_analyze_seed_shape(viewer_client, anomaly_model):
    response = viewer_client.post(ANALYZE, tone_payload(), format="json")
    assert response.status_code == 200
    body = response.json()
    assert {"analysis_id", "signal_features", "anomaly_score", "is_anomaly", "confidence",
            "processing_time_ms", "model_version"} <= set(body)  # fmt: skip
    assert body["signal_features"]["peak_frequency"] == 14_236_500
    assert body["signal_features"]["spectral_centroid"] == pytest.approx(1500, abs=5)
    assert body["model_version"] == "1.0.0"
    assert 0 <= body["anomaly_score"] <= 1
    assert body["carriers"][0]["modulation_type"] == "CW"
    assert SignalDetection.objects.count() == 0  # analysis stores nothing


def test_analyze_complex_iq_pairs(viewer_client):
    t = np.arange(4096) / 12_000
    iq = np.exp(2j * np.pi * 2000 * t)
    payload = {"signal_data": {"samples": [[float(v.real), float(v.imag)] for v in iq],
                               "sample_rate": 12000, "frequency": 145000000}}  # fmt: skip
    body = viewer_client.post(ANALYZE, payload, format="json").json()
    assert body["signal_features"]["peak_frequency"] == pytest.approx(145_002_000, abs=12)
    assert body["model_version"] is None  # no anomaly model deployed in this test


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fft_size": 1000}, "analysis_config.fft_size"),
        ({"fft_size": 32}, "analysis_config.fft_size"),
        ({"fft_size": 131072}, "analysis_config.fft_size"),
        ({"overlap": 0.99}, "analysis_config.overlap"),
        ({"window_function": "kaiser"}, "analysis_config.window_function"),
    ],
)
def test_analyze_config_validation(viewer_client, change, field):
    assert_envelope(viewer_client.post(ANALYZE, tone_payload(**change), format="json"), 400,
                    "VALIDATION_ERROR", field)  # fmt: skip


@pytest.mark.parametrize(
    ("signal_data", "field"),
    [
        ({"samples": "abc", "sample_rate": 48000}, "signal_data.samples"),
        ({"samples": [0.1], "sample_rate": 48000}, "signal_data.samples"),
        ({"samples": [0.1] * 100 + ["x"], "sample_rate": 48000}, "signal_data.samples[100]"),
        ({"samples": [[1, 2, 3]] * 100, "sample_rate": 48000}, "signal_data.samples[0]"),
        ({"samples": [[1, 2]] * 9 + [[1, "q"]], "sample_rate": 48000}, "signal_data.samples[9]"),
        ({"samples": [0.1] * 100, "sample_rate": 0}, "signal_data.sample_rate"),
        ({"samples": [0.1] * 100, "sample_rate": 48000, "frequency": -1}, "signal_data.frequency"),
        ({"samples": [0.1] * 100}, "signal_data.sample_rate"),
    ],
)
def test_analyze_signal_validation(viewer_client, signal_data, field):
    response = viewer_client.post(ANALYZE, {"signal_data": signal_data}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)


def test_analyze_too_many_samples_is_413(viewer_client, settings):
    settings.HEIMDALL_ANALYZE_MAX_SAMPLES = 1000
    payload = {"signal_data": {"samples": [0.0] * 1001, "sample_rate": 48000, "frequency": 0}}
    assert_envelope(viewer_client.post(ANALYZE, payload, format="json"), 413, "PAYLOAD_TOO_LARGE",
                    "signal_data.samples")  # fmt: skip


def test_models_list_seed_shape(viewer_client, anomaly_model):
    body = viewer_client.get("/api/v1/models").json()
    assert len(body["data"]) == 1
    item = body["data"][0]
    assert item["version"] == "1.0.0"
    assert item["model_type"] == "anomaly_detection"
    assert item["status"] == "deployed"
    assert set(item["metrics"]) >= {"accuracy", "precision", "recall", "f1_score"}
    assert item["deployment_date"].endswith("Z")
    assert len(item["artifact_sha256"]) == 64
    assert_envelope(viewer_client.get("/api/v1/models", {"status": "sleepy"}), 400,
                    "VALIDATION_ERROR", "status")  # fmt: skip


def test_predict(viewer_client, anomaly_model):
    url = f"/api/v1/models/{anomaly_model.pk}/predict"
    normal = {"spectral_centroid": 1500.0, "bandwidth": 2400, "snr_estimate": 35.0,
              "signal_power": -40.0}  # fmt: skip
    body = viewer_client.post(url, {"features": normal}, format="json").json()
    assert body["model_id"] == str(anomaly_model.pk)
    assert body["prediction"]["is_anomaly"] is False
    assert body["prediction"]["anomaly_score"] < 0.5
    assert 0.5 <= body["prediction"]["confidence"] <= 1
    jump = {**normal, "bandwidth": 150, "snr_estimate": 89.0, "signal_power": -1.0}
    flagged = viewer_client.post(url, {"features": jump}, format="json").json()["prediction"]
    assert flagged["is_anomaly"] is True
    assert flagged["anomaly_score"] > 0.5


@pytest.mark.parametrize(
    ("features", "field"),
    [({}, "features.spectral_centroid"),
     ({"spectral_centroid": 1, "bandwidth": "wide", "snr_estimate": 1, "signal_power": 1},
      "features.bandwidth"),
     ({"spectral_centroid": 1, "bandwidth": 1, "snr_estimate": True, "signal_power": 1},
      "features.snr_estimate")],
)  # fmt: skip
def test_predict_validation(viewer_client, anomaly_model, features, field):
    url = f"/api/v1/models/{anomaly_model.pk}/predict"
    assert_envelope(viewer_client.post(url, {"features": features}, format="json"), 400,
                    "VALIDATION_ERROR", field)  # fmt: skip


def test_predict_unknown_model_is_404(viewer_client, db):
    url = "/api/v1/models/00000000-0000-0000-0000-000000000000/predict"
    assert_envelope(viewer_client.post(url, {"features": {}}, format="json"), 404, "NOT_FOUND")


def test_model_file_is_not_unpickled_and_is_hash_checked(anomaly_model):
    """A bundle is plain arrays (allow_pickle=False); a tampered file is refused."""
    from django.core.files.storage import default_storage

    from apps.ml.bundles import BundleCorrupt, read_verified
    from apps.ml.scoring import load_scorer

    assert anomaly_model.artifact_path.endswith(".npz")
    assert load_scorer(anomaly_model).version == "1.0.0"
    with default_storage.open(anomaly_model.artifact_path, "wb") as handle:
        handle.write(b"not the model")
    with pytest.raises(BundleCorrupt):
        read_verified(anomaly_model.artifact_path, anomaly_model.artifact_sha256)


def test_numpy_scorer_matches_sklearn(trained_anomaly_model):
    from apps.ml import density
    from apps.ml.anomaly_training import simulated_features

    features, _ = simulated_features(chunks=30, seed=9)
    model, mixture = density.fit(features, seed=3)
    standardized = (density.transform(features) - model.mean) / model.scale
    assert np.allclose(model.log_likelihood(features), mixture.score_samples(standardized),
                       atol=1e-9)  # fmt: skip


def test_ingest_scores_with_the_deployed_model(operator_client, anomaly_model):
    from datetime import timedelta

    from apps.core.timeutil import utc_now

    StationFactory(id="twente-nl")
    now = utc_now()
    normal = DetectionFactory(when=now, anomaly_score=None, signal_strength_db=-40.0,
                                 signal_features={"spectral_centroid": 1500.0, "bandwidth": 2400,
                                                  "snr_estimate": 35.0})  # fmt: skip
    jump = DetectionFactory(when=now - timedelta(seconds=1), anomaly_score=None,
                               signal_strength_db=-1.0,
                               signal_features={"spectral_centroid": 1500.0, "bandwidth": 150,
                                                "snr_estimate": 89.0})  # fmt: skip
    unscorable = DetectionFactory(when=now, anomaly_score=None, signal_features={})
    outside = DetectionFactory(when=now, anomaly_score=None, signal_features={},
                                  frequency_hz=145_000_000)  # fmt: skip
    batch = {"detections": [normal, jump, unscorable, outside]}
    operator_client.post("/api/v1/signals/detections", batch, format="json")
    stored = {str(d.id): d for d in SignalDetection.objects.all()}
    assert stored[normal["id"]].is_anomaly is False
    assert stored[normal["id"]].processing_metadata["model_version"] == "1.0.0"
    assert stored[jump["id"]].is_anomaly is True
    assert stored[unscorable["id"]].anomaly_score is None
    assert stored[outside["id"]].is_anomaly is True
    assert stored[outside["id"]].anomaly_score == 0.9


def test_activation_hot_reloads_the_live_scorer(admin_client, anomaly_model, trained_anomaly_model,
                                                django_capture_on_commit_callbacks):  # fmt: skip
    from apps.ml import scoring
    from apps.ml.services import model_register

    assert scoring.active_anomaly_scorer().version == "1.0.0"
    model, metrics = trained_anomaly_model
    newer = model_register(name="gaussian-mixture-default", version="1.1.0",
                           model_type=MLModel.Type.ANOMALY_DETECTION, weights=model.to_bytes(),
                           weights_name="model.npz", metrics=metrics, config={})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/api/v1/models/{newer.pk}/activate")
    assert response.json()["status"] == "deployed"
    anomaly_model.refresh_from_db()
    assert anomaly_model.status == "deprecated"
    scoring._active.expire()  # skip the one-second recheck interval
    assert scoring.active_anomaly_scorer().version == "1.1.0"


def test_only_admins_activate(operator_client, anomaly_model):
    response = operator_client.post(f"/api/v1/models/{anomaly_model.pk}/activate")
    assert_envelope(response, 403, "PERMISSION_DENIED")


@pytest.mark.slow
def test_ensure_default_models_command(db, settings):
    from django.core.management import call_command

    call_command("ensure_default_models")
    model = MLModel.objects.get(model_type="anomaly_detection")
    assert (model.version, model.status, model.model_type) == ("1.0.0", "deployed",
                                                               "anomaly_detection")  # fmt: skip
    assert model.metrics["f1_score"] > 0.3
    call_command("ensure_default_models")  # idempotent
    assert MLModel.objects.count() == 2  # and the shipped localization model
