"""Which COPY format the ingest writes: text (until 2026-11-30), binary built by psycopg's
`write_row` (the library), or binary built by apps.signals.pgcopy (kept).

    .venv/bin/python bench/copy_format.py --rows 200000 --rounds 3

The same detections (bench/timeseries.py's generator) three ways:

- *text*: tab-separated lines, as Heimdall wrote them before (`text_line`, `text_key`);
- *psycopg binary*: `Copy.write_row` with `set_types`, from the tuples its dumpers take
  (uuid.UUID objects, datetimes, Jsonb wrappers of the canonical JSON text);
- *pgcopy binary*: apps.signals.pgcopy's records (what the ingest writes).

Two measurements, in one run:

1. *the server's share*: the rows, prepared by the ingest's own validation and
   hashing, written into the detection table and the key table in 10,000-row
   transactions from prebuilt text or records: Python's building time (µs a row) and
   the COPYs' and commits' time; psycopg's `write_row` builds while it sends, so only
   its total is timed;
2. *the ingest*: `detection_ingest` of the same items, 10,000 a batch, its two COPYs
   (`_copy_streamed`, `_copy_keys`) swapped for each way, beside raw COPY
   (bench/timeseries.py's baseline, text) in each round; the median round's ratio; and
   that raw COPY in the binary format (`raw_binary_copy`), as a ratio to the text one
   and to the kept ingest.

Every run after a TRUNCATE and a CHECKPOINT. Runs on its own database
(`heimdall_bench`, recreated), as bench/timeseries.py.
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import timeseries as ts  # sets the benchmark database up first

BATCH = 10_000


def _as_is(text: str) -> str:
    """JSON written beforehand, given to psycopg's Jsonb dumper as is."""
    return text


def text_line(row: dict, now: str) -> str:
    """A detection in COPY's text format, as apps.signals.services wrote it until
    2026-11-30 (JSON's backslashes doubled: its only COPY-special character)."""
    from apps.signals.services import _canonical

    metadata = row["metadata_json"] or _canonical(row["processing_metadata"])
    bandwidth, score = row["bandwidth_hz"], row["anomaly_score"]
    return "\t".join((
        row["id"], row["websdr_station_id"], str(row["frequency_hz"]),
        repr(row["signal_strength_db"]), "\\N" if bandwidth is None else str(bandwidth),
        row["modulation_type"], row["features_json"].replace("\\", "\\\\"),
        "\\N" if score is None else repr(score), "t" if row["is_anomaly"] else "f",
        row["timestamp_text"], metadata.replace("\\", "\\\\"), now, now,
    )) + "\n"  # fmt: skip


def text_key(row: dict) -> str:
    return f"{row['id']}\t{row['timestamp_text']}\t{row['content_hash']}\n"


def prepared_rows(items: list[dict]) -> list[dict]:
    """The items as the ingest prepares them (validated, hashed, pre-scored)."""
    from apps.signals import services

    now = datetime.now(UTC)
    batch = services._Batch(items, now)
    batch.read_all()
    return batch.rows


def copy_sql(table: str, columns: list[str], binary: bool) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN" + (" (FORMAT BINARY)" if binary
                                                                 else "")  # fmt: skip


KEY_COLUMNS = ["id", "detection_timestamp", "content_hash"]
KEY_TYPES = ["uuid", "timestamptz", "uuid"]
ROW_TYPES = ["uuid", "varchar", "int8", "float8", "int4", "varchar", "jsonb", "float8", "bool",
             "timestamptz", "jsonb", "timestamptz", "timestamptz"]  # fmt: skip


def write(batches: list[tuple], *, binary: bool) -> float:
    """COPY prebuilt (rows block, keys block) batches, one transaction each; seconds."""
    from django.db import connection, transaction

    from apps.signals.services import COLUMNS, KEY_TABLE, TABLE

    began = time.perf_counter()
    for rows_block, keys_block in batches:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(copy_sql(TABLE, COLUMNS, binary)) as copy:
                copy.write(rows_block)
            with cursor.cursor.copy(copy_sql(KEY_TABLE, KEY_COLUMNS, binary)) as copy:
                copy.write(keys_block)
    return time.perf_counter() - began


