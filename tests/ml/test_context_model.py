"""The context anomaly model (issue 17 part 4): a small synthetic history, exact verdicts,
the model scoring live ingest, and its training job on stored detections."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from apps.anomalies.models import AnomalyEvent
from apps.ml import context, scoring
from apps.ml.models import MLModel
from apps.ml.services import model_activate, model_register
from apps.radio import history
from apps.signals.models import SignalDetection
from apps.training import tasks
from apps.training.models import TrainingJob
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
LEVELS = [-72.0, -71.0, -70.0, -69.0, -68.0]


def small_history() -> context.Observations:
    """One HF station, 7 days: a USB net on 14.205 MHz from 08 to 16 UTC, 10 detections
    an hour, strengths cycling -72..-68 dB, 2.7 kHz wide."""
    rows = []
    for day in range(7):
        for hour in range(8, 17):
            for k in range(10):
                rows.append(
                    {
                        "websdr_station_id": "hf-a",
                        "frequency_hz": 14_205_000 + (k % 3) * 50,
                        "detection_timestamp": DAY0 + timedelta(days=day, hours=hour, minutes=k),
                        "signal_strength_db": LEVELS[k % 5],
                        "bandwidth_hz": 2700,
                        "modulation_type": "USB",
                        "signal_features": {},
                    }
                )
    return context.Observations.from_rows(rows)


def probe(**changes) -> dict:
    row = {
        "websdr_station_id": "hf-a",
        "frequency_hz": 14_205_000,
        "detection_timestamp": DAY0 + timedelta(days=8, hours=12),
        "signal_strength_db": -70.0,
        "bandwidth_hz": 2700,
        "modulation_type": "USB",
        "signal_features": {},
    }
    return {**row, **changes}


CASES = [
    ({}, None, None),
    ({"frequency_hz": 14_290_000}, "new_carrier", "new carrier in a channel quiet for 7 days"),
    ({"modulation_type": "FM"}, "unexpected_modulation", "FM in an SSB segment"),
    ({"signal_strength_db": -45.0}, "power_jump", "+23 dB over this channel's 99th percentile"),
    ({"bandwidth_hz": 40_000}, "wideband_emission",
     "wideband emission 40 kHz wide (99 % here under 2.7 kHz)"),
    ({"detection_timestamp": DAY0 + timedelta(days=8, hours=2)}, "off_hour_activity",
     "activity at 02h UTC in a channel quiet at that hour (7 days heard)"),
]  # fmt: skip


def test_fit_learns_the_channel():
    model = context.fit(small_history())
    assert model.stations.tolist() == ["hf-a"]
    assert model.station_days.tolist() == [7.0]
    assert model.ch_keys.tolist() == [14_205_000]  # station 0, channel centre 14.205 MHz
    assert model.ch_n.tolist() == [630.0]
    assert model.ch_days.tolist() == [7.0]
    assert model.ch_hours[0].tolist() == [0] * 8 + [70] * 9 + [0] * 7
    assert (model.ch_s50[0], model.ch_s99[0]) == (-70.0, -68.0)
    assert model.seg_keys.tolist() == [14_200_000]
    assert model.seg_s99.tolist() == [-68.0]
    assert model.modulations.tolist() == ["USB"]


@pytest.mark.parametrize(("changes", "reason", "description"), CASES)
def test_each_kind_of_unusual_is_named(changes, reason, description):
    model = context.fit(small_history())
    obs = context.Observations.from_rows([probe(**changes)])
    verdict = model.score(obs)
    if reason is None:
        assert verdict.score[0] < 0.05
        return
    assert verdict.score[0] >= 0.5
    assert context.REASONS[verdict.reason[0]] == reason
    assert model.describe(obs, verdict, 0) == description


def test_round_trip_scores_the_same_and_loads_without_pickle():
    model = context.fit(small_history())
    again = context.ContextModel.from_bytes(model.to_bytes())
    obs = context.Observations.from_rows([probe(**c) for c, _, _ in CASES])
    assert np.array_equal(model.score(obs).score, again.score(obs).score)
    assert context.is_context_model(model.to_bytes())
    assert again.params == context.DEFAULT_PARAMS


def with_contacts() -> context.Observations:
    """small_history plus random contacts on 14.195 MHz (same segment): day 1 at -90 dB,
    day 4 at -85 dB, six detections each (a channel without a regular user)."""
    base = small_history()
    rows = [
        probe(
            frequency_hz=14_195_000,
            detection_timestamp=DAY0 + timedelta(days=day, hours=10, minutes=k),
            signal_strength_db=level,
        )
        for day, level in ((1, -90.0), (4, -85.0))
        for k in range(6)
    ]
    extra = context.Observations.from_rows(rows)
    return context.Observations(
        **{name: np.concatenate([getattr(base, name), getattr(extra, name)]) for name in
           base.__dict__ if getattr(base, name) is not None}
    )  # fmt: skip


def test_strength_over_the_segment_on_a_channel_of_random_contacts():
    model = context.fit(with_contacts())
    obs = context.Observations.from_rows(
        [probe(frequency_hz=14_195_000, signal_strength_db=level) for level in (-50.0, -75.0)]
    )
    verdict = model.score(obs)
    # days heard 2 of 7: regular = (1 - e^-0.5) * sigmoid(10 (2/7 - 0.5)) = 0.0411
    regular = (1 - np.exp(-0.5)) / (1 + np.exp(-10 * (2 / 7 - 0.5)))
    # the ceiling: max(segment p99 -68 dB, channel p99 -85 dB); -50 dB is 18 dB over it
    evidence = 1 - np.exp(-642 / 30)  # the segment's 630 + 12 detections
    assert verdict.score[0] == pytest.approx(0.9 * evidence * (1 - regular) / (1 + np.exp(-18.0)))
    assert context.REASONS[verdict.reason[0]] == "power_jump"
    assert model.describe(obs, verdict, 0) == (
        "+18 dB over the 99th percentile of this band segment, on a channel without a regular user"
    )
    assert verdict.score[1] < 0.05  # a new contact's level, inside what the segment hears


def test_a_model_stored_before_the_segment_levels_loads_without_them():
    model = context.fit(with_contacts())
    import io

    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as arrays:
        older = {k: arrays[k] for k in arrays.files if k != "seg_s99"}
    buffer = io.BytesIO()
    np.savez(buffer, **older)
    loaded = context.ContextModel.from_bytes(buffer.getvalue())
    assert loaded.seg_s99.tolist() == [np.inf]
    obs = context.Observations.from_rows([probe(frequency_hz=14_195_000, signal_strength_db=-50.0)])
    assert loaded.score(obs).score[0] < 0.05  # no segment ceiling: only the old evidence


def test_the_hour_next_to_a_schedule_edge_is_judged_on_the_days_of_evidence():
    """Neighbouring hours count 0.25 * 3 / (3 + days heard): after 7 days without a
    detection at 17 UTC, 16 UTC's 70 detections lend it 5.25, not 17.5."""
    model = context.fit(small_history())
    obs = context.Observations.from_rows(
        [probe(detection_timestamp=DAY0 + timedelta(days=8, hours=17))]
    )
    verdict = model.score(obs)
    regular = (1 - np.exp(-3.0)) / (1 + np.exp(-10 * (7 / 7 - 0.5)))
    share = 0.25 * 3 / (3 + 7) * 70 / 630
    assert verdict.score[0] == pytest.approx(0.95 * regular * np.exp(-8 * share / (1.5 / 24)))
    assert context.REASONS[verdict.reason[0]] == "off_hour_activity"


