"""Writes for signal detections: the one ingest path.

HTTP ingest, the collectors, benchmarks and tests all call `detection_ingest`.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b

import orjson
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Greatest
from psycopg.copy import LibpqWriter

from apps.anomalies.services import (
    MAX_CORRELATED_PER_BATCH,
    anomaly_events_record,
    correlation_window,
)
from apps.core import hooks
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.numbers import storable_text
from apps.core.outages import on_commit_robust
from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.ml import contacts, scoring
from apps.signals import live, pgcopy
from apps.signals.models import DetectionKey, SignalDetection
from apps.signals.retention import retention_cutoff
from apps.signals.selectors import stations_hearing
from apps.signals.validation import MAX_CLOCK_SKEW, clean_detection, parse_timestamp
from apps.stations.models import Station

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
UNWRITABLE_METADATA = (
    "must be an object of JSON values (text keys; numbers, text, true, false, null, "
    "lists and objects)"
)
CHUNK_ROWS = 1_000  # rows prepared per step of the streamed COPY
# How the streamed COPY sends its chunks: from the preparing thread (`_copy_streamed`).
COPY_WRITER = LibpqWriter
COMPARE_ATTEMPTS = 3  # the comparing path, again after losing a deadlock
OUT_OF_COVERAGE_SCORE = 0.9
TABLE = SignalDetection._meta.db_table
KEY_TABLE = DetectionKey._meta.db_table
# What a row carries besides the model's fields.
ROW_EXTRAS = (
    "client_id", "client_content", "content_hash", "features_json", "metadata_json",
    "timestamp_text", "index",
)  # fmt: skip
COLUMNS = [
    "id",
    "websdr_station_id",
    "frequency_hz",
    "signal_strength_db",
    "bandwidth_hz",
    "modulation_type",
    "signal_features",
    "anomaly_score",
    "is_anomaly",
    "detection_timestamp",
    "processing_metadata",
    "created_at",
    "updated_at",
]


# Binary COPY (apps.signals.pgcopy): the server stores from it in less time than from text.
ROWS_SQL = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
KEYS_SQL = f"COPY {KEY_TABLE} (id, detection_timestamp, content_hash) FROM STDIN (FORMAT BINARY)"


def _by_id(row: dict) -> str:
    return row["id"]


@dataclass(frozen=True)
class IngestResult:
    ingested: int
    duplicates: int
    anomalies: int


def _check_list(items) -> None:
    if not isinstance(items, list) or not items:
        raise ValidationFailed.for_field("detections", "must be a non-empty list of detections")
    if len(items) > MAX_BATCH:
        raise ValidationFailed.for_field(
            "detections", f"at most {MAX_BATCH} detections per request", len(items)
        )


class _Batch:
    """One ingest batch on its way in, prepared chunk by chunk (`chunks`): validated,
    hashed, de-duplicated and scored, so that PostgreSQL can store one chunk while
    Python prepares the next (`_copy_streamed`).

    What needs the database is read first (`__init__`: the stations named, and the
    days whose partitions must exist); preparing a chunk is pure Python, so it can run
    while the connection is busy with the COPY. Every item is validated even after a
    problem, so that a 400 names every bad field (`raise_problems`).
    """

    def __init__(self, items, now: datetime):
        _check_list(items)
        self.items, self.now = items, now
        # The deployed model (it may be read from the database): only when a row needs it.
        self.scorer = (
            scoring.active_anomaly_scorer()
            if any(
                not isinstance(item, dict) or item.get("anomaly_score") is None for item in items
            )
            else None
        )
        self.timestamps = [
            parse_timestamp(item.get("detection_timestamp")) if isinstance(item, dict) else None
            for item in items
        ]
        self.earliest = retention_cutoff(now)
        self.errors: dict[str, list[str]] = {}
        self.conflicts: list[tuple[int, str, str]] = []
        self.rows: list[dict] = []  # the unique rows prepared so far, in request order
        self._seen: dict[str, dict] = {}
        self._chunks = None
        latest = now + MAX_CLOCK_SKEW  # what validation accepts: no partition beyond it
        self.days = {
            when.date() for when in self.timestamps if when and self.earliest <= when <= latest
        }
        named = {
            item.get("websdr_station_id")
            for item in items
            if isinstance(item, dict) and isinstance(item.get("websdr_station_id"), str)
        }
        named = {sid for sid in named if storable_text(sid)}  # not a query value: refused
        self.station_ranges = {
            sid: (low, high)
            for sid, low, high in Station.objects.filter(pk__in=named).values_list(
                "id", "frequency_min", "frequency_max"
            )
        }
        # Each item's contact level (its station's recent level on its channel), found once
        # for the whole batch from its own rows and this process's store (no query), so
        # that chunks score as the whole batch would. Only when every item names a known
        # station: the store keeps a code per station id for the life of the process, and
        # the ids of a batch that will be refused (any string, up to the body limit) were
        # kept too — memory without bound, and past MAX_STATIONS of them every contact's
        # levels forgotten.
        self.contacts = (
            contacts.batch_contacts(items, self.timestamps)
            if getattr(self.scorer, "uses_contact_levels", False)
            and all(
                isinstance(item, dict)
                and isinstance(item.get("websdr_station_id"), str)
                and item["websdr_station_id"] in self.station_ranges
                for item in items
            )
            else None
        )

    def chunks(self):
        """Yield the prepared unique rows, CHUNK_ROWS items at a time; nothing more once a
        problem is found (the rest is still validated, for the 400). One generator per
        batch: a second call, or `read_all` after an interrupted write, resumes it."""
        if self._chunks is None:
            self._chunks = self._prepare(CHUNK_ROWS)
        return self._chunks

    def read_all(self) -> None:
        """Prepare what is left, then raise any problem (400, 409)."""
        for _ in self.chunks():
            pass
        self.raise_problems()

    def _prepare(self, size: int):
        items, errors, known = self.items, self.errors, self.station_ranges
        for start in range(0, len(items), size):
            rows = []
            for index in range(start, min(start + size, len(items))):
                row = clean_detection(
                    items[index], index, self.now, self.earliest, errors, self.timestamps[index]
                )
                if row is None:
                    continue
                if row["websdr_station_id"] not in known:
                    errors[f"detections[{index}].websdr_station_id"] = [
                        f"unknown station '{row['websdr_station_id']}'"
                    ]
                    continue
                row["index"] = index
                rows.append(row)
            if errors:
                continue
            _add_content_hashes(rows, errors)
            if errors:
                continue
            unique = self._unique(rows)
            if self.conflicts:
                continue
            _apply_scores(unique, self.station_ranges, self.scorer, self.contacts)
            self.rows.extend(unique)
            yield unique

    def _unique(self, rows: list[dict]) -> list[dict]:
        """Rows whose id has not come earlier in the batch; a repeat with other content
        is a conflict (a 409 from `raise_problems`)."""
        unique = []
        for row in rows:
            first = self._seen.get(row["id"])
            if first is None:
                self._seen[row["id"]] = row
                unique.append(row)
            elif first["content_hash"] != row["content_hash"]:
                why = f"appears at detections[{first['index']}] with different content"
                self.conflicts.append((row["index"], row["id"], why))
        return unique

    def raise_problems(self) -> None:
        """A 400 naming every invalid field, else a 409 for ids repeated with other
        content; called once every chunk has been read."""
        if self.errors:
            errors = self.errors
            first = next(iter(errors))
            why = errors[first][0]
            raise ValidationFailed(
                f"{len(errors)} invalid field(s) in detections; first: {first}: {why}",
                {"field": first, "constraint": why, "fields": errors},
            )
        if self.conflicts:
            raise _id_conflict(self.conflicts)


def _stdlib_canonical_encoder():
    """Canonical JSON as Heimdall wrote it before orjson (sorted keys, no spaces, ASCII
    escapes): exactly what `json.JSONEncoder(sort_keys=True, separators=(",", ":"))
    .encode` writes. Built once (`encode` builds a new C encoder per call). No
    circular-reference check (markers=None): the objects come from parsed JSON or
    validated dicts, which cannot contain themselves."""
    from json.encoder import c_make_encoder, encode_basestring_ascii

    if c_make_encoder is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    encode = c_make_encoder(
        None, json.JSONEncoder().default, encode_basestring_ascii, None, ":", ",", True,
        False, True,
    )  # fmt: skip
    return lambda value: "".join(encode(value, 0))


_stdlib_canonical = _stdlib_canonical_encoder()


def _canonical(value) -> str:
    """Canonical JSON text of a validated object (sorted keys, no spaces, UTF-8): what
    COPY writes to the jsonb columns and what content hashes are computed from.

    orjson takes a sixth of the standard library's time (0.26 vs 1.5 µs for a row's
    features, measured); what orjson cannot write (an integer key, nesting past 254
    levels) the standard library writes. Validation has refused non-finite numbers,
    which orjson would write as null.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        pass
    try:
        return _stdlib_canonical(value)
    except TypeError:  # a Python caller's integer key beside text keys: not sortable
        return _stdlib_canonical(_text_keys(value))