def build_text(rows: list[dict], now: datetime) -> list[tuple]:
    stamp = now.isoformat()
    return [
        ("".join([text_line(r, stamp) for r in rows[i : i + BATCH]]),
         "".join(sorted(text_key(r) for r in rows[i : i + BATCH])))
        for i in range(0, len(rows), BATCH)
    ]  # fmt: skip


def build_pgcopy(rows: list[dict], now: datetime) -> list[tuple]:
    from apps.signals import pgcopy
    from apps.signals.services import _records

    stamps = pgcopy.timestamptz(now) * 2
    batches = []
    for i in range(0, len(rows), BATCH):
        keys: list[bytes] = []
        block = _records(rows[i : i + BATCH], stamps, keys)
        keys.sort()
        batches.append((pgcopy.SIGNATURE + block + pgcopy.TRAILER,
                        b"".join((pgcopy.SIGNATURE, *keys, pgcopy.TRAILER))))  # fmt: skip
    return batches


def psycopg_row(r: dict, now: datetime) -> tuple:
    """A prepared row as the tuple psycopg's binary dumpers take (ROW_TYPES)."""
    from psycopg.types.json import Jsonb

    from apps.signals.services import _canonical

    metadata = r["metadata_json"] or _canonical(r["processing_metadata"])
    return (
        uuid.UUID(r["id"]), r["websdr_station_id"], r["frequency_hz"], r["signal_strength_db"],
        r["bandwidth_hz"], r["modulation_type"], Jsonb(r["features_json"], dumps=_as_is),
        r["anomaly_score"], r["is_anomaly"], r["detection_timestamp"],
        Jsonb(metadata, dumps=_as_is), now, now,
    )  # fmt: skip


def psycopg_key(r: dict) -> tuple:
    """A prepared row's key as psycopg's dumpers take it (KEY_TYPES)."""
    return uuid.UUID(r["id"]), r["detection_timestamp"], uuid.UUID(hex=r["content_hash"])


def psycopg_write_row(rows: list[dict], now: datetime) -> float:
    """Build psycopg's tuples and COPY them with `write_row`; seconds, all of it."""
    from django.db import connection, transaction

    from apps.signals.services import COLUMNS, KEY_TABLE, TABLE

    began = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        chunk = rows[i : i + BATCH]
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(copy_sql(TABLE, COLUMNS, True)) as copy:
                copy.set_types(ROW_TYPES)
                for r in chunk:
                    copy.write_row(psycopg_row(r, now))
            with cursor.cursor.copy(copy_sql(KEY_TABLE, KEY_COLUMNS, True)) as copy:
                copy.set_types(KEY_TYPES)
                for r in sorted(chunk, key=lambda r: r["id"]):
                    copy.write_row(psycopg_key(r))
    return time.perf_counter() - began


# --- the ingest with each way ------------------------------------------------------------


def _streamed(batch, now: datetime, *, sql: str, types, row_out) -> list:
    """apps.signals.services._copy_streamed with each row sent by `row_out(copy, row, now,
    keys)` (text it returns is written; None: it wrote the row itself); returns the keys
    for `_copy_keys`."""
    from django.db import connection

    from apps.signals import services

    problem, keys = None, []
    with connection.wrap_database_errors, connection.cursor() as cursor:
        raw = cursor.cursor
        try:
            with raw.copy(sql, writer=services.COPY_WRITER(raw)) as copy:
                if types:
                    copy.set_types(types)
                try:
                    for rows in batch.chunks():
                        out = [
                            row_out(copy, row, now, keys)
                            for row in sorted(rows, key=services._by_id)
                        ]
                        if out[0] is not None:
                            copy.write("".join(out))
                    batch.raise_problems()
                except Exception as exc:
                    problem = exc
                    raise services._CopyRefused from None
        except services._CopyRefused:
            raise problem from None
    return keys


