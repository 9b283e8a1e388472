"""Time-series benchmark (issue 3): ingest, list queries and statistics on PostgreSQL.

    make bench-timeseries            # full size: 1M ingest, 5M rows for queries
    .venv/bin/python bench/timeseries.py --ingest-rows 100000 --query-rows 500000   # quick

Runs against its own database (`heimdall_bench` on the DATABASE_URL server,
default postgres://postgres@127.0.0.1:5432), recreated at the start. Every
figure is measured beside its baseline in the same run and printed as a
Markdown table for docs/performance.md.
"""

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import recreate_database, use_database  # noqa: E402

BENCH_DB = os.environ.get("HEIMDALL_BENCH_DB", "heimdall_bench")
use_database(BENCH_DB)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
os.environ.setdefault("HEIMDALL_RATE_LIMIT_USER", "1000000/min")
os.environ.setdefault("HEIMDALL_DETECTION_RETENTION_DAYS", "400")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

STATIONS = [f"station-{n:02d}" for n in range(20)]
MODULATIONS = ["USB", "LSB", "CW", "AM", "FM", "FSK", "PSK"]
TABLE = "signals_signaldetection"


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.stations.models import Station

    for index, station_id in enumerate(STATIONS):
        Station.objects.create(
            id=station_id,
            name=station_id,
            url="http://example.org/",
            latitude=44 + index * 0.1,
            longitude=7 + index * 0.1,
            frequency_min=0,
            frequency_max=500_000_000,
        )


def make_items(count: int, start: datetime, span: timedelta, seed: int) -> list[dict]:
    """Detections as a client sends them (JSON-ready dicts), spread over `span`."""
    rng = random.Random(seed)
    step = span.total_seconds() / count
    items = []
    for index in range(count):
        when = start + timedelta(seconds=index * step + rng.random() * step)
        score = rng.random() ** 100  # mostly low; about 0.7% at or above 0.5
        items.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "websdr_station_id": rng.choice(STATIONS),
                "frequency_hz": rng.randrange(1_800_000, 30_000_000, 500),
                "signal_strength_db": round(rng.uniform(-120, -40), 1),
                "bandwidth_hz": rng.choice([150, 500, 2400, 2700, 6000, 12000]),
                "modulation_type": rng.choice(MODULATIONS),
                "signal_features": {
                    "spectral_centroid": round(rng.uniform(300, 3000), 1),
                    "snr_estimate": round(rng.uniform(0, 40), 1),
                },
                "anomaly_score": round(score, 4),
                "detection_timestamp": when.isoformat().replace("+00:00", "Z"),
                "processing_metadata": {"processing_time_ms": rng.randint(20, 200)},
            }
        )
    return items


def fresh_setup(rows: int) -> list[dict]:
    """The benchmark database recreated and migrated, Django set up, and `rows` detections
    spread over a day that starts two days ago, their partitions made."""
    recreate_database(BENCH_DB)
    setup_django()
    from apps.core.partitioning import ensure_partitions

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    items = make_items(rows, start, timedelta(days=1), seed=1)
    ensure_partitions(TABLE, {(start + timedelta(days=d)).date() for d in range(3)})
    return items


