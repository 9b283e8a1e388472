"""Live pipeline benchmark (issue 5): DSP, POST /analyze, and WebSocket fan-out.

    .venv/bin/python bench/live.py dsp
    .venv/bin/python bench/live.py fanout [--seconds 30] [--rate 1000]

fanout: 20 stations, `--rate` detections/s for `--seconds`; 200 clients each
subscribed to one station plus 10 subscribed to everything. The same clients
and the same publisher schedule run against (1) one daphne with the Redis
channel layer and (2) a bare `websockets` broadcast server, in one run.
Printed as Markdown for docs/performance.md.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import recreate_database, use_database  # noqa: E402

BENCH_DB = "heimdall_bench_live"
use_database(BENCH_DB)
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,testserver")
os.environ.setdefault("HEIMDALL_RATE_LIMIT_USER", "1000000/min")
# 210 sockets of one bench user: no per-user socket cap (docs/websockets.md).
os.environ.setdefault("HEIMDALL_WS_MAX_SOCKETS_PER_USER", "0")
STATIONS = [f"st-{n:02d}" for n in range(20)]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- DSP --------------------------------------------------------------------


def bench_dsp() -> list[str]:
    import numpy as np
    from scipy import signal

    from apps.radio import dsp

    rng = np.random.default_rng(1)
    t = np.arange(48_000) / 48_000
    samples = np.sin(2 * np.pi * 1500 * t) + 0.01 * rng.standard_normal(48_000)

    def ours():
        dsp.analyze(samples, sample_rate=48_000, center_frequency=14_235_000, fft_size=1024,
                    overlap=0.5, window="hann")  # fmt: skip

    def bare():
        signal.welch(samples, fs=48_000, window="hann", nperseg=1024, noverlap=512,
                     detrend=False)  # fmt: skip

    ours_ms = statistics.median(timeit.repeat(ours, number=20, repeat=15)) / 20 * 1000
    bare_ms = statistics.median(timeit.repeat(bare, number=20, repeat=15)) / 20 * 1000

    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from apps.accounts.services import user_create

    recreate_database(BENCH_DB)
    call_command("migrate", verbosity=0)
    call_command("ensure_default_models", verbosity=0)
    user_create(username="bench-viewer", password="bench-pass-1", role="viewer", validate=False)
    client = APIClient()
    credentials = {"username": "bench-viewer", "password": "bench-pass-1"}
    login = client.post("/api/v1/auth/login", credentials, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access_token']}")
    body = json.dumps({
        "signal_data": {"samples": samples.round(6).tolist(), "sample_rate": 48000,
                        "frequency": 14235000, "duration": 1.0},
        "analysis_config": {"fft_size": 1024, "overlap": 0.5, "window_function": "hann"},
    })  # fmt: skip
    times = []
    for _ in range(60):
        response = client.post(
            "/api/v1/signals/analyze", data=body, content_type="application/json"
        )
        assert response.status_code == 200, response.content[:200]
        times.append(float(response["Server-Timing"].split("dur=")[1]))
    times = times[10:]
    return [
        f"| DSP, 1 s of 48 kHz audio, fft 1024, 50 % overlap | {ours_ms:.2f} ms | bare "
        f"`scipy.signal.welch` {bare_ms:.2f} ms | {ours_ms / bare_ms:.2f}× | ≤ 2 ms, ≤ 1.5× |",
        f"| POST /signals/analyze (same samples as JSON, with scoring) | p50 "
        f"{statistics.median(times):.1f} ms | — | — | p50 ≤ 25 ms |",
    ]


# --- fan-out clients (their own process) --------------------------------------------


def run_clients(url: str, seconds: float, ready, results) -> None:
    import websockets

    async def client(index: int, station: str | None, stats: dict):
        try:
            await _client(index, station, stats)
        except Exception as exc:
            print(f"client {index}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            raise

    async def _client(index: int, station: str | None, stats: dict):
        async with websockets.connect(
            url, max_size=2**22, ping_interval=None, open_timeout=60
        ) as ws:
            filters = {"station_ids": [station]} if station else {}
            await ws.send(json.dumps({"type": "subscribe", "channels": ["signal_detections"],
                                      "filters": filters}))  # fmt: skip
            await ws.recv()  # subscribed
            stats["connected"] += 1
            end = time.time() + seconds + 15
            while time.time() < end:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, end - time.time()))
                except (TimeoutError, websockets.ConnectionClosed):
                    break
                message = json.loads(raw)
                if message.get("type") != "signal_detection":
                    continue
                now = time.time()
                stats["first"] = min(stats["first"], now)
                stats["last"] = max(stats["last"], now)
                sent = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
                stats["latencies"].append(now - sent.timestamp())
                stats["received"][index] += 1
                if message["data"]["websdr_station_id"] == station or station is None:
                    stats["matching"][index] += 1

    async def main():
        stats = {"connected": 0, "latencies": [], "received": [0] * 210, "matching": [0] * 210,
                 "first": float("inf"), "last": 0.0}  # fmt: skip
        subscriptions = [STATIONS[i % 20] for i in range(200)] + [None] * 10
        tasks = [asyncio.create_task(client(i, s, stats)) for i, s in enumerate(subscriptions)]
        while stats["connected"] < 210:
            await asyncio.sleep(0.05)
        ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put({"latencies": stats["latencies"], "received": stats["received"],
                     "matching": stats["matching"], "subscriptions": subscriptions,
                     "window": max(stats["last"] - stats["first"], 1e-9)})  # fmt: skip

    asyncio.run(main())


def schedule(rate: int, seconds: float):
    """Ticks of 20 ms: (tick time offset, list of detection payloads)."""
    per_tick = max(1, rate // 50)
    for tick in range(int(seconds * 50)):
        items = []
        for n in range(per_tick):
            station = STATIONS[(tick * per_tick + n) % 20]
            items.append({"id": str(uuid.uuid4()), "websdr_station_id": station,
                          "frequency_hz": 14_000_000 + n, "signal_strength_db": -70.0,
                          "bandwidth_hz": 2400, "modulation_type": "USB", "anomaly_score": 0.1,
                          "is_anomaly": False,
                          "detection_timestamp": "2026-01-01T00:00:00Z"})  # fmt: skip
        yield tick * 0.02, items


def summarize(name, result, published_per_station, seconds):
    latencies = sorted(result["latencies"])
    expected = [
        published_per_station[s] if s else sum(published_per_station.values())
        for s in result["subscriptions"]
    ]
    lost = sum(max(0, e - m) for e, m in zip(expected, result["matching"], strict=True))
    delivered = sum(result["received"])
    return {
        "name": name,
        # Sustained: over the time deliveries actually took (a backlog that
        # drains after the publisher stops lowers this).
        "deliveries_per_s": delivered / max(result["window"], seconds),
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "lost": lost,
        "expected": sum(expected),
    }


# --- Heimdall: daphne + Redis --------------------------------------------------------------


def fanout_daphne(rate: int, seconds: float) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.accounts.services import user_create
    from apps.stations.models import Station

    recreate_database(BENCH_DB)
    call_command("migrate", verbosity=0)
    for station in STATIONS:
        Station.objects.create(id=station, name=station, url="http://example.org/", latitude=45,
                               longitude=8, frequency_min=0, frequency_max=30_000_000)  # fmt: skip
    user = user_create(username="bench-viewer", password="x", role="viewer", validate=False)
    token = str(RefreshToken.for_user(user).access_token)
    port = free_port()
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        cwd=ROOT, env={**os.environ, "HEIMDALL_EMBEDDED_COLLECTORS": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if os.environ.get("BENCH_PROFILE_DAPHNE"):  # py-spy samples the server during the run
        subprocess.Popen(["py-spy", "record", "-d", str(int(seconds) + 8), "-f", "raw", "-o",
                          os.environ["BENCH_PROFILE_DAPHNE"], "-p", str(daphne.pid)])  # fmt: skip
    try:
        time.sleep(3)
        return _drive(f"ws://127.0.0.1:{port}/ws/signals/live?token={token}", rate, seconds,
                      _publish_channel_layer)  # fmt: skip
    finally:
        daphne.terminate()
        daphne.wait(timeout=30)


async def _publish_channel_layer(rate, seconds, counts):
    from channels.layers import get_channel_layer

    from apps.signals import live

    layer = get_channel_layer()
    start = time.time()
    for offset, items in schedule(rate, seconds):
        delay = start + offset - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        by_station: dict[str, list] = {}
        for item in items:
            by_station.setdefault(item["websdr_station_id"], []).append(item)
            counts[item["websdr_station_id"]] += 1
        message = {"type": "live.detections", "items": items, "sent_at": _now_iso()}
        await layer.group_send(live.DETECTIONS_ALL, message)
        for station, station_items in by_station.items():
            await layer.group_send(live.detections_group(station),
                                   {**message, "items": station_items})  # fmt: skip


# --- baseline: a bare websockets broadcast server ---------------------------------------


def run_baseline_server(port: int) -> None:
    import websockets

    subscribers: dict = {}

    async def handler(ws):
        first = json.loads(await ws.recv())
        if first.get("type") == "publisher":
            async for raw in ws:
                batch = json.loads(raw)
                for item in batch["items"]:
                    text = json.dumps({"type": "signal_detection", "data": item,
                                       "timestamp": batch["sent_at"]})  # fmt: skip
                    for client, station in list(subscribers.items()):
                        if station is None or station == item["websdr_station_id"]:
                            try:
                                await client.send(text)
                            except websockets.ConnectionClosed:
                                subscribers.pop(client, None)
            return
        stations = (first.get("filters") or {}).get("station_ids")
        subscribers[ws] = stations[0] if stations else None
        await ws.send(json.dumps({"type": "subscribed"}))
        await ws.wait_closed()
        subscribers.pop(ws, None)

    async def main():
        async with websockets.serve(handler, "127.0.0.1", port, max_size=2**22):
            await asyncio.Future()

    asyncio.run(main())


def fanout_baseline(rate: int, seconds: float) -> dict:
    port = free_port()
    server = multiprocessing.Process(target=run_baseline_server, args=(port,), daemon=True)
    server.start()
    time.sleep(1)
    try:
        return _drive(f"ws://127.0.0.1:{port}/", rate, seconds, _publisher_for(port))
    finally:
        server.terminate()


def _publisher_for(port):
    async def publish(rate, seconds, counts):
        import websockets

        async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=2**22) as ws:
            await ws.send(json.dumps({"type": "publisher"}))
            start = time.time()
            for offset, items in schedule(rate, seconds):
                delay = start + offset - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                for item in items:
                    counts[item["websdr_station_id"]] += 1
                await ws.send(json.dumps({"items": items, "sent_at": _now_iso()}))

    return publish


# --- shared driver ---------------------------------------------------------------------------


def _drive(url, rate, seconds, publisher) -> dict:
    ready = multiprocessing.Event()
    results = multiprocessing.Queue()
    clients = multiprocessing.Process(target=run_clients, args=(url, seconds, ready, results))
    clients.start()
    assert ready.wait(120), "clients did not connect"
    counts = dict.fromkeys(STATIONS, 0)
    asyncio.run(publisher(rate, seconds, counts))
    result = results.get(timeout=seconds + 120)
    clients.join(timeout=30)
    return {"result": result, "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["dsp", "fanout"])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()
    if args.what == "dsp":
        print("| figure | Heimdall | baseline | ratio | target |\n|---|---|---|---|---|")
        print("\n".join(bench_dsp()))
        return
    heimdall_run = fanout_daphne(args.rate, args.seconds)
    baseline_run = fanout_baseline(args.rate, args.seconds)
    h = summarize("Heimdall (daphne + Redis)", heimdall_run["result"], heimdall_run["counts"],
                  args.seconds)  # fmt: skip
    b = summarize("bare websockets broadcast", baseline_run["result"], baseline_run["counts"],
                  args.seconds)  # fmt: skip
    print(f"\n{args.rate} detections/s over 20 stations for {args.seconds:.0f} s; 200 one-station "
          f"clients + 10 all-station clients; {os.cpu_count()} cores\n")  # fmt: skip
    print("| server | deliveries/s | p50 latency | p99 latency | lost / expected |")
    print("|---|---|---|---|---|")
    for row in (h, b):
        print(f"| {row['name']} | {row['deliveries_per_s']:,.0f} | {row['p50_ms']:.0f} ms | "
              f"{row['p99_ms']:.0f} ms | {row['lost']:,} / {row['expected']:,} |")  # fmt: skip
    print(f"\nratio of sustained deliveries/s (Heimdall / bare): "
          f"{h['deliveries_per_s'] / b['deliveries_per_s']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
