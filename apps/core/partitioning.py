"""Time partitioning for the time-series tables (detections, training metrics).

On PostgreSQL a time-series model's table is either
  * a TimescaleDB hypertable, when the `timescaledb` extension is available, or
  * a natively range-partitioned table with one partition per UTC day,
    named `<table>_pYYYYMMDD`, created ahead by a scheduled task and on
    demand before rows outside the existing range are written.
On SQLite (embedded mode) it is an ordinary table.

A partitioned table's primary key must contain the partition key, so the
database key is (id, <time column>) while Django keeps seeing `id` as the pk
(ids are UUIDs, unique in practice).
"""

import logging
import re
import threading
from datetime import UTC, date, datetime, timedelta

from django.db import connection, migrations, transaction

from apps.core.locks import lock_name

logger = logging.getLogger(__name__)

PARTITION_SUFFIX = re.compile(r"_p(\d{8})$")
_known_partitions: dict[str, set[date]] = {}
_known_lock = threading.Lock()


def is_postgres(conn=connection) -> bool:
    return conn.vendor == "postgresql"


def timescaledb_available(conn=connection) -> bool:
    if not is_postgres(conn):
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        return cursor.fetchone() is not None


_modes: dict[tuple[str, str], str] = {}


def storage_mode(table: str, conn=connection) -> str:
    """'hypertable', 'partitioned' or 'plain' for a time-series table (cached per process)."""
    if not is_postgres(conn):
        return "plain"
    key = (conn.settings_dict["NAME"], table)
    if key not in _modes:
        _modes[key] = _read_storage_mode(table, conn)
    return _modes[key]


def _read_storage_mode(table: str, conn) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
        if row and row[0] == "p":
            return "partitioned"
        cursor.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'",
        )
        if cursor.fetchone():
            cursor.execute(
                "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
                [table],
            )
            if cursor.fetchone():
                return "hypertable"
    return "plain"


# --- the migration operation ------------------------------------------------------


class CreateTimeSeriesModel(migrations.CreateModel):
    """CreateModel whose table is time-partitioned on PostgreSQL (see module docstring)."""

    def __init__(self, *args, partition_column: str, chunk_interval: str = "1 day", **kwargs):
        self.partition_column = partition_column
        self.chunk_interval = chunk_interval
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        kwargs["partition_column"] = self.partition_column
        kwargs["chunk_interval"] = self.chunk_interval
        return name, args, kwargs

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not is_postgres(schema_editor.connection):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.name)
        sql, params = _table_sql_with_composite_pk(schema_editor, model, self.partition_column)
        quoted_col = schema_editor.quote_name(self.partition_column)
        if timescaledb_available(schema_editor.connection):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            schema_editor.execute(sql, params or None)
            schema_editor.execute(
                "SELECT create_hypertable(%s, %s, chunk_time_interval => INTERVAL %s)",
                [model._meta.db_table, self.partition_column, self.chunk_interval],
            )
        else:
            schema_editor.execute(f"{sql} PARTITION BY RANGE ({quoted_col})", params or None)
        schema_editor.deferred_sql.extend(schema_editor._model_indexes_sql(model))

    def describe(self):
        return f"Create time-partitioned model {self.name}"


def _table_sql_with_composite_pk(schema_editor, model, partition_column: str):
    sql, params = schema_editor.table_sql(model)
    pk_column = schema_editor.quote_name(model._meta.pk.column)
    # Drop the inline PRIMARY KEY of the id column and declare (id, time) instead.
    pattern = re.compile(rf"({re.escape(pk_column)} [^,]*?) PRIMARY KEY")
    sql, count = pattern.subn(r"\1", sql, count=1)
    if count != 1:
        raise RuntimeError(f"could not find the primary key of {model._meta.db_table}")
    quoted_time = schema_editor.quote_name(partition_column)
    sql = sql[: sql.rstrip().rfind(")")] + f", PRIMARY KEY ({pk_column}, {quoted_time}))"
    return sql, params


# --- partition maintenance (native partitioning) -------------------------------------


def _partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def existing_partitions(table: str) -> set[date]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
            """,
            [table],
        )
        days = set()
        for (name,) in cursor.fetchall():
            match = PARTITION_SUFFIX.search(name)
            if match:
                days.add(datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date())
        return days


def ensure_partitions(table: str, days: set[date] | list[date]) -> list[date]:
    """Create the daily partitions for `days` that do not exist yet; returns those created.

    A no-op unless the table is natively partitioned. Concurrent callers are
    serialised by an advisory lock, so two ingests racing for the same new
    day create it once.
    """
    if storage_mode(table) != "partitioned":
        return []
    wanted = set(days)
    with _known_lock:
        missing = wanted - _known_partitions.get(table, set())
    if not missing:
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        lock_name(f"partitions:{table}")
        present = existing_partitions(table)
        for day in sorted(missing - present):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{_partition_name(table, day)}" '
                f'PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)',
                [start, start + timedelta(days=1)],
            )
            created.append(day)
        present |= set(created)

    def remember() -> None:
        with _known_lock:
            _known_partitions[table] = present

    # Known once committed: made inside a caller's transaction that then rolled back, the
    # partitions are gone, and remembering them made every later write to those days fail
    # ('no partition of relation ... found for row': a 500 for each ingest of the day).
    transaction.on_commit(remember)
    if created:
        logger.info("created %d partition(s) of %s: %s", len(created), table, created)
    return created


def ensure_partitions_ahead(table: str, today: date, days_ahead: int = 7) -> list[date]:
    return ensure_partitions(table, [today + timedelta(days=n) for n in range(-1, days_ahead + 1)])


def drop_partitions_before(table: str, cutoff: date, before_drop=None) -> list[date]:
    """Drop whole daily partitions that end on or before `cutoff` (retention).

    `before_drop(partition_table_name)`, when given, runs in the same
    transaction just before each partition is dropped (to delete what refers
    to its rows).
    """
    mode = storage_mode(table)
    if mode == "hypertable":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT drop_chunks(%s, older_than => %s)",
                [table, datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)],
            )
        return []
    if mode != "partitioned":
        return []
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        lock_name(f"partitions:{table}")
        for day in sorted(existing_partitions(table)):
            if day + timedelta(days=1) <= cutoff:
                if before_drop is not None:
                    before_drop(_partition_name(table, day))
                cursor.execute(f'DROP TABLE "{_partition_name(table, day)}"')
                dropped.append(day)
    with _known_lock:
        _known_partitions.pop(table, None)
    return dropped


def forget_known_partitions() -> None:
    """Drop the in-process cache (tests that recreate tables)."""
    with _known_lock:
        _known_partitions.clear()
        _modes.clear()