def truncate() -> None:
    """Empty the tables, then CHECKPOINT: every timed run starts with no dirty pages and
    no checkpoint due from the runs before it (without it a run paid for its
    predecessors' writes: the same raw COPY measured 26,000-44,000 rows/s in turn)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}, signals_detectionkey, anomalies_anomalyevent")
        cursor.execute("CHECKPOINT")


# --- ingest -----------------------------------------------------------------


def bench_raw_copy(items: list[dict]) -> float:
    """Baseline: psycopg COPY of the same rows into the same table (rows prebuilt)."""
    from django.db import connection, transaction

    from apps.signals.validation import parse_timestamp

    now = datetime.now(UTC)
    rows = [
        (
            item["id"], item["websdr_station_id"], item["frequency_hz"],
            item["signal_strength_db"], item["bandwidth_hz"], item["modulation_type"],
            json.dumps(item["signal_features"]), item["anomaly_score"],
            item["anomaly_score"] >= 0.5, parse_timestamp(item["detection_timestamp"]),
            json.dumps(item["processing_metadata"]), now, now,
        )
        for item in items
    ]  # fmt: skip
    from apps.signals.services import COLUMNS

    started = time.perf_counter()
    for offset in range(0, len(rows), 10_000):
        with transaction.atomic(), connection.cursor() as cursor:
            sql = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for row in rows[offset : offset + 10_000]:
                    copy.write_row(row)
    return time.perf_counter() - started


def bench_service(items: list[dict]) -> float:
    from apps.signals.services import detection_ingest

    started = time.perf_counter()
    for offset in range(0, len(items), 10_000):
        detection_ingest(detections=items[offset : offset + 10_000])
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_http(items: list[dict]) -> float:
    """POST 10,000-detection batches to one real daphne process."""
    import http.client

    from apps.accounts.services import user_create

    user_create(username="bench-op", password="bench-password-1", role="operator", validate=False)
    port = free_port()
    env = {**os.environ}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request(
                    "POST", "/api/v1/auth/login",
                    body=json.dumps({"username": "bench-op", "password": "bench-password-1"}),
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                token = json.loads(conn.getresponse().read())["access_token"]
                break
            except OSError:
                time.sleep(0.2)
        bodies = [
            json.dumps({"detections": items[offset : offset + 10_000]}).encode()
            for offset in range(0, len(items), 10_000)
        ]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        for body in bodies:
            conn.request("POST", "/api/v1/signals/detections", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            assert response.status == 201, payload[:300]
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- queries ------------------------------------------------------------------


def load_query_data(rows: int, end: datetime) -> None:
    """Bulk-load `rows` detections over 30 days with the raw COPY path, then ANALYZE."""
    from django.db import connection

    from apps.core.partitioning import ensure_partitions

    start = end - timedelta(days=30)
    ensure_partitions(TABLE, {(start + timedelta(days=d)).date() for d in range(32)})
    chunk = 250_000
    for index, offset in enumerate(range(0, rows, chunk)):
        count = min(chunk, rows - offset)
        span = timedelta(days=30) * count / rows
        chunk_start = start + timedelta(days=30) * offset / rows
        bench_raw_copy(make_items(count, chunk_start, span, seed=1000 + index))
        print(f"  loaded {offset + count:,} rows", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def elapsed_ms(fn, *args) -> float:
    """Milliseconds for one call: the server's own Server-Timing when fn returns a response."""
    started = time.perf_counter()
    response = fn(*args)
    if response is not None:
        return float(response["Server-Timing"].split("dur=")[1])
    return (time.perf_counter() - started) * 1000


def time_calls(fn, repeat: int) -> list[float]:
    fn()  # warm up
    return [elapsed_ms(fn) for _ in range(repeat)]


def time_side_by_side(api, bare, make_args, repeat: int) -> tuple[list[float], list[float]]:
    """The API call and its bare SQL on the same arguments, alternating which goes first,
    so that both see the same cache state and the same machine load."""
    api(*make_args())
    bare(*make_args())
    api_times, bare_times = [], []
    for index in range(repeat):
        args = make_args()
        if index % 2:
            bare_times.append(elapsed_ms(bare, *args))
            api_times.append(elapsed_ms(api, *args))
        else:
            api_times.append(elapsed_ms(api, *args))
            bare_times.append(elapsed_ms(bare, *args))
    return api_times, bare_times


