"""Load benchmark (issue 12 §9): concurrent clients against one daphne on PostgreSQL + Redis.

    .venv/bin/python bench/load.py                          # 50 clients, 60 s (the figures)
    .venv/bin/python bench/load.py --clients 50 --seconds 10 --after 5   # a smoke run

`--clients` HTTP clients (httpx, one keep-alive connection each) run for
`--seconds`: each loops over a mix of reads (detection list page, station
list, statistics summary) and ingest (POST /signals/detections, 20
detections). One daphne process as the Procfile's `web` runs it
(HEIMDALL_PROCESS=web: its pool is bounded by HEIMDALL_DB_POOL_MAX_SIZE,
default 10). Every 0.5 s the bench samples `pg_stat_activity` for the bench
database: the web process's connections (application_name heimdall-web) and
all of them; then once more `--after` seconds after the load stops.

Targets: no 5xx (503 = pool exhausted is counted apart but is a miss too),
the web process's connections never above its pool size, p50/p99 reported
per request kind. Printed as Markdown for docs/performance.md.
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import SERVER, recreate_database, use_database  # noqa: E402

BENCH_DB = "heimdall_bench_load"
use_database(BENCH_DB)
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,testserver")
os.environ.setdefault("HEIMDALL_RATE_LIMIT_USER", "10000000/min")
STATIONS = [f"st-{n:02d}" for n in range(20)]
INGEST_SHARE = 0.3  # of requests; the rest are reads
BATCH = 20  # detections per ingest request


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup() -> tuple[str, str]:
    """A fresh bench database with stations and some detections; (operator, viewer) tokens."""
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.accounts.services import user_create
    from apps.signals.services import detection_ingest
    from apps.stations.models import Station

    recreate_database(BENCH_DB)
    call_command("migrate", verbosity=0)
    for station in STATIONS:
        Station.objects.create(id=station, name=station, url="http://example.org/", latitude=45,
                               longitude=8, frequency_min=0, frequency_max=30_000_000)  # fmt: skip
    detection_ingest(detections=[_detection() for _ in range(2000)])
    tokens = []
    for name, role in (("bench-operator", "operator"), ("bench-viewer", "viewer")):
        user = user_create(username=name, password="x", role=role, validate=False)
        tokens.append(str(RefreshToken.for_user(user).access_token))
    from django.db import connections

    connections.close_all()
    return tokens[0], tokens[1]


def _detection() -> dict:
    return {
        "id": str(uuid.uuid4()),
        "websdr_station_id": random.choice(STATIONS),
        "frequency_hz": random.randrange(3_000_000, 30_000_000),
        "signal_strength_db": -60.0 - random.random() * 40,
        "bandwidth_hz": 2400,
        "modulation_type": "USB",
        "signal_features": {"snr_estimate": 12.0},
        "detection_timestamp": _now_iso(),
        "processing_metadata": {"processing_time_ms": 5},
    }


class Sampler(threading.Thread):
    """pg_stat_activity for the bench database every `interval` s."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval = interval
        self.web: list[int] = []
        self.total: list[int] = []
        self.stop = threading.Event()

    def sample(self) -> tuple[int, int]:
        import psycopg

        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = %s", [BENCH_DB]
            ).fetchall()
        return sum(1 for (name,) in rows if name == "heimdall-web"), len(rows)

    def run(self):
        while not self.stop.is_set():
            web, total = self.sample()
            self.web.append(web)
            self.total.append(total)
            self.stop.wait(self.interval)


async def drive(base: str, operator: str, viewer: str, clients: int, seconds: float) -> dict:
    import httpx

    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter = Counter()
    errors: Counter = Counter()
    reads = [
        ("list detections", "/api/v1/signals/detections?page_size=50"),
        ("list stations", "/api/v1/stations"),
        ("statistics summary", "/api/v1/statistics/summary"),
    ]
    deadline = time.monotonic() + seconds

    async def client(index: int):
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            while time.monotonic() < deadline:
                if rng.random() < INGEST_SHARE:
                    kind = "ingest (20 detections)"
                    request = http.post(
                        "/api/v1/signals/detections",
                        json={"detections": [_detection() for _ in range(BATCH)]},
                        headers={"Authorization": f"Bearer {operator}"},
                    )
                else:
                    kind, path = rng.choice(reads)
                    request = http.get(path, headers={"Authorization": f"Bearer {viewer}"})
                started = time.perf_counter()
                try:
                    response = await request
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies[kind].append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": latencies, "statuses": statuses, "errors": errors}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--after", type=float, default=90, help="sample again this long after")
    args = parser.parse_args()

    operator, viewer = setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    port = _free_port()
    env = {**os.environ, "HEIMDALL_PROCESS": "web", "HEIMDALL_EMBEDDED_COLLECTORS": "false"}
    pool_max = int(env.get("HEIMDALL_DB_POOL_MAX_SIZE", 10))
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-load-daphne.log", "w")  # noqa: SIM115
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    sampler = Sampler()
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        sampler.start()
        started = time.monotonic()
        result = asyncio.run(
            drive(f"http://127.0.0.1:{port}", operator, viewer, args.clients, args.seconds)
        )
        elapsed = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        time.sleep(args.after)
        web_after, total_after = sampler.sample()
    finally:
        daphne.terminate()
        daphne.wait(timeout=30)
        log.close()

    statuses, latencies = result["statuses"], result["latencies"]
    requests = sum(statuses.values())
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"\n{args.clients} clients, {args.seconds:.0f} s, one daphne (pool max {pool_max}); "
          f"{requests} requests in {elapsed:.1f} s = {requests / elapsed:.0f}/s\n")  # fmt: skip
    print("| request | count | p50 | p99 |")
    print("|---|---|---|---|")
    everything = []
    for kind, values in sorted(latencies.items()):
        everything += values
        print(f"| {kind} | {len(values)} | {statistics.median(values):.0f} ms "
              f"| {percentile(values, 0.99):.0f} ms |")  # fmt: skip
    if everything:
        print(f"| all | {len(everything)} | {statistics.median(everything):.0f} ms "
              f"| {percentile(everything, 0.99):.0f} ms |")  # fmt: skip
    print()
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| responses by status | {dict(sorted(statuses.items()))} | only 2xx |")
    print(f"| 5xx | {server_errors} (503: {statuses.get(503, 0)}) | 0 |")
    print(f"| client errors (timeouts, resets) | {dict(result['errors']) or 0} | 0 |")
    print(f"| web connections, max sampled | {max(sampler.web, default=0)} | ≤ {pool_max} |")
    print(f"| all bench-DB connections, max sampled | {max(sampler.total, default=0)} | — |")
    print(f"| web connections {args.after:.0f} s after the load | {web_after} | ≤ {pool_max} |")
    print(f"| all bench-DB connections {args.after:.0f} s after | {total_after} | — |")


if __name__ == "__main__":
    main()
