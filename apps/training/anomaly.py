"""Training the context anomaly model (apps.ml.context) from stored detections, as a
training job of architecture `context_density` (model type `anomaly_detection`).

Steps: the last HEIMDALL_ANOMALY_HISTORY_DAYS days of detections are read;
the last `validation_split` share of those days (at least one) is held out; a
Gaussian mixture of the predict features and the per-station/channel context
are learnt from the earlier days; anomalies of five kinds are injected into the
held-out days (apps.ml.anomaly_eval) and the new model and the active one are
scored on the same rows. The headline is the overall recall at 2 % false
alarms (ties: ROC AUC). With `auto_activate` (always for the scheduled
retraining) the new model is deployed only when it beats the active one there.
No torch: the web process loads the result as plain arrays.
"""

import math
from datetime import timedelta

import numpy as np
from django.conf import settings

from apps.core.exceptions import HeimdallError
from apps.core.timeutil import utc_now
from apps.ml import anomaly_eval, context, density
from apps.ml.models import MLModel
from apps.ml.scoring import ContextScorer, load_scorer
from apps.ml.selectors import active_model
from apps.ml.services import model_activate, model_register, model_training_completed
from apps.signals.selectors import detections_for_learning
from apps.training.models import TrainingJob

Step = TrainingJob.Step
MIN_DETECTIONS = 200
PER_KIND = 200


class NotEnoughData(Exception):
    """Too few detections or days to learn from (the job fails with this message)."""


def observations(rows: list[tuple]) -> context.Observations:
    """Observations of stored detection tuples (signals.selectors.detections_for_learning),
    with their times (seconds since the epoch) for the contacts' recent levels."""
    obs = context.Observations.from_rows(
        [
            {
                "websdr_station_id": r[0],
                "frequency_hz": r[1],
                "detection_timestamp": r[2],
                "signal_strength_db": r[3],
                "bandwidth_hz": r[4],
                "modulation_type": r[5],
                "signal_features": r[6],
            }
            for r in rows
        ]
    )
    obs.time_s = np.array([r[2].timestamp() for r in rows], dtype=float)
    return obs


def headline(report: dict) -> tuple[float, float]:
    overall = report["overall"]
    return overall["recall_at_2pct"], overall["roc_auc"]


def train_context(obs: context.Observations, *, validation_split: float, seed: int):
    """(model, report of the new model, held-out normal rows, anomalies, kinds)."""
    days = np.unique(obs.day)
    held = max(1, math.ceil(len(days) * validation_split))
    if len(days) < held + 1:
        raise NotEnoughData(f"{len(days)} day(s) of detections: need at least {held + 1}")
    cut = days[-held]
    train, heldout = obs.take(obs.day < cut), obs.take(obs.day >= cut)
    complete = ~np.isnan(train.features).any(axis=1)
    gmm = None
    if complete.sum() >= 50:
        rng = np.random.default_rng(seed)
        pick = np.flatnonzero(complete)
        pick = rng.choice(pick, size=min(len(pick), 60_000), replace=False)
        gmm, _ = density.fit(train.features[pick], seed=seed)
    model = context.fit(train, density_model=gmm)
    anomaly_eval.add_recent_levels(heldout)
    anomalies, kinds = anomaly_eval.inject(train, heldout, per_kind=PER_KIND, seed=seed)
    report = anomaly_eval.report(model.score(heldout).score, model.score(anomalies).score, kinds)
    return model, report, heldout, anomalies, kinds, len(train)


def score_with(scorer, obs: context.Observations) -> np.ndarray:
    """Scores as ingest gives them, each row with its contact level (add_recent_levels)."""
    results = scorer.score_rows(
        anomaly_eval.to_rows(obs),
        recent=context.Recent(obs.recent_strength_db, obs.recent_count),
    )
    return np.array([r.anomaly_score if r is not None else 0.0 for r in results])