def bench_queries(end: datetime, repeat: int) -> dict:
    from django.db import connection
    from rest_framework.test import APIClient

    from apps.accounts.services import user_create
    from apps.signals.queries import Cursor

    user_create(username="bench-viewer", password="bench-password-1", role="viewer", validate=False)
    client = APIClient()
    login = client.post(
        "/api/v1/auth/login",
        {"username": "bench-viewer", "password": "bench-password-1"},
        format="json",
    )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access_token']}")
    rng = random.Random(7)

    def window_params():
        window_end = end - timedelta(hours=rng.uniform(2, 700))
        return {
            "time_start": (window_end - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "time_end": window_end.isoformat().replace("+00:00", "Z"),
            "frequency_min": 7_000_000,
            "frequency_max": 21_000_000,
            "websdr_station": rng.choice(STATIONS),
            "page_size": 50,
        }

    def api_page1(p):
        response = client.get("/api/v1/signals/detections", p)
        assert response.status_code == 200, response.content[:300]
        return response

    def bare_page1(p):
        args = [p["websdr_station"], p["frequency_min"], p["frequency_max"], p["time_start"],
                p["time_end"]]  # fmt: skip
        where = ("websdr_station_id = %s AND frequency_hz >= %s AND frequency_hz <= %s "
                 "AND detection_timestamp >= %s AND detection_timestamp <= %s")  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE {where}", args)
            cursor.fetchone()
            cursor.execute(
                f"SELECT id, websdr_station_id, frequency_hz, signal_strength_db, bandwidth_hz, "
                f"modulation_type, anomaly_score, is_anomaly, detection_timestamp FROM {TABLE} "
                f"WHERE {where} ORDER BY detection_timestamp DESC, id DESC LIMIT 50",
                args,
            )
            cursor.fetchall()

    # A deep cursor: up to 100,000 rows into one station's history in the 7-21 MHz range.
    station = STATIONS[3]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {TABLE} WHERE websdr_station_id = %s AND "
            "frequency_hz BETWEEN 7000000 AND 21000000",
            [station],
        )
        depth = min(100_000, cursor.fetchone()[0] // 2)
        cursor.execute(
            f"SELECT detection_timestamp, id FROM {TABLE} WHERE websdr_station_id = %s AND "
            "frequency_hz BETWEEN 7000000 AND 21000000 "
            "ORDER BY detection_timestamp DESC, id DESC OFFSET %s LIMIT 1",
            [station, depth],
        )
        deep_ts, deep_id = cursor.fetchone()
    token = Cursor(deep_ts, str(deep_id), backwards=False).encode()
    deep_params = {"websdr_station": station, "frequency_min": 7_000_000,
                   "frequency_max": 21_000_000, "page_size": 50, "cursor": token}  # fmt: skip

    def api_deep():
        response = client.get("/api/v1/signals/detections", deep_params)
        assert response.status_code == 200 and len(response.json()["data"]) == 50
        return response

    def bare_deep():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, websdr_station_id, frequency_hz, signal_strength_db, bandwidth_hz, "
                f"modulation_type, anomaly_score, is_anomaly, detection_timestamp FROM {TABLE} "
                "WHERE websdr_station_id = %s AND frequency_hz >= 7000000 AND "
                "frequency_hz <= 21000000 AND detection_timestamp <= %s "
                "AND (detection_timestamp, id) < (%s, %s) "
                "ORDER BY detection_timestamp DESC, id DESC LIMIT 51",
                [station, deep_ts, deep_ts, deep_id],
            )
            cursor.fetchall()

    def api_summary():
        response = client.get("/api/v1/statistics/summary", {"time_period": "24h"})
        assert response.status_code == 200
        return response

    results = {"deep_rows": depth}
    results["page1_api"], results["page1_sql"] = time_side_by_side(
        api_page1, bare_page1, lambda: (window_params(),), repeat
    )
    results["deep_api"], results["deep_sql"] = time_side_by_side(api_deep, bare_deep, tuple, repeat)
    results["summary_api"] = time_calls(api_summary, max(5, repeat // 20))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ingest-rows", type=int, default=1_000_000)
    parser.add_argument("--http-rows", type=int, default=200_000)
    parser.add_argument("--query-rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    items = fresh_setup(args.ingest_rows)
    from django.db import connection

    now = datetime.now(UTC).replace(microsecond=0)

    print(f"ingest: {args.ingest_rows:,} rows", flush=True)
    raw_s = bench_raw_copy(items)
    truncate()
    service_s = bench_service(items)
    truncate()
    raw_s2 = bench_raw_copy(items)  # again, so disk/cache warm-up favours neither side
    truncate()
    raw_s = min(raw_s, raw_s2)
    print(f"http: {args.http_rows:,} rows", flush=True)
    connection.close()
    http_s = bench_http(items[: args.http_rows])
    truncate()

    print(f"queries: loading {args.query_rows:,} rows over 30 days", flush=True)
    load_query_data(args.query_rows, now)
    q = bench_queries(now, args.repeat)

    raw_rate = args.ingest_rows / raw_s
    service_rate = args.ingest_rows / service_s
    http_rate = args.http_rows / http_s
    depth = q.pop("deep_rows")
    p = {name: (statistics.median(v), percentile(v, 0.95)) for name, v in q.items()}
    lines = [
        f"Measured {now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, PostgreSQL without "
        "TimescaleDB (native daily partitions).",
        "",
        "| figure | Heimdall | baseline | ratio | target |",
        "|---|---|---|---|---|",
        f"| ingest service, {args.ingest_rows:,} rows | {service_rate:,.0f} rows/s | raw psycopg "
        f"COPY {raw_rate:,.0f} rows/s | {service_rate / raw_rate:.2f}× | ≥ 0.5× |",
        f"| HTTP ingest (daphne, 10k/request), {args.http_rows:,} rows | {http_rate:,.0f} "
        "detections/s | — | — | ≥ 20,000/s |",
        f"| list, 1 h + freq + station, page 1 ({args.query_rows:,} rows) | p50 "
        f"{p['page1_api'][0]:.1f} ms, p95 {p['page1_api'][1]:.1f} ms | bare SQL p50 "
        f"{p['page1_sql'][0]:.1f} ms | {p['page1_api'][0] / p['page1_sql'][0]:.2f}× | "
        "p50 ≤ 15, p95 ≤ 50 ms, ≤ 3× |",
        f"| list, cursor {depth:,} rows deep | p50 {p['deep_api'][0]:.1f} ms, p95 "
        f"{p['deep_api'][1]:.1f} ms | bare SQL p50 {p['deep_sql'][0]:.1f} ms | "
        f"{p['deep_api'][0] / p['deep_sql'][0]:.2f}× | p50 ≤ 15, p95 ≤ 50 ms, ≤ 3× |",
        f"| statistics summary, 24 h | p50 {p['summary_api'][0]:.0f} ms, p95 "
        f"{p['summary_api'][1]:.0f} ms | — | — | ≤ 300 ms |",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