@pytest.mark.django_db
def test_deployed_context_model_scores_ingest_and_names_the_event(settings):
    StationFactory(id="hf-a")
    model = model_register(
        name="context-test", version="1.0.0", model_type=MLModel.Type.ANOMALY_DETECTION,
        weights=context.fit(small_history()).to_bytes(), weights_name="model.npz",
        metrics={}, config={}, architecture=context.KIND,
    )  # fmt: skip
    model_activate(model=model)
    scoring.forget_loaded_scorer()
    # Yesterday noon: today's noon is in the future before 12:00 UTC (refused by ingest).
    when = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    normal = DetectionFactory(
        when=when,
        websdr_station_id="hf-a",
        frequency_hz=14_205_000,
        anomaly_score=None,
        signal_strength_db=-70.0,
        bandwidth_hz=2700,
    )
    odd = DetectionFactory(when=when, websdr_station_id="hf-a", frequency_hz=14_205_000,
                           anomaly_score=None, modulation_type="FM", signal_strength_db=-70.0,
                           bandwidth_hz=2700)  # fmt: skip
    assert ingest(normal, odd).anomalies == 1
    stored = SignalDetection.objects.get(pk=odd["id"])
    assert stored.is_anomaly is True
    assert stored.processing_metadata["anomaly_reason"] == "unexpected_modulation"
    assert stored.processing_metadata["model_version"] == "1.0.0"
    assert SignalDetection.objects.get(pk=normal["id"]).is_anomaly is False
    event = AnomalyEvent.objects.get()
    assert event.event_type == "unexpected_modulation"
    assert event.description == (
        "Detected unexpected modulation on 14.205 MHz at hf-a: FM in an SSB segment"
    )
    scoring.forget_loaded_scorer()