def _text_keys(value):
    """`value` with every object key as the JSON text the standard library writes for
    it (1 -> "1", True -> "true"), so that keys of mixed types sort. Raises TypeError
    for a key no JSON encoder writes (a tuple)."""
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else _key_text(key): _text_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_text_keys(item) for item in value]
    return value


def _key_text(key) -> str:
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _iso(when: datetime) -> str:
    """`when.isoformat()`, in a third of its time (orjson writes the same text)."""
    try:
        return orjson.dumps(when)[1:-1].decode()
    except TypeError:  # a datetime subclass orjson does not know
        return when.isoformat()


def _digest(row: dict, score, is_anomaly, features: str, metadata: str, when: str) -> str:
    """128-bit BLAKE2b (hex) of a detection's content as the client sent it."""
    text = (
        f"{row['websdr_station_id']}\x1f{row['frequency_hz']}\x1f"
        f"{row['signal_strength_db']!r}\x1f{row['bandwidth_hz']}\x1f"
        f"{row['modulation_type']}\x1f{features}\x1f{score!r}\x1f"
        f"{is_anomaly}\x1f{when}\x1f{metadata}"
    )
    return blake2b(text.encode(), digest_size=16).hexdigest()


def _add_content_hashes(rows: list[dict], errors: dict[str, list[str]]) -> None:
    """Each row's content as the client sent it (before scoring), as a 128-bit digest;
    metadata no JSON encoder can write (a Python caller's Decimal, set or object) is
    added to `errors` instead.

    The JSON objects and the time are written as text once here (canonical
    JSON, ISO time in UTC) and reused by COPY. What the client sent of what scoring
    may replace is kept (`client_content`) for `_stdlib_content_hash`.
    """
    for row in rows:
        try:
            metadata = _canonical(row["processing_metadata"])
        except (TypeError, ValueError):  # a Python caller's value JSON has no form for
            errors[f"detections[{row['index']}].processing_metadata"] = [UNWRITABLE_METADATA]
            continue
        row["metadata_json"] = metadata
        features = row["features_json"] = _canonical(row["signal_features"])
        when = row["timestamp_text"] = _iso(row["detection_timestamp"])
        score, is_anomaly = row["anomaly_score"], row["is_anomaly"]
        row["client_content"] = (score, is_anomaly, row["processing_metadata"])
        row["content_hash"] = _digest(row, score, is_anomaly, features, metadata, when)


