"""Recordings benchmark (issue 17): analyze throughput against real time, memory flat in
file size.

    /work/tools/wtenv python bench/recordings.py                  # 2.4 MS/s ci16_le, 8 s and 32 s
    /work/tools/wtenv python bench/recordings.py --seconds 4 16   # quicker

Writes `ci16_le` SigMF recordings at 2.4 MS/s (noise and six carriers, chunk by
chunk: the generator never holds a file either), stores each through
`recording_create` (the upload path: hashed copy into artifact storage) and
analyzes it with `recording_analyze` (the task's work: windows, DSP, ingest
through `detection_ingest`) in this process, on its own database
(`heimdall_bench_recordings`, recreated). Reported per file: the real-time
factor (recording seconds / analysis seconds; target ≥ 20×) and the peak
resident memory during the analysis above the process's resident memory before
it (sampled every 10 ms from /proc/self/status): flat means the larger file
does not need more.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import recreate_database, use_database  # noqa: E402

BENCH_DB = os.environ.get("HEIMDALL_BENCH_DB", "heimdall_bench_recordings")
use_database(BENCH_DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
os.environ.setdefault("HEIMDALL_TASK_BACKEND", "inprocess")

RATE = 2_400_000
CENTRE = 145_000_000
CARRIERS = [
    (-900_000, 0.2),
    (-310_000, 0.05),
    (120_000, 0.1),
    (455_000, 0.02),
    (700_000, 0.3),
    (1_050_000, 0.01),
]


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class PeakRss:
    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.base = rss_kib()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.01)

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def write_file(folder: Path, seconds: float) -> tuple[Path, Path]:
    """A ci16_le recording written one second at a time, and its metadata."""
    import json

    rng = np.random.default_rng(0)
    data = folder / f"bench-{seconds:g}s.sigmf-data"
    digest = hashlib.sha512()
    with open(data, "wb") as handle:
        for second in range(int(np.ceil(seconds))):
            n = min(RATE, round(seconds * RATE) - second * RATE)
            t = (np.arange(n) + second * RATE) / RATE
            x = 0.003 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
            for offset, amplitude in CARRIERS:
                x += amplitude * np.exp(2j * np.pi * offset * t)
            iq = np.empty(2 * n, dtype="<i2")
            iq[0::2] = np.round(x.real * 32767 * 0.5)
            iq[1::2] = np.round(x.imag * 32767 * 0.5)
            block = iq.tobytes()
            digest.update(block)
            handle.write(block)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    meta = {
        "global": {
            "core:datatype": "ci16_le",
            "core:sample_rate": RATE,
            "core:version": "1.2.0",
            "core:sha512": digest.hexdigest(),
        },
        "captures": [
            {
                "core:sample_start": 0,
                "core:frequency": CENTRE,
                "core:datetime": start.isoformat().replace("+00:00", "Z"),
            }
        ],
        "annotations": [],
    }
    path = folder / f"bench-{seconds:g}s.sigmf-meta"
    path.write_text(json.dumps(meta))
    return path, data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, nargs="+", default=[8.0, 32.0])
    parser.add_argument("--fft-size", type=int, default=4096)
    parser.add_argument("--window-seconds", type=float, default=0.25)
    args = parser.parse_args()

    recreate_database(BENCH_DB)
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.recordings.analysis import recording_analyze
    from apps.recordings.models import Recording
    from apps.recordings.services import recording_create
    from apps.stations.models import Station

    Station.objects.create(
        id="bench-vhf",
        name="bench",
        url="http://example.org/",
        latitude=52.0,
        longitude=6.0,
        frequency_min=100_000_000,
        frequency_max=200_000_000,
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        # The first analysis in a process pays once for imports, scipy's caches and the
        # day's detection partition: a 1 s warm-up, reported but not in the table.
        for seconds in [1.0, *args.seconds]:
            meta_path, data_path = write_file(Path(folder), seconds)
            size = data_path.stat().st_size
            started = time.perf_counter()
            with open(meta_path, "rb") as meta, open(data_path, "rb") as data:
                recording = recording_create(
                    user=None,
                    meta_file=File(meta, name=meta_path.name),
                    data_file=File(data, name=data_path.name),
                    websdr_station_id="bench-vhf",
                )
            store_s = time.perf_counter() - started
            data_path.unlink()  # the stored copy is what is analyzed
            Recording.objects.filter(pk=recording.pk).update(
                analysis_status="pending",
                analysis={
                    "options": {"window_seconds": args.window_seconds, "fft_size": args.fft_size}
                },
            )
            with PeakRss() as memory:
                started = time.perf_counter()
                assert recording_analyze(recording_id=recording.pk) == "completed"
                analyze_s = time.perf_counter() - started
            recording.refresh_from_db()
            summary = recording.analysis
            if len(rows) or seconds != 1.0 or args.seconds[0] == 1.0:
                rows.append(
                    (seconds, size, store_s, analyze_s, summary, (memory.peak - memory.base) / 1024)
                )
            print(
                f"{seconds:g} s: analyzed in {analyze_s:.2f} s "
                f"({seconds / analyze_s:.1f}x real time), "
                f"{summary['detections_found']} detections, "
                f"peak RSS +{(memory.peak - memory.base) / 1024:.0f} MiB",
                flush=True,
            )

    print()
    print(
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; ci16_le "
        f"at {RATE / 1e6:g} MS/s, window {args.window_seconds} s, fft_size {args.fft_size}, "
        "no active anomaly model."
    )
    print()
    print(
        "| recording | data | store (hash + copy) | analyze | real-time factor | "
        "detections | peak RSS during analyze |"
    )
    print("|---|---|---|---|---|---|---|")
    for seconds, size, store_s, analyze_s, summary, peak in rows:
        print(
            f"| {seconds:g} s | {size / 2**20:,.0f} MiB | {store_s:.2f} s | {analyze_s:.2f} s | "
            f"{seconds / analyze_s:.1f}× (target ≥ 20×) | {summary['detections_found']:,} | "
            f"+{peak:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
