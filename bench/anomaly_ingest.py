"""Ingest with the context anomaly model scoring every row, against raw COPY (issue 17:
"scoring keeps ingest at >= 0.5x raw COPY"), the bench/timeseries.py way.

    .venv/bin/python bench/anomaly_ingest.py --rows 100000

Its own database (HEIMDALL_BENCH_DB, default heimdall_anomaly_bench), recreated.
The deployed model is a context model (with its Gaussian mixture) fitted on three
earlier days of the same stations; the ingested rows come without
`anomaly_score`, so every one is scored, and the anomalous ones are grouped
into events. Same rows, same batches (10,000) as bench/timeseries.py.
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("HEIMDALL_BENCH_DB", "heimdall_anomaly_bench")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import timeseries as ts
from benchdb import recreate_database


def fit_model(items: list[dict]):
    from apps.ml import context, density
    from apps.signals.validation import parse_timestamp

    rows = [
        {**item, "detection_timestamp": parse_timestamp(item["detection_timestamp"])}
        for item in items
    ]
    obs = context.Observations.from_rows(rows)
    complete = ~np.isnan(obs.features).any(axis=1)
    gmm, _ = density.fit(obs.features[complete][:60_000], seed=1)
    return context.fit(obs, density_model=gmm)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    recreate_database(ts.BENCH_DB)
    ts.setup_django()
    from apps.anomalies.models import AnomalyEvent
    from apps.core.partitioning import ensure_partitions
    from apps.ml import scoring
    from apps.ml.models import MLModel
    from apps.ml.services import model_activate, model_register
    from apps.signals.models import SignalDetection

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=2)
    history = ts.make_items(3 * args.rows, start - timedelta(days=3), timedelta(days=3), seed=2)
    model = fit_model(history)
    registered = model_register(
        name="context-bench", version="1.0.0", model_type=MLModel.Type.ANOMALY_DETECTION,
        weights=model.to_bytes(), weights_name="model.npz", metrics={}, config={},
        architecture="context_density",
    )  # fmt: skip
    model_activate(model=registered)
    scoring.forget_loaded_scorer()

    items = ts.make_items(args.rows, start, timedelta(days=1), seed=1)
    unscored = [{k: v for k, v in item.items() if k != "anomaly_score"} for item in items]
    ensure_partitions(ts.TABLE, {(start + timedelta(days=d)).date() for d in range(3)})
    assert scoring.active_anomaly_scorer() is not None

    raw = ts.bench_raw_copy(items)
    ts.truncate()
    scored = ts.bench_service(unscored)
    anomalous = SignalDetection.objects.filter(is_anomaly=True).count()
    events = AnomalyEvent.objects.count()
    ts.truncate()
    raw = min(raw, ts.bench_raw_copy(items))
    ts.truncate()
    t = time.perf_counter()
    scorer = scoring.active_anomaly_scorer()
    from apps.signals.validation import parse_timestamp

    rows = [
        {**i, "detection_timestamp": parse_timestamp(i["detection_timestamp"])} for i in unscored
    ]
    t = time.perf_counter()
    for offset in range(0, len(rows), 10_000):
        scorer.score_rows(rows[offset : offset + 10_000])
    scoring_only = time.perf_counter() - t

    n = args.rows
    print("| figure | Heimdall | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| ingest service, {n:,} rows, every row scored by the context model | "
        f"{n / scored:,.0f} rows/s | raw psycopg COPY {n / raw:,.0f} rows/s | "
        f"{raw / scored:.2f}× | ≥ 0.5× |"
    )
    print(f"\nscoring alone: {n / scoring_only:,.0f} rows/s; {anomalous:,} anomalous rows "
          f"({anomalous / n:.2%}) grouped into {events:,} events")  # fmt: skip


if __name__ == "__main__":
    main()