def _stdlib_content_hash(row: dict) -> str | None:
    """The row's content hash as Heimdall computed it before orjson (the JSON objects
    as the standard library writes them): ids stored then still compare as the same
    content when sent again. Only computed when the current digest differs. None for
    content the standard library cannot write (a datetime orjson writes as text, an
    integer key beside text keys): no digest of it was stored before orjson."""
    score, is_anomaly, metadata = row["client_content"]
    try:
        features, metadata = _stdlib_canonical(row["signal_features"]), _stdlib_canonical(metadata)
    except (TypeError, ValueError):
        return None
    return _digest(row, score, is_anomaly, features, metadata, row["timestamp_text"])


def _id_conflict(conflicts: list[tuple[int, str, str]]) -> Conflict:
    """409 naming `detections[i].id` for each (index, id, why)."""
    fields = {f"detections[{index}].id": [why] for index, _, why in conflicts}
    index, detection_id, why = conflicts[0]
    return Conflict(
        f"Detection id {detection_id} {why}; a detection id names one detection.",
        {"field": f"detections[{index}].id", "constraint": why, "value": detection_id,
         "fields": fields},
    )  # fmt: skip


def _check_stored(rows: list[dict], stored: dict) -> list[dict]:
    """Rows whose id is not in `stored` ({id: (timestamp, content_hash)}); a stored id
    with other content is a 409. Keys stored before digests existed compare by time."""
    fresh, conflicts = [], []
    for row in rows:
        found = stored.get(row["id"])
        if found is None:
            fresh.append(row)
            continue
        timestamp, content_hash = found
        same = (
            (content_hash == row["content_hash"] or content_hash == _stdlib_content_hash(row))
            if content_hash is not None
            else timestamp == row["detection_timestamp"]
        )
        if not same:
            when = timestamp.isoformat().replace("+00:00", "Z")
            why = f"is already stored with different content (detected at {when})"
            conflicts.append((row["index"], row["id"], why))
    if conflicts:
        raise _id_conflict(conflicts)
    return fresh