def _keys_copy(sql: str, types, write_all):
    def copy_keys(keys: list) -> None:
        from django.db import connection

        keys.sort()
        with (
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.cursor.copy(sql) as copy,
        ):
            if types:
                copy.set_types(types)
            write_all(copy, keys)

    return copy_keys


def text_ways():
    from apps.signals.services import COLUMNS, KEY_TABLE, TABLE

    stamps: dict = {}  # the batch's time as text, once a batch (as the old code did)

    def row_out(copy, row, now, keys):
        keys.append(text_key(row))
        return text_line(row, stamps.get(now) or stamps.setdefault(now, now.isoformat()))

    streamed = lambda batch, now: _streamed(  # noqa: E731
        batch, now, sql=copy_sql(TABLE, COLUMNS, False), types=None,
        row_out=row_out,
    )  # fmt: skip
    keys = _keys_copy(copy_sql(KEY_TABLE, KEY_COLUMNS, False), None,
                      lambda copy, keys: copy.write("".join(keys)))  # fmt: skip
    return streamed, keys


def psycopg_ways():

    from apps.signals.services import COLUMNS, KEY_TABLE, TABLE

    def row_out(copy, r, now, keys):
        copy.write_row(psycopg_row(r, now))
        keys.append((r["id"], psycopg_key(r)))

    def write_keys(copy, keys):
        for _, key in keys:
            copy.write_row(key)

    streamed = lambda batch, now: _streamed(  # noqa: E731
        batch, now, sql=copy_sql(TABLE, COLUMNS, True), types=ROW_TYPES,
        row_out=row_out,
    )  # fmt: skip
    keys = _keys_copy(copy_sql(KEY_TABLE, KEY_COLUMNS, True), KEY_TYPES, write_keys)  # fmt: skip
    return streamed, keys


def raw_binary_copy(items: list[dict]) -> float:
    """bench/timeseries.py's raw COPY baseline in the binary format: the same tuples through
    psycopg's `write_row`, with the column types set (uuid.UUID ids; the JSON written
    beforehand, as the text baseline's)."""
    from django.db import connection, transaction
    from psycopg.types.json import Jsonb

    from apps.signals.services import COLUMNS, TABLE
    from apps.signals.validation import parse_timestamp

    now = datetime.now(UTC)
    rows = [
        (
            uuid.UUID(item["id"]), item["websdr_station_id"], item["frequency_hz"],
            item["signal_strength_db"], item["bandwidth_hz"], item["modulation_type"],
            Jsonb(json.dumps(item["signal_features"]), dumps=_as_is), item["anomaly_score"],
            item["anomaly_score"] >= 0.5, parse_timestamp(item["detection_timestamp"]),
            Jsonb(json.dumps(item["processing_metadata"]), dumps=_as_is), now, now,
        )
        for item in items
    ]  # fmt: skip
    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(copy_sql(TABLE, COLUMNS, True)) as copy,
        ):
            copy.set_types(ROW_TYPES)
            for row in rows[offset : offset + BATCH]:
                copy.write_row(row)
    return time.perf_counter() - started


def bench_ingest(items: list[dict], rounds: int) -> dict[str, list[float]]:
    """Each round: raw COPY, then the ingest with each way (in turn, order alternating);
    each ingest's ratio to the round's raw COPY."""
    from apps.signals import services

    kept = (services._copy_streamed, services._copy_keys)
    ways = {"text": text_ways(), "psycopg binary": psycopg_ways(), "pgcopy binary": kept}
    ratios: dict[str, list[float]] = {name: [] for name in ways}
    for round_index in range(rounds):
        ts.truncate()
        raw = ts.bench_raw_copy(items)
        ts.truncate()
        ratios.setdefault("raw COPY, binary", []).append(raw / raw_binary_copy(items))
        order = list(ways.items())
        for name, (streamed, keys) in order if round_index % 2 == 0 else order[::-1]:
            services._copy_streamed, services._copy_keys = streamed, keys
            ts.truncate()
            ratios[name].append(raw / ts.bench_service(items))
        services._copy_streamed, services._copy_keys = kept
        print(f"ingest round {round_index + 1}: "
              + ", ".join(f"{n} {r[-1]:.3f}×" for n, r in ratios.items()), flush=True)  # fmt: skip
    ts.truncate()
    return ratios