def store_history(days: int) -> None:
    plan = history.stations(2, seed=3)
    for station in plan:
        StationFactory(id=station.id, frequency_min=0, frequency_max=500_000_000)
    h = history.generate(plan, days=days, seed=4, random_contacts=5)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=days
    )
    items = [
        DetectionFactory(
            when=start + timedelta(seconds=int(h.time_s[i])),
            websdr_station_id=str(h.station[i]),
            frequency_hz=int(h.frequency_hz[i]),
            signal_strength_db=round(float(h.strength_db[i]), 1),
            bandwidth_hz=int(h.bandwidth_hz[i]),
            modulation_type=str(h.modulation[i]),
            anomaly_score=0.1,
            signal_features={
                "spectral_centroid": float(h.frequency_hz[i] % 24_000 - 12_000),
                "snr_estimate": round(float(h.snr_db[i]), 1),
            },
        )
        for i in range(len(h.time_s))
    ]
    for begin in range(0, len(items), 10_000):
        ingest(*items[begin : begin + 10_000])


@pytest.mark.django_db
def test_training_job_learns_from_stored_detections_and_activates_only_when_better(
    django_capture_on_commit_callbacks,
):
    store_history(days=6)
    scoring.forget_loaded_scorer()

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            job_id = tasks.retrain_anomaly_model()
        assert tasks.run_training_job(job_id) == "completed"
        return TrainingJob.objects.get(pk=job_id)

    first = run()
    assert first.message.startswith("Done: recall ")
    assert first.message.endswith("activated: no anomaly model was active")
    deployed = MLModel.objects.get(status="deployed", model_type="anomaly_detection")
    assert deployed.architecture == "context_density"
    assert deployed.metrics["held_out_anomalies"] > 0
    assert deployed.metrics["recall_at_2pct"] >= 0.5
    # The same data again: the same model, which does not beat itself.
    second = run()
    assert "not activated: it does not beat the active model context-anomaly 1.0.0" in (
        second.message
    )
    assert MLModel.objects.get(status="deployed", model_type="anomaly_detection") == deployed
    scoring.forget_loaded_scorer()


@pytest.mark.django_db
def test_scheduled_retraining_creates_no_job_without_enough_detections():
    """A fresh install: the daily retraining has nothing to learn from and says so,
    instead of leaving a failed job (with a traceback in the log) every day."""
    assert tasks.retrain_anomaly_model() == "not enough data"
    assert not TrainingJob.objects.exists()