def _apply_scores(
    rows: list[dict],
    station_ranges: dict[str, tuple[int, int]],
    scorer,
    batch_contacts: contacts.BatchContacts | None = None,
) -> None:
    """Score rows that came without an anomaly_score (pure Python: no database).

    The deployed anomaly model (`scorer`, or None) scores them when they carry its
    features; and a carrier outside its station's coverage is anomalous whatever the
    model says. Each row is scored on its own with its contact level, which
    `batch_contacts` found once for the whole batch: chunks score as the whole batch would.
    """
    unscored = [row for row in rows if row["anomaly_score"] is None]
    if unscored and scorer is not None:
        version = json.dumps(scorer.version)
        recent = (
            batch_contacts.recent_of([row["index"] for row in unscored])
            if batch_contacts is not None
            else None
        )
        for row, result in zip(unscored, scorer.score_rows(unscored, recent=recent), strict=True):
            if result is None:
                continue
            row["anomaly_score"] = result.anomaly_score
            row["processing_metadata"] = {
                **row["processing_metadata"],
                "model_version": scorer.version,
                "confidence": result.confidence,
            }
            if result.reason is not None:  # a context model says what was unusual
                row["processing_metadata"]["anomaly_reason"] = result.reason
                row["processing_metadata"]["anomaly_description"] = result.description
                row["metadata_json"] = None  # COPY writes it afresh
            else:
                # The stored column is jsonb (key order is not kept; of a repeated key the
                # last wins): the added keys are appended to the text, not re-encoded.
                added = f'"model_version":{version},"confidence":{result.confidence!r}}}'
                text = row["metadata_json"]
                row["metadata_json"] = (
                    f"{{{added}" if text == "{}" else f"{text[:-1]},{added}" if text else None
                )
    for row in unscored:
        low, high = station_ranges[row["websdr_station_id"]]
        if not low <= row["frequency_hz"] <= high:
            row["anomaly_score"] = max(row["anomaly_score"] or 0.0, OUT_OF_COVERAGE_SCORE)
            row["processing_metadata"] = {
                **row["processing_metadata"],
                "anomaly_reason": "out_of_band_carrier",
            }
            row["metadata_json"] = None
    threshold = settings.HEIMDALL_ANOMALY_THRESHOLD
    for row in rows:
        if row["is_anomaly"] is None:
            row["is_anomaly"] = (
                row["anomaly_score"] is not None and row["anomaly_score"] >= threshold
            )