def run_anomaly_job(job: TrainingJob, runner, watch) -> str:
    """The work of a `context_density` job (apps.training.runner.run_job hands it over)."""
    config = job.config
    runner.step(Step.PREPARING_DATA, 5.0, "Reading stored detections")
    until = utc_now()
    since = until - timedelta(days=settings.HEIMDALL_ANOMALY_HISTORY_DAYS)
    rows = detections_for_learning(since=since, until=until)
    if len(rows) < MIN_DETECTIONS:
        raise NotEnoughData(
            f"{len(rows)} stored detections in the last {settings.HEIMDALL_ANOMALY_HISTORY_DAYS} "
            f"days: the anomaly model needs at least {MIN_DETECTIONS}"
        )
    obs = observations(rows)
    watch.check()
    runner.step(Step.TRAINING, 30.0, f"Learning the context of {len(rows)} detections")
    model, report, heldout, anomalies, kinds, n_train = train_context(
        obs, validation_split=max(config["validation_split"], 0.1), seed=config["random_seed"]
    )
    # Judged as it will score at ingest (the scorer's path, scores rounded to 4 places),
    # as the active model is below: the same rounding on both sides of the comparison.
    candidate = ContextScorer(model_id="candidate", version="candidate", model=model)
    report = anomaly_eval.report(
        score_with(candidate, heldout), score_with(candidate, anomalies), kinds
    )
    runner.record(dataset_size=len(obs), train_samples=n_train, val_samples=len(heldout))
    watch.check()
    runner.step(Step.EVALUATING, 80.0, "Comparing with the active model on held-out days")
    active = active_model(model_type=MLModel.Type.ANOMALY_DETECTION)
    theirs = None
    if active is not None:
        try:
            scorer = load_scorer(active)
            theirs = anomaly_eval.report(
                score_with(scorer, heldout), score_with(scorer, anomalies), kinds
            )
        except (ValueError, KeyError, HeimdallError) as exc:
            runner.note(f"the active model could not be evaluated: {exc}")
    ours_key, theirs_key = headline(report), headline(theirs) if theirs else None
    metrics = {
        "recall_at_1pct": report["overall"]["recall_at_1pct"],
        "recall_at_2pct": report["overall"]["recall_at_2pct"],
        "roc_auc": report["overall"]["roc_auc"],
        "per_kind": report,
        "active_model": (
            {"id": str(active.pk), "version": active.version, "per_kind": theirs}
            if active is not None and theirs is not None
            else None
        ),
        "held_out_normal": len(heldout),
        "held_out_anomalies": len(kinds),
        "training_samples": n_train,
        "headline_metric": "recall_at_2pct",
    }
    runner.step(Step.EXPORTING, 92.0, "Saving the model bundle")
    params = {**job.config, "training_job_id": str(job.pk), "algorithm": context.KIND,
              "history_days": settings.HEIMDALL_ANOMALY_HISTORY_DAYS}  # fmt: skip
    data = model.to_bytes()
    if job.ml_model_id:
        registered = model_training_completed(
            model=MLModel.objects.get(pk=job.ml_model_id),
            artifact_name="model.npz",
            files={"model.npz": data},
            metrics=metrics,
            training_metrics={"training_samples": n_train},
            config=params,
        )
    else:
        registered = model_register(
            name="context-anomaly",
            version=_next_version(),
            model_type=MLModel.Type.ANOMALY_DETECTION,
            weights=data,
            weights_name="model.npz",
            metrics=metrics,
            config=params,
            architecture=context.KIND,
            training_metrics={"training_samples": n_train},
            description="Context anomaly model learnt from stored detections.",
            created_by=job.created_by,
        )
    final = _activation(job, registered, active, ours_key, theirs_key, len(kinds))
    runner.record(metrics={**metrics, "model_id": str(registered.pk)})
    return final


def _next_version() -> str:
    from apps.ml.services import next_version

    return next_version("context-anomaly")


def _activation(job, registered, active, ours, theirs, n: int) -> str:
    said = f"recall {ours[0]:.1%} at 2 % false alarms (AUC {ours[1]:.3f})"
    if not job.auto_activate:
        return f"Done: {said}"
    if active is not None and active.pk != registered.pk:
        if theirs is None:
            return f"Done: {said}; not activated: the active model could not be evaluated"
        versus = (
            f"the active model {active.name} {active.version} (recall {theirs[0]:.1%}, AUC "
            f"{theirs[1]:.3f}) on the same {n} injected anomalies"
        )
        if ours <= theirs:
            return f"Done: {said}; not activated: it does not beat {versus}"
        verdict = f"it beats {versus}"
    else:
        verdict = "no anomaly model was active"
    try:
        model_activate(model=registered)
    except HeimdallError as exc:
        return f"Done: {said}; not activated: {exc.message}"
    return f"Done: {said}; activated: {verdict}"
