"""Anomaly-model benchmark (issue 17): the context model beside today's Gaussian mixture and
an isolation forest, on held-out days of a synthetic multi-day history.

    .venv/bin/python bench/anomalies.py                 # 10 stations, 14 days, 3 held out
    .venv/bin/python bench/anomalies.py --ingest 100000 # also: ingest with the context
                                                        # model scoring vs raw COPY

The history (apps.radio.history) has a realistic band plan with day/night
patterns; anomalies of five kinds (apps.ml.anomaly_eval) are injected into
the held-out days only; every model is trained on the earlier days. Per kind
and overall: recall at 1 % and 2 % false alarms (threshold from the normal
held-out scores) and ROC AUC. Printed as Markdown for docs/ml.md.
"""

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.ml import anomaly_eval, context, density  # noqa: E402
from apps.radio import history  # noqa: E402

BASE_ORDINAL = date(2026, 11, 1).toordinal()
INGEST_THRESHOLD = 0.5  # settings.HEIMDALL_ANOMALY_THRESHOLD's default


def observations(h: history.History) -> context.Observations:
    features = np.column_stack(
        [
            (h.frequency_hz % 24_000) - 12_000.0,  # offset in a 24 kHz receiver window
            h.bandwidth_hz,
            h.snr_db,
            h.strength_db,
        ]
    )
    return context.Observations(
        station=h.station,
        frequency_hz=h.frequency_hz,
        hour=h.hour.astype(np.int64),
        day=(h.day + BASE_ORDINAL).astype(np.int64),
        strength_db=h.strength_db,
        bandwidth_hz=h.bandwidth_hz,
        modulation=h.modulation,
        features=features,
        time_s=h.time_s,
    )


def forest_matrix(obs: context.Observations, stations, modulations) -> np.ndarray:
    angle = 2 * np.pi * obs.hour / 24
    return np.column_stack(
        [
            np.log10(obs.frequency_hz.astype(float)),
            np.sin(angle),
            np.cos(angle),
            obs.strength_db,
            np.log10(obs.bandwidth_hz + 1),
            obs.features[:, 2],
            np.searchsorted(modulations, obs.modulation),
            np.searchsorted(stations, obs.station),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--heldout-days", type=int, default=3)
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fit-sample", type=int, default=60_000)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    started = time.perf_counter()
    plan = history.stations(args.stations, args.seed)
    hist = history.generate(plan, days=args.days, seed=args.seed + 1)
    obs = observations(hist)
    cut = BASE_ORDINAL + args.days - args.heldout_days
    train, heldout = obs.take(obs.day < cut), obs.take(obs.day >= cut)
    anomaly_eval.add_recent_levels(heldout)  # each contact's level, as ingest finds it
    anomalies, kinds = anomaly_eval.inject(train, heldout, per_kind=args.per_kind, seed=args.seed)
    print(
        f"history: {len(obs):,} detections, {args.stations} stations, {args.days} days "
        f"({len(train):,} training, {len(heldout):,} held-out normal over {args.heldout_days} "
        f"days); {len(kinds):,} injected anomalies",
        file=sys.stderr,
    )
    rng = np.random.default_rng(args.seed)
    sample = rng.choice(len(train), size=min(args.fit_sample, len(train)), replace=False)

    timings, results = {}, {}
    t = time.perf_counter()
    gmm, _ = density.fit(train.features[sample], seed=args.seed)
    timings["gaussian_mixture_fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ctx = context.fit(train, density_model=gmm)
    timings["context_fit_s"] = time.perf_counter() - t + timings["gaussian_mixture_fit_s"]
    timings["context_bytes"] = len(ctx.to_bytes())

    from sklearn.ensemble import IsolationForest

    stations, modulations = np.unique(obs.station), np.unique(obs.modulation)
    t = time.perf_counter()
    forest = IsolationForest(n_estimators=200, random_state=args.seed).fit(
        forest_matrix(train.take(sample), stations, modulations)
    )
    timings["isolation_forest_fit_s"] = time.perf_counter() - t

    def score_context(o):
        return ctx.score(o).score

    def score_gmm(o):
        return gmm.score(o.features)[0]

    def score_forest(o):
        return -forest.score_samples(forest_matrix(o, stations, modulations))

    for name, scorer in (
        ("context model (new)", score_context),
        ("Gaussian mixture (today)", score_gmm),
        ("isolation forest", score_forest),
    ):
        t = time.perf_counter()
        normal = scorer(heldout)
        elapsed = time.perf_counter() - t
        results[name] = anomaly_eval.report(normal, scorer(anomalies), kinds)
        timings[f"{name} scoring rows/s"] = len(heldout) / elapsed

    print(table(results))
    # The ingest threshold: what share of ordinary traffic becomes events, and why.
    verdict = ctx.score(heldout)
    flagged = verdict.score >= INGEST_THRESHOLD
    reasons = np.bincount(verdict.reason[flagged], minlength=len(context.REASONS))
    timings["context flagged share at 0.5"] = float(flagged.mean())
    print(
        f"context model: {flagged.mean():.2%} of held-out normal rows score >= "
        f"{INGEST_THRESHOLD} ("
        + ", ".join(f"{r} {c}" for r, c in zip(context.REASONS, reasons.tolist(), strict=True) if c)
        + ")",
        file=sys.stderr,
    )
    print("\n" + json.dumps({k: round(v, 4) for k, v in timings.items()}), file=sys.stderr)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "timings": timings}, indent=2))


def table(results: dict) -> str:
    names = list(results)
    lines = [
        "| kind | n | " + " | ".join(f"{n}: R@1% / R@2% / AUC" for n in names) + " |",
        "|---|---:|" + "---|" * len(names),
    ]
    for kind in (*anomaly_eval.KINDS, "overall"):
        cells = []
        for name in names:
            r = results[name][kind]
            cells.append(
                f"{r['recall_at_1pct']:.1%} / {r['recall_at_2pct']:.1%} / {r['roc_auc']:.3f}"
            )
        n = results[names[0]][kind]["n"]
        label = f"**{kind}**" if kind == "overall" else kind
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