def _records(rows: list[dict], stamps: bytes, keys: list[bytes]) -> bytes:
    """The rows as binary COPY records (apps.signals.pgcopy); their key records are
    appended to `keys`."""
    records = []
    for row in rows:
        id16 = pgcopy.uuid_bytes(row["id"])
        when = pgcopy.microseconds(row["detection_timestamp"])
        metadata = row["metadata_json"] or _canonical(row["processing_metadata"])
        records.append(pgcopy.detection_record(row, id16, when, metadata, stamps))
        keys.append(pgcopy.key_record(id16, when, row["content_hash"]))
    return b"".join(records)


def _copy_keys(records: list[bytes]) -> None:
    """COPY key records (`pgcopy.key_record`) into the key table, in id order (records
    sort as their ids): two batches that share ids then take their row locks in the
    same order and cannot deadlock."""
    records.sort()
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(KEYS_SQL) as copy,
    ):
        copy.write(b"".join((pgcopy.SIGNATURE, *records, pgcopy.TRAILER)))


def _insert_new_keys(rows: list[dict]) -> set[str]:
    """Insert the ids not stored yet (waiting for concurrent writers of the same ids to
    finish); the ids this call inserted."""
    ordered = sorted(rows, key=_by_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {KEY_TABLE} (id, detection_timestamp, content_hash) "  # noqa: S608
            "SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::uuid[]) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            [
                [row["id"] for row in ordered],
                [row["detection_timestamp"] for row in ordered],
                [row["content_hash"] for row in ordered],
            ],
        )
        return {str(found) for (found,) in cursor.fetchall()}


def _stored_keys(ids) -> dict:
    """{id: (detection_timestamp, content_hash as hex or None)} of stored ids among `ids`."""
    stored = {}
    ids = list(ids)
    for start in range(0, len(ids), 5000):
        for key_id, timestamp, content_hash in DetectionKey.objects.filter(
            id__in=ids[start : start + 5000]
        ).values_list("id", "detection_timestamp", "content_hash"):
            stored[str(key_id)] = (timestamp, content_hash.hex if content_hash else None)
    return stored


def _copy_rows(rows: list[dict], now: datetime) -> None:
    """PostgreSQL COPY, binary (apps.signals.pgcopy): the fastest way in, several times a
    multi-row INSERT."""
    block = _records(rows, pgcopy.timestamptz(now) * 2, [])
    # The raw psycopg cursor: wrap it so its errors become Django's (IntegrityError).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(ROWS_SQL) as copy,
    ):
        copy.write(pgcopy.SIGNATURE + block + pgcopy.TRAILER)


def _model_rows(rows: list[dict], now: datetime) -> list[SignalDetection]:
    return [
        SignalDetection(
            **{key: value for key, value in row.items() if key not in ROW_EXTRAS},
            created_at=now,
            updated_at=now,
        )
        for row in rows
    ]


