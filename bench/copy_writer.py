"""How the streamed ingest COPY sends its chunks: from the preparing thread (psycopg's
plain writer; the kernel's socket buffers give the overlap) or through psycopg's
QueuedLibpqWriter (a thread sending while the main thread prepares the next chunk).

    .venv/bin/python bench/copy_writer.py --rows 200000 --rounds 6

Each round: raw COPY of the same rows (bench/timeseries.py's baseline, as is), then the
ingest service with each writer, in alternating order; every run after a TRUNCATE and a
CHECKPOINT. Prints each round's ratios to raw COPY and the medians. Runs on its own
database (`heimdall_bench` on the DATABASE_URL server, recreated), as bench/timeseries.py.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import timeseries as ts  # sets the benchmark database up first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    items = ts.fresh_setup(args.rows)
    from psycopg.copy import LibpqWriter, QueuedLibpqWriter

    from apps.signals import services

    writers = {"plain (kept)": LibpqWriter, "QueuedLibpqWriter": QueuedLibpqWriter}
    ratios: dict[str, list[float]] = {name: [] for name in writers}
    for round_index in range(args.rounds):
        ts.truncate()
        raw = ts.bench_raw_copy(items)
        order = list(writers.items())
        for name, writer in order if round_index % 2 == 0 else order[::-1]:
            services.COPY_WRITER = writer
            ts.truncate()
            ratios[name].append(raw / ts.bench_service(items))
        print(f"round {round_index + 1}: "
              + ", ".join(f"{n} {r[-1]:.3f}×" for n, r in ratios.items()), flush=True)  # fmt: skip
    services.COPY_WRITER = LibpqWriter
    medians = ", ".join(f"{n} **{statistics.median(r):.3f}×**" for n, r in ratios.items())
    print(f"\n{args.rows:,} rows, {args.rounds} rounds, median ratio to raw COPY: {medians}")


if __name__ == "__main__":
    main()