def stored(rows: list[dict]) -> list[tuple]:
    """What the table holds, to check the three ways store the same."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.*, k.content_hash FROM signals_signaldetection d "
            "JOIN signals_detectionkey k USING (id) ORDER BY d.id"
        )
        return cursor.fetchall()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    items = ts.fresh_setup(args.rows)
    from apps.core.memory import freeze_startup_objects

    rows = [row for i in range(0, len(items), BATCH) for row in prepared_rows(items[i : i + BATCH])]
    now = datetime.now(UTC).replace(microsecond=0)
    freeze_startup_objects()  # and the generated rows: not the collector's to walk each run
    builds = {"text": build_text, "pgcopy binary": build_pgcopy}
    build_s: dict[str, list[float]] = {name: [] for name in builds}
    copy_s: dict[str, list[float]] = {name: [] for name in [*builds, "psycopg binary"]}
    contents = {}
    for round_index in range(args.rounds):
        for name, build in builds.items():
            began = time.perf_counter()
            batches = build(rows, now)
            build_s[name].append(time.perf_counter() - began)
            ts.truncate()
            copy_s[name].append(write(batches, binary=name != "text"))
            if round_index == 0:
                contents[name] = stored(rows)
        ts.truncate()
        copy_s["psycopg binary"].append(psycopg_write_row(rows, now))
        if round_index == 0:
            contents["psycopg binary"] = stored(rows)
        print(f"round {round_index + 1}: " + ", ".join(
            f"{n} {copy_s[n][-1]:.2f} s" for n in copy_s), flush=True)  # fmt: skip
    ts.truncate()
    same = all(c == contents["text"] for c in contents.values())
    print(f"\n{args.rows:,} rows and keys, {BATCH:,}-row transactions, {args.rounds} rounds "
          f"(medians); every way stored the same rows and keys: {same}\n")  # fmt: skip
    print(
        "| format | Python building (µs a row) | COPY and commit | building, COPY and commit "
        "| total against text |"
    )
    print("|---|---|---|---|---|")
    totals = {
        name: statistics.median(copy_s[name]) + (statistics.median(build_s[name])
                                                  if name in build_s else 0.0)
        for name in copy_s
    }  # fmt: skip
    for name in copy_s:
        building = (f"{statistics.median(build_s[name]) / args.rows * 1e6:.2f}"
                    if name in build_s else "inside `write_row`")  # fmt: skip
        copying = f"{statistics.median(copy_s[name]):.2f} s" if name in build_s else "—"
        print(
            f"| {name} | {building} | {copying} | {totals[name]:.2f} s | "
            f"{totals['text'] / totals[name]:.2f}× |"
        )
    ratios = bench_ingest(items, args.rounds)
    print(f"\nThe ingest (`detection_ingest`, {BATCH:,}-row batches), median of {args.rounds} "
          "rounds' ratios to raw COPY:\n")  # fmt: skip
    print("| COPY written as | ingest against raw COPY (rounds) |")
    print("|---|---|")
    for name, values in ratios.items():
        rounds = " / ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | **{statistics.median(values):.2f}×** ({rounds}) |")
    binary = ratios["raw COPY, binary"]
    kept = [k / b for k, b in zip(ratios["pgcopy binary"], binary, strict=True)]
    print(f"\nThe kept ingest against a binary raw COPY: **{statistics.median(kept):.2f}×** ("
          + " / ".join(f"{v:.2f}" for v in kept) + ")")  # fmt: skip


if __name__ == "__main__":
    main()