def _copy_streamed(batch: _Batch, now: datetime) -> list[bytes]:
    """COPY the batch's rows while it is being prepared: each chunk's COPY records are written
    to the connection as soon as it is ready, and the kernel's socket buffers (a chunk is
    ~250 kB) hold it while PostgreSQL stores chunk k and Python validates, hashes and
    scores chunk k+1. A problem found in a later chunk ends the COPY with an error
    (CopyFail) and the transaction rolls back: nothing of the batch is stored.
    bench/timeseries.py measures what this overlap buys; psycopg's QueuedLibpqWriter (a
    thread sending the chunks) was slower, its thread waiting for the GIL the preparing
    thread holds (bench/copy_writer.py, three runs: 0.545-0.565× against 0.578-0.590×
    raw COPY).

    Returns the rows' key records for `_copy_keys`, built while PostgreSQL stores the
    rows (not after, when it would wait for them: ~3 % of an ingest, bench/timeseries.py).
    """
    stamps = pgcopy.timestamptz(now) * 2  # created_at, updated_at
    problem = None
    keys: list[bytes] = []
    with connection.wrap_database_errors, connection.cursor() as cursor:
        raw = cursor.cursor
        try:
            with raw.copy(ROWS_SQL, writer=COPY_WRITER(raw)) as copy:
                try:
                    copy.write(pgcopy.SIGNATURE)
                    for rows in batch.chunks():
                        # In id order: concurrent batches holding the same ids (a client's
                        # retries) then take their row locks in one order and wait instead
                        # of deadlocking; a deadlock between larger batches chunked
                        # differently is caught by `_write`, which compares the ids instead.
                        copy.write(_records(sorted(rows, key=_by_id), stamps, keys))
                    batch.raise_problems()
                    copy.write(pgcopy.TRAILER)
                except Exception as exc:
                    problem = exc
                    raise _CopyRefused from None
        except _CopyRefused:
            raise problem from None
    return keys


class _CopyRefused(Exception):
    """Ends a COPY whose batch is refused. psycopg sends the message of the exception that
    ends a COPY to the server (CopyFail): the problem's own message — a 400 naming a
    20 kB station id — failed there ('too many values to unpack'), the connection was
    left broken and the next query on it failed ('the connection is closed'). So a short
    one; the problem itself is raised once the COPY has ended."""

    def __str__(self) -> str:
        return "batch refused"


def _deadlocked(exc: Exception) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


def _must_compare(exc: Exception) -> bool:
    """An optimistic write that met stored ids (a key or row unique violation) or a
    concurrent batch holding some of the same ids (a deadlock on them)."""
    return isinstance(exc, IntegrityError) or _deadlocked(exc)


def _write_compared(rows: list[dict], now: datetime) -> list[dict]:
    """Insert the keys not stored yet (waiting for concurrent writers of the same ids),
    compare the stored ones (409 for other content), COPY the new rows."""
    inserted = _insert_new_keys(rows)
    repeated = [row for row in rows if row["id"] not in inserted]
    _check_stored(repeated, _stored_keys(row["id"] for row in repeated))
    fresh = [row for row in rows if row["id"] in inserted]
    if fresh:
        _copy_rows(fresh, now)
    return fresh


def _write(batch: _Batch, now: datetime) -> list[dict]:
    """Write the batch's rows whose id is not stored yet; returns the rows written.

    Ids are unique across all partitions through the key table (DetectionKey).
    On PostgreSQL the batch is COPYed optimistically while it is prepared
    (`_copy_streamed`), then its keys in id order: a repeated id violates a primary
    key, and only then are the stored ids compared and the rest inserted (keys first,
    in id order, so concurrent batches sharing ids wait for each other instead of
    deadlocking). The common case pays for no lookup. A stored id sent with other
    content is a 409 and nothing is written.
    """
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                _copy_keys(_copy_streamed(batch, now))
            return batch.rows
        except (IntegrityError, OperationalError) as exc:
            if not _must_compare(exc):
                raise
            logger.info("ingest batch holds stored or concurrently written ids; comparing")
        batch.read_all()
        for attempt in range(1, COMPARE_ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return _write_compared(batch.rows, now)
            except OperationalError as exc:
                # Keys then rows here, rows then keys in a concurrent batch's first
                # attempt: sharing a new id, the two can deadlock. PostgreSQL breaks it;
                # when this side lost, its savepoint is gone and the other batch commits,
                # so comparing again finds that id stored.
                if not _deadlocked(exc) or attempt == COMPARE_ATTEMPTS:
                    raise
                logger.info("ingest deadlocked comparing ids (attempt %d); again", attempt)
    batch.read_all()
    fresh = _check_stored(batch.rows, _stored_keys(row["id"] for row in batch.rows))
    DetectionKey.objects.bulk_create(
        [
            DetectionKey(
                id=row["id"],
                detection_timestamp=row["detection_timestamp"],
                content_hash=row["content_hash"],
            )
            for row in fresh
        ],
        batch_size=1000,
    )
    SignalDetection.objects.bulk_create(_model_rows(fresh, now), batch_size=1000)
    return fresh


def _touch_stations(latest: dict[str, datetime]) -> None:
    """Move each station's last_seen forward (never back), in one UPDATE."""
    when = Case(*[When(pk=station, then=Value(ts)) for station, ts in latest.items()])
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A freshness stamp, not data: its commit need not wait for the WAL
            # flush (a crash can only lose the newest stamp, which the next
            # batch rewrites). Halves the flushes per ingest batch.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # Lock the rows in one order first: two ingests touching the same stations
        # in different orders deadlocked (bench/load.py, 4 of 4,601 requests). NO KEY
        # UPDATE, as the UPDATE itself takes: it does not block the FOR KEY SHARE locks
        # that other ingests' deferred foreign-key checks take on these rows at commit.
        stations = Station.objects.filter(pk__in=list(latest))
        list(stations.order_by("pk").select_for_update(no_key=True).values_list("pk", flat=True))
        stations.update(last_seen=Greatest(Coalesce(F("last_seen"), when), when))


def _latest_per_station(rows: list[dict]) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for row in rows:
        station, when = row["websdr_station_id"], row["detection_timestamp"]
        if station not in latest or when > latest[station]:
            latest[station] = when
    return latest


def detection_ingest(*, detections: list) -> IngestResult:
    """Validate all, write all or nothing; idempotent on client-supplied ids.

    A detection id names one detection across all time: an id repeated with
    the same content (in this batch or an earlier one) is counted as a
    duplicate and not stored again; repeated with other content (another
    timestamp, strength...) it is a 409 naming `detections[i].id`, and nothing
    of the batch is written.

    Detections without `anomaly_score` are scored by the active anomaly model
    when one exists; anomalous ones open or update the anomaly event of their
    station and channel (apps.anomalies.services.anomaly_events_record), and
    the live feed hears of events opened or escalated.
    """
    now = utc_now()
    batch = _Batch(detections, now)
    # Partitions are made in their own short transaction, before the write:
    # DDL on the parent table must not stay locked for the whole ingest.
    ensure_partitions(TABLE, batch.days)
    station_ranges = batch.station_ranges
    with transaction.atomic():
        fresh = _write(batch, now)
        anomalous = [row for row in fresh if row["is_anomaly"]]
        events = (
            anomaly_events_record(
                rows=anomalous,
                station_ranges=station_ranges,
                hearing=stations_hearing(
                    [correlation_window(row) for row in anomalous[:MAX_CORRELATED_PER_BATCH]]
                ),
            ).alerts
            if anomalous
            else []
        )
        if fresh:
            # After commit, in its own statement: concurrent ingests must not
            # queue behind each other's station row locks.
            latest = _latest_per_station(fresh)
            # robust: the detections are committed; a failed freshness stamp is logged,
            # never turned into a 500 that makes the client send them again.
            on_commit_robust(
                lambda: _touch_stations(latest), "the stations' last_seen (the next batch's)"
            )
            if batch.contacts is not None:
                # The contacts' levels for the next batches: only once committed.
                transaction.on_commit(lambda: contacts.remember(batch.contacts), robust=True)
            live.publish_detections(fresh)
            # Higher apps (constellations: automatic localization) after the commit.
            on_commit_robust(
                lambda: hooks.fire(hooks.DETECTIONS_STORED, rows=fresh),
                "the stored detections' hooks (automatic localization)",
            )
        if events:
            live.publish_anomalies(events)
    return IngestResult(
        ingested=len(fresh), duplicates=len(detections) - len(fresh), anomalies=len(anomalous)
    )
